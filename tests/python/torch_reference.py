"""The sepcpp.torch ops written with torch.nn.functional alone: the references the tests compare with.

TensorFlow's "same" padding is derived here on its own (from the rule in SEMANTICS.md), not taken
from sepcpp: ``F.pad`` with the split TensorFlow uses, then a VALID ``F.conv2d``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def tf_same(n: int, k: int, s: int, d: int):
    """(before, after) padding of TensorFlow's SAME along one axis."""
    out = -(-n // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
    return total // 2, total - total // 2


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def pad_2d(x, padding, kernel, stride, dilation):
    """x padded as sepcpp.torch pads it: F.pad's (left, right, top, bottom)."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, _pair(stride), _pair(dilation)
    if padding == "same":
        top, bottom = tf_same(x.shape[2], kh, sh, dh)
        left, right = tf_same(x.shape[3], kw, sw, dw)
    elif padding == "valid":
        top = bottom = left = right = 0
    else:
        ph, pw = _pair(padding)
        top = bottom = ph
        left = right = pw
    return F.pad(x, (left, right, top, bottom))


def activate(y, activation):
    if activation == "relu":
        return F.relu(y)
    if activation == "relu6":
        return F.relu6(y)
    assert activation is None
    return y


def depthwise_conv2d(x, w, b=None, stride=1, padding="same", dilation=1, activation=None):
    xp = pad_2d(x, padding, w.shape[2:], stride, dilation)
    return activate(F.conv2d(xp, w, b, stride, 0, dilation, groups=x.shape[1]), activation)


def conv2d(x, w, b=None, stride=1, padding="same", dilation=1, activation=None):
    xp = pad_2d(x, padding, w.shape[2:], stride, dilation)
    return activate(F.conv2d(xp, w, b, stride, 0, dilation), activation)


def super_separable_conv2d(x, dw, pw, groups, b=None, stride=1, padding="same", dilation=1, depthwise_bias=None,
                           depthwise_activation=None, activation=None):
    h = depthwise_conv2d(x, dw, depthwise_bias, stride, padding, dilation, depthwise_activation)
    return activate(F.conv2d(h, pw, b, groups=groups), activation)


def pad_1d(x, padding, k, s, d):
    if padding == "same":
        left, right = tf_same(x.shape[2], k, s, d)
    elif padding == "valid":
        left = right = 0
    elif padding == "causal":
        left, right = (k - 1) * d, 0
    else:
        left = right = padding
    return F.pad(x, (left, right))


def depthwise_conv1d(x, w, b=None, stride=1, padding="same", dilation=1, activation=None):
    xp = pad_1d(x, padding, w.shape[2], stride, dilation)
    return activate(F.conv1d(xp, w, b, stride, 0, dilation, groups=x.shape[1]), activation)


def conv1d(x, w, b=None, stride=1, padding="same", dilation=1, activation=None):
    xp = pad_1d(x, padding, w.shape[2], stride, dilation)
    return activate(F.conv1d(xp, w, b, stride, 0, dilation), activation)


def super_separable_conv1d(x, dw, pw, groups, b=None, stride=1, padding="same", dilation=1, depthwise_bias=None,
                           depthwise_activation=None, activation=None):
    h = depthwise_conv1d(x, dw, depthwise_bias, stride, padding, dilation, depthwise_activation)
    return activate(F.conv1d(h, pw, b, groups=groups), activation)


def in_format(x: torch.Tensor, fmt: str) -> torch.Tensor:
    """The same values in another memory layout: "contiguous", "channels_last" (2-D) or
    "channels_last_1d" (an [N, L, C] tensor transposed), "strided" (a non-dense slice) or "permuted"
    (2-D: dense in [N, H, C, W] order)."""
    if fmt == "contiguous":
        return x.contiguous()
    if fmt == "channels_last":
        return x.contiguous(memory_format=torch.channels_last)
    if fmt == "channels_last_1d":
        return x.transpose(1, 2).contiguous().transpose(1, 2)
    if fmt == "strided":  # every other element of a larger tensor along the last axis: not dense
        big = torch.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if fmt == "permuted":  # dense, but neither contiguous nor channels_last: [N, H, C, W] memory
        return x.permute(0, 2, 1, 3).contiguous().permute(0, 2, 1, 3)
    raise ValueError(fmt)
