"""The backprop ops against TensorFlow's GradientTape on the forward ops, and against the float64
NumPy reference (reference_backprop.py) for every geometry, including those TensorFlow refuses
(stride > 1 with dilation > 1, unequal strides, explicit padding in 1-D); on every ISA; bitwise the
same for 1, 2 and 3 threads; bad input refused with the argument named.

TensorFlow's raw backprop kernels are never called: some fail on cases sepcpp accepts (a strided
1x1 Conv2DBackpropFilter corrupts its heap, a dilated depthwise backprop aborts). The tape on the
forward ops gives TensorFlow's gradients without them.
"""

from __future__ import annotations

import numpy as np
import pytest
import reference_backprop as rb
import sepcpp
from reference import assert_close
from tf_support import import_tensorflow, silenced

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _nchw(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


def _pad4(pairs, layout):
    """Explicit spatial pairs [(t, b), (l, r)] as TensorFlow's 4-list for `layout`."""
    if isinstance(pairs, str):
        return pairs
    z = [0, 0]
    return [z, list(pairs[0]), list(pairs[1]), z] if layout == "NHWC" else [z, z, list(pairs[0]), list(pairs[1])]


# (H, W, kh, kw, strides, dilations, padding): odd sizes; every padding mode; stride with dilation
# (TensorFlow refuses it); unequal strides; a strided 1x1 kernel; a kernel wider than the input.
GEOMETRIES = [
    (7, 6, 3, 3, 1, 1, "SAME"),
    (9, 8, 3, 2, 2, 1, "VALID"),
    (8, 9, 3, 3, (2, 3), (2, 1), "SAME"),
    (7, 7, 2, 3, 1, 2, [(1, 0), (2, 3)]),
    (5, 11, 1, 1, 2, 1, "SAME"),
    (6, 5, 5, 5, 3, 2, "SAME"),
    (4, 5, 3, 3, (1, 2), (3, 1), [(2, 4), (0, 1)]),
]
GEOM_IDS = [f"g{i}" for i in range(len(GEOMETRIES))]


def _shapes(geom, layout, c, cout, n=2):
    h, w, kh, kw, s, d, pad = geom
    x_cl = (n, h, w, c)
    pad_arg = _pad4(pad, layout)
    s2 = (s, s) if np.ndim(s) == 0 else tuple(s)
    d2 = (d, d) if np.ndim(d) == 0 else tuple(d)
    p2 = [pad, pad] if isinstance(pad, str) else [tuple(pad[0]), tuple(pad[1])]
    geo = rb._geometry(x_cl, (kh, kw), s2, d2, p2)
    dy_cl = (n, geo[0][2], geo[1][2], cout)
    conv = (lambda t: t) if layout == "NHWC" else (lambda t: (t[0], t[3], t[1], t[2]))
    return conv(x_cl), conv(dy_cl), s, d, pad_arg, (kh, kw)


def _in_layout(a_cl, layout):
    return a_cl if layout == "NHWC" else _nchw(a_cl)


# ---------------------------------------------------------------------------------------------
# Against the NumPy reference, on every ISA
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("geom", GEOMETRIES, ids=GEOM_IDS)
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["depthwise", "conv"])
def test_input_and_filter_gradients_match_reference(rng, op, geom, layout, dtype, isa):
    c, m, o = 3, 2, 5
    cout = c * m if op == "depthwise" else o
    xs, dys, s, d, pad, (kh, kw) = _shapes(geom, layout, c, cout)
    x = _rand(rng, xs, dtype)
    dy = _rand(rng, dys, dtype)
    fshape = (kh, kw, c, m if op == "depthwise" else o)
    f = _rand(rng, fshape, dtype)
    x0, dy0, f0 = x.copy(), dy.copy(), f.copy()
    if op == "depthwise":
        want_dx = rb.depthwise_input(xs, f, dy, s, pad, layout, d)
        want_df = rb.depthwise_filter(x, fshape, dy, s, pad, layout, d)
        fn_in, fn_f = sepcpp.depthwise_conv2d_backprop_input, sepcpp.depthwise_conv2d_backprop_filter
    else:
        want_dx = rb.conv_input(xs, f, dy, s, pad, layout, d)
        want_df = rb.conv_filter(x, fshape, dy, s, pad, layout, d)
        fn_in, fn_f = sepcpp.conv2d_backprop_input, sepcpp.conv2d_backprop_filter
    dx = fn_in(np.array(xs), f, dy, s, pad, layout, d)
    df = fn_f(x, list(fshape), dy, s, pad, layout, d)
    assert_close(dx, want_dx, dtype, reduction=kh * kw * cout, what=f"{op} input gradient, {isa}")
    assert_close(df, want_df, dtype, reduction=1000, what=f"{op} filter gradient, {isa}")
    # The operands are not written.
    assert np.array_equal(x, x0) and np.array_equal(dy, dy0) and np.array_equal(f, f0)


SEPARABLE_CASES = [
    # (geometry index, M, groups, O, depthwise bias, depthwise activation, bias, activation)
    (0, 1, 1, 4, False, None, False, None),
    (1, 2, 1, 5, True, "relu", True, "relu6"),
    (2, 2, 2, 4, True, "relu6", True, "relu"),
    (3, 1, 3, 6, False, "relu", True, None),
    (5, 2, 1, 3, True, None, False, "relu"),
    (6, 3, 3, 3, True, "relu6", True, "relu6"),
]


