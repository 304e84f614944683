"""Command line: ``python -m sepcpp demo`` | ``info`` | ``bench [options]``."""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np


def _demo() -> int:
    """The founding example: one separable convolution computed three ways."""
    import sepcpp

    x = np.arange(20, dtype=np.float32).reshape(1, 1, 10, 2)
    w1 = np.ones((1, 3, 2, 2), np.float32)  # regular conv filter
    w2 = np.ones((1, 3, 2, 1), np.float32)  # depthwise filter
    w3 = np.ones((1, 1, 2, 2), np.float32)  # pointwise filter
    y1 = sepcpp.conv2d(x, w1, [1, 1, 1, 1], "VALID")
    y2 = sepcpp.depthwise_conv2d(x, w2, [1, 1, 1, 1], "VALID")
    y3 = sepcpp.conv2d(y2, w3, [1, 1, 1, 1], "VALID")
    y4 = sepcpp.separable_conv2d(x, w2, w3, [1, 1, 1, 1], "VALID")

    def rows(a):
        return a.reshape(-1, a.shape[-1]).astype(int).tolist()

    print("x = arange(20).reshape(1, 1, 10, 2), all filters ones, VALID")
    print(f"y1 = conv2d(x, w1[1,3,2,2])           shape {y1.shape}: {rows(y1)}")
    print(f"y2 = depthwise_conv2d(x, w2[1,3,2,1]) shape {y2.shape}: {rows(y2)}")
    print(f"y3 = conv2d(y2, w3[1,1,2,2])          shape {y3.shape}: {rows(y3)}")
    print(f"y4 = separable_conv2d(x, w2, w3)      shape {y4.shape}: {rows(y4)}")
    ok = np.array_equal(y1, y3) and np.array_equal(y1, y4)
    print(f"depthwise + pointwise == separable == regular conv: {ok}")

    rng = np.random.default_rng(0)
    w1r = np.clip(rng.standard_normal(w1.shape), -2, 2).astype(np.float32)
    w2r = np.clip(rng.standard_normal(w2.shape), -2, 2).astype(np.float32)
    w3r = np.clip(rng.standard_normal(w3.shape), -2, 2).astype(np.float32)
    z1 = sepcpp.conv2d(x, w1r, 1, "VALID")
    z3 = sepcpp.pointwise_conv2d(sepcpp.depthwise_conv2d(x, w2r, 1, "VALID"), w3r)
    z4 = sepcpp.separable_conv2d(x, w2r, w3r, 1, "VALID")
    sep_diff = float(np.max(np.abs(z3 - z4)))
    conv_diff = float(np.max(np.abs(z1 - z4)))
    print("random (truncated normal) filters:")
    print(f"  max |depthwise+pointwise - separable| = {sep_diff:.3g} (float32 rounding)")
    print(f"  max |regular conv - separable|        = {conv_diff:.3g} (regular conv is not separable)")
    ok = ok and sep_diff <= 1e-4 * max(1.0, float(np.max(np.abs(z4)))) and conv_diff > 1e-3
    info = sepcpp.info()
    print(f"sepcpp {info['version']}, isa {info['isa']}, {info['num_threads']} thread(s)")
    return 0 if ok else 1


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "bench":  # everything after "bench" is the benchmark's own
        from . import _bench

        return _bench.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m sepcpp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="reproduce the founding example (three ways agree)")
    sub.add_parser("info", help="print sepcpp.info()")
    sub.add_parser("bench", add_help=False,
                   help="time the layer suite (and, with --slicenet, the SliceNet rows) against NumPy/TensorFlow/PyTorch "
                        "(python -m sepcpp bench --help)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo()
    if args.command == "info":
        import sepcpp

        print(json.dumps(sepcpp.info(), indent=2))
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
