"""bfloat16 against float32 and PyTorch: sepcpp's prepacked SeparableConv2D on the benchmark suite's
layers in bfloat16 (ml_dtypes.bfloat16) and in float32, beside PyTorch's bfloat16 (channels_last:
a grouped 3x3 then a 1x1 conv2d under no_grad, oneDNN's bfloat16 kernels), at 1 and 2 threads.

    python tools/bench_bf16.py [--rounds 11] [--threads 1,2] [--layers a,b,...]

Calls are interleaved (one call of each contender per round, in a rotating order) and each time is
the median over the rounds, so that load from other processes hits all alike; spreads (the
inter-quartile range over the median) are printed beside. Ratios: f32/bf16 is sepcpp float32 time
over sepcpp bfloat16 time (above 1: bfloat16 faster); torch/bf16 is PyTorch bfloat16 over sepcpp
bfloat16. "pw share" is the pointwise step's share of the layer's multiply-adds; the geometric
means are over the layers where it is at least 90% (pointwise-heavy).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import ml_dtypes
import numpy as np

import sepcpp
from sepcpp._bench import SUITE, Layer

BF16 = ml_dtypes.bfloat16


def _quartiles(ts):
    q = statistics.quantiles(ts, n=4)
    return statistics.median(ts), (q[2] - q[0]) / statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--layers", default="")
    ap.add_argument("--no-torch", action="store_true")
    args = ap.parse_args()
    torch = None
    if not args.no_torch:
        import torch  # noqa: PLC0415
    wanted = set(args.layers.split(",")) - {""}
    rng = np.random.default_rng(0)
    rows = []
    print(f"isa {sepcpp.info()['isa']}; medians of {args.rounds} interleaved rounds (ms); spread = IQR/median")
    print(f"{'layer':20s} thr  pw share   f32 ms  bf16 ms  torch-bf16  f32/bf16  torch/bf16  spreads f32/bf16/torch")
    for entry in SUITE:
        L = Layer(*entry)
        if wanted and L.name not in wanted:
            continue
        n, h, w, c = L.shape
        kh, kw = L.kernel
        cm, o = c * L.mult, L.out_channels
        x = rng.standard_normal(L.shape, dtype=np.float32).astype(BF16)
        dw = (rng.standard_normal((kh, kw, c, L.mult), dtype=np.float32) / math.sqrt(kh * kw)).astype(BF16)
        pw = (rng.standard_normal((1, 1, cm, o), dtype=np.float32) / math.sqrt(cm)).astype(BF16)
        f32 = [a.astype(np.float32) for a in (x, dw, pw)]
        args_ = dict(strides=L.stride, padding="SAME", dilations=L.dilation)
        lay16 = sepcpp.SeparableConv2D(dw, pw, **args_)
        lay32 = sepcpp.SeparableConv2D(f32[1], f32[2], **args_)
        pw_share = cm * o / (cm * o + kh * kw * cm)
        calls = {"f32": lambda: lay32(f32[0]), "bf16": lambda: lay16(x)}
        if torch is not None:
            tx = torch.from_numpy(f32[0]).permute(0, 3, 1, 2).to(torch.bfloat16).contiguous(
                memory_format=torch.channels_last)
            tdw = torch.from_numpy(f32[1]).permute(2, 3, 0, 1).reshape(cm, 1, kh, kw).to(torch.bfloat16)
            tpw = torch.from_numpy(f32[2][0, 0].T.copy()).reshape(o, cm, 1, 1).to(torch.bfloat16)
            tdw = tdw.contiguous(memory_format=torch.channels_last)
            tpw = tpw.contiguous(memory_format=torch.channels_last)
            F = torch.nn.functional
            pad = (L.pads[2], L.pads[3], L.pads[0], L.pads[1])

            def tcall(tx=tx, tdw=tdw, tpw=tpw, pad=pad):
                with torch.no_grad():
                    y = F.conv2d(F.pad(tx, pad) if any(pad) else tx, tdw, stride=L.stride, dilation=L.dilation, groups=c)
                    return F.conv2d(y, tpw)

            calls["torch"] = tcall
        for thr in [int(t) for t in args.threads.split(",")]:
            sepcpp.set_num_threads(thr)
            if torch is not None:
                torch.set_num_threads(thr)
            for f in calls.values():
                f(), f()
            times = {k: [] for k in calls}
            keys = list(calls)
            for r in range(args.rounds):
                for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                    t0 = time.perf_counter()
                    calls[k]()
                    times[k].append(time.perf_counter() - t0)
            med = {k: _quartiles(v) for k, v in times.items()}
            t32, t16 = med["f32"][0], med["bf16"][0]
            tt = med["torch"][0] if "torch" in med else float("nan")
            rows.append((L.name, thr, pw_share, t32 / t16, tt / t16))
            print(f"{L.name:20s} {thr:3d}  {pw_share:7.1%}  {t32 * 1e3:7.3f}  {t16 * 1e3:7.3f}  {tt * 1e3:10.3f}  "
                  f"{t32 / t16:8.2f}  {tt / t16:10.2f}  "
                  + "/".join(f"{med[k][1]:.0%}" for k in keys), flush=True)
    for thr in sorted({r[1] for r in rows}):
        heavy = [r for r in rows if r[1] == thr and r[2] >= 0.9]
        if heavy:
            g32 = math.exp(statistics.fmean(math.log(r[3]) for r in heavy))
            gt = math.exp(statistics.fmean(math.log(r[4]) for r in heavy)) if torch is not None else float("nan")
            print(f"{thr} thread(s), {len(heavy)} pointwise-heavy layers: geometric mean f32/bf16 {g32:.2f}x, "
                  f"torch-bf16/sepcpp-bf16 {gt:.2f}x (worst f32/bf16 {min(r[3] for r in heavy):.2f}x)")


if __name__ == "__main__":
    main()
