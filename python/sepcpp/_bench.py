"""sepcpp's benchmark: the separable-convolution layer suite, timed against its peers.

Run it as ``python -m sepcpp bench [options]`` (or ``python benchmarks/bench.py``); ``--help`` lists
the options. For every layer of the suite (NHWC, float32, SAME padding) it times sepcpp's separable
convolution and, in the same process on the same data, the peers that are importable:

* ``numpy``: a naive but reasonable implementation (depthwise as a sum of shifted, strided slices
  times the weights; pointwise as one matmul). Skipped for layers where one call takes over a second.
* ``tf``: ``tf.nn.separable_conv2d`` in a ``tf.function`` with a fixed input signature.
* ``torch-nchw`` / ``torch-cl``: ``F.conv2d(groups=C)`` then a 1x1 ``F.conv2d``, on an NCHW-contiguous
  input and on a channels_last input (weights likewise), under ``torch.no_grad()``.

Every peer's output is checked against sepcpp's (max abs difference relative to the output's scale,
below 1e-3); a peer that disagrees is reported as MISMATCH and left out of the ratios.

Timing is warm-up calls, then the median of ``--repeat`` calls measured with ``time.perf_counter``
(fewer calls, but at least 3, where one call is slow). Each layer runs with every thread count of
``--threads``. TensorFlow's thread pool is fixed once it has started, so TF runs with the same
threads in every row; in rows with fewer threads it is shown (marked ``*``) but left out of the ratio.

Nothing here needs TensorFlow, PyTorch, threadpoolctl, tqdm or matplotlib: each is used if present.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import time
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np

# --------------------------------------------------------------------------------------------
# The layer suite (a copy of the project's shared suite, so the module stands alone; ``--suite FILE``
# loads another file that defines ``SUITE`` in the same form).
# Each entry: name, (N, H, W, C), kernel (kh, kw), stride, dilation, depth multiplier, out channels.

SUITE = [
    # MobileNetV1 224x224, batch 1 (latency)
    ("mnv1_112x32_s1", (1, 112, 112, 32), (3, 3), 1, 1, 1, 64),
    ("mnv1_112x64_s2", (1, 112, 112, 64), (3, 3), 2, 1, 1, 128),
    ("mnv1_56x128_s1", (1, 56, 56, 128), (3, 3), 1, 1, 1, 128),
    ("mnv1_28x256_s1", (1, 28, 28, 256), (3, 3), 1, 1, 1, 256),
    ("mnv1_14x512_s1", (1, 14, 14, 512), (3, 3), 1, 1, 1, 512),
    ("mnv1_7x1024_s1", (1, 7, 7, 1024), (3, 3), 1, 1, 1, 1024),
    # throughput: batch 8
    ("mnv1_56x128_b8", (8, 56, 56, 128), (3, 3), 1, 1, 1, 128),
    # Xception middle flow
    ("xception_19x728", (1, 19, 19, 728), (3, 3), 1, 1, 1, 728),
    # EfficientNet-style 5x5, ConvNeXt-style 7x7
    ("effnet_28x240_k5", (1, 28, 28, 240), (5, 5), 1, 1, 1, 80),
    ("convnext_56x96_k7", (1, 56, 56, 96), (7, 7), 1, 1, 1, 384),
    # depth multiplier 2
    ("mult2_28x64", (1, 28, 28, 64), (3, 3), 1, 1, 2, 128),
    # SliceNet-style 1-D sequence convolutions (batch 8, 256 tokens, 1024 channels)
    ("slicenet_1d_k3", (8, 1, 256, 1024), (1, 3), 1, 1, 1, 1024),
    ("slicenet_1d_k3_d4", (8, 1, 256, 1024), (1, 3), 1, 4, 1, 1024),
    ("slicenet_1d_k15", (8, 1, 256, 512), (1, 15), 1, 1, 1, 512),
]

PEERS = ("numpy", "tf", "torch-nchw", "torch-cl")
TOLERANCE = 1e-3  # max |peer - sepcpp| / max |sepcpp|
NUMPY_LIMIT_S = 1.0  # NumPy is skipped for layers where one call takes longer
SLOW_RATIO = 0.9  # layers where best-peer/sepcpp is below this are listed at the end


# --------------------------------------------------------------------------------------------
# Layers


def _same(size: int, k: int, s: int, d: int) -> Tuple[int, int, int]:
    """TensorFlow's SAME padding: (output size, padding before, padding after)."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return out, total // 2, total - total // 2


