"""sepcpp's fused separable convolution on the GPU against PyTorch's cuDNN.

    python tools/bench_cuda.py [--batch 1 32] [--repeat 50] [--layers NAME,...] [--json FILE]

For each layer of the suite (the CPU benchmark's layers, SAME padding) at each batch size, times
sepcpp.separable_conv2d on a PyTorch CUDA tensor in NHWC and in NCHW, and cuDNN's separable block
(a grouped convolution, groups = C, then a 1x1 convolution) on NCHW and on channels_last tensors,
in float32 with TF32 off (both sides compute in full fp32), then float64 for sepcpp alone. Each
time is the median of --repeat timed calls after warm-up, measured with CUDA events on the current
stream; results are checked against cuDNN before timing. Prints a table with the ratio
cuDNN-best / sepcpp (above 1: sepcpp is faster) and the geometric mean per batch size.

(The CLI's ``python -m sepcpp bench --device cuda`` is meant to run this; that wiring waits for the
benchmark's move into python/sepcpp/bench/.)
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import zlib
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np

# The benchmark suite (the same layers as the CPU benchmark's): name, (N, H, W, C), kernel,
# stride, dilation, depth multiplier, output channels. N is replaced by --batch.
SUITE_ENTRIES = [
    ("mnv1_112x32_s1", (1, 112, 112, 32), (3, 3), 1, 1, 1, 64),
    ("mnv1_112x64_s2", (1, 112, 112, 64), (3, 3), 2, 1, 1, 128),
    ("mnv1_56x128_s1", (1, 56, 56, 128), (3, 3), 1, 1, 1, 128),
    ("mnv1_28x256_s1", (1, 28, 28, 256), (3, 3), 1, 1, 1, 256),
    ("mnv1_14x512_s1", (1, 14, 14, 512), (3, 3), 1, 1, 1, 512),
    ("mnv1_7x1024_s1", (1, 7, 7, 1024), (3, 3), 1, 1, 1, 1024),
    ("mnv1_56x128_b8", (8, 56, 56, 128), (3, 3), 1, 1, 1, 128),
    ("xception_19x728", (1, 19, 19, 728), (3, 3), 1, 1, 1, 728),
    ("effnet_28x240_k5", (1, 28, 28, 240), (5, 5), 1, 1, 1, 80),
    ("convnext_56x96_k7", (1, 56, 56, 96), (7, 7), 1, 1, 1, 384),
    ("mult2_28x64", (1, 28, 28, 64), (3, 3), 1, 1, 2, 128),
    ("slicenet_1d_k3", (8, 1, 256, 1024), (1, 3), 1, 1, 1, 1024),
    ("slicenet_1d_k3_d4", (8, 1, 256, 1024), (1, 3), 1, 4, 1, 1024),
    ("slicenet_1d_k15", (8, 1, 256, 512), (1, 15), 1, 1, 1, 512),
]


def _same(size: int, k: int, s: int, d: int) -> Tuple[int, int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return out, total // 2, total - total // 2


@dataclass
class Layer:
    name: str
    shape: Tuple[int, int, int, int]  # N, H, W, C
    kernel: Tuple[int, int]
    stride: int
    dilation: int
    mult: int
    out_channels: int
    pads: Tuple[int, int, int, int] = field(init=False)  # top, bottom, left, right (SAME)

    def __post_init__(self) -> None:
        _, h, w, _ = self.shape
        _, pt, pb = _same(h, self.kernel[0], self.stride, self.dilation)
        _, pl, pr = _same(w, self.kernel[1], self.stride, self.dilation)
        self.pads = (pt, pb, pl, pr)

    def with_batch(self, n: int) -> "Layer":
        return Layer(self.name, (n,) + self.shape[1:], self.kernel, self.stride, self.dilation, self.mult,
                     self.out_channels)

    @property
    def flops(self) -> int:
        n, h, w, c = self.shape
        oh = _same(h, self.kernel[0], self.stride, self.dilation)[0]
        ow = _same(w, self.kernel[1], self.stride, self.dilation)[0]
        mid = n * oh * ow * c * self.mult
        return 2 * mid * (self.kernel[0] * self.kernel[1] + self.out_channels)

    def data(self, seed: int = 0):
        rng = np.random.default_rng(seed + zlib.crc32(self.name.encode()))
        n, h, w, c = self.shape
        kh, kw = self.kernel
        x = rng.standard_normal(self.shape, dtype=np.float32)
        dw = rng.standard_normal((kh, kw, c, self.mult), dtype=np.float32) / math.sqrt(kh * kw)
        pw = rng.standard_normal((1, 1, c * self.mult, self.out_channels), dtype=np.float32) / math.sqrt(
            c * self.mult)
        return x, dw.astype(np.float32), pw.astype(np.float32)


SUITE: List[Layer] = [Layer(e[0], tuple(e[1]), tuple(e[2]), *e[3:]) for e in SUITE_ENTRIES]


def same_pads(layer: Layer) -> Tuple[int, int, int, int]:
    return layer.pads


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


def bench(batches, repeat, names=None, out=sys.stdout):
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
    for base in SUITE:
        if names and base.name not in names:
            continue
        for n in batches:
            layer = base.with_batch(n)
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[1, 32])
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--layers", default="", help="comma-separated layer names (default: all)")
    p.add_argument("--json", default="", help="also write the rows to this file")
    a = p.parse_args(argv)
    rows = bench(a.batch, a.repeat, set(filter(None, a.layers.split(","))) or None)
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
