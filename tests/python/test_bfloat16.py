"""bfloat16 (ml_dtypes.bfloat16) in every forward op and layer, against TensorFlow's bfloat16 ops.

The reference is TensorFlow's float32 op on the same (bfloat16-rounded) data, and the tolerance is
measured, not chosen: TensorFlow's own bfloat16 result (tf.nn ops on tf.bfloat16 tensors, its
bias_add and relu as separate bfloat16 ops) differs from that float32 result by some maximum, and
sepcpp's bfloat16 result may differ from it by no more. (TensorFlow rounds each op's result to
bfloat16 once, from float32 sums; its separable op rounds the depthwise result before the
pointwise step. sepcpp does the same, and rounds a fused bias and activation once more only where
TensorFlow's separate ops round twice.)

Every case runs on every ISA level (the ``isa`` fixture), NHWC and NCHW (NCHW must give the same
bits as NHWC, transposed), and at 1 and 2 threads (the same bits). About 10 s.
"""

from __future__ import annotations

import functools
import pickle
import subprocess
import sys

import numpy as np
import pytest

from optional_deps import import_optional
from tf_support import import_tensorflow

tf, _ = import_tensorflow()
ml_dtypes = import_optional("ml_dtypes")

import sepcpp  # noqa: E402

pytestmark = [pytest.mark.uses("tensorflow"), pytest.mark.uses("ml_dtypes")]

BF16 = np.dtype(ml_dtypes.bfloat16)
F32 = np.float32


def _rounded(rng, shape, scale=1.0):
    return (rng.standard_normal(shape, dtype=F32) * scale).astype(BF16)


# name -> (sepcpp function, builder of (args, kwargs, TF bf16 / f32 computation)).
# Each case: op, input shape (NHWC / NWC), filter shapes, stride, padding, dilation, extras.
CASES = {
    # depthwise: channel tails (19 = 16 + 3, 8 + 3), a multiplier, stride, dilation, fused bias/relu6
    "dw_3x3_same_relu6": ("depthwise", (2, 9, 11, 19), [(3, 3, 19, 1)], 1, "SAME", 1, dict(bias=True, activation="relu6")),
    "dw_5x5_valid_s2_m2": ("depthwise", (1, 13, 12, 11), [(5, 5, 11, 2)], 2, "VALID", 1, {}),
    "dw_3x3_d2": ("depthwise", (1, 12, 10, 8), [(3, 3, 8, 1)], 1, "SAME", 2, dict(bias=True)),
    # pointwise: an odd k (a VDPBF16PS pair with one row), column tails (33 = 2*16 + 1)
    "pw_odd_k": ("pointwise", (2, 5, 7, 69), [(1, 1, 69, 33)], 1, "VALID", 1, dict(bias=True, activation="relu")),
    "pw_wide": ("pointwise", (1, 6, 6, 128), [(1, 1, 128, 130)], 1, "VALID", 1, {}),
    # separable: odd C*M, several panels, a multiplier, stride, both biases and activations
    "sep_3x3_same": ("separable", (2, 9, 11, 23), [(3, 3, 23, 1), (1, 1, 23, 70)], 1, "SAME", 1,
                     dict(depthwise_bias=True, depthwise_activation="relu6", bias=True, activation="relu")),
    "sep_3x3_s2_m2": ("separable", (1, 14, 13, 16), [(3, 3, 16, 2), (1, 1, 32, 40)], 2, "SAME", 1, {}),
    "sep_deep_k": ("separable", (1, 7, 7, 300), [(3, 3, 300, 1), (1, 1, 300, 65)], 1, "SAME", 1, {}),
    # conv2d: K = 3*3*5 = 45 (odd), stride 2
    "conv_3x3_s2": ("conv", (2, 10, 9, 5), [(3, 3, 5, 20)], 2, "SAME", 1, dict(bias=True)),
    "conv_5x5_valid": ("conv", (1, 11, 11, 16), [(5, 5, 16, 48)], 1, "VALID", 1, {}),
}


def _arrays(name):
    op, shape, fshapes, stride, padding, dilation, extra = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name))
    x = _rounded(rng, shape)
    filters = [_rounded(rng, s, 1 / np.sqrt(np.prod(s[:3]))) for s in fshapes]
    biases = {}
    if extra.get("depthwise_bias"):
        biases["depthwise_bias"] = _rounded(rng, (fshapes[0][2] * fshapes[0][3],), 0.5)
    if extra.get("bias"):
        width = fshapes[0][2] * fshapes[0][3] if op == "depthwise" else fshapes[-1][-1]
        biases["bias"] = _rounded(rng, (width,), 0.5)
    return x, filters, biases


