"""The Python layer: argument normalisation, defaults, layouts and 1-D views.

Everything here turns TensorFlow-style arguments (strides as an int, a pair or a 4-list; padding as
a string or an explicit list; 1-D ops) into the one form the C++ core takes. Shape validation and
the shape arithmetic itself live in the core (``cpp/src/geometry.cc``), so every error message about
shapes comes from one place.
"""

from __future__ import annotations

import operator
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core

__all__ = [
    "depthwise_conv2d",
    "pointwise_conv2d",
    "separable_conv2d",
    "super_separable_conv2d",
    "conv2d",
    "depthwise_conv1d",
    "separable_conv1d",
    "super_separable_conv1d",
    "conv1d",
]

IntOrSeq = Union[int, Sequence[int]]
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_ACTIVATIONS = (None, "relu", "relu6")


# --------------------------------------------------------------------------------------------
# Arrays


def _resolve_lazy_sign(x: Any) -> Any:
    """A torch tensor with a lazy negation or conjugation (``t.is_neg()``, ``t.is_conj()``, e.g.
    ``torch.complex(re, im).conj().imag``) exports its raw, un-negated memory through DLPack:
    resolve it into a new tensor (the caller's is left as it is). Other objects pass through."""
    is_neg = getattr(x, "is_neg", None)
    if is_neg is None or not callable(is_neg) or not hasattr(x, "resolve_neg"):
        return x
    if x.is_conj():
        x = x.resolve_conj()
    if x.is_neg():
        x = x.resolve_neg()
    return x


def _to_array(x: Any, name: str) -> np.ndarray:
    """NumPy view of an array-like: ndarray as is, then __dlpack__, then __array__ (no copy)."""
    if isinstance(x, np.ndarray):
        return x
    x = _resolve_lazy_sign(x)
    if hasattr(x, "__dlpack__"):
        try:
            return np.from_dlpack(x)
        except (TypeError, ValueError, RuntimeError, BufferError):
            pass  # fall through to __array__ (e.g. a device or dtype DLPack cannot export)
    try:
        return np.asarray(x)
    except Exception as e:  # noqa: BLE001 - report any conversion failure as the argument's
        raise TypeError(f"{name}: cannot be converted to a NumPy array ({type(x).__name__}): {e}") from e


def _input_array(x: Any) -> np.ndarray:
    a = x if type(x) is np.ndarray else _to_array(x, "input")
    if a.dtype not in _FLOATS:
        raise TypeError(
            f"input: dtype {a.dtype} is not supported; sepcpp computes in float32 or float64 "
            f"(input shape {a.shape})"
        )
    return a


def _operand(x: Any, name: str, dtype: np.dtype) -> Optional[np.ndarray]:
    """A filter or bias in the input's dtype. Arrays of another dtype are refused, as TensorFlow
    does; plain Python numbers and lists are converted."""
    if x is None:
        return None
    if type(x) is np.ndarray and x.dtype == dtype:
        return x  # the common case, checked first: every call passes through here
    if isinstance(x, (list, tuple, int, float)):
        a = np.asarray(x, dtype=dtype)
    else:
        a = _to_array(x, name)
    if a.dtype != dtype:
        raise TypeError(f"{name}: dtype {a.dtype} does not match the input's dtype {dtype} (shape {a.shape})")
    return a


def _check_rank(a: Optional[np.ndarray], name: str, ndim: int, layout: str) -> None:
    if a is None:
        raise TypeError(f"{name}: is required, got None")
    if a.ndim != ndim:
        raise ValueError(f"{name}: must have rank {ndim} ({layout}), got rank {a.ndim} with shape {a.shape}")


