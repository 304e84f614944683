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

``--slicenet`` times, instead of the suite, the 1-D rows of the paper behind sepcpp (SliceNet):
batch 8, length 256, channels 512/768/1024, windows 3 to 63, CAUSAL padding, super-separable with
g = 1, 2 and 3 groups (where g divides C); sepcpp's prepacked ``SeparableConv2D(groups=g)`` against
TensorFlow (left pad, ``depthwise_conv2d``, grouped pointwise as a grouped ``conv1d`` or as
split / per-group ``conv1d`` / concat, in one ``tf.function``) and PyTorch (``F.pad``,
``F.conv1d(groups=C)``, 1x1 ``F.conv1d(groups=g)``, NCW). Threads: all by default. Beside each g > 1
row: sepcpp's speed-up over g=1; g=2 rows of C=1024 below 1.6x are flagged.

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


# Longer than the default spin-wait of the OpenMP runtimes in this process (Intel's KMP_BLOCKTIME is
# 200 ms).
SETTLE_S = 0.3


def _measure(call: Callable[[], Any], repeat: int, budget_s: float, skip_over: Optional[float] = None):
    """Warm-up calls, then the median of up to `repeat` timed calls (fewer, at least 3, when the
    calls would take longer than `budget_s` together). Returns (result of the first call, timing
    dict); the timing dict is None when the first call took longer than `skip_over` seconds.

    Every measurement starts after a pause of SETTLE_S: the thread pools of the library timed just
    before (OpenMP runtimes, TensorFlow's Eigen pool, OpenBLAS) keep spinning for a while after
    their last call, and on a 2-core machine they would take the cores from the next library."""
    time.sleep(SETTLE_S)
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


def _sepcpp_stats(t: Dict[str, Any], flops: int, nbytes: int, limits: Dict[str, Any],
                  nthreads: int) -> Dict[str, Any]:
    """sepcpp's cell of a row: time, GFLOP/s, % of the FMA peak and of the roofline."""
    gf = flops / t["median_s"] / 1e9
    peak = limits["peak_gflops"].get(nthreads)
    bw = limits["bandwidth_gbs"].get(nthreads)
    roof = min(peak, flops / nbytes * bw) if peak and bw else None
    return {"ms": t["median_s"] * 1e3, "min_ms": t["min_s"] * 1e3, "runs": t["runs"], "gflops": gf,
            "pct_peak": 100 * gf / peak if peak else None, "pct_roofline": 100 * gf / roof if roof else None}


def _peer_stats(ref: np.ndarray, got: np.ndarray, t: Dict[str, Any], threads: int) -> Dict[str, Any]:
    """A peer's cell of a row: its time and its agreement with sepcpp's result `ref`."""
    diff = _rel_diff(ref, got) if got.shape == ref.shape else None  # None: wrong shape
    return {"status": "ok" if diff is not None and diff < TOLERANCE else "MISMATCH",
            "ms": t["median_s"] * 1e3, "min_ms": t["min_s"] * 1e3, "runs": t["runs"], "rel_diff": diff,
            "threads": threads}


def _best_peer(peer_res: Dict[str, Dict[str, Any]], sepcpp_ms: float,
               nthreads: int) -> Tuple[Optional[str], Optional[float]]:
    """(fastest correct peer that ran with `nthreads` threads, its time / sepcpp's); (None, None)."""
    best = None
    for impl, r in peer_res.items():
        if r.get("status") == "ok" and r["threads"] == nthreads and (
                best is None or r["ms"] < peer_res[best]["ms"]):
            best = impl
    return best, (peer_res[best]["ms"] / sepcpp_ms if best else None)


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
                        row["sepcpp"] = _sepcpp_stats(t, layer.flops, layer.bytes, limits, nthreads)
                        continue
                    if t is None:
                        numpy_too_slow = True
                        peer_res[impl] = {"status": "skipped", "reason": f"one call takes > {NUMPY_LIMIT_S:g} s"}
                        continue
                    tthreads = _TF.get("threads", all_threads) if impl == "tf" else nthreads
                    peer_res[impl] = _peer_stats(ref, np.asarray(to_nhwc(result)), t, tthreads)
                row["peers"] = peer_res
                row["best_peer"], row["ratio"] = _best_peer(peer_res, row["sepcpp"]["ms"], nthreads)
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
# SliceNet rows (--slicenet): the 1-D sequence convolutions of the paper behind sepcpp (Kaiser,
# Gomez, Chollet 2017): batch 8, 256 tokens, 512-1024 channels, windows 3 to 63, CAUSAL padding,
# and super-separable convolutions whose pointwise step is split into g groups. Out channels = C,
# depth multiplier 1, stride 1, dilation 1, float32, NWC.

SLICENET_BATCH = 8
SLICENET_LENGTH = 256
SLICENET_CHANNELS = (512, 768, 1024)
SLICENET_WINDOWS = (3, 7, 15, 31, 63)
SLICENET_GROUPS = (1, 2, 3)  # a row for each g that divides C
SLICENET_PEERS = ("tf", "torch")
SLICENET_MIN_SPEEDUP = 1.6  # g=2 must run at least this much faster than g=1 ...
SLICENET_CHECKED_CHANNELS = 1024  # ... on the rows with this many channels (half the pointwise work)