@dataclass
class Layer:
    name: str
    shape: Tuple[int, int, int, int]  # N, H, W, C
    kernel: Tuple[int, int]
    stride: int
    dilation: int
    mult: int
    out_channels: int
    oh: int = field(init=False)
    ow: int = field(init=False)
    pads: Tuple[int, int, int, int] = field(init=False)  # top, bottom, left, right

    def __post_init__(self) -> None:
        n, h, w, c = self.shape
        kh, kw = self.kernel
        self.oh, pt, pb = _same(h, kh, self.stride, self.dilation)
        self.ow, pl, pr = _same(w, kw, self.stride, self.dilation)
        self.pads = (pt, pb, pl, pr)

    @classmethod
    def from_entry(cls, e) -> "Layer":
        name, shape, kernel, stride, dilation, mult, out = e
        return cls(str(name), tuple(int(v) for v in shape), tuple(int(v) for v in kernel), int(stride),
                   int(dilation), int(mult), int(out))

    @property
    def out_shape(self) -> Tuple[int, int, int, int]:
        return (self.shape[0], self.oh, self.ow, self.out_channels)

    @property
    def flops(self) -> int:
        """2*N*OH*OW*C*M*(kh*kw) (depthwise) + 2*N*OH*OW*C*M*O (pointwise)."""
        n, _, _, c = self.shape
        kh, kw = self.kernel
        pix = n * self.oh * self.ow * c * self.mult
        return 2 * pix * kh * kw + 2 * pix * self.out_channels

    @property
    def bytes(self) -> int:
        """Compulsory memory traffic of a fused separable call: input, output and filters, once."""
        n, h, w, c = self.shape
        kh, kw = self.kernel
        cm = c * self.mult
        return 4 * (n * h * w * c + n * self.oh * self.ow * self.out_channels + kh * kw * cm
                    + cm * self.out_channels)

    def data(self, seed: int = 0):
        """Input, depthwise filter [kh, kw, C, M] and pointwise filter [1, 1, C*M, O]; fixed seed."""
        rng = np.random.default_rng(seed + zlib.crc32(self.name.encode()))
        n, h, w, c = self.shape
        kh, kw = self.kernel
        x = rng.standard_normal(self.shape, dtype=np.float32)
        dw = (rng.standard_normal((kh, kw, c, self.mult), dtype=np.float32) / math.sqrt(kh * kw))
        pw = (rng.standard_normal((1, 1, c * self.mult, self.out_channels), dtype=np.float32)
              / math.sqrt(c * self.mult))
        return x, dw.astype(np.float32), pw.astype(np.float32)


def load_suite(path: Optional[str] = None) -> List[Layer]:
    entries = SUITE
    if path:
        namespace: Dict[str, Any] = {}
        with open(path, encoding="utf-8") as f:
            exec(compile(f.read(), path, "exec"), namespace)  # noqa: S102 - a trusted local file
        entries = namespace["SUITE"]
    return [Layer.from_entry(e) for e in entries]


# --------------------------------------------------------------------------------------------
# Implementations. Each ``setup_*`` returns (call, to_nhwc): ``call()`` runs one whole separable
# convolution on prepared data, ``to_nhwc(result)`` gives a NumPy NHWC array to check.
# It raises _NA(reason) where the implementation cannot run the layer.


class _NA(Exception):
    """This implementation does not run this layer (the message says why)."""


def _sepcpp_api(mode: str) -> str:
    import sepcpp

    if mode == "functional":
        return "separable_conv2d"
    if hasattr(sepcpp, "SeparableConv2D"):
        return "SeparableConv2D"
    if mode == "layer":
        raise SystemExit("--api layer: this sepcpp has no SeparableConv2D")
    return "separable_conv2d"


def setup_sepcpp(layer: Layer, x, dw, pw, api: str):
    import sepcpp

    s, d = layer.stride, layer.dilation
    if api == "SeparableConv2D":
        try:
            op = sepcpp.SeparableConv2D(dw, pw, s, "SAME", dilations=d)
        except TypeError:  # a signature without the dilations keyword
            if d != 1:
                raise
            op = sepcpp.SeparableConv2D(dw, pw, s, "SAME")
        return (lambda: op(x)), np.asarray
    return (lambda: sepcpp.separable_conv2d(x, dw, pw, s, "SAME", dilations=d)), np.asarray


def numpy_separable(x, dw, pw, stride, dilation, pads):
    """The NumPy peer: depthwise as a sum over taps of strided slices times the tap's weights,
    then the pointwise step as one matmul."""
    n, h, w, c = x.shape
    kh, kw, _, m = dw.shape
    pt, pb, pl, pr = pads
    oh = (h + pt + pb - (kh - 1) * dilation - 1) // stride + 1
    ow = (w + pl + pr - (kw - 1) * dilation - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0))) if any(pads) else x
    acc = np.zeros((n, oh, ow, c, m), np.float32)
    tmp = np.empty_like(acc)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dilation, j * dilation
            sl = xp[:, y0:y0 + (oh - 1) * stride + 1:stride, x0:x0 + (ow - 1) * stride + 1:stride, :, None]
            np.multiply(sl, dw[i, j], out=tmp)
            acc += tmp
    y = acc.reshape(n * oh * ow, c * m) @ pw.reshape(c * m, -1)
    return y.reshape(n, oh, ow, -1)


def setup_numpy(layer: Layer, x, dw, pw):
    return (lambda: numpy_separable(x, dw, pw, layer.stride, layer.dilation, layer.pads)), np.asarray


_TF: Dict[str, Any] = {}


