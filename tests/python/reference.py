"""NumPy reference implementation of every sepcpp op, written from the definitions.

Everything is computed in float64 from the definition

    out[i] = sum_k x[i*s - pad_before + k*d] * w[k]        (per spatial axis)

with TensorFlow's argument conventions (tf.nn): filters in TF layouts, strides/dilations as an
int, a per-axis tuple or a full TF list, padding "SAME" / "VALID" / "CAUSAL" (1-D) / an explicit
TF list.  The loops run over kernel taps only; each tap is one strided slice of the zero-padded
input, so a call costs O(taps) NumPy operations.

The functions mirror sepcpp's signatures (without ``out=``) and always return float64 arrays in
the caller's layout.  They only accept valid arguments: validation is sepcpp's job, not the
reference's.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = [
    "depthwise_conv2d",
    "pointwise_conv2d",
    "separable_conv2d",
    "super_separable_conv2d",
    "super_separable_conv1d",
    "conv2d",
    "depthwise_conv1d",
    "separable_conv1d",
    "conv1d",
    "axis_geometry",
    "output_shape",
]

_CHANNELS_LAST = {"NHWC": True, "NCHW": False, "NWC": True, "NCW": False}


# --------------------------------------------------------------------------------------------
# Argument handling
# --------------------------------------------------------------------------------------------
def _spatial_values(value, nsp, channels_last):
    """int / per-axis sequence / full TF list (nsp + 2 entries) -> tuple of nsp ints."""
    if value is None:
        return (1,) * nsp
    if np.ndim(value) == 0:
        return (int(value),) * nsp
    v = [int(a) for a in value]
    if len(v) == nsp:
        return tuple(v)
    if len(v) == nsp + 2:
        return tuple(v[1:-1]) if channels_last else tuple(v[2:])
    raise AssertionError(f"reference: cannot interpret {value!r} for {nsp} spatial axes")


def axis_geometry(size, kernel, stride, dilation, padding):
    """Resolve one spatial axis.

    ``padding`` is "SAME", "VALID", "CAUSAL" or an explicit (before, after) pair.
    Returns (pad_before, pad_after, out_size).
    """
    eff = (kernel - 1) * dilation + 1
    if isinstance(padding, str):
        if padding == "VALID":
            before = after = 0
        elif padding == "SAME":
            out = -(-size // stride)
            need = max(0, (out - 1) * stride + eff - size)
            before = need // 2
            after = need - before
        elif padding == "CAUSAL":
            before, after = (kernel - 1) * dilation, 0
        else:
            raise AssertionError(f"reference: unknown padding {padding!r}")
    else:
        before, after = (int(p) for p in padding)
    out = (size + before + after - eff) // stride + 1
    assert out >= 0 and size + before + after >= eff, "reference: kernel larger than input"
    if padding == "SAME":
        assert out == -(-size // stride)
    return before, after, out


def _spatial_padding(padding, nsp, channels_last):
    if isinstance(padding, str):
        return [padding] * nsp
    pairs = [tuple(int(a) for a in p) for p in padding]
    assert len(pairs) == nsp + 2
    return pairs[1:-1] if channels_last else pairs[2:]


def _to_channels_last(x, channels_last):
    x = np.asarray(x, dtype=np.float64)
    if channels_last:
        return x
    return np.moveaxis(x, 1, -1)


def _from_channels_last(y, channels_last):
    if channels_last:
        return y
    return np.ascontiguousarray(np.moveaxis(y, -1, 1))


def _activate(y, activation):
    if activation is None:
        return y
    if activation == "relu":
        return np.maximum(y, 0.0)
    if activation == "relu6":
        return np.minimum(np.maximum(y, 0.0), 6.0)
    raise AssertionError(f"reference: unknown activation {activation!r}")


def _bias_act(y, bias, activation):
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.float64)
    return _activate(y, activation)


# --------------------------------------------------------------------------------------------
# Channels-last cores: x is [N, *spatial, C] float64
# --------------------------------------------------------------------------------------------
def _pad_and_taps(x, kshape, strides, dilations, paddings):
    """Yield (tap index, strided slice [N, *out, C]) for every kernel tap; also return out."""
    nsp = len(kshape)
    geo = [
        axis_geometry(x.shape[1 + a], kshape[a], strides[a], dilations[a], paddings[a])
        for a in range(nsp)
    ]
    pad = [(0, 0)] + [(g[0], g[1]) for g in geo] + [(0, 0)]
    xp = np.pad(x, pad)
    out = tuple(g[2] for g in geo)

    def taps():
        for tap in itertools.product(*(range(k) for k in kshape)):
            sl = tuple(
                slice(t * d, t * d + (o - 1) * s + 1, s)
                for t, d, s, o in zip(tap, dilations, strides, out)
            )
            yield tap, xp[(slice(None),) + sl + (slice(None),)]

    return out, taps()


def _depthwise_cl(x, w, strides, dilations, paddings):
    w = np.asarray(w, dtype=np.float64)
    kshape = w.shape[:-2]
    c, m = w.shape[-2:]
    assert x.shape[-1] == c
    out, taps = _pad_and_taps(x, kshape, strides, dilations, paddings)
    acc = np.zeros((x.shape[0],) + out + (c, m))
    for tap, patch in taps:
        acc += patch[..., None] * w[tap]
    return acc.reshape(acc.shape[:-2] + (c * m,))


def _pointwise_cl(x, w, groups=1):
    w = np.asarray(w, dtype=np.float64)
    cin, o = w.shape[-2:]
    w = w.reshape(cin, o)
    cm = x.shape[-1]
    assert cm == cin * groups and o % groups == 0
    og = o // groups
    parts = [x[..., g * cin:(g + 1) * cin] @ w[:, g * og:(g + 1) * og] for g in range(groups)]
    return np.concatenate(parts, axis=-1)


def _conv_cl(x, w, strides, dilations, paddings):
    w = np.asarray(w, dtype=np.float64)
    kshape = w.shape[:-2]
    c, o = w.shape[-2:]
    assert x.shape[-1] == c
    out, taps = _pad_and_taps(x, kshape, strides, dilations, paddings)
    acc = np.zeros((x.shape[0],) + out + (o,))
    for tap, patch in taps:
        acc += patch @ w[tap]
    return acc


# --------------------------------------------------------------------------------------------
# Public reference ops (mirror sepcpp's signatures, without out=)
# --------------------------------------------------------------------------------------------
def _prep(input, strides, padding, data_format, dilations, nsp):
    cl = _CHANNELS_LAST[data_format]
    x = _to_channels_last(input, cl)
    assert x.ndim == nsp + 2
    s = _spatial_values(strides, nsp, cl)
    d = _spatial_values(dilations, nsp, cl)
    p = _spatial_padding(padding, nsp, cl)
    return cl, x, s, d, p


def depthwise_conv2d(input, filter, strides, padding, data_format="NHWC", dilations=None, *,
                     bias=None, activation=None):
    cl, x, s, d, p = _prep(input, strides, padding, data_format, dilations, 2)
    y = _depthwise_cl(x, filter, s, d, p)
    return _from_channels_last(_bias_act(y, bias, activation), cl)


def pointwise_conv2d(input, filter, data_format="NHWC", *, bias=None, activation=None):
    cl = _CHANNELS_LAST[data_format]
    x = _to_channels_last(input, cl)
    y = _pointwise_cl(x, filter)
    return _from_channels_last(_bias_act(y, bias, activation), cl)


def super_separable_conv2d(input, depthwise_filter, pointwise_filter, groups, strides, padding,
                           data_format="NHWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None):
    """Depthwise conv, then a grouped 1x1 conv with ``groups`` groups.

    pointwise_filter is [1, 1, C*M/groups, O]; group g maps intermediate channels
    [g*C*M/groups, (g+1)*C*M/groups) to output channels [g*O/groups, (g+1)*O/groups).
    """
    cl, x, s, d, p = _prep(input, strides, padding, data_format, dilations, 2)
    mid = _bias_act(_depthwise_cl(x, depthwise_filter, s, d, p), depthwise_bias,
                    depthwise_activation)
    y = _pointwise_cl(mid, pointwise_filter, groups)
    return _from_channels_last(_bias_act(y, bias, activation), cl)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding,
                     data_format="NHWC", dilations=None, *, depthwise_bias=None,
                     depthwise_activation=None, bias=None, activation=None):
    return super_separable_conv2d(
        input, depthwise_filter, pointwise_filter, 1, strides, padding, data_format, dilations,
        depthwise_bias=depthwise_bias, depthwise_activation=depthwise_activation, bias=bias,
        activation=activation)


def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
           activation=None):
    cl, x, s, d, p = _prep(input, strides, padding, data_format, dilations, 2)
    y = _conv_cl(x, filters, s, d, p)
    return _from_channels_last(_bias_act(y, bias, activation), cl)


def depthwise_conv1d(input, filter, stride, padding, data_format="NWC", dilations=None, *,
                     bias=None, activation=None):
    cl, x, s, d, p = _prep(input, stride, padding, data_format, dilations, 1)
    y = _depthwise_cl(x, filter, s, d, p)
    return _from_channels_last(_bias_act(y, bias, activation), cl)


def super_separable_conv1d(input, depthwise_filter, pointwise_filter, groups, stride, padding,
                           data_format="NWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None):
    """1-D super-separable: depthwise [k, C, M], grouped pointwise [1, C*M/groups, O]."""
    cl, x, s, d, p = _prep(input, stride, padding, data_format, dilations, 1)
    mid = _bias_act(_depthwise_cl(x, depthwise_filter, s, d, p), depthwise_bias,
                    depthwise_activation)
    y = _pointwise_cl(mid, pointwise_filter, groups)
    return _from_channels_last(_bias_act(y, bias, activation), cl)


def separable_conv1d(input, depthwise_filter, pointwise_filter, stride, padding,
                     data_format="NWC", dilations=None, *, depthwise_bias=None,
                     depthwise_activation=None, bias=None, activation=None):
    return super_separable_conv1d(
        input, depthwise_filter, pointwise_filter, 1, stride, padding, data_format, dilations,
        depthwise_bias=depthwise_bias, depthwise_activation=depthwise_activation, bias=bias,
        activation=activation)


def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None, *, bias=None,
           activation=None):
    cl, x, s, d, p = _prep(input, stride, padding, data_format, dilations, 1)
    y = _conv_cl(x, filters, s, d, p)
    return _from_channels_last(_bias_act(y, bias, activation), cl)


def output_shape(op, input_shape, filter_shape, strides=1, padding="VALID", data_format=None,
                 dilations=None, pointwise_shape=None):
    """Output shape of ``op`` without computing anything (used for zero-size and out= tests)."""
    nsp = len(input_shape) - 2
    if data_format is None:
        data_format = "NHWC" if nsp == 2 else "NWC"
    cl = _CHANNELS_LAST[data_format]
    n = input_shape[0]
    sp = input_shape[1:-1] if cl else input_shape[2:]
    s = _spatial_values(strides, nsp, cl)
    d = _spatial_values(dilations, nsp, cl)
    if op.startswith("pointwise"):
        out_sp, ch = tuple(sp), filter_shape[-1]
    else:
        p = _spatial_padding(padding, nsp, cl)
        out_sp = tuple(axis_geometry(sp[a], filter_shape[a], s[a], d[a], p[a])[2]
                       for a in range(nsp))
        if op.startswith("depthwise"):
            ch = filter_shape[-2] * filter_shape[-1]
        elif op.startswith("separable"):
            ch = pointwise_shape[-1]
        else:
            ch = filter_shape[-1]
    return (n,) + out_sp + (ch,) if cl else (n, ch) + out_sp


# --------------------------------------------------------------------------------------------
# Test helpers shared by the test modules (comparison, memory-layout variants, filters)
# --------------------------------------------------------------------------------------------
def tolerance(dtype, reduction=1):
    """Allowed error relative to the output's scale (max |ref|, at least 1)."""
    if np.dtype(dtype) == np.float64:
        return 1e-12
    return 1e-4 if reduction > 200 else 1e-5


