"""The backprop ops: gradients of the forward ops, with TensorFlow's names and argument order.

Arguments are normalised exactly as for the forward ops (``_api.py``: strides, dilations, padding,
layouts, 1-D views); shapes are checked by the same core geometry, so a gradient exists for every
case the forward op accepts, including those TensorFlow refuses (stride > 1 with dilation > 1).
"""

from __future__ import annotations

import re
from collections import namedtuple
from typing import Any

import numpy as np

from . import _core
from ._api import (
    _FLOATS,
    _activation,
    _check_rank,
    _doc,
    _groups,
    _int,
    _layout,
    _operand,
    _padding_1d,
    _padding_2d,
    _spatial_1d,
    _spatial_2d,
    _to_array,
)

__all__ = [
    "SeparableGradients",
    "conv1d_backprop_filter",
    "conv1d_backprop_input",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "depthwise_conv1d_backprop_filter",
    "depthwise_conv1d_backprop_input",
    "depthwise_conv2d_backprop_filter",
    "depthwise_conv2d_backprop_input",
    "separable_conv1d_backprop",
    "separable_conv2d_backprop",
    "super_separable_conv1d_backprop",
    "super_separable_conv2d_backprop",
]

SeparableGradients = namedtuple("SeparableGradients", ["input", "depthwise_filter", "pointwise_filter",
                                                       "depthwise_bias", "bias"])
SeparableGradients.__doc__ = """The gradients of a (super-)separable convolution, one per operand.

Returned by the separable backprop ops; a named tuple.

Attributes
----------
input : numpy.ndarray
    The gradient with respect to the input, of its shape and layout.
depthwise_filter : numpy.ndarray
    The gradient with respect to the depthwise filter.
pointwise_filter : numpy.ndarray
    The gradient with respect to the pointwise filter.
depthwise_bias : numpy.ndarray or None
    The gradient with respect to the depthwise bias; None when it was not given.
bias : numpy.ndarray or None
    The gradient with respect to the bias; None when it was not given.

Examples
--------
>>> import numpy as np, sepcpp
>>> g = sepcpp.separable_conv2d_backprop(np.ones((1, 3, 3, 1), np.float32), np.ones((1, 1, 1, 1), np.float32),
...                                      np.ones((1, 1, 1, 2), np.float32), np.ones((1, 3, 3, 2), np.float32),
...                                      1, "VALID", bias=np.zeros(2, np.float32))
>>> g._fields
('input', 'depthwise_filter', 'pointwise_filter', 'depthwise_bias', 'bias')
>>> float(g.depthwise_filter[0, 0, 0, 0]), g.bias.tolist(), g.depthwise_bias
(18.0, [9.0, 9.0], None)
"""


# Docstring parts of the backprop ops (with _api's shared ones: strides, padding, dilations, ...).
_BP_RAISES = """
    TypeError
        If ``out_backprop`` (or ``input``) is not float32 or float64, or another operand has
        another dtype; if ``input_sizes``/``filter_sizes`` are not integers; if a stride,
        dilation or padding is not an integer.
    ValueError
        If an array has the wrong rank; if ``input_sizes``/``filter_sizes`` do not have 4 (3 for
        the 1-D ops) non-negative entries; if ``out_backprop``'s shape is not the forward op's
        output shape for these sizes, filters, strides, dilations and padding; if the filter's and
        the input's channels disagree; and for every argument the forward op refuses. Each
        message names the argument and the shapes (docs/errors.md).
    MemoryError
        If a result or a working buffer of sepcpp's cannot be allocated."""

