"""Command line: ``sepcpp demo | info | bench [options]`` (also ``python -m sepcpp ...``)."""

from __future__ import annotations

import argparse
import json
import os
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


def _prog() -> str:
    """How the user ran us: ``sepcpp`` (the console script) or ``python -m sepcpp``."""
    return "sepcpp" if os.path.basename(sys.argv[0] or "") == "sepcpp" else "python -m sepcpp"


DESCRIPTION = ("sepcpp: depthwise, pointwise and separable convolution with TensorFlow's semantics. "
               "Commands: demo (the founding example), info (what this build has and uses), "
               "bench (the layer suite against its peers; bench --help for its options).")


def _info_table(info: dict) -> str:
    def text(v):
        if isinstance(v, (list, tuple)):
            return ", ".join(map(str, v))
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, dict):  # info()["cuda"], info()["adaptive_threads"]
            return "; ".join(f"{k} {text(x)}" for k, x in v.items())
        return str(v)

    labels = [("version", "version"), ("isa", "kernel level in use"),
              ("isa_available", "levels usable on this CPU"), ("isa_compiled", "levels compiled in"),
              ("isa_forced", "forced by SEPCPP_ISA"), ("threading", "threads from"),
              ("num_threads", "threads per call"), ("adaptive_threads", "contention-adaptive threads"),
              ("openmp", "OpenMP linked"), ("cuda", "CUDA")]
    rows = [(label, text(info[key])) for key, label in labels if key in info]
    rows += [(key, text(v)) for key, v in info.items() if key not in dict(labels)]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = _prog()
    if argv and argv[0] == "bench":  # everything after "bench" is the benchmark's own
        from .bench import cli

        return cli.main(argv[1:], prog=f"{prog} bench")
    from . import __version__

    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"sepcpp {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("demo", help="reproduce the founding example (three ways agree)")
    info_p = sub.add_parser("info", help="what this build has and uses (a table; --json for machines)")
    info_p.add_argument("--json", action="store_true", help="print sepcpp.info() as JSON")
    sub.add_parser("bench", add_help=False,
                   help="time the layer suite (and, with --slicenet, the SliceNet rows) against NumPy, "
                        "TensorFlow, PyTorch and the inference engines ONNX Runtime, OpenVINO and LiteRT "
                        f"({prog} bench --help)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        return _demo()
    if args.command == "info":
        import sepcpp

        info = sepcpp.info()
        print(json.dumps(info, indent=2) if args.json else _info_table(info))
        return 0
    return 2


def run() -> int:
    """The console script's entry point: main(), quiet when its reader goes away (`| head`)."""
    try:
        return main()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")  # nothing more reaches the reader; exit quietly
        return 0


if __name__ == "__main__":
    sys.exit(run())
