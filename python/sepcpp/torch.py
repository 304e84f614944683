"""sepcpp's ops as PyTorch ops: ``sepcpp.torch``, differentiable and traceable by ``torch.compile``.

The functions take PyTorch's conventions: NCHW tensors (NCL in 1-D) of any memory format, weights
in ``torch.nn.Conv2d``'s layouts (depthwise ``[C*M, 1, kh, kw]``, pointwise ``[O, C*M/groups, 1,
1]``, regular ``[O, C, kh, kw]``), ``stride``/``padding``/``dilation`` as ints or pairs. Padding is
``"same"`` by TensorFlow's rule for any stride (the odd pixel after), ``"valid"``, an int or a
pair (symmetric, as in torch), and ``"causal"`` in 1-D. The modules ``SeparableConv2d``,
``DepthwiseConv2d``, ``SeparableConv1d`` and ``SuperSeparableConv1d`` hold their weights as
parameters, initialised as ``torch.nn.Conv2d`` initialises its own.

How the ops reach the C++ core
------------------------------
Each op is registered once with ``torch.library.custom_op`` in the ``sepcpp`` namespace
(``torch.ops.sepcpp.separable_conv2d`` and the rest), with a fake implementation (output shape,
dtype and memory format, for ``torch.compile`` and meta tensors) and an autograd formula whose
backward calls sepcpp's backprop ops (themselves registered ops, so a compiled backward traces too).
Tensors are handed to sepcpp as NumPy views, never copied: a contiguous tensor as NCHW, a
``channels_last`` one as its NHWC view, so channels_last stays channels_last in the result and in
the input's gradient; any other strides are read by sepcpp as they are. The GIL is released while
the core computes, as in every sepcpp call. The 1-D ops run as 2-D ops of height 1 (views).

PyTorch is optional: ``import sepcpp`` never imports it; ``import sepcpp.torch`` does.

Examples
--------
A MobileNet block trained by autograd, computed by sepcpp in one fused pass each way:

>>> import torch, sepcpp.torch
>>> block = sepcpp.torch.SeparableConv2d(8, 16, 3, stride=2, depthwise_activation="relu6")
>>> x = torch.randn(4, 8, 32, 32).to(memory_format=torch.channels_last)
>>> loss = block(x).square().mean()
>>> loss.backward()
>>> block.depthwise_weight.grad.shape, block.pointwise_weight.grad.shape
(torch.Size([8, 1, 3, 3]), torch.Size([16, 8, 1, 1]))
>>> torch.ops.sepcpp.separable_conv2d  # the registered op, which torch.compile traces
<OpOverloadPacket(op='sepcpp.separable_conv2d')>
"""

from __future__ import annotations

import math
import operator
from typing import List, Optional, Tuple

try:
    import torch
    from torch import Tensor
except ImportError as e:  # pragma: no cover - exercised only where torch is missing
    raise ImportError("sepcpp.torch needs PyTorch: pip install torch") from e

import numpy as np

from . import _api, _grad
from ._api import _doc

__all__ = [
    "DepthwiseConv2d",
    "SeparableConv1d",
    "SeparableConv2d",
    "SuperSeparableConv1d",
    "conv1d",
    "conv2d",
    "depthwise_conv1d",
    "depthwise_conv2d",
    "separable_conv1d",
    "separable_conv2d",
    "super_separable_conv1d",
    "super_separable_conv2d",
]

_FLOATS = (torch.float32, torch.float64)

# --------------------------------------------------------------------------------------------
# Docstring parts (placed by _api._doc, as in the NumPy API).

_RAISES = """
    TypeError
        If a tensor argument is not a ``torch.Tensor``, or is not float32 or float64, or a weight
        or bias has another dtype than ``input``; if a stride, dilation, padding or ``groups`` is
        not an integer (a float, a bool).
    ValueError
        If a tensor has the wrong rank or is not on the CPU; if a weight's or bias's shape does
        not match ``input``'s channels (the message gives the shape expected); if ``padding`` or an
        activation is not one of the values listed; if a stride or dilation is not positive or
        padding is negative; if the dilated kernel is larger than the padded input; and for
        everything else sepcpp's NumPy op refuses. Each message names the argument and the shapes
        (docs/errors.md).
    MemoryError
        If the result, or a working buffer of sepcpp's, cannot be allocated."""

_TORCH_DOC = {
    "raises": _RAISES,
    "input_2d": """
        input : torch.Tensor, shape [N, C, H, W]
            float32 or float64 on the CPU, any memory format: a contiguous tensor gives a
            contiguous result, a ``channels_last`` one a ``channels_last`` result (and input
            gradient). Handed to sepcpp as a view of its memory, never copied; never modified.""",
    "input_1d": """
        input : torch.Tensor, shape [N, C, L]
            float32 or float64 on the CPU. A tensor whose channels are its densest axis (a
            transposed ``[N, L, C]`` tensor) gives a result laid out the same way. Handed to
            sepcpp as a view, never copied; never modified.""",
    "stride_2d": """
        stride : int or pair of int, default 1
            How far the window moves along height and width: ``s`` or ``(sh, sw)``, positive.""",
    "stride_1d": """
        stride : int, default 1
            How far the window moves along the sequence, positive.""",
    "dilation_2d": """
        dilation : int or pair of int, default 1
            The spacing between the kernel's taps, ``d`` or ``(dh, dw)``, positive; any dilation
            combines with any stride. A kernel of ``k`` taps spans ``(k - 1) * d + 1`` pixels.""",
    "dilation_1d": """
        dilation : int, default 1
            The spacing between the kernel's taps, positive; a kernel of ``k`` taps spans
            ``(k - 1) * d + 1`` steps.""",
    "padding_2d": """
        padding : {"same", "valid"}, int or pair of int, default "same"
            ``"same"``: TensorFlow's rule for any stride: ``OH = ceil(H / sh)``, the total padding
            ``max((OH - 1) * sh + (kh - 1) * dh + 1 - H, 0)`` split with the smaller half before
            (top, left) and the odd pixel after (unlike ``torch.nn.functional.conv2d``, which
            accepts ``"same"`` at stride 1 only). ``"valid"``: no padding. An int ``p`` or a pair
            ``(ph, pw)``: that many zeros on both sides, as in torch, then
            ``OH = floor((H + 2 * ph - (kh - 1) * dh - 1) / sh) + 1``. Case-insensitive.""",
    "padding_1d": """
        padding : {"same", "valid", "causal"} or int, default "same"
            ``"same"`` and ``"valid"`` as in the 2-D ops (TensorFlow's rule, any stride);
            ``"causal"``: ``(k - 1) * d`` zeros on the left only, so that (at stride 1) output
            ``t`` sees inputs ``t - (k - 1) * d`` to ``t``; an int ``p``: ``p`` zeros on both
            sides. Case-insensitive.""",
    "activation": """
        activation : {None, "relu", "relu6"}, optional
            Applied to every output after ``bias``, inside the kernel; its gradient is torch's
            (and TensorFlow's): relu passes the gradient where the output is > 0, relu6 where it
            is in (0, 6).""",
    "depthwise_bias": """
        depthwise_bias : torch.Tensor, shape [C*M], optional
            Added to the depthwise step's output, before ``depthwise_activation`` and the
            pointwise step (a folded batch norm).""",
    "depthwise_activation": """
        depthwise_activation : {None, "relu", "relu6"}, optional
            Applied to the depthwise step's output after ``depthwise_bias``, as ``activation``.""",
}


# --------------------------------------------------------------------------------------------
# Argument checks, in PyTorch's terms (the NumPy API checks the rest, in TensorFlow's layouts).


def _shape(t: Tensor) -> tuple:
    return tuple(t.shape)


def _tensor(t, name: str, rank: int, layout: str, dtype=None, device=None) -> Tensor:
    """A float32/float64 tensor of this rank on the CPU (meta: shapes only); an operand also of the
    input's dtype and device."""
    if not isinstance(t, torch.Tensor):
        shape = getattr(t, "shape", None)
        got = f"of shape {tuple(shape)}" if shape is not None else f"{t!r:.60}"
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__module__}.{type(t).__name__} {got}")
    if dtype is None:
        if t.dtype not in _FLOATS:
            raise TypeError(f"{name}: dtype {t.dtype} is not supported; sepcpp computes in float32 or float64 "
                            f"(shape {_shape(t)})")
    elif t.dtype != dtype:
        raise TypeError(f"{name}: dtype {t.dtype} does not match the input's dtype {dtype} (shape {_shape(t)})")
    if t.device.type not in ("cpu", "meta"):
        raise ValueError(f"{name}: is on device {t.device}; sepcpp computes on the CPU (move it with .cpu())")
    if device is not None and t.device != device:
        raise ValueError(f"{name}: is on device {t.device}, the input on {device}")
    if t.dim() != rank:
        raise ValueError(f"{name}: must have rank {rank} ({layout}), got rank {t.dim()} with shape {_shape(t)}")
    return t


def _int(v, name: str) -> int:
    if isinstance(v, bool):
        raise TypeError(f"{name}: expected integers, got {v!r}")
    try:
        i = operator.index(v)
    except TypeError:
        raise TypeError(f"{name}: expected integers, got {v!r}") from None
    if not -(2**63) <= i < 2**63:  # the registered ops take int64, as the core does
        raise ValueError(f"{name}: {i} is outside the 64-bit integer range [-2**63, 2**63 - 1]")
    return i