def _tf_forward(name, dtype):
    """TensorFlow's result in `dtype` (tf.bfloat16 or tf.float32) on the case's rounded data:
    tf.nn's op, then bias_add and the activation as TensorFlow's own ops in that dtype."""
    op, shape, fshapes, stride, padding, dilation, extra = CASES[name]
    x, filters, biases = _arrays(name)
    c = lambda a: tf.constant(a.astype(F32), dtype=tf.float32) if dtype == tf.float32 else tf.constant(a)  # noqa: E731
    act = {None: lambda t: t, "relu": tf.nn.relu, "relu6": tf.nn.relu6}
    strides, dil = [1, stride, stride, 1], [dilation, dilation]
    if op == "depthwise":
        y = tf.nn.depthwise_conv2d(c(x), c(filters[0]), strides, padding, dilations=dil)
    elif op == "pointwise":
        y = tf.nn.conv2d(c(x), c(filters[0]), 1, padding)
    elif op == "conv":
        y = tf.nn.conv2d(c(x), c(filters[0]), stride, padding, dilations=dilation)
    else:
        if "depthwise_bias" in biases:  # two ops, with the bias and activation between them
            h = tf.nn.depthwise_conv2d(c(x), c(filters[0]), strides, padding, dilations=dil)
            h = act[extra.get("depthwise_activation")](tf.nn.bias_add(h, c(biases["depthwise_bias"])))
            y = tf.nn.conv2d(h, c(filters[1]), 1, "VALID")
        else:
            y = tf.nn.separable_conv2d(c(x), c(filters[0]), c(filters[1]), strides, padding, dilations=dil)
    if "bias" in biases:
        y = tf.nn.bias_add(y, c(biases["bias"]))
    return act[extra.get("activation")](y).numpy()


@functools.lru_cache(maxsize=None)
def _reference(name):
    """(float32 reference, tolerance): TensorFlow's float32 result, and its bfloat16 result's
    largest distance from it."""
    want = _tf_forward(name, tf.float32)
    tf16 = _tf_forward(name, tf.bfloat16)
    assert tf16.dtype == BF16
    return want, float(np.max(np.abs(tf16.astype(F32) - want)))


def _sepcpp(name, data_format="NHWC"):
    op, shape, fshapes, stride, padding, dilation, extra = CASES[name]
    x, filters, biases = _arrays(name)
    kw = dict(biases)
    for k in ("activation", "depthwise_activation"):
        if k in extra:
            kw[k] = extra[k]
    if data_format == "NCHW":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        kw["data_format"] = "NCHW"
    if op == "depthwise":
        y = sepcpp.depthwise_conv2d(x, filters[0], stride, padding, dilations=dilation, **kw)
    elif op == "pointwise":
        y = sepcpp.pointwise_conv2d(x, filters[0], **kw)
    elif op == "conv":
        y = sepcpp.conv2d(x, filters[0], stride, padding, dilations=dilation, **kw)
    else:
        y = sepcpp.separable_conv2d(x, filters[0], filters[1], stride, padding, dilations=dilation, **kw)
    return y.transpose(0, 2, 3, 1) if data_format == "NCHW" else y


@pytest.mark.parametrize("name", sorted(CASES))
def test_ops_against_tensorflow_bfloat16(name, isa):
    want, tol = _reference(name)
    assert tol > 0  # TensorFlow's bfloat16 does round: a zero tolerance would mean a broken case
    got = _sepcpp(name)
    assert got.dtype == BF16 and got.shape == want.shape
    err = float(np.max(np.abs(got.astype(F32) - want)))
    assert err <= tol, f"{name} on {isa}: max |sepcpp - f32| = {err}, TensorFlow's bfloat16 is {tol} away"
    nchw = _sepcpp(name, "NCHW")
    assert nchw.dtype == BF16
    np.testing.assert_array_equal(nchw.view(np.uint16), got.view(np.uint16))


