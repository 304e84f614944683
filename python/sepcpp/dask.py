"""Every sepcpp op on Dask arrays: ``sepcpp.dask``, exact, on one machine or a cluster.

The functions have the NumPy API's names and signatures (``sepcpp.depthwise_conv2d`` and the rest,
without ``out=``), take a ``dask.array.Array`` (or anything ``dask.array.asarray`` takes) and return
a lazy ``dask.array.Array``. Filters and biases are small and given as NumPy arrays.

How a chunked convolution stays bitwise identical to the in-memory call
-----------------------------------------------------------------------
sepcpp computes each output element with the same arithmetic wherever it sits in the image: the
taps in a fixed order, padding taps as the kernel treats padding. So an output block is computed by
the in-memory op on exactly the input it reads, and nothing else:

* along each spatial axis, output ``[o0, o1)`` reads input ``[o0*s - pad_before, (o1-1)*s -
  pad_before + (k-1)*d + 1)``; the part inside the image is gathered from the neighbouring chunks
  (only the halo slices travel between workers), and the part outside becomes *explicit padding* of
  the block's call, so zeros appear exactly where the whole image has padding (SAME's asymmetric
  split, explicit lists and CAUSAL included);
* output blocks are laid on the output grid, one per input chunk (output ``i`` goes with the chunk
  holding input ``i*s``), so strides that do not divide the chunk sizes need no rechunking of the
  input: a block's input range simply starts where its first window does;
* batch chunks map one to one; depthwise works per channel chunk (input channels ``[c0, c1)`` give
  output channels ``[c0*M, c1*M)`` from the matching filter slice); the ops with a pointwise or
  regular step sum over all channels in a fixed order, so their input is rechunked to one channel
  chunk first (summing partial products of channel chunks would change that order).

``tests/python/test_dask.py`` checks the claim bitwise against the in-memory ops (hypothesis over
shapes, chunkings and parameters, the fused separable path included), on the threaded scheduler and
on ``dask.distributed`` worker processes.

Dask is optional: ``pip install "sepcpp[dask]"``; ``import sepcpp`` never imports it.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

try:
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph
except ImportError as e:  # pragma: no cover - exercised only where dask is missing
    raise ImportError('sepcpp.dask needs Dask: pip install "sepcpp[dask]" (dask[array] and distributed)') \
        from e

from . import _api

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
# Arrays


def _native(a: Optional[np.ndarray]) -> Optional[np.ndarray]:
    """The array with NumPy's canonical dtype object.

    Workaround, to be removed once the binding compares dtypes by value: an array that went through
    pickle (every block a distributed worker receives, and the filters in the task graph) carries a
    float32 dtype object equal to, but not the same object as, NumPy's own, and the binding refuses
    it. A view with the canonical dtype costs nothing.
    """
    if a is None or not isinstance(a, np.ndarray):
        return a
    canonical = np.dtype(a.dtype.str)
    return a if a.dtype is canonical else a.view(canonical)


def _dask_input(input: Any) -> "da.Array":
    x = input if isinstance(input, da.Array) else da.asarray(input)
    if any(c != c for cs in x.chunks for c in cs):  # NaN: sizes known only after computing
        raise ValueError(f"input: a Dask array with unknown chunk sizes (shape {x.shape}); call "
                         "input.compute_chunk_sizes() first, sepcpp.dask plans each block's halo from them")
    return x


def _small(a: Any) -> Any:
    """Filters and biases as NumPy arrays (a Dask array is computed: they are small)."""
    if isinstance(a, da.Array):
        return a.compute()
    return a


def _check_out(out: Any) -> None:
    if out is not None:
        raise TypeError("out: not supported by sepcpp.dask (Dask arrays are immutable); the result is a new "
                        "dask.array.Array, which dask.array.store writes into any array or store")


# --------------------------------------------------------------------------------------------
# The plan: which input each output block reads, and with what padding


def _axis_plan(in_chunks: Tuple[int, ...], n: int, kernel: int, stride: int, dilation: int, pad_before: int,
               out: int):
    """Output chunks along one spatial axis and, for each output block, its input pieces
    ``[(input chunk index, slice)]`` and its explicit ``(before, after)`` padding."""
    eff = (kernel - 1) * dilation + 1
    bounds = np.cumsum((0,) + tuple(in_chunks))
    # Output i goes with the input chunk holding input i*s (boundaries ceil(b / s)): with stride 1
    # and SAME the output chunks are the input's.
    edges = sorted({0, out} | {min(-(-int(b) // stride), out) for b in bounds[1:-1]})
    out_chunks, blocks = [], []
    for o0, o1 in zip(edges[:-1], edges[1:]):
        if o1 <= o0:
            continue
        start = o0 * stride - pad_before
        end = (o1 - 1) * stride - pad_before + eff
        if end <= 0 or start >= n:
            # The whole block reads padding (possible with large explicit padding): an empty slice of
            # the nearest chunk carries the other axes' shape.
            pads = (end - start, 0) if end <= 0 else (0, end - start)
            j = 0 if end <= 0 else len(in_chunks) - 1
            pieces = [(j, slice(0, 0))]
        else:
            lo, hi = max(start, 0), min(end, n)
            pads = (lo - start, end - hi)
            pieces = []
            for j in range(len(in_chunks)):
                a, b = max(lo, int(bounds[j])), min(hi, int(bounds[j + 1]))
                if a < b:
                    pieces.append((j, slice(a - int(bounds[j]), b - int(bounds[j]))))
        out_chunks.append(o1 - o0)
        blocks.append((pieces, pads))
    return tuple(out_chunks), blocks


def _concat(pieces: List[Any], axes: Sequence[int]) -> np.ndarray:
    """Nested lists of blocks (depth len(axes)) joined along ``axes``, outermost first."""
    if len(axes) == 0:
        return pieces
    parts = [_concat(p, axes[1:]) for p in pieces]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axes[0])


class _BlockOp:
    """The in-memory sepcpp op with every argument bound but the input and the padding; one per
    channel chunk, put in the graph once so its filters travel to each worker once."""

    def __init__(self, fn: Callable, kwargs: Dict[str, Any],
                 explicit: Optional[Callable[[List[Tuple[int, int]]], Any]]):
        self.fn = fn
        self.kwargs = kwargs
        self.explicit = explicit

    def __call__(self, x: np.ndarray, pads: List[Tuple[int, int]]) -> np.ndarray:
        kw = {k: _native(v) for k, v in self.kwargs.items()}
        if self.explicit is not None:
            kw["padding"] = self.explicit(pads)
        return self.fn(_native(x), **kw)


def _explicit_1d(pads: List[Tuple[int, int]]) -> List[List[int]]:
    return [list(pads[0])]


def _explicit_2d(pads: List[Tuple[int, int]]) -> List[List[int]]:
    return [list(pads[0]), list(pads[1])]


def _run_block(op: _BlockOp, pads: List[Tuple[int, int]], spatial_axes: Tuple[int, ...], pieces: List[Any]):
    return op(_concat(pieces, spatial_axes), pads)


def _getitem(block: np.ndarray, index: Tuple[slice, ...]) -> np.ndarray:
    return block[index]


def _piece_keys(x: "da.Array", idx: Tuple[int, ...], spatial_axes: Sequence[int],
                pieces: List[List[Tuple[int, slice]]], piece_name: str, dsk: Dict[Any, Any], chosen=()):
    """Nested lists (one level per spatial axis) of the keys of output block ``idx``'s input pieces:
    a whole input chunk's own key, or a slicing task added to ``dsk``, so that only the halo, not
    the neighbouring chunk, travels to the worker computing the block."""
    level = len(chosen)
    if level < len(spatial_axes):
        return [_piece_keys(x, idx, spatial_axes, pieces, piece_name, dsk, chosen + (p,))
                for p in pieces[level]]
    in_idx, index = list(idx), [slice(None)] * x.ndim
    for a, (j, sl) in zip(spatial_axes, chosen):
        in_idx[a], index[a] = j, sl
    key = (x.name, *in_idx)
    if all(sl == slice(0, x.chunks[a][j]) for a, (j, sl) in zip(spatial_axes, chosen)):
        return key
    pkey = (piece_name, *idx, *[j for j, _ in chosen])
    dsk[pkey] = (_getitem, key, tuple(index))
    return pkey


def _map_conv(x: "da.Array", out_shape: Tuple[int, ...], spatial_axes: Tuple[int, ...], channel_axis: int,
              geometry: List[Tuple[int, int, int, int]], ops: List[_BlockOp],
              out_channel_chunks: Tuple[int, ...],
              name: str) -> "da.Array":
    """The output array: one task per output block, fed by halo slices of the input chunks.

    geometry: (kernel, stride, dilation, pad_before) per spatial axis. ``ops[c]`` computes channel
    chunk c (one entry when the input's channels are one chunk).
    """
    if any(s == 0 for s in out_shape):
        chunks = tuple(x.chunks[a] if a not in spatial_axes and a != channel_axis else (out_shape[a],)
                       for a in range(x.ndim))
        return da.zeros(out_shape, dtype=x.dtype, chunks=chunks)
    plans = [_axis_plan(x.chunks[a], x.shape[a], k, s, d, pb, out_shape[a])
             for a, (k, s, d, pb) in zip(spatial_axes, geometry)]
    out_chunks = list(x.chunks)
    for a, (oc, _) in zip(spatial_axes, plans):
        out_chunks[a] = oc
    out_chunks[channel_axis] = out_channel_chunks
    out_chunks = tuple(out_chunks)
    assert tuple(sum(c) for c in out_chunks) == tuple(out_shape), (out_chunks, out_shape)

    op_name, piece_name = name + "-op", name + "-halo"
    dsk: Dict[Any, Any] = {(op_name, c): op for c, op in enumerate(ops)}
    for idx in np.ndindex(*[len(c) for c in out_chunks]):
        spatial = [plans[i][1][idx[a]] for i, a in enumerate(spatial_axes)]
        pieces = _piece_keys(x, idx, spatial_axes, [p for p, _ in spatial], piece_name, dsk)
        c = idx[channel_axis] if len(ops) > 1 else 0
        pads = [pads for _, pads in spatial]
        dsk[(name, *idx)] = (_run_block, (op_name, c), pads, tuple(spatial_axes), pieces)
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    return da.Array(graph, name, out_chunks, meta=np.empty((0,) * x.ndim, dtype=x.dtype))


# --------------------------------------------------------------------------------------------
# The ops


def _probe(fn: Callable, x: "da.Array", kwargs: Dict[str, Any]) -> Tuple[int, ...]:
    """Validate every argument and get the output shape from the in-memory op itself, called on an
    empty batch of the input's shape (sepcpp's checks and shape arithmetic, nothing computed)."""
    probe = np.empty((0,) + tuple(x.shape[1:]) if x.ndim else (), dtype=x.dtype)
    try:
        r = fn(probe, **kwargs)
    except (TypeError, ValueError) as e:
        # Messages name the probe's empty batch: give the real input's shape instead.
        msg = str(e)
        real = tuple(x.shape)
        for shape, repl in ((probe.shape, real),
                            (probe.shape[:1] + (1,) + probe.shape[1:], real[:1] + (1,) + real[1:]),
                            (probe.shape[:2] + (1,) + probe.shape[2:], real[:2] + (1,) + real[2:])):
            msg = msg.replace(str(shape), str(tuple(repl)))
        raise type(e)(msg) from None
    return (x.shape[0],) + tuple(r.shape[1:])


def _pad_before(mode: str, explicit: int, n: int, out: int, kernel: int, stride: int, dilation: int) -> int:
    if mode == "SAME":
        # TensorFlow's SAME split, as cpp/src/geometry.cc computes it (the odd pixel goes after);
        # `out` is the core's own answer, so this only splits the padding the core chose.
        need = max((out - 1) * stride + (kernel - 1) * dilation + 1 - n, 0)
        return need // 2
    return explicit if mode == "EXPLICIT" else 0


def _conv(fn: Callable, input: Any, filters: Dict[str, Any], biases: Dict[str, Any], options: Dict[str, Any],
          one_d: bool, depthwise: bool, pointwise: bool = False) -> "da.Array":
    x = _dask_input(input)
    filters = {k: _small(v) for k, v in filters.items()}
    biases = {k: _small(v) for k, v in biases.items()}
    out_shape = _probe(fn, x, {**filters, **biases, **options})
    layout = str(options["data_format"]).upper()
    if one_d:
        spatial_axes, channel_axis = ((1,), 2) if layout == "NWC" else ((2,), 1)
    else:
        spatial_axes, channel_axis = ((1, 2), 3) if layout == "NHWC" else ((2, 3), 1)
    first = np.asarray(next(iter(filters.values())))
    kernels = first.shape[:len(spatial_axes)]

    # The arguments in sepcpp's normal form (the probe has accepted them).
    if pointwise:
        strides, dilations, mode, pads = (1, 1), (1, 1), "VALID", (0, 0, 0, 0)
    elif one_d:
        s = _api._spatial_1d(options["stride"], "stride", layout)
        d = _api._spatial_1d(options["dilations"], "dilations", layout)
        mode, pads = _api._padding_1d(options["padding"], layout, kernels[0], d)
        strides, dilations = (s,), (d,)
    else:
        strides = _api._spatial_2d(options["strides"], "strides", layout)
        dilations = _api._spatial_2d(options["dilations"], "dilations", layout)
        mode, pads = _api._padding_2d(options["padding"], layout)
    explicit_before = pads[2:3] if one_d else pads[0::2]
    geometry = [(k, s, d, _pad_before(mode, e, x.shape[a], out_shape[a], k, s, d))
                for a, k, s, d, e in zip(spatial_axes, kernels, strides, dilations, explicit_before)]

    bound = {k: v for k, v in options.items() if k != "padding"}
    explicit = None if pointwise else _explicit_1d if one_d else _explicit_2d

    if depthwise and x.numblocks[channel_axis] > 1:
        # Depthwise channels are independent: each channel chunk runs with its filter slice.
        (fname, f), = filters.items()
        (bname, b), = biases.items()
        # Lists and numbers take the input's dtype, as the in-memory op converts them; arrays keep
        # theirs (the probe has checked it).
        def operand(v):
            return v if isinstance(v, np.ndarray) or v is None else np.asarray(v, dtype=x.dtype)

        f, b = operand(f), operand(b)
        m = f.shape[-1]
        bounds = np.cumsum((0,) + x.chunks[channel_axis])
        ops = []
        for c0, c1 in zip(bounds[:-1], bounds[1:]):
            kw = {**bound, fname: np.ascontiguousarray(f[..., c0:c1, :])}
            kw[bname] = None if b is None else np.ascontiguousarray(b[c0 * m:c1 * m])
            ops.append(_BlockOp(fn, kw, explicit))
        out_channel_chunks = tuple(c * m for c in x.chunks[channel_axis])
    else:
        if x.numblocks[channel_axis] > 1:
            x = x.rechunk({channel_axis: -1})
        ops = [_BlockOp(fn, {**bound, **filters, **biases}, explicit)]
        out_channel_chunks = (out_shape[channel_axis],)

    name = f"sepcpp-{fn.__name__}-" + tokenize(x, fn.__name__, filters, biases, options)
    return _map_conv(x, out_shape, spatial_axes, channel_axis, geometry, ops, out_channel_chunks, name)


# The parameter descriptions the functions below share, written once (``_api._doc`` puts each in
# place of a docstring line that holds only ``{name}``).
_DOC = {
    "strides": """
        strides : int or sequence of int
            An int, an ``(h, w)`` pair, or TensorFlow's 4-list (``[1, sh, sw, 1]`` for NHWC,
            ``[1, 1, sh, sw]`` for NCHW).""",
    "padding_2d": """
        padding : str or list
            ``"SAME"`` (TensorFlow's rule: the odd pixel after), ``"VALID"``, or TensorFlow's explicit
            list of ``[before, after]`` pairs; each block gets its share of it as explicit padding.""",
    "data_format_2d": """
        data_format : str
            ``"NHWC"`` (default) or ``"NCHW"``.""",
    "dilations_2d": """
        dilations : int or sequence of int, optional
            As ``strides``; default 1.""",
    "bias_cm": """
        bias : numpy.ndarray, optional
            ``C*M`` entries, added before ``activation``.""",
    "activation": """
        activation : {None, 'relu', 'relu6'}, optional
            Applied last, inside the kernel.""",
    "bias_o": """
        bias : numpy.ndarray, optional
            ``O`` entries, added before ``activation``.""",
    "out": """
        out : None
            Not supported; use ``dask.array.store``.""",
    "input_2d": """
        input : dask.array.Array
            ``(N, H, W, C)`` or ``(N, C, H, W)``; channel chunks are joined into one.""",
    "depthwise_filter_2d": """
        depthwise_filter : numpy.ndarray
            ``[kh, kw, C, M]``.""",
    "depthwise_bias": """
        depthwise_bias : numpy.ndarray, optional
            ``C*M`` entries, added after the depthwise step.""",
    "depthwise_activation": """
        depthwise_activation : {None, 'relu', 'relu6'}, optional
            Applied between the two steps.""",
    "groups": """
        groups : int
            Pointwise groups; ``C*M`` and ``O`` must be divisible by it.""",
    "stride": """
        stride : int or sequence of int
            An int, or TensorFlow's 3-list (``[1, s, 1]`` for NWC, ``[1, 1, s]`` for NCW).""",
    "padding_1d": """
        padding : str or list
            ``"SAME"``, ``"VALID"``, ``"CAUSAL"`` (left padding ``(k - 1) * d``) or an explicit list
            ``[[0, 0], [left, right], [0, 0]]``; each block gets its share of it as explicit padding.""",
    "data_format_1d": """
        data_format : str
            ``"NWC"`` (default) or ``"NCW"``.""",
    "dilations_1d": """
        dilations : int or sequence of int, optional
            As ``stride``; default 1.""",
    "input_1d": """
        input : dask.array.Array
            ``(N, W, C)`` or ``(N, C, W)``; channel chunks are joined into one.""",
    "depthwise_filter_1d": """
        depthwise_filter : numpy.ndarray
            ``[k, C, M]``.""",
    "returns_2d": """
        dask.array.Array
            One output chunk per input chunk along N, H and W, one chunk of ``O`` channels.""",
    "returns_1d": """
        dask.array.Array
            One output chunk per input chunk along N and W, one chunk of ``O`` channels.""",
    "raises": """
        TypeError
            As ``sepcpp``'s in-memory op (a dtype it does not take, filters of another dtype), or
            ``out`` given.
        ValueError
            As ``sepcpp``'s in-memory op, with the input's real shape (checked before any graph is
            built), or an input with unknown chunk sizes.""",
}