def _pair(v, name: str, minimum: int) -> Tuple[int, int]:
    """An int or a pair of ints (torch's ``_pair``), each at least ``minimum``."""
    if isinstance(v, (tuple, list, torch.Size)):
        if len(v) != 2:
            raise ValueError(f"{name}: expected an int or a pair (h, w), got {tuple(v)!r}")
        p = (_int(v[0], name), _int(v[1], name))
    else:
        i = _int(v, name)
        p = (i, i)
    if min(p) < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name}: must be {what}, got {v!r}")
    return p


def _single(v, name: str, minimum: int) -> int:
    """An int (or a 1-tuple, as torch's conv1d takes)."""
    if isinstance(v, (tuple, list, torch.Size)):
        if len(v) != 1:
            raise ValueError(f"{name}: expected an int for a 1-D op, got {tuple(v)!r}")
        v = v[0]
    i = _int(v, name)
    if i < minimum:
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name}: must be {what}, got {i}")
    return i


def _padding_2d(padding) -> Tuple[str, List[int]]:
    """("SAME"|"VALID"|"EXPLICIT", [top, bottom, left, right])."""
    if isinstance(padding, str):
        mode = padding.upper()
        if mode in ("SAME", "VALID"):
            return mode, [0, 0, 0, 0]
        if mode == "CAUSAL":
            raise ValueError("padding: 'causal' applies to the 1-D ops only")
        raise ValueError(f"padding: expected 'same', 'valid', an int or a pair, got {padding!r}")
    ph, pw = _pair(padding, "padding", 0)
    return "EXPLICIT", [ph, ph, pw, pw]


def _padding_1d(padding, kernel: int, dilation: int) -> Tuple[str, List[int]]:
    if isinstance(padding, str):
        mode = padding.upper()
        if mode in ("SAME", "VALID"):
            return mode, [0, 0, 0, 0]
        if mode == "CAUSAL":  # output t sees inputs t - (k-1)*d .. t
            left = (kernel - 1) * dilation
            if left >= 2**63:
                raise ValueError(f"dilation: causal padding of (kernel {kernel} - 1) * dilation {dilation} = {left} "
                                 "overflows 64 bits")
            return "EXPLICIT", [0, 0, left, 0]
        raise ValueError(f"padding: expected 'same', 'valid', 'causal' or an int, got {padding!r}")
    p = _single(padding, "padding", 0)
    return "EXPLICIT", [0, 0, p, p]


def _bias(b, name: str, n: int, dtype, device) -> Optional[Tensor]:
    if b is None:
        return None
    _tensor(b, name, 1, "[channels]", dtype, device)
    if b.shape[0] != n:
        raise ValueError(f"{name}: must have shape ({n},) to match the {n} channels it is added to, "
                         f"got shape {_shape(b)}")
    return b


def _depthwise_weight(w, name: str, x: Tensor, rank: int) -> int:
    """Checks a depthwise weight ``[C*M, 1, kh, kw]`` (``[C*M, 1, k]``); returns M."""
    kernel = "kh, kw" if rank == 4 else "k"
    _tensor(w, name, rank, f"[C*M, 1, {kernel}]", x.dtype, x.device)
    c = x.shape[1]
    if w.shape[1] != 1 or (w.shape[0] % c if c else w.shape[0]) != 0 or (c and w.shape[0] == 0):
        raise ValueError(f"{name}: must have shape [C*M, 1, {kernel}] with C = {c}, the input's channels "
                         f"(input shape {_shape(x)}), and M >= 1; got shape {_shape(w)}")
    return w.shape[0] // c if c else 1


def _groups(g) -> int:
    g = _int(g, "groups")
    if g < 1:
        raise ValueError(f"groups: must be positive, got {g}")
    return g


def _pointwise_weight(w, name: str, cm: int, groups: int, x: Tensor, rank: int) -> None:
    ones = "1, 1" if rank == 4 else "1"
    _tensor(w, name, rank, f"[O, C*M/groups, {ones}]", x.dtype, x.device)
    if any(s != 1 for s in w.shape[2:]) or w.shape[1] * groups != cm or w.shape[0] % groups != 0:
        raise ValueError(f"{name}: must have shape [O, C*M/groups, {ones}] with C*M = {cm} (the depthwise "
                         f"step's channels) and groups = {groups} dividing O; got shape {_shape(w)}")


# --------------------------------------------------------------------------------------------
# Tensors to and from the NumPy API: views, no copies.


def _nhwc(x: Tensor) -> bool:
    """Whether to hand sepcpp ``x``'s NHWC view: a channels_last tensor that is not also NCHW-
    contiguous (one channel, or one pixel, is both: then NCHW). The fake implementations use the
    same rule, so a compiled graph's strides are those of the eager call."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _layout(nhwc: bool) -> str:
    return "NHWC" if nhwc else "NCHW"


def _np(t: Optional[Tensor]) -> Optional[np.ndarray]:
    """The tensor's memory as a NumPy array (a lazy negation resolved first, as sepcpp does)."""
    return None if t is None else t.detach().resolve_neg().numpy()


def _view(x: Tensor, nhwc: bool) -> np.ndarray:
    return _np(x.permute(0, 2, 3, 1) if nhwc else x)


