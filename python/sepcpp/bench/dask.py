"""--dask: sepcpp.dask on a large image, against chunk size and workers (the in-memory call beside).

Every row runs the same pipeline: a lazily generated image (a cheap deterministic generator per
block), a separable layer, and the sum of the result. The reference row calls the generator on the
whole image, then the in-memory op, then the sum, in this process with all of sepcpp's threads.
Dask rows run on the threaded scheduler (sepcpp at 1 thread per task, the workers being the
parallelism) and on dask.distributed worker processes (1 thread each). The sums are compared with
the reference (float64 sums of the same values in another order: equal to ~1e-12).
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Dict, List, Tuple

import numpy as np

DASK_CHUNKS = (512, 1024, 2048)


def dask_source(block_info=None):
    """One block of the benchmark image, from its location only (so any chunking gives the same image)."""
    _, (h0, h1), (w0, w1), (c0, c1) = block_info[None]["array-location"]
    h = (np.arange(h0, h1) * 0.618034 % 1).astype(np.float32)[:, None, None]
    w = (np.arange(w0, w1) * 0.414214 % 1).astype(np.float32)[None, :, None]
    c = (np.arange(c0, c1) * 0.25 % 1).astype(np.float32)[None, None, :]
    return ((h + w) - c)[None]


def dask_layer(channels: int, seed: int):
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
    dw, pw = dask_layer(channels, seed)
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
        x = dask_source({None: {"array-location": [(0, s) for s in shape]}})
        y = sepcpp.separable_conv2d(x, dw, pw, 1, "SAME", activation="relu6")
        return float(y.sum(dtype=np.float64))

    sepcpp.set_num_threads(0)
    ref_s, ref_sum = timed(in_memory)
    rows.append({"engine": "in-memory", "workers": sepcpp.get_num_threads(), "chunk": side,
                 "seconds": ref_s, "mpix_s": mpix / ref_s, "vs_in_memory": 1.0, "sum_rel_diff": 0.0})

    def lazy(chunk):
        n = -(-side // chunk)
        sizes = tuple(min(chunk, side - i * chunk) for i in range(n))
        x = da.map_blocks(dask_source, dtype=np.float32, chunks=((1,), sizes, sizes, (channels,)),
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