@contextlib.contextmanager
def _quiet_fds():
    """Sends file descriptors 1 and 2 to /dev/null (C++ logging too) for the duration."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real descriptors (an embedded interpreter): leave them alone
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def _import_tf(all_threads: int):
    """TensorFlow, imported once, its intra-op pool set to all threads before it starts."""
    if "module" in _TF:
        return _TF["module"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    already = "tensorflow" in sys.modules
    try:
        with _quiet_fds():  # TF's C++ logging at import time bypasses TF_CPP_MIN_LOG_LEVEL
            import tensorflow as tf
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        _TF["module"] = None
        _TF["error"] = f"{type(e).__name__}: {e}"
        return None
    _TF["module"] = tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(all_threads)
        _TF["threads_note"] = f"TF intra-op threads set to {all_threads}"
    except RuntimeError:  # TF had started already: its pools are fixed
        _TF["threads_note"] = "TF had started before the benchmark; its thread count was left as it was"
    if already:
        _TF["threads_note"] += " (TF was imported before the benchmark)"
    n = tf.config.threading.get_intra_op_parallelism_threads()
    _TF["threads"] = n if n > 0 else all_threads
    return tf


def setup_tf(layer: Layer, x, dw, pw, all_threads: int):
    tf = _import_tf(all_threads)
    if tf is None:
        raise _NA("not importable")
    s, d = layer.stride, layer.dilation
    if s > 1 and d > 1:
        raise _NA("TF refuses stride > 1 with dilation > 1")
    dwt, pwt = tf.constant(dw), tf.constant(pw)
    xt = tf.constant(x)

    @tf.function(input_signature=[tf.TensorSpec(x.shape, tf.float32)])
    def f(inp):
        return tf.nn.separable_conv2d(inp, dwt, pwt, [1, s, s, 1], "SAME", dilations=[d, d])

    f(xt)  # trace outside the timing
    return (lambda: f(xt).numpy()), np.asarray


def _import_torch():
    try:
        import torch
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return torch


def setup_torch(layer: Layer, x, dw, pw, channels_last: bool):
    torch = _import_torch()
    if torch is None:
        raise _NA("not importable")
    import torch.nn.functional as F

    n, h, w, c = layer.shape
    kh, kw = layer.kernel
    cm = c * layer.mult
    s, d = layer.stride, layer.dilation
    pt, pb, pl, pr = layer.pads
    # TF [kh, kw, C, M] -> torch [C*M, 1, kh, kw] (output channel c*M + m reads input channel c).
    wd = torch.from_numpy(np.ascontiguousarray(dw.transpose(2, 3, 0, 1).reshape(cm, 1, kh, kw)))
    wp = torch.from_numpy(np.ascontiguousarray(pw[0, 0].T.reshape(-1, cm, 1, 1)))
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)  # an NHWC buffer is channels_last already
    if channels_last:
        fmt = torch.channels_last
        wd, wp, xt = wd.contiguous(memory_format=fmt), wp.contiguous(memory_format=fmt), xt.contiguous(
            memory_format=fmt)
    else:
        xt = xt.contiguous()
    symmetric = pt == pb and pl == pr

    def call():
        with torch.no_grad():
            if symmetric:
                y = F.conv2d(xt, wd, None, s, (pt, pl), d, c)
            else:
                y = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wd, None, s, 0, d, c)
            return F.conv2d(y, wp)

    return call, (lambda y: y.permute(0, 2, 3, 1).numpy())


# --------------------------------------------------------------------------------------------
# Threads


class _Threads:
    """Sets every library's thread count for one row and puts it back afterwards."""

    def __init__(self, all_threads: int):
        self.all = all_threads
        self.torch_default: Optional[int] = None
        self.notes: List[str] = []
        try:
            from threadpoolctl import threadpool_limits
            self._limits = threadpool_limits
        except ImportError:
            self._limits = None
            self.notes.append("threadpoolctl not installed: NumPy's BLAS threads were not controlled")

    def set(self, impl: str, n: int):
        """A context manager that runs `impl` with n threads."""
        import sepcpp

        if impl == "sepcpp":
            sepcpp.set_num_threads(n)
            return contextlib.nullcontext()
        if impl == "numpy" and self._limits is not None:
            return self._limits(limits=n, user_api="blas")
        if impl.startswith("torch"):
            torch = _import_torch()
            if torch is not None:
                if self.torch_default is None:
                    self.torch_default = torch.get_num_threads()
                torch.set_num_threads(n)
        return contextlib.nullcontext()

    def restore(self) -> None:
        import sepcpp

        sepcpp.set_num_threads(0)
        if self.torch_default is not None:
            _import_torch().set_num_threads(self.torch_default)


def _all_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _parse_threads(spec: str, all_threads: int) -> List[int]:
    out: List[int] = []
    for part in spec.split(","):
        part = part.strip().lower()
        if not part:
            continue
        n = all_threads if part in ("all", "max") else int(part)
        if n < 1:
            raise ValueError(f"--threads: thread counts must be >= 1, got {part!r}")
        if n not in out:
            out.append(n)
    if not out:
        raise ValueError("--threads: no thread count given")
    return out


# --------------------------------------------------------------------------------------------
# Timing