def _depthwise_filter(w: Tensor, c: int) -> np.ndarray:
    """torch ``[C*M, 1, kh, kw]`` -> TensorFlow ``[kh, kw, C, M]`` (a view: output channel c*M + m
    is row c*M + m in both)."""
    kh, kw = w.shape[2], w.shape[3]
    return _np(w).reshape(c, w.shape[0] // c if c else 1, kh, kw).transpose(2, 3, 0, 1)


def _tf_filter(w: Tensor) -> np.ndarray:
    """torch ``[O, C, kh, kw]`` -> TensorFlow ``[kh, kw, C, O]`` (a view; pointwise weights too)."""
    return _np(w).transpose(2, 3, 1, 0)


def _padding_arg(mode: str, pads) -> object:
    return mode if mode != "EXPLICIT" else [[pads[0], pads[1]], [pads[2], pads[3]]]


def _result(y: np.ndarray, nhwc: bool, shape_nchw) -> Tensor:
    """sepcpp's result as an NCHW tensor, channels_last when it was computed as NHWC."""
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    if y.size == 0:  # NumPy gives empty arrays zero strides: use the format's own
        return torch.empty(tuple(shape_nchw), dtype=torch.from_numpy(y[:0]).dtype, memory_format=fmt)
    t = torch.from_numpy(y)
    return t.permute(0, 3, 1, 2) if nhwc else t


def _out_size(n, k, s, d, mode, before, after):
    """One output size, by the rule the core applies (cpp/src/geometry.cc; the docstrings'
    formulas). Used only for fake tensors: eager calls take their shapes from the core, and
    tests/python/test_torch_compile.py checks that both agree."""
    if mode == "SAME":
        return (n + s - 1) // s
    if mode == "VALID":
        before = after = 0
    size = (n + before + after - (k - 1) * d - 1) // s + 1
    if size < 0:
        raise ValueError(f"input: the dilated kernel ({k} taps, dilation {d}) is larger than the padded input "
                         f"({n} + {before} + {after})")
    return size


def _fake_result(x: Tensor, channels, kh, kw, stride, padding, pads, dilation) -> Tensor:
    n, _, h, w = x.shape
    oh = _out_size(h, kh, stride[0], dilation[0], padding, pads[0], pads[1])
    ow = _out_size(w, kw, stride[1], dilation[1], padding, pads[2], pads[3])
    fmt = torch.channels_last if _nhwc(x) else torch.contiguous_format
    return torch.empty((n, channels, oh, ow), dtype=x.dtype, device=x.device, memory_format=fmt)


def _fake_like(x: Tensor) -> Tensor:
    fmt = torch.channels_last if _nhwc(x) else torch.contiguous_format
    return torch.empty(x.shape, dtype=x.dtype, device=x.device, memory_format=fmt)


def _context(e: ValueError, op: str, x: Tensor, weights) -> ValueError:
    """The core's message (in TensorFlow's layouts) with the torch shapes the caller gave."""
    given = ", ".join(f"{n} shape {_shape(w)}" for n, w in weights)
    return ValueError(f"{e} [sepcpp.torch.{op}: input shape {_shape(x)} (N, C, H, W), {given}; computed in "
                      "TensorFlow's layouts]")


def _activation_grad(dy: Tensor, y: Optional[Tensor], activation: str) -> Tensor:
    """The gradient through a fused activation, from its output (as torch's relu and hardtanh
    backward: the gradient passes where relu's output is > 0, relu6's in (0, 6))."""
    if not activation:
        return dy
    keep = y > 0 if activation == "relu" else (y > 0) & (y < 6)
    return torch.where(keep, dy, torch.zeros((), dtype=dy.dtype, device=dy.device))


# --------------------------------------------------------------------------------------------
# The registered ops. Arguments arrive checked and normalised: stride/dilation pairs, padding as
# (mode, [top, bottom, left, right]), activations as "", "relu" or "relu6".


@torch.library.custom_op("sepcpp::depthwise_conv2d", mutates_args=())
def _depthwise_op(input: Tensor, weight: Tensor, bias: Optional[Tensor], stride: List[int], padding: str,
                  pads: List[int], dilation: List[int], activation: str) -> Tensor:
    nhwc = _nhwc(input)
    c = input.shape[1]
    try:
        y = _api.depthwise_conv2d(_view(input, nhwc), _depthwise_filter(weight, c), stride,
                                  _padding_arg(padding, pads), _layout(nhwc), dilation, bias=_np(bias),
                                  activation=activation or None)
    except ValueError as e:
        raise _context(e, "depthwise_conv2d", input, [("weight", weight)]) from None
    return _result(y, nhwc, (y.shape[0], y.shape[3], y.shape[1], y.shape[2]) if nhwc else y.shape)


@_depthwise_op.register_fake
def _(input, weight, bias, stride, padding, pads, dilation, activation):
    return _fake_result(input, weight.shape[0], weight.shape[2], weight.shape[3], stride, padding, pads, dilation)


@torch.library.custom_op("sepcpp::conv2d", mutates_args=())
def _conv_op(input: Tensor, weight: Tensor, bias: Optional[Tensor], stride: List[int], padding: str,
             pads: List[int], dilation: List[int], activation: str) -> Tensor:
    nhwc = _nhwc(input)
    try:
        y = _api.conv2d(_view(input, nhwc), _tf_filter(weight), stride, _padding_arg(padding, pads), _layout(nhwc),
                        dilation, bias=_np(bias), activation=activation or None)
    except ValueError as e:
        raise _context(e, "conv2d", input, [("weight", weight)]) from None
    return _result(y, nhwc, (y.shape[0], y.shape[3], y.shape[1], y.shape[2]) if nhwc else y.shape)


@_conv_op.register_fake
def _(input, weight, bias, stride, padding, pads, dilation, activation):
    return _fake_result(input, weight.shape[0], weight.shape[2], weight.shape[3], stride, padding, pads, dilation)


@torch.library.custom_op("sepcpp::separable_conv2d", mutates_args=())
def _separable_op(input: Tensor, depthwise_weight: Tensor, pointwise_weight: Tensor, groups: int,
                  depthwise_bias: Optional[Tensor], bias: Optional[Tensor], stride: List[int], padding: str,
                  pads: List[int], dilation: List[int], depthwise_activation: str, activation: str) -> Tensor:
    nhwc = _nhwc(input)
    c = input.shape[1]
    try:
        y = _api.super_separable_conv2d(
            _view(input, nhwc), _depthwise_filter(depthwise_weight, c), _tf_filter(pointwise_weight), groups,
            stride, _padding_arg(padding, pads), _layout(nhwc), dilation, depthwise_bias=_np(depthwise_bias),
            depthwise_activation=depthwise_activation or None, bias=_np(bias), activation=activation or None)
    except ValueError as e:
        raise _context(e, "separable_conv2d", input, [("depthwise_weight", depthwise_weight),
                                                      ("pointwise_weight", pointwise_weight)]) from None
    return _result(y, nhwc, (y.shape[0], y.shape[3], y.shape[1], y.shape[2]) if nhwc else y.shape)


@_separable_op.register_fake
def _(input, depthwise_weight, pointwise_weight, groups, depthwise_bias, bias, stride, padding, pads, dilation,
      depthwise_activation, activation):
    return _fake_result(input, pointwise_weight.shape[0], depthwise_weight.shape[2], depthwise_weight.shape[3],
                        stride, padding, pads, dilation)


# The backward ops: sepcpp's backprop ops (python/sepcpp/_grad.py). out_backprop is handed over
# in the forward input's layout (a view: any strides, a broadcast loss gradient too).


def _dy_view(dy: Tensor, nhwc: bool) -> np.ndarray:
    return _view(dy, nhwc)


def _sizes(shape_nchw, nhwc: bool) -> List[int]:
    n, c, h, w = shape_nchw
    return [n, h, w, c] if nhwc else [n, c, h, w]


@torch.library.custom_op("sepcpp::depthwise_conv2d_backprop_input", mutates_args=())
def _depthwise_bp_input(out_backprop: Tensor, weight: Tensor, input_sizes: List[int], channels_last: bool,
                        stride: List[int], padding: str, pads: List[int], dilation: List[int]) -> Tensor:
    c = input_sizes[1]
    dx = _grad.depthwise_conv2d_backprop_input(
        _sizes(input_sizes, channels_last), _depthwise_filter(weight, c), _dy_view(out_backprop, channels_last),
        stride, _padding_arg(padding, pads), _layout(channels_last), dilation)
    return _result(dx, channels_last, input_sizes)


@_depthwise_bp_input.register_fake
def _(out_backprop, weight, input_sizes, channels_last, stride, padding, pads, dilation):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(input_sizes, dtype=out_backprop.dtype, device=out_backprop.device, memory_format=fmt)


@torch.library.custom_op("sepcpp::depthwise_conv2d_backprop_filter", mutates_args=())
def _depthwise_bp_filter(input: Tensor, weight_sizes: List[int], out_backprop: Tensor, stride: List[int],
                         padding: str, pads: List[int], dilation: List[int]) -> Tensor:
    nhwc = _nhwc(input)
    cm, _, kh, kw = weight_sizes
    c = input.shape[1]
    m = cm // c if c else 1
    df = _grad.depthwise_conv2d_backprop_filter(_view(input, nhwc), [kh, kw, c, m], _dy_view(out_backprop, nhwc),
                                                stride, _padding_arg(padding, pads), _layout(nhwc), dilation)
    # [kh, kw, C, M] -> [C*M, 1, kh, kw], contiguous as the fake kernel says (a copy: it is small).
    return torch.from_numpy(df).permute(2, 3, 0, 1).reshape(cm, 1, kh, kw).contiguous()


@_depthwise_bp_filter.register_fake
def _(input, weight_sizes, out_backprop, stride, padding, pads, dilation):
    return input.new_empty(weight_sizes)


@torch.library.custom_op("sepcpp::conv2d_backprop_input", mutates_args=())
def _conv_bp_input(out_backprop: Tensor, weight: Tensor, input_sizes: List[int], channels_last: bool,
                   stride: List[int], padding: str, pads: List[int], dilation: List[int]) -> Tensor:
    dx = _grad.conv2d_backprop_input(_sizes(input_sizes, channels_last), _tf_filter(weight),
                                     _dy_view(out_backprop, channels_last), stride, _padding_arg(padding, pads),
                                     _layout(channels_last), dilation)
    return _result(dx, channels_last, input_sizes)


@_conv_bp_input.register_fake
def _(out_backprop, weight, input_sizes, channels_last, stride, padding, pads, dilation):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    return torch.empty(input_sizes, dtype=out_backprop.dtype, device=out_backprop.device, memory_format=fmt)


@torch.library.custom_op("sepcpp::conv2d_backprop_filter", mutates_args=())
def _conv_bp_filter(input: Tensor, weight_sizes: List[int], out_backprop: Tensor, stride: List[int], padding: str,
                    pads: List[int], dilation: List[int]) -> Tensor:
    nhwc = _nhwc(input)
    o, c, kh, kw = weight_sizes
    df = _grad.conv2d_backprop_filter(_view(input, nhwc), [kh, kw, c, o], _dy_view(out_backprop, nhwc), stride,
                                      _padding_arg(padding, pads), _layout(nhwc), dilation)
    return torch.from_numpy(df).permute(3, 2, 0, 1).contiguous()  # [kh, kw, C, O] -> [O, C, kh, kw]


@_conv_bp_filter.register_fake
def _(input, weight_sizes, out_backprop, stride, padding, pads, dilation):
    return input.new_empty(weight_sizes)


@torch.library.custom_op("sepcpp::separable_conv2d_backprop", mutates_args=())
def _separable_bp(input: Tensor, depthwise_weight: Tensor, pointwise_weight: Tensor, groups: int,
                  depthwise_bias: Optional[Tensor], bias: Optional[Tensor], out_backprop: Tensor, stride: List[int],
                  padding: str, pads: List[int], dilation: List[int], depthwise_activation: str,
                  activation: str) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """All five gradients in one fused pass; a bias not given gets an empty tensor."""
    nhwc = _nhwc(input)
    c = input.shape[1]
    g = _grad.super_separable_conv2d_backprop(
        _view(input, nhwc), _depthwise_filter(depthwise_weight, c), _tf_filter(pointwise_weight), groups,
        _dy_view(out_backprop, nhwc), stride, _padding_arg(padding, pads), _layout(nhwc), dilation,
        depthwise_bias=_np(depthwise_bias), depthwise_activation=depthwise_activation or None, bias=_np(bias),
        activation=activation or None)
    dx = _result(g.input, nhwc, input.shape)
    dd = torch.from_numpy(g.depthwise_filter).permute(2, 3, 0, 1).reshape(depthwise_weight.shape).contiguous()
    dp = torch.from_numpy(g.pointwise_filter).permute(3, 2, 0, 1).contiguous()
    empty = input.new_empty(0)
    db_d = empty if g.depthwise_bias is None else torch.from_numpy(g.depthwise_bias)
    db = empty.clone() if g.bias is None else torch.from_numpy(g.bias)
    return dx, dd, dp, db_d, db


@_separable_bp.register_fake
def _(input, depthwise_weight, pointwise_weight, groups, depthwise_bias, bias, out_backprop, stride, padding, pads,
      dilation, depthwise_activation, activation):
    return (_fake_like(input), depthwise_weight.new_empty(depthwise_weight.shape),
            pointwise_weight.new_empty(pointwise_weight.shape),
            input.new_empty(0 if depthwise_bias is None else depthwise_bias.shape[0]),
            input.new_empty(0 if bias is None else bias.shape[0]))


# Autograd: the forward ops' gradients through the backward ops above.


def _setup_single(ctx, inputs, output):
    input, weight, bias, stride, padding, pads, dilation, activation = inputs
    ctx.save_for_backward(input, weight, output if activation else None)
    ctx.geometry = (stride, padding, pads, dilation)
    ctx.activation = activation
    ctx.channels_last = _nhwc(input)


def _backward_single(ops):
    bp_input, bp_filter = ops

    def backward(ctx, grad):
        input, weight, output = ctx.saved_tensors
        stride, padding, pads, dilation = ctx.geometry
        dz = _activation_grad(grad, output, ctx.activation)
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        dx = bp_input(dz, weight, list(input.shape), ctx.channels_last, stride, padding, pads,
                      dilation) if need_x else None
        dw = bp_filter(input, list(weight.shape), dz, stride, padding, pads, dilation) if need_w else None
        db = dz.sum((0, 2, 3)) if need_b else None
        return dx, dw, db, None, None, None, None, None

    return backward


_depthwise_op.register_autograd(_backward_single((_depthwise_bp_input, _depthwise_bp_filter)),
                                setup_context=_setup_single)
_conv_op.register_autograd(_backward_single((_conv_bp_input, _conv_bp_filter)), setup_context=_setup_single)


def _setup_separable(ctx, inputs, output):
    ctx.save_for_backward(*inputs[:3], inputs[4], inputs[5])
    ctx.args = (inputs[3],) + tuple(inputs[6:])


def _backward_separable(ctx, grad):
    input, dw, pw, dw_bias, bias = ctx.saved_tensors
    groups, stride, padding, pads, dilation, dw_act, act = ctx.args
    dx, ddw, dpw, ddw_bias, dbias = _separable_bp(input, dw, pw, groups, dw_bias, bias, grad, stride, padding, pads,
                                                  dilation, dw_act, act)
    return (dx, ddw, dpw, None, ddw_bias if dw_bias is not None else None, dbias if bias is not None else None,
            None, None, None, None, None, None)


_separable_op.register_autograd(_backward_separable, setup_context=_setup_separable)


# --------------------------------------------------------------------------------------------
# The functional API


def _check_input(input, rank: int) -> Tensor:
    return _tensor(input, "input", rank, "N, C, H, W" if rank == 4 else "N, C, L")


@_doc(**_TORCH_DOC)
def depthwise_conv2d(input, weight, bias=None, stride=1, padding="same", dilation=1, *, activation=None):
    """Depthwise 2-D convolution of NCHW tensors: each channel with its own ``M`` kernels.

    ``torch.nn.functional.conv2d(input, weight, bias, stride, padding, dilation, groups=C)`` with
    TensorFlow's ``"same"`` for any stride, a fused activation, and sepcpp's kernels: output
    channel ``c*M + m`` is input channel ``c`` convolved with ``weight[c*M + m, 0]``.

    Parameters
    ----------
    {input_2d}
    weight : torch.Tensor, shape [C*M, 1, kh, kw]
        The kernels, in ``torch.nn.Conv2d(C, C*M, (kh, kw), groups=C)``'s layout; ``input``'s
        dtype. ``M``, the depth multiplier, is ``weight.shape[0] // C``.
    bias : torch.Tensor, shape [C*M], optional
        Added per output channel, before ``activation``.
    {stride_2d}
    {padding_2d}
    {dilation_2d}
    {activation}

    Returns
    -------
    torch.Tensor
        Shape [N, C*M, OH, OW], ``input``'s dtype and memory format; differentiable with respect
        to ``input``, ``weight`` and ``bias``.

    Raises
    ------
    {raises}

    Examples
    --------
    A 2x2 box sum: ``"same"`` pads the odd row and column after, as TensorFlow does:

    >>> import torch, sepcpp.torch
    >>> x = torch.arange(1.0, 17.0).reshape(1, 1, 4, 4)
    >>> sepcpp.torch.depthwise_conv2d(x, torch.ones(1, 1, 2, 2))[0, 0].tolist()
    [[14.0, 18.0, 22.0, 12.0], [30.0, 34.0, 38.0, 20.0], [46.0, 50.0, 54.0, 28.0], [27.0, 29.0, 31.0, 16.0]]
    >>> sepcpp.torch.depthwise_conv2d(x, torch.ones(1, 1, 2, 2), stride=2, padding="valid")[0, 0].tolist()
    [[14.0, 22.0], [46.0, 54.0]]

    Gradients flow through sepcpp's backprop ops:

    >>> w = torch.ones(2, 1, 3, 3, requires_grad=True)  # C = 1, M = 2
    >>> sepcpp.torch.depthwise_conv2d(x, w, padding=1).sum().backward()
    >>> w.grad[0, 0].tolist()
    [[54.0, 78.0, 63.0], [96.0, 136.0, 108.0], [90.0, 126.0, 99.0]]
    """
    x = _check_input(input, 4)
    _depthwise_weight(weight, "weight", x, 4)
    b = _bias(bias, "bias", weight.shape[0], x.dtype, x.device)
    mode, pads = _padding_2d(padding)
    return _depthwise_op(x, weight, b, list(_pair(stride, "stride", 1)), mode, pads,
                         list(_pair(dilation, "dilation", 1)), _api._activation(activation, "activation"))


@_doc(**_TORCH_DOC)
def conv2d(input, weight, bias=None, stride=1, padding="same", dilation=1, *, activation=None):
    """Regular 2-D convolution of NCHW tensors, as ``torch.nn.functional.conv2d``.

    With TensorFlow's ``"same"`` for any stride (note the default: ``"same"``, not 0) and a fused
    activation; computed by sepcpp's kernels.

    Parameters
    ----------
    {input_2d}
    weight : torch.Tensor, shape [O, C, kh, kw]
        The kernels, in ``torch.nn.Conv2d``'s layout; ``input``'s dtype.
    bias : torch.Tensor, shape [O], optional
        Added per output channel, before ``activation``.
    {stride_2d}
    {padding_2d}
    {dilation_2d}
    {activation}

    Returns
    -------
    torch.Tensor
        Shape [N, O, OH, OW], ``input``'s dtype and memory format; differentiable with respect to
        ``input``, ``weight`` and ``bias``.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, torch.nn.functional as F, sepcpp.torch
    >>> x = torch.arange(18.0).reshape(1, 2, 3, 3)
    >>> w = torch.ones(1, 2, 2, 2)
    >>> sepcpp.torch.conv2d(x, w, padding="valid")[0, 0].tolist()
    [[52.0, 60.0], [76.0, 84.0]]
    >>> torch.equal(sepcpp.torch.conv2d(x, w, padding=1), F.conv2d(x, w, padding=1))
    True
    """
    x = _check_input(input, 4)
    _tensor(weight, "weight", 4, "[O, C, kh, kw]", x.dtype, x.device)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight: must have shape [O, C, kh, kw] with C = {x.shape[1]}, the input's channels "
                         f"(input shape {_shape(x)}); got shape {_shape(weight)}")
    b = _bias(bias, "bias", weight.shape[0], x.dtype, x.device)
    mode, pads = _padding_2d(padding)
    return _conv_op(x, weight, b, list(_pair(stride, "stride", 1)), mode, pads, list(_pair(dilation, "dilation", 1)),
                    _api._activation(activation, "activation"))


