"""The ops on GPU arrays: DLPack in, the same kind of array out, on the caller's stream.

python/sepcpp/_api.py hands an input that lives in CUDA memory (a PyTorch CUDA tensor, a CuPy
array, a JAX array on a GPU: anything whose ``__dlpack_device__`` says CUDA) to this module after
its usual argument checks; the extension module ``sepcpp._cuda`` (built with ``SEPCPP_CUDA=1``)
validates the shapes with the CPU path's own code and launches. A GPU input never goes through the
host: with no CUDA build or no device, the call raises instead.

Streams: the op runs on the caller's current stream of the input's framework
(``torch.cuda.current_stream()``, ``cupy.cuda.get_current_stream()``; JAX has none, so the legacy
default stream, after the input is ready), or on the stream of an enclosing
``sepcpp.cuda_stream(...)`` block, and nothing waits for it on the host.
"""

from __future__ import annotations

import importlib.util
import threading
from typing import Any, Optional

import numpy as np

_DL_CPU, _DL_CUDA, _DL_CUDA_HOST, _DL_CUDA_MANAGED = 1, 2, 3, 13
_HOST_DEVICES = (_DL_CPU, _DL_CUDA_HOST)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

_OP_NAMES = {"depthwise": "depthwise_conv2d", "pointwise": "pointwise_conv2d", "separable": "separable_conv2d",
             "conv": "conv2d"}

_ext: Any = None
_ext_error: Optional[str] = None
_local = threading.local()


def _extension():
    """sepcpp._cuda, or None when this build has no CUDA target (the reason in _ext_error)."""
    global _ext, _ext_error
    if _ext is None and _ext_error is None:
        if importlib.util.find_spec(__package__ + "._cuda") is None:
            _ext_error = "this build of sepcpp has no CUDA target (build it with SEPCPP_CUDA=1 pip install .)"
            return None
        try:
            from . import _cuda  # type: ignore[attr-defined]

            _ext = _cuda
        except ImportError as e:
            _ext_error = f"the CUDA target (sepcpp._cuda) failed to load: {e}"
    return _ext


def info() -> dict:
    """``sepcpp.info()["cuda"]``: compiled (bool), devices (int), and what the runtime says."""
    ext = _extension()
    if ext is None:
        return {"compiled": False, "devices": 0, "reason": _ext_error}
    d = dict(ext.device_info())
    d["compiled"] = True
    d["architectures"] = d["architectures"].split(",")
    return {"compiled": True, "devices": d.pop("devices"), **d}


def is_device_array(x: Any) -> bool:
    """Whether ``x`` is an array outside host memory that declares its device through DLPack."""
    if type(x) is np.ndarray or not hasattr(type(x), "__dlpack_device__"):
        return False
    try:
        dev_type = int(x.__dlpack_device__()[0])
    except Exception:  # noqa: BLE001 - a producer that cannot say: treat as host, as before
        return False
    return dev_type not in _HOST_DEVICES


def _kind(x: Any) -> str:
    mod = type(x).__module__.split(".")[0]
    if mod == "torch":
        return "torch"
    if mod == "cupy":
        return "cupy"
    if mod in ("jax", "jaxlib"):
        return "jax"
    return mod


def _np_dtype(dt: Any):
    try:
        return np.dtype(str(dt).replace("torch.", ""))
    except TypeError:
        return str(dt)


class DeviceArray:
    """A GPU array passing through _api's argument checks: shape, ndim and dtype as NumPy's, and
    the views the 1-D ops make (``expand(axis)``, ``a[None]``) taken by the array's framework."""

    __slots__ = ("obj", "orig", "kind", "device", "shape", "ndim", "dtype")

    def __init__(self, x: Any, name: str) -> None:
        dev_type, dev_id = (int(v) for v in x.__dlpack_device__())
        if dev_type not in (_DL_CUDA, _DL_CUDA_MANAGED):
            raise TypeError(
                f"{name}: arrays on DLPack device type {dev_type} are not supported (CUDA devices only; "
                "sepcpp does not copy device arrays to the host behind your back)"
            )
        kind = _kind(x)
        self.orig = x  # the caller's object (returned as the result when it is out=)
        if kind == "torch":
            # DLPack refuses tensors that require grad, and exports a lazily negated or conjugated
            # tensor's raw memory (the values with the wrong sign): detach, resolve on the device.
            x = x.detach()
            if x.is_neg() or x.is_conj():
                if name == "out":
                    raise TypeError("out: a torch tensor with a lazy negation or conjugation cannot be written")
                x = x.resolve_conj().resolve_neg()
        self.obj, self.kind, self.device = x, kind, dev_id
        self.shape = tuple(int(s) for s in x.shape)
        self.ndim = len(self.shape)
        self.dtype = _np_dtype(x.dtype)

    def expand(self, axis: int) -> "DeviceArray":
        return DeviceArray(self.obj[(slice(None),) * axis + (None,)], "input")

    def __getitem__(self, key) -> "DeviceArray":
        return DeviceArray(self.obj[key], "filter")

    def squeeze(self, axis: int):  # (never called on the wrapper: results are the framework's arrays)
        raise NotImplementedError


