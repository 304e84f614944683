"""``--bfloat16``: the suite's layers in bfloat16 (``ml_dtypes.bfloat16``) against float32 and PyTorch.

Per layer and thread count: sepcpp's prepacked ``SeparableConv2D`` on bfloat16 data, the same layer
in float32 (the same values, widened), and PyTorch's bfloat16 pair (``F.conv2d(groups=C)`` then a
1x1 ``F.conv2d``, channels_last, under ``no_grad``: oneDNN's bfloat16 kernels) when PyTorch is
importable. Calls are interleaved (one timed call of each contender per round, the order rotating,
each right after an untimed call of the same contender, so that none is timed in what the one
before left: PyTorch's OpenMP threads spin for a while after its calls, and a call's data fills the
caches) and each time is the median over the rounds, so that load from other processes hits all
alike; the
spread (inter-quartile range over the median) comes with each. Ratios: ``f32/bf16`` is sepcpp
float32 over sepcpp bfloat16 (above 1: bfloat16 faster), ``torch/bf16`` PyTorch bfloat16 over
sepcpp bfloat16. On a machine whose speed swings between rounds (other jobs' load), two more
measures of ``torch/bf16`` come with it: by fastest calls (``min``) and the median of the ratios of
the two calls of each round (``paired``: both calls of a round see the same load). ``pw share`` is
the pointwise step's share of the layer's multiply-adds; the geometric means are over the layers
where it is at least 90% (pointwise-heavy).
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any, Callable, Dict, List

import numpy as np

from .layers import Layer

POINTWISE_HEAVY = 0.9


def _median_spread(ts: List[float]):
    med = statistics.median(ts)
    if len(ts) < 2:
        return med, 0.0
    q = statistics.quantiles(ts, n=4)
    return med, (q[2] - q[0]) / med


def _torch_call(layer: Layer, x32, dw32, pw32) -> Callable[[], Any]:
    import torch  # noqa: PLC0415 - optional

    n, h, w, c = layer.shape
    kh, kw = layer.kernel
    cm, o = c * layer.mult, layer.out_channels
    cl = torch.channels_last
    tx = torch.from_numpy(x32).permute(0, 3, 1, 2).to(torch.bfloat16).contiguous(memory_format=cl)
    tdw = torch.from_numpy(dw32).permute(2, 3, 0, 1).reshape(cm, 1, kh, kw).to(torch.bfloat16)
    tpw = torch.from_numpy(np.ascontiguousarray(pw32[0, 0].T)).reshape(o, cm, 1, 1).to(torch.bfloat16)
    tdw, tpw = tdw.contiguous(memory_format=cl), tpw.contiguous(memory_format=cl)
    F = torch.nn.functional
    pad = (layer.pads[2], layer.pads[3], layer.pads[0], layer.pads[1])

    def call():
        with torch.no_grad():
            y = F.conv2d(F.pad(tx, pad) if any(pad) else tx, tdw, stride=layer.stride, dilation=layer.dilation,
                         groups=c)
            return F.conv2d(y, tpw)

    return call


def run_bfloat16(layers: List[Layer], thread_counts: List[int], rounds: int, with_torch: bool,
                 seed: int = 0) -> List[Dict[str, Any]]:
    """One row per layer and thread count (times in seconds)."""
    import ml_dtypes  # noqa: PLC0415 - only this mode needs it

    import sepcpp  # noqa: PLC0415

    bf16 = ml_dtypes.bfloat16
    torch = None
    if with_torch:
        import torch  # noqa: PLC0415
    rows = []
    before = sepcpp.get_num_threads()
    torch_before = torch.get_num_threads() if torch is not None else None
    try:
        for layer in layers:
            x, dw, pw = (a.astype(bf16) for a in layer.data(seed))
            x32, dw32, pw32 = (a.astype(np.float32) for a in (x, dw, pw))
            kw = dict(dilations=layer.dilation)
            pads = [[0, 0], [layer.pads[0], layer.pads[1]], [layer.pads[2], layer.pads[3]], [0, 0]]
            lay16 = sepcpp.SeparableConv2D(dw, pw, layer.stride, pads, **kw)
            lay32 = sepcpp.SeparableConv2D(dw32, pw32, layer.stride, pads, **kw)
            calls: Dict[str, Callable[[], Any]] = {"f32": lambda: lay32(x32), "bf16": lambda: lay16(x)}
            if torch is not None:
                calls["torch"] = _torch_call(layer, x32, dw32, pw32)
            kh, kwid = layer.kernel
            cm, o = layer.shape[3] * layer.mult, layer.out_channels
            share = cm * o / (cm * o + kh * kwid * cm)
            for threads in thread_counts:
                sepcpp.set_num_threads(threads)
                if torch is not None:
                    torch.set_num_threads(threads)
                for f in calls.values():  # warm-up (packing, first-touch, oneDNN's primitive cache)
                    f()
                    f()
                times: Dict[str, List[float]] = {k: [] for k in calls}
                keys = list(calls)
                for r in range(rounds):
                    for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                        calls[k]()  # untimed: the caches and threads the call before left settle
                        t0 = time.perf_counter()
                        calls[k]()
                        times[k].append(time.perf_counter() - t0)
                row = {"layer": layer.name, "threads": threads, "pointwise_share": share}
                for k in keys:
                    row[k], row[k + "_spread"] = _median_spread(times[k])
                    row[k + "_min"] = min(times[k])
                if "torch" in times:
                    row["torch_over_bf16_paired"] = statistics.median(
                        t / b for t, b in zip(times["torch"], times["bf16"]))
                rows.append(row)
    finally:
        sepcpp.set_num_threads(before)
        if torch is not None:
            torch.set_num_threads(torch_before)
    return rows


def summarize_bfloat16(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per thread count: geometric means of f32/bf16 and torch/bf16 over the pointwise-heavy layers."""
    out = {}
    for threads in sorted({r["threads"] for r in rows}):
        heavy = [r for r in rows if r["threads"] == threads and r["pointwise_share"] >= POINTWISE_HEAVY]
        if not heavy:
            continue
        gm = lambda v: math.exp(statistics.fmean(math.log(x) for x in v))  # noqa: E731
        s = {"layers": len(heavy), "f32_over_bf16": gm([r["f32"] / r["bf16"] for r in heavy]),
             "worst_f32_over_bf16": min(r["f32"] / r["bf16"] for r in heavy)}
        if all("torch" in r for r in heavy):
            s["torch_over_bf16"] = gm([r["torch"] / r["bf16"] for r in heavy])
            s["torch_over_bf16_min"] = gm([r["torch_min"] / r["bf16_min"] for r in heavy])
            s["torch_over_bf16_paired"] = gm([r["torch_over_bf16_paired"] for r in heavy])
            s["worst_torch_over_bf16_paired"] = min(r["torch_over_bf16_paired"] for r in heavy)
        out[threads] = s
    return out