def _separable(input, depthwise_weight, pointwise_weight, groups, bias, stride, padding, dilation, depthwise_bias,
               depthwise_activation, activation):
    x = _check_input(input, 4)
    m = _depthwise_weight(depthwise_weight, "depthwise_weight", x, 4)
    _pointwise_weight(pointwise_weight, "pointwise_weight", x.shape[1] * m, groups, x, 4)
    bd = _bias(depthwise_bias, "depthwise_bias", depthwise_weight.shape[0], x.dtype, x.device)
    b = _bias(bias, "bias", pointwise_weight.shape[0], x.dtype, x.device)
    mode, pads = _padding_2d(padding)
    return _separable_op(x, depthwise_weight, pointwise_weight, groups, bd, b, list(stride), mode, pads,
                         list(dilation), _api._activation(depthwise_activation, "depthwise_activation"),
                         _api._activation(activation, "activation"))


@_doc(**_TORCH_DOC)
def separable_conv2d(input, depthwise_weight, pointwise_weight, bias=None, stride=1, padding="same", dilation=1, *,
                     depthwise_bias=None, depthwise_activation=None, activation=None):
    """Depthwise then pointwise convolution of NCHW tensors, in one fused pass.

    The same as ``F.conv2d(F.conv2d(input, depthwise_weight, depthwise_bias, stride, padding,
    dilation, groups=C), pointwise_weight, bias)`` with the activations between and after, but the
    depthwise step's output is never stored: sepcpp computes it tile by tile, forward and
    backward (``sepcpp.separable_conv2d_backprop``).

    Parameters
    ----------
    {input_2d}
    depthwise_weight : torch.Tensor, shape [C*M, 1, kh, kw]
        The depthwise kernels, in ``torch.nn.Conv2d(C, C*M, (kh, kw), groups=C)``'s layout.
    pointwise_weight : torch.Tensor, shape [O, C*M, 1, 1]
        The pointwise weights, in ``torch.nn.Conv2d(C*M, O, 1)``'s layout.
    bias : torch.Tensor, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {stride_2d}
    {padding_2d}
    {dilation_2d}
    {depthwise_bias}
    {depthwise_activation}
    {activation}

    Returns
    -------
    torch.Tensor
        Shape [N, O, OH, OW], ``input``'s dtype and memory format; differentiable with respect
        to the input, the weights and the biases.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, torch.nn.functional as F, sepcpp.torch
    >>> x = torch.arange(32.0).reshape(1, 2, 4, 4)
    >>> dw, pw = torch.ones(2, 1, 3, 3), torch.tensor([1.0, -1.0]).reshape(1, 2, 1, 1)
    >>> y = sepcpp.torch.separable_conv2d(x, dw, pw, stride=2)  # "same" at stride 2: 2x2
    >>> y.tolist()
    [[[[-144.0, -96.0], [-96.0, -64.0]]]]
    >>> ref = F.conv2d(F.conv2d(F.pad(x, (0, 1, 0, 1)), dw, stride=2, groups=2), pw)
    >>> torch.equal(y, ref)
    True

    ``channels_last`` in, ``channels_last`` out:

    >>> xc = x.to(memory_format=torch.channels_last)
    >>> sepcpp.torch.separable_conv2d(xc, dw, pw).is_contiguous(memory_format=torch.channels_last)
    True
    """
    return _separable(input, depthwise_weight, pointwise_weight, 1, bias, _pair(stride, "stride", 1), padding,
                      _pair(dilation, "dilation", 1), depthwise_bias, depthwise_activation, activation)


