"""Float64 NumPy reference for the gradients of sepcpp's ops, written from the definitions.

The forward op (reference.py) is, per kernel tap, one strided slice of the zero-padded input times
the tap's weights. Its adjoint is therefore, per tap: the output gradient times the tap's weights
added back into the same strided slice of a zero-padded input gradient (then the padding cropped
off), and the filter gradient of a tap is the sum over batch and pixels of that slice times the
output gradient. The separable gradient applies the chain rule to the forward intermediates,
with TensorFlow's activation gradients (relu: where x > 0; relu6: where 0 < x < 6).

Functions take TensorFlow's arguments as the 2-D sepcpp ops do (NHWC/NCHW, int/pair/TF-list
strides, "SAME"/"VALID"/explicit 4-list padding) and return float64 arrays. 1-D ops are tested
through their 2-D lift (height 1), which tests/python/test_backprop.py builds from the 1-D
arguments on its own.
"""

from __future__ import annotations

import itertools

import numpy as np
from reference import _CHANNELS_LAST, _prep, axis_geometry


def _geometry(x_shape_cl, kshape, s, d, p):
    return [axis_geometry(x_shape_cl[1 + a], kshape[a], s[a], d[a], p[a]) for a in range(2)]


def _slices(kshape, s, d, geo):
    out = tuple(g[2] for g in geo)
    for tap in itertools.product(*(range(k) for k in kshape)):
        yield tap, (slice(None),) + tuple(
            slice(t * dd, t * dd + (o - 1) * ss + 1, ss) for t, dd, ss, o in zip(tap, d, s, out)) + (slice(None),)


def _padded(x_cl, geo):
    return np.pad(x_cl, [(0, 0)] + [(g[0], g[1]) for g in geo] + [(0, 0)])


def _crop(xp, geo):
    h, w = xp.shape[1:3]
    return xp[:, geo[0][0]:h - geo[0][1], geo[1][0]:w - geo[1][1], :]


def _cl(a, cl):
    a = np.asarray(a, np.float64)
    return a if cl else np.moveaxis(a, 1, -1)


def _back(a, cl):
    return a if cl else np.ascontiguousarray(np.moveaxis(a, -1, 1))


def _input_shape_cl(sizes, cl):
    n, a, b, c = (int(v) for v in sizes)
    return (n, a, b, c) if cl else (n, b, c, a)


def _resolve(strides, padding, data_format, dilations):
    cl = _CHANNELS_LAST[data_format]
    _, _, s, d, p = _prep(np.zeros((1, 1, 1, 1)), strides, padding, data_format, dilations, 2)
    return cl, s, d, p


# ---- depthwise -------------------------------------------------------------------------------

def depthwise_input(input_sizes, filter, out_backprop, strides, padding, data_format="NHWC", dilations=None):
    cl, s, d, p = _resolve(strides, padding, data_format, dilations)
    w = np.asarray(filter, np.float64)
    kh, kw, c, m = w.shape
    shape = _input_shape_cl(input_sizes, cl)
    geo = _geometry(shape, (kh, kw), s, d, p)
    dy = _cl(out_backprop, cl).reshape(shape[0], geo[0][2], geo[1][2], c, m)
    dxp = _padded(np.zeros(shape), geo)
    for tap, sl in _slices((kh, kw), s, d, geo):
        dxp[sl] += np.einsum("nhwcm,cm->nhwc", dy, w[tap])
    return _back(_crop(dxp, geo), cl)


def depthwise_filter(input, filter_sizes, out_backprop, strides, padding, data_format="NHWC", dilations=None):
    cl, s, d, p = _resolve(strides, padding, data_format, dilations)
    kh, kw, c, m = (int(v) for v in filter_sizes)
    x = _cl(input, cl)
    geo = _geometry(x.shape, (kh, kw), s, d, p)
    dy = _cl(out_backprop, cl).reshape(x.shape[0], geo[0][2], geo[1][2], c, m)
    xp = _padded(x, geo)
    dw = np.zeros((kh, kw, c, m))
    for tap, sl in _slices((kh, kw), s, d, geo):
        dw[tap] = np.einsum("nhwc,nhwcm->cm", xp[sl], dy)
    return dw


# ---- conv2d ----------------------------------------------------------------------------------