_BP = {
    "bp_raises": _BP_RAISES,
    "input_sizes_2d": """
        input_sizes : sequence of int or 1-D integer array
            The forward input's shape, 4 sizes in ``data_format``'s order.""",
    "input_sizes_1d": """
        input_sizes : sequence of int or 1-D integer array
            The forward input's shape, 3 sizes in ``data_format``'s order.""",
    "out_backprop_2d": """
        out_backprop : array_like
            The gradient of the loss with respect to the forward op's output: that output's shape
            in ``data_format``, float32 or float64. Never modified.""",
    "out_backprop_1d": """
        out_backprop : array_like
            The gradient of the loss with respect to the forward op's output: that output's shape
            in ``data_format``, float32 or float64. Never modified.""",
    "input_bp_2d": """
        input : array_like, shape [N, H, W, C] (NHWC) or [N, C, H, W] (NCHW)
            The forward op's input, in ``out_backprop``'s dtype; any strides. Never modified.""",
    "input_bp_1d": """
        input : array_like, shape [N, W, C] (NWC) or [N, C, W] (NCW)
            The forward op's input, in ``out_backprop``'s dtype. Never modified.""",
    "data_format_bp_2d": """
        data_format : {"NHWC", "NCHW"}, default "NHWC"
            The layout of the input (or ``input_sizes``), of ``out_backprop`` and of an input
            gradient; filters keep TensorFlow's layout.""",
    "data_format_bp_1d": """
        data_format : {"NWC", "NCW"}, default "NWC"
            The layout of the input (or ``input_sizes``), of ``out_backprop`` and of an input
            gradient; filters keep TensorFlow's layout.""",
}


def _float_array(x: Any, name: str) -> np.ndarray:
    a = x if type(x) is np.ndarray else _to_array(x, name)
    if a.dtype not in _FLOATS:
        raise TypeError(f"{name}: dtype {a.dtype} is not supported; sepcpp computes in float32 or float64 "
                        f"(shape {a.shape})")
    return a


def _sizes(v: Any, name: str, n: int) -> list[int]:
    """A shape given as a sequence or a 1-D integer array (TensorFlow's input_sizes/filter_sizes)."""
    if isinstance(v, (str, bytes)) or v is None:
        raise TypeError(f"{name}: expected a sequence of {n} integers, got {v!r}")
    if not isinstance(v, (list, tuple, np.ndarray)):
        try:
            v = np.asarray(v)
        except Exception as e:
            raise TypeError(f"{name}: expected a sequence of {n} integers, got {type(v).__name__}: {e}") from e
    if isinstance(v, np.ndarray):
        if v.ndim != 1 or not (np.issubdtype(v.dtype, np.integer) or v.size == 0):
            raise TypeError(f"{name}: expected a 1-D integer array of {n} entries, got {v.dtype} shape {v.shape}")
        v = v.tolist()
    vals = [_int(x, name) for x in v]
    if len(vals) != n:
        raise ValueError(f"{name}: expected {n} entries, got {len(vals)}: {vals}")
    if any(x < 0 for x in vals):
        raise ValueError(f"{name}: sizes must be non-negative, got {vals}")
    return vals


def _renamed(e: ValueError, op: str, wrt: str = "") -> ValueError:
    """The core's message under the public op's name and the backprop op's argument names (the core
    checks the forward geometry, whose input or filter is given here by its sizes)."""
    msg = re.sub(r"^[a-z_]*conv2d[a-z_]*:", op + ":", str(e), count=1)
    if wrt == "input":
        msg = msg.replace("but input has", "but input_sizes has").replace("(input shape", "(input_sizes")
    elif wrt == "filter":
        msg = re.sub(r"^([a-z_0-9]*: )filters? has", r"\1filter_sizes has", msg)
    return ValueError(msg)


def _same_dtype(x: Any, name: str, dy: np.ndarray) -> np.ndarray:
    """`x` in out_backprop's dtype (which sets the op's dtype), as _operand does for the input's."""
    try:
        return _operand(x, name, dy.dtype)
    except TypeError as e:
        raise TypeError(str(e).replace("the input's dtype", "out_backprop's dtype")) from None