def _check_out(out: Any, dtype: np.dtype, sources: Sequence[Optional[np.ndarray]]) -> Optional[np.ndarray]:
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        # Also what keeps a torch tensor with a lazy negation (is_neg()) from being written through
        # its raw memory, which would store the results with the wrong sign.
        raise TypeError(f"out: must be a NumPy array, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out: dtype {out.dtype} does not match the input's dtype {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"out: is read-only (shape {out.shape})")
    if out.size == 0:
        return out  # nothing is written (NumPy gives empty arrays zero strides)
    # Elements of `out` must not overlap each other: strides sorted by size must each step over
    # the whole extent of the smaller ones.
    extent = out.itemsize
    for size, stride in sorted(((s, abs(st)) for s, st in zip(out.shape, out.strides) if s > 1), key=lambda t: t[1]):
        if stride < extent:
            raise ValueError(f"out: its elements overlap in memory (shape {out.shape}, strides {out.strides})")
        extent = stride * size
    for src in sources:
        if src is not None and np.may_share_memory(out, src):
            raise ValueError("out: shares memory with an input or filter; sepcpp does not compute in place")
    return out


# --------------------------------------------------------------------------------------------
# Parameters


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int(v: Any, name: str) -> int:
    """An integer argument: int, NumPy integer or 0-d integer array (bools refused), in int64's
    range (the core's type: a larger value would otherwise fail in the binding, unnamed)."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v[()]  # np.array(2) -> np.int64(2); np.array(True) -> np.bool_, refused below
    if isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{name}: expected integers, got {v!r}")
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{name}: expected integers, got {v!r}") from None
    if not _INT64_MIN <= i <= _INT64_MAX:
        raise ValueError(f"{name}: {i} is outside the 64-bit integer range [-2**63, 2**63 - 1]")
    return i


def _is_seq(v: Any) -> bool:
    """A list of per-axis values (a 0-d array is one value, as NumPy's own integers are)."""
    return isinstance(v, (list, tuple)) or (isinstance(v, np.ndarray) and v.ndim > 0)


def _spatial_2d(v: Optional[IntOrSeq], name: str, layout: str) -> Tuple[int, int]:
    """int, (h, w), or TensorFlow's 4-list with 1 on the batch and channel entries."""
    if v is None:
        return (1, 1)
    if type(v) is int and 0 < v <= _INT64_MAX:
        return (v, v)  # the common case, checked first
    if not _is_seq(v):
        s = _int(v, name)
        return (s, s)
    vals = [_int(x, name) for x in v]
    if len(vals) == 1:
        return (vals[0], vals[0])
    if len(vals) == 2:
        return (vals[0], vals[1])
    if len(vals) == 4:
        h, w, rest = (1, 2, (0, 3)) if layout == "NHWC" else (2, 3, (0, 1))
        if any(vals[i] != 1 for i in rest):
            raise ValueError(
                f"{name}: {list(vals)} must be 1 on the batch and channel dimensions for {layout}"
            )
        return (vals[h], vals[w])
    raise ValueError(f"{name}: expected an int, (h, w) or a 4-list, got {list(vals)}")


def _spatial_1d(v: Optional[IntOrSeq], name: str, layout: str) -> int:
    """int, [s], or TensorFlow's 3-list with 1 on the batch and channel entries."""
    if v is None:
        return 1
    if not _is_seq(v):
        return _int(v, name)
    vals = [_int(x, name) for x in v]
    if len(vals) == 1:
        return vals[0]
    if len(vals) == 3:
        w, rest = (1, (0, 2)) if layout == "NWC" else (2, (0, 1))
        if any(vals[i] != 1 for i in rest):
            raise ValueError(f"{name}: {list(vals)} must be 1 on the batch and channel dimensions for {layout}")
        return vals[w]
    raise ValueError(f"{name}: expected an int or a 3-list, got {list(vals)}")


def _layout(data_format: Any, allowed: Tuple[str, str]) -> str:
    if not isinstance(data_format, str) or data_format.upper() not in allowed:
        raise ValueError(f"data_format: expected one of {allowed}, got {data_format!r}")
    return data_format.upper()


def _activation(a: Any, name: str) -> str:
    if a is None:
        return ""
    if isinstance(a, str) and a.lower() in ("relu", "relu6"):
        return a.lower()
    raise ValueError(f"{name}: expected None, 'relu' or 'relu6', got {a!r}")


def _pair(p: Any, name: str) -> Tuple[int, int]:
    if not _is_seq(p) or len(p) != 2:
        raise ValueError(f"{name}: each entry of an explicit padding list must be a [before, after] pair, got {p!r}")
    return (_int(p[0], name), _int(p[1], name))


def _padding_2d(padding: Any, layout: str) -> Tuple[str, Tuple[int, int, int, int]]:
    """("SAME"|"VALID"|"EXPLICIT", (top, bottom, left, right))."""
    if isinstance(padding, str):
        mode = padding.upper()
        if mode in ("SAME", "VALID"):
            return mode, (0, 0, 0, 0)
        if mode == "CAUSAL":
            raise ValueError("padding: 'CAUSAL' applies to the 1-D ops only")
        raise ValueError(f"padding: expected 'SAME', 'VALID' or an explicit list, got {padding!r}")
    if not _is_seq(padding):
        raise ValueError(f"padding: expected 'SAME', 'VALID' or an explicit list, got {padding!r}")
    pairs = [_pair(p, "padding") for p in padding]
    if len(pairs) == 4:
        (h, w), rest = ((1, 2), (0, 3)) if layout == "NHWC" else ((2, 3), (0, 1))
        if any(pairs[i] != (0, 0) for i in rest):
            raise ValueError(
                f"padding: {[list(p) for p in pairs]} pads the batch or channel dimension ({layout}); "
                "only the spatial dimensions may be padded"
            )
        pairs = [pairs[h], pairs[w]]
    if len(pairs) != 2:
        raise ValueError(f"padding: an explicit list needs 4 [before, after] pairs (or 2 spatial ones), got {padding!r}")
    return "EXPLICIT", (pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1])


def _padding_1d(padding: Any, layout: str, kernel: int, dilation: int) -> Tuple[str, Tuple[int, int, int, int]]:
    if isinstance(padding, str):
        mode = padding.upper()
        if mode in ("SAME", "VALID"):
            return mode, (0, 0, 0, 0)
        if mode == "CAUSAL":
            # Left padding only: output t sees inputs t - (k-1)*d .. t.
            left = (kernel - 1) * max(dilation, 0)
            if left > _INT64_MAX:
                raise ValueError(
                    f"dilations: CAUSAL padding of (kernel {kernel} - 1) * dilation {dilation} = {left} "
                    "overflows 64 bits"
                )
            return "EXPLICIT", (0, 0, left, 0)
        raise ValueError(f"padding: expected 'SAME', 'VALID', 'CAUSAL' or an explicit list, got {padding!r}")
    if not _is_seq(padding):
        raise ValueError(f"padding: expected 'SAME', 'VALID', 'CAUSAL' or an explicit list, got {padding!r}")
    pairs = [_pair(p, "padding") for p in padding]
    if len(pairs) == 3:
        w, rest = (1, (0, 2)) if layout == "NWC" else (2, (0, 1))
        if any(pairs[i] != (0, 0) for i in rest):
            raise ValueError(
                f"padding: {[list(p) for p in pairs]} pads the batch or channel dimension ({layout}); "
                "only the width may be padded"
            )
        pairs = [pairs[w]]
    if len(pairs) != 1:
        raise ValueError(f"padding: an explicit 1-D list needs 3 [before, after] pairs (or 1), got {padding!r}")
    return "EXPLICIT", (0, 0, pairs[0][0], pairs[0][1])


# --------------------------------------------------------------------------------------------
# The core call


def _run(op, x, f1, f2, b1, b2, out, strides, dilations, padding, layout, activation, dw_activation, groups):
    mode, pads = padding
    try:
        return _core.run(
            op, x, f1, f2, b1, b2, out, strides, dilations, mode, pads, layout, activation, dw_activation, groups
        )
    except ValueError as e:
        if groups == 1:
            raise
        # The core runs super-separable as separable with groups: name the op the caller used.
        raise ValueError(str(e).replace("separable_conv2d:", "super_separable_conv2d:", 1)) from None


def _prepare_2d(input, filters, biases, out, layout):
    x = _input_array(input)
    _check_rank(x, "input", 4, layout)
    fs = [_operand(f, n, x.dtype) for n, f in filters]
    bs = [_operand(b, n, x.dtype) for n, b in biases]
    o = _check_out(out, x.dtype, [x, *fs, *bs])
    return x, fs, bs, o


def _groups(groups: Any) -> int:
    if type(groups) is int and 0 < groups <= _INT64_MAX:
        return groups
    g = _int(groups, "groups")
    if g <= 0:
        raise ValueError(f"groups: must be positive, got {g}")
    return g


def depthwise_conv2d(input, filter, strides, padding, data_format="NHWC", dilations=None, *,
                     bias=None, activation=None, out=None):
    """Depthwise 2-D convolution, as ``tf.nn.depthwise_conv2d``.

    filter: ``[kh, kw, C, M]``; output channel ``c*M + m``. Strides and dilations may be unequal
    and combined. ``bias`` has ``C*M`` entries and is added before ``activation``.
    """
    layout = _layout(data_format, ("NHWC", "NCHW"))
    x, (f,), (b,), o = _prepare_2d(input, [("filter", filter)], [("bias", bias)], out, layout)
    _check_rank(f, "filter", 4, "[kh, kw, C, M]")
    return _run("depthwise", x, f, None, b, None, o, _spatial_2d(strides, "strides", layout),
                _spatial_2d(dilations, "dilations", layout), _padding_2d(padding, layout), layout,
                _activation(activation, "activation"), "", 1)


def pointwise_conv2d(input, filter, data_format="NHWC", *, bias=None, activation=None, out=None):
    """1x1 convolution: filter ``[1, 1, C, O]``."""
    layout = _layout(data_format, ("NHWC", "NCHW"))
    x, (f,), (b,), o = _prepare_2d(input, [("filter", filter)], [("bias", bias)], out, layout)
    _check_rank(f, "filter", 4, "[1, 1, C, O]")
    return _run("pointwise", x, f, None, b, None, o, (1, 1), (1, 1), ("VALID", (0, 0, 0, 0)), layout,
                _activation(activation, "activation"), "", 1)


def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding, data_format="NHWC",
                     dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
                     activation=None, out=None):
    """Depthwise then pointwise in one fused pass, as ``tf.nn.separable_conv2d``.

    ``depthwise_bias`` and ``depthwise_activation`` act between the two steps, so one call computes
    a MobileNet block (depthwise, folded batch norm, ReLU6, pointwise, folded batch norm, ReLU6).
    """
    return super_separable_conv2d(input, depthwise_filter, pointwise_filter, 1, strides, padding, data_format,
                                  dilations, depthwise_bias=depthwise_bias,
                                  depthwise_activation=depthwise_activation, bias=bias,
                                  activation=activation, out=out)


