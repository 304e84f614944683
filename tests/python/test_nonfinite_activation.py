"""NaN and +/-Inf through every fused bias and activation, on every ISA level, against TensorFlow.

TensorFlow keeps NaN through relu and relu6 (relu(NaN) = relu6(NaN) = NaN), maps +Inf to +Inf /
6 and -Inf to 0. A SIMD clamp written max(acc, 0) instead of max(0, acc) turns NaN into 0 (MAXPS
returns its second operand when either is NaN), which every finite test lets through. Here
non-finite values sit in the input, the filters and the biases, and reach the activation after
the depthwise step of a separable convolution (depthwise_activation) and after its last step
(activation), and the output of every other op: the NaN / +Inf / -Inf positions must be TensorFlow's
exactly and the finite values within the usual tolerance.

Non-finite filter values are used with VALID padding only: with zero padding TensorFlow skips the
padded taps while 0 * Inf = NaN in a kernel that multiplies them (a separate question from the
activation's). Non-finite inputs and biases are used with SAME padding too.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from tf_support import import_tensorflow
from tf_support import silenced as _silenced

tf, _ = import_tensorflow()

import sepcpp  # noqa: E402

pytestmark = pytest.mark.uses("tensorflow")

ACTS = [None, "relu", "relu6"]
DTYPES = {"f32": np.float32, "f64": np.float64}
N, H, W, C, M, O = 2, 7, 9, 19, 2, 21  # channel counts off every SIMD width: tails included
SPECIAL = (np.nan, np.inf, -np.inf)


def _tf(fn):
    with _silenced(), tf.device("/CPU:0"):
        return np.asarray(fn())


def _act_tf(y, act):
    return y if act is None else {"relu": tf.nn.relu, "relu6": tf.nn.relu6}[act](y)


def _poison(a, rng, count, values):
    """Writes `values` (in turn) at `count` random positions of a copy of `a`."""
    a = a.copy()
    flat = a.reshape(-1)
    for i, pos in enumerate(rng.choice(flat.size, size=count, replace=False)):
        flat[pos] = values[i % len(values)]
    return a


def _poison_channels(a, rng, values):
    """One of `values` in each of the first len(values) output channels (last axis) of a filter."""
    a = a.copy()
    lead = a.shape[:-1]
    for i, v in enumerate(values):
        idx = tuple(int(rng.integers(0, s)) for s in lead) + (i * 5 % a.shape[-1],)
        a[idx] = v
    return a


# op -> [(where the non-finite values go, padding)]. NaN, +Inf and -Inf go in together, except in
# the depthwise step of a separable op, whose every channel reaches every output: there one kind
# at a time, so that +Inf / -Inf through relu, relu6 or no depthwise activation show too.
SOURCES = {
    "depthwise_conv2d": [("input", "SAME"), ("filter", "VALID"), ("bias", "SAME")],
    "pointwise_conv2d": [("input", "VALID"), ("filter", "VALID"), ("bias", "VALID")],
    "conv2d": [("input", "SAME"), ("filter", "VALID"), ("bias", "SAME")],
    "separable_conv2d": [("input", "SAME"), ("depthwise_filter", "VALID"), ("pointwise_filter", "SAME"),
                         ("depthwise_bias", "SAME"), ("bias", "SAME")],
    "separable_conv1d": [("input", "CAUSAL"), ("depthwise_bias", "SAME")],
}


def _cases():
    cases = []
    for op, sources in SOURCES.items():
        two_step = op.startswith("separable")
        for src, pad in sources:
            kinds = ["nan", "inf", "-inf"] if two_step and src.startswith("depthwise") else ["mixed"]
            for kind in kinds:
                for act in ACTS:
                    for dw_act in (ACTS if two_step else [None]):
                        cases.append((op, src, kind, pad, dw_act, act))
    return cases


CASES = _cases()


def _case_id(c):
    op, src, kind, pad, dw_act, act = c
    return f"{op}-{kind}_{src}-{pad}-dwact_{dw_act}-act_{act}"


@functools.lru_cache(maxsize=None)
def _arrays_and_tf(case, dtype_name):
    """(sepcpp call's arguments, TensorFlow's output), computed once per case for every ISA."""
    op, src, kind, pad, dw_act, act = case
    values = SPECIAL if kind == "mixed" else (float(kind),)
    dt = DTYPES[dtype_name]
    rng = np.random.default_rng([CASES.index(case), len(dtype_name)])
    one_d = op.endswith("1d")
    spatial = (W,) if one_d else (H, W)
    k = (3,) if one_d else (3, 3)

    def a(*shape):
        return rng.standard_normal(shape).astype(dt)

    x = a(N, *spatial, C)
    args = {"input": x}
    if op == "depthwise_conv2d":
        args.update(filter=a(*k, C, M), bias=a(C * M))
    elif op == "pointwise_conv2d":
        args.update(filter=a(1, 1, C, O), bias=a(O))
    elif op == "conv2d":
        args.update(filters=a(*k, C, O), bias=a(O))
    else:
        args.update(depthwise_filter=a(*k, C, M), pointwise_filter=a(*(1,) * len(k), C * M, O),
                    depthwise_bias=a(C * M), bias=a(O))
    key = "filters" if src == "filter" and op == "conv2d" else src
    if key == "input":
        args[key] = _poison(args[key], rng, 5, values)
    elif key.endswith("bias"):
        args[key] = _poison(args[key], rng, 3, values)
    else:
        args[key] = _poison_channels(args[key], rng, values)
    kw = {"activation": act}
    if op.startswith("separable"):
        kw["depthwise_activation"] = dw_act
    if op != "pointwise_conv2d":
        kw["padding"] = pad
        kw["stride" if one_d else "strides"] = 1

    xin = args["input"]
    if op == "depthwise_conv2d":
        def f():
            y = tf.nn.depthwise_conv2d(xin, args["filter"], [1, 1, 1, 1], pad)
            return _act_tf(tf.nn.bias_add(y, args["bias"]), act)
    elif op == "pointwise_conv2d":
        def f():
            return _act_tf(tf.nn.bias_add(tf.nn.conv2d(xin, args["filter"], 1, "VALID"), args["bias"]), act)
    elif op == "conv2d":
        def f():
            return _act_tf(tf.nn.bias_add(tf.nn.conv2d(xin, args["filters"], 1, pad), args["bias"]), act)
    else:
        if one_d:  # [N, 1, W, C]; CAUSAL is a left pad of k-1, then VALID
            x4 = np.pad(xin, ((0, 0), (2, 0), (0, 0)))[:, None] if pad == "CAUSAL" else xin[:, None]
            pad4 = "VALID" if pad == "CAUSAL" else pad
            dw4, pw4 = args["depthwise_filter"][None], args["pointwise_filter"][None]
        else:
            x4, pad4, dw4, pw4 = xin, pad, args["depthwise_filter"], args["pointwise_filter"]

        def f():
            y = tf.nn.depthwise_conv2d(x4, dw4, [1, 1, 1, 1], pad4)
            y = _act_tf(tf.nn.bias_add(y, args["depthwise_bias"]), dw_act)
            y = _act_tf(tf.nn.bias_add(tf.nn.conv2d(y, pw4, 1, "VALID"), args["bias"]), act)
            return y[:, 0] if one_d else y
    return args, kw, _tf(f)


def assert_same_nonfinite(got, want, dtype, what):
    """NaN, +Inf and -Inf exactly where TensorFlow has them; finite values within 1e-5 (float32)
    or 1e-12 (float64) of the finite outputs' scale."""
    assert got.shape == want.shape and got.dtype == want.dtype, (what, got.shape, want.shape, got.dtype)
    for name, test in (("NaN", np.isnan), ("+Inf", np.isposinf), ("-Inf", np.isneginf)):
        g, w = test(got), test(want)
        if not np.array_equal(g, w):
            idx = tuple(int(i) for i in np.argwhere(g != w)[0])
            raise AssertionError(
                f"{what}: {name} at {int(g.sum())} outputs, TensorFlow at {int(w.sum())}; "
                f"{int((g != w).sum())} differ, first at {idx}: sepcpp {got[idx]!r}, "
                f"TensorFlow {want[idx]!r}")
    fin = np.isfinite(want)
    # All non-finite: a NaN intermediate channel reaches every pointwise output. All finite: relu6
    # clamped every +Inf to 6 (or relu every -Inf to 0) between the steps.
    if not fin.any():
        return
    scale = max(float(np.max(np.abs(want[fin]))), 1.0)
    err = float(np.max(np.abs(got[fin].astype(np.float64) - want[fin])))
    rel = 1e-5 if dtype == np.float32 else 1e-12
    assert err <= rel * scale, f"{what}: finite outputs differ by {err:.3g} > {rel:g} * {scale:.3g}"


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_nonfinite_through_bias_and_activation(case, dtype_name, isa):
    args, kw, want = _arrays_and_tf(case, dtype_name)
    before = {k: v.copy() for k, v in args.items()}
    got = getattr(sepcpp, case[0])(**args, **kw)
    assert_same_nonfinite(got, want, DTYPES[dtype_name], f"{_case_id(case)} {dtype_name} isa={isa}")
    for k, v in args.items():  # inputs are never modified, NaN included
        assert np.array_equal(v, before[k], equal_nan=True), f"{k} modified"