def _backprop_2d(op, kind, wrt, operand, sizes, out_backprop, strides, padding, data_format, dilations, op2d=None):
    layout = _layout(data_format, ("NHWC", "NCHW"))
    name = "input_sizes" if wrt == "input" else "filter_sizes"
    shape = _sizes(sizes, name, 4)
    dy = _float_array(out_backprop, "out_backprop")
    _check_rank(dy, "out_backprop", 4, layout)
    fname = ("filter" if kind == "depthwise" else "filters") if wrt == "input" else "input"
    a = _same_dtype(operand, fname, dy)
    _check_rank(a, fname, 4, layout if wrt == "filter" else "[kh, kw, C, M]" if kind == "depthwise" else
                "[kh, kw, C, O]")
    pad = padding if op2d else _padding_2d(padding, layout)
    s = strides if op2d else _spatial_2d(strides, "strides", layout)
    d = dilations if op2d else _spatial_2d(dilations, "dilations", layout)
    mode, pads = pad
    try:
        return _core.backprop(kind, wrt, a, shape, dy, s, d, mode, pads, layout)
    except ValueError as e:
        raise _renamed(e, op, wrt) from None


@_doc(**_BP)
def depthwise_conv2d_backprop_input(input_sizes, filter, out_backprop, strides, padding, data_format="NHWC",
                                    dilations=None):
    """Gradient of :func:`depthwise_conv2d` with respect to its input.

    As ``tf.nn.depthwise_conv2d_backprop_input``, for every case the forward op accepts (any
    stride with any dilation, explicit padding, NCHW, float64).

    Parameters
    ----------
    {input_sizes_2d}
    filter : array_like, shape [kh, kw, C, M]
        The forward op's filter, in ``out_backprop``'s dtype.
    {out_backprop_2d}
    {strides_2d}
    {padding_2d}
    {data_format_bp_2d}
    {dilations_2d}

    Returns
    -------
    numpy.ndarray
        The gradient with respect to the input: shape ``input_sizes``, ``out_backprop``'s dtype.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> f = np.ones((3, 3, 2, 1), np.float32)
    >>> dy = np.ones((1, 4, 4, 2), np.float32)
    >>> dx = sepcpp.depthwise_conv2d_backprop_input([1, 4, 4, 2], f, dy, 1, "SAME")
    >>> dx.shape, float(dx[0, 1, 1, 0]), float(dx[0, 0, 0, 0])
    ((1, 4, 4, 2), 9.0, 4.0)
    """
    return _backprop_2d("depthwise_conv2d_backprop_input", "depthwise", "input", filter, input_sizes, out_backprop,
                        strides, padding, data_format, dilations)


@_doc(**_BP)
def depthwise_conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding, data_format="NHWC",
                                     dilations=None):
    """Gradient of :func:`depthwise_conv2d` with respect to its filter.

    As ``tf.nn.depthwise_conv2d_backprop_filter``, for every case the forward op accepts. The sum
    over batch and pixels runs in a fixed order: the same bits for any number of threads.

    Parameters
    ----------
    {input_bp_2d}
    filter_sizes : sequence of int or 1-D integer array
        The filter's shape ``[kh, kw, C, M]``.
    {out_backprop_2d}
    {strides_2d}
    {padding_2d}
    {data_format_bp_2d}
    {dilations_2d}

    Returns
    -------
    numpy.ndarray
        The gradient with respect to the filter: shape ``filter_sizes``, ``out_backprop``'s dtype.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> x = np.ones((1, 4, 4, 2), np.float32)
    >>> dy = np.ones((1, 4, 4, 2), np.float32)
    >>> df = sepcpp.depthwise_conv2d_backprop_filter(x, [3, 3, 2, 1], dy, 1, "SAME")
    >>> df.shape, float(df[1, 1, 0, 0]), float(df[0, 0, 0, 0])
    ((3, 3, 2, 1), 16.0, 9.0)
    """
    return _backprop_2d("depthwise_conv2d_backprop_filter", "depthwise", "filter", input, filter_sizes,
                        out_backprop, strides, padding, data_format, dilations)


