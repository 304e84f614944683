"""Prepacked layers: filters validated, copied and packed once, then applied to many inputs.

Each layer holds its own copy of the weights in the layout the kernels read (as XNNPACK operators
and oneDNN primitives do), so a call does no repacking and later changes to the caller's arrays do
not affect it. A layer's dtype is its filters' dtype; inputs must have the same dtype.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _core
from ._api import (
    _FLOATS,
    _activation,
    _check_out,
    _check_rank,
    _groups,
    _input_array,
    _layout,
    _operand,
    _padding_2d,
    _spatial_2d,
    _to_array,
)

__all__ = ["Conv2D", "DepthwiseConv2D", "PointwiseConv2D", "SeparableConv2D"]


def _filter_dtype(f: Any, name: str) -> np.dtype:
    a = _to_array(f, name)
    if a.dtype not in _FLOATS:
        raise TypeError(f"{name}: dtype {a.dtype} is not supported; sepcpp computes in float32 or float64")
    return a.dtype


def _frozen_copy(a: np.ndarray) -> np.ndarray:
    c = np.array(a, order="C", copy=True)
    c.flags.writeable = False
    return c


class _Layer:
    _op = ""

    def _build(self, f1, f2, b1, b2, strides, dilations, padding, data_format, activation,
               depthwise_activation, groups, names):
        layout = _layout(data_format, ("NHWC", "NCHW"))
        dtype = _filter_dtype(f1, names[0])
        f1a = _operand(f1, names[0], dtype)
        _check_rank(f1a, names[0], 4, "filter")
        f2a = _operand(f2, "pointwise_filter", dtype)
        if self._op == "separable":
            _check_rank(f2a, "pointwise_filter", 4, "[1, 1, C*M/groups, O]")
        b1a = _operand(b1, names[1], dtype)
        b2a = _operand(b2, "bias", dtype)
        mode, pads = _padding_2d(padding, layout)
        arrays = (f1a, f2a, b1a, b2a)
        params = (_spatial_2d(strides, "strides", layout), _spatial_2d(dilations, "dilations", layout), mode,
                  pads, layout, _activation(activation, "activation"),
                  _activation(depthwise_activation, "depthwise_activation"), groups)
        self._make(dtype, arrays, params)
        # The layer's own copies of the weights, for pickle and copy (the packed ones live in the
        # core and cannot be read back). Taken after the core accepted them, so that a filter too
        # large to pack fails with the core's message; read-only, as the layer never changes them.
        self._arrays = tuple(None if a is None else _frozen_copy(a) for a in arrays)

    def _make(self, dtype, arrays, params):
        cls = _core.LayerF32 if dtype == np.float32 else _core.LayerF64
        self._impl = cls(self._op, *arrays, *params)
        self._params = params
        self.dtype = np.dtype(dtype)
        self.data_format = params[4]

    # Layers pickle (and copy) as their weights and normalised arguments, and are packed again when
    # loaded: so they can be sent to worker processes (multiprocessing, joblib, dask, Ray). The
    # packed form is the same bytes for the same weights, so results are identical bit for bit.
    def __getstate__(self) -> dict:
        return {"dtype": self.dtype.str, "arrays": self._arrays, "params": self._params}

    def __setstate__(self, state: dict) -> None:
        arrays = tuple(None if a is None else np.asarray(a) for a in state["arrays"])
        self._make(np.dtype(state["dtype"]), arrays, tuple(state["params"]))
        for a in arrays:
            if a is not None:
                a.flags.writeable = False  # fresh from pickle or deepcopy, or already read-only (copy)
        self._arrays = arrays

    def __call__(self, input, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Apply the layer to ``input`` (rank 4, the layer's data_format and dtype)."""
        if out is None and type(input) is np.ndarray:
            return self._impl(input, None)  # the fast path: the core checks dtype and shapes
        x = _input_array(input)
        _check_rank(x, "input", 4, self.data_format)
        return self._impl(x, _check_out(out, self.dtype, [x]))

    def output_shape(self, input_shape) -> tuple:
        """The output shape for an input of ``input_shape`` (raises ValueError if it does not fit)."""
        return tuple(self._impl.output_shape(list(input_shape)))

    def __repr__(self) -> str:
        return f"sepcpp.{type(self).__name__}(dtype={self.dtype}, data_format={self.data_format!r})"


class DepthwiseConv2D(_Layer):
    """Prepacked ``depthwise_conv2d``: filter ``[kh, kw, C, M]``."""

    _op = "depthwise"

    def __init__(self, filter, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
                 activation=None):
        self._build(filter, None, bias, None, strides, dilations, padding, data_format, activation, None, 1,
                    ("filter", "bias"))


class PointwiseConv2D(_Layer):
    """Prepacked ``pointwise_conv2d``: filter ``[1, 1, C, O]``."""

    _op = "pointwise"

    def __init__(self, filter, data_format="NHWC", *, bias=None, activation=None):
        self._build(filter, None, bias, None, 1, 1, "VALID", data_format, activation, None, 1, ("filter", "bias"))


class SeparableConv2D(_Layer):
    """Prepacked, fused ``separable_conv2d`` (``groups`` > 1: super-separable)."""

    _op = "separable"

    def __init__(self, depthwise_filter, pointwise_filter, strides, padding, data_format="NHWC", dilations=None,
                 *, depthwise_bias=None, depthwise_activation=None, bias=None, activation=None, groups=1):
        self._build(depthwise_filter, pointwise_filter, depthwise_bias, bias, strides, dilations, padding,
                    data_format, activation, depthwise_activation, _groups(groups),
                    ("depthwise_filter", "depthwise_bias"))


class Conv2D(_Layer):
    """Prepacked ``conv2d``: filters ``[kh, kw, C, O]``."""

    _op = "conv"

    def __init__(self, filters, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
                 activation=None):
        self._build(filters, None, bias, None, strides, dilations, padding, data_format, activation, None, 1,
                    ("filters", "bias"))
