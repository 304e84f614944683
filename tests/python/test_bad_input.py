"""Bad arguments raise ValueError / TypeError naming the argument; edge values behave."""

from __future__ import annotations

import re

import numpy as np
import pytest

import reference as ref
from reference import assert_close

import sepcpp

OPS_2D = ["depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "conv2d"]
OPS_1D = ["depthwise_conv1d", "separable_conv1d", "conv1d"]
ALL_OPS = OPS_2D + OPS_1D
CONV_OPS = [op for op in ALL_OPS if not op.startswith("pointwise")]

F32 = np.float32


def _filter_name(op):
    """The op's first filter argument."""
    if op.startswith("separable"):
        return "depthwise_filter"
    if op.startswith("conv"):
        return "filters"
    return "filter"


def _stride_name(op):
    return "stride" if op.endswith("1d") else "strides"


def base_args(op, dtype=F32):
    """A valid call: NHWC input (2, 7, 8, 3) / NWC input (2, 9, 3)."""
    rng = np.random.default_rng(0)

    def a(*shape):
        return rng.standard_normal(shape).astype(dtype)

    if op.endswith("2d"):
        args = {"input": a(2, 7, 8, 3)}
        if op == "pointwise_conv2d":
            args["filter"] = a(1, 1, 3, 4)
            return args
        args.update(strides=[1, 1, 1, 1], padding="VALID")
        if op == "depthwise_conv2d":
            args["filter"] = a(3, 3, 3, 2)
        elif op == "separable_conv2d":
            args.update(depthwise_filter=a(3, 3, 3, 2), pointwise_filter=a(1, 1, 6, 4))
        else:
            args["filters"] = a(3, 3, 3, 5)
    else:
        args = {"input": a(2, 9, 3), "stride": 1, "padding": "VALID"}
        if op == "depthwise_conv1d":
            args["filter"] = a(3, 3, 2)
        elif op == "separable_conv1d":
            args.update(depthwise_filter=a(3, 3, 2), pointwise_filter=a(1, 6, 4))
        else:
            args["filters"] = a(3, 3, 5)
    return args


def out_channels(op):
    for prefix, n in (("depthwise", 6), ("pointwise", 4), ("separable", 4), ("conv", 5)):
        if op.startswith(prefix):
            return n
    raise AssertionError(op)


def call(op, **overrides):
    args = base_args(op)
    args.update(overrides)
    return getattr(sepcpp, op)(**args)


def shape_pattern(shape):
    """Matches a shape written as (2, 7, 8, 3) or [2, 7, 8, 3] (also 2x7x8x3)."""
    nums = [str(int(s)) for s in shape]
    return r"[\(\[]\s*" + r"\s*,\s*".join(nums) + r"\s*,?\s*[\)\]]|" + "x".join(nums)


def word(name):
    """The argument name as a whole word (so 'filter' does not match 'filters')."""
    return r"(?<![A-Za-z_])" + re.escape(name) + r"(?![A-Za-z_])"


# --------------------------------------------------------------------------------------------
# The table of bad calls: (op, overrides, exception, argument named, shapes that must appear)
# --------------------------------------------------------------------------------------------
def _cases():
    cases = []

    def add(op, label, overrides, exc, name, shapes=()):
        cases.append(pytest.param(op, overrides, exc, name, shapes, id=f"{op}-{label}"))

    for op in ALL_OPS:
        two_d = op.endswith("2d")
        b = base_args(op)
        x = b["input"]
        fname = _filter_name(op)
        w = b[fname]
        # Ranks.
        bad_x = x[0]
        add(op, "input-rank-low", {"input": bad_x}, ValueError, "input", [bad_x.shape])
        bad_x = x[None]
        add(op, "input-rank-high", {"input": bad_x}, ValueError, "input", [bad_x.shape])
        bad_w = w[0]
        add(op, "filter-rank-low", {fname: bad_w}, ValueError, fname, [bad_w.shape])
        bad_w = w[None]
        add(op, "filter-rank-high", {fname: bad_w}, ValueError, fname, [bad_w.shape])
        # Channel mismatch between input and filter (the rest of the call consistent with the
        # filter, so that the input is the only mismatch).
        bad_w = np.ones(w.shape[:-2] + (4, w.shape[-1]), F32)
        over = {fname: bad_w}
        if op.startswith("separable"):
            pw = b["pointwise_filter"]
            over["pointwise_filter"] = np.ones(pw.shape[:-2] + (4 * w.shape[-1], pw.shape[-1]),
                                               F32)
        add(op, "filter-channels", over, ValueError, fname, [bad_w.shape, x.shape])
        if two_d:
            # An NHWC-shaped input declared NCHW: 7 channels, the filter wants 3.
            add(op, "nchw-channels", {"data_format": "NCHW"}, ValueError, fname,
                [w.shape, x.shape])
        # Bias.
        oc = out_channels(op)
        add(op, "bias-length", {"bias": np.ones(oc + 1, F32)}, ValueError, "bias",
            [(oc + 1,)])
        add(op, "bias-length-0", {"bias": np.ones(0, F32)}, ValueError, "bias", [(0,)])
        add(op, "bias-rank", {"bias": np.ones((1, oc), F32)}, ValueError, "bias", [(1, oc)])
        # Unknown data formats and activations.
        for fmt in (["NWHC", "NCW", "CHWN", ""] if two_d else ["NHWC", "WNC", ""]):
            add(op, f"data_format-{fmt or 'empty'}", {"data_format": fmt}, ValueError,
                "data_format")
        for act in ("tanh", "", "relu7"):
            add(op, f"activation-{act or 'empty'}", {"activation": act}, ValueError,
                "activation")

        if op.startswith("separable"):
            pw = b["pointwise_filter"]
            bad = np.ones(pw.shape[:-2] + (5, 4), F32)
            add(op, "pointwise-channels", {"pointwise_filter": bad}, ValueError,
                "pointwise_filter", [bad.shape])
            bad = np.ones((2,) + pw.shape[1:], F32)
            add(op, "pointwise-not-1x1", {"pointwise_filter": bad}, ValueError,
                "pointwise_filter", [bad.shape])
            bad = pw[0]
            add(op, "pointwise-rank", {"pointwise_filter": bad}, ValueError,
                "pointwise_filter", [bad.shape])
            add(op, "depthwise_bias-length", {"depthwise_bias": np.ones(5, F32)}, ValueError,
                "depthwise_bias", [(5,)])
            add(op, "depthwise_bias-rank", {"depthwise_bias": np.ones((2, 3), F32)}, ValueError,
                "depthwise_bias", [(2, 3)])
            add(op, "depthwise_activation", {"depthwise_activation": "sigmoid"}, ValueError,
                "depthwise_activation")

        if op == "pointwise_conv2d":
            bad = np.ones((3, 3, 3, 4), F32)
            add(op, "filter-not-1x1", {"filter": bad}, ValueError, "filter", [bad.shape])
            continue

        # Strides, dilations.
        sname = _stride_name(op)
        if two_d:
            bad_strides = [0, -1, (1, 0), (-2, 1), [1, 0, 1, 1], [1, 1, -1, 1], [1, 1, 1],
                           [2, 1, 1, 1], [1, 1, 1, 2], (1, 1, 1)]
            bad_dilations = [0, -1, (0, 1), [1, 1, 0, 1], [1, -3, 1, 1], [2, 1, 1, 1],
                             [1, 1, 1, 2], [1, 1, 1]]
        else:
            bad_strides = [0, -1, [1, 0, 1], [1, -2, 1], [2, 1, 1], [1, 1, 2], [1, 1]]
            bad_dilations = [0, -2, [1, 0, 1], [2, 1, 1], [1, 1]]
        for s in bad_strides:
            add(op, f"{sname}-{s}", {sname: s}, ValueError, sname)
        for d in bad_dilations:
            add(op, f"dilations-{d}", {"dilations": d}, ValueError, "dilations")
        # Padding.
        if two_d:
            bad_paddings = ["FOO", "", "CAUSAL", "EXPLICIT",
                            [[0, 0], [-1, 0], [0, 0], [0, 0]],
                            [[0, 0], [0, 0], [0, -2], [0, 0]],
                            [[1, 0], [0, 0], [0, 0], [0, 0]],
                            [[0, 0], [0, 0], [0, 0], [0, 1]],
                            [[0, 0], [1, 1], [1, 1]],
                            [[0, 0], [1, 1], [1, 1], [0, 0], [0, 0]],
                            [[0, 0, 0], [1, 1, 1], [1, 1, 1], [0, 0, 0]]]
        else:
            bad_paddings = ["FOO", "", "EXPLICIT",
                            [[0, 0], [-1, 0], [0, 0]],
                            [[0, 0], [1, -1], [0, 0]],
                            [[0, 1], [0, 0], [0, 0]],
                            [[0, 0], [0, 0], [1, 0]],
                            [[0, 0], [1, 1]],
                            [[0, 0], [1, 1], [1, 1], [0, 0]]]
        for p in bad_paddings:
            add(op, f"padding-{p}", {"padding": p}, ValueError, "padding")
        if two_d:
            # NCHW: the explicit list is [[0,0],[0,0],[t,b],[l,r]]; padding the channels is bad.
            xc = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
            add(op, "padding-nchw-channel", {"input": xc, "data_format": "NCHW",
                                             "padding": [[0, 0], [1, 0], [0, 0], [0, 0]]},
                ValueError, "padding")
    return cases


@pytest.mark.parametrize("op,overrides,exc,name,shapes", _cases())
def test_bad_argument(op, overrides, exc, name, shapes):
    with pytest.raises(exc, match=word(name)) as info:
        call(op, **overrides)
    message = str(info.value)
    for shape in shapes:
        assert re.search(shape_pattern(shape), message), (
            f"message does not show the shape {tuple(shape)}: {message!r}")


# --------------------------------------------------------------------------------------------
# Kernel larger than the (padded) input
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", CONV_OPS)
@pytest.mark.parametrize("how", ["kernel", "dilation", "explicit"])
def test_kernel_larger_than_input(op, how):
    two_d = op.endswith("2d")
    args = base_args(op)
    fname = _filter_name(op)
    w = args[fname]
    size = 7 if two_d else 9  # input height / length
    if how == "kernel":
        args[fname] = np.ones((size + 1,) + w.shape[1:], F32)
    elif how == "dilation":
        # (3 - 1) * d + 1 > size
        d = size // 2 + 1
        args["dilations"] = (d, 1) if two_d else d
    else:
        args[fname] = np.ones((size + 3,) + w.shape[1:], F32)
        args["padding"] = ([[0, 0], [1, 1], [0, 0], [0, 0]] if two_d
                           else [[0, 0], [1, 1], [0, 0]])
    with pytest.raises(ValueError, match=r"filter|input|padding|dilation"):
        getattr(sepcpp, op)(**args)
    # SAME pads as needed, so the same kernel is fine there; the explicit case is fine with
    # enough padding.
    if how != "explicit":
        args["padding"] = "SAME"
    else:
        args["padding"] = ([[0, 0], [2, 2], [0, 0], [0, 0]] if two_d
                           else [[0, 0], [2, 2], [0, 0]])
    y = getattr(sepcpp, op)(**args)
    assert_close(y, getattr(ref, op)(**args), F32)


# --------------------------------------------------------------------------------------------
# Sizes whose product overflows (huge shapes from zero-stride views: no memory used)
# --------------------------------------------------------------------------------------------
def _huge(shape, dtype=F32):
    return np.broadcast_to(np.zeros((1,) * len(shape), dtype), shape)


def _overflow_cases():
    big = 2**20
    x2 = (2**15, 2**15, 2**15, 4)  # 2**47 elements: a legal NumPy view
    x1 = (2**28, 2**28, 4)
    cases = {
        "depthwise_conv2d": dict(input=_huge(x2), filter=_huge((1, 1, 4, big)),
                                 strides=1, padding="VALID"),
        "pointwise_conv2d": dict(input=_huge(x2), filter=_huge((1, 1, 4, big))),
        "separable_conv2d": dict(input=_huge(x2), depthwise_filter=_huge((1, 1, 4, big)),
                                 pointwise_filter=_huge((1, 1, 4 * big, big)), strides=1,
                                 padding="VALID"),
        "conv2d": dict(input=_huge(x2), filters=_huge((1, 1, 4, big)), strides=1,
                       padding="VALID"),
        "depthwise_conv1d": dict(input=_huge(x1), filter=_huge((1, 4, big)), stride=1,
                                 padding="VALID"),
        "separable_conv1d": dict(input=_huge(x1), depthwise_filter=_huge((1, 4, big)),
                                 pointwise_filter=_huge((1, 4 * big, big)), stride=1,
                                 padding="VALID"),
        "conv1d": dict(input=_huge(x1), filters=_huge((1, 4, big)), stride=1, padding="VALID"),
    }
    return cases


@pytest.mark.parametrize("op", ALL_OPS)
def test_output_size_overflow(op):
    """Output element counts beyond 2**63 are a ValueError, not a crash or a MemoryError."""
    args = _overflow_cases()[op]
    with pytest.raises(ValueError):
        getattr(sepcpp, op)(**args)


@pytest.mark.parametrize("op", CONV_OPS)
def test_padding_and_dilation_overflow(op):
    two_d = op.endswith("2d")
    args = base_args(op)
    huge = 2**62
    pad = ([[0, 0], [huge, huge], [0, 0], [0, 0]] if two_d else [[0, 0], [huge, huge], [0, 0]])
    with pytest.raises(ValueError):
        getattr(sepcpp, op)(**dict(args, padding=pad))
    with pytest.raises(ValueError):
        getattr(sepcpp, op)(**dict(args, padding="SAME", dilations=huge))
    with pytest.raises(ValueError):
        getattr(sepcpp, op)(**dict(args, padding="VALID", dilations=huge))


# --------------------------------------------------------------------------------------------
# dtypes
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float16, np.complex64, np.complex128,
                                   np.bool_, np.uint8])
