"""``python -m sepcpp bench --device cuda``: the fused separable convolution on the GPU against
PyTorch's cuDNN.

    python -m sepcpp bench --device cuda [--batch 1 32] [--repeat 50] [--layers NAME,...] [--json FILE]

For each layer of the suite (``layers.SUITE``, SAME padding) at each batch size, times
sepcpp.separable_conv2d on a PyTorch CUDA tensor in NHWC and in NCHW, and cuDNN's separable block
(a grouped convolution, groups = C, then a 1x1 convolution) on NCHW and on channels_last tensors,
in float32 with TF32 off (both sides compute in full fp32), then float64 for sepcpp alone. Each
time is the median of --repeat timed calls after warm-up, measured with CUDA events on the current
stream; results are checked against cuDNN before timing. Prints a table with the ratio
cuDNN-best / sepcpp (above 1: sepcpp is faster) and the geometric mean per batch size. Needs a CUDA
build of sepcpp, a GPU and PyTorch with CUDA.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from typing import List, Optional

from .layers import Layer, load_suite, select_layers

PROG = "python -m sepcpp bench --device cuda"


def with_batch(layer: Layer, n: int) -> Layer:
    return Layer(layer.name, (n,) + tuple(layer.shape[1:]), layer.kernel, layer.stride, layer.dilation, layer.mult,
                 layer.out_channels)


def _time(fn, repeat: int, torch) -> float:
    """Median milliseconds of one call, by CUDA events on the current stream."""
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def bench(batches, repeat, suite: List[Layer], out=sys.stdout):
    import torch
    import torch.nn.functional as F

    import sepcpp

    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True  # cuDNN picks its fastest algorithm per shape (its best case)
    rows = []
    print(f"# {torch.cuda.get_device_name()}; torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}; "
          f"sepcpp {sepcpp.__version__}; float32, TF32 off; median of {repeat} calls, ms", file=out)
    head = (f"{'layer':<20} {'N':>3} {'sep NHWC':>9} {'sep NCHW':>9} {'cudnn NCHW':>10} {'cudnn CL':>9} "
            f"{'best/sep':>8} {'sep f64':>8} {'TFLOP/s':>8}")
    print(head, file=out)
    for base in suite:
        for n in batches:
            layer = with_batch(base, n)
            x, dw, pw = layer.data()
            C = layer.shape[3]
            kh, kw = layer.kernel
            pt, pb, pl, pr = layer.pads
            xh = torch.as_tensor(x, device="cuda")  # NHWC
            xn = xh.permute(0, 3, 1, 2).contiguous()
            xcl = xn.to(memory_format=torch.channels_last)
            dwt, pwt = torch.as_tensor(dw, device="cuda"), torch.as_tensor(pw, device="cuda")
            w_dw = dwt.permute(2, 3, 0, 1).reshape(C * layer.mult, 1, kh, kw).contiguous()
            w_pw = pwt[0, 0].t().contiguous()[:, :, None, None]
            w_dw_cl = w_dw.to(memory_format=torch.channels_last)
            w_pw_cl = w_pw.to(memory_format=torch.channels_last)

            def cudnn(inp, a, b):
                return F.conv2d(F.conv2d(F.pad(inp, (pl, pr, pt, pb)), a, stride=layer.stride,
                                         dilation=layer.dilation, groups=C), b)

            def sep_nhwc():
                return sepcpp.separable_conv2d(xh, dwt, pwt, layer.stride, "SAME", dilations=layer.dilation)

            def sep_nchw():
                return sepcpp.separable_conv2d(xn, dwt, pwt, layer.stride, "SAME", "NCHW", dilations=layer.dilation)

            ref = cudnn(xn, w_dw, w_pw)
            for got in (sep_nhwc().permute(0, 3, 1, 2), sep_nchw()):
                err = (got - ref).abs().max().item() / max(ref.abs().max().item(), 1e-30)
                if not err < 1e-4:
                    raise AssertionError(f"{layer.name} N={n}: sepcpp differs from cuDNN by {err:.3g} (relative)")
            t = {
                "sep_nhwc": _time(sep_nhwc, repeat, torch),
                "sep_nchw": _time(sep_nchw, repeat, torch),
                "cudnn_nchw": _time(lambda: cudnn(xn, w_dw, w_pw), repeat, torch),
                "cudnn_cl": _time(lambda: cudnn(xcl, w_dw_cl, w_pw_cl), repeat, torch),
            }
            xh64, dw64, pw64 = xh.double(), dwt.double(), pwt.double()
            t["sep_f64"] = _time(lambda: sepcpp.separable_conv2d(xh64, dw64, pw64, layer.stride, "SAME",
                                                                 dilations=layer.dilation), repeat, torch)
            sep = min(t["sep_nhwc"], t["sep_nchw"])
            ratio = min(t["cudnn_nchw"], t["cudnn_cl"]) / sep
            rows.append({"layer": layer.name, "batch": n, **t, "ratio": ratio})
            print(f"{layer.name:<20} {n:>3} {t['sep_nhwc']:>9.4f} {t['sep_nchw']:>9.4f} {t['cudnn_nchw']:>10.4f} "
                  f"{t['cudnn_cl']:>9.4f} {ratio:>8.2f} {t['sep_f64']:>8.3f} {layer.flops / sep / 1e9:>8.2f}",
                  file=out)
    for n in batches:
        r = [row["ratio"] for row in rows if row["batch"] == n]
        if r:
            gm = math.exp(sum(math.log(v) for v in r) / len(r))
            print(f"# batch {n}: geometric mean of cuDNN-best / sepcpp-best = {gm:.2f} over {len(r)} layers "
                  f"(above 1: sepcpp faster)", file=out)
    return rows


def main(argv: Optional[List[str]] = None, prog: str = PROG) -> int:
    p = argparse.ArgumentParser(prog=prog, description="Times sepcpp's fused separable convolution on the GPU "
                                "against PyTorch's cuDNN (grouped conv + 1x1), float32 with TF32 off.")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 32], help="batch sizes (default 1 32)")
    p.add_argument("--repeat", type=int, default=50, help="timed calls per measurement (median; default 50)")
    p.add_argument("--layers", help="comma-separated layer names (default: all)")
    p.add_argument("--json", metavar="FILE", help="also write the rows to FILE")
    a = p.parse_args(argv)
    import sepcpp

    cuda = sepcpp.info()["cuda"]
    if cuda["devices"] == 0:
        print(f"{prog}: no GPU to run on: {cuda.get('reason')}", file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        print(f"{prog}: needs PyTorch with CUDA (the peer, and the tensors sepcpp is given)", file=sys.stderr)
        return 2
    suite = select_layers(load_suite(), a.layers)
    if suite is None:
        return 2
    rows = bench(a.batch, a.repeat, suite)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