@_doc(**_BP)
def conv2d_backprop_input(input_sizes, filters, out_backprop, strides, padding, data_format="NHWC",
                          dilations=None):
    """Gradient of :func:`conv2d` with respect to its input.

    As ``tf.compat.v1.nn.conv2d_backprop_input`` (``tf.nn.conv2d_transpose`` with the output shape
    given first), for every case the forward op accepts.

    Parameters
    ----------
    {input_sizes_2d}
    filters : array_like, shape [kh, kw, C, O]
        The forward op's filters, in ``out_backprop``'s dtype.
    {out_backprop_2d}
    {strides_2d}
    {padding_2d}
    {data_format_bp_2d}
    {dilations_2d}

    Returns
    -------
    numpy.ndarray
        The gradient with respect to the input: shape ``input_sizes``, ``out_backprop``'s dtype.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> w = np.ones((3, 3, 2, 4), np.float32)
    >>> dy = np.ones((1, 4, 4, 4), np.float32)
    >>> dx = sepcpp.conv2d_backprop_input([1, 4, 4, 2], w, dy, 1, "SAME")
    >>> float(dx[0, 1, 1, 0]), float(dx[0, 0, 0, 0])
    (36.0, 16.0)
    """
    return _backprop_2d("conv2d_backprop_input", "conv", "input", filters, input_sizes, out_backprop, strides,
                        padding, data_format, dilations)


@_doc(**_BP)
def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding, data_format="NHWC",
                           dilations=None):
    """Gradient of :func:`conv2d` with respect to its filters.

    As ``tf.compat.v1.nn.conv2d_backprop_filter``, for every case the forward op accepts; the same
    bits for any number of threads.

    Parameters
    ----------
    {input_bp_2d}
    filter_sizes : sequence of int or 1-D integer array
        The filters' shape ``[kh, kw, C, O]``.
    {out_backprop_2d}
    {strides_2d}
    {padding_2d}
    {data_format_bp_2d}
    {dilations_2d}

    Returns
    -------
    numpy.ndarray
        The gradient with respect to the filters: shape ``filter_sizes``.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> x = np.ones((1, 4, 4, 2), np.float32)
    >>> dy = np.ones((1, 2, 2, 3), np.float32)
    >>> dw = sepcpp.conv2d_backprop_filter(x, [3, 3, 2, 3], dy, 1, "VALID")
    >>> dw.shape, float(dw[0, 0, 0, 0])
    ((3, 3, 2, 3), 4.0)
    """
    return _backprop_2d("conv2d_backprop_filter", "conv", "filter", input, filter_sizes, out_backprop, strides,
                        padding, data_format, dilations)


def _separable_backprop(op, input, depthwise_filter, pointwise_filter, groups, out_backprop, strides, padding,
                        layout, dilations, depthwise_bias, depthwise_activation, bias, activation, one_d=None):
    """The core call; ``one_d`` = (stride, dilation, padding) already resolved for the 1-D forms."""
    x = _float_array(input, "input")
    _check_rank(x, "input", 4, layout)
    fd = _operand(depthwise_filter, "depthwise_filter", x.dtype)
    fp = _operand(pointwise_filter, "pointwise_filter", x.dtype)
    bd = _operand(depthwise_bias, "depthwise_bias", x.dtype)
    b = _operand(bias, "bias", x.dtype)
    dy = _operand(out_backprop, "out_backprop", x.dtype)
    _check_rank(fd, "depthwise_filter", 4, "[kh, kw, C, M]")
    _check_rank(fp, "pointwise_filter", 4, "[1, 1, C*M/groups, O]")
    _check_rank(dy, "out_backprop", 4, layout)
    for name, v in (("depthwise_bias", bd), ("bias", b)):
        if v is not None and v.ndim != 1:
            raise ValueError(f"{op}: {name} must have rank 1, got shape {v.shape}")
    if one_d is None:
        s = _spatial_2d(strides, "strides", layout)
        d = _spatial_2d(dilations, "dilations", layout)
        mode, pads = _padding_2d(padding, layout)
    else:
        s, d, (mode, pads) = one_d
    try:
        r = _core.separable_backprop(x, fd, fp, bd, b, dy, s, d, mode, pads, layout,
                                     _activation(activation, "activation"),
                                     _activation(depthwise_activation, "depthwise_activation"), _groups(groups))
    except ValueError as e:
        raise _renamed(e, op) from None
    return SeparableGradients(*r)