def super_separable_conv2d(input, depthwise_filter, pointwise_filter, groups, strides, padding,
                           data_format="NHWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None, out=None):
    """Separable convolution whose pointwise step is split into ``groups`` groups.

    pointwise_filter: ``[1, 1, C*M/groups, O]``, O divisible by groups; group g maps depthwise
    channels ``[g*C*M/groups, (g+1)*C*M/groups)`` to outputs ``[g*O/groups, (g+1)*O/groups)``.
    ``groups=1`` is ``separable_conv2d``.
    """
    layout = _layout(data_format, ("NHWC", "NCHW"))
    x, (fd, fp), (bd, b), o = _prepare_2d(
        input, [("depthwise_filter", depthwise_filter), ("pointwise_filter", pointwise_filter)],
        [("depthwise_bias", depthwise_bias), ("bias", bias)], out, layout)
    _check_rank(fd, "depthwise_filter", 4, "[kh, kw, C, M]")
    _check_rank(fp, "pointwise_filter", 4, "[1, 1, C*M/groups, O]")
    return _run("separable", x, fd, fp, bd, b, o, _spatial_2d(strides, "strides", layout),
                _spatial_2d(dilations, "dilations", layout), _padding_2d(padding, layout), layout,
                _activation(activation, "activation"), _activation(depthwise_activation, "depthwise_activation"),
                _groups(groups))


def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
           activation=None, out=None):
    """Regular 2-D convolution, as ``tf.nn.conv2d``: filters ``[kh, kw, C, O]``."""
    layout = _layout(data_format, ("NHWC", "NCHW"))
    x, (f,), (b,), o = _prepare_2d(input, [("filters", filters)], [("bias", bias)], out, layout)
    _check_rank(f, "filters", 4, "[kh, kw, C, O]")
    return _run("conv", x, f, None, b, None, o, _spatial_2d(strides, "strides", layout),
                _spatial_2d(dilations, "dilations", layout), _padding_2d(padding, layout), layout,
                _activation(activation, "activation"), "", 1)


