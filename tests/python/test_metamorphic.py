"""Metamorphic tests: relations between sepcpp's own results, no reference needed.

Each relation holds whatever the right answer is, so it catches bugs that a reference written
with the same misunderstanding would miss:

- separable == depthwise then pointwise (biases and activations of both steps included);
- NCHW == transposed NHWC (NCW == transposed NWC), for every op;
- a batch split in two and concatenated == the whole batch (bit for bit);
- conv2d with the filter w[kh,kw,c,o] = sum_m dw[kh,kw,c,m] * pw[c*M+m,o] == separable;
- 1-D ops == the 2-D ops on an H == 1 view (bit for bit), CAUSAL == explicit (k-1)*d left pad
  (and, since sepcpp's 1-D ops run its 2-D core, each 1-D result also against the 1-D reference);
- scaling the input (and biases) by a power of two scales a linear (or ReLU) op's output by
  exactly that power (bit for bit), and so does scaling a filter;
- super-separable with g groups == split + separable per group + concat (and == depthwise then
  a pointwise per group of the intermediate channels, when C itself is not divisible by g);
- a prepacked layer == the functional op (bit for bit).
"""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref

import sepcpp

DTYPES = [np.float32, np.float64]


def _close(got, want, dtype, reduction, what):
    ref.assert_close(got, np.asarray(want, dtype=np.float64), dtype, reduction, what)