def conv_input(input_sizes, filters, out_backprop, strides, padding, data_format="NHWC", dilations=None):
    cl, s, d, p = _resolve(strides, padding, data_format, dilations)
    w = np.asarray(filters, np.float64)
    kh, kw = w.shape[:2]
    shape = _input_shape_cl(input_sizes, cl)
    geo = _geometry(shape, (kh, kw), s, d, p)
    dy = _cl(out_backprop, cl)
    dxp = _padded(np.zeros(shape), geo)
    for tap, sl in _slices((kh, kw), s, d, geo):
        dxp[sl] += dy @ w[tap].T
    return _back(_crop(dxp, geo), cl)


def conv_filter(input, filter_sizes, out_backprop, strides, padding, data_format="NHWC", dilations=None):
    cl, s, d, p = _resolve(strides, padding, data_format, dilations)
    kh, kw, c, o = (int(v) for v in filter_sizes)
    x = _cl(input, cl)
    geo = _geometry(x.shape, (kh, kw), s, d, p)
    dy = _cl(out_backprop, cl)
    xp = _padded(x, geo)
    dw = np.zeros((kh, kw, c, o))
    for tap, sl in _slices((kh, kw), s, d, geo):
        dw[tap] = np.einsum("nhwc,nhwo->co", xp[sl], dy)
    return dw


# ---- separable -------------------------------------------------------------------------------

def _act(y, a):
    if a is None:
        return y
    return np.clip(y, 0.0, 6.0 if a == "relu6" else np.inf)


def _act_grad(y, a):
    if a is None:
        return np.ones_like(y)
    if a == "relu":
        return (y > 0).astype(np.float64)
    return ((y > 0) & (y < 6)).astype(np.float64)


def separable(input, depthwise_filter, pointwise_filter, groups, out_backprop, strides, padding,
              data_format="NHWC", dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
              activation=None):
    """(input, depthwise_filter, pointwise_filter, depthwise_bias, bias) gradients, float64."""
    cl, s, d, p = _resolve(strides, padding, data_format, dilations)
    x = _cl(input, cl)
    wd = np.asarray(depthwise_filter, np.float64)
    wp = np.asarray(pointwise_filter, np.float64)[0, 0]
    kh, kw, c, m = wd.shape
    geo = _geometry(x.shape, (kh, kw), s, d, p)
    xp = _padded(x, geo)
    n, oh, ow = x.shape[0], geo[0][2], geo[1][2]
    mid = np.zeros((n, oh, ow, c, m))
    for tap, sl in _slices((kh, kw), s, d, geo):
        mid += xp[sl][..., None] * wd[tap]
    mid = mid.reshape(n, oh, ow, c * m)
    if depthwise_bias is not None:
        mid = mid + np.asarray(depthwise_bias, np.float64)
    a = _act(mid, depthwise_activation)
    kg, o = wp.shape
    og = o // groups
    z = np.concatenate([a[..., g * kg:(g + 1) * kg] @ wp[:, g * og:(g + 1) * og] for g in range(groups)], axis=-1)
    if bias is not None:
        z = z + np.asarray(bias, np.float64)
    dz = _cl(out_backprop, cl) * _act_grad(z, activation)
    dwp = np.zeros_like(wp)
    da = np.zeros_like(a)
    for g in range(groups):
        ag, dzg = a[..., g * kg:(g + 1) * kg], dz[..., g * og:(g + 1) * og]
        dwp[:, g * og:(g + 1) * og] = ag.reshape(-1, kg).T @ dzg.reshape(-1, og)  # (einsum's loop is slow)
        da[..., g * kg:(g + 1) * kg] = dzg @ wp[:, g * og:(g + 1) * og].T
    dmid = da * _act_grad(mid, depthwise_activation)
    dmid5 = dmid.reshape(n, oh, ow, c, m)
    dxp = np.zeros_like(xp)
    dwd = np.zeros_like(wd)
    for tap, sl in _slices((kh, kw), s, d, geo):
        dxp[sl] += np.einsum("nhwcm,cm->nhwc", dmid5, wd[tap])
        dwd[tap] = np.einsum("nhwc,nhwcm->cm", xp[sl], dmid5)
    return (_back(_crop(dxp, geo), cl), dwd, dwp[None, None], None if depthwise_bias is None else
            dmid.sum(axis=(0, 1, 2)), None if bias is None else dz.sum(axis=(0, 1, 2)))