def _measure(call: Callable[[], Any], repeat: int, budget_s: float, skip_over: Optional[float] = None):
    """Warm-up calls, then the median of up to `repeat` timed calls (fewer, at least 3, when the
    calls would take longer than `budget_s` together). Returns (result of the first call, timing
    dict); the timing dict is None when the first call took longer than `skip_over` seconds."""
    t0 = time.perf_counter()
    result = call()
    first = time.perf_counter() - t0
    if skip_over is not None and first > skip_over:
        return result, None
    t0 = time.perf_counter()
    call()
    est = time.perf_counter() - t0
    if est < 0.02:  # short calls: a few more to settle caches, frequency and thread pools
        for _ in range(3):
            call()
    n = repeat
    if est * repeat > budget_s:
        n = min(repeat, max(3, int(budget_s / max(est, 1e-9))))
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return result, {"median_s": statistics.median(times), "min_s": min(times), "runs": n}


def _rel_diff(ref: np.ndarray, got: np.ndarray) -> float:
    """max |ref - got| / max |ref| (arrays of the same shape)."""
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(ref.astype(np.float64) - got))) if ref.size else 0.0
    return diff / max(scale, 1e-30) if diff else 0.0


# --------------------------------------------------------------------------------------------
# Machine limits


def _parse_per_threads(spec: Optional[str], all_threads: int, scale: bool) -> Dict[int, float]:
    """"X" (one core's figure, times the threads when `scale`; else the same for every row), or
    "1=X,all=Y" per thread count. Returns {threads: value}; {} for None."""
    if not spec:
        return {}
    spec = spec.strip()
    if "=" not in spec:
        v = float(spec)
        return {t: (v * t if scale else v) for t in range(1, all_threads + 1)}
    out: Dict[int, float] = {}
    for part in spec.split(","):
        k, _, v = part.partition("=")
        k = k.strip().lower()
        out[all_threads if k in ("all", "max") else int(k)] = float(v)
    return out


def measure_peak(thread_counts: List[int], peak_spec: Optional[str] = None,
                 bandwidth_spec: Optional[str] = None, isa: Optional[str] = None) -> Dict[str, Any]:
    """The machine's FP32 FMA peak (GFLOP/s) and memory bandwidth (GB/s) per thread count.

    From the options if given; otherwise from ``sepcpp._core.measure_peak_gflops(isa, threads)``
    and ``sepcpp._core.measure_bandwidth_gbs(threads)`` where this build has them; else unknown.
    """
    import sepcpp

    all_threads = _all_threads()
    peak = _parse_per_threads(peak_spec, all_threads, scale=True)
    bw = _parse_per_threads(bandwidth_spec, all_threads, scale=False)
    src = {"peak": "option" if peak else None, "bandwidth": "option" if bw else None}
    core = sepcpp._core
    isa = isa or sepcpp.info()["isa"]
    if not peak and hasattr(core, "measure_peak_gflops"):
        try:
            peak = {t: float(core.measure_peak_gflops(isa, t)) for t in thread_counts}
            src["peak"] = f"sepcpp._core.measure_peak_gflops({isa!r}, threads)"
        except Exception as e:  # noqa: BLE001 - a measurement that fails leaves the peak unknown
            src["peak"] = f"failed: {e}"
    if not bw and hasattr(core, "measure_bandwidth_gbs"):
        try:
            bw = {t: float(core.measure_bandwidth_gbs(t)) for t in thread_counts}
            src["bandwidth"] = "sepcpp._core.measure_bandwidth_gbs(threads)"
        except Exception as e:  # noqa: BLE001
            src["bandwidth"] = f"failed: {e}"
    return {"isa": isa, "peak_gflops": {t: peak.get(t) for t in thread_counts},
            "bandwidth_gbs": {t: bw.get(t) for t in thread_counts}, "source": src}


# --------------------------------------------------------------------------------------------
# Machine description


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(*dists: str) -> Optional[str]:
    from importlib import metadata

    for d in dists:
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return None


def machine_info() -> Dict[str, Any]:
    import sepcpp

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "sepcpp": sepcpp.info(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": _all_threads(),
        "load_average": list(load) if load else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "tensorflow": _version("tensorflow", "tensorflow-cpu", "tensorflow_cpu", "tf-nightly"),
        "torch": _version("torch"),
    }


# --------------------------------------------------------------------------------------------
# Progress


