"""Times a training step of a separable layer: sepcpp against PyTorch autograd and TensorFlow's tape.

A step is the forward pass plus every gradient (input, depthwise filter, pointwise filter) for a
given output gradient, on the same float32 data for every engine:

* sepcpp: ``separable_conv2d`` then ``separable_conv2d_backprop`` (NHWC);
* torch-nchw / torch-cl: ``conv2d(groups=C)`` then a 1x1 ``conv2d``, ``y.backward(dy)``, with NCHW
  tensors and with channels_last ones (TensorFlow's SAME padding done by ``F.pad``);
* tf: ``tf.nn.separable_conv2d`` under a ``GradientTape``, ``tape.gradient`` with
  ``output_gradients=dy`` (eager, NHWC).

The engines run interleaved (one step of each per round, the order rotated every round), so a
load that comes and goes on the machine hits them alike; the table gives each engine's median and
the ratio best-peer / sepcpp per layer, with the spread of the per-round ratios (10th-90th
percentile). Each engine's gradients are checked against sepcpp's first.

    python tools/bench_backward.py                      # the suite, 1 thread
    python tools/bench_backward.py --layers mnv1_56x128_b8 --threads 2 --rounds 30
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

ENGINES = ("sepcpp", "torch-nchw", "torch-cl", "tf")


def _suite():
    from sepcpp._bench import load_suite

    return load_suite()


def _tf(threads):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised
        pass
    return tf


def make_steps(layer, threads, engines):
    """engine -> (step(), gradients as NHWC NumPy arrays after a step)."""
    import sepcpp

    x, dw, pw = layer.data()
    rng = np.random.default_rng(1)
    dy = rng.standard_normal(layer.out_shape, dtype=np.float32)
    s, d = layer.stride, layer.dilation
    steps = {}
    if "sepcpp" in engines:
        sepcpp.set_num_threads(threads)

        def sep_step():
            sepcpp.separable_conv2d(x, dw, pw, s, "SAME", dilations=d)
            return sepcpp.separable_conv2d_backprop(x, dw, pw, dy, s, "SAME", dilations=d)

        steps["sepcpp"] = (sep_step, lambda r: (r.input, r.depthwise_filter, r.pointwise_filter))
    if any(e.startswith("torch") for e in engines):
        import torch
        import torch.nn.functional as F

        torch.set_num_threads(threads)
        n, h, w, c = layer.shape
        kh, kw = layer.kernel
        m, o = layer.mult, layer.out_channels
        pt, pb, pl, pr = layer.pads
        wd = torch.from_numpy(np.ascontiguousarray(dw.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)))
        wp = torch.from_numpy(np.ascontiguousarray(pw[0, 0].T.reshape(o, c * m, 1, 1)))
        for eng, fmt in (("torch-nchw", torch.contiguous_format), ("torch-cl", torch.channels_last)):
            if eng not in engines:
                continue
            xt = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=fmt).requires_grad_(True)
            dyt = torch.from_numpy(dy).permute(0, 3, 1, 2).contiguous(memory_format=fmt)
            wdt = wd.clone().contiguous(memory_format=fmt).requires_grad_(True)
            wpt = wp.clone().contiguous(memory_format=fmt).requires_grad_(True)

            def t_step(xt=xt, dyt=dyt, wdt=wdt, wpt=wpt):
                for t in (xt, wdt, wpt):
                    t.grad = None
                xp = F.pad(xt, (pl, pr, pt, pb)) if any(layer.pads) else xt
                y = F.conv2d(F.conv2d(xp, wdt, stride=s, dilation=d, groups=c), wpt)
                y.backward(dyt)
                return xt.grad, wdt.grad, wpt.grad

            def t_grads(r, c=c, m=m, kh=kh, kw=kw, o=o):
                gx, gd, gp = (t.detach().numpy() for t in r)
                return (np.transpose(gx, (0, 2, 3, 1)), gd.reshape(c, m, kh, kw).transpose(2, 3, 0, 1),
                        gp.reshape(o, c * m).T[None, None])

            steps[eng] = (t_step, t_grads)
    if "tf" in engines:
        tf = _tf(threads)
        tx, tdw, tpw, tdy = (tf.constant(a) for a in (x, dw, pw, dy))

        def tf_step():
            with tf.GradientTape() as tape:
                tape.watch([tx, tdw, tpw])
                y = tf.nn.separable_conv2d(tx, tdw, tpw, [1, s, s, 1], "SAME", dilations=[d, d])
            g = tape.gradient(y, [tx, tdw, tpw], output_gradients=tdy)
            return [v.numpy() for v in g]  # (numpy() waits for the result)

        steps["tf"] = (tf_step, lambda r: tuple(r))
    return steps


def check(steps):
    """Every engine's gradients agree with sepcpp's (relative to the largest magnitude)."""
    ref = steps["sepcpp"][1](steps["sepcpp"][0]())
    worst = {}
    for eng, (step, grads) in steps.items():
        got = grads(step())
        errs = [float(np.max(np.abs(a - b))) / max(1e-30, float(np.max(np.abs(b)))) for a, b in zip(got, ref)]
        worst[eng] = max(errs)
    return worst


def run_layer(layer, threads, engines, rounds, warmup=2):
    steps = make_steps(layer, threads, engines)
    errors = check(steps)
    names = list(steps)
    times = {e: [] for e in names}
    for r in range(warmup + rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for e in order:
            t0 = time.perf_counter()
            steps[e][0]()
            if r >= warmup:
                times[e].append(time.perf_counter() - t0)
    return times, errors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layers", help="comma-separated suite layer names (default: the whole suite)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--engines", default=",".join(ENGINES))
    args = p.parse_args(argv)
    engines = [e for e in args.engines.split(",") if e]
    if "sepcpp" not in engines:
        engines.insert(0, "sepcpp")
    suite = _suite()
    if args.layers:
        want = args.layers.split(",")
        suite = [layer for layer in suite if layer.name in want]
    print(f"training step (forward + all gradients), float32, {args.threads} thread(s), {args.rounds} "
          "interleaved rounds; median ms; ratio = best peer / sepcpp (p10-p90 of the per-round ratios)")
    head = f"{'layer':20s} " + " ".join(f"{e:>10s}" for e in engines) + f" {'ratio':>6s} {'p10-p90':>11s} worst rel err"
    print(head)
    ratios = []
    for layer in suite:
        times, errors = run_layer(layer, args.threads, engines, args.rounds)
        med = {e: float(np.median(v)) for e, v in times.items()}
        peers = [e for e in times if e != "sepcpp"]
        per_round = np.array([min(times[e][i] for e in peers) / times["sepcpp"][i] for i in range(args.rounds)]) \
            if peers else np.array([1.0])
        ratio = min(med[e] for e in peers) / med["sepcpp"] if peers else 1.0
        ratios.append(ratio)
        lo, hi = np.percentile(per_round, [10, 90])
        print(f"{layer.name:20s} " + " ".join(f"{med[e] * 1e3:10.2f}" for e in engines) +
              f" {ratio:6.2f} {lo:5.2f}-{hi:<5.2f} {max(v for k, v in errors.items() if k != 'sepcpp'):.1e}"
              if peers else "")
        sys.stdout.flush()
    if ratios:
        print(f"geometric mean ratio: {math.exp(np.mean(np.log(ratios))):.2f}; slowest layer ratio {min(ratios):.2f}")


if __name__ == "__main__":
    main()
