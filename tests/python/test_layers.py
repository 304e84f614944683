"""Prepacked layers (sepcpp.DepthwiseConv2D, PointwiseConv2D, SeparableConv2D, Conv2D) on their own
terms, against the float64 NumPy reference (reference.py), not only against the functional ops:

- a layer owns its weights: changing the caller's filters and biases in place after construction,
  or deleting them (del + gc, their memory reused), changes nothing (a layer that borrowed the
  caller's buffer, as the functional path may, would read the new values or freed memory);
- ``layer(x, out=...)``: contiguous and strided ``out``, its checks;
- inputs and weights that are not NumPy arrays: torch tensors (through DLPack, so sharing the
  tensor's memory), objects with only ``__array__``;
- NCHW layers; SeparableConv2D with groups > 1 against the reference's grouped pointwise step.
"""

from __future__ import annotations

import gc

import numpy as np
import pytest

import reference as ref
from optional_deps import import_optional

import sepcpp

DTYPES = [np.float32, np.float64]
LAYOUTS = ["NHWC", "NCHW"]
# depthwise and separable with a depth multiplier of 1 (where a dense filter could be used in
# place, as the functional ops do) and of 2.
KINDS = ["depthwise", "depthwise_m2", "pointwise", "separable", "super_separable", "conv"]
N, H, W, C, O, G = 2, 9, 11, 12, 18, 3


def _m(kind):
    return 2 if kind in ("depthwise_m2", "super_separable") else 1


def _padding(layout):
    """An explicit, asymmetric padding in the layout's TensorFlow spelling."""
    return [[0, 0], [2, 0], [1, 2], [0, 0]] if layout == "NHWC" else [[0, 0], [0, 0], [2, 0], [1, 2]]


