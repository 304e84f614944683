"""sepcpp against the NumPy reference (tests/python/reference.py) on seeded random cases."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import reference as ref
from optional_deps import import_optional
from reference import assert_close, layout_variant, LAYOUT_KINDS

import sepcpp

OPS_2D = ["depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "conv2d"]
OPS_1D = ["depthwise_conv1d", "separable_conv1d", "conv1d"]
ALL_OPS = OPS_2D + OPS_1D
ARRAY_ARGS = ("input", "filter", "filters", "depthwise_filter", "pointwise_filter", "bias",
              "depthwise_bias")


# --------------------------------------------------------------------------------------------
# Case generation
# --------------------------------------------------------------------------------------------
def _fmt(nsp, channels_last):
    if nsp == 2:
        return "NHWC" if channels_last else "NCHW"
    return "NWC" if channels_last else "NCW"


def _tf_list(values, channels_last):
    """Per-axis values -> TF's full list ([1, sh, sw, 1] / [1, 1, sh, sw]; [1, s, 1] / [1, 1, s])."""
    v = [int(a) for a in values]
    return [1] + v + [1] if channels_last else [1, 1] + v


def _format_spatial(rng, values, nsp, channels_last, allow_none=False):
    """Write per-axis strides/dilations in one of the accepted forms."""
    forms = ["list"]
    if len(set(values)) == 1:
        forms.append("int")
    if nsp == 2:
        forms.append("pair")
    if allow_none and all(v == 1 for v in values):
        forms.append("none")
    form = forms[rng.integers(len(forms))]
    if form == "none":
        return None
    if form == "int":
        return int(values[0])
    if form == "pair":
        return tuple(int(v) for v in values)
    return _tf_list(values, channels_last)


def _explicit_padding(pairs, nsp, channels_last):
    pairs = [[int(a), int(b)] for a, b in pairs]
    return [[0, 0]] + pairs + [[0, 0]] if channels_last else [[0, 0], [0, 0]] + pairs


def _to_layout(x_cl, channels_last):
    """A channels-last array in the requested layout."""
    return x_cl if channels_last else np.ascontiguousarray(np.moveaxis(x_cl, -1, 1))


def reduction_length(op, args):
    """Length of the longest dot product in the op (for the float32 tolerance)."""
    if op.startswith("pointwise"):
        return np.shape(args["filter"])[-2]
    if op.startswith("depthwise"):
        return int(np.prod(np.shape(args["filter"])[:-2]))
    if op.startswith("separable"):
        return max(int(np.prod(np.shape(args["depthwise_filter"])[:-2])),
                   np.shape(args["pointwise_filter"])[-2])
    return int(np.prod(np.shape(args["filters"])[:-1]))


