"""--backward: a training step (forward pass plus every gradient) against PyTorch autograd and
TensorFlow's GradientTape, on the layer suite.

A step is what a training loop pays per separable layer: the output, then the gradients with
respect to the input, the depthwise filter and the pointwise filter for a given output gradient.
Every engine computes it on the same float32 data:

* sepcpp: ``separable_conv2d`` then the fused ``separable_conv2d_backprop`` (NHWC);
* torch-nchw / torch-cl: a depthwise ``conv2d(groups=C)`` then a 1x1 ``conv2d`` on NCHW tensors,
  contiguous or channels_last (TensorFlow's SAME padding done by ``F.pad``), ``y.backward(dy)``;
* tf: ``tf.nn.separable_conv2d`` under a ``GradientTape`` (eager, NHWC), ``tape.gradient`` with
  ``output_gradients=dy``.

The engines run interleaved, one timed step of each per round with the order rotated every round,
so a load that comes and goes on the machine hits them alike; each engine's median is reported, and
the ratio best peer / sepcpp per layer with the spread of the per-round ratios (10th and 90th
percentiles). Each timed step follows an untimed step of the same engine, so that it runs as in a
training loop of that engine alone: right after PyTorch's step, PyTorch's OpenMP threads are still
spinning and the caches hold its data (at 2 threads a sepcpp step took 1.6-1.8x as long there as
after its own step; at 1 thread 1.04x). Before timing, every peer's gradients are compared with
sepcpp's.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np

BACKWARD_PEERS = ("torch-nchw", "torch-cl", "tf")
WARMUP = 2


def _sepcpp_step(layer, x, dw, pw, dy) -> Tuple[Callable, Callable]:
    import sepcpp

    s, d = layer.stride, layer.dilation

    def step():
        sepcpp.separable_conv2d(x, dw, pw, s, "SAME", dilations=d)
        return sepcpp.separable_conv2d_backprop(x, dw, pw, dy, s, "SAME", dilations=d)

    return step, lambda r: (r.input, r.depthwise_filter, r.pointwise_filter)


def _torch_step(layer, x, dw, pw, dy, channels_last: bool) -> Tuple[Callable, Callable]:
    import torch
    import torch.nn.functional as F

    n, h, w, c = layer.shape
    kh, kw = layer.kernel
    m, o = layer.mult, layer.out_channels
    pt, pb, pl, pr = layer.pads
    s, d = layer.stride, layer.dilation
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt).requires_grad_(True)
    dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
    wd = torch.from_numpy(np.ascontiguousarray(dw.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)))
    wp = torch.from_numpy(np.ascontiguousarray(pw[0, 0].T.reshape(o, c * m, 1, 1)))
    wd = wd.contiguous(memory_format=fmt).requires_grad_(True)
    wp = wp.contiguous(memory_format=fmt).requires_grad_(True)

    def step():
        for t in (xt, wd, wp):
            t.grad = None
        xp = F.pad(xt, (pl, pr, pt, pb)) if any(layer.pads) else xt
        y = F.conv2d(F.conv2d(xp, wd, stride=s, dilation=d, groups=c), wp)
        y.backward(dyt)
        return xt.grad, wd.grad, wp.grad

    def grads(r):
        gx, gd, gp = (t.detach().numpy() for t in r)
        return (np.transpose(gx, (0, 2, 3, 1)), gd.reshape(c, m, kh, kw).transpose(2, 3, 0, 1),
                gp.reshape(o, c * m).T[None, None])

    return step, grads


def _tf_step(layer, x, dw, pw, dy, threads: int) -> Tuple[Callable, Callable]:
    from .peers.tensorflow import import_tf

    tf = import_tf(threads)
    s, d = layer.stride, layer.dilation
    tx, tdw, tpw, tdy = (tf.constant(a) for a in (x, dw, pw, dy))

    def step():
        with tf.GradientTape() as tape:
            tape.watch([tx, tdw, tpw])
            y = tf.nn.separable_conv2d(tx, tdw, tpw, [1, s, s, 1], "SAME", dilations=[d, d])
        return [v.numpy() for v in tape.gradient(y, [tx, tdw, tpw], output_gradients=tdy)]  # numpy() waits

    return step, tuple


def _set_threads(peers: List[str], threads: int) -> Callable[[], None]:
    """Sets every engine's threads; returns what puts them back (sepcpp following OpenMP or its
    default again, torch at the count it had), as the suite's peers do after a run."""
    import sepcpp

    sepcpp.set_num_threads(threads)
    torch = None
    if any(p.startswith("torch") for p in peers):
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)

    def restore() -> None:
        sepcpp.set_num_threads(0)
        if torch is not None:
            torch.set_num_threads(before)

    return restore