def _bitwise(got, want, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if not np.array_equal(got.view(np.uint8), want.view(np.uint8)):
        diff = np.argwhere(got != want)
        idx = tuple(diff[0]) if len(diff) else None
        raise AssertionError(f"{what}: not bitwise equal ({len(diff)} elements differ; first at {idx}: "
                             f"{got[idx] if idx else ''} vs {want[idx] if idx else ''})")


# Geometries: (H, W, kh, kw, strides, dilations, padding as NHWC TF spelling)
GEOMETRIES = [
    (9, 11, 3, 3, (1, 1), (1, 1), "SAME"),
    (13, 7, 5, 3, (2, 1), (1, 2), "VALID"),
    (8, 8, 3, 3, (2, 2), (2, 2), "SAME"),  # stride with dilation
    (7, 12, 2, 4, (3, 2), (1, 3), [[0, 0], [2, 0], [1, 3], [0, 0]]),
    (1, 17, 1, 7, (1, 2), (1, 1), [[0, 0], [0, 0], [6, 0], [0, 0]]),
    (6, 5, 7, 1, (1, 1), (1, 1), "SAME"),
    (5, 5, 1, 1, (1, 1), (1, 1), "VALID"),
    (11, 10, 4, 4, (4, 3), (2, 1), [[0, 0], [3, 1], [0, 2], [0, 0]]),
]
# (C, M, O): channels around SIMD widths
CHANNELS = [(1, 1, 1), (3, 2, 5), (8, 1, 16), (9, 3, 7), (16, 4, 17), (17, 1, 33), (33, 2, 8), (65, 1, 9)]


def _nchw_padding(p):
    if isinstance(p, str):
        return p
    return [p[0], p[3], p[1], p[2]]


def _geometry_case(i, dtype, rng, *, n=2, big_c=True):
    h, w, kh, kw, s, d, p = GEOMETRIES[i % len(GEOMETRIES)]
    c, m, o = CHANNELS[(i * 3) % len(CHANNELS)] if big_c else CHANNELS[i % 4]

    def a(*shape):
        return rng.standard_normal(shape).astype(dtype)

    return dict(x=a(n, h, w, c), dw=a(kh, kw, c, m), pw=a(1, 1, c * m, o), cw=a(kh, kw, c, o),
                dwb=a(c * m), b=a(o), s=s, d=d, p=p, c=c, m=m, o=o, taps=kh * kw)


CASES = [(i, dt) for i in range(len(GEOMETRIES) * 2) for dt in DTYPES]


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("i,dtype", CASES)
def test_separable_is_depthwise_then_pointwise(i, dtype, rng):
    k = _geometry_case(i, dtype, rng)
    acts = [None, "relu", "relu6"]
    dw_act, act = acts[i % 3], acts[(i // 3) % 3]
    with_bias = i % 2 == 0
    sep = sepcpp.separable_conv2d(k["x"], k["dw"], k["pw"], k["s"], k["p"], dilations=k["d"],
                                  depthwise_bias=k["dwb"] if with_bias else None, depthwise_activation=dw_act,
                                  bias=k["b"] if with_bias else None, activation=act)
    mid = sepcpp.depthwise_conv2d(k["x"], k["dw"], k["s"], k["p"], dilations=k["d"],
                                  bias=k["dwb"] if with_bias else None, activation=dw_act)
    two = sepcpp.pointwise_conv2d(mid, k["pw"], bias=k["b"] if with_bias else None, activation=act)
    _close(sep, two, dtype, k["taps"] + k["c"] * k["m"], "separable vs depthwise+pointwise")


# --------------------------------------------------------------------------------------------
def _call_2d(op, k, layout, x=None):
    x = k["x"] if x is None else x
    p = k["p"] if layout == "NHWC" else _nchw_padding(k["p"])
    if op == "depthwise_conv2d":
        return sepcpp.depthwise_conv2d(x, k["dw"], k["s"], p, layout, k["d"], bias=k["dwb"], activation="relu6")
    if op == "pointwise_conv2d":
        return sepcpp.pointwise_conv2d(x, k["pw"][:, :, :k["c"], :], layout, bias=k["b"], activation="relu")
    if op == "separable_conv2d":
        return sepcpp.separable_conv2d(x, k["dw"], k["pw"], k["s"], p, layout, k["d"], depthwise_bias=k["dwb"],
                                       depthwise_activation="relu", bias=k["b"])
    if op == "conv2d":
        return sepcpp.conv2d(x, k["cw"], k["s"], p, layout, k["d"], bias=k["b"], activation="relu")
    raise AssertionError(op)


OPS_2D = ["depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "conv2d"]


@pytest.mark.parametrize("op", OPS_2D)
@pytest.mark.parametrize("i", range(len(GEOMETRIES)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_nchw_is_transposed_nhwc(op, i, dtype, rng):
    k = _geometry_case(i, dtype, rng)
    if op == "pointwise_conv2d":
        k["pw"] = k["pw"][:, :, :k["c"], :].copy()
    nhwc = _call_2d(op, k, "NHWC")
    x_nchw = np.ascontiguousarray(k["x"].transpose(0, 3, 1, 2))
    nchw = _call_2d(op, k, "NCHW", x_nchw)
    red = {"depthwise_conv2d": k["taps"], "pointwise_conv2d": k["c"],
           "separable_conv2d": k["taps"] + k["c"] * k["m"], "conv2d": k["taps"] * k["c"]}[op]
    _close(nchw.transpose(0, 2, 3, 1), nhwc, dtype, red, f"{op} NCHW vs NHWC")


@pytest.mark.parametrize("op", ["depthwise_conv1d", "separable_conv1d", "conv1d"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_ncw_is_transposed_nwc(op, dtype, rng):
    for j, (w, k, s, d, pad) in enumerate([(37, 5, 2, 3, "CAUSAL"), (16, 3, 1, 1, "SAME"), (9, 9, 1, 1, "VALID"),
                                           (40, 7, 3, 2, [[0, 0], [5, 1], [0, 0]])]):
        c, m, o = CHANNELS[j + 2]
        x = rng.standard_normal((2, w, c)).astype(dtype)
        args = {"depthwise_conv1d": (rng.standard_normal((k, c, m)).astype(dtype),),
                "separable_conv1d": (rng.standard_normal((k, c, m)).astype(dtype),
                                     rng.standard_normal((1, c * m, o)).astype(dtype)),
                "conv1d": (rng.standard_normal((k, c, o)).astype(dtype),)}[op]
        fn = getattr(sepcpp, op)
        pad_ncw = pad if isinstance(pad, str) else [pad[0], pad[2], pad[1]]
        nwc = fn(x, *args, s, pad, "NWC", d)
        ncw = fn(np.ascontiguousarray(x.transpose(0, 2, 1)), *args, s, pad_ncw, "NCW", d)
        _close(ncw.transpose(0, 2, 1), nwc, dtype, k * c * m, f"{op} NCW vs NWC case {j}")


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", OPS_2D)
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_split_concat_is_whole_batch(op, layout, dtype, rng):
    for i in range(0, len(GEOMETRIES), 2):
        k = _geometry_case(i, dtype, rng, n=5)
        if op == "pointwise_conv2d":
            k["pw"] = k["pw"][:, :, :k["c"], :].copy()
        x = k["x"] if layout == "NHWC" else np.ascontiguousarray(k["x"].transpose(0, 3, 1, 2))
        whole = _call_2d(op, k, layout, x)
        for cut in (1, 2, 4):
            parts = np.concatenate([_call_2d(op, k, layout, x[:cut]), _call_2d(op, k, layout, x[cut:])])
            _bitwise(parts, whole, f"{op} {layout} geometry {i}: batch split at {cut}")


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("i,dtype", CASES)
def test_conv2d_with_product_filter_is_separable(i, dtype, rng):
    k = _geometry_case(i, dtype, rng)
    c, m, o = k["c"], k["m"], k["o"]
    dw = k["dw"].astype(np.float64)
    pw = k["pw"].astype(np.float64).reshape(c, m, o)
    w = np.einsum("hwcm,cmo->hwco", dw, pw).astype(dtype)  # w[kh,kw,c,o] = sum_m dw*pw[c*M+m, o]
    sep = sepcpp.separable_conv2d(k["x"], k["dw"], k["pw"], k["s"], k["p"], dilations=k["d"], bias=k["b"])
    conv = sepcpp.conv2d(k["x"], w, k["s"], k["p"], dilations=k["d"], bias=k["b"])
    # float32: w itself is rounded, so both sides are a float32 rounding of the same sum.
    _close(conv, sep, dtype, k["taps"] * c * m, "conv2d(product filter) vs separable")


# --------------------------------------------------------------------------------------------
ONE_D = [  # (W, k, stride, dilation, padding 1-D, padding as a 2-D explicit/str)
    (23, 3, 1, 1, "SAME", "SAME"),
    (23, 5, 2, 3, "VALID", "VALID"),
    (31, 7, 3, 2, "CAUSAL", [[0, 0], [0, 0], [12, 0], [0, 0]]),
    (17, 31, 1, 1, "CAUSAL", [[0, 0], [0, 0], [30, 0], [0, 0]]),
    (40, 15, 4, 2, [[0, 0], [3, 8], [0, 0]], [[0, 0], [0, 0], [3, 8], [0, 0]]),
    (9, 1, 2, 1, "SAME", "SAME"),
]


@pytest.mark.parametrize("j", range(len(ONE_D)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_1d_is_2d_with_unit_height(j, dtype, rng):
    w, kk, s, d, p1, p2 = ONE_D[j]
    c, m, o = CHANNELS[j + 1]

    def a(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, dw, pw, cw, dwb, b = a(3, w, c), a(kk, c, m), a(1, c * m, o), a(kk, c, o), a(c * m), a(o)
    x4 = x[:, None]
    pairs = [
        (sepcpp.depthwise_conv1d(x, dw, s, p1, dilations=d, bias=dwb, activation="relu"),
         sepcpp.depthwise_conv2d(x4, dw[None], (1, s), p2, dilations=(1, d), bias=dwb, activation="relu")),
        (sepcpp.separable_conv1d(x, dw, pw, s, p1, dilations=d, depthwise_bias=dwb, depthwise_activation="relu6",
                                 bias=b),
         sepcpp.separable_conv2d(x4, dw[None], pw[None], (1, s), p2, dilations=(1, d), depthwise_bias=dwb,
                                 depthwise_activation="relu6", bias=b)),
        (sepcpp.conv1d(x, cw, s, p1, dilations=d, bias=b, activation="relu6"),
         sepcpp.conv2d(x4, cw[None], (1, s), p2, dilations=(1, d), bias=b, activation="relu6")),
    ]
    # sepcpp's 1-D ops are its 2-D core on an H == 1 view, so the bitwise relation alone compares a
    # core call with itself: each 1-D result also meets the reference's own 1-D definition.
    refs = [
        (ref.depthwise_conv1d(x, dw, s, p1, dilations=d, bias=dwb, activation="relu"), kk),
        (ref.separable_conv1d(x, dw, pw, s, p1, dilations=d, depthwise_bias=dwb, depthwise_activation="relu6",
                              bias=b), kk + c * m),
        (ref.conv1d(x, cw, s, p1, dilations=d, bias=b, activation="relu6"), kk * c),
    ]
    for name, (one, two), (want, red) in zip(["depthwise", "separable", "conv"], pairs, refs):
        _bitwise(one, two[:, 0], f"{name}_conv1d vs {name}_conv2d with H == 1 (case {j})")
        _close(one, want, dtype, red, f"{name}_conv1d vs the 1-D reference (case {j})")
    if c * m % 2 == 0 and o % 2 == 0:
        pw2 = a(1, c * m // 2, o)
        one = sepcpp.super_separable_conv1d(x, dw, pw2, 2, s, p1, dilations=d)
        _bitwise(one, sepcpp.super_separable_conv2d(x4, dw[None], pw2[None], 2, (1, s), p2, dilations=(1, d))[:, 0],
                 f"super_separable_conv1d vs 2d with H == 1 (case {j})")
        _close(one, ref.super_separable_conv1d(x, dw, pw2, 2, s, p1, dilations=d), dtype, kk + c * m // 2,
               f"super_separable_conv1d vs the 1-D reference (case {j})")


# --------------------------------------------------------------------------------------------
SCALES = [2.0, 0.5, 4.0, 2.0**-3]


@pytest.mark.parametrize("op", OPS_2D + ["depthwise_conv1d", "separable_conv1d", "conv1d"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_power_of_two_scaling_is_exact(op, dtype, rng):
    """f(a*x) == a*f(x) bit for bit for a power of two a: every product and every partial sum is
    scaled exactly, whatever the order of summation or FMA. Biases are scaled with the input;
    ReLU commutes with a positive scale (ReLU6 does not)."""
    for i in range(4):
        k = _geometry_case(i, dtype, rng)
        act = [None, "relu"][i % 2]
        for a in SCALES:
            sc = dtype(a)
            if op.endswith("1d"):
                x = k["x"][:, 0]  # (N, W, C)
                s, d, p = k["s"][1], k["d"][1], "CAUSAL" if i % 2 else "SAME"
                if op == "depthwise_conv1d":
                    def f(x, sc, k=k, s=s, d=d, p=p):
                        return sepcpp.depthwise_conv1d(x, k["dw"][0], s, p, dilations=d, bias=k["dwb"] * sc,
                                                       activation=act)
                elif op == "separable_conv1d":
                    def f(x, sc, k=k, s=s, d=d, p=p):
                        return sepcpp.separable_conv1d(x, k["dw"][0], k["pw"][0], s, p, dilations=d,
                                                       depthwise_bias=k["dwb"] * sc, depthwise_activation=act,
                                                       bias=k["b"] * sc, activation=act)
                else:
                    def f(x, sc, k=k, s=s, d=d, p=p):
                        return sepcpp.conv1d(x, k["cw"][0], s, p, dilations=d, bias=k["b"] * sc, activation=act)
            else:
                x = k["x"]
                pw_c = k["pw"][:, :, :k["c"], :]
                f = {
                    "depthwise_conv2d": lambda x, sc: sepcpp.depthwise_conv2d(
                        x, k["dw"], k["s"], k["p"], dilations=k["d"], bias=k["dwb"] * sc, activation=act),
                    "pointwise_conv2d": lambda x, sc: sepcpp.pointwise_conv2d(
                        x, pw_c, bias=k["b"] * sc, activation=act),
                    "separable_conv2d": lambda x, sc: sepcpp.separable_conv2d(
                        x, k["dw"], k["pw"], k["s"], k["p"], dilations=k["d"], depthwise_bias=k["dwb"] * sc,
                        depthwise_activation=act, bias=k["b"] * sc, activation=act),
                    "conv2d": lambda x, sc: sepcpp.conv2d(
                        x, k["cw"], k["s"], k["p"], dilations=k["d"], bias=k["b"] * sc, activation=act),
                }[op]
            base = f(x, dtype(1))
            scaled = f(x * sc, sc)
            _bitwise(scaled, base * sc, f"{op} {dtype.__name__}: f({a}*x) vs {a}*f(x), case {i}, act {act}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_power_of_two_filter_scaling_is_exact(dtype, rng):
    for i in range(len(GEOMETRIES)):
        k = _geometry_case(i, dtype, rng)
        two = dtype(2)
        _bitwise(sepcpp.depthwise_conv2d(k["x"], k["dw"] * two, k["s"], k["p"], dilations=k["d"]),
                 sepcpp.depthwise_conv2d(k["x"], k["dw"], k["s"], k["p"], dilations=k["d"]) * two,
                 f"depthwise filter*2, case {i}")
        _bitwise(sepcpp.conv2d(k["x"], k["cw"] * two, k["s"], k["p"], dilations=k["d"]),
                 sepcpp.conv2d(k["x"], k["cw"], k["s"], k["p"], dilations=k["d"]) * two,
                 f"conv2d filter*2, case {i}")
        _bitwise(sepcpp.separable_conv2d(k["x"], k["dw"] * two, k["pw"] * two, k["s"], k["p"], dilations=k["d"]),
                 sepcpp.separable_conv2d(k["x"], k["dw"], k["pw"], k["s"], k["p"], dilations=k["d"]) * 4,
                 f"separable filters*2 -> output*4, case {i}")


# --------------------------------------------------------------------------------------------
SUPER = [  # (C, M, O, groups, geometry index)
    (6, 1, 6, 2, 0), (6, 1, 9, 3, 1), (12, 2, 8, 4, 2), (9, 1, 6, 3, 3), (16, 1, 32, 2, 4),
    (33, 1, 66, 3, 5), (64, 1, 16, 8, 6), (10, 3, 20, 5, 7), (65, 1, 10, 5, 0), (34, 2, 4, 2, 2),
]


@pytest.mark.parametrize("j", range(len(SUPER)))
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_super_separable_is_split_separable_concat(j, layout, dtype, rng):
    c, m, o, g, gi = SUPER[j]
    h, w, kh, kw, s, d, p = GEOMETRIES[gi]

    def a(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x, dw, pw, dwb, b = a(2, h, w, c), a(kh, kw, c, m), a(1, 1, c * m // g, o), a(c * m), a(o)
    ch = -1
    if layout == "NCHW":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        p = _nchw_padding(p)
        ch = 1
    kw_args = dict(data_format=layout, dilations=d, depthwise_activation="relu", activation="relu6")
    whole = sepcpp.super_separable_conv2d(x, dw, pw, g, s, p, depthwise_bias=dwb, bias=b, **kw_args)
    cg, cmg, og = c // g, c * m // g, o // g
    red = kh * kw + cmg
    if c % g == 0:  # split the input channels: group i is a plain separable conv
        parts = [sepcpp.separable_conv2d(np.take(x, range(i * cg, (i + 1) * cg), axis=ch),
                                         dw[:, :, i * cg:(i + 1) * cg], pw[..., i * og:(i + 1) * og], s, p,
                                         depthwise_bias=dwb[i * cmg:(i + 1) * cmg], bias=b[i * og:(i + 1) * og],
                                         **kw_args)
                 for i in range(g)]
        _close(whole, np.concatenate(parts, axis=ch), dtype, red, f"super_separable g={g} vs split separable")
    # Always: depthwise over all channels, then one pointwise per group of intermediate channels.
    mid = sepcpp.depthwise_conv2d(x, dw, s, p, layout, d, bias=dwb, activation="relu")
    parts = [sepcpp.pointwise_conv2d(np.take(mid, range(i * cmg, (i + 1) * cmg), axis=ch),
                                     pw[..., i * og:(i + 1) * og], layout, bias=b[i * og:(i + 1) * og],
                                     activation="relu6")
             for i in range(g)]
    _close(whole, np.concatenate(parts, axis=ch), dtype, red, f"super_separable g={g} vs depthwise + grouped pointwise")


# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("i", range(len(GEOMETRIES)))
@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_is_functional_op(i, dtype, rng):
    k = _geometry_case(i, dtype, rng)
    pw_c = k["pw"][:, :, :k["c"], :].copy()
    pairs = [
        (sepcpp.DepthwiseConv2D(k["dw"], k["s"], k["p"], dilations=k["d"], bias=k["dwb"], activation="relu")(k["x"]),
         sepcpp.depthwise_conv2d(k["x"], k["dw"], k["s"], k["p"], dilations=k["d"], bias=k["dwb"], activation="relu")),
        (sepcpp.PointwiseConv2D(pw_c, bias=k["b"])(k["x"]), sepcpp.pointwise_conv2d(k["x"], pw_c, bias=k["b"])),
        (sepcpp.SeparableConv2D(k["dw"], k["pw"], k["s"], k["p"], dilations=k["d"], depthwise_bias=k["dwb"],
                                depthwise_activation="relu6", bias=k["b"])(k["x"]),
         sepcpp.separable_conv2d(k["x"], k["dw"], k["pw"], k["s"], k["p"], dilations=k["d"], depthwise_bias=k["dwb"],
                                 depthwise_activation="relu6", bias=k["b"])),
        (sepcpp.Conv2D(k["cw"], k["s"], k["p"], dilations=k["d"], activation="relu6")(k["x"]),
         sepcpp.conv2d(k["x"], k["cw"], k["s"], k["p"], dilations=k["d"], activation="relu6")),
    ]
    for name, (lay, fun) in zip(["depthwise", "pointwise", "separable", "conv2d"], pairs):
        _bitwise(lay, fun, f"{name} layer vs functional, geometry {i}")
