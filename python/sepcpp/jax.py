"""sepcpp's ops on JAX arrays: ``sepcpp.jax``, differentiable, under ``jax.jit`` and ``jax.vmap``.

The functions have ``tf.nn``'s names, arguments and layouts, as sepcpp's NumPy API (without
``out=``): ``depthwise_conv2d``, ``pointwise_conv2d``, ``separable_conv2d``,
``super_separable_conv2d``, ``conv2d`` and the 1-D ``depthwise_conv1d``, ``separable_conv1d``,
``super_separable_conv1d``, ``conv1d``. They take and return JAX arrays on the CPU and are
differentiable in every array operand (``jax.custom_vjp``, whose backward pass runs sepcpp's
backprop ops: the fused ``separable_conv2d_backprop`` for the separable forms).

How the ops enter JAX
---------------------
Each op is a ``jax.pure_callback``: XLA calls back into Python, which runs sepcpp's C++ core on
the operands as NumPy arrays (the GIL is released while it computes) and hands the result back.
The shapes of the results are found when the op is traced, by running sepcpp's own checks on an
empty batch, so bad arguments raise sepcpp's ValueError/TypeError at the call (or trace), with the
NumPy API's messages, before anything is computed.

``jax.vmap`` uses the callback's ``vmap_method="expand_dims"``: one callback receives the whole
mapped batch. The forward pass with unmapped filters folds the mapped axes into the batch axis
(one C++ call on ``B*N`` images); mapped filters, and every backward pass (whose filter gradients
are per mapped example), loop over the mapped examples inside that one callback.

JAX is optional: ``pip install jax``; ``import sepcpp`` never imports it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence, Tuple

import numpy as np

try:
    import jax
    import jax.numpy as jnp
except ImportError as e:  # pragma: no cover - exercised only where jax is missing
    raise ImportError("sepcpp.jax needs JAX: pip install jax") from e

from . import _api, _grad
from ._api import _doc

__all__ = [
    "conv1d",
    "conv2d",
    "depthwise_conv1d",
    "depthwise_conv2d",
    "pointwise_conv2d",
    "separable_conv1d",
    "separable_conv2d",
    "super_separable_conv1d",
    "super_separable_conv2d",
]


# --------------------------------------------------------------------------------------------
# Static arguments: frozen into hashable values, so that each configuration's custom_vjp function
# and callbacks are built once (a new callback per call would make JAX compile every call anew).


def _freeze(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, np.ndarray):
        return _freeze(v.tolist()) if v.ndim else v.item()
    if isinstance(v, jax.Array):
        return _freeze(np.asarray(v))  # a traced value fails here, as a stride must be static
    return v


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


def _cached(build: Callable) -> Callable:
    """``build(*static)`` memoised when the static arguments hash (odd objects just rebuild)."""
    memo = functools.lru_cache(maxsize=512)(build)

    def get(*static):
        return memo(*static) if _hashable(static) else build(*static)

    return get


# --------------------------------------------------------------------------------------------
# Arrays


def _jax_array(x: Any, name: str) -> Optional["jax.Array"]:
    if x is None:
        return None
    if isinstance(x, jax.Array):  # tracers too
        return x
    try:
        return jnp.asarray(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name}: expected an array, got {type(x).__name__}: {e}") from None


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _float_input(x: "jax.Array") -> "jax.Array":
    """The input, float32 or float64: the dtypes of the backprop ops (sepcpp's bfloat16 forward ops
    have no gradients, so sepcpp.jax does not take bfloat16 at all)."""
    if np.dtype(x.dtype) not in _FLOATS:
        raise TypeError(f"input: dtype {x.dtype} is not supported by sepcpp.jax, which computes in float32 or "
                        f"float64 (shape {tuple(x.shape)})")
    return x


def _spec(a: Optional["jax.Array"]) -> Optional["jax.ShapeDtypeStruct"]:
    return None if a is None else jax.ShapeDtypeStruct(a.shape, a.dtype)


def _empty_batch(a: "jax.Array", name: str) -> np.ndarray:
    """A NumPy stand-in with a's dtype and shape but an empty batch: sepcpp's checks run on it."""
    if a.ndim == 0:
        raise ValueError(f"{name}: expected an array of rank >= 1, got a scalar")
    return np.zeros((0,) + tuple(a.shape[1:]), np.dtype(a.dtype))


def _stand_in(a: Optional["jax.Array"]) -> Optional[np.ndarray]:
    return None if a is None else np.zeros(a.shape, np.dtype(a.dtype))


def _probe(check: Callable, x: "jax.Array", *stand_ins) -> Tuple[int, ...]:
    """The result's shape by ``check(empty batch of x, *stand_ins)``: sepcpp's own checks, whose
    error messages are given back with the input's real shape."""
    empty = _empty_batch(x, "input")
    try:
        out = check(empty, *stand_ins)
    except (ValueError, TypeError) as e:
        message = str(e).replace(str(empty.shape), str(tuple(x.shape)))
        raise type(e)(message) from None
    return (x.shape[0],) + out.shape[1:]