def _doc(**parts: str):
    """``_api._doc`` with this module's shared descriptions."""
    return _api._doc(**{**_DOC, **parts})


@_doc()
def depthwise_conv2d(input, filter, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
                     activation=None, out=None):
    """Depthwise 2-D convolution of a Dask array, as ``sepcpp.depthwise_conv2d``.

    Parameters
    ----------
    input : dask.array.Array
        ``(N, H, W, C)`` (NHWC) or ``(N, C, H, W)`` (NCHW), float32 or float64, chunked along any
        axes; a NumPy array is wrapped with ``dask.array.asarray``.
    filter : numpy.ndarray
        ``[kh, kw, C, M]``; output channel ``c*M + m``.
    {strides}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {bias_cm}
    {activation}
    out : None
        Not supported (Dask arrays are immutable); use ``dask.array.store``.

    Returns
    -------
    dask.array.Array
        Lazy, chunked like the input along batch and channels (channel chunks times ``M``), one
        output chunk per input chunk along H and W; bitwise equal to the in-memory result.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.ones((1, 64, 64, 8), dtype=np.float32, chunks=(1, 20, 32, 4))
    >>> y = sepcpp.dask.depthwise_conv2d(x, np.ones((3, 3, 8, 2), np.float32), 2, "SAME")
    >>> y.shape, float(y[0, 5, 5, 0].compute())
    ((1, 32, 32, 16), 9.0)
    """
    _check_out(out)
    return _conv(_api.depthwise_conv2d, input, {"filter": filter}, {"bias": bias},
                 dict(strides=strides, padding=padding, data_format=data_format, dilations=dilations,
                      activation=activation), one_d=False, depthwise=True)