@dataclass
class SliceNetRow:
    batch: int
    length: int
    channels: int
    window: int
    groups: int

    @property
    def name(self) -> str:
        return f"slicenet_c{self.channels}_k{self.window}_g{self.groups}"

    @property
    def out_channels(self) -> int:
        return self.channels

    @property
    def shape(self) -> Tuple[int, int, int]:
        return (self.batch, self.length, self.channels)

    @property
    def out_shape(self) -> Tuple[int, int, int]:
        return (self.batch, self.length, self.out_channels)  # CAUSAL, stride 1: same length

    @property
    def flops(self) -> int:
        """2*N*W*C*k (depthwise) + 2*N*W*C*O/g (grouped pointwise)."""
        pix = self.batch * self.length * self.channels
        return 2 * pix * self.window + 2 * pix * self.out_channels // self.groups

    @property
    def bytes(self) -> int:
        """Compulsory memory traffic of a fused call: input, output and filters, once."""
        n, w, c = self.shape
        return 4 * (n * w * c + n * w * self.out_channels + self.window * c
                    + c * self.out_channels // self.groups)

    def data(self, seed: int = 0):
        """Input [N, W, C], depthwise filter [k, C, 1], pointwise filter [1, C/g, O]; fixed seed."""
        rng = np.random.default_rng(seed + zlib.crc32(self.name.encode()))
        c, k, g = self.channels, self.window, self.groups
        x = rng.standard_normal(self.shape, dtype=np.float32)
        dw = rng.standard_normal((k, c, 1), dtype=np.float32) * np.float32(1 / math.sqrt(k))
        pw = rng.standard_normal((1, c // g, self.out_channels), dtype=np.float32) * np.float32(
            1 / math.sqrt(c // g))
        return x, dw, pw


def slicenet_rows(channels=SLICENET_CHANNELS, windows=SLICENET_WINDOWS, groups=SLICENET_GROUPS,
                  batch: int = SLICENET_BATCH, length: int = SLICENET_LENGTH) -> List[SliceNetRow]:
    """The rows, ordered C, then k, then g (so each (C, k) has its g=1 row first); a g that does
    not divide C has no row."""
    return [SliceNetRow(int(batch), int(length), int(c), int(k), int(g))
            for c in channels for k in windows for g in sorted(set(groups)) if c % g == 0]


# Each ``setup_slicenet_*`` returns (call, to_nwc, info): ``call()`` runs one whole super-separable
# convolution (CAUSAL) on prepared data, ``to_nwc(result)`` gives a NumPy [N, W, O] array to check,
# ``info`` says how the implementation computes it. They raise _NA(reason) where they cannot.


def setup_slicenet_sepcpp(row: SliceNetRow, x, dw, pw, api: str):
    """The prepacked layer (built here, outside the timing): SeparableConv2D on the H == 1 view of
    the input, CAUSAL as explicit left padding (k-1); or the functional super_separable_conv1d."""
    import sepcpp

    k, g = row.window, row.groups
    if api == "SeparableConv2D":
        op = sepcpp.SeparableConv2D(dw[None], pw[None], 1, [[0, 0], [0, 0], [k - 1, 0], [0, 0]], groups=g)
        x4 = x[:, None]  # [N, 1, W, C], a view
        return (lambda: op(x4)), (lambda y: np.asarray(y)[:, 0]), {"api": "SeparableConv2D"}
    return ((lambda: sepcpp.super_separable_conv1d(x, dw, pw, g, 1, "CAUSAL")), np.asarray,
            {"api": "super_separable_conv1d"})


def setup_slicenet_tf(row: SliceNetRow, x, dw, pw, all_threads: int, try_grouped: bool = True):
    """The paper's definition in one tf.function: tf.pad on the left, tf.nn.depthwise_conv2d on the
    H == 1 view, then the grouped pointwise step, as tf.nn.conv1d over C/g input channels (grouped
    convolution) where this TensorFlow runs it on the CPU and it agrees with the split / per-group
    conv1d / concat form, else (or with ``try_grouped=False``) as that split / conv1d / concat
    (tensor2tensor's way)."""
    tf = _import_tf(all_threads)
    if tf is None:
        raise _NA("not importable")
    k, g = row.window, row.groups
    dwt = tf.constant(dw[None])  # [1, k, C, 1]
    spec = [tf.TensorSpec(x.shape, tf.float32)]
    xt = tf.constant(x)

    def depthwise(a):
        a = tf.pad(a, [[0, 0], [k - 1, 0], [0, 0]])
        return tf.nn.depthwise_conv2d(a[:, None], dwt, [1, 1, 1, 1], "VALID")[:, 0]

    pw_parts = [tf.constant(p) for p in np.split(pw, g, axis=2)]  # group i: outputs [i*O/g, (i+1)*O/g)

    @tf.function(input_signature=spec)
    def split_concat(a):
        d = depthwise(a)
        if g == 1:
            return tf.nn.conv1d(d, pw_parts[0], 1, "VALID")
        parts = tf.split(d, g, axis=-1)
        return tf.concat([tf.nn.conv1d(p, w, 1, "VALID") for p, w in zip(parts, pw_parts)], axis=-1)

    want = split_concat(xt).numpy()  # traces outside the timing
    if g == 1:
        return (lambda: split_concat(xt).numpy()), np.asarray, {"pointwise": "conv1d"}
    if not try_grouped:
        return (lambda: split_concat(xt).numpy()), np.asarray, {"pointwise": "split/conv1d/concat"}
    pwt = tf.constant(pw)  # [1, C/g, O]: conv1d infers the groups from C / (C/g)

    @tf.function(input_signature=spec)
    def grouped(a):
        return tf.nn.conv1d(depthwise(a), pwt, 1, "VALID")

    try:
        got = grouped(xt).numpy()
        ok = got.shape == want.shape and _rel_diff(want, got) < TOLERANCE
        why = "disagrees with split/concat"
    except Exception as e:  # noqa: BLE001 - e.g. "Grouped convolution is not supported on CPU"
        ok, why = False, f"{type(e).__name__}"
    if ok:
        return (lambda: grouped(xt).numpy()), np.asarray, {"pointwise": "grouped conv1d"}
    return ((lambda: split_concat(xt).numpy()), np.asarray,
            {"pointwise": "split/conv1d/concat", "grouped_conv1d": why})


def setup_slicenet_torch(row: SliceNetRow, x, dw, pw):
    """F.pad on the left, F.conv1d(groups=C) (depthwise), F.conv1d 1x1 with groups=g; NCW contiguous."""
    torch = _import_torch()
    if torch is None:
        raise _NA("not importable")
    import torch.nn.functional as F

    c, k, g = row.channels, row.window, row.groups
    wd = torch.from_numpy(np.ascontiguousarray(dw[:, :, 0].T[:, None, :]))  # [C, 1, k]
    wp = torch.from_numpy(np.ascontiguousarray(pw[0].T[:, :, None]))  # [O, C/g, 1]
    xt = torch.from_numpy(x).permute(0, 2, 1).contiguous()  # NCW

    def call():
        with torch.no_grad():
            y = F.conv1d(F.pad(xt, (k - 1, 0)), wd, None, 1, 0, 1, c)
            return F.conv1d(y, wp, None, 1, 0, 1, g)

    return call, (lambda y: y.permute(0, 2, 1).numpy()), {"layout": "NCW"}


def run_slicenet(rows: List[SliceNetRow], thread_counts: List[int], peers: List[str], repeat: int,
                 budget_s: float, api: str, limits: Dict[str, Any], progress: bool = False,
                 seed: int = 0) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Times every SliceNet row at every thread count; returns (result rows, notes). Each result
    row of g > 1 gets ``speedup_vs_g1``: sepcpp's time at g=1 / its time at this g (same C, k and
    threads)."""
    all_threads = _all_threads()
    threads = _Threads(all_threads)
    impls = ["sepcpp"] + list(peers)
    bar = _Progress(len(rows) * len(thread_counts) * len(impls), progress)
    out: List[Dict[str, Any]] = []
    unavailable: Dict[str, str] = {}
    tf_pointwise: Dict[str, List[str]] = {}
    try:
        for sn in rows:
            x, dw, pw = sn.data(seed)
            setups: Dict[str, Any] = {}
            for impl in impls:
                if impl in unavailable:
                    setups[impl] = _NA(unavailable[impl])
                    continue
                try:
                    if impl == "sepcpp":
                        setups[impl] = setup_slicenet_sepcpp(sn, x, dw, pw, api)
                    elif impl == "tf":
                        setups[impl] = setup_slicenet_tf(sn, x, dw, pw, all_threads)
                        how = setups[impl][2]["pointwise"]
                        if sn.groups > 1:
                            tf_pointwise.setdefault(how, []).append(sn.name)
                    else:
                        setups[impl] = setup_slicenet_torch(sn, x, dw, pw)
                except _NA as e:
                    setups[impl] = e
                    if str(e) == "not importable":
                        unavailable[impl] = str(e)
            for nthreads in thread_counts:
                row: Dict[str, Any] = {
                    "layer": sn.name, "batch": sn.batch, "length": sn.length, "channels": sn.channels,
                    "window": sn.window, "groups": sn.groups, "padding": "CAUSAL",
                    "input_shape": list(sn.shape), "output_shape": list(sn.out_shape),
                    "out_channels": sn.out_channels, "threads": nthreads, "flops": sn.flops,
                    "bytes": sn.bytes,
                }
                ref = None
                peer_res: Dict[str, Dict[str, Any]] = {}
                for impl in impls:
                    bar.step(f"{sn.name} {nthreads}t {impl}")
                    setup = setups[impl]
                    if isinstance(setup, _NA):
                        if impl == "sepcpp":
                            raise RuntimeError(f"sepcpp cannot run {sn.name}: {setup}")
                        status = "unavailable" if str(setup) == "not importable" else "n/a"
                        peer_res[impl] = {"status": status, "reason": str(setup)}
                        bar.advance()
                        continue
                    call, to_nwc, how = setup
                    with threads.set(impl, nthreads):
                        result, t = _measure(call, repeat, budget_s)
                    time.sleep(0.01)  # let the previous library's spinning workers go idle
                    bar.advance()
                    if impl == "sepcpp":
                        ref = np.asarray(to_nwc(result))
                        row["sepcpp"] = {**_sepcpp_stats(t, sn.flops, sn.bytes, limits, nthreads), **how}
                        continue
                    tthreads = _TF.get("threads", all_threads) if impl == "tf" else nthreads
                    peer_res[impl] = {**_peer_stats(ref, np.asarray(to_nwc(result)), t, tthreads), **how}
                row["peers"] = peer_res
                row["best_peer"], row["ratio"] = _best_peer(peer_res, row["sepcpp"]["ms"], nthreads)
                out.append(row)
    finally:
        bar.close()
        threads.restore()
    _slicenet_speedups(out)
    notes: List[str] = []
    if "tf" in peers and _TF.get("module") is not None:
        for how, names in tf_pointwise.items():
            notes.append(f"tf: pointwise step as {how} in {len(names)} of the g > 1 rows")
        tft = _TF.get("threads", all_threads)
        if any(n != tft for n in thread_counts):
            notes.append(f"* TF runs with {tft} thread(s) in every row (its thread pool is fixed once it has "
                         f"started); it is left out of the ratio in rows with another thread count")
        notes.append(_TF.get("threads_note", ""))
    for impl, why in unavailable.items():
        extra = f" ({_TF['error']})" if impl == "tf" and _TF.get("error") else ""
        notes.append(f"{impl}: {why}{extra}")
    return out, [n for n in notes if n]


def _slicenet_speedups(rows: List[Dict[str, Any]]) -> None:
    """Adds ``speedup_vs_g1`` (median-based) and ``speedup_vs_g1_min`` (min-based) to the g > 1 rows
    that have a g=1 row beside them, and ``speedup_low`` to the g=2 rows of the checked channel
    count where the speed-up is below SLICENET_MIN_SPEEDUP."""
    g1 = {(r["channels"], r["window"], r["threads"]): r for r in rows if r["groups"] == 1}
    for r in rows:
        base = g1.get((r["channels"], r["window"], r["threads"]))
        if r["groups"] == 1 or base is None:
            continue
        r["speedup_vs_g1"] = base["sepcpp"]["ms"] / r["sepcpp"]["ms"]
        r["speedup_vs_g1_min"] = base["sepcpp"]["min_ms"] / r["sepcpp"]["min_ms"]
        if r["groups"] == 2 and r["channels"] == SLICENET_CHECKED_CHANNELS:
            r["speedup_low"] = r["speedup_vs_g1"] < SLICENET_MIN_SPEEDUP


def summarize_slicenet(rows: List[Dict[str, Any]], thread_counts: List[int]) -> Dict[str, Any]:
    """summarize()'s ratios and mismatches, plus the g=2 over g=1 check."""
    s = summarize(rows, thread_counts)
    checked = [r for r in rows if "speedup_low" in r]
    s["g2_speedup"] = {
        "channels": SLICENET_CHECKED_CHANNELS, "min_speedup": SLICENET_MIN_SPEEDUP,
        "rows": [{"window": r["window"], "threads": r["threads"], "speedup": r["speedup_vs_g1"],
                  "speedup_min_based": r["speedup_vs_g1_min"]} for r in checked],
        "below": [{"window": r["window"], "threads": r["threads"], "speedup": r["speedup_vs_g1"]}
                  for r in checked if r["speedup_low"]],
    }
    return s


def format_slicenet(rows: List[Dict[str, Any]], peers: List[str], summary: Dict[str, Any],
                    limits: Dict[str, Any], notes: List[str]) -> str:
    has_peak = any(r["sepcpp"].get("pct_peak") is not None for r in rows)
    cols = [("C", 5, ">"), ("k", 3, ">"), ("g", 2, ">"), ("thr", 3, ">"), ("sepcpp ms", 9, ">"),
            ("GFLOP/s", 7, ">")]
    if has_peak:
        cols.append(("%peak", 5, ">"))
    cols += [(p, 9, ">") for p in peers]
    if peers:
        cols.append(("best/sep", 12, "<"))
    cols.append(("vs g=1", 12, "<"))
    head = "  ".join(f"{n:{a}{w}}" for n, w, a in cols).rstrip()
    lines = [head, "-" * len(head)]
    prev = None
    for r in rows:
        key = (r["channels"], r["window"])
        if prev is not None and key[0] != prev[0]:
            lines.append("")
        prev = key
        s = r["sepcpp"]
        cells = [str(r["channels"]), str(r["window"]), str(r["groups"]), str(r["threads"]), _fmt_ms(s["ms"]),
                 f"{s['gflops']:.1f}"]
        if has_peak:
            cells.append("-" if s["pct_peak"] is None else f"{s['pct_peak']:.0f}%")
        cells += [_peer_cell(r["peers"][p], r["threads"]) for p in peers]
        if peers:
            cells.append("-" if r["ratio"] is None else f"{r['ratio']:5.2f} {r['best_peer']}")
        sp = r.get("speedup_vs_g1")
        flag = f" <{SLICENET_MIN_SPEEDUP:g}!" if r.get("speedup_low") else ""
        cells.append("" if sp is None else f"{sp:4.2f}x{flag}")
        lines.append("  ".join(f"{c:{a}{w}}" for c, (_, w, a) in zip(cells, cols)).rstrip())
    lines.append("")
    n0 = rows[0] if rows else None
    if n0:
        lines.append(f"batch {n0['batch']}, length {n0['length']}, CAUSAL, float32, depth multiplier 1, "
                     f"O = C; GFLOP/s counts 2*N*W*C*(k + O/g)")
    lines.append("vs g=1: sepcpp's time at g=1 / its time at this g (same C, k, threads; medians)")
    if peers:
        lines.append("best/sep: time of the fastest correct peer with the same threads / sepcpp's time "
                     "(> 1: sepcpp is faster)")
        for n, v in summary["per_threads"].items():
            g = v["geomean_ratio"]
            lines.append(f"{n} thread(s): geometric mean of best/sep over {v['layers']} rows: "
                         + ("-" if g is None else f"{g:.2f}")
                         + f"; {len(v['below'])} row(s) below {summary['slow_ratio']}")
    chk = summary["g2_speedup"]
    if chk["rows"]:
        several = len({b["threads"] for b in chk["rows"]}) > 1

        def where(b):
            return f"k={b['window']}" + (f" {b['threads']}t" if several else "")

        lines.append(f"g=2 over g=1 at C={chk['channels']} (needs >= {chk['min_speedup']:g}x), medians: "
                     + ", ".join(f"{where(b)} {b['speedup']:.2f}x" for b in chk["rows"])
                     + "; below: " + (", ".join(where(b) for b in chk["below"]) or "none"))
        lines.append("  the same from the fastest calls (less sensitive to a loaded machine): "
                     + ", ".join(f"{where(b)} {b['speedup_min_based']:.2f}x" for b in chk["rows"]))
    if summary["mismatches"]:
        lines.append("MISMATCH (peer disagrees with sepcpp, max rel diff >= "
                     f"{TOLERANCE:g}): " + ", ".join(summary["mismatches"]))
    pk = limits["peak_gflops"]
    if any(pk.values()):
        lines.append("FMA peak (GFLOP/s): " + ", ".join(f"{t} thr {v:.0f}" for t, v in pk.items() if v)
                     + f" [{limits['source']['peak']}]")
    else:
        lines.append("peak: not measured (give --peak-gflops)")
    lines.extend(notes)
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Command line


# --------------------------------------------------------------------------------------------
# Under load: tail latency when another process keeps one core busy


UNDER_LOAD_PEERS = ("tf", "torch-cl")
UNDER_LOAD_LIMIT = 3.0  # target: loaded p90 <= 3x the quiet median


_BUSY_LOOP = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


@contextlib.contextmanager
def busy_core(cpu: int):
    """A separate process spinning on CPU `cpu` for the duration of the block."""
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", _BUSY_LOOP, str(cpu)])
    try:
        time.sleep(0.2)  # let it start spinning
        if proc.poll() is not None:
            raise RuntimeError(f"the busy process exited with {proc.returncode}")
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _latencies(call: Callable[[], Any], calls: int, budget_s: float) -> List[float]:
    """Per-call times (seconds) of up to `calls` calls after a warm-up, at least 20, within about
    `budget_s` seconds."""
    time.sleep(SETTLE_S)
    for _ in range(3):
        call()
    times: List[float] = []
    start = time.perf_counter()
    while len(times) < calls and (len(times) < 20 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return times


def _tail_stats(times: List[float]) -> Dict[str, float]:
    q = np.percentile(np.asarray(times) * 1e3, [50, 90, 99])
    return {"median_ms": float(q[0]), "p90_ms": float(q[1]), "p99_ms": float(q[2]),
            "max_ms": float(max(times) * 1e3), "calls": len(times)}


def run_under_load(layers: List[Layer], peers: List[str], calls: int, budget_s: float, api: str,
                   threads: int, seed: int = 0, progress: bool = False) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Times every layer quiet and then with a busy process on the last CPU of this process's
    affinity; per implementation: the quiet median, the loaded median, p90 and p99."""
    all_threads = _all_threads()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    ctl = _Threads(all_threads)
    notes: List[str] = []
    impls = ["sepcpp"] + list(peers)
    bar = _Progress(len(layers) * len(impls) * 2, progress)
    rows: List[Dict[str, Any]] = []
    try:
        for layer in layers:
            x, dw, pw = layer.data(seed)
            setups: Dict[str, Any] = {}
            for impl in impls:
                try:
                    if impl == "sepcpp":
                        setups[impl] = setup_sepcpp(layer, x, dw, pw, api)
                    elif impl == "tf":
                        setups[impl] = setup_tf(layer, x, dw, pw, all_threads)
                    else:
                        setups[impl] = setup_torch(layer, x, dw, pw, impl == "torch-cl")
                except _NA as e:
                    setups[impl] = e
            row: Dict[str, Any] = {"layer": layer.name, "threads": threads, "results": {}}
            for impl in impls:
                setup = setups[impl]
                if isinstance(setup, _NA):
                    row["results"][impl] = {"status": "n/a", "reason": str(setup)}
                    bar.advance()
                    bar.advance()
                    continue
                call = setup[0]
                with ctl.set(impl, threads):
                    bar.step(f"{layer.name} {impl} quiet")
                    quiet = _tail_stats(_latencies(call, calls, budget_s))
                    bar.advance()
                    bar.step(f"{layer.name} {impl} loaded")
                    with busy_core(cpus[-1]):
                        loaded = _tail_stats(_latencies(call, calls, budget_s))
                    bar.advance()
                r = {"status": "ok", "quiet": quiet, "loaded": loaded,
                     "p90_over_quiet_median": loaded["p90_ms"] / quiet["median_ms"]}
                row["results"][impl] = r
            sep = row["results"]["sepcpp"]
            row["meets_target"] = sep["p90_over_quiet_median"] <= UNDER_LOAD_LIMIT
            rows.append(row)
    finally:
        bar.close()
        ctl.restore()
    if "tf" in peers and _TF.get("module") is not None:
        notes.append(f"TF runs with {_TF.get('threads', all_threads)} thread(s) (its pool is fixed at start)")
    notes.append(f"busy process pinned to CPU {cpus[-1]} of {len(cpus)}; {threads} thread(s) per library; "
                 f"target: loaded p90 <= {UNDER_LOAD_LIMIT:g}x the quiet median")
    return rows, notes


def format_under_load(rows: List[Dict[str, Any]], peers: List[str], notes: List[str]) -> str:
    impls = ["sepcpp"] + list(peers)
    head = f"{'layer':20s} " + " ".join(f"{i:>34s}" for i in impls)
    sub = f"{'':20s} " + " ".join(f"{'quiet med  load med  load p90    (x)':>34s}" for _ in impls)
    lines = ["Under load: median and p90 per call (ms), quiet and with one core busy; (x) = loaded p90 / "
             "quiet median", head, sub]
    worst = 0.0
    for row in rows:
        cells = []
        for impl in impls:
            r = row["results"].get(impl, {})
            if r.get("status") != "ok":
                cells.append(f"{'n/a':>34s}")
                continue
            x = r["p90_over_quiet_median"]
            cells.append(f"{r['quiet']['median_ms']:9.3f} {r['loaded']['median_ms']:9.3f} "
                         f"{r['loaded']['p90_ms']:9.3f} ({x:5.1f})".rjust(34))
        worst = max(worst, row["results"]["sepcpp"]["p90_over_quiet_median"])
        lines.append(f"{row['layer']:20s} " + " ".join(cells) + ("" if row["meets_target"] else "  <- over target"))
    met = sum(r["meets_target"] for r in rows)
    lines.append(f"sepcpp: {met}/{len(rows)} layers within {UNDER_LOAD_LIMIT:g}x; worst loaded p90 / quiet "
                 f"median {worst:.1f}x")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def _select_layers(suite: List[Layer], spec: Optional[str]) -> Optional[List[Layer]]:
    """The layers --layers names (all of the suite without it); None, after saying why, for an
    unknown name."""
    if not spec:
        return suite
    by_name = {layer.name: layer for layer in suite}
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        print(f"--layers: unknown {', '.join(unknown)}; known: {', '.join(by_name)}", file=sys.stderr)
        return None
    return [by_name[n] for n in names]


def _main_under_load(args, peers: List[str], api: str, progress: bool) -> int:
    suite = _select_layers(load_suite(args.suite), args.layers)
    if suite is None:
        return 2
    try:
        threads = _parse_threads(args.threads or "all", _all_threads())
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if len(threads) != 1:
        print("--under-load: give one thread count", file=sys.stderr)
        return 2
    if args.calls < 1:
        print("--calls: must be >= 1", file=sys.stderr)
        return 2
    rows, notes = run_under_load(suite, peers, args.calls, args.budget, api, threads[0], args.seed, progress)
    if args.json:
        print(json.dumps({"machine": machine_info(), "mode": "under-load", "peers": peers, "results": rows,
                          "notes": notes}, indent=2, default=_json_default))
    else:
        print(format_under_load(rows, peers, notes))
    return 0


def build_parser(prog: str = "python -m sepcpp bench") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Times sepcpp's separable convolution on a layer suite against NumPy, TensorFlow "
                    "and PyTorch (those importable), in this process, on the same data.")
    p.add_argument("--layers", help="comma-separated layer names (default: the whole suite); 'list' lists them")
    p.add_argument("--repeat", type=int, default=11, help="timed calls per measurement (median; default 11)")
    p.add_argument("--threads",
                   help="thread counts, e.g. '1,all' (default; with --slicenet: 'all') or '1,2,4'")
    p.add_argument("--no-peers", action="store_true", help="time sepcpp only")
    p.add_argument("--peers", help=f"peers to time (default {','.join(PEERS)}; with --slicenet "
                                   f"{','.join(SLICENET_PEERS)})")
    p.add_argument("--json", action="store_true", help="print machine-readable results instead of the table")
    p.add_argument("--plot", metavar="FILE.png", help="bar chart of the per-layer ratios (needs matplotlib)")
    p.add_argument("--call-overhead", action="store_true",
                   help="measure only the call overhead: a whole separable call on a (1,1,1,8) input, "
                        "median over --calls calls, sepcpp vs torch vs tf (microseconds)")
    p.add_argument("--calls", type=int, default=None,
                   help="calls for --call-overhead (default 2000) or per measurement for --under-load "
                        "(default 200)")
    p.add_argument("--under-load", action="store_true",
                   help="tail latency with another process keeping one core busy: per layer, the quiet "
                        f"median, the loaded median and p90 (default peers {','.join(UNDER_LOAD_PEERS)}); "
                        f"target: loaded p90 <= {UNDER_LOAD_LIMIT:g}x the quiet median")
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
    sn = p.add_argument_group(
        "SliceNet rows", "--slicenet times, instead of the layer suite, the paper's 1-D rows: batch "
        f"{SLICENET_BATCH}, length {SLICENET_LENGTH}, channels {'/'.join(map(str, SLICENET_CHANNELS))}, "
        f"windows {'/'.join(map(str, SLICENET_WINDOWS))}, "
        f"groups {'/'.join(map(str, SLICENET_GROUPS))} (where "
        "g divides C), CAUSAL padding, against TensorFlow and PyTorch; the other options narrow them")
    sn.add_argument("--slicenet", action="store_true", help="time the SliceNet rows")
    sn.add_argument("--channels", help="comma-separated channel counts (default: all)")
    sn.add_argument("--windows", help="comma-separated window sizes (default: all)")
    sn.add_argument("--groups", help="comma-separated group counts (default: all)")
    sn.add_argument("--batch", type=int, default=SLICENET_BATCH, help=argparse.SUPPRESS)
    sn.add_argument("--length", type=int, default=SLICENET_LENGTH, help=argparse.SUPPRESS)
    dk = p.add_argument_group(
        "Dask", "--dask times sepcpp.dask (lazy image -> separable layer -> sum) against chunk size and "
        "workers (--threads, default '1,all'), on the threaded scheduler and on dask.distributed worker "
        "processes, the in-memory call as the reference")
    dk.add_argument("--dask", action="store_true", help="time sepcpp.dask")
    dk.add_argument("--dask-size", type=int, default=4096, help="image height and width (default 4096)")
    dk.add_argument("--dask-channels", type=int, default=16, help="channels in and out (default 16)")
    dk.add_argument("--dask-chunks", help="chunk heights/widths (default 512,1024,2048)")
    dk.add_argument("--no-distributed", action="store_true", help="threaded scheduler rows only")
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


def main(argv: Optional[List[str]] = None, prog: str = "python -m sepcpp bench") -> int:
    args = build_parser(prog).parse_args(argv)
    if args.dask:
        return _main_dask(args)
    import sepcpp

    all_threads = _all_threads()
    if args.repeat < 1:
        print("--repeat: must be >= 1", file=sys.stderr)
        return 2
    known = SLICENET_PEERS if args.slicenet else PEERS
    if args.under_load and not args.peers:
        args.peers = ",".join(UNDER_LOAD_PEERS)
    peers: List[str] = []
    if not args.no_peers:
        peers = [p.strip() for p in (args.peers or ",".join(known)).split(",") if p.strip()]
        bad = [p for p in peers if p not in known]
        if bad:
            print(f"--peers: unknown {', '.join(bad)}; choose from {', '.join(known)}", file=sys.stderr)
            return 2
    if args.slicenet and (args.layers or args.suite or args.call_overhead):
        print("--slicenet: not with --layers, --suite or --call-overhead", file=sys.stderr)
        return 2
    if not args.slicenet and (args.channels or args.windows or args.groups):
        print("--channels, --windows, --groups: only with --slicenet", file=sys.stderr)
        return 2
    api = _sepcpp_api(args.api)
    progress = sys.stderr.isatty() if args.progress is None else args.progress

    if args.under_load and (args.slicenet or args.call_overhead):
        print("--under-load: not with --slicenet or --call-overhead", file=sys.stderr)
        return 2
    if args.under_load:
        if args.calls is None:
            args.calls = 200
        if args.budget == 0.5:  # the default: tails need more calls than medians
            args.budget = 2.0
        return _main_under_load(args, peers, api, progress)
    if args.call_overhead:
        o = call_overhead(args.calls or 2000, peers, args.api)
        o["machine"] = machine_info()
        print(json.dumps(o, indent=2) if args.json else format_overhead(o))
        return 0
    if args.slicenet:
        return _main_slicenet(args, peers, api, progress)

    suite = load_suite(args.suite)
    if args.layers == "list":
        for layer in suite:
            print(f"{layer.name:20s} {layer.shape} k{layer.kernel} s{layer.stride} d{layer.dilation} "
                  f"m{layer.mult} o{layer.out_channels}  {layer.flops / 1e6:.0f} MFLOP")
        return 0
    layers = _select_layers(suite, args.layers)
    if layers is None:
        return 2
    try:
        thread_counts = _parse_threads(args.threads or "1,all", all_threads)
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


def _parse_ints(spec: Optional[str], default, name: str) -> List[int]:
    if not spec:
        return list(default)
    try:
        vals = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name}: expected comma-separated integers, got {spec!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise ValueError(f"{name}: expected integers >= 1, got {spec!r}")
    return vals


def _main_slicenet(args, peers: List[str], api: str, progress: bool) -> int:
    import sepcpp

    all_threads = _all_threads()
    try:
        thread_counts = _parse_threads(args.threads or "all", all_threads)
        if args.batch < 1 or args.length < 1:
            raise ValueError("--batch, --length: must be >= 1")
        rows = slicenet_rows(_parse_ints(args.channels, SLICENET_CHANNELS, "--channels"),
                             _parse_ints(args.windows, SLICENET_WINDOWS, "--windows"),
                             _parse_ints(args.groups, SLICENET_GROUPS, "--groups"),
                             args.batch, args.length)
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    if not rows:
        print("--slicenet: no rows (no group count divides a channel count)", file=sys.stderr)
        return 2
    if args.plot and not _check_matplotlib():
        return 2
    info = machine_info()
    load = info.get("load_average")
    limits = measure_peak(thread_counts, args.peak_gflops, args.bandwidth_gbs, sepcpp.info()["isa"])
    t0 = time.perf_counter()
    results, notes = run_slicenet(rows, thread_counts, peers, args.repeat, args.budget, api, limits, progress,
                                  args.seed)
    elapsed = time.perf_counter() - t0
    summary = summarize_slicenet(results, thread_counts)
    try:
        info["load_average_after"] = list(os.getloadavg())
    except OSError:
        pass
    notes.append(f"sepcpp API: {api}; all threads = {all_threads}; repeat {args.repeat} (median, fewer for "
                 f"slow calls); {elapsed:.0f} s; load average before/after: "
                 + " / ".join(" ".join(f"{v:.2f}" for v in info[k])
                              for k in ("load_average", "load_average_after") if info.get(k)))
    if load is not None and load[0] > 0.5:
        notes.append(f"warning: load average {load[0]:.2f} before the run: other processes were using the "
                     f"CPUs, so these numbers (the speed-ups too) are noisy")
    if args.plot:
        plot_ratios(results, thread_counts, args.plot)
        notes.append(f"plot written to {args.plot}")
    if args.json:
        doc = {"machine": info,
               "settings": {"mode": "slicenet", "threads": thread_counts, "repeat": args.repeat,
                            "budget_s": args.budget, "peers": peers, "sepcpp_api": api, "seed": args.seed,
                            "tolerance": TOLERANCE, "padding": "CAUSAL", "dtype": "float32", "layout": "NWC",
                            "batch": args.batch, "length": args.length,
                            "channels": sorted({r.channels for r in rows}),
                            "windows": sorted({r.window for r in rows}),
                            "groups": sorted({r.groups for r in rows})},
               "limits": {**limits, "peak_gflops": {str(k): v for k, v in limits["peak_gflops"].items()},
                          "bandwidth_gbs": {str(k): v for k, v in limits["bandwidth_gbs"].items()}},
               "results": results, "summary": summary, "notes": notes, "elapsed_s": elapsed}
        print(json.dumps(doc, indent=2, default=_json_default))
    else:
        print(format_slicenet(results, peers, summary, limits, notes))
    return 0


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --------------------------------------------------------------------------------------------
# --dask: sepcpp.dask on a large image, against chunk size and workers (the in-memory call beside)
#
# Every row runs the same pipeline: a lazily generated image (a cheap deterministic generator per
# block), a separable layer, and the sum of the result. The reference row calls the generator on the
# whole image, then the in-memory op, then the sum, in this process with all of sepcpp's threads.
# Dask rows run on the threaded scheduler (sepcpp at 1 thread per task, the workers being the
# parallelism) and on dask.distributed worker processes (1 thread each). The sums are compared with
# the reference (float64 sums of the same values in another order: equal to ~1e-12).

DASK_CHUNKS = (512, 1024, 2048)


def _dask_source(block_info=None):
    """One block of the benchmark image, from its location only (so any chunking gives the same image)."""
    _, (h0, h1), (w0, w1), (c0, c1) = block_info[None]["array-location"]
    h = (np.arange(h0, h1) * 0.618034 % 1).astype(np.float32)[:, None, None]
    w = (np.arange(w0, w1) * 0.414214 % 1).astype(np.float32)[None, :, None]
    c = (np.arange(c0, c1) * 0.25 % 1).astype(np.float32)[None, None, :]
    return ((h + w) - c)[None]


def _dask_layer(channels: int, seed: int):
    rng = np.random.default_rng(seed)
    dw = (rng.standard_normal((3, 3, channels, 1)) / 3).astype(np.float32)
    pw = (rng.standard_normal((1, 1, channels, channels)) / math.sqrt(channels)).astype(np.float32)
    return dw, pw


def run_dask(side: int, channels: int, chunk_sizes: List[int], workers: List[int], repeat: int, seed: int,
             distributed_rows: bool = True) -> Tuple[List[Dict[str, Any]], List[str]]:
    import dask
    import dask.array as da

    import sepcpp
    import sepcpp.dask as sd

    shape = (1, side, side, channels)
    dw, pw = _dask_layer(channels, seed)
    mpix = side * side / 1e6
    rows: List[Dict[str, Any]] = []
    notes: List[str] = []

    def timed(call):
        times, value = [], None
        for _ in range(repeat):
            t0 = time.perf_counter()
            value = call()
            times.append(time.perf_counter() - t0)
        return statistics.median(times), value

    def in_memory():
        x = _dask_source({None: {"array-location": [(0, s) for s in shape]}})
        y = sepcpp.separable_conv2d(x, dw, pw, 1, "SAME", activation="relu6")
        return float(y.sum(dtype=np.float64))

    sepcpp.set_num_threads(0)
    ref_s, ref_sum = timed(in_memory)
    rows.append({"engine": "in-memory", "workers": sepcpp.get_num_threads(), "chunk": side,
                 "seconds": ref_s, "mpix_s": mpix / ref_s, "vs_in_memory": 1.0, "sum_rel_diff": 0.0})

    def lazy(chunk):
        n = -(-side // chunk)
        sizes = tuple(min(chunk, side - i * chunk) for i in range(n))
        x = da.map_blocks(_dask_source, dtype=np.float32, chunks=((1,), sizes, sizes, (channels,)),
                          meta=np.empty((0,) * 4, np.float32))
        return sd.separable_conv2d(x, dw, pw, 1, "SAME", activation="relu6").sum(dtype=np.float64)

    def add(engine, nworkers, chunk, secs, total):
        rel = abs(total - ref_sum) / max(abs(ref_sum), 1e-300)
        rows.append({"engine": engine, "workers": nworkers, "chunk": chunk, "seconds": secs,
                     "mpix_s": mpix / secs, "vs_in_memory": ref_s / secs, "sum_rel_diff": rel})

    sepcpp.set_num_threads(1)
    try:
        for nworkers in workers:
            for chunk in chunk_sizes:
                with dask.config.set(scheduler="threads", num_workers=nworkers):
                    secs, total = timed(lambda: float(lazy(chunk).compute()))
                add("dask threads", nworkers, chunk, secs, total)
    finally:
        sepcpp.set_num_threads(0)
    if distributed_rows:
        try:
            import distributed
        except ImportError:
            notes.append("dask.distributed is not installed: no worker-process rows")
            return rows, notes
        for nworkers in workers:
            cluster = distributed.LocalCluster(n_workers=nworkers, processes=True, threads_per_worker=1,
                                               dashboard_address=None)
            with cluster, distributed.Client(cluster) as client:
                client.run(sepcpp.set_num_threads, 1)
                client.run(__import__, "sepcpp.dask")  # imports on the workers, outside the timings
                for chunk in chunk_sizes:
                    secs, total = timed(lambda: float(client.compute(lazy(chunk), sync=True)))
                    add("distributed", nworkers, chunk, secs, total)
    return rows, notes


def format_dask(rows: List[Dict[str, Any]], side: int, channels: int, notes: List[str]) -> str:
    gib = side * side * channels * 4 / 2**30
    lines = [f"sepcpp.dask: separable 3x3, {channels} -> {channels} channels, relu6, SAME, on a lazily "
             f"generated (1, {side}, {side}, {channels}) float32 image ({gib:.2f} GiB), reduced to its sum; "
             "median seconds",
             f"{'engine':14s} {'workers':>7s} {'chunk':>6s} {'seconds':>8s} {'Mpix/s':>8s} "
             f"{'vs in-memory':>12s} {'sum rel diff':>12s}"]
    for r in rows:
        lines.append(f"{r['engine']:14s} {r['workers']:7d} {r['chunk']:6d} {r['seconds']:8.3f} "
                     f"{r['mpix_s']:8.1f} {r['vs_in_memory']:12.2f} {r['sum_rel_diff']:12.1e}")
    lines += notes
    return "\n".join(lines)


def _main_dask(args) -> int:
    try:
        import dask  # noqa: F401
    except ImportError:
        print('--dask needs Dask: pip install "sepcpp[dask]"', file=sys.stderr)
        return 2
    try:
        chunks = _parse_ints(args.dask_chunks, DASK_CHUNKS, "--dask-chunks")
        workers = _parse_threads(args.threads or "1,all", _all_threads())
        if args.dask_size < 1 or args.dask_channels < 1:
            raise ValueError("--dask-size, --dask-channels: must be >= 1")
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    repeat = min(args.repeat, 3)
    t0 = time.perf_counter()
    rows, notes = run_dask(args.dask_size, args.dask_channels, chunks, workers, repeat, args.seed,
                           not args.no_distributed)
    notes.append(f"repeat {repeat} (median); {time.perf_counter() - t0:.0f} s; sepcpp threads: all for the "
                 "in-memory row, 1 per task in the Dask rows")
    if args.json:
        shape = [1, args.dask_size, args.dask_size, args.dask_channels]
        print(json.dumps({"machine": machine_info(), "mode": "dask", "shape": shape, "results": rows,
                          "notes": notes}, indent=2, default=_json_default))
    else:
        print(format_dask(rows, args.dask_size, args.dask_channels, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
