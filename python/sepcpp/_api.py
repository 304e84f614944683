"""The Python layer: argument normalisation, defaults, layouts and 1-D views.

Everything here turns TensorFlow-style arguments (strides as an int, a pair or a 4-list; padding as
a string or an explicit list; 1-D ops) into the one form the C++ core takes. Shape validation and
the shape arithmetic itself live in the core (``cpp/src/geometry.cc``), so every error message about
shapes comes from one place.
"""

from __future__ import annotations

import operator
import sys
import textwrap
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np

from . import _core, _gpu

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


def _bfloat16() -> Optional[np.dtype]:
    """ml_dtypes.bfloat16's dtype, or None while ml_dtypes is not imported: an array can have that
    dtype only once it is, so sepcpp never imports ml_dtypes itself (nor needs it installed)."""
    m = sys.modules.get("ml_dtypes")
    return None if m is None else np.dtype(m.bfloat16)


def _forward_dtype(dtype: np.dtype) -> bool:
    """The dtypes of the forward ops and layers: float32, float64 and bfloat16 (compared by value,
    so that dtypes that went through pickle match; ``dtype == None`` would compare with float64)."""
    if dtype in _FLOATS:
        return True
    bf16 = _bfloat16()
    return bf16 is not None and dtype == bf16
_ACTIVATIONS = (None, "relu", "relu6")


# --------------------------------------------------------------------------------------------
# Docstrings. The parameter descriptions the ops share are written once here; ``_doc`` puts each in
# place of a docstring line that holds only ``{name}``, indented as that line, so that help() shows
# every docstring whole (tests/python/test_docstrings.py checks each names all its parameters).


def _doc(**parts: str):
    """Decorator: replace each docstring line ``{name}`` by ``parts[name]`` or ``_DOC[name]``."""
    table = {**_DOC, **parts}

    def fill(obj):
        if obj.__doc__ is None:  # python -OO strips docstrings
            return obj
        lines = []
        for line in obj.__doc__.splitlines():
            key = line.strip()
            if key.startswith("{") and key.endswith("}") and key[1:-1].isidentifier():
                indent = line[: len(line) - len(line.lstrip())]
                text = textwrap.dedent(table[key[1:-1]]).strip("\n")  # KeyError: a typo in a placeholder
                lines.extend(indent + t if t else "" for t in text.splitlines())
            else:
                lines.append(line)
        obj.__doc__ = "\n".join(lines)
        return obj

    return fill


def _raises(type_extra: str = "", value_extra: str = "") -> str:
    """The Raises section of an op; ``*_extra``: a line on the op's own arguments."""
    type_extra = f"\n        {type_extra}" if type_extra else ""
    value_extra = f"\n        {value_extra}" if value_extra else ""
    return f"""
    TypeError
        If ``input`` is not float32, float64 or bfloat16 (``ml_dtypes.bfloat16``) or cannot be
        turned into a NumPy array; if a filter
        or bias has another dtype than ``input`` (plain lists and numbers are converted), or a
        filter is None; if ``out`` is not a NumPy array or has another dtype; if a stride,
        dilation or padding is not an integer (a float, a bool).{type_extra}
    ValueError
        If an array has the wrong rank, or the shapes disagree (the filter's and the input's
        channels, a bias's length, ``out``'s shape); if ``data_format``, ``padding`` or an
        activation is not one of the values listed; if a stride or dilation is not positive, or
        explicit padding is negative or pads the batch or channel dimension; if the dilated kernel
        is larger than the padded input (VALID or explicit padding); if a value does not fit in 64
        bits; if ``out`` is read-only, has overlapping elements or shares memory with an input or
        filter; if ``SEPCPP_ISA`` names a kernel level this CPU cannot run.{value_extra}
        Each message names the argument and the shapes (docs/errors.md lists every case).
    MemoryError
        If the result, or a working buffer of sepcpp's, cannot be allocated."""