@_doc(**_TORCH_DOC)
def super_separable_conv2d(input, depthwise_weight, pointwise_weight, groups, bias=None, stride=1, padding="same",
                           dilation=1, *, depthwise_bias=None, depthwise_activation=None, activation=None):
    """Separable convolution whose pointwise step is split into ``groups`` groups.

    ``separable_conv2d`` with the pointwise step of ``torch.nn.Conv2d(C*M, O, 1, groups=groups)``
    (super-separable convolution, "Depthwise Separable Convolutions for Neural Machine
    Translation"): ``1/groups`` of the pointwise weights and work.

    Parameters
    ----------
    {input_2d}
    depthwise_weight : torch.Tensor, shape [C*M, 1, kh, kw]
        The depthwise kernels, in ``torch.nn.Conv2d(C, C*M, (kh, kw), groups=C)``'s layout.
    pointwise_weight : torch.Tensor, shape [O, C*M/groups, 1, 1]
        The pointwise weights, in ``torch.nn.Conv2d(C*M, O, 1, groups=groups)``'s layout.
    groups : int
        The number of pointwise groups; positive, divides ``C*M`` and ``O``.
    bias : torch.Tensor, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {stride_2d}
    {padding_2d}
    {dilation_2d}
    {depthwise_bias}
    {depthwise_activation}
    {activation}

    Returns
    -------
    torch.Tensor
        Shape [N, O, OH, OW], ``input``'s dtype and memory format; differentiable.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, torch.nn.functional as F, sepcpp.torch
    >>> x = torch.arange(36.0).reshape(1, 4, 3, 3)
    >>> dw, pw = torch.ones(4, 1, 1, 1), torch.ones(2, 2, 1, 1)  # groups = 2: 4 -> 2 channels
    >>> y = sepcpp.torch.super_separable_conv2d(x, dw, pw, 2)
    >>> y[0, :, 0, 0].tolist()  # channels 0 + 1, channels 2 + 3
    [9.0, 45.0]
    >>> torch.equal(y, F.conv2d(F.conv2d(x, dw, groups=4), pw, groups=2))
    True
    """
    return _separable(input, depthwise_weight, pointwise_weight, _groups(groups), bias, _pair(stride, "stride", 1),
                      padding, _pair(dilation, "dilation", 1), depthwise_bias, depthwise_activation, activation)


# 1-D: views of height 1 over the 2-D ops ([N, C, L] -> [N, C, 1, L]; autograd sees the views).


def _as_1d(e: ValueError, op: str, x: Tensor, weights) -> ValueError:
    """The 2-D op's message, with the shapes the caller of the 1-D op gave."""
    given = ", ".join(f"{n} shape {_shape(w)}" for n, w in weights)
    return ValueError(f"{e} [called as sepcpp.torch.{op}: input shape {_shape(x)} (N, C, L), {given}; run as "
                      "the 2-D op with height 1]")


def _geometry_1d(stride, padding, dilation, kernel):
    s = _single(stride, "stride", 1)
    d = _single(dilation, "dilation", 1)
    return [1, s], _padding_1d(padding, kernel, d), [1, d]


@_doc(**_TORCH_DOC)
def depthwise_conv1d(input, weight, bias=None, stride=1, padding="same", dilation=1, *, activation=None):
    """Depthwise 1-D convolution of ``[N, C, L]`` tensors; ``"causal"`` padding too.

    ``torch.nn.functional.conv1d(input, weight, bias, stride, padding, dilation, groups=C)``,
    computed as a 2-D op of height 1 (views, no copies).

    Parameters
    ----------
    {input_1d}
    weight : torch.Tensor, shape [C*M, 1, k]
        The kernels, in ``torch.nn.Conv1d(C, C*M, k, groups=C)``'s layout.
    bias : torch.Tensor, shape [C*M], optional
        Added per output channel, before ``activation``.
    {stride_1d}
    {padding_1d}
    {dilation_1d}
    {activation}

    Returns
    -------
    torch.Tensor
        Shape [N, C*M, OL], ``input``'s dtype; differentiable.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, sepcpp.torch
    >>> x = torch.arange(1.0, 7.0).reshape(1, 1, 6)
    >>> w = torch.tensor([[[1.0, 10.0]]])  # [C*M, 1, k]: x[t] + 10 * x[t + 1]
    >>> sepcpp.torch.depthwise_conv1d(x, w, padding="valid").tolist()
    [[[21.0, 32.0, 43.0, 54.0, 65.0]]]
    >>> sepcpp.torch.depthwise_conv1d(x, w, padding="causal").tolist()  # one zero on the left
    [[[10.0, 21.0, 32.0, 43.0, 54.0, 65.0]]]
    """
    x = _check_input(input, 3)
    _depthwise_weight(weight, "weight", x, 3)
    b = _bias(bias, "bias", weight.shape[0], x.dtype, x.device)
    s, (mode, pads), d = _geometry_1d(stride, padding, dilation, weight.shape[2])
    act = _api._activation(activation, "activation")
    try:
        return _depthwise_op(x.unsqueeze(2), weight.unsqueeze(2), b, s, mode, pads, d, act).squeeze(2)
    except ValueError as e:
        raise _as_1d(e, "depthwise_conv1d", x, [("weight", weight)]) from None


@_doc(**_TORCH_DOC)
def conv1d(input, weight, bias=None, stride=1, padding="same", dilation=1, *, activation=None):
    """Regular 1-D convolution of ``[N, C, L]`` tensors, as ``torch.nn.functional.conv1d``.

    With TensorFlow's ``"same"`` for any stride and ``"causal"`` padding; computed as a 2-D op of
    height 1.

    Parameters
    ----------
    {input_1d}
    weight : torch.Tensor, shape [O, C, k]
        The kernels, in ``torch.nn.Conv1d``'s layout.
    bias : torch.Tensor, shape [O], optional
        Added per output channel, before ``activation``.
    {stride_1d}
    {padding_1d}
    {dilation_1d}
    {activation}

    Returns
    -------
    torch.Tensor
        Shape [N, O, OL], ``input``'s dtype; differentiable.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, sepcpp.torch
    >>> x = torch.tensor([[[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]]])  # [N, C, L]
    >>> w = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # the previous step's channel 0 + channel 1
    >>> sepcpp.torch.conv1d(x, w, padding="causal").tolist()
    [[[10.0, 21.0, 32.0, 43.0]]]
    """
    x = _check_input(input, 3)
    _tensor(weight, "weight", 3, "[O, C, k]", x.dtype, x.device)
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"weight: must have shape [O, C, k] with C = {x.shape[1]}, the input's channels "
                         f"(input shape {_shape(x)}); got shape {_shape(weight)}")
    b = _bias(bias, "bias", weight.shape[0], x.dtype, x.device)
    s, (mode, pads), d = _geometry_1d(stride, padding, dilation, weight.shape[2])
    act = _api._activation(activation, "activation")
    try:
        return _conv_op(x.unsqueeze(2), weight.unsqueeze(2), b, s, mode, pads, d, act).squeeze(2)
    except ValueError as e:
        raise _as_1d(e, "conv1d", x, [("weight", weight)]) from None