@pytest.mark.parametrize("name", ["sep_3x3_same", "conv_3x3_s2", "dw_3x3_same_relu6", "pw_wide"])
def test_threads_give_the_same_bits(name, isa):
    before = sepcpp.get_num_threads()
    try:
        sepcpp.set_num_threads(1)
        one = _sepcpp(name)
        sepcpp.set_num_threads(2)
        two = _sepcpp(name)
    finally:
        sepcpp.set_num_threads(before)
    np.testing.assert_array_equal(one.view(np.uint16), two.view(np.uint16))


def test_layers_match_the_functional_ops_and_pickle(isa):
    rng = np.random.default_rng(7)
    x = _rounded(rng, (2, 8, 9, 12))
    dw, pw = _rounded(rng, (3, 3, 12, 2), 0.3), _rounded(rng, (1, 1, 24, 17), 0.2)
    w = _rounded(rng, (3, 3, 12, 9), 0.1)
    b24, b17, b9 = _rounded(rng, (24,)), _rounded(rng, (17,)), _rounded(rng, (9,))
    pairs = [
        (sepcpp.SeparableConv2D(dw, pw, 1, "SAME", depthwise_bias=b24, bias=b17, activation="relu6"),
         lambda a: sepcpp.separable_conv2d(a, dw, pw, 1, "SAME", depthwise_bias=b24, bias=b17, activation="relu6")),
        (sepcpp.DepthwiseConv2D(dw, 2, "VALID", bias=b24),
         lambda a: sepcpp.depthwise_conv2d(a, dw, 2, "VALID", bias=b24)),
        (sepcpp.PointwiseConv2D(w[:1, :1, :, :], bias=b9), lambda a: sepcpp.pointwise_conv2d(a, w[:1, :1], bias=b9)),
        (sepcpp.Conv2D(w, 1, "SAME", bias=b9, activation="relu"),
         lambda a: sepcpp.conv2d(a, w, 1, "SAME", bias=b9, activation="relu")),
    ]
    for layer, fn in pairs:
        assert layer.dtype == BF16
        y = layer(x)
        assert y.dtype == BF16
        np.testing.assert_array_equal(y.view(np.uint16), fn(x).view(np.uint16))
        again = pickle.loads(pickle.dumps(layer))
        assert again.dtype == BF16
        np.testing.assert_array_equal(again(x).view(np.uint16), y.view(np.uint16))
        out = np.empty_like(y)
        assert layer(x, out=out) is out
        np.testing.assert_array_equal(out.view(np.uint16), y.view(np.uint16))


def test_1d_ops_against_tensorflow_bfloat16(isa):
    rng = np.random.default_rng(11)
    x = _rounded(rng, (2, 40, 13))
    dw, pw = _rounded(rng, (5, 13, 1), 0.4), _rounded(rng, (1, 13, 21), 0.3)
    w = _rounded(rng, (3, 13, 10), 0.2)
    f = lambda a: tf.constant(a.astype(F32))  # noqa: E731
    b = tf.constant  # bfloat16 tensors as they are
    cases = [
        (sepcpp.depthwise_conv1d(x, dw, 2, "SAME"),
         lambda c: tf.squeeze(tf.nn.depthwise_conv2d(c(x)[:, None], c(dw)[None], [1, 1, 2, 1], "SAME"), 1)),
        (sepcpp.separable_conv1d(x, dw, pw, 1, "VALID"),
         lambda c: tf.squeeze(tf.nn.separable_conv2d(c(x)[:, None], c(dw)[None], c(pw)[None], [1, 1, 1, 1], "VALID"), 1)),
        (sepcpp.conv1d(x, w, 1, "SAME"), lambda c: tf.nn.conv1d(c(x), c(w), 1, "SAME")),
    ]
    for got, ref in cases:
        want = ref(f).numpy()
        tol = float(np.max(np.abs(ref(b).numpy().astype(F32) - want)))
        assert got.dtype == BF16 and got.shape == want.shape
        assert float(np.max(np.abs(got.astype(F32) - want))) <= tol