@_doc()
def pointwise_conv2d(input, filter, data_format="NHWC", *, bias=None, activation=None, out=None):
    """1x1 convolution of a Dask array, as ``sepcpp.pointwise_conv2d``: filter ``[1, 1, C, O]``.

    Parameters
    ----------
    input : dask.array.Array
        ``(N, H, W, C)`` or ``(N, C, H, W)``; channel chunks are joined into one (the sum over
        channels runs in one fixed order).
    filter : numpy.ndarray
        ``[1, 1, C, O]``.
    {data_format_2d}
    {bias_o}
    {activation}
    {out}

    Returns
    -------
    dask.array.Array
        Chunked like the input along N, H and W, one chunk of ``O`` channels.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.ones((2, 16, 16, 4), dtype=np.float32, chunks=(1, 8, 8, 2))
    >>> y = sepcpp.dask.pointwise_conv2d(x, np.ones((1, 1, 4, 3), np.float32))
    >>> y.chunks[3], float(y.max().compute())
    ((3,), 4.0)
    """
    _check_out(out)
    return _conv(_api.pointwise_conv2d, input, {"filter": filter}, {"bias": bias},
                 dict(data_format=data_format, activation=activation), one_d=False, depthwise=False,
                 pointwise=True)


@_doc()
def separable_conv2d(input, depthwise_filter, pointwise_filter, strides, padding, data_format="NHWC",
                     dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
                     activation=None, out=None):
    """Separable 2-D convolution (the fused one-pass op) of a Dask array, as ``sepcpp.separable_conv2d``.

    Parameters
    ----------
    {input_2d}
    {depthwise_filter_2d}
    pointwise_filter : numpy.ndarray
        ``[1, 1, C*M, O]``.
    {strides}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    {bias_o}
    {activation}
    {out}

    Returns
    -------
    {returns_2d}

    Raises
    ------
    {raises}

    Examples
    --------
    A large image from a lazy source, through a MobileNet block, to one number:

    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.random.default_rng(0).random((1, 1024, 1024, 8), chunks=(1, 256, 256, 8),
    ...                                     dtype=np.float32)
    >>> dw = np.full((3, 3, 8, 1), 1 / 9, np.float32)
    >>> pw = np.full((1, 1, 8, 4), 1 / 8, np.float32)
    >>> y = sepcpp.dask.separable_conv2d(x, dw, pw, 1, "SAME", activation="relu6")
    >>> bool(y.max().compute() < 1)
    True
    """
    _check_out(out)
    return super_separable_conv2d(input, depthwise_filter, pointwise_filter, 1, strides, padding, data_format,
                                  dilations, depthwise_bias=depthwise_bias,
                                  depthwise_activation=depthwise_activation, bias=bias, activation=activation)