def _weights(kind, dtype, rng):
    """The layer's weight arrays (fresh, caller-owned) by keyword."""
    def a(*shape):
        return rng.standard_normal(shape).astype(dtype)

    M = _m(kind)
    if kind.startswith("depthwise"):
        return {"filter": a(3, 2, C, M), "bias": a(C * M)}
    if kind == "pointwise":
        return {"filter": a(1, 1, C, O), "bias": a(O)}
    if kind == "conv":
        return {"filters": a(3, 2, C, O), "bias": a(O)}
    g = G if kind == "super_separable" else 1
    return {"depthwise_filter": a(3, 2, C, M), "pointwise_filter": a(1, 1, C * M // g, O),
            "depthwise_bias": a(C * M), "bias": a(O)}


def _build(kind, layout, w):
    """(layer, reference function of x, reduction length) for weights `w` (a dict of arrays or
    array-likes; the reference gets float64 copies taken now)."""
    w64 = {k: np.array(np.asarray(v), dtype=np.float64) for k, v in w.items()}
    geo = dict(strides=(2, 1), padding=_padding(layout), data_format=layout, dilations=(1, 2))
    M = _m(kind)
    if kind.startswith("depthwise"):
        layer = sepcpp.DepthwiseConv2D(w["filter"], **geo, bias=w["bias"], activation="relu6")
        return layer, lambda x: ref.depthwise_conv2d(x, **w64, **geo, activation="relu6"), 6
    if kind == "pointwise":
        layer = sepcpp.PointwiseConv2D(w["filter"], data_format=layout, bias=w["bias"], activation="relu")
        return layer, lambda x: ref.pointwise_conv2d(x, **w64, data_format=layout, activation="relu"), C
    if kind == "conv":
        layer = sepcpp.Conv2D(w["filters"], **geo, bias=w["bias"])
        return layer, lambda x: ref.conv2d(x, **w64, **geo), 6 * C
    g = G if kind == "super_separable" else 1
    layer = sepcpp.SeparableConv2D(w["depthwise_filter"], w["pointwise_filter"], **geo,
                                   depthwise_bias=w["depthwise_bias"], depthwise_activation="relu",
                                   bias=w["bias"], activation="relu6", groups=g)

    def want(x):
        return ref.super_separable_conv2d(x, w64["depthwise_filter"], w64["pointwise_filter"], g,
                                          **geo, depthwise_bias=w64["depthwise_bias"],
                                          depthwise_activation="relu", bias=w64["bias"], activation="relu6")
    return layer, want, 6 + C * M // g


def _input(layout, dtype, rng):
    shape = (N, H, W, C) if layout == "NHWC" else (N, C, H, W)
    return rng.standard_normal(shape).astype(dtype)


def _what(kind, layout, dtype, extra=""):
    return f"{kind} layer {layout} {np.dtype(dtype).name}{extra}"


PARAMS = [(k, lay, dt) for k in KINDS for lay in LAYOUTS for dt in DTYPES]
IDS = [f"{k}-{lay}-{np.dtype(dt).name}" for k, lay, dt in PARAMS]


@pytest.mark.parametrize("kind,layout,dtype", PARAMS, ids=IDS)
def test_layer_matches_reference(kind, layout, dtype, rng):
    layer, want, red = _build(kind, layout, _weights(kind, dtype, rng))
    assert layer.dtype == dtype and layer.data_format == layout
    for _ in range(2):  # the same layer on two inputs
        x = _input(layout, dtype, rng)
        expected = want(x)
        assert layer.output_shape(x.shape) == expected.shape
        ref.assert_close(layer(x), expected, dtype, red, _what(kind, layout, dtype))


@pytest.mark.parametrize("kind,layout,dtype", PARAMS, ids=IDS)
def test_layer_owns_its_weights(kind, layout, dtype, rng):
    """Weights changed in place, then deleted and their memory reused: the layer's output stays
    bit for bit what it was, and right by the reference taken before."""
    w = _weights(kind, dtype, rng)
    layer, want, red = _build(kind, layout, w)
    x = _input(layout, dtype, rng)
    y0 = layer(x)
    ref.assert_close(y0, want(x), dtype, red, _what(kind, layout, dtype))
    for v in w.values():
        v[...] = np.nan
    np.testing.assert_array_equal(layer(x), y0,
                                  err_msg=_what(kind, layout, dtype, " after the weights changed"))
    sizes = [v.nbytes for v in w.values()]
    del w, v
    gc.collect()
    # Allocations of the same sizes are likely to land in the freed blocks; fill them with NaN.
    junk = [np.full(s // np.dtype(dtype).itemsize, np.nan, dtype) for s in sizes for _ in range(4)]
    np.testing.assert_array_equal(layer(x), y0,
                                  err_msg=_what(kind, layout, dtype, " after the weights were freed"))
    del junk


@pytest.mark.parametrize("kind", KINDS)
def test_layer_owns_weights_given_as_views(kind, rng):
    """Weights given as strided views into a larger buffer (packed at construction): overwriting
    the whole buffer afterwards leaves the layer as it was."""
    dtype = np.float32
    w = _weights(kind, dtype, rng)
    views, buffers = {}, []
    for k, v in w.items():
        big = np.empty((2,) + v.shape, dtype)
        big[0] = v
        big[1] = np.nan
        buffers.append(big)
        views[k] = big[0][..., ::-1][..., ::-1] if v.ndim > 1 else big[0]
    layer, want, red = _build(kind, "NHWC", views)
    x = _input("NHWC", dtype, rng)
    y0 = layer(x)
    ref.assert_close(y0, want(x), dtype, red, _what(kind, "NHWC", dtype, " (weights as views)"))
    for big in buffers:
        big[...] = 1e30
    np.testing.assert_array_equal(layer(x), y0)


@pytest.mark.parametrize("kind,layout,dtype", PARAMS[::3], ids=IDS[::3])
def test_layer_out(kind, layout, dtype, rng):
    layer, want, red = _build(kind, layout, _weights(kind, dtype, rng))
    x = _input(layout, dtype, rng)
    expected = want(x)
    # Contiguous out, prefilled with NaN so an unwritten element fails.
    out = np.full(expected.shape, np.nan, dtype)
    res = layer(x, out=out)
    ref.assert_close(out, expected, dtype, red, _what(kind, layout, dtype, " out="))
    assert res is out or np.shares_memory(res, out)
    # A strided out: every other element of a larger array; the gaps stay untouched.
    big = np.full(expected.shape[:-1] + (2 * expected.shape[-1],), -7.0, dtype)
    res = layer(x, out=big[..., ::2])
    ref.assert_close(big[..., ::2], expected, dtype, red, _what(kind, layout, dtype, " strided out="))
    assert np.all(big[..., 1::2] == -7.0)
    # Its checks: dtype, shape, overlap with the input.
    other = np.float64 if dtype == np.float32 else np.float32
    with pytest.raises(TypeError, match="out"):
        layer(x, out=np.empty(expected.shape, other))
    with pytest.raises(ValueError):
        layer(x, out=np.empty(expected.shape[:-1] + (expected.shape[-1] + 1,), dtype))
    buf = np.empty(max(x.size, expected.size), dtype)
    xb = buf[:x.size].reshape(x.shape)
    xb[...] = x
    with pytest.raises(ValueError, match="out"):
        layer(xb, out=buf[:expected.size].reshape(expected.shape))
    np.testing.assert_array_equal(xb, x)  # refused before anything was written


class ArrayOnly:
    """An array-like with only __array__ (no buffer protocol, no DLPack)."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        return self._a if dtype is None else self._a.astype(dtype)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layer_array_like_input_and_weights(kind, layout, rng):
    dtype = np.float64
    w = _weights(kind, dtype, rng)
    layer, want, red = _build(kind, layout, {k: ArrayOnly(v) for k, v in w.items()})
    x = _input(layout, dtype, rng)
    y = layer(ArrayOnly(x))
    ref.assert_close(y, want(x), dtype, red, _what(kind, layout, dtype, " __array__ objects"))
    for v in w.values():
        v[...] = 0.0
    np.testing.assert_array_equal(layer(ArrayOnly(x)), y)


@pytest.mark.uses("torch")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layer_torch_tensors(kind, layout, rng):
    """Torch tensors as weights (changed in place after construction: DLPack shares their memory,
    so the layer must have copied) and as inputs, contiguous and permuted."""
    torch = import_optional("torch")
    dtype = np.float32
    w = _weights(kind, dtype, rng)
    tw = {k: torch.from_numpy(v.copy()) for k, v in w.items()}
    layer, want, red = _build(kind, layout, tw)
    x = _input(layout, dtype, rng)
    expected = want(x)
    y = layer(torch.from_numpy(x.copy()))
    ref.assert_close(y, expected, dtype, red, _what(kind, layout, dtype, " torch input"))
    # A non-contiguous tensor: a permuted view of a tensor with the axes in another order.
    xt = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, 0, -1))).permute(3, 0, 1, 2)
    assert not xt.is_contiguous()
    ref.assert_close(layer(xt), expected, dtype, red, _what(kind, layout, dtype, " permuted torch input"))
    for t in tw.values():
        t.fill_(float("nan"))
    np.testing.assert_array_equal(layer(torch.from_numpy(x.copy())), y)