@_doc(**_BP)
def separable_conv2d_backprop(input, depthwise_filter, pointwise_filter, out_backprop, strides, padding,
                              data_format="NHWC", dilations=None, *, depthwise_bias=None, depthwise_activation=None,
                              bias=None, activation=None):
    """Gradients of :func:`separable_conv2d` with respect to every operand.

    One fused pass: the forward pass and the gradient of the depthwise output are recomputed band
    by band (neither is ever stored whole) to apply the activations' gradients, TensorFlow's: relu
    passes the gradient where its input is > 0, relu6 where it is in (0, 6).

    Parameters
    ----------
    {input_bp_2d}
    depthwise_filter : array_like, shape [kh, kw, C, M]
        The forward op's depthwise filter, in the input's dtype.
    pointwise_filter : array_like, shape [1, 1, C*M/groups, O]
        The forward op's pointwise filter (``[1, 1, C*M, O]`` for separable_conv2d).
    {out_backprop_2d}
    {strides_2d}
    {padding_2d}
    {data_format_bp_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        The forward op's bias, added after the pointwise step.
    {activation}

    Returns
    -------
    SeparableGradients
        ``(input, depthwise_filter, pointwise_filter, depthwise_bias, bias)``: each the gradient
        with respect to that operand, of its shape; a bias's entry is None when that bias was not
        given.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> x = np.ones((1, 4, 4, 2), np.float32)
    >>> dw = np.ones((3, 3, 2, 1), np.float32)
    >>> pw = np.ones((1, 1, 2, 3), np.float32)
    >>> dy = np.ones((1, 4, 4, 3), np.float32)
    >>> g = sepcpp.separable_conv2d_backprop(x, dw, pw, dy, 1, "SAME", bias=np.zeros(3, np.float32))
    >>> g.input.shape, g.pointwise_filter.shape, g.bias.tolist(), g.depthwise_bias
    ((1, 4, 4, 2), (1, 1, 2, 3), [16.0, 16.0, 16.0], None)
    """
    return super_separable_conv2d_backprop(input, depthwise_filter, pointwise_filter, 1, out_backprop, strides,
                                           padding, data_format, dilations, depthwise_bias=depthwise_bias,
                                           depthwise_activation=depthwise_activation, bias=bias,
                                           activation=activation)


@_doc(**_BP)
def super_separable_conv2d_backprop(input, depthwise_filter, pointwise_filter, groups, out_backprop, strides,
                                    padding, data_format="NHWC", dilations=None, *, depthwise_bias=None,
                                    depthwise_activation=None, bias=None, activation=None):
    """Gradients of :func:`super_separable_conv2d` with respect to every operand.

    As :func:`separable_conv2d_backprop`, the pointwise step split into ``groups`` groups.

    Parameters
    ----------
    {input_bp_2d}
    depthwise_filter : array_like, shape [kh, kw, C, M]
        The forward op's depthwise filter, in the input's dtype.
    pointwise_filter : array_like, shape [1, 1, C*M/groups, O]
        The forward op's pointwise filter (``[1, 1, C*M, O]`` for separable_conv2d).
    groups : int
        The number of pointwise groups; divides ``C*M`` and ``O``.
    {out_backprop_2d}
    {strides_2d}
    {padding_2d}
    {data_format_bp_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        The forward op's bias, added after the pointwise step.
    {activation}

    Returns
    -------
    SeparableGradients
        ``(input, depthwise_filter, pointwise_filter, depthwise_bias, bias)``: each the gradient
        with respect to that operand, of its shape; a bias's entry is None when that bias was not
        given.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> x = np.ones((1, 4, 4, 2), np.float32)
    >>> g = sepcpp.super_separable_conv2d_backprop(
    ...     x, np.ones((3, 3, 2, 2), np.float32), np.ones((1, 1, 2, 4), np.float32), 2,
    ...     np.ones((1, 4, 4, 4), np.float32), 1, "SAME")
    >>> g.pointwise_filter.shape, g.bias is None
    ((1, 1, 2, 4), True)
    """
    layout = _layout(data_format, ("NHWC", "NCHW"))
    op = "separable_conv2d_backprop" if groups == 1 else "super_separable_conv2d_backprop"
    return _separable_backprop(op, input, depthwise_filter, pointwise_filter, groups, out_backprop, strides,
                               padding, layout, dilations, depthwise_bias, depthwise_activation, bias, activation)


