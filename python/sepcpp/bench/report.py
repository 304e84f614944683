"""What the benchmark prints: the tables (suite, SliceNet, under load, Dask, call overhead), their
shared footer (ratios, mismatches, the machine's limits, notes), the ratio plot, JSON conversion and
the progress bar."""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .measure import TOLERANCE

Column = Tuple[str, int, str]  # title, width, alignment ("<" or ">")


def fmt_ms(v: Optional[float]) -> str:
    if v is None:
        return "-"
    return f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:.0f}"


def peer_cell(r: Dict[str, Any], nthreads: int) -> str:
    """A peer's time, marked * when it ran with another thread count than the row's."""
    st = r.get("status")
    if st == "ok":
        return fmt_ms(r["ms"]) + ("*" if r["threads"] != nthreads else "")
    if st == "MISMATCH":
        return "MISMATCH"
    if st == "skipped":
        return "skip"
    if st == "unavailable":
        return "-"
    return "n/a"


def _line(cells: Sequence[str], cols: Sequence[Column]) -> str:
    return "  ".join(f"{c:{a}{w}}" for c, (_, w, a) in zip(cells, cols)).rstrip()


def _header(cols: Sequence[Column]) -> List[str]:
    head = _line([n for n, _, _ in cols], cols)
    return [head, "-" * len(head)]


def _sepcpp_columns(rows: List[Dict[str, Any]], roofline: bool) -> List[Column]:
    """sepcpp's time and GFLOP/s, then % of the FMA peak where it is known and % of the roofline
    where some row is memory-bound (else that column repeats %peak)."""
    cols: List[Column] = [("sepcpp ms", 9, ">"), ("GFLOP/s", 7, ">")]
    if any(r["sepcpp"].get("pct_peak") is not None for r in rows):
        cols.append(("%peak", 5, ">"))
    if roofline and any(r["sepcpp"].get("pct_roofline") is not None
                        and abs(r["sepcpp"]["pct_roofline"] - r["sepcpp"]["pct_peak"]) > 0.5 for r in rows):
        cols.append(("%roof", 5, ">"))
    return cols


def _sepcpp_cells(s: Dict[str, Any], cols: List[Column]) -> List[str]:
    cells = [fmt_ms(s["ms"]), f"{s['gflops']:.1f}"]
    names = [n for n, _, _ in cols]
    for title, key in (("%peak", "pct_peak"), ("%roof", "pct_roofline")):
        if title in names:
            cells.append("-" if s[key] is None else f"{s[key]:.0f}%")
    return cells


def _ratio_cell(r: Dict[str, Any], width: int = 1) -> str:
    return "-" if r["ratio"] is None else f"{r['ratio']:5.2f} {r['best_peer']:<{width}}"


BEST_SEP = ("best/sep: time of the fastest correct peer with the same threads / sepcpp's time "
            "(> 1: sepcpp is faster)")


def _engine_lines(summary: Dict[str, Any], what: str) -> List[str]:
    """The fastest inference engine (ONNX Runtime, OpenVINO, LiteRT) over sepcpp, per thread count."""
    lines = []
    for n, v in summary["per_threads"].items():
        e = v.get("engines")
        if not e or e["geomean_ratio"] is None:
            continue
        w = e["worst"]
        line = (f"{n} thread(s): geometric mean of fastest-engine/sep over {e['layers']} {what}: "
                f"{e['geomean_ratio']:.2f}; worst {w['ratio']:.2f} ({w['layer']} vs {w['best_engine']})")
        if e.get("geomean_ratio_min"):
            wm = e["worst_min"]
            line += (f"; by fastest calls {e['geomean_ratio_min']:.2f}, worst {wm['ratio']:.2f} "
                     f"({wm['layer']} vs {wm['best_engine']})")
        lines.append(line)
    return lines


def _footer(summary: Dict[str, Any], limits: Dict[str, Any], notes: List[str],
            bandwidth_hint: bool) -> List[str]:
    """Mismatches, the machine's limits and the notes."""
    lines = []
    if summary["mismatches"]:
        lines.append("MISMATCH (peer disagrees with sepcpp, max rel diff >= "
                     f"{TOLERANCE:g}): " + ", ".join(summary["mismatches"]))
    pk = limits["peak_gflops"]
    if any(pk.values()):
        lines.append("FMA peak (GFLOP/s): " + ", ".join(f"{t} thr {v:.0f}" for t, v in pk.items() if v)
                     + f" [{limits['source']['peak']}]")
    else:
        lines.append("peak: not measured (give --peak-gflops, --bandwidth-gbs)" if bandwidth_hint
                     else "peak: not measured (give --peak-gflops)")
    bw = limits["bandwidth_gbs"]
    if bandwidth_hint and any(bw.values()):
        lines.append("bandwidth (GB/s): " + ", ".join(f"{t} thr {v:.1f}" for t, v in bw.items() if v)
                     + f" [{limits['source']['bandwidth']}]")
    return lines + list(notes)