class _Progress:
    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = total, 0, enabled and total > 0
        self._bar = None
        self._width = 0
        if self.enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, file=sys.stderr, leave=False, unit="run")
            except ImportError:
                pass

    def step(self, text: str) -> None:
        """Shows `text` as what runs now; counts the previous step as done."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_description_str(text)
            return
        frac = self.done / self.total
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        line = f"[{bar}] {self.done}/{self.total} {text}"
        sys.stderr.write("\r" + line.ljust(self._width))
        sys.stderr.flush()
        self._width = len(line)

    def advance(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            sys.stderr.write("\r" + " " * self._width + "\r")
            sys.stderr.flush()


# --------------------------------------------------------------------------------------------
# The run


def run_layers(layers: List[Layer], thread_counts: List[int], peers: List[str], repeat: int,
               budget_s: float, api: str, limits: Dict[str, Any], progress: bool = False,
               seed: int = 0) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Times every layer at every thread count; returns (rows, notes)."""
    all_threads = _all_threads()
    threads = _Threads(all_threads)
    notes: List[str] = []
    impls = ["sepcpp"] + list(peers)
    bar = _Progress(len(layers) * len(thread_counts) * len(impls), progress)
    rows: List[Dict[str, Any]] = []
    unavailable: Dict[str, str] = {}
    try:
        for layer in layers:
            x, dw, pw = layer.data(seed)
            setups: Dict[str, Any] = {}
            for impl in impls:
                if impl in unavailable:
                    setups[impl] = _NA(unavailable[impl])
                    continue
                try:
                    if impl == "sepcpp":
                        setups[impl] = setup_sepcpp(layer, x, dw, pw, api)
                    elif impl == "numpy":
                        setups[impl] = setup_numpy(layer, x, dw, pw)
                    elif impl == "tf":
                        setups[impl] = setup_tf(layer, x, dw, pw, all_threads)
                    else:
                        setups[impl] = setup_torch(layer, x, dw, pw, impl == "torch-cl")
                except _NA as e:
                    setups[impl] = e
                    if str(e) == "not importable":
                        unavailable[impl] = str(e)
            numpy_too_slow = False
            for nthreads in thread_counts:
                row: Dict[str, Any] = {
                    "layer": layer.name, "input_shape": list(layer.shape), "kernel": list(layer.kernel),
                    "stride": layer.stride, "dilation": layer.dilation, "depth_multiplier": layer.mult,
                    "out_channels": layer.out_channels, "output_shape": list(layer.out_shape),
                    "threads": nthreads, "flops": layer.flops, "bytes": layer.bytes,
                }
                ref = None
                peer_res: Dict[str, Dict[str, Any]] = {}
                for impl in impls:
                    bar.step(f"{layer.name} {nthreads}t {impl}")
                    setup = setups[impl]
                    if isinstance(setup, _NA):
                        if impl == "sepcpp":
                            raise RuntimeError(f"sepcpp cannot run {layer.name}: {setup}")
                        status = "unavailable" if str(setup) == "not importable" else "n/a"
                        peer_res[impl] = {"status": status, "reason": str(setup)}
                        bar.advance()
                        continue
                    if impl == "numpy" and numpy_too_slow:
                        peer_res[impl] = {"status": "skipped", "reason": f"one call takes > {NUMPY_LIMIT_S:g} s"}
                        bar.advance()
                        continue
                    call, to_nhwc = setup
                    with threads.set(impl, nthreads):
                        result, t = _measure(call, repeat, budget_s,
                                             NUMPY_LIMIT_S if impl == "numpy" else None)
                    time.sleep(0.01)  # let the previous library's spinning workers go idle
                    bar.advance()
                    if impl == "sepcpp":
                        ref = np.asarray(result)
                        ms = t["median_s"] * 1e3
                        gf = layer.flops / t["median_s"] / 1e9
                        peak = limits["peak_gflops"].get(nthreads)
                        bw = limits["bandwidth_gbs"].get(nthreads)
                        roof = None
                        if peak and bw:
                            roof = min(peak, layer.flops / layer.bytes * bw)
                        row["sepcpp"] = {"ms": ms, "min_ms": t["min_s"] * 1e3, "runs": t["runs"],
                                         "gflops": gf, "pct_peak": 100 * gf / peak if peak else None,
                                         "pct_roofline": 100 * gf / roof if roof else None}
                        continue
                    if t is None:
                        numpy_too_slow = True
                        peer_res[impl] = {"status": "skipped", "reason": f"one call takes > {NUMPY_LIMIT_S:g} s"}
                        continue
                    got = np.asarray(to_nhwc(result))
                    diff = _rel_diff(ref, got) if got.shape == ref.shape else None  # None: wrong shape
                    info = {"status": "ok" if diff is not None and diff < TOLERANCE else "MISMATCH",
                            "ms": t["median_s"] * 1e3,
                            "min_ms": t["min_s"] * 1e3, "runs": t["runs"], "rel_diff": diff,
                            "threads": nthreads}
                    if impl == "tf":
                        info["threads"] = _TF.get("threads", all_threads)
                    peer_res[impl] = info
                row["peers"] = peer_res
                # best peer: a correct one that ran with the same number of threads
                best = None
                for impl, r in peer_res.items():
                    if r.get("status") == "ok" and r["threads"] == nthreads and (
                            best is None or r["ms"] < peer_res[best]["ms"]):
                        best = impl
                row["best_peer"] = best
                row["ratio"] = peer_res[best]["ms"] / row["sepcpp"]["ms"] if best else None
                rows.append(row)
    finally:
        bar.close()
        threads.restore()
    notes.extend(threads.notes if "numpy" in peers else [])
    if "tf" in peers and _TF.get("module") is not None:
        tft = _TF.get("threads", all_threads)
        if any(n != tft for n in thread_counts):
            notes.append(f"* TF runs with {tft} thread(s) in every row (its thread pool is fixed once it has "
                         f"started); it is left out of the ratio in rows with another thread count")
        notes.append(_TF.get("threads_note", ""))
    for impl, why in unavailable.items():
        extra = f" ({_TF['error']})" if impl == "tf" and _TF.get("error") else ""
        notes.append(f"{impl}: {why}{extra}")
    return rows, [n for n in notes if n]