def random_case(op, rng, *, big=False):
    """Random, valid arguments for `op` (plain contiguous arrays; see `with_layouts`)."""
    nsp = 1 if op.endswith("1d") else 2
    cl = bool(rng.integers(2))
    dtype = np.float32 if rng.integers(2) else np.float64
    n = int(rng.integers(1, 4))
    if big:
        c = int(rng.choice([5, 8, 16, 17, 24, 33]))
        m = int(rng.choice([1, 1, 2, 3]))
        o = int(rng.choice([1, 7, 8, 16, 19, 32, 40]))
        max_size = 40 if nsp == 2 else 120
        n = int(rng.integers(1, 3))
    else:
        c, m, o = int(rng.integers(1, 7)), int(rng.integers(1, 4)), int(rng.integers(1, 8))
        max_size = 12 if nsp == 2 else 24
    args = {"data_format": _fmt(nsp, cl)}

    def arr(shape):
        return rng.standard_normal(shape).astype(dtype)

    if op.startswith("pointwise"):
        sp = tuple(int(v) for v in rng.integers(1, max_size + 1, size=nsp))
        args["filter"] = arr((1, 1, c, o))
        out_ch = o
    else:
        kmax = 6 if nsp == 2 else 8
        k = [int(v) for v in rng.integers(1, kmax + 1, size=nsp)]
        s = [int(v) for v in rng.integers(1, 4, size=nsp)]
        d = [int(v) for v in rng.integers(1, 4, size=nsp)]
        if rng.random() < 0.3:
            s = [1] * nsp
        if rng.random() < 0.4:
            d = [1] * nsp
        eff = [(kk - 1) * dd + 1 for kk, dd in zip(k, d)]
        kinds = ["VALID", "SAME", "EXPLICIT"] + (["CAUSAL"] if nsp == 1 else [])
        kind = kinds[rng.integers(len(kinds))]
        sp = [int(v) for v in rng.integers(1, max_size + 1, size=nsp)]
        if kind == "EXPLICIT":
            pairs = [tuple(int(v) for v in rng.integers(0, 4, size=2)) for _ in range(nsp)]
            sp = [max(sz, e - a - b, 1) for sz, e, (a, b) in zip(sp, eff, pairs)]
            args["padding"] = _explicit_padding(pairs, nsp, cl)
        else:
            if kind == "VALID":
                sp = [max(sz, e) for sz, e in zip(sp, eff)]
            args["padding"] = kind
        sname = "strides" if nsp == 2 else "stride"
        args[sname] = _format_spatial(rng, s, nsp, cl)
        args["dilations"] = _format_spatial(rng, d, nsp, cl, allow_none=True)
        if op.startswith("depthwise"):
            args["filter"] = arr(tuple(k) + (c, m))
            out_ch = c * m
        elif op.startswith("separable"):
            args["depthwise_filter"] = arr(tuple(k) + (c, m))
            args["pointwise_filter"] = arr((1,) * nsp + (c * m, o))
            out_ch = o
            if rng.random() < 0.5:
                args["depthwise_bias"] = arr((c * m,))
            act = rng.choice([None, "relu", "relu6"])
            if act is not None:
                args["depthwise_activation"] = str(act)
        else:
            args["filters"] = arr(tuple(k) + (c, o))
            out_ch = o
    x_cl = arr((n,) + tuple(sp) + (c,)) * (1.0 + 2.0 * rng.random())
    args["input"] = _to_layout(x_cl, cl).astype(dtype)
    if rng.random() < 0.5:
        args["bias"] = arr((out_ch,))
    act = rng.choice([None, "relu", "relu6"])
    if act is not None:
        args["activation"] = str(act)
    return args


def with_layouts(args, rng, input_kind=None, filter_kind=None):
    """Replace the arrays in `args` by objects with the same values and other memory layouts."""
    out = dict(args)
    for name in ARRAY_ARGS:
        if name not in args:
            continue
        if name == "input":
            kind = input_kind or LAYOUT_KINDS[rng.integers(len(LAYOUT_KINDS))]
        elif filter_kind is not None:
            kind = filter_kind
        else:
            kind = "contiguous" if rng.random() < 0.6 else LAYOUT_KINDS[
                rng.integers(len(LAYOUT_KINDS))]
        out[name] = layout_variant(args[name], kind)
    return out


def snapshot(args):
    """Copies of every array argument (as ndarrays) to check later that nothing was modified."""
    snap = {}
    for name in ARRAY_ARGS:
        if name in args:
            v = args[name]
            if isinstance(v, (ref.ArrayLike,)):
                v = v._a
            elif isinstance(v, ref.DLPackOnly):
                v = v._a
            snap[name] = (v, np.asarray(v).copy())
    return snap


def assert_unmodified(snap):
    for name, (obj, copy) in snap.items():
        assert np.array_equal(np.asarray(obj), copy), f"sepcpp modified argument {name!r}"


def run_case(op, args, call_args=None, use_out=False, what=""):
    """Run sepcpp's `op` on `call_args` (default `args`) and compare with the reference on `args`."""
    call_args = dict(args if call_args is None else call_args)
    expected = getattr(ref, op)(**args)
    dtype = np.asarray(args["input"]).dtype
    snap = snapshot(call_args)
    if use_out:
        out = np.full(expected.shape, np.nan, dtype=dtype)
        result = getattr(sepcpp, op)(**call_args, out=out)
        assert result is out, f"{what}: with out=, the op must return `out` itself"
    else:
        result = getattr(sepcpp, op)(**call_args)
    assert_unmodified(snap)
    assert_close(result, expected, dtype, reduction_length(op, args), what=what)
    return result


