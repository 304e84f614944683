"""The measurement loop every timed table shares: for each case and thread count, sepcpp and then each
peer, each prepared once outside the timing, timed (measure.measure) and checked against sepcpp's
result; then the fastest correct peer with the same threads and its ratio to sepcpp.

A result row is the case's ``describe()`` fields, then ``threads``, ``flops``, ``bytes``, ``sepcpp``
(time, GFLOP/s, % of the FMA peak and of the roofline), ``peers`` (per peer: status, time, agreement,
threads) and ``best_peer`` / ``ratio``; where inference engines ran, also ``best_engine`` /
``engine_ratio`` (the fastest of them alone).
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .measure import agreement, measure
from .peers import NA, NOT_IMPORTABLE, Peer
from .report import Progress

SLOW_RATIO = 0.9  # layers where best-peer/sepcpp is below this are listed at the end


def sepcpp_stats(t: Dict[str, Any], flops: int, nbytes: int, limits: Dict[str, Any],
                 nthreads: int) -> Dict[str, Any]:
    """sepcpp's cell of a row: time, GFLOP/s, % of the FMA peak and of the roofline."""
    gf = flops / t["median_s"] / 1e9
    peak = limits["peak_gflops"].get(nthreads)
    bw = limits["bandwidth_gbs"].get(nthreads)
    roof = min(peak, flops / nbytes * bw) if peak and bw else None
    return {"ms": t["median_s"] * 1e3, "min_ms": t["min_s"] * 1e3, "runs": t["runs"], "gflops": gf,
            "pct_peak": 100 * gf / peak if peak else None, "pct_roofline": 100 * gf / roof if roof else None}


def peer_stats(ref: np.ndarray, got: np.ndarray, t: Dict[str, Any], threads: int) -> Dict[str, Any]:
    """A peer's cell of a row: its time and its agreement with sepcpp's result `ref`."""
    a = agreement(ref, got)
    return {"status": a["status"], "ms": t["median_s"] * 1e3, "min_ms": t["min_s"] * 1e3, "runs": t["runs"],
            "rel_diff": a["rel_diff"], "threads": threads}


def best_peer(peer_res: Dict[str, Dict[str, Any]], sepcpp_ms: float,
              nthreads: int, key: str = "ms") -> Tuple[Optional[str], Optional[float]]:
    """(fastest correct peer that ran with `nthreads` threads, its time / sepcpp's); (None, None).
    `key`: "ms" compares medians, "min_ms" fastest calls (then `sepcpp_ms` is sepcpp's fastest)."""
    best = None
    for impl, r in peer_res.items():
        if r.get("status") == "ok" and r["threads"] == nthreads and (
                best is None or r[key] < peer_res[best][key]):
            best = impl
    return best, (peer_res[best][key] / sepcpp_ms if best else None)


class Setups:
    """Each implementation prepared for one case, once (once per thread count for the engines that
    fix their threads in the session); a library that does not import is not tried again."""

    def __init__(self, impls: Sequence[Peer], case, seed: int):
        self.impls, self.case = impls, case
        self.data = case.data(seed)
        self._done: Dict[Tuple[str, Optional[int]], Any] = {}

    def get(self, impl: Peer, threads: int):
        """The Prepared of `impl` at `threads`, or the NA that says why it does not run the case."""
        key = (impl.name, threads if impl.threads_at_setup else None)
        if key not in self._done:
            if impl.unavailable:
                self._done[key] = NA(NOT_IMPORTABLE)
            else:
                try:
                    self._done[key] = impl.setup(self.case, *self.data, threads)
                except NA as e:
                    self._done[key] = e
        return self._done[key]


def na_cell(e: NA) -> Dict[str, Any]:
    """A peer's cell for a case it does not run."""
    return {"status": "unavailable" if str(e) == NOT_IMPORTABLE else "n/a", "reason": str(e)}