# --------------------------------------------------------------------------------------------
# Mapped (vmap) axes in a callback. With vmap_method="expand_dims", every operand of the callback
# has the mapped axes in front (size 1 where that operand is not mapped); `ranks` says how many
# axes each operand has of its own.


def _mapped_shape(args: Sequence[Optional[np.ndarray]], ranks: Sequence[int]) -> Tuple[int, ...]:
    shapes = [a.shape[:a.ndim - r] for a, r in zip(args, ranks) if a is not None]
    return tuple(np.broadcast_shapes(*shapes)) if shapes else ()


def _example(a: Optional[np.ndarray], index: Tuple[int, ...]) -> Optional[np.ndarray]:
    """Operand `a` of mapped example `index` (an unmapped operand's size-1 axes give index 0)."""
    if a is None or not index:
        return a
    return a[tuple(i if s != 1 else 0 for i, s in zip(index, a.shape))]


def _looped(fn: Callable, args: Sequence[Optional[np.ndarray]], ranks: Sequence[int],
            specs: Sequence[Optional[Any]]) -> Tuple[Optional[np.ndarray], ...]:
    """``fn(*args)`` (a tuple of arrays of shapes ``specs``) per mapped example, stacked in front."""
    lead = _mapped_shape(args, ranks)
    if not lead:
        return tuple(fn(*args))
    outs = [None if s is None else np.empty(lead + tuple(s.shape), s.dtype) for s in specs]
    for index in np.ndindex(*lead):
        for out, r in zip(outs, fn(*(_example(a, index) for a in args))):
            if out is not None:
                out[index] = r
    return tuple(outs)


def _forward_callback(fn: Callable, rank: int, param_ranks: Sequence[int], spec: Any) -> Callable:
    """The host side of a forward op ``fn(input, *params)``: with the params unmapped, the mapped
    axes are folded into the batch axis (one call on every image); else one call per example."""
    def host(x, *params):
        ranks = (rank,) + tuple(param_ranks)
        lead = _mapped_shape((x,) + params, ranks)
        if not lead:
            return fn(x, *params)
        k = len(lead)
        if all(p is None or all(s == 1 for s in p.shape[:k]) for p in params):
            own = params and [None if p is None else p.reshape(p.shape[k:]) for p in params]
            xs = np.broadcast_to(x, lead + x.shape[k:])
            count = int(np.prod(lead, dtype=np.int64))
            y = fn(xs.reshape((count * x.shape[k],) + x.shape[k + 1:]), *own)
            return y.reshape(lead + (x.shape[k],) + y.shape[1:])
        return _looped(lambda *a: (fn(*a),), (x,) + params, ranks, (spec,))[0]

    return host


def _call(host: Callable, specs: Any, *args):
    return jax.pure_callback(host, specs, *args, vmap_method="expand_dims")


# --------------------------------------------------------------------------------------------
# Activation gradients (TensorFlow's rules, read off the activation's output y = act(v): relu
# passes the gradient where v > 0, which is where y > 0; relu6 where 0 < v < 6, where 0 < y < 6;
# a NaN passes nothing).