def describe(args):
    return {k: (f"array{np.shape(v)} {np.asarray(v).dtype}" if k in ARRAY_ARGS else v)
            for k, v in args.items()}


# --------------------------------------------------------------------------------------------
# Randomised sweeps
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("op", ALL_OPS)
def test_random_small(op, seed):
    rng = np.random.default_rng([ALL_OPS.index(op), seed])
    args = random_case(op, rng)
    call_args = with_layouts(args, rng)
    run_case(op, args, call_args, use_out=rng.random() < 0.3, what=f"{op} {describe(args)}")


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("op", ALL_OPS)
def test_random_medium(op, seed):
    """Channel counts around and off the SIMD widths, larger images: exercises tiling and tails."""
    rng = np.random.default_rng([100 + ALL_OPS.index(op), seed])
    args = random_case(op, rng, big=True)
    call_args = with_layouts(args, rng)
    run_case(op, args, call_args, use_out=rng.random() < 0.3, what=f"{op} {describe(args)}")


# --------------------------------------------------------------------------------------------
# Every memory layout / array kind for every op, for input and filters
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", LAYOUT_KINDS)
@pytest.mark.parametrize("op", ALL_OPS)
def test_array_kinds(op, kind):
    rng = np.random.default_rng([200 + ALL_OPS.index(op), LAYOUT_KINDS.index(kind)])
    args = random_case(op, rng)
    call_args = with_layouts(args, rng, input_kind=kind, filter_kind=kind)
    run_case(op, args, call_args, what=f"{op} {kind} {describe(args)}")


@pytest.mark.parametrize("op", ALL_OPS)
def test_zero_stride_input(op, rng):
    """A broadcast (zero-stride, read-only) input is read correctly."""
    args = random_case(op, rng)
    x = np.asarray(args["input"])
    # Constant along the batch axis and along the last axis.
    row = x[:1, ..., :1]
    args["input"] = np.ascontiguousarray(np.broadcast_to(row, x.shape))
    call_args = dict(args, input=np.broadcast_to(row, x.shape))
    assert call_args["input"].strides[0] == 0 and call_args["input"].strides[-1] == 0
    run_case(op, args, call_args, what=f"{op} broadcast input")


@pytest.mark.uses("torch")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ALL_OPS)
def test_torch_tensors(op, dtype, rng):
    torch = import_optional("torch")
    args = random_case(op, rng)
    args = {k: (np.asarray(v).astype(dtype) if k in ARRAY_ARGS else v) for k, v in args.items()}
    call_args = dict(args)
    for name in ARRAY_ARGS:
        if name in args:
            a = args[name]
            if a.ndim >= 2 and rng.random() < 0.5:
                # Non-contiguous tensor: a permuted view of a contiguous one.
                perm = tuple(range(1, a.ndim)) + (0,)
                t = torch.from_numpy(np.ascontiguousarray(a.transpose(perm)).copy())
                t = t.permute(*np.argsort(perm).tolist())
            else:
                t = torch.from_numpy(a.copy())
            call_args[name] = t
    run_case(op, args, call_args, what=f"{op} torch {describe(args)}")


# --------------------------------------------------------------------------------------------
# out=
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ALL_OPS)
def test_out_argument(op, dtype, rng):
    args = random_case(op, rng)
    args = {k: (np.asarray(v).astype(dtype) if k in ARRAY_ARGS else v) for k, v in args.items()}
    plain = getattr(sepcpp, op)(**args)
    for fill in (np.nan, np.inf, 0.0):
        out = np.full(plain.shape, fill, dtype=dtype)
        result = getattr(sepcpp, op)(**args, out=out)
        assert result is out
        # Same computation with or without out=: identical bits, nothing left of the old values.
        assert np.array_equal(out, plain), f"{op}: out= result differs from the returned one"
    assert_close(plain, getattr(ref, op)(**args), dtype, reduction_length(op, args), what=op)