def format_table(rows: List[Dict[str, Any]], peers: List[str], summary: Dict[str, Any],
                 limits: Dict[str, Any], notes: List[str]) -> str:
    """The suite's table: a row per layer and thread count, the peers' times, best/sep."""
    sep_cols = _sepcpp_columns(rows, roofline=True)
    cols: List[Column] = [("layer", 18, "<"), ("thr", 3, ">"), *sep_cols]
    cols += [(p, max(9, len(p)), ">") for p in peers]
    name_width = max([10, *map(len, peers)])
    if peers:
        cols.append(("best/sep", 6 + name_width, "<"))
    lines = _header(cols)
    for r in rows:
        cells = [r["layer"], str(r["threads"]), *_sepcpp_cells(r["sepcpp"], sep_cols)]
        cells += [peer_cell(r["peers"][p], r["threads"]) for p in peers]
        if peers:
            cells.append(_ratio_cell(r, name_width))
        lines.append(_line(cells, cols))
    lines += ["", BEST_SEP]
    if peers:
        for n, v in summary["per_threads"].items():
            g = v["geomean_ratio"]
            lines.append(f"{n} thread(s): geometric mean of best/sep over {v['layers']} layers: "
                         + ("-" if g is None else f"{g:.2f}"))
            below = ", ".join(f"{b['layer']} ({b['ratio']:.2f} vs {b['best_peer']})" for b in v["below"])
            lines.append(f"  layers below {summary['slow_ratio']}: {below or 'none'}")
        lines += _engine_lines(summary, "layers")
    return "\n".join(lines + _footer(summary, limits, notes, bandwidth_hint=True))


def format_slicenet(rows: List[Dict[str, Any]], peers: List[str], summary: Dict[str, Any],
                    limits: Dict[str, Any], notes: List[str]) -> str:
    """The SliceNet table: a row per (C, k, g) and thread count, with sepcpp's speed-up over g=1."""
    from .slicenet import SLICENET_MIN_SPEEDUP

    sep_cols = _sepcpp_columns(rows, roofline=False)
    cols: List[Column] = [("C", 5, ">"), ("k", 3, ">"), ("g", 2, ">"), ("thr", 3, ">"), *sep_cols]
    cols += [(p, max(9, len(p)), ">") for p in peers]
    if peers:
        cols.append(("best/sep", 6 + max([6, *map(len, peers)]), "<"))
    cols.append(("vs g=1", 12, "<"))
    lines = _header(cols)
    prev = None
    for r in rows:
        if prev is not None and r["channels"] != prev:
            lines.append("")
        prev = r["channels"]
        cells = [str(r["channels"]), str(r["window"]), str(r["groups"]), str(r["threads"]),
                 *_sepcpp_cells(r["sepcpp"], sep_cols)]
        cells += [peer_cell(r["peers"][p], r["threads"]) for p in peers]
        if peers:
            cells.append(_ratio_cell(r))
        sp = r.get("speedup_vs_g1")
        flag = f" <{SLICENET_MIN_SPEEDUP:g}!" if r.get("speedup_low") else ""
        cells.append("" if sp is None else f"{sp:4.2f}x{flag}")
        lines.append(_line(cells, cols))
    lines.append("")
    if rows:
        n0 = rows[0]
        lines.append(f"batch {n0['batch']}, length {n0['length']}, CAUSAL, float32, depth multiplier 1, "
                     f"O = C; GFLOP/s counts 2*N*W*C*(k + O/g)")
    lines.append("vs g=1: sepcpp's time at g=1 / its time at this g (same C, k, threads; medians)")
    if peers:
        lines.append(BEST_SEP)
        for n, v in summary["per_threads"].items():
            g = v["geomean_ratio"]
            lines.append(f"{n} thread(s): geometric mean of best/sep over {v['layers']} rows: "
                         + ("-" if g is None else f"{g:.2f}")
                         + f"; {len(v['below'])} row(s) below {summary['slow_ratio']}")
        lines += _engine_lines(summary, "rows")
    chk = summary["g2_speedup"]
    if chk["rows"]:
        several = len({b["threads"] for b in chk["rows"]}) > 1

        def where(b):
            return f"k={b['window']}" + (f" {b['threads']}t" if several else "")

        lines.append(f"g=2 over g=1 at C={chk['channels']} (needs >= {chk['min_speedup']:g}x), medians: "
                     + ", ".join(f"{where(b)} {b['speedup']:.2f}x" for b in chk["rows"])
                     + "; below: " + (", ".join(where(b) for b in chk["below"]) or "none"))
        lines.append("  the same from the fastest calls (less sensitive to a loaded machine): "
                     + ", ".join(f"{where(b)} {b['speedup_min_based']:.2f}x" for b in chk["rows"]))
    return "\n".join(lines + _footer(summary, limits, notes, bandwidth_hint=False))


def format_overhead(o: Dict[str, Any]) -> str:
    lines = [f"call overhead: separable_conv2d on a {tuple(o['input_shape'])} input, 3x3 depthwise, "
             f"{o['out_channels']} outputs, median of {o['calls']} calls ({o['threads']} sepcpp thread(s))"]
    for name, r in o["results"].items():
        if r["status"] == "unavailable":
            lines.append(f"  {name:28s} -  ({r['reason']})")
        else:
            flag = "" if r["status"] == "ok" else "  MISMATCH"
            lines.append(f"  {name:28s} {r['median_us']:8.1f} us  (min {r['min_us']:.1f}){flag}")
    return "\n".join(lines)