@_doc()
def super_separable_conv2d(input, depthwise_filter, pointwise_filter, groups, strides, padding,
                           data_format="NHWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None, out=None):
    """Super-separable 2-D convolution of a Dask array, as ``sepcpp.super_separable_conv2d``.

    Parameters
    ----------
    {input_2d}
    {depthwise_filter_2d}
    pointwise_filter : numpy.ndarray
        ``[1, 1, C*M/groups, O]``.
    {groups}
    {strides}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {depthwise_bias}
    {depthwise_activation}
    {bias_o}
    {activation}
    {out}

    Returns
    -------
    {returns_2d}

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.ones((1, 32, 32, 4), dtype=np.float32, chunks=(1, 16, 16, 4))
    >>> y = sepcpp.dask.super_separable_conv2d(x, np.ones((3, 3, 4, 1), np.float32),
    ...                                        np.ones((1, 1, 2, 6), np.float32), 2, 1, "VALID")
    >>> y.shape, float(y[0, 0, 0, 0].compute())
    ((1, 30, 30, 6), 18.0)
    """
    _check_out(out)
    return _conv(_api.super_separable_conv2d, input,
                 {"depthwise_filter": depthwise_filter, "pointwise_filter": pointwise_filter},
                 {"depthwise_bias": depthwise_bias, "bias": bias},
                 dict(groups=groups, strides=strides, padding=padding, data_format=data_format,
                      dilations=dilations,
                      depthwise_activation=depthwise_activation, activation=activation),
                 one_d=False, depthwise=False)


@_doc()
def conv2d(input, filters, strides, padding, data_format="NHWC", dilations=None, *, bias=None,
           activation=None, out=None):
    """Regular 2-D convolution of a Dask array, as ``sepcpp.conv2d``: filters ``[kh, kw, C, O]``.

    Parameters
    ----------
    {input_2d}
    filters : numpy.ndarray
        ``[kh, kw, C, O]``.
    {strides}
    {padding_2d}
    {data_format_2d}
    {dilations_2d}
    {bias_o}
    {activation}
    {out}

    Returns
    -------
    {returns_2d}

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.ones((1, 10, 10, 2), dtype=np.float64, chunks=(1, 4, 4, 1))
    >>> y = sepcpp.dask.conv2d(x, np.ones((3, 3, 2, 1)), 1, [[0, 0], [2, 0], [1, 1], [0, 0]])
    >>> y[0, :, 0, 0].compute().tolist()[:3]
    [4.0, 8.0, 12.0]
    """
    _check_out(out)
    return _conv(_api.conv2d, input, {"filters": filters}, {"bias": bias},
                 dict(strides=strides, padding=padding, data_format=data_format, dilations=dilations,
                      activation=activation), one_d=False, depthwise=False)


@_doc()
def depthwise_conv1d(input, filter, stride, padding, data_format="NWC", dilations=None, *, bias=None,
                     activation=None, out=None):
    """Depthwise 1-D convolution of a Dask array, as ``sepcpp.depthwise_conv1d``.

    Parameters
    ----------
    input : dask.array.Array
        ``(N, W, C)`` (NWC) or ``(N, C, W)`` (NCW), chunked along any axes.
    filter : numpy.ndarray
        ``[k, C, M]``; output channel ``c*M + m``.
    {stride}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {bias_cm}
    {activation}
    {out}

    Returns
    -------
    dask.array.Array
        Chunked like the input along N and C (channel chunks times ``M``), one output chunk per
        input chunk along W.

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.arange(12, dtype=np.float32, chunks=5).reshape(1, 12, 1)
    >>> y = sepcpp.dask.depthwise_conv1d(x, np.ones((3, 1, 1), np.float32), 1, "CAUSAL")
    >>> y[0, :4, 0].compute().tolist()
    [0.0, 1.0, 3.0, 6.0]
    """
    _check_out(out)
    return _conv(_api.depthwise_conv1d, input, {"filter": filter}, {"bias": bias},
                 dict(stride=stride, padding=padding, data_format=data_format, dilations=dilations,
                      activation=activation), one_d=True, depthwise=True)


@_doc()
def separable_conv1d(input, depthwise_filter, pointwise_filter, stride, padding, data_format="NWC",
                     dilations=None, *, depthwise_bias=None, depthwise_activation=None, bias=None,
                     activation=None, out=None):
    """Separable 1-D convolution of a Dask array, as ``sepcpp.separable_conv1d``.

    Parameters
    ----------
    {input_1d}
    {depthwise_filter_1d}
    pointwise_filter : numpy.ndarray
        ``[1, C*M, O]``.
    {stride}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {depthwise_bias}
    {depthwise_activation}
    {bias_o}
    {activation}
    {out}

    Returns
    -------
    {returns_1d}

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.ones((4, 1000, 8), dtype=np.float32, chunks=(2, 300, 8))
    >>> y = sepcpp.dask.separable_conv1d(x, np.ones((5, 8, 1), np.float32),
    ...                                  np.ones((1, 8, 2), np.float32), 1, "CAUSAL", dilations=2)
    >>> y.shape, float(y.max().compute())
    ((4, 1000, 2), 40.0)
    """
    _check_out(out)
    return super_separable_conv1d(input, depthwise_filter, pointwise_filter, 1, stride, padding, data_format,
                                  dilations, depthwise_bias=depthwise_bias,
                                  depthwise_activation=depthwise_activation, bias=bias, activation=activation)


@_doc()
def super_separable_conv1d(input, depthwise_filter, pointwise_filter, groups, stride, padding,
                           data_format="NWC", dilations=None, *, depthwise_bias=None,
                           depthwise_activation=None, bias=None, activation=None, out=None):
    """Super-separable 1-D convolution of a Dask array, as ``sepcpp.super_separable_conv1d``.

    Parameters
    ----------
    {input_1d}
    {depthwise_filter_1d}
    pointwise_filter : numpy.ndarray
        ``[1, C*M/groups, O]``.
    {groups}
    {stride}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {depthwise_bias}
    {depthwise_activation}
    {bias_o}
    {activation}
    {out}

    Returns
    -------
    {returns_1d}

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.ones((2, 64, 4), dtype=np.float32, chunks=(1, 16, 2))
    >>> y = sepcpp.dask.super_separable_conv1d(x, np.ones((3, 4, 1), np.float32),
    ...                                        np.ones((1, 2, 4), np.float32), 2, 2, "SAME")
    >>> y.shape, float(y[0, 1, 0].compute())
    ((2, 32, 4), 6.0)
    """
    _check_out(out)
    return _conv(_api.super_separable_conv1d, input,
                 {"depthwise_filter": depthwise_filter, "pointwise_filter": pointwise_filter},
                 {"depthwise_bias": depthwise_bias, "bias": bias},
                 dict(groups=groups, stride=stride, padding=padding, data_format=data_format,
                      dilations=dilations,
                      depthwise_activation=depthwise_activation, activation=activation),
                 one_d=True, depthwise=False)


@_doc()
def conv1d(input, filters, stride, padding, data_format="NWC", dilations=None, *, bias=None, activation=None,
           out=None):
    """Regular 1-D convolution of a Dask array, as ``sepcpp.conv1d``: filters ``[k, C, O]``.

    Parameters
    ----------
    {input_1d}
    filters : numpy.ndarray
        ``[k, C, O]``.
    {stride}
    {padding_1d}
    {data_format_1d}
    {dilations_1d}
    {bias_o}
    {activation}
    {out}

    Returns
    -------
    {returns_1d}

    Raises
    ------
    {raises}

    Examples
    --------
    >>> import numpy as np, dask.array as da, sepcpp.dask
    >>> x = da.ones((1, 3, 50), dtype=np.float64, chunks=(1, 1, 7))   # NCW
    >>> y = sepcpp.dask.conv1d(x, np.ones((4, 3, 2)), 3, "VALID", data_format="NCW")
    >>> y.shape, float(y.sum().compute())
    ((1, 2, 16), 384.0)
    """
    _check_out(out)
    return _conv(_api.conv1d, input, {"filters": filters}, {"bias": bias},
                 dict(stride=stride, padding=padding, data_format=data_format, dilations=dilations,
                      activation=activation), one_d=True, depthwise=False)