def _separable_1d(input, depthwise_weight, pointwise_weight, groups, bias, stride, padding, dilation,
                  depthwise_bias, depthwise_activation, activation, op="separable_conv1d"):
    x = _check_input(input, 3)
    m = _depthwise_weight(depthwise_weight, "depthwise_weight", x, 3)
    _pointwise_weight(pointwise_weight, "pointwise_weight", x.shape[1] * m, groups, x, 3)
    bd = _bias(depthwise_bias, "depthwise_bias", depthwise_weight.shape[0], x.dtype, x.device)
    b = _bias(bias, "bias", pointwise_weight.shape[0], x.dtype, x.device)
    s, (mode, pads), d = _geometry_1d(stride, padding, dilation, depthwise_weight.shape[2])
    acts = (_api._activation(depthwise_activation, "depthwise_activation"), _api._activation(activation, "activation"))
    try:
        return _separable_op(x.unsqueeze(2), depthwise_weight.unsqueeze(2), pointwise_weight.unsqueeze(2), groups,
                             bd, b, s, mode, pads, d, *acts).squeeze(2)
    except ValueError as e:
        raise _as_1d(e, op, x, [("depthwise_weight", depthwise_weight),
                                ("pointwise_weight", pointwise_weight)]) from None


@_doc(**_TORCH_DOC)
def separable_conv1d(input, depthwise_weight, pointwise_weight, bias=None, stride=1, padding="same", dilation=1, *,
                     depthwise_bias=None, depthwise_activation=None, activation=None):
    """Separable 1-D convolution of ``[N, C, L]`` tensors: depthwise then pointwise, fused.

    ``separable_conv2d`` along a sequence, ``"causal"`` padding included (computed as a 2-D op of
    height 1).

    Parameters
    ----------
    {input_1d}
    depthwise_weight : torch.Tensor, shape [C*M, 1, k]
        The depthwise kernels, in ``torch.nn.Conv1d(C, C*M, k, groups=C)``'s layout.
    pointwise_weight : torch.Tensor, shape [O, C*M, 1]
        The pointwise weights, in ``torch.nn.Conv1d(C*M, O, 1)``'s layout.
    bias : torch.Tensor, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {stride_1d}
    {padding_1d}
    {dilation_1d}
    {depthwise_bias}
    {depthwise_activation}
    {activation}

    Returns
    -------
    torch.Tensor
        Shape [N, O, OL], ``input``'s dtype; differentiable.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, sepcpp.torch
    >>> x = torch.arange(10.0).reshape(1, 2, 5)  # [N, C, L]
    >>> y = sepcpp.torch.separable_conv1d(x, torch.ones(2, 1, 2), torch.ones(1, 2, 1), padding="causal")
    >>> y.tolist()  # (x0[t-1] + x0[t]) + (x1[t-1] + x1[t])
    [[[5.0, 12.0, 16.0, 20.0, 24.0]]]
    """
    return _separable_1d(input, depthwise_weight, pointwise_weight, 1, bias, stride, padding, dilation,
                         depthwise_bias, depthwise_activation, activation)


@_doc(**_TORCH_DOC)
def super_separable_conv1d(input, depthwise_weight, pointwise_weight, groups, bias=None, stride=1, padding="same",
                           dilation=1, *, depthwise_bias=None, depthwise_activation=None, activation=None):
    """Super-separable 1-D convolution of ``[N, C, L]`` tensors: the pointwise step in groups.

    SliceNet's convolution ("Depthwise Separable Convolutions for Neural Machine Translation"):
    ``separable_conv1d`` with the pointwise step of ``torch.nn.Conv1d(C*M, O, 1, groups=groups)``.

    Parameters
    ----------
    {input_1d}
    depthwise_weight : torch.Tensor, shape [C*M, 1, k]
        The depthwise kernels, in ``torch.nn.Conv1d(C, C*M, k, groups=C)``'s layout.
    pointwise_weight : torch.Tensor, shape [O, C*M/groups, 1]
        The pointwise weights, in ``torch.nn.Conv1d(C*M, O, 1, groups=groups)``'s layout.
    groups : int
        The number of pointwise groups; positive, divides ``C*M`` and ``O``.
    bias : torch.Tensor, shape [O], optional
        Added to the pointwise step's output, before ``activation``.
    {stride_1d}
    {padding_1d}
    {dilation_1d}
    {depthwise_bias}
    {depthwise_activation}
    {activation}

    Returns
    -------
    torch.Tensor
        Shape [N, O, OL], ``input``'s dtype; differentiable.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, torch.nn.functional as F, sepcpp.torch
    >>> x = torch.arange(12.0).reshape(1, 4, 3)
    >>> dw, pw = torch.ones(4, 1, 2), torch.ones(2, 2, 1)
    >>> y = sepcpp.torch.super_separable_conv1d(x, dw, pw, 2, padding="causal")
    >>> y.tolist()
    [[[3.0, 8.0, 12.0], [15.0, 32.0, 36.0]]]
    >>> torch.equal(y, F.conv1d(F.conv1d(F.pad(x, (1, 0)), dw, groups=4), pw, groups=2))
    True
    """
    return _separable_1d(input, depthwise_weight, pointwise_weight, _groups(groups), bias, stride, padding,
                         dilation, depthwise_bias, depthwise_activation, activation, "super_separable_conv1d")


# --------------------------------------------------------------------------------------------
# Modules


def _conv_init(weight: Tensor, bias: Optional[Tensor]) -> None:
    """``torch.nn.Conv2d.reset_parameters``' initialisation: Kaiming-uniform weights with
    a = sqrt(5), bias uniform in +-1/sqrt(fan_in), fan_in from the weight's own shape."""
    torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = weight.shape[1] * math.prod(weight.shape[2:])
        if fan_in != 0:
            bound = 1 / math.sqrt(fan_in)
            torch.nn.init.uniform_(bias, -bound, bound)


def _module_padding(padding, one_d: bool):
    """Checked at construction, kept as given (a string in lower case)."""
    if isinstance(padding, str):
        if one_d:
            _padding_1d(padding, 1, 1)
        else:
            _padding_2d(padding)
        return padding.lower()
    return _single(padding, "padding", 0) if one_d else _pair(padding, "padding", 0)


def _positive(v, name: str) -> int:
    i = _int(v, name)
    if i < 1:
        raise ValueError(f"{name}: must be positive, got {i}")
    return i


def _channels(v, name: str) -> int:
    i = _int(v, name)
    if i < 0:
        raise ValueError(f"{name}: must be non-negative, got {i}")
    return i


_MODULE_RAISES = """
    TypeError
        If a size, stride, dilation, padding, multiplier or group count is not an integer.
    ValueError
        If a size or stride is not positive, padding is negative or an unknown string, or the
        groups do not divide the channels."""


def _module_input(input, parameter: Tensor) -> None:
    """A layer's input has its parameters' dtype (said in the layer's terms, before the op's checks)."""
    if isinstance(input, torch.Tensor) and input.dtype in _FLOATS and input.dtype != parameter.dtype:
        raise TypeError(f"input: dtype {input.dtype} does not match the layer's parameters ({parameter.dtype}); "
                        f"convert one of them (e.g. layer.to({input.dtype}))")