def format_under_load(rows: List[Dict[str, Any]], peers: List[str], notes: List[str]) -> str:
    from .under_load import UNDER_LOAD_LIMIT

    impls = ["sepcpp"] + list(peers)
    head = f"{'layer':20s} " + " ".join(f"{i:>34s}" for i in impls)
    sub = f"{'':20s} " + " ".join(f"{'quiet med  load med  load p90    (x)':>34s}" for _ in impls)
    lines = ["Under load: median and p90 per call (ms), quiet and with one core busy; (x) = loaded p90 / "
             "quiet median", head, sub]
    worst = 0.0
    for row in rows:
        cells = []
        for impl in impls:
            r = row["results"].get(impl, {})
            if r.get("status") != "ok":
                cells.append(f"{'n/a':>34s}")
                continue
            x = r["p90_over_quiet_median"]
            cells.append(f"{r['quiet']['median_ms']:9.3f} {r['loaded']['median_ms']:9.3f} "
                         f"{r['loaded']['p90_ms']:9.3f} ({x:5.1f})".rjust(34))
        worst = max(worst, row["results"]["sepcpp"]["p90_over_quiet_median"])
        over = "" if row["meets_target"] else "  <- over target"
        lines.append(f"{row['layer']:20s} " + " ".join(cells) + over)
    met = sum(r["meets_target"] for r in rows)
    lines.append(f"sepcpp: {met}/{len(rows)} layers within {UNDER_LOAD_LIMIT:g}x; worst loaded p90 / quiet "
                 f"median {worst:.1f}x")
    lines += [f"note: {n}" for n in notes]
    return "\n".join(lines)


def format_dask(rows: List[Dict[str, Any]], side: int, channels: int, notes: List[str]) -> str:
    gib = side * side * channels * 4 / 2**30
    lines = [f"sepcpp.dask: separable 3x3, {channels} -> {channels} channels, relu6, SAME, on a lazily "
             f"generated (1, {side}, {side}, {channels}) float32 image ({gib:.2f} GiB), reduced to its sum; "
             "median seconds",
             f"{'engine':14s} {'workers':>7s} {'chunk':>6s} {'seconds':>8s} {'Mpix/s':>8s} "
             f"{'vs in-memory':>12s} {'sum rel diff':>12s}"]
    for r in rows:
        lines.append(f"{r['engine']:14s} {r['workers']:7d} {r['chunk']:6d} {r['seconds']:8.3f} "
                     f"{r['mpix_s']:8.1f} {r['vs_in_memory']:12.2f} {r['sum_rel_diff']:12.1e}")
    lines += notes
    return "\n".join(lines)


def plot_ratios(rows: List[Dict[str, Any]], thread_counts: List[int], path: str) -> None:
    """A bar chart of best-peer/sepcpp per layer and thread count (log scale, 1 = parity)."""
    import matplotlib

    from .runner import SLOW_RATIO

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(dict.fromkeys(r["layer"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(8, 0.7 * len(names)), 5))
    width = 0.8 / max(1, len(thread_counts))
    for k, n in enumerate(thread_counts):
        by = {r["layer"]: r["ratio"] for r in rows if r["threads"] == n}
        vals = [by.get(name) or float("nan") for name in names]
        # bars grow from 1 (parity) up or down
        ax.bar([i + k * width for i in range(len(names))], [v - 1 for v in vals], width, bottom=1.0,
               label=f"{n} thread(s)")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(SLOW_RATIO, color="red", linewidth=0.8, linestyle="--")
    ax.set_yscale("log")  # ratios: 2x faster and 2x slower are equally far from 1
    ax.set_xticks([i + width * (len(thread_counts) - 1) / 2 for i in range(len(names))])
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel("best peer time / sepcpp time (> 1: sepcpp faster)")
    ax.set_title("sepcpp separable_conv2d vs the fastest peer")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def json_default(o):
    """NumPy scalars for json.dumps."""
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


class Progress:
    """A progress bar on stderr (tqdm's where installed), counting measurements."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = total, 0, enabled and total > 0
        self._bar = None
        self._width = 0
        if self.enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(total=total, file=sys.stderr, leave=False, unit="run")
            except ImportError:
                pass

    def step(self, text: str) -> None:
        """Shows `text` as what runs now; counts the previous step as done."""
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_description_str(text)
            return
        frac = self.done / self.total
        bar = "#" * int(30 * frac) + "." * (30 - int(30 * frac))
        line = f"[{bar}] {self.done}/{self.total} {text}"
        sys.stderr.write("\r" + line.ljust(self._width))
        sys.stderr.flush()
        self._width = len(line)

    def advance(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.update(1)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            sys.stderr.write("\r" + " " * self._width + "\r")
            sys.stderr.flush()