# --------------------------------------------------------------------------------------------
# 1-D ops: views with H == 1 (no copies), the 2-D core underneath.


_OP_2D = {"depthwise": "depthwise_conv2d", "separable": "separable_conv2d", "conv": "conv2d"}


def _run_1d(op, input, filters, biases, stride, padding, data_format, dilations, activation,
            dw_activation, groups, out):
    layout = _layout(data_format, ("NWC", "NCW"))
    layout2d = "NHWC" if layout == "NWC" else "NCHW"
    x = _input_array(input)
    _check_rank(x, "input", 3, layout)
    fs = [_operand(f, n, x.dtype) for n, f in filters]
    bs = [_operand(b, n, x.dtype) for n, b in biases]
    o = _check_out(out, x.dtype, [x, *fs, *bs])
    if o is not None:
        _check_rank(o, "out", 3, layout)
    for (name, _), f in zip(filters, fs):
        _check_rank(f, name, 3, "[k, C, M]" if name != "pointwise_filter" else "[1, C*M, O]")
    s = _spatial_1d(stride, "stride", layout)
    d = _spatial_1d(dilations, "dilations", layout)
    pad = _padding_1d(padding, layout, fs[0].shape[0], d)
    # NWC (N, W, C) -> (N, 1, W, C); NCW (N, C, W) -> (N, C, 1, W): always views.
    axis = 1 if layout == "NWC" else 2
    x4 = np.expand_dims(x, axis)
    f4 = [f[None] for f in fs]
    o4 = None if o is None else np.expand_dims(o, axis)
    try:
        r = _run(op, x4, f4[0], f4[1] if len(f4) > 1 else None, bs[0], bs[1] if len(bs) > 1 else None, o4,
                 (1, s), (1, d), pad, layout2d, activation, dw_activation, groups)
    except ValueError as e:
        # The core checks the 2-D view (height 1); say it in the 1-D op's words and shapes.
        name_1d = _OP_2D[op].replace("2d", "1d") if groups == 1 else f"super_{_OP_2D[op].replace('2d', '1d')}"
        msg = str(e).replace(_OP_2D[op] + ":", name_1d + ":").replace("strides must", "stride must")
        shapes = ", ".join(f"{n} shape {f.shape}" for (n, _), f in zip(filters, fs))
        raise ValueError(f"{msg} [{name_1d}: input shape {x.shape} ({layout}), {shapes}; checked as 2-D with "
                         "height 1]") from None
    return o if o is not None else np.squeeze(r, axis)


