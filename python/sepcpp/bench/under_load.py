"""--under-load: tail latency when another process keeps one core busy. Every layer is timed quiet
and then with a process spinning on the last CPU of this process's affinity; per implementation:
the quiet median, the loaded median, p90 and p99. Target: loaded p90 <= UNDER_LOAD_LIMIT x the quiet
median."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Tuple

from . import peers as peer_impls
from .layers import Layer
from .measure import latencies, tail_stats
from .peers import NA
from .report import Progress
from .runner import Setups

UNDER_LOAD_LIMIT = 3.0  # target: loaded p90 <= 3x the quiet median

_BUSY_LOOP = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


@contextlib.contextmanager
def busy_core(cpu: int):
    """A separate process spinning on CPU `cpu` for the duration of the block."""
    proc = subprocess.Popen([sys.executable, "-c", _BUSY_LOOP, str(cpu)])
    try:
        time.sleep(0.2)  # let it start spinning
        if proc.poll() is not None:
            raise RuntimeError(f"the busy process exited with {proc.returncode}")
        yield proc
    finally:
        proc.kill()
        proc.wait()


def run_under_load(layers: List[Layer], peers: List[str], calls: int, budget_s: float, api: str,
                   threads: int, seed: int = 0,
                   progress: bool = False) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Times every layer quiet and then with a busy process on the last CPU of this process's
    affinity; per implementation: the quiet median, the loaded median, p90 and p99."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    impls = [peer_impls.make("sepcpp", api)] + [peer_impls.make(p) for p in peers]
    bar = Progress(len(layers) * len(impls) * 2, progress)
    rows: List[Dict[str, Any]] = []
    try:
        for layer in layers:
            setups = Setups(impls, layer, seed)
            row: Dict[str, Any] = {"layer": layer.name, "threads": threads, "results": {}}
            for impl in impls:
                p = setups.get(impl, threads)
                if isinstance(p, NA):
                    row["results"][impl.name] = {"status": "n/a", "reason": str(p)}
                    bar.advance()
                    bar.advance()
                    continue
                with impl.threads(threads):
                    bar.step(f"{layer.name} {impl.name} quiet")
                    quiet = tail_stats(latencies(p.call, calls, budget_s))
                    bar.advance()
                    bar.step(f"{layer.name} {impl.name} loaded")
                    with busy_core(cpus[-1]):
                        loaded = tail_stats(latencies(p.call, calls, budget_s))
                    bar.advance()
                row["results"][impl.name] = {"status": "ok", "quiet": quiet, "loaded": loaded,
                                             "p90_over_quiet_median": loaded["p90_ms"] / quiet["median_ms"]}
            sep = row["results"]["sepcpp"]
            row["meets_target"] = sep["p90_over_quiet_median"] <= UNDER_LOAD_LIMIT
            rows.append(row)
    finally:
        bar.close()
        for impl in impls:
            impl.restore()
    notes = []
    for impl in impls[1:]:
        fixed = impl.fixed_threads()
        if fixed is not None:
            notes.append(f"{impl.name} runs with {fixed} thread(s) (its pool is fixed at start)")
    notes += [f"{impl.name}: {impl.unavailable}" for impl in impls[1:] if impl.unavailable]
    notes.append(f"busy process pinned to CPU {cpus[-1]} of {len(cpus)}; {threads} thread(s) per library; "
                 f"target: loaded p90 <= {UNDER_LOAD_LIMIT:g}x the quiet median")
    return rows, notes