def summarize(rows: List[Dict[str, Any]], thread_counts: List[int]) -> Dict[str, Any]:
    per: Dict[str, Any] = {}
    for n in thread_counts:
        ratios = [r["ratio"] for r in rows if r["threads"] == n and r["ratio"]]
        per[str(n)] = {
            "geomean_ratio": math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None,
            "layers": len(ratios),
            "below": [{"layer": r["layer"], "ratio": r["ratio"], "best_peer": r["best_peer"]}
                      for r in rows if r["threads"] == n and r["ratio"] and r["ratio"] < SLOW_RATIO],
        }
    mismatches = sorted({f"{r['layer']}/{p}" for r in rows for p, v in r["peers"].items()
                         if v.get("status") == "MISMATCH"})
    return {"per_threads": per, "slow_ratio": SLOW_RATIO, "mismatches": mismatches}


# --------------------------------------------------------------------------------------------
# Call overhead


def call_overhead(calls: int = 2000, peers: Optional[List[str]] = None, api: str = "auto") -> Dict[str, Any]:
    """Median time of one whole separable call on a (1, 1, 1, 8) input, 3x3 depthwise, 8 outputs."""
    peers = list(PEERS) if peers is None else peers
    layer = Layer("call_overhead", (1, 1, 1, 8), (3, 3), 1, 1, 1, 8)
    x, dw, pw = layer.data(0)
    all_threads = _all_threads()
    impls: List[Tuple[str, Any]] = []
    sep_api = _sepcpp_api(api)
    impls.append((f"sepcpp ({sep_api})", setup_sepcpp(layer, x, dw, pw, sep_api)))
    if sep_api == "SeparableConv2D" and api == "auto":
        impls.append(("sepcpp (separable_conv2d)", setup_sepcpp(layer, x, dw, pw, "separable_conv2d")))
    for p in peers:
        if p == "numpy":
            continue
        try:
            if p == "tf":
                impls.append(("tf", setup_tf(layer, x, dw, pw, all_threads)))
            else:
                impls.append((p, setup_torch(layer, x, dw, pw, p == "torch-cl")))
        except _NA as e:
            impls.append((p, e))
    out: Dict[str, Any] = {"input_shape": list(layer.shape), "kernel": [3, 3], "out_channels": 8,
                           "calls": calls, "results": {}}
    ref = None
    for name, setup in impls:
        if isinstance(setup, _NA):
            out["results"][name] = {"status": "unavailable", "reason": str(setup)}
            continue
        call, to_nhwc = setup
        with (_import_torch().no_grad() if name.startswith("torch") else contextlib.nullcontext()):
            r = call()
            for _ in range(min(200, calls)):
                call()
            times = []
            for _ in range(calls):
                t0 = time.perf_counter()
                call()
                times.append(time.perf_counter() - t0)
        res = np.asarray(to_nhwc(r))
        if ref is None:
            ref = res
        diff = _rel_diff(ref, res) if res.shape == ref.shape else None  # None: wrong shape
        out["results"][name] = {"status": "ok" if diff is not None and diff < TOLERANCE else "MISMATCH",
                                "median_us": statistics.median(times) * 1e6, "min_us": min(times) * 1e6,
                                "rel_diff": diff}
    import sepcpp

    out["threads"] = sepcpp.get_num_threads()
    return out


# --------------------------------------------------------------------------------------------
# Output


def _fmt_ms(v: Optional[float]) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def _peer_cell(r: Dict[str, Any], nthreads: int) -> str:
    st = r.get("status")
    if st == "ok":
        return _fmt_ms(r["ms"]) + ("*" if r["threads"] != nthreads else "")
    if st == "MISMATCH":
        return "MISMATCH"
    if st == "skipped":
        return "skip"
    if st == "unavailable":
        return "-"
    return "n/a"