# --------------------------------------------------------------------------------------------
# Argument forms and padding rules
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["depthwise_conv2d", "separable_conv2d", "conv2d"])
@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_strides_dilations_forms_agree(op, data_format, rng):
    """int, (h, w) pair and TF's 4-list describe the same strides / dilations."""
    cl = data_format == "NHWC"
    x_cl = rng.standard_normal((2, 13, 11, 3)).astype(np.float32)
    args = {}
    c = 3
    if op == "depthwise_conv2d":
        args["filter"] = rng.standard_normal((3, 2, c, 2)).astype(np.float32)
    elif op == "separable_conv2d":
        args["depthwise_filter"] = rng.standard_normal((3, 2, c, 2)).astype(np.float32)
        args["pointwise_filter"] = rng.standard_normal((1, 1, 2 * c, 4)).astype(np.float32)
    else:
        args["filters"] = rng.standard_normal((3, 2, c, 5)).astype(np.float32)
    args["input"] = _to_layout(x_cl, cl)
    args["padding"] = "SAME"
    args["data_format"] = data_format
    results = []
    for s, d in [(2, 2), ((2, 2), (2, 2)), (_tf_list((2, 2), cl), _tf_list((2, 2), cl))]:
        results.append(run_case(op, dict(args, strides=s, dilations=d),
                                what=f"{op} strides={s} dilations={d}"))
    for r in results[1:]:
        assert np.array_equal(r, results[0])
    # Unequal values: pair and list forms agree, and differ from the swapped values.
    r1 = run_case(op, dict(args, strides=(1, 3), dilations=(2, 1)), what=op)
    r2 = run_case(op, dict(args, strides=_tf_list((1, 3), cl), dilations=_tf_list((2, 1), cl)),
                  what=op)
    assert np.array_equal(r1, r2)
    r3 = run_case(op, dict(args, strides=(3, 1), dilations=(1, 2)), what=op)
    assert r1.shape != r3.shape


@pytest.mark.parametrize("op", OPS_1D)
@pytest.mark.parametrize("data_format", ["NWC", "NCW"])
def test_stride_forms_agree_1d(op, data_format, rng):
    cl = data_format == "NWC"
    x_cl = rng.standard_normal((2, 17, 3)).astype(np.float64)
    c = 3
    if op == "depthwise_conv1d":
        args = {"filter": rng.standard_normal((3, c, 2))}
    elif op == "separable_conv1d":
        args = {"depthwise_filter": rng.standard_normal((3, c, 2)),
                "pointwise_filter": rng.standard_normal((1, 2 * c, 4))}
    else:
        args = {"filters": rng.standard_normal((3, c, 5))}
    args.update(input=_to_layout(x_cl, cl), padding="SAME", data_format=data_format)
    r1 = run_case(op, dict(args, stride=2, dilations=2), what=op)
    r2 = run_case(op, dict(args, stride=_tf_list((2,), cl), dilations=_tf_list((2,), cl)),
                  what=op)
    assert np.array_equal(r1, r2)
    assert r1.shape[1 if cl else 2] == 9


@pytest.mark.parametrize("size,k,s,d", [(4, 2, 1, 1), (5, 2, 2, 1), (7, 4, 2, 1), (10, 3, 3, 2),
                                        (6, 2, 4, 3), (1, 3, 1, 1), (9, 5, 1, 2)])
