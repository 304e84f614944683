"""Generates golden.npz: small convolution cases with TensorFlow's outputs, for test_golden.py.

Run by hand where TensorFlow is installed (the tests that read the file do not need it):

    TF_CPP_MIN_LOG_LEVEL=3 python tests/python/data/make_golden.py

The file holds, for each case NAME, the arrays NAME__input, NAME__filter ... NAME__expected, and one
JSON string under the key "params": a list of cases, each naming the sepcpp function, its positional
array arguments, its keyword arguments (tf.nn names: strides/stride, padding, data_format,
dilations, activation) and its keyword array arguments (bias, depthwise_bias), with how TensorFlow
computed the expected output. Cases in NCHW/NCW store the input and the expected output in that
layout; TensorFlow computed them in NHWC/NWC (its CPU kernels refuse channels-first).
"""

import json
import os
import sys
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

warnings.simplefilter("ignore")
tf.config.set_visible_devices([], "GPU")

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "golden.npz")

rng = np.random.default_rng(20240601)
CASES = []
ARRAYS = {}


def rand(shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def act_tf(y, act):
    return y if act is None else {"relu": tf.nn.relu, "relu6": tf.nn.relu6}[act](y)


def dense_depthwise(w):
    kh, kw, c, m = w.shape
    dense = np.zeros((kh, kw, c, c * m), w.dtype)
    for ci in range(c):
        dense[:, :, ci, ci * m:(ci + 1) * m] = w[:, :, ci, :]
    return dense


def nchw(a):
    return np.ascontiguousarray(np.transpose(a, (0, 3, 1, 2)))


def ncw(a):
    return np.ascontiguousarray(np.transpose(a, (0, 2, 1)))


def add(name, op, args, kwargs, expected, tf_how, array_kwargs=None, exact=False, terms=1):
    """args: list of (role, array) positional; array_kwargs: {kwarg: array}."""
    assert name not in {c["name"] for c in CASES}
    entry = {"name": name, "op": op, "args": [], "kwargs": kwargs, "array_kwargs": [],
             "tf": tf_how, "exact": exact, "terms": int(terms),
             "dtype": np.asarray(args[0][1]).dtype.name}
    for role, a in args:
        ARRAYS[f"{name}__{role}"] = np.asarray(a)
        entry["args"].append(role)
    for key, a in (array_kwargs or {}).items():
        if a is not None:
            ARRAYS[f"{name}__{key}"] = np.asarray(a)
            entry["array_kwargs"].append(key)
    expected = np.asarray(expected)
    assert expected.dtype == np.asarray(args[0][1]).dtype
    ARRAYS[f"{name}__expected"] = expected
    CASES.append(entry)


def run(fn):
    with tf.device("/CPU:0"):
        return np.asarray(fn())


def bias_act(y, bias, act):
    if bias is not None:
        y = tf.nn.bias_add(y, bias)
    return act_tf(y, act)


def keras_out(cls, weights, x, **kw):
    layer = cls(dtype=x.dtype.name, use_bias=True, **kw)
    layer.build(x.shape)
    layer.set_weights(weights)
    with tf.device("/CPU:0"):
        return np.asarray(layer(x))


f32, f64 = np.float32, np.float64

# --- depthwise_conv2d --------------------------------------------------------------------------
for name, dt, shape, k, m, strides, pad, dil, form_strides, form_dil, bias, act in [
    ("dw_same_s1", f32, (1, 6, 7, 3), (3, 3), 1, (1, 1), "SAME", (1, 1), [1, 1, 1, 1], None, False, None),
    ("dw_valid_s2_m2", f32, (2, 7, 8, 2), (3, 3), 2, (2, 2), "VALID", (1, 1), [1, 2, 2, 1], None, True,
     "relu"),
    ("dw_same_d2_m3", f32, (1, 8, 7, 2), (3, 2), 3, (1, 1), "SAME", (2, 2), 1, 2, False, None),
    ("dw_explicit_m2", f32, (1, 5, 6, 3), (2, 3), 2, (1, 1), [[0, 0], [1, 2], [0, 3], [0, 0]], (1, 1),
     (1, 1), None, True, "relu6"),
    ("dw_same_s2_f64", f64, (2, 7, 7, 3), (3, 3), 1, (2, 2), "SAME", (1, 1), 2, None, False, None),
    ("dw_valid_d2_f64", f64, (1, 9, 8, 2), (3, 3), 2, (1, 1), "VALID", (2, 1), (1, 1), (2, 1), True, None),
]:
    x = rand(shape, dt)
    w = rand(k + (shape[-1], m), dt)
    b = rand((shape[-1] * m,), dt) if bias else None
    y = run(lambda: bias_act(tf.nn.depthwise_conv2d(x, w, [1, *strides, 1], pad, dilations=list(dil)),
                             b, act))
    add(name, "depthwise_conv2d", [("input", x), ("filter", w)],
        {"strides": form_strides, "padding": pad, "data_format": "NHWC", "dilations": form_dil,
         "activation": act}, y, "tf.nn.depthwise_conv2d + bias_add + activation",
        array_kwargs={"bias": b}, terms=k[0] * k[1])

# NCHW (TF NHWC, transposed)
x = rand((1, 6, 5, 3), f32)
w = rand((3, 3, 3, 2), f32)
y = run(lambda: tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME"))
add("dw_nchw_same_m2", "depthwise_conv2d", [("input", nchw(x)), ("filter", w)],
    {"strides": [1, 1, 1, 1], "padding": "SAME", "data_format": "NCHW", "dilations": None},
    nchw(y), "tf.nn.depthwise_conv2d in NHWC, transposed", terms=9)

# Unequal strides and stride with dilation: TF's depthwise refuses (float64) or is wrong; dense conv2d.
for name, dt, shape, strides, dil, pad in [
    ("dw_strides12_dense", f32, (1, 7, 9, 2), (1, 2), (1, 1), "SAME"),
    ("dw_s2_d2_dense_f64", f64, (1, 11, 10, 2), (2, 2), (2, 2), "VALID"),
]:
    x = rand(shape, dt)
    w = rand((3, 3, shape[-1], 2), dt)
    y = run(lambda: tf.nn.conv2d(x, dense_depthwise(w), [1, *strides, 1], pad, dilations=[1, *dil, 1]))
    add(name, "depthwise_conv2d", [("input", x), ("filter", w)],
        {"strides": list(strides), "padding": pad, "data_format": "NHWC", "dilations": list(dil)},
        y, "tf.nn.conv2d with the dense block-diagonal filter", terms=9)

# --- separable_conv2d ----------------------------------------------------------------------------
for name, dt, shape, k, m, o, strides, pad, dil in [
    ("sep_same_s1", f32, (1, 6, 6, 3), (3, 3), 1, 4, (1, 1), "SAME", (1, 1)),
    ("sep_valid_s2_m2", f32, (2, 8, 7, 2), (3, 3), 2, 5, (2, 2), "VALID", (1, 1)),
    ("sep_same_d2_f64", f64, (1, 9, 9, 3), (3, 3), 1, 2, (1, 1), "SAME", (2, 2)),
    ("sep_explicit_m3", f32, (1, 5, 7, 2), (2, 2), 3, 3, (1, 1), [[0, 0], [2, 1], [1, 0], [0, 0]], (1, 1)),
]:
    x = rand(shape, dt)
    wd = rand(k + (shape[-1], m), dt)
    wp = rand((1, 1, shape[-1] * m, o), dt)
    y = run(lambda: tf.nn.separable_conv2d(x, wd, wp, [1, *strides, 1], pad, dilations=list(dil)))
    add(name, "separable_conv2d", [("input", x), ("depthwise_filter", wd), ("pointwise_filter", wp)],
        {"strides": list(strides), "padding": pad, "data_format": "NHWC", "dilations": list(dil)},
        y, "tf.nn.separable_conv2d", terms=k[0] * k[1] + shape[-1] * m)

x = rand((1, 7, 6, 2), f32)
wd = rand((3, 3, 2, 2), f32)
wp = rand((1, 1, 4, 3), f32)
y = run(lambda: tf.nn.separable_conv2d(x, wd, wp, [1, 1, 1, 1], "VALID"))
add("sep_nchw_valid", "separable_conv2d",
    [("input", nchw(x)), ("depthwise_filter", wd), ("pointwise_filter", wp)],
    {"strides": [1, 1, 1, 1], "padding": "VALID", "data_format": "NCHW", "dilations": None},
    nchw(y), "tf.nn.separable_conv2d in NHWC, transposed", terms=9 + 4)

# depthwise bias + activation between the steps, then bias + activation
x = rand((1, 6, 6, 3), f32)
wd = rand((3, 3, 3, 2), f32)
wp = rand((1, 1, 6, 4), f32)
bd = rand((6,), f32)
b = rand((4,), f32)
y = run(lambda: bias_act(tf.nn.conv2d(act_tf(tf.nn.bias_add(tf.nn.depthwise_conv2d(
    x, wd, [1, 1, 1, 1], "SAME"), bd), "relu6"), wp, 1, "VALID"), b, "relu"))
add("sep_dwbias_relu6_bias_relu", "separable_conv2d",
    [("input", x), ("depthwise_filter", wd), ("pointwise_filter", wp)],
    {"strides": 1, "padding": "SAME", "data_format": "NHWC", "dilations": None,
     "depthwise_activation": "relu6", "activation": "relu"},
    y, "depthwise_conv2d + bias_add + relu6, conv2d 1x1 + bias_add + relu",
    array_kwargs={"depthwise_bias": bd, "bias": b}, terms=9 + 6)

# --- conv2d --------------------------------------------------------------------------------------
for name, dt, shape, k, o, strides, pad, dil, bias, act in [
    ("conv_same_s1", f32, (1, 6, 6, 3), (3, 3), 4, (1, 1), "SAME", (1, 1), False, None),
    ("conv_same_s2_d2", f32, (1, 10, 9, 2), (3, 3), 3, (2, 2), "SAME", (2, 2), True, "relu"),
    ("conv_explicit_f64", f64, (2, 5, 6, 2), (2, 3), 3, (1, 2), [[0, 0], [1, 1], [2, 0], [0, 0]], (1, 1),
     True, "relu6"),
]:
    x = rand(shape, dt)
    w = rand(k + (shape[-1], o), dt)
    b = rand((o,), dt) if bias else None
    y = run(lambda: bias_act(tf.nn.conv2d(x, w, [1, *strides, 1], pad, dilations=[1, *dil, 1]), b, act))
    add(name, "conv2d", [("input", x), ("filters", w)],
        {"strides": list(strides), "padding": pad, "data_format": "NHWC", "dilations": list(dil),
         "activation": act}, y, "tf.nn.conv2d + bias_add + activation",
        array_kwargs={"bias": b}, terms=k[0] * k[1] * shape[-1])

x = rand((1, 7, 6, 3), f32)
w = rand((3, 3, 3, 2), f32)
y = run(lambda: tf.nn.conv2d(x, w, [1, 2, 1, 1], "SAME"))
add("conv_nchw_s21", "conv2d", [("input", nchw(x)), ("filters", w)],
    {"strides": [1, 1, 2, 1], "padding": "SAME", "data_format": "NCHW", "dilations": None},
    nchw(y), "tf.nn.conv2d in NHWC, transposed", terms=27)

# --- pointwise_conv2d ----------------------------------------------------------------------------
x = rand((2, 4, 5, 6), f32)
w = rand((1, 1, 6, 3), f32)
b = rand((3,), f32)
y = run(lambda: bias_act(tf.nn.conv2d(x, w, 1, "VALID"), b, "relu6"))
add("pw_bias_relu6", "pointwise_conv2d", [("input", x), ("filter", w)],
    {"data_format": "NHWC", "activation": "relu6"}, y, "tf.nn.conv2d 1x1 + bias_add + relu6",
    array_kwargs={"bias": b}, terms=6)
x = rand((1, 3, 4, 5), f64)
w = rand((1, 1, 5, 4), f64)
y = run(lambda: tf.nn.conv2d(x, w, 1, "VALID"))
add("pw_nchw_f64", "pointwise_conv2d", [("input", nchw(x)), ("filter", w)],
    {"data_format": "NCHW"}, nchw(y), "tf.nn.conv2d 1x1 in NHWC, transposed", terms=5)

# --- 1-D -----------------------------------------------------------------------------------------
x = rand((2, 11, 3), f32)
w = rand((3, 3, 4), f32)
y = run(lambda: tf.nn.conv1d(x, w, 2, "SAME"))
add("conv1d_same_s2", "conv1d", [("input", x), ("filters", w)],
    {"stride": 2, "padding": "SAME", "data_format": "NWC", "dilations": None}, y, "tf.nn.conv1d",
    terms=9)

x = rand((1, 12, 2), f32)
w = rand((3, 2, 3), f32)
b = rand((3,), f32)
y = keras_out(keras.layers.Conv1D, [w, b], x, filters=3, kernel_size=3, dilation_rate=2,
              padding="causal", activation="relu")
add("conv1d_causal_d2_keras", "conv1d", [("input", x), ("filters", w)],
    {"stride": 1, "padding": "CAUSAL", "data_format": "NWC", "dilations": 2, "activation": "relu"},
    y, "keras.layers.Conv1D(padding='causal', dilation_rate=2, activation='relu')",
    array_kwargs={"bias": b}, terms=6)

x = rand((1, 10, 3), f32)
w = rand((3, 3, 2), f32)
y = run(lambda: tf.nn.depthwise_conv2d(x[:, None], w[None], [1, 1, 1, 1], "VALID")[:, 0])
add("dw1d_valid_m2", "depthwise_conv1d", [("input", x), ("filter", w)],
    {"stride": 1, "padding": "VALID", "data_format": "NWC", "dilations": None}, y,
    "tf.nn.depthwise_conv2d on [N, 1, W, C]", terms=3)

x = rand((2, 9, 2), f64)
w = rand((4, 2, 3), f64)
b = rand((6,), f64)
y = keras_out(keras.layers.DepthwiseConv1D, [w, b], np.pad(x, ((0, 0), (3, 0), (0, 0))), kernel_size=4,
              strides=2, depth_multiplier=3, padding="valid", activation="relu6")
add("dw1d_causal_s2_keras_f64", "depthwise_conv1d", [("input", x), ("filter", w)],
    {"stride": 2, "padding": "CAUSAL", "data_format": "NWC", "dilations": None, "activation": "relu6"},
    y, "keras.layers.DepthwiseConv1D(valid) on the input left-padded by k-1 (Keras 3 has no causal here)",
    array_kwargs={"bias": b}, terms=4)

x = rand((1, 13, 3), f32)
wd = rand((3, 3, 2), f32)
wp = rand((1, 6, 4), f32)
b = rand((4,), f32)
y = keras_out(keras.layers.SeparableConv1D, [wd, wp, b], x, filters=4, kernel_size=3, strides=2,
              depth_multiplier=2, padding="same", activation="relu6")
add("sep1d_same_s2_keras", "separable_conv1d",
    [("input", x), ("depthwise_filter", wd), ("pointwise_filter", wp)],
    {"stride": 2, "padding": "SAME", "data_format": "NWC", "dilations": None, "activation": "relu6"},
    y, "keras.layers.SeparableConv1D(padding='same', strides=2, activation='relu6')",
    array_kwargs={"bias": b}, terms=3 + 6)

x = rand((1, 16, 4), f32)
wd = rand((7, 4, 1), f32)
wp = rand((1, 4, 4), f32)
y = run(lambda: tf.nn.separable_conv2d(np.pad(x, ((0, 0), (6, 0), (0, 0)))[:, None], wd[None], wp[None],
                                       [1, 1, 1, 1], "VALID")[:, 0])
add("sep1d_causal_k7_ncw", "separable_conv1d",
    [("input", ncw(x)), ("depthwise_filter", wd), ("pointwise_filter", wp)],
    {"stride": 1, "padding": "CAUSAL", "data_format": "NCW", "dilations": None}, ncw(y),
    "tf.pad left 6, tf.nn.separable_conv2d VALID on [N, 1, W, C], transposed to NCW", terms=7 + 4)

x = rand((1, 9, 2), f32)
wd = rand((3, 2, 2), f32)
wp = rand((1, 4, 3), f32)
y = run(lambda: tf.nn.separable_conv2d(np.pad(x, ((0, 0), (2, 1), (0, 0)))[:, None], wd[None], wp[None],
                                       [1, 2, 2, 1], "VALID")[:, 0])
add("sep1d_explicit_s2", "separable_conv1d",
    [("input", x), ("depthwise_filter", wd), ("pointwise_filter", wp)],
    {"stride": 2, "padding": [[0, 0], [2, 1], [0, 0]], "data_format": "NWC", "dilations": None}, y,
    "tf.pad (2, 1), tf.nn.separable_conv2d VALID stride 2 on [N, 1, W, C]", terms=3 + 4)

# --- Keras 2-D layers (bias + activation) --------------------------------------------------------
x = rand((1, 7, 8, 3), f32)
w = rand((3, 3, 3, 2), f32)
b = rand((6,), f32)
y = keras_out(keras.layers.DepthwiseConv2D, [w, b], x, kernel_size=3, strides=2, depth_multiplier=2,
              padding="same", activation="relu")
add("keras_dw_same_s2_relu", "depthwise_conv2d", [("input", x), ("filter", w)],
    {"strides": 2, "padding": "SAME", "data_format": "NHWC", "dilations": None, "activation": "relu"},
    y, "keras.layers.DepthwiseConv2D", array_kwargs={"bias": b}, terms=9)

x = rand((1, 11, 10, 2), f32)
wd = rand((3, 3, 2, 1), f32)
wp = rand((1, 1, 2, 3), f32)
b = rand((3,), f32)
y = keras_out(keras.layers.SeparableConv2D, [wd, wp, b], x, filters=3, kernel_size=3, strides=2,
              dilation_rate=2, padding="same", activation="relu")
add("keras_sep_s2_d2_relu", "separable_conv2d",
    [("input", x), ("depthwise_filter", wd), ("pointwise_filter", wp)],
    {"strides": 2, "padding": "SAME", "data_format": "NHWC", "dilations": 2, "activation": "relu"},
    y, "keras.layers.SeparableConv2D(strides=2, dilation_rate=2): Keras decomposes stride+dilation",
    array_kwargs={"bias": b}, terms=9 + 2)

x = rand((2, 6, 7, 2), f64)
wd = rand((2, 3, 2, 2), f64)
wp = rand((1, 1, 4, 2), f64)
b = rand((2,), f64)
y = keras_out(keras.layers.SeparableConv2D, [wd, wp, b], x, filters=2, kernel_size=(2, 3),
              depth_multiplier=2, padding="valid", activation="relu6")
add("keras_sep_valid_relu6_f64", "separable_conv2d",
    [("input", x), ("depthwise_filter", wd), ("pointwise_filter", wp)],
    {"strides": 1, "padding": "VALID", "data_format": "NHWC", "dilations": None, "activation": "relu6"},
    y, "keras.layers.SeparableConv2D", array_kwargs={"bias": b}, terms=6 + 4)

x = rand((1, 6, 6, 3), f32)
w = rand((3, 3, 3, 2), f32)
b = rand((2,), f32)
y = keras_out(keras.layers.Conv2D, [w, b], x, filters=2, kernel_size=3, padding="same",
              activation="relu6")
add("keras_conv2d_same_relu6", "conv2d", [("input", x), ("filters", w)],
    {"strides": 1, "padding": "SAME", "data_format": "NHWC", "dilations": None, "activation": "relu6"},
    y, "keras.layers.Conv2D", array_kwargs={"bias": b}, terms=27)

# --- The founding example (SEMANTICS.md), exact ----------------------------------------------------
x = np.arange(20, dtype=np.float32).reshape(1, 1, 10, 2)
w1 = np.ones((1, 3, 2, 2), np.float32)
w2 = np.ones((1, 3, 2, 1), np.float32)
w3 = np.ones((1, 1, 2, 2), np.float32)
s4 = [1, 1, 1, 1]
geo = {"strides": s4, "padding": "VALID"}
add("founding_conv2d", "conv2d", [("input", x), ("filters", w1)], geo,
    run(lambda: tf.nn.conv2d(x, w1, s4, "VALID")), "tf.nn.conv2d", exact=True, terms=6)
y2 = run(lambda: tf.nn.depthwise_conv2d(x, w2, s4, "VALID"))
add("founding_depthwise", "depthwise_conv2d", [("input", x), ("filter", w2)], geo, y2,
    "tf.nn.depthwise_conv2d", exact=True, terms=3)
add("founding_pointwise", "pointwise_conv2d", [("input", y2), ("filter", w3)], {},
    run(lambda: tf.nn.conv2d(y2, w3, s4, "VALID")), "tf.nn.conv2d 1x1", exact=True, terms=2)
add("founding_separable", "separable_conv2d",
    [("input", x), ("depthwise_filter", w2), ("pointwise_filter", w3)], geo,
    run(lambda: tf.nn.separable_conv2d(x, w2, w3, s4, "VALID")), "tf.nn.separable_conv2d",
    exact=True, terms=5)

# --- Every combination of the fused options ------------------------------------------------------
# (appended after the cases above, so their random arrays stay what they were)
# depthwise_conv2d / pointwise_conv2d / conv2d: bias x activation.
for op in ("depthwise_conv2d", "pointwise_conv2d", "conv2d"):
    for j, (has_b, act) in enumerate([(b_, a_) for b_ in (False, True) for a_ in (None, "relu", "relu6")]):
        dt = (f32, f64)[j % 2]
        x = rand((1, 5, 6, 3), dt)
        if op == "depthwise_conv2d":
            w = rand((3, 3, 3, 2), dt)
            out_c, terms = 6, 9
            y = tf.nn.depthwise_conv2d(x, w, [1, 1, 1, 1], "SAME")
            kwargs = {"strides": 1, "padding": "SAME", "data_format": "NHWC", "dilations": None}
            roles = [("input", x), ("filter", w)]
        elif op == "pointwise_conv2d":
            w = rand((1, 1, 3, 5), dt)
            out_c, terms = 5, 3
            y = tf.nn.conv2d(x, w, 1, "VALID")
            kwargs = {"data_format": "NHWC"}
            roles = [("input", x), ("filter", w)]
        else:
            w = rand((2, 3, 3, 4), dt)
            out_c, terms = 4, 18
            y = tf.nn.conv2d(x, w, 1, "VALID")
            kwargs = {"strides": 1, "padding": "VALID", "data_format": "NHWC", "dilations": None}
            roles = [("input", x), ("filters", w)]
        b = rand((out_c,), dt) if has_b else None
        y = run(lambda: bias_act(y, b, act))
        add(f"fused_{op}_b{int(has_b)}_{act}", op, roles, dict(kwargs, activation=act), y,
            f"tf.nn ({op}) + bias_add + activation", array_kwargs={"bias": b}, terms=terms)

# separable_conv2d: depthwise_bias x depthwise_activation x bias x activation (36 combinations).
for j, (has_db, dw_act, has_b, act) in enumerate(
        [(db_, da_, b_, a_) for db_ in (False, True) for da_ in (None, "relu", "relu6")
         for b_ in (False, True) for a_ in (None, "relu", "relu6")]):
    dt = (f32, f64)[j % 2]
    x = rand((1, 6, 5, 3), dt)
    wd = rand((3, 3, 3, 2), dt)
    wp = rand((1, 1, 6, 4), dt)
    bd = rand((6,), dt) if has_db else None
    b = rand((4,), dt) if has_b else None
    y = run(lambda: bias_act(tf.nn.conv2d(
        bias_act(tf.nn.depthwise_conv2d(x, wd, [1, 1, 1, 1], "SAME"), bd, dw_act), wp, 1, "VALID"), b, act))
    add(f"fused_sep_db{int(has_db)}_{dw_act}_b{int(has_b)}_{act}", "separable_conv2d",
        [("input", x), ("depthwise_filter", wd), ("pointwise_filter", wp)],
        {"strides": 1, "padding": "SAME", "data_format": "NHWC", "dilations": None,
         "depthwise_activation": dw_act, "activation": act},
        y, "depthwise_conv2d + bias_add + activation, conv2d 1x1 + bias_add + activation",
        array_kwargs={"depthwise_bias": bd, "bias": b}, terms=9 + 6)

# -------------------------------------------------------------------------------------------------
meta = {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
        "generator": "tests/python/data/make_golden.py", "cases": CASES}
np.savez_compressed(OUT, params=np.array(json.dumps(meta, sort_keys=True)), **ARRAYS)
print(f"{OUT}: {len(CASES)} cases, {os.path.getsize(OUT)} bytes", file=sys.stderr)
