"""The command line: ``python -m sepcpp bench [options]`` (also ``sepcpp bench``,
``python benchmarks/bench.py``). Options are checked here; each mode (the suite, --slicenet,
--under-load, --call-overhead, --dask, --backward) then runs and prints a table, or JSON with --json."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from . import peers as peer_impls
from .layers import (
    SLICENET_BATCH,
    SLICENET_CHANNELS,
    SLICENET_GROUPS,
    SLICENET_LENGTH,
    SLICENET_WINDOWS,
    load_suite,
    select_layers,
    slicenet_rows,
)
from .measure import TOLERANCE, all_threads, machine_info, measure_peak, parse_ints, parse_threads
from .peers.sepcpp import resolve_api
from .report import (
    format_dask,
    format_overhead,
    format_slicenet,
    format_table,
    format_under_load,
    json_default,
    plot_ratios,
)
from .backward import BACKWARD_PEERS
from .under_load import UNDER_LOAD_LIMIT

PROG = "python -m sepcpp bench"


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    suite_peers, slicenet_peers = peer_impls.SUITE_PEERS, peer_impls.SLICENET_PEERS
    p = argparse.ArgumentParser(
        prog=prog,
        description="Times sepcpp's separable convolution on a layer suite against NumPy, TensorFlow, "
                    "PyTorch, ONNX Runtime, OpenVINO and LiteRT (those importable), in this process, on "
                    "the same data.")
    p.add_argument("--layers",
                   help="comma-separated layer names (default: the whole suite); 'list' lists them")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu (this table) or cuda: the GPU benchmark against cuDNN, with options of its own "
                        "(--device cuda --help)")
    p.add_argument("--repeat", type=int, default=11, help="timed calls per measurement (median; default 11)")
    p.add_argument("--rounds", type=int, default=1,
                   help="take turns this many times per row, sepcpp and the peers interleaved, and report "
                        "the median of the rounds' medians (default 1; more on a busy machine)")
    p.add_argument("--threads",
                   help="thread counts, e.g. '1,all' (default; with --slicenet: 'all') or '1,2,4'")
    p.add_argument("--no-peers", action="store_true", help="time sepcpp only")
    p.add_argument("--peers", help=f"peers to time (default {','.join(suite_peers)}; with --slicenet "
                                   f"{','.join(slicenet_peers)})")
    p.add_argument("--json", action="store_true", help="print machine-readable results instead of the table")
    p.add_argument("--plot", metavar="FILE.png", help="bar chart of the per-layer ratios (needs matplotlib)")
    p.add_argument("--call-overhead", action="store_true",
                   help="measure only the call overhead: a whole separable call on a (1,1,1,8) input, "
                        "median over --calls calls, sepcpp vs torch vs tf (microseconds)")
    p.add_argument("--calls", type=int, default=None,
                   help="calls for --call-overhead (default 2000) or per measurement for --under-load "
                        "(default 200)")
    under_load_peers = ",".join(peer_impls.UNDER_LOAD_PEERS)
    p.add_argument("--under-load", action="store_true",
                   help="tail latency with another process keeping one core busy: per layer, the quiet "
                        f"median, the loaded median and p90 (default peers {under_load_peers}); "
                        f"target: loaded p90 <= {UNDER_LOAD_LIMIT:g}x the quiet median")
    p.add_argument("--peak-gflops", help="FP32 FMA peak: one core's GFLOP/s (scaled by the threads), or "
                                         "per thread count as '1=X,all=Y'")
    p.add_argument("--bandwidth-gbs", help="memory bandwidth in GB/s for every row, or '1=X,all=Y'")
    p.add_argument("--api", choices=("auto", "layer", "functional"), default="auto",
                   help="sepcpp entry point: the prepacked SeparableConv2D where it exists (auto), or "
                        "separable_conv2d")
    p.add_argument("--budget", type=float, default=0.5,
                   help="seconds of timed calls per measurement before repeats are cut (default 0.5)")
    p.add_argument("--suite", help="a Python file defining SUITE (default: the built-in suite)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    sn = p.add_argument_group(
        "SliceNet rows", "--slicenet times, instead of the layer suite, the paper's 1-D rows: batch "
        f"{SLICENET_BATCH}, length {SLICENET_LENGTH}, channels {'/'.join(map(str, SLICENET_CHANNELS))}, "
        f"windows {'/'.join(map(str, SLICENET_WINDOWS))}, "
        f"groups {'/'.join(map(str, SLICENET_GROUPS))} (where "
        "g divides C), CAUSAL padding, against TensorFlow, PyTorch, ONNX Runtime and OpenVINO; the other "
        "options narrow them")
    sn.add_argument("--slicenet", action="store_true", help="time the SliceNet rows")
    sn.add_argument("--channels", help="comma-separated channel counts (default: all)")
    sn.add_argument("--windows", help="comma-separated window sizes (default: all)")
    sn.add_argument("--groups", help="comma-separated group counts (default: all)")
    sn.add_argument("--batch", type=int, default=SLICENET_BATCH, help=argparse.SUPPRESS)
    sn.add_argument("--length", type=int, default=SLICENET_LENGTH, help=argparse.SUPPRESS)
    dk = p.add_argument_group(
        "Dask", "--dask times sepcpp.dask (lazy image -> separable layer -> sum) against chunk size and "
        "workers (--threads, default '1,all'), on the threaded scheduler and on dask.distributed worker "
        "processes, the in-memory call as the reference")
    bw = p.add_argument_group(
        "Training step", "--backward times, on the layer suite (--layers, --suite), a training step: the forward "
        "pass and the gradients of input, depthwise and pointwise filters, sepcpp's fused backprop against PyTorch "
        "autograd (NCHW and channels_last) and TensorFlow's GradientTape, interleaved; --repeat rounds "
        "(default 11), --threads one count (default 1), --peers among " + ",".join(BACKWARD_PEERS))
    bw.add_argument("--backward", action="store_true", help="time a training step")
    dk.add_argument("--dask", action="store_true", help="time sepcpp.dask")
    dk.add_argument("--dask-size", type=int, default=4096, help="image height and width (default 4096)")
    dk.add_argument("--dask-channels", type=int, default=16, help="channels in and out (default 16)")
    dk.add_argument("--dask-chunks", help="chunk heights/widths (default 512,1024,2048)")
    dk.add_argument("--no-distributed", action="store_true", help="threaded scheduler rows only")
    bf = p.add_argument_group(
        "bfloat16", "--bfloat16 times the suite's layers (--layers, --threads, --repeat rounds) in bfloat16 "
        "(ml_dtypes.bfloat16) against sepcpp in float32 and PyTorch's bfloat16 (channels_last), calls "
        "interleaved")
    bf.add_argument("--bfloat16", action="store_true", help="time bfloat16 layers (needs ml_dtypes)")
    prog_g = p.add_mutually_exclusive_group()
    prog_g.add_argument("--progress", dest="progress", action="store_true", default=None,
                        help="show a progress bar on stderr (default: when stderr is a terminal)")
    prog_g.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 2


def _check_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("--plot needs matplotlib, which is not installed: pip install matplotlib", file=sys.stderr)
        return False
    return True


def _device(argv: List[str]):
    """``--device cpu|cuda`` (read before the other options, which are the CPU benchmark's) and the
    other arguments."""
    rest, device, i = [], "cpu", 0
    while i < len(argv):
        if argv[i] == "--device" and i + 1 < len(argv):
            device, i = argv[i + 1], i + 2
            continue
        if argv[i].startswith("--device="):
            device = argv[i].split("=", 1)[1]
        else:
            rest.append(argv[i])
        i += 1
    return device, rest


def main(argv: Optional[List[str]] = None, prog: str = PROG) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    device, rest = _device(argv)
    if device == "cuda":  # the GPU benchmark against cuDNN, with options of its own (--device cuda --help)
        from . import cuda

        return cuda.main(rest, prog=f"{prog} --device cuda")
    if device != "cpu":
        return _fail(f"--device: expected cpu or cuda, got {device!r}")
    args = build_parser(prog).parse_args(rest)
    if args.dask:
        return _main_dask(args)
    if args.backward:
        return _main_backward(args)
    if args.repeat < 1:
        return _fail("--repeat: must be >= 1")
    if args.rounds < 1:
        return _fail("--rounds: must be >= 1")
    if args.bfloat16:
        return _main_bfloat16(args)
    known = peer_impls.SLICENET_PEERS if args.slicenet else peer_impls.SUITE_PEERS
    if args.under_load and not args.peers:
        args.peers = ",".join(peer_impls.UNDER_LOAD_PEERS)
    peers: List[str] = []
    if not args.no_peers:
        peers = [p.strip() for p in (args.peers or ",".join(known)).split(",") if p.strip()]
        bad = [p for p in peers if p not in known]
        if bad:
            return _fail(f"--peers: unknown {', '.join(bad)}; choose from {', '.join(known)}")
    if args.slicenet and (args.layers or args.suite or args.call_overhead):
        return _fail("--slicenet: not with --layers, --suite or --call-overhead")
    if not args.slicenet and (args.channels or args.windows or args.groups):
        return _fail("--channels, --windows, --groups: only with --slicenet")
    api = resolve_api(args.api)
    progress = sys.stderr.isatty() if args.progress is None else args.progress

    if args.under_load and (args.slicenet or args.call_overhead):
        return _fail("--under-load: not with --slicenet or --call-overhead")
    if args.under_load:
        if args.calls is None:
            args.calls = 200
        if args.budget == 0.5:  # the default: tails need more calls than medians
            args.budget = 2.0
        return _main_under_load(args, peers, api, progress)
    if args.call_overhead:
        from .suite import call_overhead

        o = call_overhead(args.calls or 2000, peers, args.api)
        o["machine"] = machine_info()
        print(json.dumps(o, indent=2) if args.json else format_overhead(o))
        return 0
    if args.slicenet:
        return _main_slicenet(args, peers, api, progress)
    return _main_suite(args, peers, api, progress)


def _main_bfloat16(args) -> int:
    if args.slicenet or args.under_load or args.call_overhead or args.plot or args.json:
        return _fail("--bfloat16: not with --slicenet, --under-load, --call-overhead, --plot or --json")
    try:
        import ml_dtypes  # noqa: F401, PLC0415
    except ImportError:
        return _fail("--bfloat16: needs ml_dtypes (pip install ml_dtypes)")
    from .. import _core  # noqa: PLC0415
    from .bfloat16 import format_bfloat16, run_bfloat16, summarize_bfloat16  # noqa: PLC0415

    try:
        layers = select_layers(load_suite(args.suite), args.layers)
        thread_counts = parse_threads(args.threads or "1,all", all_threads())
    except ValueError as e:
        return _fail(str(e))
    if layers is None:
        return 2  # (select_layers said why)
    with_torch = not args.no_peers
    if with_torch:
        try:
            import torch  # noqa: F401, PLC0415
        except ImportError:
            with_torch = False
    rows = run_bfloat16(layers, thread_counts, args.repeat, with_torch, args.seed)
    print(format_bfloat16(rows, summarize_bfloat16(rows), _core.isa_in_use(), args.repeat))
    return 0


def _main_suite(args, peers: List[str], api: str, progress: bool) -> int:
    from .runner import summarize
    from .suite import run_layers

    suite = load_suite(args.suite)
    if args.layers == "list":
        for layer in suite:
            print(f"{layer.name:20s} {layer.shape} k{layer.kernel} s{layer.stride} d{layer.dilation} "
                  f"m{layer.mult} o{layer.out_channels}  {layer.flops / 1e6:.0f} MFLOP")
        return 0
    layers = select_layers(suite, args.layers)
    if layers is None:
        return 2
    try:
        thread_counts = parse_threads(args.threads or "1,all", all_threads())
    except ValueError as e:
        return _fail(str(e))
    settings = {"threads": thread_counts, "repeat": args.repeat, "rounds": args.rounds,
                "budget_s": args.budget, "peers": peers,
                "sepcpp_api": api, "seed": args.seed, "tolerance": TOLERANCE, "padding": "SAME",
                "dtype": "float32", "layout": "NHWC"}
    def run(limits):
        return run_layers(layers, thread_counts, peers, args.repeat, args.budget, api, limits, progress,
                          args.seed, args.rounds)

    def fmt(rows, summary, limits, notes):
        return format_table(rows, peers, summary, limits, notes)

    return _timed_run(args, api, settings, thread_counts, run, summarize, fmt, "(multi-threaded ones most)")


def _main_slicenet(args, peers: List[str], api: str, progress: bool) -> int:
    from .slicenet import run_slicenet, summarize_slicenet

    try:
        thread_counts = parse_threads(args.threads or "all", all_threads())
        if args.batch < 1 or args.length < 1:
            raise ValueError("--batch, --length: must be >= 1")
        rows = slicenet_rows(parse_ints(args.channels, SLICENET_CHANNELS, "--channels"),
                             parse_ints(args.windows, SLICENET_WINDOWS, "--windows"),
                             parse_ints(args.groups, SLICENET_GROUPS, "--groups"),
                             args.batch, args.length)
    except ValueError as e:
        return _fail(str(e))
    if not rows:
        return _fail("--slicenet: no rows (no group count divides a channel count)")
    settings = {"mode": "slicenet", "threads": thread_counts, "repeat": args.repeat, "rounds": args.rounds,
                "budget_s": args.budget,
                "peers": peers, "sepcpp_api": api, "seed": args.seed, "tolerance": TOLERANCE,
                "padding": "CAUSAL", "dtype": "float32", "layout": "NWC", "batch": args.batch,
                "length": args.length, "channels": sorted({r.channels for r in rows}),
                "windows": sorted({r.window for r in rows}), "groups": sorted({r.groups for r in rows})}
    def run(limits):
        return run_slicenet(rows, thread_counts, peers, args.repeat, args.budget, api, limits, progress,
                            args.seed, args.rounds)

    def fmt(results, summary, limits, notes):
        return format_slicenet(results, peers, summary, limits, notes)

    return _timed_run(args, api, settings, thread_counts, run, summarize_slicenet, fmt, "(the speed-ups too)")


def _timed_run(args, api: str, settings: Dict[str, Any], thread_counts: List[int],
               run: Callable[[Dict[str, Any]], Any], summarize: Callable, fmt: Callable,
               noisy_too: str) -> int:
    """What the suite and the SliceNet rows share: the machine and its limits, the run, the summary,
    the load before and after (a warning when the machine was busy), the plot, and the output."""
    import sepcpp

    if args.plot and not _check_matplotlib():
        return 2
    info = machine_info()
    load = info.get("load_average")
    limits = measure_peak(thread_counts, args.peak_gflops, args.bandwidth_gbs, sepcpp.info()["isa"])
    t0 = time.perf_counter()
    rows, notes = run(limits)
    elapsed = time.perf_counter() - t0
    summary = summarize(rows, thread_counts)
    try:
        info["load_average_after"] = list(os.getloadavg())
    except OSError:
        pass
    rounds = (f"; {args.rounds} interleaved rounds (median of their medians)" if args.rounds > 1 else "")
    notes.append(f"sepcpp API: {api}; all threads = {all_threads()}; repeat {args.repeat} (median, fewer for "
                 f"slow calls){rounds}; {elapsed:.0f} s; load average before/after: "
                 + " / ".join(" ".join(f"{v:.2f}" for v in info[k])
                              for k in ("load_average", "load_average_after") if info.get(k)))
    if load is not None and load[0] > 0.5:
        notes.append(f"warning: load average {load[0]:.2f} before the run: other processes were using the "
                     f"CPUs, so these numbers {noisy_too} are noisy")
    if args.plot:
        plot_ratios(rows, thread_counts, args.plot)
        notes.append(f"plot written to {args.plot}")
    if args.json:
        def keyed(d):
            return {str(k): v for k, v in d.items()}

        doc = {"machine": info, "settings": settings,
               "limits": {**limits, "peak_gflops": keyed(limits["peak_gflops"]),
                          "bandwidth_gbs": keyed(limits["bandwidth_gbs"])},
               "results": rows, "summary": summary, "notes": notes, "elapsed_s": elapsed}
        print(json.dumps(doc, indent=2, default=json_default))
    else:
        print(fmt(rows, summary, limits, notes))
    return 0


def _main_under_load(args, peers: List[str], api: str, progress: bool) -> int:
    from .under_load import run_under_load

    suite = select_layers(load_suite(args.suite), args.layers)
    if suite is None:
        return 2
    try:
        threads = parse_threads(args.threads or "all", all_threads())
    except ValueError as e:
        return _fail(str(e))
    if len(threads) != 1:
        return _fail("--under-load: give one thread count")
    if args.calls < 1:
        return _fail("--calls: must be >= 1")
    rows, notes = run_under_load(suite, peers, args.calls, args.budget, api, threads[0], args.seed, progress)
    if args.json:
        print(json.dumps({"machine": machine_info(), "mode": "under-load", "peers": peers, "results": rows,
                          "notes": notes}, indent=2, default=json_default))
    else:
        print(format_under_load(rows, peers, notes))
    return 0


def _main_dask(args) -> int:
    try:
        import dask  # noqa: F401
    except ImportError:
        return _fail('--dask needs Dask: pip install "sepcpp[dask]"')
    from .dask import DASK_CHUNKS, run_dask

    try:
        chunks = parse_ints(args.dask_chunks, DASK_CHUNKS, "--dask-chunks")
        workers = parse_threads(args.threads or "1,all", all_threads())
        if args.dask_size < 1 or args.dask_channels < 1:
            raise ValueError("--dask-size, --dask-channels: must be >= 1")
    except ValueError as e:
        return _fail(str(e))
    repeat = min(args.repeat, 3)
    t0 = time.perf_counter()
    rows, notes = run_dask(args.dask_size, args.dask_channels, chunks, workers, repeat, args.seed,
                           not args.no_distributed)
    notes.append(f"repeat {repeat} (median); {time.perf_counter() - t0:.0f} s; sepcpp threads: all for the "
                 "in-memory row, 1 per task in the Dask rows")
    if args.json:
        shape = [1, args.dask_size, args.dask_size, args.dask_channels]
        print(json.dumps({"machine": machine_info(), "mode": "dask", "shape": shape, "results": rows,
                          "notes": notes}, indent=2, default=json_default))
    else:
        print(format_dask(rows, args.dask_size, args.dask_channels, notes))
    return 0


def _main_backward(args) -> int:
    from .backward import format_backward, run_backward, summarize_backward

    if args.slicenet or args.under_load or args.call_overhead:
        return _fail("--backward: not with --slicenet, --under-load or --call-overhead")
    if args.repeat < 1:
        return _fail("--repeat: must be >= 1")
    peers: List[str] = []
    if not args.no_peers:
        peers = [p.strip() for p in (args.peers or ",".join(BACKWARD_PEERS)).split(",") if p.strip()]
        bad = [p for p in peers if p not in BACKWARD_PEERS]
        if bad:
            return _fail(f"--peers: unknown {', '.join(bad)}; with --backward choose from {', '.join(BACKWARD_PEERS)}")
    layers = select_layers(load_suite(args.suite), args.layers)
    if layers is None:
        return 2
    try:
        threads = parse_threads(args.threads or "1", all_threads())
    except ValueError as e:
        return _fail(str(e))
    if len(threads) != 1:
        return _fail("--backward: give one thread count")
    t0 = time.perf_counter()
    rows, notes = run_backward(layers, peers, threads[0], args.repeat, args.seed)
    summary = summarize_backward(rows)
    info = machine_info()
    load = info.get("load_average")
    notes.append(f"{time.perf_counter() - t0:.0f} s; load average before: "
                 + (" ".join(f"{v:.2f}" for v in load) if load else "unknown"))
    if args.json:
        print(json.dumps({"machine": info, "mode": "backward", "peers": peers, "rounds": args.repeat,
                          "results": rows, "summary": summary, "notes": notes}, indent=2, default=json_default))
    else:
        print(format_backward(rows, [p for p in peers if rows and p in rows[0]["ms"]], summary, args.repeat, notes))
    return 0