@pytest.mark.parametrize("op", ALL_OPS)
def test_bad_input_dtype(op, dtype):
    args = base_args(op)
    x = args["input"]
    with pytest.raises(TypeError, match=word("input")):
        call(op, input=x.astype(dtype))
    # The same dtype everywhere is still refused.
    args = {k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in args.items()}
    with pytest.raises(TypeError):
        getattr(sepcpp, op)(**args)


@pytest.mark.parametrize("op", ALL_OPS)
def test_complex_filter(op):
    fname = _filter_name(op)
    w = base_args(op)[fname]
    with pytest.raises(TypeError, match=word(fname)):
        call(op, **{fname: w.astype(np.complex64)})


@pytest.mark.parametrize("op", ALL_OPS)
def test_not_an_array(op):
    with pytest.raises(TypeError):
        call(op, input=None)
    with pytest.raises(TypeError):
        call(op, input="abc")


# --------------------------------------------------------------------------------------------
# out=
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ALL_OPS)
def test_bad_out(op):
    expected = call(op)
    shape, dtype = expected.shape, expected.dtype
    wrong_shapes = [shape[:-1] + (shape[-1] + 1,), shape[1:], (shape[0] + 1,) + shape[1:],
                    shape + (1,), (int(np.prod(shape)),)]
    for s in wrong_shapes:
        with pytest.raises(ValueError, match=word("out")):
            call(op, out=np.empty(s, dtype))
    for dt in (np.float64, np.float16, np.int32):
        with pytest.raises((TypeError, ValueError), match=word("out")):
            call(op, out=np.empty(shape, dt))
    readonly = np.empty(shape, dtype)
    readonly.flags.writeable = False
    with pytest.raises((TypeError, ValueError), match=word("out")):
        call(op, out=readonly)
    with pytest.raises((TypeError, ValueError)):
        call(op, out=expected.tolist())


