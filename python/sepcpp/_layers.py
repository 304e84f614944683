"""Prepacked layers: filters validated, copied and packed once, then applied to many inputs.

Each layer holds its own copy of the weights in the layout the kernels read (as XNNPACK operators
and oneDNN primitives do), so a call does no repacking and later changes to the caller's arrays do
not affect it. A layer's dtype is its filters' dtype; inputs must have the same dtype.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from . import _core, _gpu
from ._api import (
    _forward_dtype,
    _activation,
    _check_out,
    _check_rank,
    _doc,
    _groups,
    _input_array,
    _layout,
    _operand,
    _padding_2d,
    _spatial_2d,
    _to_array,
)

__all__ = ["Conv2D", "DepthwiseConv2D", "PointwiseConv2D", "SeparableConv2D"]

_LAYER_RAISES = """
    TypeError
        If the filter is not float32, float64 or bfloat16 (or cannot be turned into a NumPy array), or
        is None; if a bias has another dtype than the filter; if a stride, dilation, padding or
        ``groups`` is not an integer (a float, a bool).
    ValueError
        If a filter or bias has the wrong rank or shape, or they disagree (channels, a bias's
        length); if ``data_format``, ``padding`` or an activation is not one of the values
        listed; if a stride or dilation is not positive, or explicit padding is negative or pads
        the batch or channel dimension; if a value does not fit in 64 bits, or a filter is too
        large to pack. Each message names the argument and the shapes.
    MemoryError
        If the packed filters cannot be allocated.
    RuntimeError
        If ``device`` is a GPU and this build of sepcpp has no CUDA target, or the CUDA runtime
        does not see that device."""

_LAYER_DEVICE = """
    device : str, optional
        ``"cpu"`` (the default) or ``"cuda"`` / ``"cuda:N"``: the weights are uploaded to that GPU
        once, and the layer then takes GPU arrays (PyTorch, CuPy, JAX) on that device and returns
        the same kind (a CUDA build of sepcpp: ``SEPCPP_CUDA=1 pip install .``). ValueError for
        anything else."""

_LAYER_ATTRIBUTES = """
    dtype : numpy.dtype
        The filters' dtype (float32, float64 or ``ml_dtypes.bfloat16``); inputs must have it.
    data_format : str
        ``"NHWC"`` or ``"NCHW"``, the layout of the inputs and results."""


def _filter_dtype(f: Any, name: str) -> np.dtype:
    a = _to_array(f, name)
    if not _forward_dtype(a.dtype):
        raise TypeError(f"{name}: dtype {a.dtype} is not supported; sepcpp takes float32, float64 or bfloat16 "
                        "(ml_dtypes.bfloat16)")
    return a.dtype


def _frozen_copy(a: np.ndarray) -> np.ndarray:
    c = np.array(a, order="C", copy=True)
    c.flags.writeable = False
    return c


class _Layer:
    _op = ""

    def _build(self, f1, f2, b1, b2, strides, dilations, padding, data_format, activation,
               depthwise_activation, groups, names, device="cpu"):
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
        self._set_device(device)

    def _set_device(self, device) -> None:
        index = _gpu.parse_device(device)
        self.device = "cpu" if index is None else f"cuda:{index}"
        self._device_weights = None if index is None else _gpu.upload(
            self._arrays, index, f"{type(self).__name__}")

    def _make(self, dtype, arrays, params):
        cls = {"float32": _core.LayerF32, "float64": _core.LayerF64, "bfloat16": _core.LayerBF16}[np.dtype(dtype).name]
        self._impl = cls(self._op, *arrays, *params)
        self._params = params
        self.dtype = np.dtype(dtype)
        self.data_format = params[4]

    # Layers pickle (and copy) as their weights and normalised arguments, and are packed again when
    # loaded: so they can be sent to worker processes (multiprocessing, joblib, dask, Ray). The
    # packed form is the same bytes for the same weights, so results are identical bit for bit.
    def __getstate__(self) -> dict:
        # (A bfloat16 dtype has no string NumPy can read back; the filter array carries it.)
        return {"dtype": self.dtype.str, "arrays": self._arrays, "params": self._params,
                "device": getattr(self, "device", "cpu")}

    def __setstate__(self, state: dict) -> None:
        arrays = tuple(None if a is None else np.asarray(a) for a in state["arrays"])
        self._make(arrays[0].dtype, arrays, tuple(state["params"]))
        for a in arrays:
            if a is not None:
                a.flags.writeable = False  # fresh from pickle or deepcopy, or already read-only (copy)
        self._arrays = arrays
        self._set_device(state.get("device", "cpu"))

    def __call__(self, input, out: Optional[np.ndarray] = None) -> np.ndarray:
        """Apply the layer to ``input``.

        Parameters
        ----------
        input : array_like, shape [N, H, W, C] (NHWC) or [N, C, H, W] (NCHW)
            In the layer's ``data_format`` and ``dtype``, with the filters' ``C``: a NumPy array,
            or any object with ``__dlpack__`` (a torch tensor) or ``__array__``. Never modified.
            ``H`` and ``W`` may differ from call to call.
        out : numpy.ndarray, optional
            Where to write the result: the result's shape (``output_shape(input.shape)``), the
            layer's dtype, writeable, sharing no memory with ``input``. It is returned.

        Returns
        -------
        numpy.ndarray
            Shape ``output_shape(input.shape)``, the layer's dtype and ``data_format``: the same
            values, bit for bit, as the functional op with the same arguments.

        Raises
        ------
        TypeError
            If ``input``'s dtype is not the layer's, or it cannot be turned into a NumPy array; if
            ``out`` is not a NumPy array or has another dtype.
        ValueError
            If ``input`` does not have rank 4 or the filters' number of channels, or is too small
            for the kernel under VALID or explicit padding; if ``out`` has the wrong shape, is
            read-only, has overlapping elements or shares memory with ``input``.
        MemoryError
            If the result, or a working buffer of sepcpp's, cannot be allocated.

        Examples
        --------
        >>> import numpy as np, sepcpp
        >>> layer = sepcpp.DepthwiseConv2D(np.ones((2, 2, 1, 1), np.float32), 1, "VALID")
        >>> x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)
        >>> print(layer(x)[0, :, :, 0])  # 2x2 window sums of [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
        [[ 8. 12.]
         [20. 24.]]
        >>> out = np.empty((1, 2, 2, 1), np.float32)
        >>> layer(x, out) is out
        True
        >>> layer(x.astype(np.float64))
        Traceback (most recent call last):
            ...
        TypeError: input: dtype float64 does not match the layer's dtype float32
        """
        if out is None and type(input) is np.ndarray and self._device_weights is None:
            return self._impl(input, None)  # the fast path: the core checks dtype and shapes
        x = _input_array(input)
        _check_rank(x, "input", 4, self.data_format)
        if self._device_weights is not None or isinstance(x, _gpu.DeviceArray):
            return self._call_gpu(x, out)
        return self._impl(x, _check_out(out, self.dtype, [x]))

    def _call_gpu(self, x, out):
        if self._device_weights is None or not isinstance(x, _gpu.DeviceArray):
            where = "a GPU array" if isinstance(x, _gpu.DeviceArray) else "a host array"
            raise TypeError(f"input: is {where} but the layer is on device {self.device!r} "
                            "(build it with device='cuda' for GPU arrays)")
        if x.dtype != self.dtype:
            raise TypeError(f"input: dtype {x.dtype} does not match the layer's dtype {self.dtype}")
        return _gpu.run(self._op, x, *self._device_weights, _gpu.check_out(out, x), *self._params)

    def output_shape(self, input_shape) -> tuple:
        """The shape of the result for an input of shape ``input_shape``.

        Parameters
        ----------
        input_shape : sequence of int
            A rank-4 shape in the layer's ``data_format``: (N, H, W, C) or (N, C, H, W).

        Returns
        -------
        tuple of int
            (N, OH, OW, O) or (N, O, OH, OW); OH and OW as the layer's ``padding`` says.

        Raises
        ------
        ValueError
            If ``input_shape`` does not have 4 entries or the filters' number of channels, or the
            kernel does not fit in it under VALID or explicit padding.

        Examples
        --------
        >>> import numpy as np, sepcpp
        >>> layer = sepcpp.DepthwiseConv2D(np.ones((3, 3, 8, 1), np.float32), 2, "SAME")
        >>> layer.output_shape((1, 9, 11, 8))  # SAME: ceil(9 / 2), ceil(11 / 2)
        (1, 5, 6, 8)
        >>> sepcpp.DepthwiseConv2D(np.ones((3, 3, 8, 1), np.float32), 1, "VALID").output_shape((1, 2, 2, 8))
        Traceback (most recent call last):
            ...
        ValueError: depthwise_conv2d: the effective filter height 3 (kernel 3, dilation 1) is larger than ...
        """
        return tuple(self._impl.output_shape(list(input_shape)))

    def __repr__(self) -> str:
        return f"sepcpp.{type(self).__name__}(dtype={self.dtype}, data_format={self.data_format!r})"


@_doc(layer_raises=_LAYER_RAISES, layer_attributes=_LAYER_ATTRIBUTES, layer_device=_LAYER_DEVICE)
class DepthwiseConv2D(_Layer):
    """Prepacked ``depthwise_conv2d``: the filter is checked, copied and packed once.

    The layer keeps its own read-only copy of the weights (later changes to the caller's arrays
    do not affect it), in the order the kernels read, so a call does no repacking; it pickles
    and copies (to worker processes, too) and computes the same bits as ``depthwise_conv2d``.

    Parameters
    ----------
    filter : array_like, shape [kh, kw, C, M]
        The kernels (see ``depthwise_conv2d``); float32, float64 or bfloat16, which becomes
        the layer's dtype.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    bias : array_like, shape [C*M], optional
        Added per output channel ``c*M + m``, before ``activation``. The filter's dtype.
    {activation}
    {layer_device}

    Attributes
    ----------
    {layer_attributes}

    Raises
    ------
    {layer_raises}

    See Also
    --------
    depthwise_conv2d : the same op in one call.

    Examples
    --------
    >>> import numpy as np, sepcpp
    >>> w = np.array([1, -1], np.float32).reshape(1, 2, 1, 1)  # [kh, kw, C, M]
    >>> layer = sepcpp.DepthwiseConv2D(w, 1, "VALID")
    >>> layer
    sepcpp.DepthwiseConv2D(dtype=float32, data_format='NHWC')
    >>> x = np.array([1, 4, 9, 16], np.float32).reshape(1, 1, 4, 1)
    >>> print(layer(x)[0, 0, :, 0])  # x[j] - x[j + 1]
    [-3. -5. -7.]
    >>> np.array_equal(layer(x), sepcpp.depthwise_conv2d(x, w, 1, "VALID"))
    True
    """

    _op = "depthwise"

    def __init__(self, filter, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
                 activation=None, device="cpu"):
        self._build(filter, None, bias, None, strides, dilations, padding, data_format, activation, None, 1,
                    ("filter", "bias"), device)


@_doc(layer_raises=_LAYER_RAISES, layer_attributes=_LAYER_ATTRIBUTES, layer_device=_LAYER_DEVICE)
class PointwiseConv2D(_Layer):
    """Prepacked ``pointwise_conv2d`` (a 1x1 convolution): the filter is packed once.

    The layer keeps its own read-only copy of the weights (later changes to the caller's arrays
    do not affect it), in the order the kernels read, so a call does no repacking; it pickles
    and copies (to worker processes, too) and computes the same bits as ``pointwise_conv2d``.

    Parameters
    ----------
    filter : array_like, shape [1, 1, C, O]
        The weights; float32, float64 or bfloat16, which becomes the layer's dtype.
    {data_format_2d}
    bias : array_like, shape [O], optional
        Added to output channel ``o``'s values, before ``activation``. The filter's dtype.
    {activation}
    {layer_device}

    Attributes
    ----------
    {layer_attributes}

    Raises
    ------
    {layer_raises}

    See Also
    --------
    pointwise_conv2d : the same op in one call.

    Examples
    --------
    Each pixel's two channels summed and subtracted:

    >>> import numpy as np, sepcpp
    >>> w = np.array([[1, 1], [1, -1]], np.float32).reshape(1, 1, 2, 2)  # [1, 1, C, O]
    >>> layer = sepcpp.PointwiseConv2D(w)
    >>> x = np.array([[3, 1], [5, 2]], np.float32).reshape(1, 1, 2, 2)  # NHWC: 2 pixels, C = 2
    >>> print(layer(x)[0, 0])
    [[4. 2.]
     [7. 3.]]
    >>> np.array_equal(layer(x), x @ w[0, 0])
    True
    """

    _op = "pointwise"

    def __init__(self, filter, data_format="NHWC", *, bias=None, activation=None, device="cpu"):
        self._build(filter, None, bias, None, 1, 1, "VALID", data_format, activation, None, 1, ("filter", "bias"),
                    device)


@_doc(layer_raises=_LAYER_RAISES, layer_attributes=_LAYER_ATTRIBUTES, layer_device=_LAYER_DEVICE)
class SeparableConv2D(_Layer):
    """Prepacked, fused ``separable_conv2d``; with ``groups`` > 1, ``super_separable_conv2d``.

    Both filters are checked, copied and packed once. The layer keeps its own read-only copy of
    the weights (later changes to the caller's arrays do not affect it), in the order the
    kernels read, so a call does no repacking; it pickles and copies (to worker processes, too)
    and computes the same bits as the functional op.

    Parameters
    ----------
    depthwise_filter : array_like, shape [kh, kw, C, M]
        The depthwise kernels (see ``depthwise_conv2d``); float32, float64 or bfloat16, which
        becomes the layer's dtype.
    pointwise_filter : array_like, shape [1, 1, C*M/groups, O]
        The pointwise weights (``[1, 1, C*M, O]`` for ``groups=1``); see
        ``super_separable_conv2d`` for the groups.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {activation}
    groups : int, default 1
        The number of groups of the pointwise step; positive, divides ``C*M`` and ``O``.
    {layer_device}

    Attributes
    ----------
    {layer_attributes}

    Raises
    ------
    {layer_raises}

    See Also
    --------
    separable_conv2d, super_separable_conv2d : the same ops in one call.

    Examples
    --------
    A MobileNet-style block: 2x2 window sums, ReLU6 between the steps, then channel 0 minus
    channel 1:

    >>> import numpy as np, sepcpp
    >>> dw = np.ones((2, 2, 2, 1), np.float32)  # [kh, kw, C, M]
    >>> pw = np.array([1, -1], np.float32).reshape(1, 1, 2, 1)  # [1, 1, C*M, O]
    >>> layer = sepcpp.SeparableConv2D(dw, pw, 1, "VALID", depthwise_activation="relu6")
    >>> x = np.stack([np.arange(9.0).reshape(3, 3), np.ones((3, 3))], axis=-1)[None].astype(np.float32)
    >>> print(layer(x)[0, :, :, 0])  # min(window sum of 0..8, 6) - min(4, 6)
    [[2. 2.]
     [2. 2.]]
    >>> y = sepcpp.separable_conv2d(x, dw, pw, 1, "VALID", depthwise_activation="relu6")
    >>> np.array_equal(layer(x), y)
    True
    >>> layer.output_shape((8, 3, 3, 2))
    (8, 2, 2, 1)
    """

    _op = "separable"

    def __init__(self, depthwise_filter, pointwise_filter, strides, padding, data_format="NHWC", dilations=None,
                 *, depthwise_bias=None, depthwise_activation=None, bias=None, activation=None, groups=1,
                 device="cpu"):
        self._build(depthwise_filter, pointwise_filter, depthwise_bias, bias, strides, dilations, padding,
                    data_format, activation, depthwise_activation, _groups(groups),
                    ("depthwise_filter", "depthwise_bias"), device)


@_doc(layer_raises=_LAYER_RAISES, layer_attributes=_LAYER_ATTRIBUTES, layer_device=_LAYER_DEVICE)
class Conv2D(_Layer):
    """Prepacked ``conv2d``: the filters are checked, copied and packed once.

    The layer keeps its own read-only copy of the weights (later changes to the caller's arrays
    do not affect it), in the order the kernels read, so a call does no repacking; it pickles
    and copies (to worker processes, too) and computes the same bits as ``conv2d``.

    Parameters
    ----------
    filters : array_like, shape [kh, kw, C, O]
        The kernels; float32, float64 or bfloat16, which becomes the layer's dtype.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    bias : array_like, shape [O], optional
        Added to output channel ``o``'s values, before ``activation``. The filters' dtype.
    {activation}
    {layer_device}

    Attributes
    ----------
    {layer_attributes}

    Raises
    ------
    {layer_raises}

    See Also
    --------
    conv2d : the same op in one call.

    Examples
    --------
    A 2x2 window sum over both channels of an NCHW input, with a bias:

    >>> import numpy as np, sepcpp
    >>> w = np.ones((2, 2, 2, 1), np.float32)  # [kh, kw, C, O]
    >>> layer = sepcpp.Conv2D(w, 1, "VALID", "NCHW", bias=np.array([100], np.float32))
    >>> x = np.stack([np.eye(3), 2 * np.eye(3)])[None].astype(np.float32)  # NCHW (1, 2, 3, 3)
    >>> print(layer(x)[0, 0])  # 100 + (1 + 2) * (number of diagonal ones in the window)
    [[106. 103.]
     [103. 106.]]
    >>> np.array_equal(layer(x), sepcpp.conv2d(x, w, 1, "VALID", "NCHW", bias=[100]))
    True
    """

    _op = "conv"

    def __init__(self, filters, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
                 activation=None, device="cpu"):
        self._build(filters, None, bias, None, strides, dilations, padding, data_format, activation, None, 1,
                    ("filters", "bias"), device)
