"""The SliceNet rows (--slicenet) against TensorFlow and PyTorch, and sepcpp's speed-up from the
grouped pointwise step: beside each g > 1 row, its time at g=1 over its time at g; the g=2 rows of
C=1024 (half the pointwise work) must reach SLICENET_MIN_SPEEDUP."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from . import peers as peer_impls
from .layers import SliceNetRow
from .runner import run_cases, summarize

SLICENET_MIN_SPEEDUP = 1.6  # g=2 must run at least this much faster than g=1 ...
SLICENET_CHECKED_CHANNELS = 1024  # ... on the rows with this many channels (half the pointwise work)


def run_slicenet(rows: List[SliceNetRow], thread_counts: List[int], peers: List[str], repeat: int,
                 budget_s: float, api: str, limits: Dict[str, Any], progress: bool = False,
                 seed: int = 0, rounds: int = 1) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Times every SliceNet row at every thread count; returns (result rows, notes). Each result
    row of g > 1 gets ``speedup_vs_g1``: sepcpp's time at g=1 / its time at this g (same C, k and
    threads)."""
    impls = [peer_impls.make("sepcpp", api)] + [peer_impls.make(p) for p in peers]
    out, notes = run_cases(rows, thread_counts, impls, repeat, budget_s, limits, progress, seed, rounds)
    slicenet_speedups(out)
    return out, notes


def slicenet_speedups(rows: List[Dict[str, Any]]) -> None:
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