def _masked(activation: str, y: "jax.Array", dy: "jax.Array") -> "jax.Array":
    if not activation:
        return dy
    keep = y > 0 if activation == "relu" else (y > 0) & (y < 6)
    return jnp.where(keep, dy, jnp.zeros_like(dy))


# --------------------------------------------------------------------------------------------
# The ops with one filter (depthwise, pointwise, regular; 2-D and 1-D): forward
# op(x, filter, bias), backward by the two backprop ops of the filter's kind on the gradient of the
# value before the activation, the bias's gradient the sum of that over everything but channels.

# name -> (NumPy forward op, backprop input op, backprop filter op, input rank)
_SINGLE = {
    "depthwise_conv2d": (_api.depthwise_conv2d, _grad.depthwise_conv2d_backprop_input,
                         _grad.depthwise_conv2d_backprop_filter, 4),
    "conv2d": (_api.conv2d, _grad.conv2d_backprop_input, _grad.conv2d_backprop_filter, 4),
    "pointwise_conv2d": (None, _grad.conv2d_backprop_input, _grad.conv2d_backprop_filter, 4),
    "depthwise_conv1d": (_api.depthwise_conv1d, _grad.depthwise_conv1d_backprop_input,
                         _grad.depthwise_conv1d_backprop_filter, 3),
    "conv1d": (_api.conv1d, _grad.conv1d_backprop_input, _grad.conv1d_backprop_filter, 3),
}


def _channel_axis(data_format: str, rank: int) -> int:
    return 1 if str(data_format).upper() in ("NCHW", "NCW") else rank - 1


@_cached
def _single_op(name: str, geometry: tuple, activation: str, has_bias: bool, out_spec: Any) -> Callable:
    """The custom_vjp function (x, filter, bias) -> y of op `name` with static `geometry`
    (strides, padding, data_format, dilations; pointwise: data_format only)."""
    forward, bp_input, bp_filter, rank = _SINGLE[name]
    if name == "pointwise_conv2d":
        data_format = geometry[0]
        op = functools.partial(_api.pointwise_conv2d, data_format=data_format)
        geom = (1, "VALID", data_format, None)  # the 1x1 gradients are conv2d's
    else:
        def op(x, f, bias, activation):
            return forward(x, f, *geometry, bias=bias, activation=activation)
        geom = geometry
    act = activation or None
    host_forward = _forward_callback(lambda x, f, b: op(x, f, bias=b, activation=act), rank, (rank, 1), out_spec)
    axes = tuple(i for i in range(rank) if i != _channel_axis(geom[2], rank))

    def grads(x, f, dy):
        return (bp_input(x.shape, f, dy, geom[0], geom[1], geom[2], geom[3]),
                bp_filter(x, f.shape, dy, geom[0], geom[1], geom[2], geom[3]))

    @jax.custom_vjp
    def fn(x, f, b):
        return _call(host_forward, out_spec, x, f, b)

    def fn_fwd(x, f, b):
        y = fn(x, f, b)
        return y, (x, f, y if activation else None)

    def fn_bwd(res, dy):
        x, f, y = res
        dv = _masked(activation, y, dy)
        specs = (_spec(x), _spec(f))
        host = functools.partial(_looped, grads, ranks=(rank, f.ndim, rank), specs=specs)
        dx, df = _call(lambda *a: host(a), specs, x, f, dv)
        return dx, df, (jnp.sum(dv, axis=axes) if has_bias else None)

    fn.defvjp(fn_fwd, fn_bwd)
    return fn


def _single(name: str, input, filter, geometry: tuple, bias, activation) -> "jax.Array":
    forward, _, _, rank = _SINGLE[name]
    x = _float_input(_jax_array(input, "input"))
    f = _jax_array(filter, "filter" if name.startswith("depthwise") else "filters")
    b = _jax_array(bias, "bias")
    # sepcpp's own checks, on an empty batch: its errors, and the result's shape.
    if name == "pointwise_conv2d":
        shape = _probe(lambda x0, f0, b0: _api.pointwise_conv2d(x0, f0, geometry[0], bias=b0, activation=activation),
                       x, _stand_in(f), _stand_in(b))
    else:
        shape = _probe(lambda x0, f0, b0: forward(x0, f0, *geometry, bias=b0, activation=activation), x,
                       _stand_in(f), _stand_in(b))
    out = jax.ShapeDtypeStruct(shape, x.dtype)
    fn = _single_op(name, _freeze(geometry), _api._activation(activation, "activation"), b is not None, out)
    return fn(x, f, b)