_DOC = {
    "input_2d": """
        input : array_like, shape [N, H, W, C] (NHWC) or [N, C, H, W] (NCHW)
            float32, float64 or bfloat16 (``ml_dtypes.bfloat16``; float32 accumulation, one rounding
            per result): a NumPy array, or any object with ``__dlpack__`` (a torch tensor, without
            a copy) or ``__array__``; any strides (a transposed view, a slice, a
            broadcast). Never modified.""",
    "input_1d": """
        input : array_like, shape [N, W, C] (NWC) or [N, C, W] (NCW)
            float32, float64 or bfloat16 (``ml_dtypes.bfloat16``): a NumPy array, or any object
            with ``__dlpack__`` (a torch tensor, without a copy) or ``__array__``. Never modified.""",
    "strides_2d": """
        strides : int or sequence of int
            How far the window moves along height and width: ``s`` (both), ``(sh, sw)``, or
            TensorFlow's 4-list with 1 on the batch and channel entries: ``[1, sh, sw, 1]`` for
            NHWC, ``[1, 1, sh, sw]`` for NCHW. Positive Python or NumPy integers (a 0-d integer
            array too; bools are refused). Any strides combine with any dilations.""",
    "stride_1d": """
        stride : int or sequence of int
            How far the window moves along the width: ``s``, ``[s]``, or TensorFlow's 3-list with
            1 on the batch and channel entries: ``[1, s, 1]`` for NWC, ``[1, 1, s]`` for NCW.
            Positive integers (bools are refused).""",
    "dilations_2d": """
        dilations : int or sequence of int, optional
            The spacing between the kernel's taps, in the forms ``strides`` takes; None means 1.
            A kernel of ``k`` taps with dilation ``d`` spans ``(k - 1) * d + 1`` input rows or
            columns.""",
    "dilations_1d": """
        dilations : int or sequence of int, optional
            The spacing between the kernel's taps, in the forms ``stride`` takes; None means 1.
            A kernel of ``k`` taps with dilation ``d`` spans ``(k - 1) * d + 1`` inputs.""",
    "padding_2d": """
        padding : {"SAME", "VALID"} or sequence of [before, after] pairs
            ``"VALID"``: no padding; ``OH = floor((H - (kh - 1) * dh - 1) / sh) + 1`` (and the
            same for the width). ``"SAME"``: TensorFlow's rule, ``OH = ceil(H / sh)``, and the
            total padding ``max((OH - 1) * sh + (kh - 1) * dh + 1 - H, 0)`` is split with the
            smaller half before (top, left) and the larger half after (bottom, right). Or an
            explicit list in ``tf.nn``'s form, a pair per dimension of the input's layout, zero
            for batch and channels: ``[[0, 0], [top, bottom], [left, right], [0, 0]]`` for NHWC,
            ``[[0, 0], [0, 0], [top, bottom], [left, right]]`` for NCHW, or only the spatial
            pairs ``[[top, bottom], [left, right]]``; then
            ``OH = floor((H + top + bottom - (kh - 1) * dh - 1) / sh) + 1``. Padding counts as
            zeros. The strings are case-insensitive.""",
    "padding_1d": """
        padding : {"SAME", "VALID", "CAUSAL"} or sequence of [before, after] pairs
            ``"VALID"``: no padding, ``OW = floor((W - (k - 1) * d - 1) / s) + 1``. ``"SAME"``:
            TensorFlow's rule, ``OW = ceil(W / s)``, and the total padding
            ``max((OW - 1) * s + (k - 1) * d + 1 - W, 0)`` is split with the smaller half on the
            left. ``"CAUSAL"``: ``(k - 1) * d`` zeros on the left only, so that (at stride 1)
            output ``t`` sees inputs ``t - (k - 1) * d`` to ``t``, as Keras' ``padding="causal"``.
            Or an explicit list in ``tf.nn``'s form: ``[[0, 0], [left, right], [0, 0]]`` for NWC,
            ``[[0, 0], [0, 0], [left, right]]`` for NCW, or ``[[left, right]]``. Padding counts as
            zeros. The strings are case-insensitive.""",
    "data_format_2d": """
        data_format : {"NHWC", "NCHW"}, default "NHWC"
            The layout of ``input`` and of the result (case-insensitive); the filters' layout is
            the same for both.""",
    "data_format_1d": """
        data_format : {"NWC", "NCW"}, default "NWC"
            The layout of ``input`` and of the result (case-insensitive); the filters' layout is
            the same for both.""",
    "activation": """
        activation : {None, "relu", "relu6"}, optional
            Applied to every output after ``bias``, inside the kernel: ``"relu"`` is
            ``max(v, 0)``, ``"relu6"`` is ``min(max(v, 0), 6)``. Case-insensitive.""",
    "depthwise_bias": """
        depthwise_bias : array_like, shape [C*M], optional
            Added to the depthwise step's output, before ``depthwise_activation`` and the
            pointwise step (a folded batch norm). The input's dtype.""",
    "depthwise_activation": """
        depthwise_activation : {None, "relu", "relu6"}, optional
            Applied to the depthwise step's output after ``depthwise_bias``, before the pointwise
            step, as ``activation``.""",
    "out": """
        out : numpy.ndarray, optional
            Where to write the result: the result's shape, the input's dtype, writeable, any
            strides whose elements do not overlap, sharing no memory with the input, filters or
            biases. It is returned.""",
    "raises": _raises(),
    "raises_groups": _raises(
        type_extra="If ``groups`` is not an integer.",
        value_extra="If ``groups`` is not positive or does not divide ``C*M`` and ``O``.",
    ),
}


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
    if type(x) is not np.ndarray and _gpu.is_device_array(x):
        a = _gpu.wrap_input(x)  # a GPU array: the op runs on its device (python/sepcpp/_gpu.py)
    else:
        a = x if type(x) is np.ndarray else _to_array(x, "input")
    if not _forward_dtype(a.dtype):
        raise TypeError(
            f"input: dtype {a.dtype} is not supported; sepcpp takes float32, float64 or bfloat16 "
            f"(ml_dtypes.bfloat16) (input shape {a.shape})"
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
    elif _gpu.is_device_array(x):
        raise TypeError(f"{name}: is on the GPU but the input is a host array; sepcpp does not copy it back")
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
        if isinstance(x, _gpu.DeviceArray):
            return _gpu.run(op, x, f1, f2, b1, b2, out, strides, dilations, mode, pads, layout, activation,
                            dw_activation, groups)
        return _core.run(
            op, x, f1, f2, b1, b2, out, strides, dilations, mode, pads, layout, activation, dw_activation, groups
        )
    except ValueError as e:
        if groups == 1:
            raise
        # The core runs super-separable as separable with groups: name the op the caller used.
        raise ValueError(str(e).replace("separable_conv2d:", "super_separable_conv2d:", 1)) from None


def _operands(x, filters, biases, out):
    """Filters, biases and out checked against the input (on its device, if it is a GPU array)."""
    if isinstance(x, _gpu.DeviceArray):
        fs = [_gpu.operand(f, n, x.dtype) or _operand(f, n, x.dtype) for n, f in filters]
        bs = [_gpu.operand(b, n, x.dtype) or _operand(b, n, x.dtype) for n, b in biases]
        return fs, bs, _gpu.check_out(out, x)
    fs = [_operand(f, n, x.dtype) for n, f in filters]
    bs = [_operand(b, n, x.dtype) for n, b in biases]
    return fs, bs, _check_out(out, x.dtype, [x, *fs, *bs])


def _prepare_2d(input, filters, biases, out, layout):
    x = _input_array(input)
    _check_rank(x, "input", 4, layout)
    fs, bs, o = _operands(x, filters, biases, out)
    return x, fs, bs, o


def _groups(groups: Any) -> int:
    if type(groups) is int and 0 < groups <= _INT64_MAX:
        return groups
    g = _int(groups, "groups")
    if g <= 0:
        raise ValueError(f"groups: must be positive, got {g}")
    return g


@_doc()
def depthwise_conv2d(input, filter, strides, padding, data_format="NHWC", dilations=None, *,
                     bias=None, activation=None, out=None):
    """Depthwise 2-D convolution, as ``tf.nn.depthwise_conv2d``.

    Each input channel is convolved with its own ``M`` kernels (a depth multiplier of ``M``):
    ``out[n, i, j, c*M + m] = sum over (p, q) of
    input[n, i*sh - top + p*dh, j*sw - left + q*dw, c] * filter[p, q, c, m]`` (NHWC; strides
    ``sh, sw``, dilations ``dh, dw``, padding ``top, left``; a cross-correlation, as in
    TensorFlow; padded positions count as zeros), then ``bias`` and ``activation``.

    Parameters
    ----------
    {input_2d}
    filter : array_like, shape [kh, kw, C, M]
        The kernels, TensorFlow's layout whatever ``data_format`` is: ``filter[:, :, c, m]`` makes
        output channel ``c*M + m``. The input's dtype.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    bias : array_like, shape [C*M], optional
        Added per output channel ``c*M + m``, before ``activation``. The input's dtype.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, OH, OW, C*M] (NHWC) or [N, C*M, OH, OW] (NCHW), the input's dtype (``out`` if
        given); OH and OW as ``padding`` says.

    Raises
    ------
    {raises}

    See Also
    --------
    DepthwiseConv2D : the same with the filter packed once, for many calls.
    separable_conv2d : depthwise then pointwise in one pass.

    Examples
    --------
    A 2x2 box sum over a 4x4 image (one channel, ``M = 1``):

    >>> import numpy as np, sepcpp
    >>> x = np.arange(1, 17, dtype=np.float32).reshape(1, 4, 4, 1)  # NHWC
    >>> print(x[0, :, :, 0])
    [[ 1.  2.  3.  4.]
     [ 5.  6.  7.  8.]
     [ 9. 10. 11. 12.]
     [13. 14. 15. 16.]]
    >>> box = np.ones((2, 2, 1, 1), np.float32)  # [kh, kw, C, M]
    >>> y = sepcpp.depthwise_conv2d(x, box, 1, "VALID")
    >>> print(y[0, :, :, 0])  # 1 + 2 + 5 + 6 = 14, ...
    [[14. 18. 22.]
     [30. 34. 38.]
     [46. 50. 54.]]
    >>> a = x[0, :, :, 0]
    >>> np.array_equal(y[0, :, :, 0], a[:-1, :-1] + a[:-1, 1:] + a[1:, :-1] + a[1:, 1:])
    True

    ``"SAME"`` keeps the size: the one row and column of padding go after (bottom, right), so
    the last row and column sum fewer pixels (16 alone in the corner):

    >>> print(sepcpp.depthwise_conv2d(x, box, 1, "SAME")[0, :, :, 0])
    [[14. 18. 22. 12.]
     [30. 34. 38. 20.]
     [46. 50. 54. 28.]
     [27. 29. 31. 16.]]

    The explicit form of the same padding, and stride 2 (every other window):

    >>> pad = [[0, 0], [0, 1], [0, 1], [0, 0]]  # NHWC: [batch, [top, bottom], [left, right], channels]
    >>> print(sepcpp.depthwise_conv2d(x, box, 2, pad)[0, :, :, 0])
    [[14. 22.]
     [46. 54.]]

    Two channels with ``M = 2`` kernels each (1x1 here, so each output is a scaled channel);
    output channel ``c*M + m`` comes from input channel ``c`` and kernel ``m``:

    >>> x2 = np.concatenate([x, -x], axis=3)  # C = 2
    >>> w2 = np.array([[1, 2], [10, 100]], np.float32).reshape(1, 1, 2, 2)  # w2[0, 0, c, m]
    >>> print(sepcpp.depthwise_conv2d(x2, w2, 1, "VALID")[0, 0, :2])  # pixels (0, 0) and (0, 1)
    [[   1.    2.  -10. -100.]
     [   2.    4.  -20. -200.]]

    NCHW gives the same values in its layout; strides and dilations combine:

    >>> y_nchw = sepcpp.depthwise_conv2d(x.transpose(0, 3, 1, 2), box, 1, "VALID", data_format="NCHW")
    >>> np.array_equal(y_nchw, y.transpose(0, 3, 1, 2))
    True
    >>> k3 = np.ones((3, 3, 1, 1), np.float32)
    >>> sepcpp.depthwise_conv2d(np.zeros((1, 9, 11, 1), np.float32), k3, 2, "SAME", dilations=2).shape
    (1, 5, 6, 1)
    """
    layout = _layout(data_format, ("NHWC", "NCHW"))
    x, (f,), (b,), o = _prepare_2d(input, [("filter", filter)], [("bias", bias)], out, layout)
    _check_rank(f, "filter", 4, "[kh, kw, C, M]")
    return _run("depthwise", x, f, None, b, None, o, _spatial_2d(strides, "strides", layout),
                _spatial_2d(dilations, "dilations", layout), _padding_2d(padding, layout), layout,
                _activation(activation, "activation"), "", 1)


@_doc()
def pointwise_conv2d(input, filter, data_format="NHWC", *, bias=None, activation=None, out=None):
    """1x1 convolution: a matrix product over the channels of every pixel.

    ``out[n, i, j, o] = sum over c of input[n, i, j, c] * filter[0, 0, c, o]`` (NHWC), then
    ``bias`` and ``activation``. The same as ``tf.nn.conv2d`` with a ``[1, 1, C, O]`` filter.

    Parameters
    ----------
    {input_2d}
    filter : array_like, shape [1, 1, C, O]
        The weights, TensorFlow's layout whatever ``data_format`` is. The input's dtype.
    {data_format_2d}
    bias : array_like, shape [O], optional
        Added to output channel ``o``'s values, before ``activation``. The input's dtype.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, H, W, O] (NHWC) or [N, O, H, W] (NCHW), the input's dtype (``out`` if given).

    Raises
    ------
    {raises}

    See Also
    --------
    PointwiseConv2D : the same with the filter packed once, for many calls.

    Examples
    --------
    Four pixels of three channels, two outputs: channel 0 + channel 2, and channel 1 - channel 2:

    >>> import numpy as np, sepcpp
    >>> x = np.arange(12, dtype=np.float32).reshape(1, 2, 2, 3)  # NHWC
    >>> print(x.reshape(4, 3))  # one pixel per row
    [[ 0.  1.  2.]
     [ 3.  4.  5.]
     [ 6.  7.  8.]
     [ 9. 10. 11.]]
    >>> w = np.array([[1, 0], [0, 1], [1, -1]], np.float32).reshape(1, 1, 3, 2)  # [1, 1, C, O]
    >>> y = sepcpp.pointwise_conv2d(x, w)
    >>> print(y.reshape(4, 2))
    [[ 2. -1.]
     [ 8. -1.]
     [14. -1.]
     [20. -1.]]
    >>> np.array_equal(y, x @ w[0, 0])
    True

    With a bias and ReLU (``max(v + b, 0)``):

    >>> b = np.array([-5, 0], np.float32)
    >>> print(sepcpp.pointwise_conv2d(x, w, bias=b, activation="relu").reshape(4, 2))
    [[ 0.  0.]
     [ 3.  0.]
     [ 9.  0.]
     [15.  0.]]

    NCHW: the channels come second, in the input and in the result:

    >>> y_nchw = sepcpp.pointwise_conv2d(x.transpose(0, 3, 1, 2), w, data_format="NCHW")
    >>> y_nchw.shape, np.array_equal(y_nchw, y.transpose(0, 3, 1, 2))
    ((1, 2, 2, 2), True)
    """
    layout = _layout(data_format, ("NHWC", "NCHW"))
    x, (f,), (b,), o = _prepare_2d(input, [("filter", filter)], [("bias", bias)], out, layout)
    _check_rank(f, "filter", 4, "[1, 1, C, O]")
    return _run("pointwise", x, f, None, b, None, o, (1, 1), (1, 1), ("VALID", (0, 0, 0, 0)), layout,
                _activation(activation, "activation"), "", 1)


@_doc()
def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding, data_format="NHWC",
                     dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
                     activation=None, out=None):
    """Depthwise then pointwise convolution in one fused pass, as ``tf.nn.separable_conv2d``.

    The depthwise step (``depthwise_conv2d`` with ``depthwise_filter``, then ``depthwise_bias``
    and ``depthwise_activation``) feeds the pointwise step (``pointwise_conv2d`` with
    ``pointwise_filter``, then ``bias`` and ``activation``) tile by tile, so the intermediate
    ``[N, OH, OW, C*M]`` tensor is never allocated. One call computes a MobileNet block:
    depthwise, folded batch norm, ReLU6, pointwise, folded batch norm, ReLU6.

    Parameters
    ----------
    {input_2d}
    depthwise_filter : array_like, shape [kh, kw, C, M]
        The depthwise kernels (see ``depthwise_conv2d``): ``depthwise_filter[:, :, c, m]`` makes
        intermediate channel ``c*M + m``. The input's dtype.
    pointwise_filter : array_like, shape [1, 1, C*M, O]
        The pointwise weights from the ``C*M`` intermediate channels to the ``O`` outputs.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, OH, OW, O] (NHWC) or [N, O, OH, OW] (NCHW), the input's dtype (``out`` if
        given); OH and OW as ``padding`` says.

    Raises
    ------
    {raises}

    See Also
    --------
    SeparableConv2D : the same with the filters packed once, for many calls.
    super_separable_conv2d : the pointwise step split into groups.

    Examples
    --------
    Two channels, each summed over 2x2 windows (the depthwise step), then channel 0 minus
    channel 1 (the pointwise step):

    >>> import numpy as np, sepcpp
    >>> x = np.stack([np.arange(9.0).reshape(3, 3), np.ones((3, 3))], axis=-1)[None]
    >>> x = x.astype(np.float32)  # NHWC (1, 3, 3, 2): channel 0 is 0..8, channel 1 is ones
    >>> dw = np.ones((2, 2, 2, 1), np.float32)  # [kh, kw, C, M]
    >>> pw = np.array([1, -1], np.float32).reshape(1, 1, 2, 1)  # [1, 1, C*M, O]
    >>> y = sepcpp.separable_conv2d(x, dw, pw, 1, "VALID")
    >>> print(y[0, :, :, 0])  # [[0+1+3+4, 1+2+4+5], [3+4+6+7, 4+5+7+8]] minus 4
    [[ 4.  8.]
     [16. 20.]]
    >>> np.array_equal(y, sepcpp.pointwise_conv2d(sepcpp.depthwise_conv2d(x, dw, 1, "VALID"), pw))
    True

    An activation between the steps: ReLU6 caps the window sums at 6 before the difference:

    >>> y6 = sepcpp.separable_conv2d(x, dw, pw, 1, "VALID", depthwise_activation="relu6")
    >>> print(y6[0, :, :, 0])  # min(sum, 6) - min(4, 6)
    [[2. 2.]
     [2. 2.]]
    >>> steps = sepcpp.depthwise_conv2d(x, dw, 1, "VALID", activation="relu6")
    >>> np.array_equal(y6, sepcpp.pointwise_conv2d(steps, pw))
    True

    Biases too (``depthwise_bias`` before ``depthwise_activation``, ``bias`` before
    ``activation``): every step of a MobileNet block in one call:

    >>> yb = sepcpp.separable_conv2d(x, dw, pw, 1, "VALID", depthwise_bias=[-10, 0],
    ...                              depthwise_activation="relu", bias=[1], activation="relu")
    >>> print(yb[0, :, :, 0])  # relu(relu(sum - 10) - relu(4 + 0) + 1): relu(-3), relu(-1), 7, 11
    [[ 0.  0.]
     [ 7. 11.]]
    """
    return super_separable_conv2d(input, depthwise_filter, pointwise_filter, 1, strides, padding, data_format,
                                  dilations, depthwise_bias=depthwise_bias,
                                  depthwise_activation=depthwise_activation, bias=bias,
                                  activation=activation, out=out)