# --------------------------------------------------------------------------------------------
# 1-D forms: views with height 1 over the 2-D core, as the forward 1-D ops.


def _layout_1d(data_format):
    layout = _layout(data_format, ("NWC", "NCW"))
    return layout, ("NHWC" if layout == "NWC" else "NCHW"), (1 if layout == "NWC" else 2)


def _backprop_1d(op, kind, wrt, operand, sizes, out_backprop, stride, padding, data_format, dilations):
    layout, layout2d, axis = _layout_1d(data_format)
    shape = _sizes(sizes, "input_sizes" if wrt == "input" else "filter_sizes", 3)
    dy = _float_array(out_backprop, "out_backprop")
    _check_rank(dy, "out_backprop", 3, layout)
    fname = ("filter" if kind == "depthwise" else "filters") if wrt == "input" else "input"
    a = _same_dtype(operand, fname, dy)
    _check_rank(a, fname, 3, layout if wrt == "filter" else "[k, C, M]" if kind == "depthwise" else "[k, C, O]")
    s = _spatial_1d(stride, "stride", layout)
    d = _spatial_1d(dilations, "dilations", layout)
    kernel = a.shape[0] if wrt == "input" else shape[0]
    pad = _padding_1d(padding, layout, kernel, d)
    if wrt == "input":
        a4, shape4 = a[None], shape[:axis] + [1] + shape[axis:]
    else:
        a4, shape4 = np.expand_dims(a, axis), [1] + shape
    try:
        r = _backprop_2d(op, kind, wrt, a4, shape4, np.expand_dims(dy, axis), (1, s), pad, layout2d, (1, d),
                         op2d=True)
    except ValueError as e:
        # The core checks the 2-D view (height 1): say so, with the 1-D shapes.
        given = f"input_sizes {shape}, {fname} shape {a.shape}" if wrt == "input" else \
            f"input shape {a.shape}, filter_sizes {shape}"
        raise ValueError(f"{e} [{op}: {given}, out_backprop shape {dy.shape} ({layout}); checked as 2-D with "
                         "height 1]") from None
    return np.squeeze(r, axis) if wrt == "input" else r[0]


@_doc(**_BP)
def depthwise_conv1d_backprop_input(input_sizes, filter, out_backprop, stride, padding, data_format="NWC",
                                    dilations=None):
    """Gradient of :func:`depthwise_conv1d` with respect to its input.

    Parameters
    ----------
    {input_sizes_1d}
    filter : array_like, shape [k, C, M]
        The forward op's filter, in ``out_backprop``'s dtype.
    {out_backprop_1d}
    {stride_1d}
    {padding_1d}
    {data_format_bp_1d}
    {dilations_1d}

    Returns
    -------
    numpy.ndarray
        The gradient with respect to the input: shape ``input_sizes``.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> dx = sepcpp.depthwise_conv1d_backprop_input([1, 5, 2], np.ones((3, 2, 1), np.float32),
    ...                                             np.ones((1, 5, 2), np.float32), 1, "CAUSAL")
    >>> dx[0, :, 0].tolist()
    [3.0, 3.0, 3.0, 2.0, 1.0]
    """
    return _backprop_1d("depthwise_conv1d_backprop_input", "depthwise", "input", filter, input_sizes, out_backprop,
                        stride, padding, data_format, dilations)