def wrap_input(x: Any) -> DeviceArray:
    a = DeviceArray(x, "input")
    if a.kind not in ("torch", "cupy", "jax"):
        raise TypeError(
            f"input: a {type(x).__name__} on the GPU: sepcpp returns results as PyTorch, CuPy or JAX arrays, "
            "the kind of the input, and does not know this kind"
        )
    return a


def operand(x: Any, name: str, dtype) -> Any:
    """A filter or bias of a GPU call: a device array (wrapped) or a host array (uploaded)."""
    if is_device_array(x):
        a = DeviceArray(x, name)
        if a.dtype != dtype:
            raise TypeError(f"{name}: dtype {a.dtype} does not match the input's dtype {dtype} (shape {a.shape})")
        return a
    return None  # the caller converts host operands as for the CPU path


def check_out(out: Any, x: DeviceArray) -> Any:
    if out is None:
        return None
    if x.kind == "jax":
        raise TypeError("out: JAX arrays are immutable; call without out= (the result is a new JAX array)")
    if not is_device_array(out) or _kind(out) != x.kind:
        raise TypeError(f"out: must be a {x.kind} array on the GPU, as the input is, got {type(out).__name__}")
    o = DeviceArray(out, "out")
    if o.dtype != x.dtype:
        raise TypeError(f"out: dtype {o.dtype} does not match the input's dtype {x.dtype}")
    return o


class _StreamScope:
    def __init__(self, handle: int) -> None:
        self._handle, self._previous = handle, []

    def __enter__(self) -> "_StreamScope":
        self._previous.append(getattr(_local, "stream", None))
        _local.stream = self._handle
        return self

    def __exit__(self, *exc) -> None:
        _local.stream = self._previous.pop()


def cuda_stream(stream):
    """Run the GPU ops of a ``with`` block on ``stream`` instead of the caller's current one.

    Without it, an op on GPU arrays is queued on the current stream of the input's framework
    (``torch.cuda.current_stream()``, CuPy's current stream; for JAX, the legacy default stream).
    The setting is the calling thread's own; blocks nest. CPU calls are not affected.

    Parameters
    ----------
    stream : torch.cuda.Stream, cupy.cuda.Stream or int
        The stream: a PyTorch or CuPy stream object, or a ``cudaStream_t`` as an int (0 is the
        legacy default stream). It must belong to the inputs' device.

    Returns
    -------
    context manager
        Sets the stream for the calling thread on entry and puts the previous one back on exit.

    Raises
    ------
    TypeError
        If ``stream`` is none of those.
    ValueError
        If it is a negative int.

    Examples
    --------
    >>> import sepcpp
    >>> with sepcpp.cuda_stream(0):  # the legacy default stream; ops on GPU arrays queue there
    ...     pass
    >>> sepcpp.cuda_stream(-1)
    Traceback (most recent call last):
        ...
    ValueError: stream: a cudaStream_t cannot be negative, got -1
    """
    handle = getattr(stream, "cuda_stream", None)  # torch.cuda.Stream
    if handle is None:
        handle = getattr(stream, "ptr", stream)  # cupy.cuda.Stream, or a raw cudaStream_t
    if isinstance(handle, bool):
        handle = None
    try:
        handle = int(handle)
    except (TypeError, ValueError):
        raise TypeError(f"stream: expected a torch.cuda.Stream, a cupy.cuda.Stream or an int, got {stream!r}") from None
    if handle < 0:
        raise ValueError(f"stream: a cudaStream_t cannot be negative, got {handle}")
    return _StreamScope(handle)


