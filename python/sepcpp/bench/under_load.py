"""--under-load: tail latency when another process keeps one core busy. Every layer is timed quiet
and then with a process spinning on the last CPU of this process's affinity; per implementation:
the quiet median, the loaded median, p90 and p99. Target: loaded p90 <= UNDER_LOAD_LIMIT x the quiet
median. For sepcpp each phase also counts what its pool's contention-adaptive mode did (calls that
found contention, calls run on the calling thread first: sepcpp.info()["adaptive_threads"])."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from typing import Any, Dict, List, Tuple

from .. import _core
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


def _adaptive_counts() -> Tuple[int, int]:
    a = _core.adaptive_threads()
    return a["events"], a["solo_calls"]


def _timed(call, calls: int, budget_s: float, count: bool) -> Dict[str, Any]:
    """tail_stats of the calls; with `count`, also the pool's contention events and solo calls."""
    before = _adaptive_counts() if count else None
    stats = tail_stats(latencies(call, calls, budget_s))
    if count:
        after = _adaptive_counts()
        stats["contention_events"] = after[0] - before[0]
        stats["solo_calls"] = after[1] - before[1]
    return stats


def _adaptive_note(rows: List[Dict[str, Any]]) -> str:
    """What sepcpp's contention-adaptive mode did, over all layers."""
    if not _core.adaptive_threads()["enabled"]:
        return "sepcpp's contention-adaptive threads: off (the default; SEPCPP_ADAPTIVE=1 turns them on)"
    parts = []
    for phase in ("quiet", "loaded"):
        stats = [r["results"]["sepcpp"][phase] for r in rows if r["results"]["sepcpp"].get("status") == "ok"]
        calls = sum(s["calls"] for s in stats)
        solo = sum(s.get("solo_calls", 0) for s in stats)
        events = sum(s.get("contention_events", 0) for s in stats)
        parts.append(f"{phase}: {events} contention events, {solo} pool calls started alone ({calls} timed calls)")
    return "sepcpp's contention-adaptive threads: " + "; ".join(parts)


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
                    count = impl.name == "sepcpp"
                    quiet = _timed(p.call, calls, budget_s, count)
                    bar.advance()
                    bar.step(f"{layer.name} {impl.name} loaded")
                    with busy_core(cpus[-1]):
                        loaded = _timed(p.call, calls, budget_s, count)
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
    notes.append(_adaptive_note(rows))
    notes.append(f"busy process pinned to CPU {cpus[-1]} of {len(cpus)}; {threads} thread(s) per library; "
                 f"target: loaded p90 <= {UNDER_LOAD_LIMIT:g}x the quiet median")
    return rows, notes