def format_table(rows: List[Dict[str, Any]], peers: List[str], summary: Dict[str, Any],
                 limits: Dict[str, Any], notes: List[str]) -> str:
    has_peak = any(r["sepcpp"].get("pct_peak") is not None for r in rows)
    # the roofline column only where some layer is memory-bound (else it repeats %peak)
    has_roof = any(r["sepcpp"].get("pct_roofline") is not None
                   and abs(r["sepcpp"]["pct_roofline"] - r["sepcpp"]["pct_peak"]) > 0.5 for r in rows)
    cols = [("layer", 18, "<"), ("thr", 3, ">"), ("sepcpp ms", 9, ">"), ("GFLOP/s", 7, ">")]
    if has_peak:
        cols.append(("%peak", 5, ">"))
    if has_roof:
        cols.append(("%roof", 5, ">"))
    cols += [(p, max(9, len(p)), ">") for p in peers]
    if peers:
        cols.append(("best/sep", 16, "<"))
    head = "  ".join(f"{n:{a}{w}}" for n, w, a in cols).rstrip()
    lines = [head, "-" * len(head)]
    for r in rows:
        s = r["sepcpp"]
        cells = [r["layer"], str(r["threads"]), _fmt_ms(s["ms"]), f"{s['gflops']:.1f}"]
        if has_peak:
            cells.append("-" if s["pct_peak"] is None else f"{s['pct_peak']:.0f}%")
        if has_roof:
            cells.append("-" if s["pct_roofline"] is None else f"{s['pct_roofline']:.0f}%")
        cells += [_peer_cell(r["peers"][p], r["threads"]) for p in peers]
        if peers:
            cells.append("-" if r["ratio"] is None else f"{r['ratio']:5.2f} {r['best_peer']:<10}")
        lines.append("  ".join(f"{c:{a}{w}}" for c, (_, w, a) in zip(cells, cols)).rstrip())
    lines.append("")
    lines.append("best/sep: time of the fastest correct peer with the same threads / sepcpp's time "
                 "(> 1: sepcpp is faster)")
    if peers:
        for n, v in summary["per_threads"].items():
            g = v["geomean_ratio"]
            lines.append(f"{n} thread(s): geometric mean of best/sep over {v['layers']} layers: "
                         + ("-" if g is None else f"{g:.2f}"))
            below = ", ".join(f"{b['layer']} ({b['ratio']:.2f} vs {b['best_peer']})" for b in v["below"])
            lines.append(f"  layers below {summary['slow_ratio']}: {below or 'none'}")
    if summary["mismatches"]:
        lines.append("MISMATCH (peer disagrees with sepcpp, max rel diff >= "
                     f"{TOLERANCE:g}): " + ", ".join(summary["mismatches"]))
    pk = limits["peak_gflops"]
    if any(pk.values()):
        lines.append("FMA peak (GFLOP/s): " + ", ".join(f"{t} thr {v:.0f}" for t, v in pk.items() if v)
                     + f" [{limits['source']['peak']}]")
    else:
        lines.append("peak: not measured (give --peak-gflops, --bandwidth-gbs)")
    bw = limits["bandwidth_gbs"]
    if any(bw.values()):
        lines.append("bandwidth (GB/s): " + ", ".join(f"{t} thr {v:.1f}" for t, v in bw.items() if v)
                     + f" [{limits['source']['bandwidth']}]")
    lines.extend(notes)
    return "\n".join(lines)


def format_overhead(o: Dict[str, Any]) -> str:
    lines = [f"call overhead: separable_conv2d on a {tuple(o['input_shape'])} input, 3x3 depthwise, "
             f"{o['out_channels']} outputs, median of {o['calls']} calls ({o['threads']} sepcpp thread(s))"]
    for name, r in o["results"].items():
        if r["status"] == "unavailable":
            lines.append(f"  {name:28s} -  ({r['reason']})")
        else:
            flag = "" if r["status"] == "ok" else "  MISMATCH"
            lines.append(f"  {name:28s} {r['median_us']:8.1f} us  (min {r['min_us']:.1f}){flag}")
    return "\n".join(lines)