# --------------------------------------------------------------------------------------------
# The (super-)separable ops: forward by sepcpp's fused op, backward by its fused backprop op.


@_cached
def _separable_op(one_d: bool, groups: int, geometry: tuple, activations: tuple, out_spec: Any) -> Callable:
    strides, padding, data_format, dilations = geometry
    dw_act, act = (a or None for a in activations)
    forward = _api.super_separable_conv1d if one_d else _api.super_separable_conv2d
    backward = _grad.super_separable_conv1d_backprop if one_d else _grad.super_separable_conv2d_backprop
    rank = 3 if one_d else 4
    kw = dict(depthwise_activation=dw_act, activation=act)

    host_forward = _forward_callback(
        lambda x, fd, fp, bd, b: forward(x, fd, fp, groups, strides, padding, data_format, dilations,
                                         depthwise_bias=bd, bias=b, **kw),
        rank, (rank, rank, 1, 1), out_spec)

    def grads(x, fd, fp, bd, b, dy):
        return tuple(backward(x, fd, fp, groups, dy, strides, padding, data_format, dilations,
                              depthwise_bias=bd, bias=b, **kw))

    @jax.custom_vjp
    def fn(x, fd, fp, bd, b):
        return _call(host_forward, out_spec, x, fd, fp, bd, b)

    def fn_fwd(x, fd, fp, bd, b):
        return fn(x, fd, fp, bd, b), (x, fd, fp, bd, b)

    def fn_bwd(res, dy):
        specs = tuple(_spec(a) for a in res)
        host = functools.partial(_looped, grads, ranks=(rank, rank, rank, 1, 1, rank), specs=specs)
        return _call(lambda *a: host(a), specs, *res, dy)

    fn.defvjp(fn_fwd, fn_bwd)
    return fn


def _separable(one_d: bool, input, depthwise_filter, pointwise_filter, groups, geometry: tuple, depthwise_bias,
               depthwise_activation, bias, activation) -> "jax.Array":
    x = _float_input(_jax_array(input, "input"))
    fd = _jax_array(depthwise_filter, "depthwise_filter")
    fp = _jax_array(pointwise_filter, "pointwise_filter")
    bd = _jax_array(depthwise_bias, "depthwise_bias")
    b = _jax_array(bias, "bias")
    forward = _api.super_separable_conv1d if one_d else _api.super_separable_conv2d
    shape = _probe(lambda x0, fd0, fp0, bd0, b0: forward(x0, fd0, fp0, groups, *geometry, depthwise_bias=bd0,
                                                         depthwise_activation=depthwise_activation, bias=b0,
                                                         activation=activation),
                   x, _stand_in(fd), _stand_in(fp), _stand_in(bd), _stand_in(b))
    out = jax.ShapeDtypeStruct(shape, x.dtype)
    activations = (_api._activation(depthwise_activation, "depthwise_activation"),
                   _api._activation(activation, "activation"))
    fn = _separable_op(one_d, _api._groups(groups), _freeze(geometry), activations, out)
    return fn(x, fd, fp, bd, b)


# --------------------------------------------------------------------------------------------
# The public ops