def _streams(x: DeviceArray):
    """(the cudaStream_t to launch on, what to pass to __dlpack__(stream=...))."""
    handle = getattr(_local, "stream", None)
    if handle is None:
        if x.kind == "torch":
            import torch

            handle = torch.cuda.current_stream(x.obj.device).cuda_stream
        elif x.kind == "cupy":
            import cupy

            with cupy.cuda.Device(x.device):
                handle = cupy.cuda.get_current_stream().ptr
        else:  # JAX: no current stream to follow; its arrays are waited for before they are read
            x.obj.block_until_ready()
            return 0, None
    # DLPack numbers the legacy default stream 1 (0 is ambiguous and not allowed).
    return handle, (1 if handle == 0 else handle)


def _capsule(a: Any, dlpack_stream):
    if isinstance(a, DeviceArray):
        return a.obj.__dlpack__(stream=dlpack_stream)
    if _ext is not None and isinstance(a, _ext.DeviceBuffer):
        return a.__dlpack__(stream=-1)  # a layer's weights: uploaded and waited for when it was built
    return a  # a host NumPy array (uploaded by the extension) or None


def parse_device(device: Any) -> Optional[int]:
    """A layer's ``device``: None for "cpu", the GPU's index for "cuda" / "cuda:N"."""
    if device is None or device == "cpu":
        return None
    if isinstance(device, str) and device.startswith("cuda"):
        rest = device[4:]
        if rest == "":
            return 0
        if rest.startswith(":") and rest[1:].isdigit():
            return int(rest[1:])
    raise ValueError(f"device: expected 'cpu', 'cuda' or 'cuda:N', got {device!r}")


def upload(arrays, device: int, what: str):
    """A layer's weights copied to GPU ``device`` (clear errors without a CUDA build or device)."""
    ext = _extension()
    if ext is None:
        raise RuntimeError(f"{what}: device='cuda:{device}' but {_ext_error}")
    n = ext.device_count()
    if device >= n:
        reason = f" ({ext.device_info().get('reason', '')})" if n == 0 else ""
        raise RuntimeError(f"{what}: device='cuda:{device}' but the CUDA runtime sees {n} device(s){reason}")
    return tuple(None if a is None else ext.DeviceBuffer.upload(a, device) for a in arrays)


def run(op, x: DeviceArray, f1, f2, b1, b2, out, strides, dilations, mode, pads, layout, activation,
        dw_activation, groups):
    ext = _extension()
    name = _OP_NAMES[op] if groups == 1 else "super_" + _OP_NAMES[op]
    if ext is None:
        raise RuntimeError(f"{name}: input is a {x.kind} array on the GPU (cuda:{x.device}) but {_ext_error}")
    if ext.device_count() == 0:
        raise RuntimeError(
            f"{name}: input is a {x.kind} array on the GPU (cuda:{x.device}) but the CUDA runtime sees no "
            f"device ({ext.device_info().get('reason', '')})"
        )
    stream, dlpack_stream = _streams(x)
    kind, dtype = x.kind, x.dtype

    if kind == "torch":
        import torch

        tdtype = torch.float32 if dtype == np.float32 else torch.float64

        def alloc(shape):
            return torch.empty(shape, dtype=tdtype, device=x.obj.device)
    elif kind == "cupy":
        import cupy

        def alloc(shape):
            with cupy.cuda.Device(x.device):
                return cupy.empty(shape, dtype=dtype)
    else:

        def alloc(shape):
            return ext.DeviceBuffer(list(shape), str(dtype), x.device, stream)

    result = ext.run(op, _capsule(x, dlpack_stream), _capsule(f1, dlpack_stream), _capsule(f2, dlpack_stream),
                     _capsule(b1, dlpack_stream), _capsule(b2, dlpack_stream),
                     None if out is None else out.obj, alloc, stream, dlpack_stream, strides, dilations, mode,
                     pads, layout, activation, dw_activation, groups)
    if out is not None:
        return out.orig
    if kind == "jax":
        import jax.dlpack

        return jax.dlpack.from_dlpack(result)
    return result