@pytest.mark.parametrize("case", SEPARABLE_CASES, ids=[f"s{i}" for i in range(len(SEPARABLE_CASES))])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_separable_gradients_match_reference(rng, case, layout, dtype, isa):
    gi, m, groups, o, has_bd, dw_act, has_b, act = case
    c = 3
    xs, dys, s, d, pad, (kh, kw) = _shapes(GEOMETRIES[gi], layout, c, o)
    x = _rand(rng, xs, dtype, 2.0)
    dy = _rand(rng, dys, dtype)
    fd = _rand(rng, (kh, kw, c, m), dtype)
    fp = _rand(rng, (1, 1, c * m // groups, o), dtype)
    bd = _rand(rng, (c * m,), dtype) if has_bd else None
    b = _rand(rng, (o,), dtype, 3.0) if has_b else None
    kwargs = {"depthwise_bias": bd, "depthwise_activation": dw_act, "bias": b, "activation": act}
    want = rb.separable(x, fd, fp, groups, dy, s, pad, layout, d, **kwargs)
    if groups == 1:
        got = sepcpp.separable_conv2d_backprop(x, fd, fp, dy, s, pad, layout, d, **kwargs)
    else:
        got = sepcpp.super_separable_conv2d_backprop(x, fd, fp, groups, dy, s, pad, layout, d, **kwargs)
    assert isinstance(got, sepcpp.SeparableGradients)
    for name, g, w in zip(got._fields, got, want):
        if w is None:
            assert g is None, name
        else:
            assert_close(g, w, dtype, reduction=1000, what=f"separable {name} gradient, {isa}")


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_separable_gradients_across_unit_edges(rng, layout):
    # More than 1024 output pixels per image (and rows past 512 columns): the fused pass cuts the
    # image into bands with halos; strides, dilations and explicit padding straddle their edges.
    dtype = F64
    for (h, w, kh, kw, s, d, pad) in [(70, 33, 3, 3, 1, 1, "SAME"), (141, 50, 3, 2, 2, (2, 3), "SAME"),
                                      (3, 1100, 3, 4, (1, 3), (1, 2), [(2, 1), (3, 5)])]:
        c, m, o = 2, 2, 4
        xs, dys, s, d, pad_arg, _ = _shapes((h, w, kh, kw, s, d, pad), layout, c, o, n=1)
        x = _rand(rng, xs, dtype, 2.0)
        dy = _rand(rng, dys, dtype)
        fd = _rand(rng, (kh, kw, c, m), dtype)
        fp = _rand(rng, (1, 1, c * m // 2, o), dtype)
        kwargs = {"depthwise_bias": _rand(rng, (c * m,), dtype), "depthwise_activation": "relu",
                  "bias": _rand(rng, (o,), dtype), "activation": "relu6"}
        want = rb.separable(x, fd, fp, 2, dy, s, pad_arg, layout, d, **kwargs)
        got = sepcpp.super_separable_conv2d_backprop(x, fd, fp, 2, dy, s, pad_arg, layout, d, **kwargs)
        for name, g, wv in zip(got._fields, got, want):
            assert_close(g, wv, dtype, reduction=1000, what=f"{(h, w)} separable {name} gradient")


@pytest.mark.parametrize("groups,m,acts", [(1, 1, (None, None)), (2, 2, ("relu", "relu6"))])
def test_separable_wide_filter_few_pixels(rng, restore_threads, groups, m, acts, isa):
    # Few pixels against a wide pointwise filter: dA = dZ x PW^T is computed transposed, the filter
    # read in place. A filter whose columns are not contiguous takes the packed path instead: the
    # same bits. A 14x14 image at 512 channels is one unit too, with dA packed: both split the
    # unit's product between threads, with the same bits for 1, 2 and 3 threads.
    for shape, o in [((1, 3, 3, 48), 96), ((1, 14, 14, 512), 32)]:
        c = shape[-1]
        x = _rand(rng, shape, F32, 2.0)
        dy = _rand(rng, shape[:3] + (o,), F32)
        fd = _rand(rng, (3, 3, c, m), F32)
        fp = _rand(rng, (1, 1, c * m // groups, o), F32, 1 / np.sqrt(c))
        kwargs = {"depthwise_bias": _rand(rng, (c * m,), F32), "depthwise_activation": acts[0],
                  "bias": _rand(rng, (o,), F32), "activation": acts[1]}
        want = rb.separable(x, fd, fp, groups, dy, 1, "SAME", **kwargs)
        got = {}
        for t in (1, 2, 3):
            sepcpp.set_num_threads(t)
            got[t] = sepcpp.super_separable_conv2d_backprop(x, fd, fp, groups, dy, 1, "SAME", **kwargs)
        packed = sepcpp.super_separable_conv2d_backprop(x, fd, np.asfortranarray(fp), groups, dy, 1, "SAME",
                                                        **kwargs)
        for i, (name, g, w) in enumerate(zip(got[1]._fields, got[1], want)):
            assert_close(g, w, F32, reduction=1000, what=f"{shape} separable {name} gradient, {isa}")
            for other in (got[2][i], got[3][i], packed[i]):
                assert g.tobytes() == other.tobytes(), (shape, name)


@pytest.mark.parametrize("shape,o", [((2, 9, 10, 24), 200), ((1, 3, 3, 1024), 1024), ((1, 40, 30, 72), 8)])
def test_separable_transposed_pointwise_filter(rng, restore_threads, shape, o, isa):
    # A pointwise filter laid out [O, C*M] (a torch weight viewed as [1, 1, C*M, O]): PW^T is packed
    # from its rows as they are, and its gradient comes back in the same layout (written by the
    # blocked transpose from rows padded to an odd number of cache lines; C*M and O off the panel
    # width, 4 KiB rows, few pixels). The same bits as the dense filter's, for 1 and 2 threads.
    c = shape[-1]
    x = _rand(rng, shape, F32, 2.0)
    dy = _rand(rng, shape[:3] + (o,), F32)
    fd = _rand(rng, (3, 3, c, 1), F32)
    fp = _rand(rng, (1, 1, c, o), F32, 1 / np.sqrt(c))
    fp_t = np.ascontiguousarray(fp[0, 0].T)[None, None].transpose(0, 1, 3, 2)  # [1, 1, C, O], columns contiguous
    assert fp_t.strides[2] == 4 and np.array_equal(fp_t, fp)
    kwargs = {"bias": _rand(rng, (o,), F32), "depthwise_activation": "relu"}
    want = sepcpp.separable_conv2d_backprop(x, fd, fp, dy, 1, "SAME", **kwargs)
    for t in (1, 2):
        sepcpp.set_num_threads(t)
        got = sepcpp.separable_conv2d_backprop(x, fd, fp_t, dy, 1, "SAME", **kwargs)
        assert got.pointwise_filter.strides[2:] == fp_t.strides[2:], t
        for name, g, w in zip(got._fields, got, want):
            assert (g is None and w is None) or g.tobytes() == w.tobytes(), (shape, name, t)


def test_separable_pointwise_gradient_in_blocks(rng, restore_threads):
    # The pointwise filter gradient is one GEMM over the pixels, taken in blocks of units (1 to 8 MiB
    # of the depthwise output, or one unit per thread): 8 units of 16 x 64 pixels at 256 float64
    # channels (2 MiB each) make blocks of 1 unit for 1 thread, of 2 for 2 threads, of 6 and 2 for 6
    # threads; the same bits. Then rows longer than 512 columns (units of column blocks) without an output
    # activation: dZ gathered per block.
    for shape, o, dtype in [((1, 128, 64, 256), 8, F64), ((2, 3, 1100, 6), 5, F32)]:
        c = shape[-1]
        x = _rand(rng, shape, dtype, 2.0)
        dy = _rand(rng, shape[:3] + (o,), dtype)
        fd = _rand(rng, (3, 3, c, 1), dtype)
        fp = _rand(rng, (1, 1, c, o), dtype, 1 / np.sqrt(c))
        kwargs = {"depthwise_activation": "relu", "bias": _rand(rng, (o,), dtype)}
        want = rb.separable(x, fd, fp, 1, dy, 1, "SAME", **kwargs)
        results = {}
        for t in (1, 2, 6):
            sepcpp.set_num_threads(t)
            results[t] = sepcpp.separable_conv2d_backprop(x, fd, fp, dy, 1, "SAME", **kwargs)
        for name, g, w in zip(results[1]._fields, results[1], want):
            if w is None:
                assert g is None
                continue
            assert_close(g, w, dtype, reduction=1000, what=f"{shape} separable {name} gradient")
            for t in (2, 6):
                assert getattr(results[t], name).tobytes() == g.tobytes(), (shape, name, t)


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_separable_pointwise_gradient_reads_dz_in_place(rng, restore_threads, dtype, isa):
    # Outputs per group a multiple of 16 and at most two panels wide: dPW = A^T x dZ reads dZ where
    # it is (out_backprop's rows, or the block's gathered rows) instead of packing it, summing into
    # a gradient zeroed first. Cases: one output panel, two (rows of dZ 1 KiB apart, each group
    # reading its half), six (384 outputs: packed, beside them), groups with activations (dZ
    # gathered), rows longer than 512 columns (dZ gathered by column blocks), several blocks of
    # units (float64 at 256 channels); each against
    # the reference, the same bits for 1, 2 and 3 threads and for a second call (whose kept buffers
    # hold the first call's gradient).
    cases = [((1, 40, 36, 8), 1, 1, 64, (None, None)), ((2, 9, 10, 24), 2, 3, 48, ("relu", "relu6")),
             ((1, 20, 20, 32), 1, 2, 256, (None, None)), ((1, 12, 11, 16), 1, 1, 384, (None, "relu")),
             ((1, 3, 1100, 4), 1, 1, 16, (None, None)),
             ((1, 64, 64, 256), 1, 1, 32, ("relu", None))]
    for shape, m, groups, o, acts in cases:
        c = shape[-1]
        x = _rand(rng, shape, dtype, 2.0)
        dy = _rand(rng, shape[:3] + (o,), dtype)
        fd = _rand(rng, (3, 3, c, m), dtype)
        fp = _rand(rng, (1, 1, c * m // groups, o), dtype, 1 / np.sqrt(c))
        kwargs = {"depthwise_activation": acts[0], "bias": _rand(rng, (o,), dtype), "activation": acts[1]}
        want = rb.separable(x, fd, fp, groups, dy, 1, "SAME", **kwargs)
        got = {}
        for t in (1, 2, 3):
            sepcpp.set_num_threads(t)
            got[t] = sepcpp.super_separable_conv2d_backprop(x, fd, fp, groups, dy, 1, "SAME", **kwargs)
        again = sepcpp.super_separable_conv2d_backprop(x, fd, fp, groups, dy, 1, "SAME", **kwargs)
        for i, (name, g, w) in enumerate(zip(got[1]._fields, got[1], want)):
            if w is None:
                assert g is None, name
                continue
            assert_close(g, w, dtype, reduction=1000, what=f"{shape} o={o} separable {name} gradient, {isa}")
            for other in (got[2][i], got[3][i], again[i]):
                assert g.tobytes() == other.tobytes(), (shape, o, name)


@pytest.mark.parametrize("c", [17, 40])
def test_multiplier_1_kernels_match_reference(rng, c, isa):
    # Multiplier 1 runs the ISA's gather (input gradient) and reduce (filter gradient) kernels:
    # channel counts with tails after 2-vector and 1-vector blocks, runs of 4 pixels and their
    # remainders, residue classes of a stride with a dilation, padding past the kernel's reach.
    dtype = F32
    for geom in [(9, 13, 3, 3, 1, 1, "SAME"), (11, 17, 5, 3, (3, 2), (1, 2), [(2, 3), (4, 1)]),
                 (4, 5, 5, 7, 1, 1, "SAME"), (6, 30, 1, 3, (1, 4), (1, 5), [(0, 0), (7, 12)])]:
        for layout in ("NHWC", "NCHW"):
            xs, dys, s, d, pad, (kh, kw) = _shapes(geom, layout, c, c)
            x, dy, f = _rand(rng, xs, dtype), _rand(rng, dys, dtype), _rand(rng, (kh, kw, c, 1), dtype)
            what = f"{geom} {layout} C={c}, {isa}"
            assert_close(sepcpp.depthwise_conv2d_backprop_input(xs, f, dy, s, pad, layout, d),
                         rb.depthwise_input(xs, f, dy, s, pad, layout, d), dtype, reduction=kh * kw,
                         what="input gradient " + what)
            assert_close(sepcpp.depthwise_conv2d_backprop_filter(x, f.shape, dy, s, pad, layout, d),
                         rb.depthwise_filter(x, f.shape, dy, s, pad, layout, d), dtype, reduction=1000,
                         what="filter gradient " + what)
            fp = _rand(rng, (1, 1, c, 4), dtype)
            dz = _rand(rng, _shapes(geom, layout, c, 4)[1], dtype)
            got = sepcpp.separable_conv2d_backprop(x, f, fp, dz, s, pad, layout, d)
            want = rb.separable(x, f, fp, 1, dz, s, pad, layout, d)
            for name, g, wv in zip(got._fields, got, want):
                if wv is not None:
                    assert_close(g, wv, dtype, reduction=1000, what=f"separable {name} gradient " + what)


# ---------------------------------------------------------------------------------------------
# 1-D forms (CAUSAL included) against the reference of their 2-D lift
# ---------------------------------------------------------------------------------------------

GEOMETRIES_1D = [(11, 3, 1, 1, "CAUSAL"), (12, 4, 2, 2, "CAUSAL"), (9, 3, 3, 2, "SAME"), (10, 2, 2, 1, "VALID"),
                 (8, 3, 1, 3, [(2, 1)]), (1300, 5, 1, 4, "CAUSAL")]


def _lift_1d(w, k, s, d, pad, layout):
    """sizes, stride, dilation and padding of the 2-D reference call for a 1-D op."""
    if pad == "CAUSAL":
        pairs = [(0, 0), ((k - 1) * d, 0)]
    elif isinstance(pad, str):
        pairs = pad
    else:
        pairs = [(0, 0), tuple(pad[0])]
    layout2d = "NHWC" if layout == "NWC" else "NCHW"
    return (1, s), (1, d), _pad4(pairs, layout2d), layout2d


@pytest.mark.parametrize("geom", GEOMETRIES_1D, ids=[f"g{i}" for i in range(len(GEOMETRIES_1D))])
@pytest.mark.parametrize("layout", ["NWC", "NCW"])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_1d_gradients_match_reference(rng, geom, layout, dtype, isa):
    w, k, s, d, pad = geom
    c, m, o, n = 3, 2, 4, 2
    s2, d2, pad2, layout2d = _lift_1d(w, k, s, d, pad, layout)
    axis = 1 if layout == "NWC" else 2
    x = _rand(rng, (n, w, c) if layout == "NWC" else (n, c, w), dtype)
    x4 = np.expand_dims(x, axis)
    pad_arg = pad if isinstance(pad, str) else [list(p) for p in pad]
    fd, fc = _rand(rng, (k, c, m), dtype), _rand(rng, (k, c, o), dtype)
    fp = _rand(rng, (1, c * m, o), dtype)
    y = sepcpp.conv1d(x, fc, s, pad_arg, layout, d)
    dy_c = _rand(rng, y.shape, dtype)
    dy_d = _rand(rng, sepcpp.depthwise_conv1d(x, fd, s, pad_arg, layout, d).shape, dtype)
    sq = lambda a: np.squeeze(a, axis)
    e = lambda a: np.expand_dims(a, axis)
    got = {
        "dw_in": sepcpp.depthwise_conv1d_backprop_input(x.shape, fd, dy_d, s, pad_arg, layout, d),
        "dw_f": sepcpp.depthwise_conv1d_backprop_filter(x, fd.shape, dy_d, s, pad_arg, layout, d),
        "conv_in": sepcpp.conv1d_backprop_input(np.array(x.shape), fc, dy_c, s, pad_arg, layout, d),
        "conv_f": sepcpp.conv1d_backprop_filter(x, fc.shape, dy_c, s, pad_arg, layout, d),
        "sep": sepcpp.separable_conv1d_backprop(x, fd, fp, dy_c, s, pad_arg, layout, d,
                                                depthwise_activation="relu", bias=np.ones(o, dtype)),
        "super": sepcpp.super_separable_conv1d_backprop(x, fd, fp[:, :3], 2, dy_c, s, pad_arg, layout, d,
                                                        depthwise_bias=np.ones(c * m, dtype),
                                                        activation="relu"),
    }
    want = {
        "dw_in": sq(rb.depthwise_input(x4.shape, fd[None], e(dy_d), s2, pad2, layout2d, d2)),
        "dw_f": rb.depthwise_filter(x4, (1,) + fd.shape, e(dy_d), s2, pad2, layout2d, d2)[0],
        "conv_in": sq(rb.conv_input(x4.shape, fc[None], e(dy_c), s2, pad2, layout2d, d2)),
        "conv_f": rb.conv_filter(x4, (1,) + fc.shape, e(dy_c), s2, pad2, layout2d, d2)[0],
    }
    for key, wv in want.items():
        assert_close(got[key], wv, dtype, reduction=1000, what=f"{key} 1-D, {isa}")
    ref_sep = rb.separable(x4, fd[None], fp[None], 1, e(dy_c), s2, pad2, layout2d, d2,
                           depthwise_activation="relu", bias=np.ones(o))
    ref_super = rb.separable(x4, fd[None], fp[None][:, :, :3], 2, e(dy_c), s2, pad2, layout2d, d2,
                             depthwise_bias=np.ones(c * m), activation="relu")
    for key, ref in (("sep", ref_sep), ("super", ref_super)):
        g = got[key]
        want_1d = (sq(ref[0]), ref[1][0], ref[2][0], ref[3], ref[4])
        for name, gv, wv in zip(g._fields, g, want_1d):
            if wv is None:
                assert gv is None, (key, name)
            else:
                assert_close(gv, wv, dtype, reduction=1000, what=f"{key} {name} 1-D, {isa}")


# ---------------------------------------------------------------------------------------------
# Bitwise the same for any thread count
# ---------------------------------------------------------------------------------------------

def test_bitwise_identical_for_1_2_3_threads(rng, restore_threads, isa):
    dtype = F32
    x = _rand(rng, (2, 23, 21, 16), dtype)
    fd = _rand(rng, (3, 3, 16, 2), dtype)
    fc = _rand(rng, (3, 3, 16, 24), dtype)
    fp = _rand(rng, (1, 1, 32, 24), dtype)
    s, pad, d = 1, "SAME", 1
    dy_d = _rand(rng, (2, 23, 21, 32), dtype)
    dy = _rand(rng, (2, 23, 21, 24), dtype)
    xs = (2, 23, 21, 16)
    big = _rand(rng, (3, 50, 45, 4), dtype)
    big_dy = _rand(rng, (3, 50, 45, 6), dtype)

    def run_all():
        return [
            sepcpp.depthwise_conv2d_backprop_input(xs, fd, dy_d, s, pad, dilations=d),
            sepcpp.depthwise_conv2d_backprop_filter(x, fd.shape, dy_d, s, pad, dilations=d),
            sepcpp.conv2d_backprop_input(xs, fc, dy, s, pad, dilations=d),
            sepcpp.conv2d_backprop_filter(x, fc.shape, dy, s, pad, dilations=d),
            *sepcpp.separable_conv2d_backprop(x, fd, fp, dy[:, ::2, ::2], 2, pad, depthwise_bias=fd[0, 0].ravel(),
                                              depthwise_activation="relu6", bias=fp[0, 0, 0], activation="relu"),
            *sepcpp.super_separable_conv2d_backprop(x, fd, fp[:, :, :8], 4, dy, 1, pad, dilations=2,
                                                    activation="relu6"),
            # Multiplier 1: the gather and reduce kernels, alone and in the fused pass.
            sepcpp.depthwise_conv2d_backprop_input(xs, fd[..., :1], dy_d[:, :, ::2, :16], (1, 2), pad, dilations=(2, 1)),
            sepcpp.depthwise_conv2d_backprop_filter(x, (3, 3, 16, 1), dy_d[..., :16], s, pad),
            *sepcpp.separable_conv2d_backprop(big, fd[:, :, :4, :1], fp[:, :, :4, :6], big_dy, 1, pad,
                                              depthwise_activation="relu"),
            # Several bands of rows per image (units of the fused pass), across parts and threads.
            *sepcpp.separable_conv2d_backprop(big, fd[:, :, :4], fp[:, :, :8, :6], big_dy, 1, pad,
                                              depthwise_activation="relu", bias=fp[0, 0, 0, :6]),
        ]

    results = {}
    for t in (1, 2, 3):
        sepcpp.set_num_threads(t)
        results[t] = [r for r in run_all() if r is not None]
    for t in (2, 3):
        for i, (a, b) in enumerate(zip(results[1], results[t])):
            assert a.tobytes() == b.tobytes(), f"{isa}: result {i} differs between 1 and {t} threads"


# ---------------------------------------------------------------------------------------------
# Against TensorFlow's GradientTape on the forward ops
# ---------------------------------------------------------------------------------------------

def _tf():
    tf, _ = import_tensorflow()
    return tf


def _dilated(tf, f, d, nsp):
    """The filter with d - 1 zeros between taps, built inside the tape: TensorFlow's CPU conv
    gradients refuse dilation > 1, and a conv with this filter is the dilated conv exactly."""
    k = int(f.shape[0])
    sel = np.zeros(((k - 1) * d + 1, k), f.dtype.as_numpy_dtype)
    sel[np.arange(k) * d, np.arange(k)] = 1
    if nsp == 1:
        return tf.einsum("ak,kco->aco", sel, f)
    return tf.einsum("ak,bl,klco->abco", sel, sel, f)


# (H, W, k, stride, dilation, padding) that TensorFlow's forward ops accept everywhere.
TF_GEOMETRIES = [(7, 6, 3, 1, 1, "SAME"), (9, 8, 3, 2, 1, "VALID"), (8, 9, 3, 1, 2, "SAME"), (6, 7, 1, 2, 1, "SAME"),
                 (9, 9, 5, 3, 1, "SAME")]


@pytest.mark.uses("tensorflow")
@pytest.mark.parametrize("geom", TF_GEOMETRIES, ids=[f"t{i}" for i in range(len(TF_GEOMETRIES))])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_against_tensorflow_tape(rng, geom, dtype, isa):
    tf = _tf()
    h, w, k, s, d, pad = geom
    c, m, o = 3, 2, 5
    x = _rand(rng, (2, h, w, c), dtype, 2.0)
    fd = _rand(rng, (k, k, c, m), dtype)
    fc = _rand(rng, (k, k, c, o), dtype)
    fp = _rand(rng, (1, 1, c * m, o), dtype)
    bd = _rand(rng, (c * m,), dtype)
    b = _rand(rng, (o,), dtype)
    strides = [1, s, s, 1]
    with silenced(), tf.device("/CPU:0"):
        tx, tfd, tfc, tfp, tbd, tb = (tf.constant(a) for a in (x, fd, fc, fp, bd, b))
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([tx, tfd, tfc, tfp, tbd, tb])
            y_d = tf.nn.depthwise_conv2d(tx, tfd, strides, pad, dilations=[d, d])
            y_c = tf.nn.conv2d(tx, _dilated(tf, tfc, d, 2), strides, pad)
            mid = tf.nn.relu6(tf.nn.bias_add(tf.nn.depthwise_conv2d(tx, tfd, strides, pad, dilations=[d, d]), tbd))
            y_s = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(mid, tfp, 1, "VALID"), tb))
            y_plain = tf.nn.separable_conv2d(tx, tfd, tfp, strides, pad, dilations=[d, d])
        dy_d = _rand(rng, tuple(y_d.shape), dtype)
        dy_c = _rand(rng, tuple(y_c.shape), dtype)
        dy_s = _rand(rng, tuple(y_s.shape), dtype)
        want_d = [np.asarray(g) for g in tape.gradient(y_d, [tx, tfd], output_gradients=tf.constant(dy_d))]
        want_c = [np.asarray(g) for g in tape.gradient(y_c, [tx, tfc], output_gradients=tf.constant(dy_c))]
        want_s = [np.asarray(g) for g in tape.gradient(y_s, [tx, tfd, tfp, tbd, tb], output_gradients=tf.constant(dy_s))]
        want_p = [np.asarray(g) for g in tape.gradient(y_plain, [tx, tfd, tfp], output_gradients=tf.constant(dy_s))]
    for layout in ("NHWC", "NCHW"):
        lay = (lambda a: a) if layout == "NHWC" else _nchw
        back = (lambda a: a) if layout == "NHWC" else (lambda a: np.moveaxis(a, 1, -1))
        xs = x.shape if layout == "NHWC" else _nchw(x).shape
        got_d = [back(sepcpp.depthwise_conv2d_backprop_input(xs, fd, lay(dy_d), _tf_strides(s, layout), pad,
                                                             layout, d)),
                 sepcpp.depthwise_conv2d_backprop_filter(lay(x), fd.shape, lay(dy_d), s, pad, layout, d)]
        got_c = [back(sepcpp.conv2d_backprop_input(xs, fc, lay(dy_c), s, pad, layout, d)),
                 sepcpp.conv2d_backprop_filter(lay(x), fc.shape, lay(dy_c), s, pad, layout, d)]
        gs = sepcpp.separable_conv2d_backprop(lay(x), fd, fp, lay(dy_s), s, pad, layout, d, depthwise_bias=bd,
                                              depthwise_activation="relu6", bias=b, activation="relu")
        gp = sepcpp.separable_conv2d_backprop(lay(x), fd, fp, lay(dy_s), s, pad, layout, d)
        got_s = [back(gs.input), gs.depthwise_filter, gs.pointwise_filter, gs.depthwise_bias, gs.bias]
        got_p = [back(gp.input), gp.depthwise_filter, gp.pointwise_filter]
        assert gp.depthwise_bias is None and gp.bias is None
        for what, got, want in (("depthwise", got_d, want_d), ("conv2d", got_c, want_c),
                                ("separable+bias+relu", got_s, want_s), ("separable", got_p, want_p)):
            for i, (g, wv) in enumerate(zip(got, want)):
                assert_close(np.ascontiguousarray(g), wv.astype(np.float64), dtype, reduction=1000,
                             what=f"{what} gradient {i} vs TensorFlow, {layout}, {isa}")


def _tf_strides(s, layout):
    """TensorFlow's 4-list form of a stride, for the layout (the API accepts it as well as an int)."""
    return [1, s, s, 1] if layout == "NHWC" else [1, 1, s, s]


@pytest.mark.uses("tensorflow")
@pytest.mark.parametrize("pad", ["SAME", "VALID", "CAUSAL"])
def test_1d_against_tensorflow_tape(rng, pad):
    tf = _tf()
    dtype = F64
    n, w, c, o, k, s, d = 2, 13, 3, 4, 3, 1, 2
    x = _rand(rng, (n, w, c), dtype)
    fc = _rand(rng, (k, c, o), dtype)
    xin = np.pad(x, ((0, 0), ((k - 1) * d, 0), (0, 0))) if pad == "CAUSAL" else x
    with silenced(), tf.device("/CPU:0"):
        tx, tfc = tf.constant(x), tf.constant(fc)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([tx, tfc])
            xi = tf.pad(tx, [[0, 0], [(k - 1) * d, 0], [0, 0]]) if pad == "CAUSAL" else tx
            y = tf.nn.conv1d(xi, _dilated(tf, tfc, d, 1), s, "VALID" if pad == "CAUSAL" else pad)
        dy = _rand(rng, tuple(y.shape), dtype)
        want = [np.asarray(g) for g in tape.gradient(y, [tx, tfc], output_gradients=tf.constant(dy))]
    del xin
    got = [sepcpp.conv1d_backprop_input(x.shape, fc, dy, s, pad, dilations=d),
           sepcpp.conv1d_backprop_filter(x, fc.shape, dy, s, pad, dilations=d)]
    for g, wv in zip(got, want):
        assert_close(g, wv, dtype, reduction=1000, what=f"conv1d {pad} vs TensorFlow")


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------

X = np.ones((1, 5, 5, 3), np.float32)
DW = np.ones((3, 3, 3, 2), np.float32)
PW = np.ones((1, 1, 6, 4), np.float32)
W = np.ones((3, 3, 3, 4), np.float32)
DY_D = np.ones((1, 5, 5, 6), np.float32)
DY_C = np.ones((1, 5, 5, 4), np.float32)

BAD = [
    (lambda: sepcpp.depthwise_conv2d_backprop_input([1, 5, 5, 3], DW, DY_D[:, :4], 1, "SAME"), ValueError,
     ["depthwise_conv2d_backprop_input", "out_backprop", "(1, 5, 5, 6)", "(1, 4, 5, 6)"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_input([1, 5, 5], DW, DY_D, 1, "SAME"), ValueError,
     ["input_sizes", "4 entries"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_input([1, -5, 5, 3], DW, DY_D, 1, "SAME"), ValueError,
     ["input_sizes", "non-negative"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_input("1553", DW, DY_D, 1, "SAME"), TypeError, ["input_sizes"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_input(np.array([1.0, 5, 5, 3]), DW, DY_D, 1, "SAME"), TypeError,
     ["input_sizes"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_input([1, 5, 5, 4], DW, DY_D, 1, "SAME"), ValueError,
     ["depthwise_conv2d_backprop_input", "filter", "(3, 3, 3, 2)", "(1, 5, 5, 4)"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_input([1, 5, 5, 3], DW.astype(np.float64), DY_D, 1, "SAME"), TypeError,
     ["filter", "float64"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_input([1, 5, 5, 3], DW, DY_D.astype(np.int32), 1, "SAME"), TypeError,
     ["out_backprop", "int32"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_filter(X, [3, 3, 3], DY_D, 1, "SAME"), ValueError,
     ["filter_sizes", "4 entries"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_filter(X, [3, 3, 3, 2], DY_D[0], 1, "SAME"), ValueError,
     ["out_backprop", "rank 4"]),
    (lambda: sepcpp.depthwise_conv2d_backprop_filter(X, [9, 3, 3, 2], DY_D, 1, "VALID"), ValueError,
     ["depthwise_conv2d_backprop_filter", "larger than"]),
    (lambda: sepcpp.conv2d_backprop_input([1, 5, 5, 3], W, DY_C, 1, "VALID"), ValueError,
     ["conv2d_backprop_input", "out_backprop", "(1, 3, 3, 4)", "(1, 5, 5, 4)"]),
    (lambda: sepcpp.conv2d_backprop_filter(X, [3, 3, 3, 5], DY_C, 1, "SAME"), ValueError,
     ["conv2d_backprop_filter", "out_backprop", "(1, 5, 5, 5)"]),
    (lambda: sepcpp.conv2d_backprop_filter(X, [3, 3, 3, 4], DY_C, 0, "SAME"), ValueError,
     ["conv2d_backprop_filter", "strides"]),
    (lambda: sepcpp.separable_conv2d_backprop(X, DW, PW, DY_D, 1, "SAME"), ValueError,
     ["separable_conv2d_backprop", "out_backprop", "(1, 5, 5, 4)", "(1, 5, 5, 6)"]),
    (lambda: sepcpp.separable_conv2d_backprop(X, DW, PW, DY_C, 1, "SAME", bias=np.ones(3, np.float32)), ValueError,
     ["separable_conv2d_backprop", "bias", "(3,)"]),
    (lambda: sepcpp.separable_conv2d_backprop(X, DW, PW, DY_C, 1, "SAME", activation="tanh"), ValueError,
     ["activation", "tanh"]),
    (lambda: sepcpp.super_separable_conv2d_backprop(X, DW, PW, 4, DY_C, 1, "SAME"), ValueError,
     ["super_separable_conv2d_backprop", "pointwise_filter"]),
    (lambda: sepcpp.separable_conv2d_backprop(X, DW, PW, DY_C.astype(np.float64), 1, "SAME"), TypeError,
     ["out_backprop", "float64"]),
    (lambda: sepcpp.conv1d_backprop_input([1, 5, 3], W[0], DY_C[0], 1, "CAUSAL"), ValueError,
     ["conv1d_backprop_input", "out_backprop"]),
    (lambda: sepcpp.depthwise_conv1d_backprop_filter(X[0], [3, 3, 2], DY_D[0, 0:3], 1, "CAUSAL"), ValueError,
     ["depthwise_conv1d_backprop_filter", "out_backprop"]),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_input_is_refused_with_the_argument_named(i):
    call, exc, words = BAD[i]
    with pytest.raises(exc) as info:
        call()
    for word in words:
        assert word in str(info.value), f"{word!r} not in {str(info.value)!r}"


def test_zero_sized_and_strided_operands(rng):
    # An empty batch gives zero gradients of the right shapes; strided (non-contiguous) operands
    # give the same values as contiguous copies.
    dw = sepcpp.depthwise_conv2d_backprop_filter(np.ones((0, 5, 5, 3), np.float32), [3, 3, 3, 2],
                                                 np.ones((0, 5, 5, 6), np.float32), 1, "SAME")
    assert dw.shape == (3, 3, 3, 2) and not dw.any()
    dx = sepcpp.conv2d_backprop_input([0, 5, 5, 3], W, np.ones((0, 5, 5, 4), np.float32), 1, "SAME")
    assert dx.shape == (0, 5, 5, 3)
    x = _rand(rng, (2, 9, 10, 6), F64)[:, ::2, 1::2, ::2]
    f = _rand(rng, (4, 3, 3, 5), F64)[::-1, :, :, :]
    dy = _rand(rng, (2, 5, 5, 10), F64)[..., ::2]
    for got, want in (
        (sepcpp.conv2d_backprop_input(x.shape, f, dy, 1, "SAME"),
         sepcpp.conv2d_backprop_input(x.shape, np.ascontiguousarray(f), np.ascontiguousarray(dy), 1, "SAME")),
        (sepcpp.conv2d_backprop_filter(x, f.shape, dy, 1, "SAME"),
         sepcpp.conv2d_backprop_filter(np.ascontiguousarray(x), f.shape, np.ascontiguousarray(dy), 1, "SAME")),
    ):
        assert np.array_equal(got, want)


# ---------------------------------------------------------------------------------------------
# Python threads: concurrent calls (the binding releases the GIL) give the serial results
# ---------------------------------------------------------------------------------------------

def test_concurrent_python_threads_match_serial(rng, restore_threads):
    import threading

    x = _rand(rng, (4, 40, 40, 32), F32)
    fd = _rand(rng, (5, 5, 32, 2), F32)
    fp = _rand(rng, (1, 1, 64, 48), F32)
    w = _rand(rng, (3, 3, 32, 48), F32)
    dy = _rand(rng, (4, 40, 40, 48), F32)
    dy_d = _rand(rng, (4, 40, 40, 64), F32)
    calls = [
        lambda: sepcpp.separable_conv2d_backprop(x, fd, fp, dy, 1, "SAME", depthwise_activation="relu6"),
        lambda: (sepcpp.conv2d_backprop_input(x.shape, w, dy, 1, "SAME"),
                 sepcpp.conv2d_backprop_filter(x, w.shape, dy, 1, "SAME")),
        lambda: (sepcpp.depthwise_conv2d_backprop_input(x.shape, fd, dy_d, 1, "SAME"),
                 sepcpp.depthwise_conv2d_backprop_filter(x, fd.shape, dy_d, 1, "SAME")),
    ]
    want = [c() for c in calls]
    results = [None] * 6

    def worker(i):
        results[i] = calls[i % 3]()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, r in enumerate(results):
        for a, b in zip(r, want[i % 3]):
            assert (a is None and b is None) or a.tobytes() == b.tobytes(), f"call {i}"


# ---------------------------------------------------------------------------------------------
# Arrays that went through pickle (worker processes, dask.distributed, joblib) carry a dtype equal
# to, but not identical with, NumPy's own: every backprop op takes them, with the same bits.


def _pickled(a):
    import pickle

    return pickle.loads(pickle.dumps(a))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backprop_ops_take_pickled_arrays(dtype):
    rng = np.random.default_rng(11)

    def a(*s):
        return rng.standard_normal(s).astype(dtype)

    x, dw, pw, bd, b = a(2, 9, 8, 4), a(3, 3, 4, 2), a(1, 1, 8, 6), a(8), a(6)
    x1, dw1, pw1 = a(2, 11, 4), a(3, 4, 2), a(1, 8, 6)
    cases = [
        (sepcpp.depthwise_conv2d_backprop_input, ((2, 9, 8, 4), dw, a(2, 9, 8, 8), 1, "SAME"), {}),
        (sepcpp.depthwise_conv2d_backprop_filter, (x, (3, 3, 4, 2), a(2, 9, 8, 8), 1, "SAME"), {}),
        (sepcpp.conv2d_backprop_input, ((2, 9, 8, 4), a(3, 3, 4, 5), a(2, 5, 4, 5), 2, "SAME"), {}),
        (sepcpp.conv2d_backprop_filter, (x, (3, 3, 4, 5), a(2, 5, 4, 5), 2, "SAME"), {}),
        (sepcpp.separable_conv2d_backprop, (x, dw, pw, a(2, 9, 8, 6), 1, "SAME"),
         {"depthwise_bias": bd, "depthwise_activation": "relu", "bias": b, "activation": "relu6"}),
        (sepcpp.super_separable_conv2d_backprop, (x, dw, a(1, 1, 4, 6), 2, a(2, 9, 8, 6), 1, "SAME"), {}),
        (sepcpp.depthwise_conv1d_backprop_input, ((2, 11, 4), dw1, a(2, 11, 8), 1, "CAUSAL"), {}),
        (sepcpp.depthwise_conv1d_backprop_filter, (x1, (3, 4, 2), a(2, 11, 8), 1, "CAUSAL"), {}),
        (sepcpp.conv1d_backprop_input, ((2, 11, 4), a(3, 4, 5), a(2, 11, 5), 1, "SAME"), {}),
        (sepcpp.conv1d_backprop_filter, (x1, (3, 4, 5), a(2, 11, 5), 1, "SAME"), {}),
        (sepcpp.separable_conv1d_backprop, (x1, dw1, pw1, a(2, 11, 6), 1, "CAUSAL"), {"bias": b}),
        (sepcpp.super_separable_conv1d_backprop, (x1, dw1, a(1, 4, 6), 2, a(2, 9, 6), 1, "VALID"), {}),
    ]
    for op, args, kwargs in cases:
        want = op(*args, **kwargs)
        pick = lambda v: _pickled(v) if isinstance(v, np.ndarray) else v  # noqa: E731
        got = op(*[pick(v) for v in args], **{k: pick(v) for k, v in kwargs.items()})
        if isinstance(want, tuple):
            for w, g in zip(want, got):
                assert (w is None and g is None) or w.tobytes() == g.tobytes(), op.__name__
        else:
            assert want.tobytes() == got.tobytes(), op.__name__