_JAX_DOC = {
    "input_jax_2d": """
        input : jax.Array or array_like, shape [N, H, W, C] (NHWC) or [N, C, H, W] (NCHW)
            float32 or float64 (float64 needs JAX's x64 mode); a traced value under ``jax.jit``,
            ``jax.vmap`` or ``jax.grad``.""",
    "input_jax_1d": """
        input : jax.Array or array_like, shape [N, W, C] (NWC) or [N, C, W] (NCW)
            float32 or float64 (float64 needs JAX's x64 mode); a traced value under ``jax.jit``,
            ``jax.vmap`` or ``jax.grad``.""",
    "bias_jax": """
        bias : jax.Array or array_like, shape [channels out], optional
            Added to every output before ``activation``; the input's dtype. Differentiable.""",
    "returns_jax": """
        jax.Array
            The op's result, as the NumPy API's, in the input's dtype.""",
    "raises_jax": """
        TypeError
            If an operand is not float32 or float64, or has another dtype than ``input``; if a
            stride, dilation or padding is not an integer.
        ValueError
            If an array has the wrong rank or the shapes disagree, or an argument is out of range:
            the NumPy API's checks and messages (docs/errors.md), run when the op is called or
            traced.""",
    "jax_notes": """
        Differentiable in every array operand (``jax.grad``, ``jax.vjp``; reverse mode only);
        usable under ``jax.jit`` and ``jax.vmap``. The static arguments (strides, padding,
        data_format, dilations, activations, groups) must be Python values, not traced.""",
}


@_doc(**_JAX_DOC)
def depthwise_conv2d(input, filter, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
                     activation=None):
    """Depthwise 2-D convolution on JAX arrays, as ``tf.nn.depthwise_conv2d``.

    {jax_notes}

    Parameters
    ----------
    {input_jax_2d}
    filter : jax.Array or array_like, shape [kh, kw, C, M]
        Channel multiplier M; the output has C*M channels. Differentiable.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {bias_jax}
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax, jax.numpy as jnp, sepcpp.jax as sj
    >>> x = jnp.arange(1.0, 7.0).reshape(1, 1, 6, 1)
    >>> box = jnp.ones((1, 3, 1, 1))
    >>> sj.depthwise_conv2d(x, box, 1, "SAME")[0, 0, :, 0].tolist()
    [3.0, 6.0, 9.0, 12.0, 15.0, 11.0]
    >>> jax.grad(lambda f: sj.depthwise_conv2d(x, f, 1, "SAME").sum())(box)[0, :, 0, 0].tolist()
    [15.0, 21.0, 20.0]
    """
    return _single("depthwise_conv2d", input, filter, (strides, padding, data_format, dilations), bias, activation)


@_doc(**_JAX_DOC)
def pointwise_conv2d(input, filter, data_format="NHWC", *, bias=None, activation=None):
    """1x1 convolution on JAX arrays: a matrix product over the channels of every pixel.

    {jax_notes}

    Parameters
    ----------
    {input_jax_2d}
    filter : jax.Array or array_like, shape [1, 1, C, O]
        Differentiable.
    {data_format_2d}
    {bias_jax}
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax.numpy as jnp, sepcpp.jax as sj
    >>> y = sj.pointwise_conv2d(jnp.ones((1, 2, 2, 3)), jnp.ones((1, 1, 3, 2)), bias=jnp.array([0.0, -5.0]),
    ...                         activation="relu")
    >>> y[0, 0, 0].tolist()
    [3.0, 0.0]
    """
    return _single("pointwise_conv2d", input, filter, (data_format,), bias, activation)


@_doc(**_JAX_DOC)
def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding, data_format="NHWC",
                     dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
                     activation=None):
    """Depthwise then pointwise convolution on JAX arrays, as ``tf.nn.separable_conv2d``.

    The forward pass is sepcpp's fused op, the backward pass its fused
    ``separable_conv2d_backprop`` (the depthwise intermediate is never stored whole).

    {jax_notes}

    Parameters
    ----------
    {input_jax_2d}
    depthwise_filter : jax.Array or array_like, shape [kh, kw, C, M]
        Differentiable.
    pointwise_filter : jax.Array or array_like, shape [1, 1, C*M, O]
        Differentiable.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    bias : jax.Array or array_like, shape [O], optional
        Added after the pointwise step, before ``activation``. Differentiable.
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax, jax.numpy as jnp, sepcpp.jax as sj
    >>> x = jnp.ones((1, 4, 4, 2))
    >>> dw, pw = jnp.ones((3, 3, 2, 1)), jnp.ones((1, 1, 2, 3))
    >>> y = jax.jit(lambda x: sj.separable_conv2d(x, dw, pw, 1, "SAME"))(x)
    >>> y.shape, float(y[0, 1, 1, 0])
    ((1, 4, 4, 3), 18.0)
    >>> loss = lambda dw, pw: sj.separable_conv2d(x, dw, pw, 1, "SAME").sum()
    >>> g_dw, g_pw = jax.grad(loss, argnums=(0, 1))(dw, pw)
    >>> float(g_dw[1, 1, 0, 0]), float(g_pw[0, 0, 0, 0])
    (48.0, 100.0)
    """
    return _separable(False, input, depthwise_filter, pointwise_filter, 1,
                      (strides, padding, data_format, dilations), depthwise_bias, depthwise_activation, bias,
                      activation)