@_doc(**_BP)
def depthwise_conv1d_backprop_filter(input, filter_sizes, out_backprop, stride, padding, data_format="NWC",
                                     dilations=None):
    """Gradient of :func:`depthwise_conv1d` with respect to its filter.

    Parameters
    ----------
    {input_bp_1d}
    filter_sizes : sequence of int or 1-D integer array
        The filter's shape ``[k, C, M]``.
    {out_backprop_1d}
    {stride_1d}
    {padding_1d}
    {data_format_bp_1d}
    {dilations_1d}

    Returns
    -------
    numpy.ndarray
        The gradient with respect to the filter: shape ``filter_sizes``.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> df = sepcpp.depthwise_conv1d_backprop_filter(np.ones((1, 5, 2), np.float32), [3, 2, 1],
    ...                                              np.ones((1, 5, 2), np.float32), 1, "CAUSAL")
    >>> df[:, 0, 0].tolist()
    [3.0, 4.0, 5.0]
    """
    return _backprop_1d("depthwise_conv1d_backprop_filter", "depthwise", "filter", input, filter_sizes,
                        out_backprop, stride, padding, data_format, dilations)


@_doc(**_BP)
def conv1d_backprop_input(input_sizes, filters, out_backprop, stride, padding, data_format="NWC", dilations=None):
    """Gradient of :func:`conv1d` with respect to its input.

    Parameters
    ----------
    {input_sizes_1d}
    filters : array_like, shape [k, C, O]
        The forward op's filters, in ``out_backprop``'s dtype.
    {out_backprop_1d}
    {stride_1d}
    {padding_1d}
    {data_format_bp_1d}
    {dilations_1d}

    Returns
    -------
    numpy.ndarray
        The gradient with respect to the input: shape ``input_sizes``.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> dx = sepcpp.conv1d_backprop_input([1, 5, 2], np.ones((3, 2, 4), np.float32),
    ...                                   np.ones((1, 3, 4), np.float32), 1, "VALID")
    >>> dx[0, :, 0].tolist()
    [4.0, 8.0, 12.0, 8.0, 4.0]
    """
    return _backprop_1d("conv1d_backprop_input", "conv", "input", filters, input_sizes, out_backprop, stride,
                        padding, data_format, dilations)


@_doc(**_BP)
def conv1d_backprop_filter(input, filter_sizes, out_backprop, stride, padding, data_format="NWC", dilations=None):
    """Gradient of :func:`conv1d` with respect to its filters.

    Parameters
    ----------
    {input_bp_1d}
    filter_sizes : sequence of int or 1-D integer array
        The filters' shape ``[k, C, O]``.
    {out_backprop_1d}
    {stride_1d}
    {padding_1d}
    {data_format_bp_1d}
    {dilations_1d}

    Returns
    -------
    numpy.ndarray
        The gradient with respect to the filters: shape ``filter_sizes``.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> dw = sepcpp.conv1d_backprop_filter(np.ones((1, 5, 2), np.float32), [3, 2, 4],
    ...                                    np.ones((1, 3, 4), np.float32), 1, "VALID")
    >>> dw.shape, float(dw[0, 0, 0])
    ((3, 2, 4), 3.0)
    """
    return _backprop_1d("conv1d_backprop_filter", "conv", "filter", input, filter_sizes, out_backprop, stride,
                        padding, data_format, dilations)


@_doc(**_BP)
def separable_conv1d_backprop(input, depthwise_filter, pointwise_filter, out_backprop, stride, padding,
                              data_format="NWC", dilations=None, *, depthwise_bias=None, depthwise_activation=None,
                              bias=None, activation=None):
    """Gradients of :func:`separable_conv1d` with respect to every operand.

    As :func:`separable_conv2d_backprop` on the 1-D ops' shapes; padding may be ``"CAUSAL"``.

    Parameters
    ----------
    {input_bp_1d}
    depthwise_filter : array_like, shape [k, C, M]
        The forward op's depthwise filter, in the input's dtype.
    pointwise_filter : array_like, shape [1, C*M/groups, O]
        The forward op's pointwise filter (``[1, C*M, O]`` for separable_conv1d).
    {out_backprop_1d}
    {stride_1d}
    {padding_1d}
    {data_format_bp_1d}
    {dilations_1d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        The forward op's bias, added after the pointwise step.
    {activation}

    Returns
    -------
    SeparableGradients
        ``(input, depthwise_filter, pointwise_filter, depthwise_bias, bias)``: each the gradient
        with respect to that operand, of its shape; a bias's entry is None when that bias was not
        given.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> g = sepcpp.separable_conv1d_backprop(np.ones((1, 5, 2), np.float32), np.ones((3, 2, 1), np.float32),
    ...                                      np.ones((1, 2, 3), np.float32), np.ones((1, 5, 3), np.float32),
    ...                                      1, "CAUSAL")
    >>> g.input[0, :, 0].tolist()
    [9.0, 9.0, 9.0, 6.0, 3.0]
    """
    return super_separable_conv1d_backprop(input, depthwise_filter, pointwise_filter, 1, out_backprop, stride,
                                           padding, data_format, dilations, depthwise_bias=depthwise_bias,
                                           depthwise_activation=depthwise_activation, bias=bias,
                                           activation=activation)