@pytest.mark.parametrize("op", ALL_OPS)
def test_non_contiguous_out(op):
    """A non-contiguous out is either refused (naming 'out') or written correctly."""
    expected = call(op)
    base = np.full(expected.shape[:-1] + (2 * expected.shape[-1],), np.nan, expected.dtype)
    out = base[..., ::2]
    try:
        result = call(op, out=out)
    except ValueError as e:
        assert re.search(word("out"), str(e)), str(e)
        return
    assert result is out
    assert np.array_equal(out, expected)
    assert np.isnan(base[..., 1::2]).all(), "wrote outside the out view"


# --------------------------------------------------------------------------------------------
# Zero batch
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["last", "first"])
@pytest.mark.parametrize("op", ALL_OPS)
def test_zero_batch(op, data_format, dtype):
    args = base_args(op, dtype)
    x = args["input"]
    if data_format == "first":
        x = np.ascontiguousarray(np.moveaxis(x, -1, 1))
        args["data_format"] = "NCHW" if op.endswith("2d") else "NCW"
    args["input"] = x[:0]
    full = getattr(sepcpp, op)(**dict(args, input=x))
    y = getattr(sepcpp, op)(**args)
    assert isinstance(y, np.ndarray)
    assert y.dtype == np.dtype(dtype)
    assert y.shape == (0,) + full.shape[1:]