def combine_rounds(ts: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One timing from the rounds' timings: the median of their medians, the fastest call of all."""
    return {"median_s": statistics.median(t["median_s"] for t in ts), "min_s": min(t["min_s"] for t in ts),
            "runs": sum(t["runs"] for t in ts)}


def run_cases(cases: Sequence[Any], thread_counts: List[int], impls: Sequence[Peer], repeat: int,
              budget_s: float, limits: Dict[str, Any], progress: bool = False, seed: int = 0,
              rounds: int = 1) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Times every case at every thread count with every implementation (``impls[0]`` is sepcpp,
    whose result the others are checked against); returns (rows, notes).

    With ``rounds`` > 1 the implementations take turns `rounds` times per row (sepcpp, each peer,
    sepcpp again, ...) and each one's time is the median of its rounds' medians, so that a burst of
    load from other processes falls on all of them rather than on one; the cells then also hold
    ``round_ms``, the medians of the rounds."""
    peers = list(impls[1:])
    engines = [p.name for p in peers if p.engine]
    bar = Progress(len(cases) * len(thread_counts) * len(impls) * rounds, progress)
    rows: List[Dict[str, Any]] = []
    try:
        for case in cases:
            setups = Setups(impls, case, seed)
            too_slow: Dict[str, str] = {}  # peers whose first call was over their limit: not run again
            for nthreads in thread_counts:
                row = _time_row(case, nthreads, impls, setups, too_slow, repeat, budget_s, limits, rounds,
                                bar)
                row["best_peer"], row["ratio"] = best_peer(row["peers"], row["sepcpp"]["ms"], nthreads)
                if engines:
                    ran = {e: row["peers"][e] for e in engines}
                    row["best_engine"], row["engine_ratio"] = best_peer(ran, row["sepcpp"]["ms"], nthreads)
                    # The same by fastest calls: on a shared machine a median can carry another
                    # job's burst, a fastest call rarely.
                    row["best_engine_min"], row["engine_ratio_min"] = best_peer(
                        ran, row["sepcpp"]["min_ms"], nthreads, key="min_ms")
                rows.append(row)
    finally:
        bar.close()
        for impl in impls:
            impl.restore()
    return rows, run_notes(peers, thread_counts)


def _time_row(case, nthreads: int, impls: Sequence[Peer], setups: Setups, too_slow: Dict[str, str],
              repeat: int, budget_s: float, limits: Dict[str, Any], rounds: int,
              bar: Progress) -> Dict[str, Any]:
    """One result row: every implementation timed on `case` with `nthreads` threads, in `rounds`
    turns, each peer's first result checked against sepcpp's."""
    subject = impls[0]
    first: Dict[str, Any] = {}  # implementation -> (Prepared, the result of its first call)
    times: Dict[str, List[Dict[str, Any]]] = {}
    cells: Dict[str, Dict[str, Any]] = {}  # the peers that do not run here: their cells
    for rnd in range(rounds):
        for impl in impls:
            bar.step(f"{case.name} {nthreads}t {impl.name}" + (f" {rnd + 1}/{rounds}" if rounds > 1 else ""))
            name = impl.name
            p = None if name in cells else setups.get(impl, nthreads)
            if isinstance(p, NA):
                if impl is subject:
                    raise RuntimeError(f"sepcpp cannot run {case.name}: {p}")
                cells[name] = na_cell(p)
            elif p is not None and name in too_slow and name not in times:
                cells[name] = {"status": "skipped", "reason": too_slow[name]}
            elif p is not None:
                with impl.threads(nthreads):
                    result, t = measure(p.call, repeat, budget_s, impl.skip_over_s)
                time.sleep(0.01)  # let the previous library's spinning workers go idle
                if t is None and name not in times:
                    too_slow[name] = f"one call takes > {impl.skip_over_s:g} s"
                    cells[name] = {"status": "skipped", "reason": too_slow[name]}
                elif t is not None:
                    first.setdefault(name, (p, result))
                    times.setdefault(name, []).append(t)
            bar.advance()

    def timing(name):
        t = combine_rounds(times[name])
        return t, ({"round_ms": [r["median_s"] * 1e3 for r in times[name]]} if rounds > 1 else {})

    row: Dict[str, Any] = {**case.describe(), "threads": nthreads, "flops": case.flops, "bytes": case.bytes}
    p, result = first[subject.name]
    ref = np.asarray(p.to_ref(result))
    t, extra = timing(subject.name)
    row["sepcpp"] = {**sepcpp_stats(t, case.flops, case.bytes, limits, nthreads), **extra, **p.info}
    row["peers"] = {}
    for impl in impls[1:]:
        if impl.name in cells:
            row["peers"][impl.name] = cells[impl.name]
            continue
        p, result = first[impl.name]
        t, extra = timing(impl.name)
        stats = peer_stats(ref, np.asarray(p.to_ref(result)), t, impl.fixed_threads() or nthreads)
        row["peers"][impl.name] = {**stats, **extra, **p.info}
    return row


def run_notes(peers: Sequence[Peer], thread_counts: List[int]) -> List[str]:
    """What the peers have to say after a run, then the libraries that did not import."""
    notes = [n for p in peers for n in p.notes(thread_counts)]
    notes += [f"{p.name}: {p.unavailable}" for p in peers if p.unavailable]
    return [n for n in notes if n]


def summarize(rows: List[Dict[str, Any]], thread_counts: List[int]) -> Dict[str, Any]:
    """Per thread count: the geometric mean of best-peer/sepcpp and the rows below SLOW_RATIO; and
    the peers that disagreed with sepcpp."""
    per: Dict[str, Any] = {}
    for n in thread_counts:
        ratios = [r["ratio"] for r in rows if r["threads"] == n and r["ratio"]]
        per[str(n)] = {
            "geomean_ratio": math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None,
            "layers": len(ratios),
            "below": [{"layer": r["layer"], "ratio": r["ratio"], "best_peer": r["best_peer"]}
                      for r in rows if r["threads"] == n and r["ratio"] and r["ratio"] < SLOW_RATIO],
        }
    if any("engine_ratio" in r for r in rows):  # the inference engines on their own
        for n in thread_counts:
            ranked = [r for r in rows if r["threads"] == n and r.get("engine_ratio")]
            ratios = [r["engine_ratio"] for r in ranked]
            worst = min(ranked, key=lambda r: r["engine_ratio"], default=None)
            fast = [r for r in ranked if r.get("engine_ratio_min")]
            fast_ratios = [r["engine_ratio_min"] for r in fast]
            fast_worst = min(fast, key=lambda r: r["engine_ratio_min"], default=None)
            per[str(n)]["engines"] = {
                "geomean_ratio": math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else None,
                "layers": len(ratios),
                "worst": worst and {"layer": worst["layer"], "ratio": worst["engine_ratio"],
                                    "best_engine": worst["best_engine"]},
                "geomean_ratio_min": (math.exp(sum(map(math.log, fast_ratios)) / len(fast_ratios))
                                      if fast_ratios else None),
                "worst_min": fast_worst and {"layer": fast_worst["layer"], "ratio": fast_worst["engine_ratio_min"],
                                             "best_engine": fast_worst["best_engine_min"]},
            }
    mismatches = sorted({f"{r['layer']}/{p}" for r in rows for p, v in r["peers"].items()
                         if v.get("status") == "MISMATCH"})
    return {"per_threads": per, "slow_ratio": SLOW_RATIO, "mismatches": mismatches}