class _SeparableBase(torch.nn.Module):
    """Shared by the separable modules: parameters and their initialisation."""

    _one_d = False

    def _build(self, in_channels, out_channels, kernel_size, groups, stride, padding, dilation, depth_multiplier,
               bias, activations, factory):
        self.in_channels = _channels(in_channels, "in_channels")
        self.out_channels = _channels(out_channels, "out_channels")
        if self._one_d:
            self.kernel_size = (_positive(_single(kernel_size, "kernel_size", 1), "kernel_size"),)
            self.stride = (_single(stride, "stride", 1),)
            self.dilation = (_single(dilation, "dilation", 1),)
        else:
            self.kernel_size = _pair(kernel_size, "kernel_size", 1)
            self.stride = _pair(stride, "stride", 1)
            self.dilation = _pair(dilation, "dilation", 1)
        self.padding = _module_padding(padding, self._one_d)
        self.depth_multiplier = _positive(depth_multiplier, "depth_multiplier")
        self.groups = _groups(groups)
        cm = self.in_channels * self.depth_multiplier
        if cm % self.groups or self.out_channels % self.groups:
            raise ValueError(f"groups: {self.groups} must divide in_channels * depth_multiplier = {cm} and "
                             f"out_channels = {self.out_channels}")
        self.depthwise_activation, self.activation = activations
        _api._activation(self.depthwise_activation, "depthwise_activation")
        _api._activation(self.activation, "activation")
        ones = (1,) * len(self.kernel_size)
        self.depthwise_weight = torch.nn.Parameter(torch.empty((cm, 1) + self.kernel_size, **factory))
        self.pointwise_weight = torch.nn.Parameter(torch.empty((self.out_channels, cm // self.groups) + ones,
                                                               **factory))
        self.bias = torch.nn.Parameter(torch.empty(self.out_channels, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the parameters as ``torch.nn.Conv2d`` initialises its own.

        The depthwise weight as the weight of ``Conv2d(C, C*M, k, groups=C)``, the pointwise
        weight and the bias as those of ``Conv2d(C*M, O, 1, groups=groups)``: Kaiming-uniform
        with ``a = sqrt(5)``, the bias uniform in ``+-1/sqrt(fan_in)``. Called by the
        constructor; uses torch's random generator.

        Examples
        --------
        >>> import torch, sepcpp.torch
        >>> layer = sepcpp.torch.SeparableConv2d(4, 8, 3)
        >>> layer.reset_parameters()
        >>> bool(layer.bias.abs().max() <= 1 / 4 ** 0.5)  # fan_in of the pointwise step: 4
        True
        """
        _conv_init(self.depthwise_weight, None)
        _conv_init(self.pointwise_weight, self.bias)

    def extra_repr(self) -> str:
        """The constructor's arguments, as ``torch.nn.Conv2d`` shows its own.

        Returns
        -------
        str
            In, out channels, kernel size, stride and those arguments that differ from their
            defaults.

        Examples
        --------
        >>> import sepcpp.torch
        >>> sepcpp.torch.SeparableConv2d(4, 8, 3, stride=2, bias=False)
        SeparableConv2d(4, 8, kernel_size=(3, 3), stride=(2, 2), padding=same, bias=False)
        """
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        s += f", padding={self.padding}"
        if self.dilation != (1,) * len(self.dilation):
            s += f", dilation={self.dilation}"
        if self.depth_multiplier != 1:
            s += f", depth_multiplier={self.depth_multiplier}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.depthwise_activation is not None:
            s += f", depthwise_activation={self.depthwise_activation!r}"
        if self.activation is not None:
            s += f", activation={self.activation!r}"
        return s


@_doc(raises=_MODULE_RAISES)
class SeparableConv2d(_SeparableBase):
    """A depthwise-separable 2-D convolution layer: ``separable_conv2d`` with its parameters.

    Depthwise ``[C*M, 1, kh, kw]``, then pointwise ``[O, C*M, 1, 1]``, then ``bias``, computed in
    one fused pass. Takes and returns NCHW tensors of any memory format (channels_last stays
    channels_last).

    Parameters
    ----------
    in_channels : int
        C, the input's channels.
    out_channels : int
        O, the output's channels.
    kernel_size : int or pair of int
        The depthwise kernel, ``k`` or ``(kh, kw)``.
    stride : int or pair of int, default 1
        The depthwise step's stride.
    padding : {"same", "valid"}, int or pair of int, default "same"
        As in ``separable_conv2d`` (``"same"`` is TensorFlow's rule, for any stride).
    dilation : int or pair of int, default 1
        The depthwise kernel's dilation.
    depth_multiplier : int, default 1
        M, the depthwise kernels per input channel.
    bias : bool, default True
        Whether to add a learned bias of ``O`` values after the pointwise step.
    depthwise_activation : {None, "relu", "relu6"}, optional
        Applied between the depthwise and the pointwise step, inside the kernel.
    activation : {None, "relu", "relu6"}, optional
        Applied after the bias, inside the kernel.
    device : torch.device, optional
        Where to create the parameters (``"cpu"``, or ``"meta"`` for shapes only).
    dtype : torch.dtype, optional
        The parameters' dtype: ``torch.float32`` (the default) or ``torch.float64``.

    Attributes
    ----------
    depthwise_weight : torch.nn.Parameter
        Shape [C*M, 1, kh, kw], initialised as ``torch.nn.Conv2d(C, C*M, k, groups=C)``'s weight.
    pointwise_weight : torch.nn.Parameter
        Shape [O, C*M, 1, 1], initialised as ``torch.nn.Conv2d(C*M, O, 1)``'s weight.
    bias : torch.nn.Parameter or None
        Shape [O], initialised as that ``Conv2d``'s bias.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, sepcpp.torch
    >>> layer = sepcpp.torch.SeparableConv2d(16, 32, 3, stride=2)
    >>> layer
    SeparableConv2d(16, 32, kernel_size=(3, 3), stride=(2, 2), padding=same)
    >>> x = torch.randn(8, 16, 28, 28).to(memory_format=torch.channels_last)
    >>> y = layer(x)
    >>> y.shape, y.is_contiguous(memory_format=torch.channels_last)
    (torch.Size([8, 32, 14, 14]), True)
    >>> [tuple(p.shape) for p in layer.parameters()]
    [(16, 1, 3, 3), (32, 16, 1, 1), (32,)]
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="same", dilation=1,
                 depth_multiplier=1, bias=True, *, depthwise_activation=None, activation=None, device=None,
                 dtype=None):
        super().__init__()
        self._build(in_channels, out_channels, kernel_size, 1, stride, padding, dilation, depth_multiplier, bias,
                    (depthwise_activation, activation), {"device": device, "dtype": dtype})

    def forward(self, input: Tensor) -> Tensor:
        """Apply the layer.

        Parameters
        ----------
        input : torch.Tensor, shape [N, C, H, W]
            float32 or float64 (the parameters' dtype) on the CPU, any memory format.

        Returns
        -------
        torch.Tensor
            Shape [N, O, OH, OW], the input's memory format.

        Raises
        ------
        TypeError
            If ``input`` is not a float32 or float64 tensor, or not of the parameters' dtype.
        ValueError
            If ``input`` does not have rank 4 and ``in_channels`` channels, or the kernel is
            larger than the padded input.

        Examples
        --------
        >>> import torch, sepcpp.torch
        >>> layer = sepcpp.torch.SeparableConv2d(2, 3, 3, padding="valid")
        >>> layer(torch.zeros(1, 2, 5, 5)).shape
        torch.Size([1, 3, 3, 3])
        """
        _module_input(input, self.depthwise_weight)
        return _separable(input, self.depthwise_weight, self.pointwise_weight, 1, self.bias, self.stride,
                          self.padding, self.dilation, None, self.depthwise_activation, self.activation)


@_doc(raises=_MODULE_RAISES)
class SeparableConv1d(_SeparableBase):
    """A depthwise-separable 1-D convolution layer over ``[N, C, L]`` sequences.

    ``separable_conv1d`` with its parameters; ``padding="causal"`` for decoders.

    Parameters
    ----------
    in_channels : int
        C, the input's channels.
    out_channels : int
        O, the output's channels.
    kernel_size : int
        The depthwise kernel's taps.
    stride : int, default 1
        The depthwise step's stride.
    padding : {"same", "valid", "causal"} or int, default "same"
        As in ``separable_conv1d``.
    dilation : int, default 1
        The depthwise kernel's dilation.
    depth_multiplier : int, default 1
        M, the depthwise kernels per input channel.
    bias : bool, default True
        Whether to add a learned bias of ``O`` values after the pointwise step.
    depthwise_activation : {None, "relu", "relu6"}, optional
        Applied between the depthwise and the pointwise step, inside the kernel.
    activation : {None, "relu", "relu6"}, optional
        Applied after the bias, inside the kernel.
    device : torch.device, optional
        Where to create the parameters.
    dtype : torch.dtype, optional
        The parameters' dtype: ``torch.float32`` (the default) or ``torch.float64``.

    Attributes
    ----------
    depthwise_weight : torch.nn.Parameter
        Shape [C*M, 1, k], initialised as ``torch.nn.Conv1d(C, C*M, k, groups=C)``'s weight.
    pointwise_weight : torch.nn.Parameter
        Shape [O, C*M, 1], initialised as ``torch.nn.Conv1d(C*M, O, 1)``'s weight.
    bias : torch.nn.Parameter or None
        Shape [O], initialised as that ``Conv1d``'s bias.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, sepcpp.torch
    >>> layer = sepcpp.torch.SeparableConv1d(8, 16, 7, padding="causal", dilation=2)
    >>> layer
    SeparableConv1d(8, 16, kernel_size=(7,), stride=(1,), padding=causal, dilation=(2,))
    >>> layer(torch.randn(4, 8, 100)).shape
    torch.Size([4, 16, 100])
    """

    _one_d = True

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding="same", dilation=1,
                 depth_multiplier=1, bias=True, *, depthwise_activation=None, activation=None, device=None,
                 dtype=None):
        super().__init__()
        self._build(in_channels, out_channels, kernel_size, 1, stride, padding, dilation, depth_multiplier, bias,
                    (depthwise_activation, activation), {"device": device, "dtype": dtype})

    def forward(self, input: Tensor) -> Tensor:
        """Apply the layer.

        Parameters
        ----------
        input : torch.Tensor, shape [N, C, L]
            float32 or float64 (the parameters' dtype) on the CPU.

        Returns
        -------
        torch.Tensor
            Shape [N, O, OL].

        Raises
        ------
        TypeError
            If ``input`` is not a float32 or float64 tensor, or not of the parameters' dtype.
        ValueError
            If ``input`` does not have rank 3 and ``in_channels`` channels, or the kernel is
            larger than the padded input.

        Examples
        --------
        >>> import torch, sepcpp.torch
        >>> sepcpp.torch.SeparableConv1d(2, 3, 3)(torch.zeros(1, 2, 5)).shape
        torch.Size([1, 3, 5])
        """
        _module_input(input, self.depthwise_weight)
        return _separable_1d(input, self.depthwise_weight, self.pointwise_weight, 1, self.bias, self.stride,
                             self.padding, self.dilation, None, self.depthwise_activation, self.activation,
                             "SeparableConv1d")


@_doc(raises=_MODULE_RAISES)
class SuperSeparableConv1d(_SeparableBase):
    """A super-separable 1-D convolution layer (SliceNet's): the pointwise step in ``groups``.

    ``super_separable_conv1d`` with its parameters: the pointwise weight ``[O, C*M/groups, 1]``
    has ``1/groups`` of a separable layer's. The paper alternates ``groups`` 2 and 3 in
    consecutive layers so that the groups mix.

    Parameters
    ----------
    in_channels : int
        C, the input's channels.
    out_channels : int
        O, the output's channels.
    kernel_size : int
        The depthwise kernel's taps.
    groups : int
        The number of pointwise groups; divides ``in_channels * depth_multiplier`` and
        ``out_channels``.
    stride : int, default 1
        The depthwise step's stride.
    padding : {"same", "valid", "causal"} or int, default "same"
        As in ``super_separable_conv1d``.
    dilation : int, default 1
        The depthwise kernel's dilation.
    depth_multiplier : int, default 1
        M, the depthwise kernels per input channel.
    bias : bool, default True
        Whether to add a learned bias of ``O`` values after the pointwise step.
    depthwise_activation : {None, "relu", "relu6"}, optional
        Applied between the depthwise and the pointwise step, inside the kernel.
    activation : {None, "relu", "relu6"}, optional
        Applied after the bias, inside the kernel.
    device : torch.device, optional
        Where to create the parameters.
    dtype : torch.dtype, optional
        The parameters' dtype: ``torch.float32`` (the default) or ``torch.float64``.

    Attributes
    ----------
    depthwise_weight : torch.nn.Parameter
        Shape [C*M, 1, k], initialised as ``torch.nn.Conv1d(C, C*M, k, groups=C)``'s weight.
    pointwise_weight : torch.nn.Parameter
        Shape [O, C*M/groups, 1], initialised as ``torch.nn.Conv1d(C*M, O, 1, groups=groups)``'s.
    bias : torch.nn.Parameter or None
        Shape [O], initialised as that ``Conv1d``'s bias.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, sepcpp.torch
    >>> layer = sepcpp.torch.SuperSeparableConv1d(64, 64, 15, groups=2, padding="causal")
    >>> layer
    SuperSeparableConv1d(64, 64, kernel_size=(15,), stride=(1,), padding=causal, groups=2)
    >>> tuple(layer.pointwise_weight.shape)  # half a separable layer's
    (64, 32, 1)
    >>> layer(torch.randn(2, 64, 50)).shape
    torch.Size([2, 64, 50])
    """

    _one_d = True

    def __init__(self, in_channels, out_channels, kernel_size, groups, stride=1, padding="same", dilation=1,
                 depth_multiplier=1, bias=True, *, depthwise_activation=None, activation=None, device=None,
                 dtype=None):
        super().__init__()
        self._build(in_channels, out_channels, kernel_size, groups, stride, padding, dilation, depth_multiplier,
                    bias, (depthwise_activation, activation), {"device": device, "dtype": dtype})

    def forward(self, input: Tensor) -> Tensor:
        """Apply the layer.

        Parameters
        ----------
        input : torch.Tensor, shape [N, C, L]
            float32 or float64 (the parameters' dtype) on the CPU.

        Returns
        -------
        torch.Tensor
            Shape [N, O, OL].

        Raises
        ------
        TypeError
            If ``input`` is not a float32 or float64 tensor, or not of the parameters' dtype.
        ValueError
            If ``input`` does not have rank 3 and ``in_channels`` channels, or the kernel is
            larger than the padded input.

        Examples
        --------
        >>> import torch, sepcpp.torch
        >>> sepcpp.torch.SuperSeparableConv1d(4, 6, 3, 2)(torch.zeros(1, 4, 5)).shape
        torch.Size([1, 6, 5])
        """
        _module_input(input, self.depthwise_weight)
        return _separable_1d(input, self.depthwise_weight, self.pointwise_weight, self.groups, self.bias,
                             self.stride, self.padding, self.dilation, None, self.depthwise_activation,
                             self.activation, "SuperSeparableConv1d")


@_doc(raises=_MODULE_RAISES)
class DepthwiseConv2d(torch.nn.Module):
    """A depthwise 2-D convolution layer: ``depthwise_conv2d`` with its parameters.

    ``torch.nn.Conv2d(C, C*M, k, groups=C)`` with TensorFlow's ``"same"`` for any stride, a fused
    activation and sepcpp's kernels.

    Parameters
    ----------
    in_channels : int
        C, the input's channels.
    kernel_size : int or pair of int
        The kernel, ``k`` or ``(kh, kw)``.
    stride : int or pair of int, default 1
        The stride.
    padding : {"same", "valid"}, int or pair of int, default "same"
        As in ``depthwise_conv2d``.
    dilation : int or pair of int, default 1
        The kernel's dilation.
    depth_multiplier : int, default 1
        M, the kernels per input channel: the output has ``C*M`` channels.
    bias : bool, default True
        Whether to add a learned bias of ``C*M`` values.
    activation : {None, "relu", "relu6"}, optional
        Applied after the bias, inside the kernel.
    device : torch.device, optional
        Where to create the parameters.
    dtype : torch.dtype, optional
        The parameters' dtype: ``torch.float32`` (the default) or ``torch.float64``.

    Attributes
    ----------
    weight : torch.nn.Parameter
        Shape [C*M, 1, kh, kw], initialised as ``torch.nn.Conv2d(C, C*M, k, groups=C)``'s.
    bias : torch.nn.Parameter or None
        Shape [C*M], initialised as that ``Conv2d``'s bias.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import torch, sepcpp.torch
    >>> layer = sepcpp.torch.DepthwiseConv2d(8, 5, stride=2, depth_multiplier=2)
    >>> layer
    DepthwiseConv2d(8, kernel_size=(5, 5), stride=(2, 2), padding=same, depth_multiplier=2)
    >>> layer(torch.randn(1, 8, 15, 15)).shape
    torch.Size([1, 16, 8, 8])
    """

    def __init__(self, in_channels, kernel_size, stride=1, padding="same", dilation=1, depth_multiplier=1,
                 bias=True, *, activation=None, device=None, dtype=None):
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.in_channels = _channels(in_channels, "in_channels")
        self.kernel_size = _pair(kernel_size, "kernel_size", 1)
        self.stride = _pair(stride, "stride", 1)
        self.padding = _module_padding(padding, False)
        self.dilation = _pair(dilation, "dilation", 1)
        self.depth_multiplier = _positive(depth_multiplier, "depth_multiplier")
        self.activation = activation
        _api._activation(activation, "activation")
        cm = self.in_channels * self.depth_multiplier
        self.weight = torch.nn.Parameter(torch.empty((cm, 1) + self.kernel_size, **factory))
        self.bias = torch.nn.Parameter(torch.empty(cm, **factory)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise the parameters as ``torch.nn.Conv2d(C, C*M, k, groups=C)`` does its own.

        Kaiming-uniform weights with ``a = sqrt(5)``, the bias uniform in ``+-1/sqrt(kh*kw)``.

        Examples
        --------
        >>> import torch, sepcpp.torch
        >>> layer = sepcpp.torch.DepthwiseConv2d(4, 3)
        >>> layer.reset_parameters()
        >>> bool(layer.bias.abs().max() <= 1 / 3)
        True
        """
        _conv_init(self.weight, self.bias)

    def extra_repr(self) -> str:
        """The constructor's arguments, as ``torch.nn.Conv2d`` shows its own.

        Returns
        -------
        str
            Channels, kernel size, stride, padding and the arguments that differ from their
            defaults.

        Examples
        --------
        >>> import sepcpp.torch
        >>> sepcpp.torch.DepthwiseConv2d(8, (3, 5), padding=1, activation="relu6").extra_repr()
        "8, kernel_size=(3, 5), stride=(1, 1), padding=(1, 1), activation='relu6'"
        """
        s = f"{self.in_channels}, kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.depth_multiplier != 1:
            s += f", depth_multiplier={self.depth_multiplier}"
        if self.bias is None:
            s += ", bias=False"
        if self.activation is not None:
            s += f", activation={self.activation!r}"
        return s

    def forward(self, input: Tensor) -> Tensor:
        """Apply the layer.

        Parameters
        ----------
        input : torch.Tensor, shape [N, C, H, W]
            float32 or float64 (the parameters' dtype) on the CPU, any memory format.

        Returns
        -------
        torch.Tensor
            Shape [N, C*M, OH, OW], the input's memory format.

        Raises
        ------
        TypeError
            If ``input`` is not a float32 or float64 tensor, or not of the parameters' dtype.
        ValueError
            If ``input`` does not have rank 4 and ``in_channels`` channels, or the kernel is
            larger than the padded input.

        Examples
        --------
        >>> import torch, sepcpp.torch
        >>> sepcpp.torch.DepthwiseConv2d(3, 3, stride=2)(torch.zeros(2, 3, 7, 7)).shape
        torch.Size([2, 3, 4, 4])
        """
        _module_input(input, self.weight)
        return depthwise_conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                activation=self.activation)