@pytest.mark.parametrize("op", ["depthwise_conv2d", "separable_conv2d", "conv2d"])
def test_same_puts_odd_pixel_at_end(op, size, k, s, d, rng):
    """SAME == explicit padding with before = need // 2, after = need - before."""
    out = -(-size // s)
    eff = (k - 1) * d + 1
    need = max(0, (out - 1) * s + eff - size)
    before, after = need // 2, need - need // 2
    x = rng.standard_normal((1, size, size + 1, 2))
    c = 2
    if op == "depthwise_conv2d":
        args = {"filter": rng.standard_normal((k, k, c, 1))}
    elif op == "separable_conv2d":
        args = {"depthwise_filter": rng.standard_normal((k, k, c, 2)),
                "pointwise_filter": rng.standard_normal((1, 1, 2 * c, 3))}
    else:
        args = {"filters": rng.standard_normal((k, k, c, 3))}
    args.update(input=x, strides=s, dilations=d)
    out_w = -(-(size + 1) // s)
    need_w = max(0, (out_w - 1) * s + eff - (size + 1))
    explicit = [[0, 0], [before, after], [need_w // 2, need_w - need_w // 2], [0, 0]]
    r_same = run_case(op, dict(args, padding="SAME"), what=f"{op} SAME")
    r_expl = run_case(op, dict(args, padding=explicit), what=f"{op} explicit {explicit}")
    assert r_same.shape[1:3] == (out, out_w)
    assert np.array_equal(r_same, r_expl)


@pytest.mark.parametrize("op", OPS_1D)
@pytest.mark.parametrize("k,d,s", [(1, 1, 1), (3, 1, 1), (3, 2, 1), (5, 3, 2), (7, 1, 3)])
def test_causal(op, k, d, s, rng):
    """CAUSAL == explicit [(k-1)*d, 0]; out = ceil(in / s); no output sees the future."""
    n_in, c = 23, 3
    if op == "depthwise_conv1d":
        args = {"filter": rng.standard_normal((k, c, 2))}
    elif op == "separable_conv1d":
        args = {"depthwise_filter": rng.standard_normal((k, c, 2)),
                "pointwise_filter": rng.standard_normal((1, 2 * c, 4))}
    else:
        args = {"filters": rng.standard_normal((k, c, 4))}
    x = rng.standard_normal((2, n_in, c))
    args.update(input=x, stride=s, dilations=d)
    causal = run_case(op, dict(args, padding="CAUSAL"), what=f"{op} CAUSAL")
    expl = run_case(op, dict(args, padding=[[0, 0], [(k - 1) * d, 0], [0, 0]]), what=op)
    assert np.array_equal(causal, expl)
    assert causal.shape[1] == -(-n_in // s)
    # Perturbing the input from time t on leaves every output whose window ends before t alone.
    t = 11
    x2 = x.copy()
    x2[:, t:, :] = rng.standard_normal(x2[:, t:, :].shape)
    changed = getattr(sepcpp, op)(**dict(args, input=x2, padding="CAUSAL"))
    # Output i covers inputs up to i*s.
    keep = [i for i in range(causal.shape[1]) if i * s < t]
    assert np.array_equal(changed[:, keep], causal[:, keep])
    assert not np.array_equal(changed, causal)


@pytest.mark.parametrize("op", ["depthwise_conv2d", "separable_conv2d", "conv2d"])
def test_unequal_strides_with_dilation(op, rng):
    """Cases TensorFlow refuses or gets wrong: unequal strides together with dilation."""
    c = 4
    for fmt in ("NHWC", "NCHW"):
        cl = fmt == "NHWC"
        x = _to_layout(rng.standard_normal((2, 19, 16, c)).astype(np.float32), cl)
        if op == "depthwise_conv2d":
            args = {"filter": rng.standard_normal((3, 2, c, 3)).astype(np.float32)}
        elif op == "separable_conv2d":
            args = {"depthwise_filter": rng.standard_normal((3, 2, c, 3)).astype(np.float32),
                    "pointwise_filter": rng.standard_normal((1, 1, 3 * c, 5)).astype(np.float32)}
        else:
            args = {"filters": rng.standard_normal((3, 2, c, 5)).astype(np.float32)}
        for s, d, pad in [((3, 2), (2, 3), "SAME"), ((2, 3), (3, 2), "VALID"),
                          ((1, 4), (4, 1), _explicit_padding([(3, 0), (1, 2)], 2, cl))]:
            r = run_case(op, dict(args, input=x, strides=s, dilations=d, padding=pad,
                                  data_format=fmt), what=f"{op} {fmt} s={s} d={d} {pad}")
            eff = (3 - 1) * d[0] + 1, (2 - 1) * d[1] + 1
            if pad == "SAME":
                want = (-(-19 // s[0]), -(-16 // s[1]))
            elif pad == "VALID":
                want = ((19 - eff[0]) // s[0] + 1, (16 - eff[1]) // s[1] + 1)
            else:
                want = ((19 + 3 - eff[0]) // s[0] + 1, (16 + 3 - eff[1]) // s[1] + 1)
            assert (r.shape[1:3] if cl else r.shape[2:]) == want


# --------------------------------------------------------------------------------------------
# Composition: separable == depthwise then pointwise (in sepcpp itself)
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
def test_separable_is_depthwise_then_pointwise(data_format, dtype, rng):
    cl = data_format == "NHWC"
    c, m, o = 5, 2, 7
    x = _to_layout(rng.standard_normal((2, 15, 12, c)), cl).astype(dtype)
    dw = rng.standard_normal((3, 3, c, m)).astype(dtype)
    pw = rng.standard_normal((1, 1, c * m, o)).astype(dtype)
    db = rng.standard_normal(c * m).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    kw = dict(strides=(2, 1), padding="SAME", data_format=data_format, dilations=(1, 2))
    mid = sepcpp.depthwise_conv2d(x, dw, **kw, bias=db, activation="relu")
    two_step = sepcpp.pointwise_conv2d(mid, pw, data_format, bias=b, activation="relu6")
    fused = sepcpp.separable_conv2d(x, dw, pw, **kw, depthwise_bias=db,
                                    depthwise_activation="relu", bias=b, activation="relu6")
    assert_close(fused, two_step.astype(np.float64), dtype, what="fused vs two-step")
    assert_close(fused, ref.separable_conv2d(x, dw, pw, **kw, depthwise_bias=db,
                                             depthwise_activation="relu", bias=b,
                                             activation="relu6"), dtype)


@pytest.mark.parametrize("data_format", ["NWC", "NCW"])
def test_separable1d_matches_separable2d(data_format, rng):
    """A 1-D op equals its 2-D counterpart on a height-1 image."""
    cl = data_format == "NWC"
    c, m, o = 3, 2, 4
    x = rng.standard_normal((2, 20, c))
    dw = rng.standard_normal((5, c, m))
    pw = rng.standard_normal((1, c * m, o))
    r1 = sepcpp.separable_conv1d(_to_layout(x, cl), dw, pw, 2, "SAME", data_format, 2)
    r2 = sepcpp.separable_conv2d(x[:, None], dw[None], pw[None], 2, "SAME", "NHWC", 2)
    r2 = r2[:, 0]
    if not cl:
        r2 = np.moveaxis(r2, -1, 1)
    assert_close(r1, r2, np.float64)


# --------------------------------------------------------------------------------------------
# info() and every compiled instruction set
# --------------------------------------------------------------------------------------------
def test_info():
    info = sepcpp.info()
    for key, typ in [("version", str), ("isa_compiled", list), ("isa_available", list),
                     ("isa", str), ("openmp", bool), ("num_threads", int), ("cuda", dict)]:
        assert key in info, key
        assert isinstance(info[key], typ), (key, info[key])
    assert info["isa"] in info["isa_available"]
    assert set(info["isa_available"]) <= set(info["isa_compiled"])
    assert info["num_threads"] == sepcpp.get_num_threads() >= 1
    assert isinstance(info["cuda"]["compiled"], bool) and isinstance(info["cuda"]["devices"], int)
    assert info["cuda"]["compiled"] or info["cuda"]["devices"] == 0
    if hasattr(sepcpp, "__version__"):
        assert info["version"] == sepcpp.__version__


_ISA_SCRIPT = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import sepcpp, reference as ref
import test_vs_numpy as t
worst = 0.0
for i, op in enumerate(t.ALL_OPS):
    for seed in range(6):
        rng = np.random.default_rng([300 + i, seed])
        args = t.random_case(op, rng, big=seed % 2 == 1)
        t.run_case(op, args, t.with_layouts(args, rng), what=f"{op} seed {seed}")
print(json.dumps(sepcpp.info()))
"""


def test_every_isa_matches_reference():
    """Each instruction set usable here (SEPCPP_ISA=...) gives reference results."""
    isas = sepcpp.info()["isa_available"]
    here = os.path.dirname(os.path.abspath(__file__))
    for isa in isas:
        env = dict(os.environ, SEPCPP_ISA=isa)
        proc = subprocess.run([sys.executable, "-c", _ISA_SCRIPT, here], env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"SEPCPP_ISA={isa}:\n{proc.stdout}\n{proc.stderr}"
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        assert info["isa"] == isa


# --------------------------------------------------------------------------------------------
# The reference itself: against a per-pixel brute force and (if installed) against PyTorch
# --------------------------------------------------------------------------------------------
def _brute_force_2d(x, w, strides, dilations, pads, out_hw, depthwise):
    """out[i, j] = sum_{a,b} x[i*sh - top + a*dh, j*sw - left + b*dw] * w[a, b]; NHWC."""
    n, h, wd, c = x.shape
    kh, kw = w.shape[:2]
    out_ch = c * w.shape[3] if depthwise else w.shape[3]
    y = np.zeros((n, out_hw[0], out_hw[1], out_ch))
    for i in range(out_hw[0]):
        for j in range(out_hw[1]):
            acc = np.zeros((n, out_ch))
            for a in range(kh):
                for b in range(kw):
                    hi = i * strides[0] - pads[0] + a * dilations[0]
                    wi = j * strides[1] - pads[1] + b * dilations[1]
                    if 0 <= hi < h and 0 <= wi < wd:
                        px = x[:, hi, wi, :]
                        if depthwise:
                            acc += (px[:, :, None] * w[a, b][None]).reshape(n, -1)
                        else:
                            acc += px @ w[a, b]
            y[:, i, j] = acc
    return y


@pytest.mark.parametrize("seed", range(12))
def test_reference_against_brute_force(seed):
    rng = np.random.default_rng([400, seed])
    h, wd = (int(v) for v in rng.integers(1, 9, size=2))
    kh, kw = (int(v) for v in rng.integers(1, 4, size=2))
    s = tuple(int(v) for v in rng.integers(1, 4, size=2))
    d = tuple(int(v) for v in rng.integers(1, 3, size=2))
    effh, effw = (kh - 1) * d[0] + 1, (kw - 1) * d[1] + 1
    mode = ["SAME", "VALID", "EXPLICIT"][seed % 3]
    if mode == "VALID":
        h, wd = max(h, effh), max(wd, effw)
        top = left = 0
        out_hw = ((h - effh) // s[0] + 1, (wd - effw) // s[1] + 1)
        padding = "VALID"
    elif mode == "SAME":
        oh, ow = -(-h // s[0]), -(-wd // s[1])
        top = max(0, (oh - 1) * s[0] + effh - h) // 2
        left = max(0, (ow - 1) * s[1] + effw - wd) // 2
        out_hw = (oh, ow)
        padding = "SAME"
    else:
        top, bottom, left, right = (int(v) for v in rng.integers(0, 3, size=4))
        h, wd = max(h, effh - top - bottom), max(wd, effw - left - right)
        out_hw = ((h + top + bottom - effh) // s[0] + 1, (wd + left + right - effw) // s[1] + 1)
        padding = [[0, 0], [top, bottom], [left, right], [0, 0]]
    x = rng.standard_normal((2, h, wd, 3))
    wdw = rng.standard_normal((kh, kw, 3, 2))
    wcv = rng.standard_normal((kh, kw, 3, 4))
    np.testing.assert_allclose(
        ref.depthwise_conv2d(x, wdw, s, padding, dilations=d),
        _brute_force_2d(x, wdw, s, d, (top, left), out_hw, True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        ref.conv2d(x, wcv, s, padding, dilations=d),
        _brute_force_2d(x, wcv, s, d, (top, left), out_hw, False), rtol=1e-12, atol=1e-12)
    # NCHW and 1-D wrappers route to the same definition.
    np.testing.assert_allclose(
        ref.conv2d(x.transpose(0, 3, 1, 2), wcv, [1, 1, *s],
                   padding if isinstance(padding, str) else
                   [padding[0], padding[3], padding[1], padding[2]], "NCHW", [1, 1, *d]),
        ref.conv2d(x, wcv, s, padding, dilations=d).transpose(0, 3, 1, 2), rtol=1e-12)
    p1 = padding if isinstance(padding, str) else [[0, 0], padding[2], [0, 0]]
    np.testing.assert_allclose(
        ref.conv1d(x[:, 0], wcv[0], s[1], p1, dilations=d[1]),
        ref.conv2d(x[:, :1], wcv[:1], (1, s[1]),
                   padding if isinstance(padding, str) else
                   [[0, 0], [0, 0], padding[2], [0, 0]], dilations=(1, d[1]))[:, 0],
        rtol=1e-12)


@pytest.mark.uses("torch")
@pytest.mark.parametrize("seed", range(6))
def test_reference_against_torch(seed):
    torch = import_optional("torch")
    F = torch.nn.functional
    rng = np.random.default_rng([500, seed])
    c, m, o = 3, 2, 5
    x = rng.standard_normal((2, 11, 9, c))
    dw = rng.standard_normal((3, 2, c, m))
    cv = rng.standard_normal((3, 2, c, o))
    s = (int(rng.integers(1, 3)), int(rng.integers(1, 4)))
    d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    pads = [int(v) for v in rng.integers(0, 3, size=4)]  # top, bottom, left, right
    padding = [[0, 0], pads[:2], pads[2:], [0, 0]]
    xt = F.pad(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
               (pads[2], pads[3], pads[0], pads[1]))
    w_dw = torch.from_numpy(dw.transpose(2, 3, 0, 1).reshape(c * m, 1, 3, 2).copy())
    w_cv = torch.from_numpy(cv.transpose(3, 2, 0, 1).copy())
    y_dw = F.conv2d(xt, w_dw, stride=s, dilation=d, groups=c).numpy().transpose(0, 2, 3, 1)
    y_cv = F.conv2d(xt, w_cv, stride=s, dilation=d).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(ref.depthwise_conv2d(x, dw, s, padding, dilations=d), y_dw,
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ref.conv2d(x, cv, s, padding, dilations=d), y_cv,
                               rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("groups", [1, 2, 3])
def test_super_separable_reference(groups, rng):
    """The grouped reference equals g separable convolutions on channel groups (via sepcpp)."""
    c, m, o = 6, 2, 12
    x = rng.standard_normal((2, 10, 9, c))
    dw = rng.standard_normal((3, 3, c, m))
    pw = rng.standard_normal((1, 1, c * m // groups, o))
    y = ref.super_separable_conv2d(x, dw, pw, groups, (2, 1), "SAME", "NHWC", (1, 2))
    cg, og = c // groups, o // groups
    parts = [sepcpp.separable_conv2d(x[..., g * cg:(g + 1) * cg], dw[:, :, g * cg:(g + 1) * cg],
                                     pw[..., g * og:(g + 1) * og], (2, 1), "SAME", "NHWC", (1, 2))
             for g in range(groups)]
    assert_close(np.concatenate(parts, axis=-1), y, np.float64)
    if groups == 1:
        assert_close(sepcpp.separable_conv2d(x, dw, pw, (2, 1), "SAME", "NHWC", (1, 2)), y,
                     np.float64)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("op", ["super_separable_conv2d", "super_separable_conv1d"])
def test_super_separable_random(op, seed):
    """Grouped pointwise step (groups g: C*M and O divisible by g) against the reference."""
    if not hasattr(sepcpp, op):
        pytest.skip(f"sepcpp has no {op}")
    rng = np.random.default_rng([600 + int(op.endswith("1d")), seed])
    args = random_case(op.replace("super_", ""), rng)
    groups = int(rng.integers(1, 5))
    dw = np.asarray(args["depthwise_filter"])
    pw = np.asarray(args["pointwise_filter"])
    c, m = dw.shape[-2:]
    # Make C*M and O multiples of groups: widen the multiplier and the output channels.
    m2 = m * groups
    dw = rng.standard_normal(dw.shape[:-1] + (m2,)).astype(dw.dtype)
    o2 = groups * int(rng.integers(1, 4))
    pw = rng.standard_normal(pw.shape[:-2] + (c * m2 // groups, o2)).astype(pw.dtype)
    args.update(depthwise_filter=dw, pointwise_filter=pw, groups=groups)
    dtype = dw.dtype
    if "depthwise_bias" in args:
        args["depthwise_bias"] = rng.standard_normal(c * m2).astype(dtype)
    if "bias" in args:
        args["bias"] = rng.standard_normal(o2).astype(dtype)
    call_args = with_layouts(args, rng)
    expected = getattr(ref, op)(**args)
    result = getattr(sepcpp, op)(**call_args)
    assert_close(result, expected, dtype, max(int(np.prod(dw.shape[:-2])), c * m2 // groups),
                 what=f"{op} {describe(args)}")
