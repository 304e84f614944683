"""Infinities and NaNs in the filters next to the padding, against TensorFlow.

Multiplying the zero padding by an infinite weight gives 0 x Inf = NaN; leaving padded taps out of
the sum does not. TensorFlow (2.21, CPU, default build) does either, per op and dtype, and sepcpp
follows it:

* float32 (TensorFlow's oneDNN kernels): padded taps are left out in conv2d (any stride and
  dilation) and in depthwise_conv2d / separable_conv2d at dilation 1. At a dilation above 1 the
  depthwise ops pad the input with zeros themselves (space_to_batch) and multiply them: NaN.
* float64 (TensorFlow's Eigen kernels): every op multiplies the padding: NaN.
* The 1-D ops are the 2-D ops on a height-1 view; CAUSAL is explicit left padding, so the
  references are TensorFlow's 2-D ops with that explicit padding. (Keras' Conv1D(padding="causal")
  pads with zeros and runs VALID, which multiplies the padding even in float32: not followed.)

Each case is checked to be one where this matters (TensorFlow's NaNs are compared with those of
multiplying the padding: equal exactly where TensorFlow multiplies), then run with every compiled
ISA, both layouts, the functional ops and the prepacked layers. Under TF_ENABLE_ONEDNN_OPTS=0
TensorFlow's float32 multiplies the padding too; the float32 comparisons are then skipped, saying so.
"""

from __future__ import annotations

import numpy as np
import pytest

from tf_support import import_tensorflow
from tf_support import silenced as _silenced

tf, keras = import_tensorflow()
with _silenced():
    tf.get_logger().setLevel("ERROR")

import sepcpp  # noqa: E402
from sepcpp import _core  # noqa: E402

ISAS = [i for i in _core.isas_available().split(",") if i]
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def _tf_float32_leaves_padding_out():
    x = np.ones((1, 3, 3, 1), np.float32)
    w = np.ones((3, 3, 1, 1), np.float32)
    w[0, 0] = np.inf
    return bool(np.isfinite(tf.nn.conv2d(x, w, 1, "SAME").numpy()[0, 0, 0, 0]))


TF_F32_LEAVES_PADDING_OUT = _tf_float32_leaves_padding_out()


def _skip_without_onednn(dtype):
    if dtype == F32 and not TF_F32_LEAVES_PADDING_OUT:
        pytest.skip("TensorFlow runs without oneDNN (TF_ENABLE_ONEDNN_OPTS=0): its float32 multiplies the "
                    "padding, unlike its default build that sepcpp follows")


def tf_multiplies_padding(op, dilations, dtype):
    """TensorFlow's rule (default build): see the module docstring."""
    return dtype == F64 or (op != "conv" and max(dilations) > 1)


def _with_isa(isa, fn):
    previous = _core.isa_in_use()
    _core.set_isa(isa)
    try:
        return fn()
    finally:
        _core.set_isa(previous)


SPOTS = [((0, 0), np.inf), ((-1, -1), -np.inf), ((0, -1), np.nan), ((None, 0), np.inf), ((-1, 0), np.nan)]