def depthwise_conv1d(input, filter, stride, padding, data_format="NWC", dilations=None, *, bias=None,
                     activation=None, out=None):
    """Depthwise 1-D convolution: filter ``[k, C, M]``; padding also ``"CAUSAL"``."""
    return _run_1d("depthwise", input, [("filter", filter)], [("bias", bias)], stride, padding, data_format,
                   dilations, _activation(activation, "activation"), "", 1, out)


def separable_conv1d(input, depthwise_filter, pointwise_filter, stride, padding, data_format="NWC",
                     dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
                     activation=None, out=None):
    """Separable 1-D convolution: filters ``[k, C, M]`` and ``[1, C*M, O]``; padding also ``"CAUSAL"``."""
    return super_separable_conv1d(input, depthwise_filter, pointwise_filter, 1, stride, padding, data_format,
                                  dilations, depthwise_bias=depthwise_bias,
                                  depthwise_activation=depthwise_activation, bias=bias,
                                  activation=activation, out=out)


def super_separable_conv1d(input, depthwise_filter, pointwise_filter, groups, stride, padding,
                           data_format="NWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None, out=None):
    """Super-separable 1-D convolution: pointwise filter ``[1, C*M/groups, O]``."""
    return _run_1d("separable", input,
                   [("depthwise_filter", depthwise_filter), ("pointwise_filter", pointwise_filter)],
                   [("depthwise_bias", depthwise_bias), ("bias", bias)], stride, padding, data_format,
                   dilations, _activation(activation, "activation"),
                   _activation(depthwise_activation, "depthwise_activation"), _groups(groups), out)


def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None, *, bias=None,
           activation=None, out=None):
    """Regular 1-D convolution, as ``tf.nn.conv1d``: filters ``[k, C, O]``; padding also ``"CAUSAL"``."""
    return _run_1d("conv", input, [("filters", filters)], [("bias", bias)], stride, padding, data_format,
                   dilations, _activation(activation, "activation"), "", 1, out)