def plot_ratios(rows: List[Dict[str, Any]], thread_counts: List[int], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["layer"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(names)), 5))
    width = 0.8 / max(1, len(thread_counts))
    for k, n in enumerate(thread_counts):
        by = {r["layer"]: r["ratio"] for r in rows if r["threads"] == n}
        vals = [by.get(name) or float("nan") for name in names]
        # bars grow from 1 (parity) up or down
        ax.bar([i + k * width for i in range(len(names))], [v - 1 for v in vals], width, bottom=1.0,
               label=f"{n} thread(s)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(SLOW_RATIO, color="red", linewidth=0.8, linestyle="--")
    ax.set_yscale("log")  # ratios: 2x faster and 2x slower are equally far from 1
    ax.set_xticks([i + width * (len(thread_counts) - 1) / 2 for i in range(len(names))])
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel("best peer time / sepcpp time (> 1: sepcpp faster)")
    ax.set_title("sepcpp separable_conv2d vs the fastest peer")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# --------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sepcpp bench",
        description="Times sepcpp's separable convolution on a layer suite against NumPy, TensorFlow "
                    "and PyTorch (those importable), in this process, on the same data.")
    p.add_argument("--layers", help="comma-separated layer names (default: the whole suite); 'list' lists them")
    p.add_argument("--repeat", type=int, default=11, help="timed calls per measurement (median; default 11)")
    p.add_argument("--threads", default="1,all", help="thread counts, e.g. '1,all' (default) or '1,2,4'")
    p.add_argument("--no-peers", action="store_true", help="time sepcpp only")
    p.add_argument("--peers", default=",".join(PEERS), help=f"peers to time (default {','.join(PEERS)})")
    p.add_argument("--json", action="store_true", help="print machine-readable results instead of the table")
    p.add_argument("--plot", metavar="FILE.png", help="bar chart of the per-layer ratios (needs matplotlib)")
    p.add_argument("--call-overhead", action="store_true",
                   help="measure only the call overhead: a whole separable call on a (1,1,1,8) input, "
                        "median over --calls calls, sepcpp vs torch vs tf (microseconds)")
    p.add_argument("--calls", type=int, default=2000, help="calls for --call-overhead (default 2000)")
    p.add_argument("--peak-gflops", help="FP32 FMA peak: one core's GFLOP/s (scaled by the threads), or "
                                         "per thread count as '1=X,all=Y'")
    p.add_argument("--bandwidth-gbs", help="memory bandwidth in GB/s for every row, or '1=X,all=Y'")
    p.add_argument("--api", choices=("auto", "layer", "functional"), default="auto",
                   help="sepcpp entry point: the prepacked SeparableConv2D where it exists (auto), or "
                        "separable_conv2d")
    p.add_argument("--budget", type=float, default=0.5,
                   help="seconds of timed calls per measurement before repeats are cut (default 0.5)")
    p.add_argument("--suite", help="a Python file defining SUITE (default: the built-in suite)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    prog = p.add_mutually_exclusive_group()
    prog.add_argument("--progress", dest="progress", action="store_true", default=None,
                      help="show a progress bar on stderr (default: when stderr is a terminal)")
    prog.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def _check_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("--plot needs matplotlib, which is not installed: pip install matplotlib", file=sys.stderr)
        return False
    return True


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    import sepcpp

    all_threads = _all_threads()
    if args.repeat < 1:
        print("--repeat: must be >= 1", file=sys.stderr)
        return 2
    peers: List[str] = []
    if not args.no_peers:
        peers = [p.strip() for p in args.peers.split(",") if p.strip()]
        bad = [p for p in peers if p not in PEERS]
        if bad:
            print(f"--peers: unknown {', '.join(bad)}; choose from {', '.join(PEERS)}", file=sys.stderr)
            return 2
    api = _sepcpp_api(args.api)
    progress = sys.stderr.isatty() if args.progress is None else args.progress

    if args.call_overhead:
        o = call_overhead(args.calls, peers, args.api)
        o["machine"] = machine_info()
        print(json.dumps(o, indent=2) if args.json else format_overhead(o))
        return 0

    suite = load_suite(args.suite)
    if args.layers == "list":
        for layer in suite:
            print(f"{layer.name:20s} {layer.shape} k{layer.kernel} s{layer.stride} d{layer.dilation} "
                  f"m{layer.mult} o{layer.out_channels}  {layer.flops / 1e6:.0f} MFLOP")
        return 0
    if args.layers:
        by_name = {layer.name: layer for layer in suite}
        names = [n.strip() for n in args.layers.split(",") if n.strip()]
        unknown = [n for n in names if n not in by_name]
        if unknown:
            print(f"--layers: unknown {', '.join(unknown)}; known: {', '.join(by_name)}", file=sys.stderr)
            return 2
        layers = [by_name[n] for n in names]
    else:
        layers = suite
    try:
        thread_counts = _parse_threads(args.threads, all_threads)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if args.plot and not _check_matplotlib():
        return 2

    info = machine_info()
    load = info.get("load_average")
    busy = load is not None and load[0] > 0.5
    limits = measure_peak(thread_counts, args.peak_gflops, args.bandwidth_gbs, sepcpp.info()["isa"])
    t0 = time.perf_counter()
    rows, notes = run_layers(layers, thread_counts, peers, args.repeat, args.budget, api, limits,
                             progress, args.seed)
    elapsed = time.perf_counter() - t0
    summary = summarize(rows, thread_counts)
    try:
        info["load_average_after"] = list(os.getloadavg())
    except OSError:
        pass
    notes.append(f"sepcpp API: {api}; all threads = {all_threads}; repeat {args.repeat} (median, fewer for "
                 f"slow calls); {elapsed:.0f} s; load average before/after: "
                 + " / ".join(" ".join(f"{v:.2f}" for v in info[k])
                              for k in ("load_average", "load_average_after") if info.get(k)))
    if busy:
        notes.append(f"warning: load average {load[0]:.2f} before the run: other processes were using the CPUs, "
                     f"so these numbers (multi-threaded ones most) are noisy")
    if args.plot:
        plot_ratios(rows, thread_counts, args.plot)
        notes.append(f"plot written to {args.plot}")
    if args.json:
        def keyed(d):
            return {str(k): v for k, v in d.items()}

        doc = {"machine": info,
               "settings": {"threads": thread_counts, "repeat": args.repeat, "budget_s": args.budget,
                            "peers": peers, "sepcpp_api": api, "seed": args.seed, "tolerance": TOLERANCE,
                            "padding": "SAME", "dtype": "float32", "layout": "NHWC"},
               "limits": {**limits, "peak_gflops": keyed(limits["peak_gflops"]),
                          "bandwidth_gbs": keyed(limits["bandwidth_gbs"])},
               "results": rows, "summary": summary, "notes": notes, "elapsed_s": elapsed}
        print(json.dumps(doc, indent=2, default=_json_default))
    else:
        print(format_table(rows, peers, summary, limits, notes))
    return 0


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


if __name__ == "__main__":
    sys.exit(main())