def test_rounding_is_to_nearest_even_like_ml_dtypes(isa):
    # 1x1 depthwise with weight 1 and a bias: each output is round(x + b) from an exact float32
    # sum; it must equal ml_dtypes' rounding of that float32 sum, on every level (vector bodies
    # and tails), denormals, overflow to infinity and NaN included.
    rng = np.random.default_rng(3)
    x = _rounded(rng, (1, 3, 5, 37))
    special = np.array([1e-40, -1e-39, 3.3e38, -3.38e38, np.inf, np.nan, 1.0, -0.0], F32).astype(BF16)
    x.reshape(-1)[: special.size] = special
    bias = _rounded(rng, (37,), 1e-2)
    got = sepcpp.depthwise_conv2d(x, np.ones((1, 1, 37, 1), BF16), 1, "VALID", bias=bias)
    exact = (x.astype(F32) + bias.astype(F32)).astype(BF16)
    np.testing.assert_array_equal(got.view(np.uint16), exact.view(np.uint16))
    big = np.full((1, 1, 1, 2), 3.38e38, F32).astype(BF16)  # the sum rounds past the largest bfloat16
    y = sepcpp.pointwise_conv2d(big, np.ones((1, 1, 2, 1), BF16))
    assert np.isinf(y.astype(F32)).all()


