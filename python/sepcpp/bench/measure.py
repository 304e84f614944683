"""How the benchmark measures: timed calls (medians, tails), the agreement of two results, thread
counts, the machine's limits (FMA peak, bandwidth) and its description."""

from __future__ import annotations

import os
import platform
import statistics
import time
from typing import Any, Callable, Dict, List, Optional

import numpy as np

TOLERANCE = 1e-3  # a peer agrees with sepcpp when max |peer - sepcpp| / max |sepcpp| is below this

# Longer than the default spin-wait of the OpenMP runtimes in this process (Intel's KMP_BLOCKTIME is
# 200 ms).
SETTLE_S = 0.3


def measure(call: Callable[[], Any], repeat: int, budget_s: float, skip_over: Optional[float] = None):
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


def latencies(call: Callable[[], Any], calls: int, budget_s: float) -> List[float]:
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


def tail_stats(times: List[float]) -> Dict[str, float]:
    """Median, p90, p99 and maximum of per-call times, in milliseconds."""
    q = np.percentile(np.asarray(times) * 1e3, [50, 90, 99])
    return {"median_ms": float(q[0]), "p90_ms": float(q[1]), "p99_ms": float(q[2]),
            "max_ms": float(max(times) * 1e3), "calls": len(times)}


def rel_diff(ref: np.ndarray, got: np.ndarray) -> float:
    """max |ref - got| / max |ref| (arrays of the same shape)."""
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(ref.astype(np.float64) - got))) if ref.size else 0.0
    return diff / max(scale, 1e-30) if diff else 0.0


def agreement(ref: np.ndarray, got: np.ndarray) -> Dict[str, Any]:
    """Whether `got` agrees with sepcpp's `ref`: {"status": "ok" or "MISMATCH", "rel_diff": the
    relative difference, None for a wrong shape}."""
    diff = rel_diff(ref, got) if got.shape == ref.shape else None
    return {"status": "ok" if diff is not None and diff < TOLERANCE else "MISMATCH", "rel_diff": diff}


# --------------------------------------------------------------------------------------------
# Thread counts


def all_threads() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def parse_threads(spec: str, all_threads: int) -> List[int]:
    """--threads: "1,all", "1,2,4" -> distinct counts in order ("all"/"max": every usable CPU)."""
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


def parse_ints(spec: Optional[str], default, name: str) -> List[int]:
    """A comma-separated list of integers >= 1 given for option `name` (`default` without one)."""
    if not spec:
        return list(default)
    try:
        vals = [int(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{name}: expected comma-separated integers, got {spec!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise ValueError(f"{name}: expected integers >= 1, got {spec!r}")
    return vals


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

    n_all = all_threads()
    peak = _parse_per_threads(peak_spec, n_all, scale=True)
    bw = _parse_per_threads(bandwidth_spec, n_all, scale=False)
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


def version(*dists: str) -> Optional[str]:
    """The installed version of the first of these distributions found, or None."""
    from importlib import metadata

    for d in dists:
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return None


def machine_info() -> Dict[str, Any]:
    """The machine, its load, and the versions of sepcpp and of the libraries it is timed against."""
    import sepcpp

    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "sepcpp": sepcpp.info(),
        "cpu_model": _cpu_model(),
        "cpus": os.cpu_count(),
        "cpus_usable": all_threads(),
        "load_average": list(load) if load else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "tensorflow": version("tensorflow", "tensorflow-cpu", "tensorflow_cpu", "tf-nightly"),
        "torch": version("torch"),
        "onnx": version("onnx"),
        "onnxruntime": version("onnxruntime"),
        "openvino": version("openvino"),
        "ai_edge_litert": version("ai-edge-litert"),
    }