@_doc(**_BP)
def super_separable_conv1d_backprop(input, depthwise_filter, pointwise_filter, groups, out_backprop, stride,
                                    padding, data_format="NWC", dilations=None, *, depthwise_bias=None,
                                    depthwise_activation=None, bias=None, activation=None):
    """Gradients of :func:`super_separable_conv1d` with respect to every operand.

    As :func:`super_separable_conv2d_backprop` on the 1-D ops' shapes.

    Parameters
    ----------
    {input_bp_1d}
    depthwise_filter : array_like, shape [k, C, M]
        The forward op's depthwise filter, in the input's dtype.
    pointwise_filter : array_like, shape [1, C*M/groups, O]
        The forward op's pointwise filter (``[1, C*M, O]`` for separable_conv1d).
    groups : int
        The number of pointwise groups; divides ``C*M`` and ``O``.
    {out_backprop_1d}
    {stride_1d}
    {padding_1d}
    {data_format_bp_1d}
    {dilations_1d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        The forward op's bias, added after the pointwise step.
    {activation}

    Returns
    -------
    SeparableGradients
        ``(input, depthwise_filter, pointwise_filter, depthwise_bias, bias)``: each the gradient
        with respect to that operand, of its shape; a bias's entry is None when that bias was not
        given.

    Raises
    ------
    {bp_raises}

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> g = sepcpp.super_separable_conv1d_backprop(
    ...     np.ones((1, 5, 2), np.float32), np.ones((3, 2, 1), np.float32), np.ones((1, 1, 4), np.float32), 2,
    ...     np.ones((1, 5, 4), np.float32), 1, "SAME")
    >>> g.depthwise_filter.shape, g.pointwise_filter.shape
    ((3, 2, 1), (1, 1, 4))
    """
    op = "separable_conv1d_backprop" if groups == 1 else "super_separable_conv1d_backprop"
    layout, layout2d, axis = _layout_1d(data_format)
    x = _float_array(input, "input")
    _check_rank(x, "input", 3, layout)
    fd = _operand(depthwise_filter, "depthwise_filter", x.dtype)
    fp = _operand(pointwise_filter, "pointwise_filter", x.dtype)
    dy = _operand(out_backprop, "out_backprop", x.dtype)
    _check_rank(fd, "depthwise_filter", 3, "[k, C, M]")
    _check_rank(fp, "pointwise_filter", 3, "[1, C*M/groups, O]")
    _check_rank(dy, "out_backprop", 3, layout)
    s = _spatial_1d(stride, "stride", layout)
    d = _spatial_1d(dilations, "dilations", layout)
    pad = _padding_1d(padding, layout, fd.shape[0], d)
    try:
        g = _separable_backprop(op, np.expand_dims(x, axis), fd[None], fp[None], groups, np.expand_dims(dy, axis),
                                None, None, layout2d, None, depthwise_bias, depthwise_activation, bias, activation,
                                one_d=((1, s), (1, d), pad))
    except ValueError as e:
        raise ValueError(f"{e} [{op}: input shape {x.shape} ({layout}), depthwise_filter shape {fd.shape}, "
                         f"pointwise_filter shape {fp.shape}, out_backprop shape {dy.shape}; checked as 2-D with "
                         "height 1]") from None
    return SeparableGradients(np.squeeze(g.input, axis), g.depthwise_filter[0], g.pointwise_filter[0],
                              g.depthwise_bias, g.bias)