@pytest.mark.parametrize("act", ACTS)
def test_nan_reaching_the_activation_in_every_lane(act, isa):
    """Every pre-activation value NaN (a NaN bias on each channel), over every lane and tail of the
    vector: relu and relu6 must keep all of them, on the depthwise, pointwise and GEMM epilogues."""
    rng = np.random.default_rng(3)
    for c in (1, 7, 8, 15, 16, 17, 33, 64, 65):
        x = rng.standard_normal((1, 3, 5, c)).astype(np.float32)
        nan_c = np.full(c, np.nan, np.float32)
        ys = {
            "depthwise": sepcpp.depthwise_conv2d(x, rng.standard_normal((3, 3, c, 1)).astype(np.float32), 1,
                                                 "SAME", bias=nan_c, activation=act),
            "pointwise": sepcpp.pointwise_conv2d(x, rng.standard_normal((1, 1, c, c)).astype(np.float32),
                                                 bias=nan_c, activation=act),
            "conv2d": sepcpp.conv2d(x, rng.standard_normal((3, 3, c, c)).astype(np.float32), 1, "SAME",
                                    bias=nan_c, activation=act),
            "separable (depthwise step)": sepcpp.separable_conv2d(
                x, rng.standard_normal((3, 3, c, 1)).astype(np.float32),
                rng.standard_normal((1, 1, c, c)).astype(np.float32), 1, "SAME", depthwise_bias=nan_c,
                depthwise_activation=act),
            "separable (pointwise step)": sepcpp.separable_conv2d(
                x, rng.standard_normal((3, 3, c, 1)).astype(np.float32),
                rng.standard_normal((1, 1, c, c)).astype(np.float32), 1, "SAME", bias=nan_c,
                depthwise_activation=act, activation=act),
        }
        want = _tf(lambda: _act_tf(tf.constant(np.full((1, 3, 5, c), np.nan, np.float32)), act))
        assert np.isnan(want).all()
        for name, y in ys.items():
            lost = ~np.isnan(y)
            assert not lost.any(), (f"{name} C={c} activation={act} isa={isa}: {int(lost.sum())} of {y.size} "
                                    f"outputs lost their NaN (e.g. {y[lost][:4]})")