def format_bfloat16(rows: List[Dict[str, Any]], summary: Dict[str, Any], isa: str, rounds: int) -> str:
    lines = [f"bfloat16: sepcpp isa {isa}; medians of {rounds} interleaved rounds (ms); spread = IQR/median",
             f"{'layer':20s} thr  pw share   f32 ms  bf16 ms  torch-bf16  f32/bf16  torch/bf16   min  paired  "
             "spreads f32/bf16/torch"]
    nan = float("nan")
    for r in rows:
        t = r.get("torch", nan)
        t_min = r.get("torch_min", nan) / r["bf16_min"]
        spreads = "/".join(f"{r[k + '_spread']:.0%}" for k in ("f32", "bf16", "torch") if k in r)
        lines.append(f"{r['layer']:20s} {r['threads']:3d}  {r['pointwise_share']:7.1%}  {r['f32'] * 1e3:7.3f}  "
                     f"{r['bf16'] * 1e3:7.3f}  {t * 1e3:10.3f}  {r['f32'] / r['bf16']:8.2f}  {t / r['bf16']:10.2f}  "
                     f"{t_min:4.2f}  {r.get('torch_over_bf16_paired', nan):6.2f}  {spreads}")
    for threads, s in summary.items():
        torch_part = ""
        if "torch_over_bf16" in s:
            torch_part = (f", torch-bf16/sepcpp-bf16 {s['torch_over_bf16']:.2f}x (by fastest calls "
                          f"{s['torch_over_bf16_min']:.2f}x, paired per round {s['torch_over_bf16_paired']:.2f}x, "
                          f"worst paired {s['worst_torch_over_bf16_paired']:.2f}x)")
        lines.append(f"{threads} thread(s), {s['layers']} pointwise-heavy layers: geometric mean f32/bf16 "
                     f"{s['f32_over_bf16']:.2f}x{torch_part} (worst f32/bf16 {s['worst_f32_over_bf16']:.2f}x)")
    return "\n".join(lines)