@_doc(**_JAX_DOC)
def super_separable_conv2d(input, depthwise_filter, pointwise_filter, groups, strides, padding,
                           data_format="NHWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None):
    """Separable convolution with a grouped pointwise step, on JAX arrays.

    As :func:`separable_conv2d`, the pointwise step split into ``groups`` groups.

    {jax_notes}

    Parameters
    ----------
    {input_jax_2d}
    depthwise_filter : jax.Array or array_like, shape [kh, kw, C, M]
        Differentiable.
    pointwise_filter : jax.Array or array_like, shape [1, 1, C*M/groups, O]
        Differentiable.
    groups : int
        The number of pointwise groups; divides ``C*M`` and ``O``.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    bias : jax.Array or array_like, shape [O], optional
        Added after the pointwise step, before ``activation``. Differentiable.
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax.numpy as jnp, sepcpp.jax as sj
    >>> y = sj.super_separable_conv2d(jnp.ones((1, 4, 4, 2)), jnp.ones((3, 3, 2, 1)), jnp.ones((1, 1, 1, 4)), 2,
    ...                               1, "VALID")
    >>> y.shape, float(y[0, 0, 0, 0])
    ((1, 2, 2, 4), 9.0)
    """
    return _separable(False, input, depthwise_filter, pointwise_filter, groups,
                      (strides, padding, data_format, dilations), depthwise_bias, depthwise_activation, bias,
                      activation)


@_doc(**_JAX_DOC)
def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, *, bias=None, activation=None):
    """Regular 2-D convolution on JAX arrays, as ``tf.nn.conv2d``.

    {jax_notes}

    Parameters
    ----------
    {input_jax_2d}
    filters : jax.Array or array_like, shape [kh, kw, C, O]
        Differentiable.
    {strides_2d}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {bias_jax}
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax, jax.numpy as jnp, sepcpp.jax as sj
    >>> x = jnp.ones((1, 4, 4, 2))
    >>> w = jnp.ones((3, 3, 2, 1))
    >>> float(sj.conv2d(x, w, 1, "SAME")[0, 1, 1, 0])
    18.0
    >>> float(jax.grad(lambda x: sj.conv2d(x, w, 1, "SAME").sum())(x)[0, 0, 0, 0])
    4.0
    """
    return _single("conv2d", input, filters, (strides, padding, data_format, dilations), bias, activation)


@_doc(**_JAX_DOC)
def depthwise_conv1d(input, filter, stride, padding, data_format="NWC", dilations=None, *, bias=None,
                     activation=None):
    """Depthwise 1-D convolution on JAX arrays: ``depthwise_conv2d`` along a sequence.

    {jax_notes}

    Parameters
    ----------
    {input_jax_1d}
    filter : jax.Array or array_like, shape [k, C, M]
        Differentiable.
    {stride_1d}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {bias_jax}
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax.numpy as jnp, sepcpp.jax as sj
    >>> x = jnp.arange(1.0, 6.0).reshape(1, 5, 1)
    >>> sj.depthwise_conv1d(x, jnp.ones((3, 1, 1)), 1, "CAUSAL")[0, :, 0].tolist()
    [1.0, 3.0, 6.0, 9.0, 12.0]
    """
    return _single("depthwise_conv1d", input, filter, (stride, padding, data_format, dilations), bias, activation)