@pytest.mark.parametrize("kernel, stride", [((1, 1), 1), ((1, 3), 1), ((3, 3), 1), ((3, 3), 2)])
def test_depthwise_keeps_denormals_and_quiets_nans(kernel, stride, isa):
    # A window whose one nonzero tap (the centre) is 1, without a bias: every sum is exact, so each
    # output must round to the input under the centre, bit for bit, on every level (vector bodies
    # and a tail of 5 channels; the row kernel for 1x3). bfloat16 denormals stay denormals (a
    # rounding instruction that flushes them gives zero), and a NaN, whatever its payload, becomes
    # the quiet NaN 0x7fc0 with its sign. (NaNs only under a 1x1 window: a zero tap times a NaN
    # neighbour is NaN.)
    rng = np.random.default_rng(17)
    kh, kw = kernel
    bits = rng.integers(1, 0x80, size=(2, 7, 11, 37), dtype=np.uint16)  # positive denormals
    bits[..., ::2] |= 0x8000  # and negative ones
    bits[0, 0, 0, :4] = [0x3f80, 0x0080, 0x8080, 0x7f7f]  # 1, the smallest normals, the largest
    if kernel == (1, 1):
        special = [0x7fe0, 0xffa0, 0x7f81, 0xff81, 0x7fc0, 0xffc0, 0x7f80, 0xff80]  # NaN payloads, infs
        bits[1, 2, 3, :8] = special
        bits[1, 6, 10, 29:] = special  # in the tail
    w = np.zeros((kh, kw, 37, 1), F32)
    w[kh // 2, kw // 2] = 1
    got = sepcpp.depthwise_conv2d(bits.view(BF16), w.astype(BF16), stride, "VALID").view(np.uint16)
    want = bits[:, kh // 2::stride, kw // 2::stride][:, : got.shape[1], : got.shape[2]]
    is_nan = ((want & 0x7F80) == 0x7F80) & ((want & 0x7F) != 0)
    want = np.where(is_nan, (want & 0x8000) | 0x7FC0, want)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("pixels, channels", [(3 * 37, 40), (70, 1000)])
def test_gemm_rounding_is_to_nearest_even_like_ml_dtypes(pixels, channels, isa):
    # A pointwise GEMM with the identity as weights: each output is round(b + x) from an exact
    # float32 sum (the other products are zeros), which must equal ml_dtypes' rounding of it, in
    # full blocks and in tails of rows and columns. An infinite input makes the rest of its row NaN
    # (inf x 0): a row of sums holding a NaN is rounded apart from the others, and must agree.
    rng = np.random.default_rng(11)
    x = _rounded(rng, (1, 1, pixels, channels))
    x[0, 0, 5, 0] = np.inf
    x[0, 0, pixels - 1, channels - 1] = -np.inf
    bias = _rounded(rng, (channels,), 1e-2)
    w = np.eye(channels, dtype=F32).astype(BF16).reshape(1, 1, channels, channels)
    got = sepcpp.pointwise_conv2d(x, w, bias=bias).astype(F32)
    want = (x.astype(F32) + bias.astype(F32)).astype(BF16).astype(F32)
    want[0, 0, 5, 1:] = np.nan
    want[0, 0, pixels - 1, :-1] = np.nan
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(got[ok], want[ok])


def test_mixed_and_unsupported_dtypes_are_refused():
    rng = np.random.default_rng(5)
    x = _rounded(rng, (1, 5, 5, 3))
    dw, pw = _rounded(rng, (3, 3, 3, 1)), _rounded(rng, (1, 1, 3, 4))
    with pytest.raises(TypeError, match=r"depthwise_filter: dtype float32 does not match the input's dtype bfloat16"):
        sepcpp.separable_conv2d(x, dw.astype(F32), pw, 1, "SAME")
    with pytest.raises(TypeError, match=r"filter: dtype bfloat16 does not match the input's dtype float32"):
        sepcpp.depthwise_conv2d(x.astype(F32), dw, 1, "SAME")
    with pytest.raises(TypeError, match=r"bias: dtype float32 does not match the input's dtype bfloat16"):
        sepcpp.pointwise_conv2d(x, pw, bias=np.zeros(4, F32))
    with pytest.raises(TypeError, match=r"out: dtype float32 does not match the input's dtype bfloat16"):
        sepcpp.pointwise_conv2d(x, pw, out=np.empty((1, 5, 5, 4), F32))
    layer = sepcpp.PointwiseConv2D(pw)
    with pytest.raises(TypeError, match=r"input: dtype float32 does not match the layer's dtype bfloat16"):
        layer(x.astype(F32))
    with pytest.raises(TypeError, match=r"input: dtype float16 is not supported; sepcpp takes float32, float64 or bfloat16"):
        sepcpp.pointwise_conv2d(x.astype(np.float16), pw.astype(np.float16))
    # The gradients are float32 and float64 only.
    with pytest.raises(TypeError, match=r"dtype bfloat16 is not supported"):
        sepcpp.depthwise_conv2d_backprop_input([1, 5, 5, 3], dw, _rounded(rng, (1, 5, 5, 3)), 1, "SAME")
    # Nothing was written into the inputs.
    assert x.dtype == BF16


def test_sepcpp_neither_imports_nor_needs_ml_dtypes():
    code = (
        "import sys; sys.modules['ml_dtypes'] = None\n"  # an import of ml_dtypes now fails
        "import numpy as np, sepcpp\n"
        "x = np.ones((1, 3, 3, 2), np.float32)\n"
        "print(sepcpp.depthwise_conv2d(x, np.ones((1, 1, 2, 1), np.float32), 1, 'SAME').dtype)\n"
        "try:\n"
        "    sepcpp.depthwise_conv2d(x.view(np.uint16), np.ones((1, 1, 2, 1), np.uint16), 1, 'SAME')\n"
        "except TypeError as e:\n"
        "    print('TypeError', e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "float32"
    assert "TypeError input: dtype uint16 is not supported" in r.stdout
    r = subprocess.run([sys.executable, "-c", "import sepcpp, sys; print('ml_dtypes' in sys.modules)"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.parametrize("op", ["depthwise", "depthwise_dilated", "separable", "conv"])
def test_infinite_weight_over_the_padding_like_tensorflow(op, isa):
    # TensorFlow 2.21's bfloat16 kernels leave padded taps out in the depthwise step at dilation 1
    # (no 0 x Inf = NaN at the border) and multiply the padding in conv2d and at a dilation above 1.
    x = np.ones((1, 7, 7, 2), BF16)
    dw = np.ones((3, 3, 2, 1), BF16)
    dw[0, 0, 0, 0] = np.inf
    pw = np.ones((1, 1, 2, 3), BF16)
    w = np.ones((3, 3, 2, 3), BF16)
    w[0, 0, 0, 0] = np.inf
    d = 2 if op == "depthwise_dilated" else 1
    if op.startswith("depthwise"):
        got = sepcpp.depthwise_conv2d(x, dw, 1, "SAME", dilations=d)
        want = tf.nn.depthwise_conv2d(x, dw, [1, 1, 1, 1], "SAME", dilations=[d, d])
    elif op == "separable":
        got = sepcpp.separable_conv2d(x, dw, pw, 1, "SAME")
        want = tf.nn.separable_conv2d(x, dw, pw, [1, 1, 1, 1], "SAME")
    else:
        got = sepcpp.conv2d(x, w, 1, "SAME")
        want = tf.nn.conv2d(x, w, 1, "SAME")
    want = want.numpy()
    assert want.dtype == BF16
    np.testing.assert_array_equal(np.isnan(got.astype(F32)), np.isnan(want.astype(F32)))
    np.testing.assert_array_equal(got.view(np.uint16), want.view(np.uint16))
