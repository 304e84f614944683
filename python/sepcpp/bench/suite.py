"""The layer suite against the peers (the default run), and the call overhead on a tiny layer."""

from __future__ import annotations

import statistics
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import peers as peer_impls
from .layers import Layer
from .measure import agreement
from .peers import NA
from .peers.sepcpp import resolve_api
from .runner import run_cases


def run_layers(layers: List[Layer], thread_counts: List[int], peers: List[str], repeat: int,
               budget_s: float, api: str, limits: Dict[str, Any], progress: bool = False,
               seed: int = 0, rounds: int = 1) -> Tuple[List[Dict[str, Any]], List[str]]:
    """Times every layer at every thread count (in `rounds` interleaved turns); returns (rows, notes)."""
    impls = [peer_impls.make("sepcpp", api)] + [peer_impls.make(p) for p in peers]
    return run_cases(layers, thread_counts, impls, repeat, budget_s, limits, progress, seed, rounds)


def call_overhead(calls: int = 2000, peers: Optional[List[str]] = None, api: str = "auto") -> Dict[str, Any]:
    """Median time of one whole separable call on a (1, 1, 1, 8) input, 3x3 depthwise, 8 outputs."""
    peers = list(peer_impls.SUITE_PEERS) if peers is None else peers
    layer = Layer("call_overhead", (1, 1, 1, 8), (3, 3), 1, 1, 1, 8)
    x, dw, pw = layer.data(0)
    import sepcpp

    threads = sepcpp.get_num_threads()
    impls: List[Tuple[str, Any]] = []
    sep_api = resolve_api(api)
    impls.append((f"sepcpp ({sep_api})", peer_impls.make("sepcpp", sep_api)))
    if sep_api == "SeparableConv2D" and api == "auto":
        impls.append(("sepcpp (separable_conv2d)", peer_impls.make("sepcpp", "separable_conv2d")))
    impls += [(p, peer_impls.make(p)) for p in peers if p != "numpy"]
    out: Dict[str, Any] = {"input_shape": list(layer.shape), "kernel": [3, 3], "out_channels": 8,
                           "calls": calls, "results": {}}
    ref = None
    for name, impl in impls:
        try:
            p = impl.setup(layer, x, dw, pw, threads)
        except NA as e:
            out["results"][name] = {"status": "unavailable", "reason": str(e)}
            continue
        r = p.call()
        for _ in range(min(200, calls)):
            p.call()
        times = []
        for _ in range(calls):
            t0 = time.perf_counter()
            p.call()
            times.append(time.perf_counter() - t0)
        res = np.asarray(p.to_ref(r))
        if ref is None:
            ref = res
        a = agreement(ref, res)
        out["results"][name] = {"status": a["status"], "median_us": statistics.median(times) * 1e6,
                                "min_us": min(times) * 1e6, "rel_diff": a["rel_diff"]}
    out["threads"] = sepcpp.get_num_threads()
    return out
