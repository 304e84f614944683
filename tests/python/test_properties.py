"""Property-based fuzzing (hypothesis): every op against the NumPy reference on random cases.

Each example draws a whole call: batch, channels around every SIMD width (1..70), kernels 1..9
(now and then 15 or 31), strides and dilations 1..4 per axis (stride together with dilation
included), VALID / SAME / explicit asymmetric padding (1-D: also CAUSAL), both layouts, depth
multipliers 1..4, groups (super-separable), biases and activations on both steps, float32 and
float64, the memory layout of the input and of every filter (contiguous, Fortran, transposed,
strided, negative strides, an ``__array__`` object, DLPack), the spelling of strides / dilations /
padding (int, pair, TensorFlow list), and ``out=`` (contiguous, gapped or transposed). Values come
from a NumPy generator seeded by the example, so a failure prints a reproducible call.

Profiles (registered in tests/conftest.py): ``ci`` (default, fixed seed) and ``long``
(``--hypothesis-profile=long``). The number of examples per op is set here from the profile.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from optional_deps import import_optional  # noqa: E402

hypothesis = import_optional("hypothesis")
pytestmark = pytest.mark.uses("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import reference as ref  # noqa: E402

import sepcpp  # noqa: E402

# Examples per op: CI runs a few hundred per op (9 ops); "long" many more.
_PROFILE = settings.get_current_profile_name()
EXAMPLES = {"ci": 300, "long": 5000}.get(_PROFILE, settings.default.max_examples)
if os.environ.get("SEPCPP_PROPERTY_EXAMPLES"):
    EXAMPLES = int(os.environ["SEPCPP_PROPERTY_EXAMPLES"])

OPS_2D = ["depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "super_separable_conv2d", "conv2d"]
OPS_1D = ["depthwise_conv1d", "separable_conv1d", "super_separable_conv1d", "conv1d"]

# Channel counts: anything in 1..70, with extra weight just below, at and above SIMD widths
# (4/8 doubles, 8/16 floats) and their multiples.
SIMD_EDGES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 31, 32, 33, 47, 48, 49, 63, 64, 65, 70]
channels = st.one_of(st.integers(1, 70), st.sampled_from(SIMD_EDGES))
# Memory layouts for the input and filters (reference.layout_variant).
MEMORY = ["contiguous", "fortran", "transposed", "strided", "negative", "readonly"]
memory = st.sampled_from(MEMORY * 3 + ["array_like", "dlpack", "dlpack_strided"])
activations = st.sampled_from([None, "relu", "relu6"])


def _divisors(n, limit):
    return [d for d in range(1, min(n, limit) + 1) if n % d == 0]


@st.composite
def axes(draw, nsp, pointwise):
    """Per spatial axis: (size, kernel, stride, dilation, (pad_before, pad_after) or mode)."""
    if pointwise:
        return None, [(draw(st.integers(1, 12)), 1, 1, 1) for _ in range(nsp)]
    modes = ["VALID", "SAME", "EXPLICIT"] + (["CAUSAL"] if nsp == 1 else [])
    mode = draw(st.sampled_from(modes))
    # At most one long kernel (15 or 31, SliceNet's windows), on the last axis; the other axis
    # then stays small so that an example costs milliseconds.
    big = draw(st.integers(0, 9)) == 0
    out = []
    for a in range(nsp):
        last = a == nsp - 1
        if big and last:
            k = draw(st.sampled_from([15, 31]))
            d = draw(st.integers(1, 4))
        elif big:
            k = draw(st.integers(1, 3))
            d = draw(st.integers(1, 2))
        else:
            k = draw(st.integers(1, 9))
            d = draw(st.integers(1, 4))
        s = draw(st.integers(1, 4))
        eff = (k - 1) * d + 1
        if mode == "EXPLICIT":
            pads = (draw(st.integers(0, 5)), draw(st.integers(0, 5)))
        elif mode == "CAUSAL":
            pads = (eff - 1, 0)
        else:
            pads = (0, 0)
        extra = draw(st.integers(0, 9))
        if mode == "SAME":
            size = 1 + extra
        else:  # the smallest valid size, plus 0..9
            size = max(1, eff - pads[0] - pads[1]) + extra
        out.append((size, k, s, d, pads))
    return mode, out


def _spatial_arg(values, nsp, channels_last, draw):
    """strides / dilations in one of sepcpp's (and TensorFlow's) spellings."""
    forms = ["tuple", "tf"] + (["int"] if len(set(values)) == 1 else [])
    form = draw(st.sampled_from(forms))
    if form == "int":
        return values[0]
    if form == "tuple":
        return tuple(values) if nsp == 2 else values[0]
    full = [1, *values, 1] if channels_last else [1, 1, *values]
    return full


def _padding_arg(mode, pads, nsp, channels_last, draw):
    """(argument for sepcpp, argument for the reference)."""
    if mode in ("VALID", "SAME", "CAUSAL"):
        spelled = draw(st.sampled_from([mode, mode.lower()]))
        return spelled, mode
    pairs = [list(p) for p in pads]
    full = [[0, 0], *pairs, [0, 0]] if channels_last else [[0, 0], [0, 0], *pairs]
    if nsp == 2 and draw(st.booleans()):
        return pairs, full  # the 2-spatial-pairs spelling
    return full, full


@st.composite
def cases(draw, op):
    """(sepcpp kwargs, reference kwargs, reduction length, dtype, out kind)."""
    nsp = 2 if op.endswith("2d") else 1
    kind = op.rsplit("_", 1)[0]  # depthwise / pointwise / separable / super_separable / conv
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64])))
    channels_last = draw(st.booleans())
    layout = {(2, True): "NHWC", (2, False): "NCHW", (1, True): "NWC", (1, False): "NCW"}[(nsp, channels_last)]
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 3))
    c = draw(channels)
    mode, ax = draw(axes(nsp, kind == "pointwise"))
    sizes = [a[0] for a in ax]
    kernel = [a[1] for a in ax]
    taps = int(np.prod(kernel))

    def arr(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x = arr(n, *sizes, c) if channels_last else arr(n, c, *sizes)
    args, rargs = {}, {}
    bias_len = None
    if kind in ("depthwise", "separable", "super_separable"):
        m = draw(st.integers(1, 4))
        dw = arr(*kernel, c, m)
        if kind == "depthwise":
            args["filter"] = dw
            bias_len = c * m
            reduction = taps
        else:
            groups = draw(st.sampled_from(_divisors(c * m, 8))) if kind == "super_separable" else 1
            o = groups * draw(st.integers(1, 40 // groups + 1))
            pw = arr(*(1,) * nsp, c * m // groups, o)
            args.update(depthwise_filter=dw, pointwise_filter=pw)
            if kind == "super_separable":
                args["groups"] = groups
            if draw(st.booleans()):
                args["depthwise_bias"] = arr(c * m)
            args["depthwise_activation"] = draw(activations)
            bias_len = o
            reduction = taps + c * m // groups
    elif kind == "pointwise":
        o = draw(st.integers(1, 40))
        args["filter"] = arr(1, 1, c, o)
        bias_len = o
        reduction = c
    else:  # conv
        o = draw(st.integers(1, 40))
        args["filters"] = arr(*kernel, c, o)
        bias_len = o
        reduction = taps * c
    if draw(st.booleans()):
        args["bias"] = arr(bias_len)
    args["activation"] = draw(activations)
    rargs = dict(args)
    if kind != "pointwise":
        strides = [a[2] for a in ax]
        dil = [a[3] for a in ax]
        pads = [a[4] for a in ax]
        sname = "strides" if nsp == 2 else "stride"
        args[sname] = _spatial_arg(strides, nsp, channels_last, draw)
        rargs[sname] = tuple(strides)
        args["dilations"] = _spatial_arg(dil, nsp, channels_last, draw)
        rargs["dilations"] = tuple(dil)
        args["padding"], rargs["padding"] = _padding_arg(mode, pads, nsp, channels_last, draw)
    args["data_format"] = rargs["data_format"] = layout

    # Memory layouts: the reference gets the plain arrays, sepcpp the variants.
    args["input"] = ref.layout_variant(x, draw(memory))
    rargs["input"] = x
    for name in ("filter", "filters", "depthwise_filter", "pointwise_filter"):
        if name in args:
            args[name] = ref.layout_variant(args[name], draw(memory))
    out_kind = draw(st.sampled_from([None, None, "contiguous", "strided", "transposed"]))
    return args, rargs, reduction, dtype, out_kind


def _make_out(shape, dtype, kind):
    """An output array of `shape` in memory layout `kind`, and its base (to check the gaps)."""
    if kind == "contiguous":
        base = np.full(shape, np.nan, dtype)
        return base, base
    if kind == "strided":
        base = np.full(tuple(2 * s + 1 for s in shape), -7.25, dtype)
        return base[tuple(slice(1, 1 + 2 * s, 2) for s in shape)], base
    base = np.full(shape[::-1], np.nan, dtype)  # transposed: Fortran order
    return base.T, base


def _check(op, args, rargs, reduction, dtype, out_kind):
    fn = getattr(sepcpp, op)
    rfn = getattr(ref, op)
    expected = rfn(**rargs)
    before = {k: np.array(v, copy=True) for k, v in args.items() if isinstance(v, np.ndarray)}
    what = f"{op} {dtype}"
    if out_kind is None:
        got = fn(**args)
    else:
        out, base = _make_out(expected.shape, dtype, out_kind)
        got = fn(**args, out=out)
        assert np.shares_memory(got, out), f"{what}: out= was not used for the result"
        got = out
        if out_kind == "strided":  # nothing written between the elements of a gapped out
            mask = np.ones(base.shape, bool)
            mask[tuple(slice(1, 1 + 2 * s, 2) for s in expected.shape)] = False
            assert np.all(base[mask] == -7.25), f"{what}: wrote outside out's elements"
    ref.assert_close(got, expected, dtype, reduction, what)
    for k, v in before.items():  # inputs never modified
        assert np.array_equal(args[k], v, equal_nan=True), f"{what}: {k} was modified"


@pytest.mark.parametrize("op", OPS_2D + OPS_1D)
def test_op_matches_reference(op):
    @settings(max_examples=EXAMPLES)
    @given(case=cases(op))
    def run(case):
        _check(op, *case)

    run()