def _poison(w, spots):
    """Spot i of SPOTS (+inf, -inf and NaN at kernel corners, +inf mid-left edge) goes into channel
    i and filter column i % X of w [kh, kw, C, X]; the channels without a spot stay finite."""
    w = w.copy()
    for i in spots:
        (y, x), v = SPOTS[i]
        w[w.shape[0] // 2 if y is None else y, x, i % w.shape[2], i % w.shape[3]] = v
    return w


def _spots(op, c, case_index):
    """Separable ops mix every depthwise channel in the pointwise step: one spot (varied by case),
    so that pixels whose spot is padded stay finite. The others: a spot per channel but the last."""
    return [case_index % len(SPOTS)] if op == "separable" else list(range(min(len(SPOTS), c - 1)))


def _assert_same(got, want, what, dtype):
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, TensorFlow {want.shape}"
    nan_g, nan_w = np.isnan(got), np.isnan(want)
    assert np.array_equal(nan_g, nan_w), (
        f"{what}: NaN where TensorFlow has none at {np.argwhere(nan_g & ~nan_w)[:4].tolist()}, "
        f"missing at {np.argwhere(nan_w & ~nan_g)[:4].tolist()}")
    inf_g, inf_w = np.isinf(got), np.isinf(want)
    assert np.array_equal(inf_g, inf_w), f"{what}: infinities differ at {np.argwhere(inf_g != inf_w)[:4].tolist()}"
    assert np.array_equal(np.sign(got[inf_g]), np.sign(want[inf_w])), f"{what}: signs of infinities differ"
    fin = np.isfinite(want)
    scale = max(1.0, float(np.max(np.abs(want[fin]))) if fin.any() else 1.0)
    err = float(np.max(np.abs(got[fin] - want[fin]))) if fin.any() else 0.0
    assert err <= (1e-4 if dtype == F32 else 1e-12) * scale, f"{what}: finite values differ by {err}"


# (op, input NHWC shape, kernel, M or O, strides, dilations, padding, dtype)
CASES_2D = [
    ("depthwise", (2, 7, 9, 5), (3, 3), 1, (1, 1), (1, 1), "SAME", F32),        # row-sliding kernel, edge runs
    ("depthwise", (1, 6, 8, 17), (3, 3), 2, (1, 1), (1, 1), "SAME", F32),       # M = 2, channel tails
    ("depthwise", (1, 9, 8, 4), (3, 3), 1, (2, 2), (1, 1), [[0, 0], [1, 2], [2, 1], [0, 0]], F32),
    ("depthwise", (1, 11, 10, 6), (5, 5), 1, (2, 2), (1, 1), "SAME", F64),
    ("depthwise", (1, 5, 12, 8), (1, 7), 1, (1, 1), (1, 1), [[0, 0], [0, 0], [6, 0], [0, 0]], F32),
    ("depthwise", (1, 9, 9, 4), (3, 3), 1, (1, 1), (2, 2), "SAME", F32),        # TF multiplies the padding
    ("separable", (1, 7, 8, 8), (3, 3), 6, (1, 1), (1, 1), "SAME", F32),
    ("separable", (2, 9, 7, 5), (3, 3), 20, (2, 2), (1, 1), [[0, 0], [2, 1], [1, 2], [0, 0]], F64),
    ("separable", (1, 9, 9, 4), (3, 3), 5, (1, 1), (1, 2), "SAME", F32),        # TF multiplies the padding
    ("conv", (1, 7, 8, 4), (3, 3), 20, (1, 1), (1, 1), "SAME", F32),            # O over the GEMM panel
    ("conv", (2, 9, 9, 5), (3, 3), 7, (1, 1), (2, 2), [[0, 0], [2, 0], [0, 2], [0, 0]], F32),
    ("conv", (1, 11, 10, 4), (5, 5), 3, (2, 2), (1, 1), "SAME", F64),
]


def _dense_dw(w):
    """[kh, kw, C, M] depthwise -> [kh, kw, C, C*M] block-diagonal dense filter (for tf.nn.conv2d)."""
    kh, kw, c, m = w.shape
    d = np.zeros((kh, kw, c, c * m), w.dtype)
    for ch in range(c):
        d[:, :, ch, ch * m:(ch + 1) * m] = w[:, :, ch, :]
    return d


def _tf_2d(op, x, w, pw, s, d, padding):
    st = [1, s[0], s[1], 1]
    if op == "conv":
        return tf.nn.conv2d(x, w, st, padding, dilations=[1, d[0], d[1], 1]).numpy()
    if op == "depthwise":
        return tf.nn.depthwise_conv2d(x, w, st, padding, dilations=list(d)).numpy()
    return tf.nn.separable_conv2d(x, w, pw, st, padding, dilations=list(d)).numpy()


def _multiplied_padding_nans(op, x, w, pw, s, d, padding):
    """The NaN pattern of multiplying zero padding: tf.pad, then VALID (with the SAME padding
    resolved by running TF's own SAME on a NaN-free probe to read its output shape)."""
    kh, kw = w.shape[:2]
    if padding == "SAME":
        pads = []
        for size, k, st, dl in ((x.shape[1], kh, s[0], d[0]), (x.shape[2], kw, s[1], d[1])):
            eff = (k - 1) * dl + 1
            out = -(-size // st)
            total = max((out - 1) * st + eff - size, 0)
            pads.append([total // 2, total - total // 2])
        padding = [[0, 0], pads[0], pads[1], [0, 0]]
    xp = np.pad(x, padding)
    if op == "depthwise" or op == "separable":
        # The dense block-diagonal conv2d multiplies every tap (VALID): 0 x Inf included.
        wd = _dense_dw(w)
        y = tf.nn.conv2d(xp, wd, [1, s[0], s[1], 1], "VALID", dilations=[1, d[0], d[1], 1]).numpy()
        if op == "separable":
            y = np.einsum("nhwk,ko->nhwo", y, pw[0, 0])
        return np.isnan(y)
    return np.isnan(tf.nn.conv2d(xp, w, [1, s[0], s[1], 1], "VALID", dilations=[1, d[0], d[1], 1]).numpy())


def _sepcpp_2d(op, x, w, pw, s, d, padding, layout, layer):
    if layout == "NCHW":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        if isinstance(padding, list):
            padding = [padding[0], padding[3], padding[1], padding[2]]
    kw = dict(data_format=layout, dilations=d)
    if op == "conv":
        y = sepcpp.Conv2D(w, s, padding, **kw)(x) if layer else sepcpp.conv2d(x, w, s, padding, **kw)
    elif op == "depthwise":
        y = sepcpp.DepthwiseConv2D(w, s, padding, **kw)(x) if layer else sepcpp.depthwise_conv2d(x, w, s, padding,
                                                                                                   **kw)
    else:
        y = (sepcpp.SeparableConv2D(w, pw, s, padding, **kw)(x) if layer
             else sepcpp.separable_conv2d(x, w, pw, s, padding, **kw))
    return y.transpose(0, 2, 3, 1) if layout == "NCHW" else y


@pytest.mark.parametrize("index", range(len(CASES_2D)), ids=lambda i: "{}-{}-k{}-s{}-d{}-{}-{}".format(
    *[CASES_2D[i][j] for j in (0, 1, 2, 4, 5, 6, 7)]))
def test_2d_ops_match_tensorflow(index, rng):
    op, shape, (kh, kw), mo, s, d, padding, dtype = CASES_2D[index]
    c = shape[3]
    x = rng.standard_normal(shape).astype(dtype)
    w = _poison(rng.standard_normal((kh, kw, c, 1 if op == "separable" else mo)).astype(dtype),
                _spots(op, c, index))
    pw = rng.standard_normal((1, 1, c, mo)).astype(dtype) if op == "separable" else None
    _skip_without_onednn(dtype)
    want = _tf_2d(op, x, w, pw, s, d, padding)
    # The case is one where the padding matters, and TensorFlow follows the rule stated above.
    assert not np.isfinite(want).all()
    multiplied = _multiplied_padding_nans(op, x, w, pw, s, d, padding)
    assert np.array_equal(multiplied, np.isnan(want)) == tf_multiplies_padding(op, d, dtype)
    for isa in ISAS:
        for layout in ("NHWC", "NCHW"):
            for layer in (False, True):
                got = _with_isa(isa, lambda: _sepcpp_2d(op, x, w, pw, s, d, padding, layout, layer))
                _assert_same(got, want, f"{op} {isa} {layout} {'layer' if layer else 'functional'}", dtype)


# (op, input NWC shape, k, M or O, stride, dilation, padding, dtype)
CASES_1D = [
    ("conv", (2, 12, 3), 4, 5, 1, 1, "CAUSAL", F32),
    ("conv", (1, 13, 4), 3, 6, 1, 2, "SAME", F32),
    ("conv", (1, 14, 3), 3, 2, 2, 1, "CAUSAL", F64),
    ("depthwise", (1, 30, 5), 15, 1, 1, 1, "CAUSAL", F32),   # 14 edge pixels per row
    ("depthwise", (2, 11, 6), 3, 2, 1, 1, "SAME", F64),
    ("separable", (1, 16, 8), 3, 5, 1, 1, "CAUSAL", F32),
    ("depthwise", (1, 12, 4), 3, 1, 1, 2, "CAUSAL", F32),    # dilated: TF multiplies the padding
    ("separable", (1, 17, 5), 5, 4, 2, 1, "SAME", F32),
]


@pytest.mark.parametrize("index", range(len(CASES_1D)), ids=lambda i: "{}-{}-k{}-s{}-d{}-{}-{}".format(
    *[CASES_1D[i][j] for j in (0, 1, 2, 4, 5, 6, 7)]))
def test_1d_ops_match_tensorflow(index, rng):
    op, shape, k, mo, s, d, padding, dtype = CASES_1D[index]
    c = shape[2]
    x = rng.standard_normal(shape).astype(dtype)
    cols = mo if op != "separable" else 1
    w = _poison(rng.standard_normal((1, k, c, cols)).astype(dtype), _spots(op, c, index))[0]  # [k, C, X]
    pw = rng.standard_normal((1, c, mo)).astype(dtype) if op == "separable" else None
    _skip_without_onednn(dtype)
    # TensorFlow on the height-1 view; CAUSAL is explicit left padding.
    pad2 = [[0, 0], [0, 0], [(k - 1) * d, 0], [0, 0]] if padding == "CAUSAL" else padding
    want = _tf_2d(op, x[:, None], w[None], None if pw is None else pw[None], (1, s), (1, d), pad2)[:, 0]
    assert not np.isfinite(want).all()
    if not tf_multiplies_padding(op, (1, d), dtype):  # the padding matters: some edge pixel stays finite
        assert np.isfinite(want[:, 0]).any() or np.isfinite(want[:, -1]).any()
    for isa in ISAS:
        for layout in ("NWC", "NCW"):
            def call():
                xi = np.ascontiguousarray(x.transpose(0, 2, 1)) if layout == "NCW" else x
                kw = dict(data_format=layout, dilations=d)
                if op == "conv":
                    y = sepcpp.conv1d(xi, w, s, padding, **kw)
                elif op == "depthwise":
                    y = sepcpp.depthwise_conv1d(xi, w, s, padding, **kw)
                else:
                    y = sepcpp.separable_conv1d(xi, w, pw, s, padding, **kw)
                return y.transpose(0, 2, 1) if layout == "NCW" else y

            _assert_same(_with_isa(isa, call), want, f"{op}1d {isa} {layout}", dtype)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan], ids=["inf", "-inf", "nan"])
@pytest.mark.parametrize("op", ["depthwise", "separable", "conv"])
def test_issue_example(op, value):
    """x = ones((1,3,3,1)), w = ones((3,3,1,1)) with w[0,0] non-finite, SAME, float32: TensorFlow
    gives [[4,6,4],[6,v,v],[4,v,v]], NaN nowhere else."""
    _skip_without_onednn(F32)
    x = np.ones((1, 3, 3, 1), np.float32)
    w = np.ones((3, 3, 1, 1), np.float32)
    w[0, 0] = value
    pw = np.ones((1, 1, 1, 1), np.float32)
    want = np.array([[4, 6, 4], [6, value, value], [4, value, value]], np.float32)
    np.testing.assert_array_equal(_tf_2d(op, x, w, pw, (1, 1), (1, 1), "SAME")[0, :, :, 0], want)
    for isa in ISAS:
        for layer in (False, True):
            got = _with_isa(isa, lambda: _sepcpp_2d(op, x, w, pw, (1, 1), (1, 1), "SAME", "NHWC", layer))
            np.testing.assert_array_equal(got[0, :, :, 0], want, err_msg=f"{op} {isa} layer={layer}")


@pytest.mark.parametrize("op", ["depthwise", "separable", "conv"])
def test_nonfinite_inputs_still_match_tensorflow(op, rng):
    """Infinities and NaNs in the input (at corners and edges), finite weights: as TensorFlow."""
    x = rng.standard_normal((1, 7, 8, 4)).astype(np.float32)
    x[0, 0, 0, 0] = np.inf
    x[0, -1, -1, 1] = np.nan
    x[0, 0, -1, 2] = -np.inf
    x[0, 3, 0, 3] = np.inf
    w = rng.standard_normal((3, 3, 4, 3 if op == "conv" else 1)).astype(np.float32)
    pw = rng.standard_normal((1, 1, 4, 5)).astype(np.float32)
    want = _tf_2d(op, x, w, pw, (1, 1), (1, 1), "SAME")
    assert not np.isfinite(want).all()
    for isa in ISAS:
        got = _with_isa(isa, lambda: _sepcpp_2d(op, x, w, pw, (1, 1), (1, 1), "SAME", "NHWC", False))
        _assert_same(got, want, f"{op} {isa}", F32)


def test_finite_weights_keep_the_fast_path_bits(rng):
    """A non-finite weight in one channel changes nothing in the finite channels' values away from
    where that channel's padding is: the finite channels equal the all-finite run bit for bit."""
    x = rng.standard_normal((1, 9, 10, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 1)).astype(np.float32)
    clean = sepcpp.depthwise_conv2d(x, w, 1, "SAME")
    w2 = w.copy()
    w2[0, 0, 3, 0] = np.inf
    poisoned = sepcpp.depthwise_conv2d(x, w2, 1, "SAME")
    others = [c for c in range(8) if c != 3]
    np.testing.assert_array_equal(poisoned[..., others], clean[..., others])
    assert np.isfinite(poisoned[0, 0, :, 3]).all() and np.isfinite(poisoned[0, :, 0, 3]).all()


def test_float64_multiplies_the_padding_as_tensorflow_does():
    """The issue example in float64: TensorFlow's Eigen kernels give NaN along the first row and
    column (0 x Inf); so does sepcpp, in every op."""
    x = np.ones((1, 3, 3, 1))
    w = np.ones((3, 3, 1, 1))
    w[0, 0] = np.inf
    pw = np.ones((1, 1, 1, 1))
    nan = np.nan
    want = np.array([[nan, nan, nan], [nan, np.inf, np.inf], [nan, np.inf, np.inf]])
    for op in ("depthwise", "separable", "conv"):
        np.testing.assert_array_equal(_tf_2d(op, x, w, pw, (1, 1), (1, 1), "SAME")[0, :, :, 0], want)
        np.testing.assert_array_equal(_sepcpp_2d(op, x, w, pw, (1, 1), (1, 1), "SAME", "NHWC", False)[0, :, :, 0],
                                      want, err_msg=op)