@_doc(**_JAX_DOC)
def separable_conv1d(input, depthwise_filter, pointwise_filter, stride, padding, data_format="NWC",
                     dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
                     activation=None):
    """Separable 1-D convolution on JAX arrays: depthwise then pointwise, fused.

    {jax_notes}

    Parameters
    ----------
    {input_jax_1d}
    depthwise_filter : jax.Array or array_like, shape [k, C, M]
        Differentiable.
    pointwise_filter : jax.Array or array_like, shape [1, C*M, O]
        Differentiable.
    {stride_1d}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {depthwise_bias}
    {depthwise_activation}
    bias : jax.Array or array_like, shape [O], optional
        Added after the pointwise step, before ``activation``. Differentiable.
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax, jax.numpy as jnp, sepcpp.jax as sj
    >>> x = jnp.ones((1, 5, 2))
    >>> g = jax.grad(lambda x: sj.separable_conv1d(x, jnp.ones((3, 2, 1)), jnp.ones((1, 2, 3)), 1,
    ...                                            "CAUSAL").sum())(x)
    >>> g[0, :, 0].tolist()
    [9.0, 9.0, 9.0, 6.0, 3.0]
    """
    return _separable(True, input, depthwise_filter, pointwise_filter, 1, (stride, padding, data_format, dilations),
                      depthwise_bias, depthwise_activation, bias, activation)


@_doc(**_JAX_DOC)
def super_separable_conv1d(input, depthwise_filter, pointwise_filter, groups, stride, padding,
                           data_format="NWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None):
    """Super-separable 1-D convolution on JAX arrays: ``super_separable_conv2d`` along a sequence.

    {jax_notes}

    Parameters
    ----------
    {input_jax_1d}
    depthwise_filter : jax.Array or array_like, shape [k, C, M]
        Differentiable.
    pointwise_filter : jax.Array or array_like, shape [1, C*M/groups, O]
        Differentiable.
    groups : int
        The number of pointwise groups; divides ``C*M`` and ``O``.
    {stride_1d}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {depthwise_bias}
    {depthwise_activation}
    bias : jax.Array or array_like, shape [O], optional
        Added after the pointwise step, before ``activation``. Differentiable.
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax.numpy as jnp, sepcpp.jax as sj
    >>> y = sj.super_separable_conv1d(jnp.ones((1, 5, 4)), jnp.ones((3, 4, 1)), jnp.ones((1, 2, 4)), 2, 1,
    ...                               "CAUSAL")
    >>> y[0, :, 0].tolist()
    [2.0, 4.0, 6.0, 6.0, 6.0]
    """
    return _separable(True, input, depthwise_filter, pointwise_filter, groups,
                      (stride, padding, data_format, dilations), depthwise_bias, depthwise_activation, bias,
                      activation)


@_doc(**_JAX_DOC)
def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None, *, bias=None, activation=None):
    """Regular 1-D convolution on JAX arrays, as ``tf.nn.conv1d`` (plus CAUSAL and explicit padding).

    {jax_notes}

    Parameters
    ----------
    {input_jax_1d}
    filters : jax.Array or array_like, shape [k, C, O]
        Differentiable.
    {stride_1d}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {bias_jax}
    {activation}

    Returns
    -------
    {returns_jax}

    Raises
    ------
    {raises_jax}

    Examples
    --------
    >>> import jax, jax.numpy as jnp, sepcpp.jax as sj
    >>> x = jnp.ones((1, 5, 2))
    >>> w = jnp.ones((3, 2, 1))
    >>> sj.conv1d(x, w, 1, "VALID")[0, :, 0].tolist()
    [6.0, 6.0, 6.0]
    >>> jax.grad(lambda w: sj.conv1d(x, w, 1, "VALID").sum())(w)[:, 0, 0].tolist()
    [3.0, 3.0, 3.0]
    """
    return _single("conv1d", input, filters, (stride, padding, data_format, dilations), bias, activation)