@pytest.mark.parametrize("op", ALL_OPS)
def test_zero_batch_out(op):
    """An empty out of the right shape is accepted (and returned)."""
    args = base_args(op)
    full = getattr(sepcpp, op)(**args)
    args["input"] = args["input"][:0]
    out = np.empty((0,) + full.shape[1:], full.dtype)
    assert getattr(sepcpp, op)(**args, out=out) is out


# --------------------------------------------------------------------------------------------
# NaN and Inf propagate exactly to the outputs whose window holds them
# --------------------------------------------------------------------------------------------
def _nan_case(op, rng, dtype):
    two_d = op.endswith("2d")
    c, m, o = 3, 2, 4
    # Positive, moderate values: no overflow, no cancellation to worry about.
    x = rng.uniform(0.5, 1.5, (2, 13, 12, c) if two_d else (2, 31, c)).astype(dtype)
    # A few NaN, +Inf and -Inf, well apart.
    flat = x.reshape(-1, c)
    pos = rng.choice(flat.shape[0], size=6, replace=False)
    flat[pos[0:2], rng.integers(c, size=2)] = np.nan
    flat[pos[2:4], rng.integers(c, size=2)] = np.inf
    flat[pos[4:6], rng.integers(c, size=2)] = -np.inf

    def w(*shape):
        v = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
        return v.astype(dtype)

    if two_d:
        args = {"input": x}
        if op == "pointwise_conv2d":
            args["filter"] = w(1, 1, c, o)
            return args
        args.update(strides=(2, 1), padding="SAME", dilations=(1, 2))
        if op == "depthwise_conv2d":
            args["filter"] = w(3, 3, c, m)
        elif op == "separable_conv2d":
            args.update(depthwise_filter=w(3, 3, c, m), pointwise_filter=w(1, 1, c * m, o))
        else:
            args["filters"] = w(3, 3, c, o)
    else:
        args = {"input": x, "stride": 2, "padding": "CAUSAL", "dilations": 2}
        if op == "depthwise_conv1d":
            args["filter"] = w(3, c, m)
        elif op == "separable_conv1d":
            args.update(depthwise_filter=w(3, c, m), pointwise_filter=w(1, c * m, o))
        else:
            args["filters"] = w(3, c, o)
    return args


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ALL_OPS)
def test_nan_inf_propagation(op, dtype, rng):
    args = _nan_case(op, rng, dtype)
    with np.errstate(invalid="ignore"):  # inf - inf in the reference is intended
        expected = getattr(ref, op)(**args)
    # Sanity of the test data: some outputs see a non-finite value, some do not.
    assert (~np.isfinite(expected)).any() and np.isfinite(expected).any()
    y = getattr(sepcpp, op)(**args)
    assert y.shape == expected.shape
    for pred in (np.isnan, np.isposinf, np.isneginf):
        bad = np.argwhere(pred(y) != pred(expected))
        assert bad.size == 0, (f"{pred.__name__} pattern differs at {bad[:5].tolist()}: got "
                               f"{[y[tuple(i)] for i in bad[:5]]}, expected "
                               f"{[expected[tuple(i)] for i in bad[:5]]}")
    finite = np.isfinite(expected)
    assert_close(y[finite], expected[finite], dtype)