@_doc()
def super_separable_conv2d(input, depthwise_filter, pointwise_filter, groups, strides, padding,
                           data_format="NHWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None, out=None):
    """Separable convolution whose pointwise step is split into ``groups`` groups.

    Super-separable convolution ("Depthwise Separable Convolutions for Neural Machine
    Translation"): the depthwise step as in ``separable_conv2d``, then group ``g`` maps the
    intermediate channels ``[g*C*M/groups, (g+1)*C*M/groups)`` to the outputs
    ``[g*O/groups, (g+1)*O/groups)`` with its own weights, so the pointwise step has
    ``1/groups`` of the weights and work. It equals ``groups`` separable convolutions on
    consecutive channel slices, concatenated. ``groups=1`` is ``separable_conv2d``.

    Parameters
    ----------
    {input_2d}
    depthwise_filter : array_like, shape [kh, kw, C, M]
        The depthwise kernels (see ``depthwise_conv2d``). The input's dtype.
    pointwise_filter : array_like, shape [1, 1, C*M/groups, O]
        The pointwise weights: ``pointwise_filter[0, 0, :, g*O/groups:(g+1)*O/groups]`` are group
        ``g``'s. ``O`` must be divisible by ``groups``.
    groups : int
        The number of groups; positive, divides ``C*M`` and ``O``.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, OH, OW, O] (NHWC) or [N, O, OH, OW] (NCHW), the input's dtype (``out`` if
        given); OH and OW as ``padding`` says.

    Raises
    ------
    {raises_groups}

    Examples
    --------
    Four channels in two groups, with a 1x1 depthwise step that passes them through: output 0
    is channel 0 + channel 1, output 1 is 10 * (channel 2 + channel 3):

    >>> import numpy as np, sepcpp
    >>> x = np.arange(8, dtype=np.float32).reshape(1, 1, 2, 4)  # NHWC: 2 pixels, C = 4
    >>> print(x[0, 0])
    [[0. 1. 2. 3.]
     [4. 5. 6. 7.]]
    >>> dw = np.ones((1, 1, 4, 1), np.float32)  # M = 1
    >>> pw = np.array([[1, 10], [1, 10]], np.float32).reshape(1, 1, 2, 2)  # [1, 1, C*M/groups, O]
    >>> y = sepcpp.super_separable_conv2d(x, dw, pw, 2, 1, "VALID")
    >>> print(y[0, 0])  # [0 + 1, 10 * (2 + 3)], [4 + 5, 10 * (6 + 7)]
    [[  1.  50.]
     [  9. 130.]]

    The same as two separable convolutions on the two halves of the channels:

    >>> halves = [sepcpp.separable_conv2d(x[..., 2*g:2*g + 2], dw[:, :, 2*g:2*g + 2], pw[..., g:g + 1],
    ...                                   1, "VALID") for g in range(2)]
    >>> np.array_equal(y, np.concatenate(halves, axis=-1))
    True
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


@_doc()
def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
           activation=None, out=None):
    """Regular 2-D convolution, as ``tf.nn.conv2d``.

    ``out[n, i, j, o] = sum over (p, q, c) of
    input[n, i*sh - top + p*dh, j*sw - left + q*dw, c] * filters[p, q, c, o]`` (NHWC; strides
    ``sh, sw``, dilations ``dh, dw``, padding ``top, left``; a cross-correlation, as in
    TensorFlow; padded positions count as zeros), then ``bias`` and ``activation``.

    Parameters
    ----------
    {input_2d}
    filters : array_like, shape [kh, kw, C, O]
        The kernels, TensorFlow's layout whatever ``data_format`` is. The input's dtype.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    bias : array_like, shape [O], optional
        Added to output channel ``o``'s values, before ``activation``. The input's dtype.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, OH, OW, O] (NHWC) or [N, O, OH, OW] (NCHW), the input's dtype (``out`` if
        given); OH and OW as ``padding`` says.

    Raises
    ------
    {raises}

    See Also
    --------
    Conv2D : the same with the filters packed once, for many calls.

    Examples
    --------
    Two 2x2 kernels over a 3x3 image: a window sum, and top-left minus bottom-right:

    >>> import numpy as np, sepcpp
    >>> x = np.arange(9, dtype=np.float32).reshape(1, 3, 3, 1)  # NHWC
    >>> print(x[0, :, :, 0])
    [[0. 1. 2.]
     [3. 4. 5.]
     [6. 7. 8.]]
    >>> w = np.zeros((2, 2, 1, 2), np.float32)  # [kh, kw, C, O]
    >>> w[:, :, 0, 0] = 1
    >>> w[0, 0, 0, 1], w[1, 1, 0, 1] = 1, -1
    >>> y = sepcpp.conv2d(x, w, 1, "VALID")
    >>> print(y[0, :, :, 0])
    [[ 8. 12.]
     [20. 24.]]
    >>> print(y[0, :, :, 1])  # 0 - 4, 1 - 5, ...
    [[-4. -4.]
     [-4. -4.]]

    Against NumPy, on every window:

    >>> windows = np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(1, 2))  # [N, OH, OW, C, kh, kw]
    >>> np.array_equal(y, np.einsum("nhwcpq,pqco->nhwo", windows, w))
    True

    ``"SAME"`` pads the one extra row and column after (bottom, right), as TensorFlow does:

    >>> print(sepcpp.conv2d(x, w, 1, "SAME")[0, :, :, 0])
    [[ 8. 12.  7.]
     [20. 24. 13.]
     [13. 15.  8.]]
    """
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
    fs, bs, o = _operands(x, filters, biases, out)
    if o is not None:
        _check_rank(o, "out", 3, layout)
    for (name, _), f in zip(filters, fs):
        _check_rank(f, name, 3, "[k, C, M]" if name != "pointwise_filter" else "[1, C*M, O]")
    s = _spatial_1d(stride, "stride", layout)
    d = _spatial_1d(dilations, "dilations", layout)
    pad = _padding_1d(padding, layout, fs[0].shape[0], d)
    # NWC (N, W, C) -> (N, 1, W, C); NCW (N, C, W) -> (N, C, 1, W): always views.
    axis = 1 if layout == "NWC" else 2
    gpu = isinstance(x, _gpu.DeviceArray)
    x4 = x.expand(axis) if gpu else np.expand_dims(x, axis)
    f4 = [f[None] for f in fs]
    o4 = None if o is None else o.expand(axis) if gpu else np.expand_dims(o, axis)
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
    if gpu:
        return o.orig if o is not None else r.squeeze(axis)
    return o if o is not None else np.squeeze(r, axis)


@_doc()
def depthwise_conv1d(input, filter, stride, padding, data_format="NWC", dilations=None, *, bias=None,
                     activation=None, out=None):
    """Depthwise 1-D convolution: ``depthwise_conv2d`` along a sequence.

    ``out[n, t, c*M + m] = sum over p of input[n, t*s - left + p*d, c] * filter[p, c, m]`` (NWC),
    then ``bias`` and ``activation``. TensorFlow has no such op (``tf.nn.depthwise_conv2d`` on an
    added axis gives the same); computed as a 2-D view of height 1, without copies.

    Parameters
    ----------
    {input_1d}
    filter : array_like, shape [k, C, M]
        The kernels: ``filter[:, c, m]`` makes output channel ``c*M + m``. The input's dtype.
    {stride_1d}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    bias : array_like, shape [C*M], optional
        Added per output channel ``c*M + m``, before ``activation``. The input's dtype.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, OW, C*M] (NWC) or [N, C*M, OW] (NCW), the input's dtype (``out`` if given); OW
        as ``padding`` says.

    Raises
    ------
    {raises}

    Examples
    --------
    A two-tap kernel ``[1, 10]`` over ``1, 2, ..., 6``: each output is one input plus ten times
    the next one (no flip):

    >>> import numpy as np, sepcpp
    >>> x = np.arange(1, 7, dtype=np.float32).reshape(1, 6, 1)  # NWC
    >>> w = np.array([1, 10], np.float32).reshape(2, 1, 1)  # [k, C, M]
    >>> print(sepcpp.depthwise_conv1d(x, w, 1, "VALID")[0, :, 0])  # 1 + 20, 2 + 30, ...
    [21. 32. 43. 54. 65.]
    >>> print(sepcpp.depthwise_conv1d(x, w, 1, "SAME")[0, :, 0])  # one zero on the right
    [21. 32. 43. 54. 65.  6.]
    >>> print(sepcpp.depthwise_conv1d(x, w, 1, "CAUSAL")[0, :, 0])  # one zero on the left
    [10. 21. 32. 43. 54. 65.]
    >>> print(sepcpp.depthwise_conv1d(x, w, 1, [[2, 0]])[0, :, 0])  # explicit: two on the left
    [ 0. 10. 21. 32. 43. 54. 65.]

    Dilation 2 spaces the taps (``x[t] + 10 * x[t + 2]``); NCW takes the channels first:

    >>> print(sepcpp.depthwise_conv1d(x, w, 1, "VALID", dilations=2)[0, :, 0])
    [31. 42. 53. 64.]
    >>> sepcpp.depthwise_conv1d(x.transpose(0, 2, 1), w, 1, "VALID", data_format="NCW").shape
    (1, 1, 5)
    """
    return _run_1d("depthwise", input, [("filter", filter)], [("bias", bias)], stride, padding, data_format,
                   dilations, _activation(activation, "activation"), "", 1, out)


@_doc()
def separable_conv1d(input, depthwise_filter, pointwise_filter, stride, padding, data_format="NWC",
                     dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
                     activation=None, out=None):
    """Separable 1-D convolution: depthwise then pointwise, in one fused pass.

    ``separable_conv2d`` along a sequence, as Keras' ``SeparableConv1D`` (which refuses
    ``"CAUSAL"``; this does not). Computed as a 2-D view of height 1, without copies.

    Parameters
    ----------
    {input_1d}
    depthwise_filter : array_like, shape [k, C, M]
        The depthwise kernels: ``depthwise_filter[:, c, m]`` makes intermediate channel
        ``c*M + m``. The input's dtype.
    pointwise_filter : array_like, shape [1, C*M, O]
        The pointwise weights from the ``C*M`` intermediate channels to the ``O`` outputs.
    {stride_1d}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, OW, O] (NWC) or [N, O, OW] (NCW), the input's dtype (``out`` if given); OW as
        ``padding`` says.

    Raises
    ------
    {raises}

    Examples
    --------
    Two channels, each summed over causal windows of two (the depthwise step), then added:

    >>> import numpy as np, sepcpp
    >>> x = np.arange(10, dtype=np.float32).reshape(1, 5, 2)  # NWC: channel 0 is 0, 2, 4, ...
    >>> dw = np.ones((2, 2, 1), np.float32)  # [k, C, M]
    >>> pw = np.ones((1, 2, 1), np.float32)  # [1, C*M, O]
    >>> y = sepcpp.separable_conv1d(x, dw, pw, 1, "CAUSAL")
    >>> print(y[0, :, 0])  # 0 + 1, (0 + 2) + (1 + 3), (2 + 4) + (3 + 5), ...
    [ 1.  6. 14. 22. 30.]
    >>> np.array_equal(y, sepcpp.depthwise_conv1d(x, dw, 1, "CAUSAL") @ pw[0])
    True
    """
    return super_separable_conv1d(input, depthwise_filter, pointwise_filter, 1, stride, padding, data_format,
                                  dilations, depthwise_bias=depthwise_bias,
                                  depthwise_activation=depthwise_activation, bias=bias,
                                  activation=activation, out=out)


@_doc()
def super_separable_conv1d(input, depthwise_filter, pointwise_filter, groups, stride, padding,
                           data_format="NWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None, out=None):
    """Super-separable 1-D convolution: ``super_separable_conv2d`` along a sequence.

    The depthwise step as in ``separable_conv1d``, then group ``g`` maps the intermediate
    channels ``[g*C*M/groups, (g+1)*C*M/groups)`` to the outputs ``[g*O/groups, (g+1)*O/groups)``,
    as in SliceNet ("Depthwise Separable Convolutions for Neural Machine Translation"). It equals
    ``groups`` separable convolutions on consecutive channel slices, concatenated.

    Parameters
    ----------
    {input_1d}
    depthwise_filter : array_like, shape [k, C, M]
        The depthwise kernels. The input's dtype.
    pointwise_filter : array_like, shape [1, C*M/groups, O]
        The pointwise weights: ``pointwise_filter[0, :, g*O/groups:(g+1)*O/groups]`` are group
        ``g``'s. ``O`` must be divisible by ``groups``.
    groups : int
        The number of groups; positive, divides ``C*M`` and ``O``.
    {stride_1d}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {depthwise_bias}
    {depthwise_activation}
    bias : array_like, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, OW, O] (NWC) or [N, O, OW] (NCW), the input's dtype (``out`` if given); OW as
        ``padding`` says.

    Raises
    ------
    {raises_groups}

    Examples
    --------
    Four channels in two groups, each group's two channels summed over causal windows of two and
    added:

    >>> import numpy as np, sepcpp
    >>> x = np.arange(12, dtype=np.float32).reshape(1, 3, 4)  # NWC: 3 steps, C = 4
    >>> print(x[0])
    [[ 0.  1.  2.  3.]
     [ 4.  5.  6.  7.]
     [ 8.  9. 10. 11.]]
    >>> dw = np.ones((2, 4, 1), np.float32)  # [k, C, M]
    >>> pw = np.ones((1, 2, 2), np.float32)  # [1, C*M/groups, O]
    >>> y = sepcpp.super_separable_conv1d(x, dw, pw, 2, 1, "CAUSAL")
    >>> print(y[0])  # [0 + 1, 2 + 3], [(0 + 4) + (1 + 5), (2 + 6) + (3 + 7)], ...
    [[ 1.  5.]
     [10. 18.]
     [26. 34.]]
    >>> halves = [sepcpp.separable_conv1d(x[..., 2*g:2*g + 2], dw[:, 2*g:2*g + 2], pw[..., g:g + 1],
    ...                                   1, "CAUSAL") for g in range(2)]
    >>> np.array_equal(y, np.concatenate(halves, axis=-1))
    True
    """
    return _run_1d("separable", input,
                   [("depthwise_filter", depthwise_filter), ("pointwise_filter", pointwise_filter)],
                   [("depthwise_bias", depthwise_bias), ("bias", bias)], stride, padding, data_format,
                   dilations, _activation(activation, "activation"),
                   _activation(depthwise_activation, "depthwise_activation"), _groups(groups), out)


@_doc()
def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None, *, bias=None,
           activation=None, out=None):
    """Regular 1-D convolution, as ``tf.nn.conv1d`` (which refuses explicit and causal padding).

    ``out[n, t, o] = sum over (p, c) of input[n, t*s - left + p*d, c] * filters[p, c, o]``
    (NWC), then ``bias`` and ``activation``. Computed as a 2-D view of height 1, without copies.

    Parameters
    ----------
    {input_1d}
    filters : array_like, shape [k, C, O]
        The kernels. The input's dtype.
    {stride_1d}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    bias : array_like, shape [O], optional
        Added to output channel ``o``'s values, before ``activation``. The input's dtype.
    {activation}
    {out}

    Returns
    -------
    numpy.ndarray
        Shape [N, OW, O] (NWC) or [N, O, OW] (NCW), the input's dtype (``out`` if given); OW as
        ``padding`` says.

    Raises
    ------
    {raises}

    Examples
    --------
    Two channels, one output: the previous step's channel 0 plus the current step's channel 1,
    causal so that no output looks ahead:

    >>> import numpy as np, sepcpp
    >>> x = np.array([[1, 10], [2, 20], [3, 30], [4, 40]], np.float32)[None]  # NWC (1, 4, 2)
    >>> w = np.array([[1, 0], [0, 1]], np.float32).reshape(2, 2, 1)  # [k, C, O]
    >>> y = sepcpp.conv1d(x, w, 1, "CAUSAL")
    >>> print(y[0, :, 0])  # 0 + 10, 1 + 20, 2 + 30, 3 + 40
    [10. 21. 32. 43.]
    >>> y_ncw = sepcpp.conv1d(x.transpose(0, 2, 1), w, 1, "CAUSAL", data_format="NCW")
    >>> np.array_equal(y_ncw, y.transpose(0, 2, 1))
    True

    Stride 2 keeps every other output:

    >>> print(sepcpp.conv1d(x, w, 2, "CAUSAL")[0, :, 0])
    [10. 32.]
    """
    return _run_1d("conv", input, [("filters", filters)], [("bias", bias)], stride, padding, data_format,
                   dilations, _activation(activation, "activation"), "", 1, out)