def assert_close(actual, expected, dtype, reduction=1, what=""):
    """`actual` has dtype `dtype`, the shape of `expected` and is within tolerance of it."""
    assert isinstance(actual, np.ndarray), f"{what}: expected a numpy array, got {type(actual)}"
    assert actual.dtype == np.dtype(dtype), f"{what}: dtype {actual.dtype}, expected {dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    if expected.size == 0:
        return
    scale = max(1.0, float(np.max(np.abs(expected))))
    diff = np.abs(actual.astype(np.float64) - expected)
    err = float(np.max(diff))
    tol = tolerance(dtype, reduction) * scale
    if not err <= tol:  # also catches NaN
        idx = np.unravel_index(int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff))),
                               diff.shape)
        raise AssertionError(
            f"{what}: max abs error {err:.3g} > {tol:.3g} (scale {scale:.3g}, "
            f"reduction {reduction}); first worst at {tuple(int(i) for i in idx)}: "
            f"got {actual[idx]!r}, expected {expected[idx]!r}")


def truncated_normal(rng, shape, stddev=1.0, dtype=np.float32):
    """Like tf.random.truncated_normal: normal values re-drawn until within 2 stddev."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2.0
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2.0
    return (x * stddev).astype(dtype)


class ArrayLike:
    """An object that is not an ndarray but exposes __array__."""

    def __init__(self, a):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self._a.dtype:
            return self._a.astype(dtype)
        return self._a.copy() if copy else self._a


class DLPackOnly:
    """An object that exposes only the DLPack protocol (no __array__, no buffer protocol)."""

    def __init__(self, a):
        self._a = a

    def __dlpack__(self, *args, **kwargs):
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._a.__dlpack_device__()


LAYOUT_KINDS = ["contiguous", "fortran", "transposed", "strided", "negative", "readonly",
                "array_like", "dlpack", "dlpack_strided"]


def layout_variant(a, kind):
    """An object holding exactly the values of `a` with the memory layout `kind`."""
    a = np.asarray(a)
    if kind == "contiguous":
        return np.ascontiguousarray(a)
    if kind == "fortran":
        return np.asfortranarray(a)
    if kind == "transposed":
        perm = tuple(range(1, a.ndim)) + (0,)
        base = np.ascontiguousarray(a.transpose(perm))
        return base.transpose(np.argsort(perm))
    if kind == "strided":
        base = np.full(tuple(2 * s + 1 for s in a.shape), np.nan, dtype=a.dtype)
        sl = tuple(slice(1, 1 + 2 * s, 2) for s in a.shape)
        base[sl] = a
        return base[sl]
    if kind == "negative":
        rev = (slice(None, None, -1),) * a.ndim
        base = np.ascontiguousarray(a[rev])
        return base[rev]
    if kind == "readonly":
        b = a.copy()
        b.flags.writeable = False
        return b
    if kind == "array_like":
        return ArrayLike(a.copy())
    if kind == "dlpack":
        return DLPackOnly(np.ascontiguousarray(a).copy())
    if kind == "dlpack_strided":
        return DLPackOnly(layout_variant(a, "transposed"))
    raise AssertionError(kind)