def run_backward(layers, peers: List[str], threads: int, rounds: int, seed: int) -> Tuple[List[Dict[str, Any]],
                                                                                          List[str]]:
    """One row per layer: each engine's median step time, the ratio and its spread, the worst
    relative difference of a peer's gradients from sepcpp's."""
    notes: List[str] = []
    peers = list(peers)
    if "tf" in peers:
        from .peers.tensorflow import _TF, import_tf

        if import_tf(threads) is None:
            notes.append(f"tf: not importable ({_TF.get('error')}); left out")
            peers.remove("tf")
        else:
            notes.append(f"tf: {_TF.get('threads_note', '')}; it ran with {_TF.get('threads')} thread(s)")
    restore = _set_threads(peers, threads)
    try:
        return _run(layers, peers, threads, rounds, seed), notes
    finally:
        restore()


def _run(layers, peers: List[str], threads: int, rounds: int, seed: int) -> List[Dict[str, Any]]:
    rows = []
    for layer in layers:
        x, dw, pw = layer.data(seed)
        dy = np.random.default_rng(seed + 1).standard_normal(layer.out_shape, dtype=np.float32)
        steps = {"sepcpp": _sepcpp_step(layer, x, dw, pw, dy)}
        for p in peers:
            steps[p] = (_torch_step(layer, x, dw, pw, dy, p == "torch-cl") if p.startswith("torch")
                        else _tf_step(layer, x, dw, pw, dy, threads))
        ref = steps["sepcpp"][1](steps["sepcpp"][0]())
        errors = {}
        for p in peers:
            got = steps[p][1](steps[p][0]())
            errors[p] = max(float(np.max(np.abs(a - b))) / max(1e-30, float(np.max(np.abs(b))))
                            for a, b in zip(got, ref))
        names = list(steps)
        times: Dict[str, List[float]] = {e: [] for e in names}
        for r in range(WARMUP + rounds):
            k = r % len(names)
            for e in names[k:] + names[:k]:
                steps[e][0]()  # untimed: what the engine before left running or cached settles
                t0 = time.perf_counter()
                steps[e][0]()
                if r >= WARMUP:
                    times[e].append(time.perf_counter() - t0)
        ms = {e: 1e3 * float(np.median(v)) for e, v in times.items()}
        row: Dict[str, Any] = {"layer": layer.name, "input_shape": list(layer.shape), "threads": threads,
                               "ms": ms, "rel_err": errors, "ratio": None, "best_peer": None, "spread": None}
        if peers:
            best = min(peers, key=lambda p: ms[p])
            per_round = [min(times[p][i] for p in peers) / times["sepcpp"][i] for i in range(rounds)]
            row.update(ratio=ms[best] / ms["sepcpp"], best_peer=best,
                       spread=[float(v) for v in np.percentile(per_round, [10, 90])])
        rows.append(row)
    return rows


def summarize_backward(rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    ratios = [r["ratio"] for r in rows if r["ratio"]]
    if not ratios:
        return {"geomean_ratio": None, "min_ratio": None, "slowest_layer": None}
    worst = min(rows, key=lambda r: r["ratio"] or math.inf)
    return {"geomean_ratio": math.exp(sum(math.log(v) for v in ratios) / len(ratios)), "min_ratio": min(ratios),
            "slowest_layer": worst["layer"]}


def format_backward(rows: List[Dict[str, Any]], peers: List[str], summary: Dict[str, Any], rounds: int,
                    notes: List[str]) -> str:
    threads = rows[0]["threads"] if rows else 1
    engines = ["sepcpp"] + list(peers)
    lines = [f"training step (forward + gradients of input, depthwise and pointwise filters), float32, SAME, "
             f"{threads} thread(s), {rounds} interleaved rounds; median ms; ratio = best peer / sepcpp "
             "(p10-p90 of the per-round ratios)",
             f"{'layer':20s} " + " ".join(f"{e:>10s}" for e in engines)
             + (f" {'ratio':>6s} {'p10-p90':>11s} {'grad err':>8s}" if peers else "")]
    for r in rows:
        line = f"{r['layer']:20s} " + " ".join(f"{r['ms'][e]:10.2f}" for e in engines)
        if r["ratio"] is not None:
            lo, hi = r["spread"]
            line += f" {r['ratio']:6.2f} {lo:5.2f}-{hi:<5.2f} {max(r['rel_err'].values()):8.1e}"
        lines.append(line)
    if summary.get("geomean_ratio"):
        lines.append(f"geometric mean of the ratios: {summary['geomean_ratio']:.2f}; slowest layer: "
                     f"{summary['slowest_layer']} ({summary['min_ratio']:.2f})")
    lines += notes
    return "\n".join(lines)
