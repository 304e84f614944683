"""The benchmark (the package sepcpp.bench): its modes end to end on small cases, its peers against
references, its tables on made-up timings, its refusals of bad options."""

import json

import pytest

import sepcpp
from sepcpp import bench
from sepcpp.bench import layers, report, slicenet, under_load
from sepcpp.bench.measure import all_threads
from sepcpp.bench.peers import numpy as numpy_peer
from sepcpp.bench.peers import sepcpp as sepcpp_peer
from sepcpp.bench.peers import tensorflow as tf_peer
from sepcpp.bench.peers import torch as torch_peer
from optional_deps import import_optional, required
from tf_support import import_tensorflow


def test_bench_json_smoke(capsys, restore_threads):
    rc = bench.main(["--layers", "mnv1_7x1024_s1", "--repeat", "2", "--no-peers", "--json",
                      "--threads", "1,all", "--no-progress"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"machine", "settings", "limits", "results", "summary", "notes"} <= set(doc)
    assert doc["machine"]["sepcpp"]["version"] == sepcpp.__version__
    assert doc["settings"]["peers"] == []
    rows = doc["results"]
    assert [r["layer"] for r in rows] == ["mnv1_7x1024_s1"] * len(rows)
    assert [r["threads"] for r in rows] == doc["settings"]["threads"]
    assert doc["settings"]["threads"][0] == 1
    for r in rows:
        assert r["input_shape"] == [1, 7, 7, 1024]
        assert r["output_shape"] == [1, 7, 7, 1024]
        assert r["flops"] == 2 * 49 * 1024 * 9 + 2 * 49 * 1024 * 1024
        assert r["sepcpp"]["ms"] > 0 and r["sepcpp"]["gflops"] > 0
        assert 1 <= r["sepcpp"]["runs"] <= 2
        assert r["peers"] == {} and r["ratio"] is None
    assert sepcpp.get_num_threads() >= 1


def test_bench_rounds(capsys, restore_threads):
    """--rounds: sepcpp and the peers take turns; each time is the median of the rounds' medians."""
    import statistics

    rc = bench.main(["--layers", "mnv1_7x1024_s1", "--peers", "numpy", "--threads", "1", "--rounds", "3",
                     "--repeat", "2", "--budget", "0.02", "--peak-gflops", "100", "--bandwidth-gbs", "10", "--json",
                     "--no-progress"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["rounds"] == 3
    (row,) = doc["results"]
    for cell in (row["sepcpp"], row["peers"]["numpy"]):
        assert len(cell["round_ms"]) == 3 and 3 <= cell["runs"] <= 6
        assert cell["ms"] == pytest.approx(statistics.median(cell["round_ms"]))
        assert cell["min_ms"] <= min(cell["round_ms"])
    assert row["peers"]["numpy"]["status"] == "ok"
    assert row["ratio"] == pytest.approx(row["peers"]["numpy"]["ms"] / row["sepcpp"]["ms"])
    assert any("3 interleaved rounds" in n for n in doc["notes"])


def test_bench_same_padding_and_numpy_peer():
    """The NumPy peer (and the SAME-padding arithmetic it shares with the torch peer) agree with
    sepcpp on a strided and a dilated layer."""
    import numpy as np

    for entry in [("s2", (1, 9, 8, 3), (3, 3), 2, 1, 2, 5), ("d2", (2, 1, 11, 4), (1, 3), 1, 2, 1, 3)]:
        layer = layers.Layer.from_entry(entry)
        x, dw, pw = layer.data()
        want = sepcpp.separable_conv2d(x, dw, pw, layer.stride, "SAME", dilations=layer.dilation)
        got = numpy_peer.numpy_separable(x, dw, pw, layer.stride, layer.dilation, layer.pads)
        assert got.shape == want.shape == layer.out_shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("argv", [["--layers", "no_such_layer"], ["--threads", "0"], ["--peers", "mxnet"],
                                  ["--rounds", "0"]])
def test_bench_bad_options(argv, capsys):
    assert bench.main(argv + ["--no-progress"]) == 2
    assert capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# --slicenet: the paper's 1-D rows (CAUSAL, super-separable with g groups)


def _causal_super_separable(x, dw, pw, groups):
    """NumPy reference: left pad k-1, depthwise [k, C, 1], pointwise [1, C/g, O] per group."""
    import numpy as np

    n, w, c = x.shape
    k = dw.shape[0]
    xp = np.pad(x.astype(np.float64), ((0, 0), (k - 1, 0), (0, 0)))
    d = sum(xp[:, i:i + w, :] * dw[i, :, 0] for i in range(k))
    cg, og = c // groups, pw.shape[2] // groups
    return np.concatenate([d[..., i * cg:(i + 1) * cg] @ pw[0][:, i * og:(i + 1) * og]
                           for i in range(groups)], axis=-1)


def test_slicenet_default_rows():
    rows = layers.slicenet_rows()
    assert {(r.batch, r.length) for r in rows} == {(8, 256)}
    assert [r.window for r in rows[:2]] == [3, 3]
    want = {(c, k, g) for c in (512, 768, 1024) for k in (3, 7, 15, 31, 63) for g in (1, 2, 3) if c % g == 0}
    assert {(r.channels, r.window, r.groups) for r in rows} == want
    assert len(rows) == len(want) == 35  # g=3 only for 768
    r = next(r for r in rows if (r.channels, r.window, r.groups) == (1024, 63, 2))
    assert r.flops == 2 * 8 * 256 * 1024 * (63 + 512)


def test_slicenet_json_smoke(capsys, restore_threads):
    """A tiny configuration through the whole --slicenet path, sepcpp only, JSON out (fast)."""
    rc = bench.main(["--slicenet", "--channels", "6,1024", "--windows", "3,7", "--batch", "1", "--length",
                      "8", "--repeat", "2", "--no-peers", "--json", "--threads", "1,all", "--no-progress"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert {"machine", "settings", "limits", "results", "summary", "notes"} <= set(doc)
    s = doc["settings"]
    assert s["mode"] == "slicenet" and s["padding"] == "CAUSAL" and s["peers"] == []
    assert s["channels"] == [6, 1024] and s["windows"] == [3, 7] and s["groups"] == [1, 2, 3]
    rows = doc["results"]
    # g=3 only where it divides C; one row per thread count
    cfg = [(r["channels"], r["window"], r["groups"]) for r in rows]
    want = [(c, k, g) for c in (6, 1024) for k in (3, 7) for g in (1, 2, 3) if c % g == 0]
    assert cfg == [x for x in want for _ in s["threads"]]
    for r in rows:
        c, k, g = r["channels"], r["window"], r["groups"]
        assert r["input_shape"] == [1, 8, c] and r["output_shape"] == [1, 8, c]
        assert r["flops"] == 2 * 8 * c * (k + c // g)
        assert r["sepcpp"]["ms"] > 0 and r["sepcpp"]["gflops"] > 0 and 1 <= r["sepcpp"]["runs"] <= 2
        assert r["peers"] == {} and r["ratio"] is None
        assert ("speedup_vs_g1" in r) == (g > 1)
        assert ("speedup_low" in r) == (g == 2 and c == 1024)
    chk = doc["summary"]["g2_speedup"]
    assert chk["channels"] == 1024 and chk["min_speedup"] == 1.6
    assert len(chk["rows"]) == 2 * len(s["threads"])


@pytest.mark.uses("torch", "tensorflow")
def test_slicenet_implementations_agree():
    """sepcpp's layer (and functional API), PyTorch's and TensorFlow's definitions (where installed;
    required under SEPCPP_REQUIRE_ALL=1, TensorFlow also under SEPCPP_REQUIRE_TENSORFLOW=1) agree
    with a NumPy reference of the causal super-separable convolution."""
    import numpy as np

    impls = {"sepcpp": lambda r, x, dw, pw: sepcpp_peer.setup_slicenet(r, x, dw, pw, "SeparableConv2D"),
             "sepcpp-fn": lambda r, x, dw, pw: sepcpp_peer.setup_slicenet(r, x, dw, pw, "separable_conv2d")}
    if torch_peer.import_torch() is not None:
        impls["torch"] = torch_peer.setup_slicenet
    elif required("torch"):
        import torch  # noqa: F401 - required here: let its ImportError fail the test
        raise AssertionError("torch imports but sepcpp.bench.peers.torch.import_torch() does not find it")
    try:
        import_tensorflow()
    except pytest.skip.Exception:  # TF missing and not required: its peer is not checked here
        pass
    else:
        impls["tf"] = lambda r, x, dw, pw: tf_peer.setup_slicenet(r, x, dw, pw, all_threads())
        impls["tf-split"] = lambda r, x, dw, pw: tf_peer.setup_slicenet(r, x, dw, pw, all_threads(),
                                                                        try_grouped=False)
    for row in layers.slicenet_rows(channels=[12], windows=[1, 5], groups=[1, 2, 3], batch=2, length=9):
        x, dw, pw = row.data()
        assert x.dtype == dw.dtype == pw.dtype == np.float32
        assert dw.shape == (row.window, 12, 1) and pw.shape == (1, 12 // row.groups, 12)
        want = _causal_super_separable(x, dw, pw, row.groups)
        for name, setup in impls.items():
            p = setup(row, x, dw, pw)
            got = p.to_ref(p.call())
            assert got.shape == (2, 9, 12), name
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{name} {row.name} {p.info}")


def test_slicenet_table_flags_low_speedup():
    """The speed-up column and the C=1024 g=2 flag, on made-up timings."""
    def row(c, k, g, ms):
        return {"layer": f"slicenet_c{c}_k{k}_g{g}", "batch": 8, "length": 256, "channels": c, "window": k,
                "groups": g, "threads": 2,
                "sepcpp": {"ms": ms, "min_ms": ms, "gflops": 1.0, "pct_peak": None},
                "peers": {"torch": {"status": "ok", "ms": 2 * ms, "threads": 2}}, "best_peer": "torch",
                "ratio": 2.0}

    rows = [row(768, 3, 1, 10.0), row(768, 3, 2, 8.0), row(768, 3, 3, 4.0),
            row(1024, 3, 1, 10.0), row(1024, 3, 2, 5.0), row(1024, 7, 1, 10.0), row(1024, 7, 2, 8.0)]
    slicenet.slicenet_speedups(rows)
    assert [r.get("speedup_vs_g1") for r in rows] == [None, 1.25, 2.5, None, 2.0, None, 1.25]
    assert [r.get("speedup_low") for r in rows] == [None, None, None, None, False, None, True]
    summary = slicenet.summarize_slicenet(rows, [2])
    assert summary["g2_speedup"]["below"] == [{"window": 7, "threads": 2, "speedup": 1.25}]
    limits = {"peak_gflops": {2: None}, "bandwidth_gbs": {2: None}, "source": {}}
    text = report.format_slicenet(rows, ["torch"], summary, limits, [])
    lines = text.splitlines()
    assert sum("<1.6!" in line for line in lines) == 1
    assert "1.25x <1.6!" in next(line for line in lines if line.split()[:3] == ["1024", "7", "2"])
    assert "below: k=7" in text and "fastest calls" in text


@pytest.mark.parametrize("argv", [["--slicenet", "--peers", "numpy"],
                                  ["--slicenet", "--layers", "mnv1_7x1024_s1"], ["--channels", "8"],
                                  ["--slicenet", "--channels", "8", "--groups", "3"],
                                  ["--slicenet", "--windows", "0"], ["--slicenet", "--channels", "x"]])
def test_slicenet_bad_options(argv, capsys):
    assert bench.main(argv + ["--no-progress"]) == 2
    assert capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# --under-load: tail latency with one core busy


def test_bench_under_load_json(capsys, restore_threads):
    rc = bench.main(["--under-load", "--layers", "mnv1_7x1024_s1", "--calls", "25", "--budget", "0.1",
                      "--peers", "torch-cl", "--json", "--no-progress"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "under-load" and doc["peers"] == ["torch-cl"]
    (row,) = doc["results"]
    assert row["layer"] == "mnv1_7x1024_s1"
    for impl in ("sepcpp", "torch-cl"):
        r = row["results"][impl]
        assert r["status"] == "ok", r
        for phase in ("quiet", "loaded"):
            t = r[phase]
            assert t["calls"] >= 20
            assert 0 < t["median_ms"] <= t["p90_ms"] <= t["p99_ms"] <= t["max_ms"]
        assert r["p90_over_quiet_median"] == pytest.approx(r["loaded"]["p90_ms"] / r["quiet"]["median_ms"])
        # sepcpp's phases count what its contention-adaptive mode did; a peer's do not.
        for phase in ("quiet", "loaded"):
            if impl == "sepcpp":
                assert r[phase]["contention_events"] >= 0 and r[phase]["solo_calls"] >= 0
            else:
                assert "solo_calls" not in r[phase]
    assert row["meets_target"] == (row["results"]["sepcpp"]["p90_over_quiet_median"] <= 3.0)
    assert any(n.startswith("sepcpp's contention-adaptive threads: ") for n in doc["notes"])


def test_bench_busy_core_really_spins():
    """The load the --under-load figures are measured under: a process that uses a whole CPU."""
    import os
    import time

    cpu = sorted(os.sched_getaffinity(0))[-1]
    with under_load.busy_core(cpu) as proc:
        with open(f"/proc/{proc.pid}/stat") as f:
            before = sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13])
        time.sleep(0.5)
        with open(f"/proc/{proc.pid}/stat") as f:
            after = sum(int(v) for v in f.read().rsplit(")", 1)[1].split()[11:13])
    ticks = os.sysconf("SC_CLK_TCK")
    # utime + stime over 0.5 s: at least a fifth of a CPU even on a crowded machine
    assert (after - before) / ticks > 0.1, (before, after)
    assert proc.poll() is not None  # stopped when the block ends


def test_bench_under_load_bad_options(capsys):
    assert bench.main(["--under-load", "--slicenet", "--no-progress"]) == 2
    assert bench.main(["--under-load", "--threads", "1,2", "--no-progress"]) == 2
    assert capsys.readouterr().err


TINY_SUITE = """SUITE = [
    ("tiny_s2_m2", (2, 9, 8, 6), (3, 3), 2, 1, 2, 5),
    ("tiny_d2", (1, 7, 10, 4), (3, 3), 1, 2, 1, 3),
]
"""


@pytest.mark.uses("torch", "tensorflow")
def test_bench_backward_rows(capsys, restore_threads, tmp_path):
    """--backward on tiny layers (a stride with a depth multiplier, a dilation): every peer's
    gradients agree with sepcpp's, each engine is timed, a ratio and its spread per layer."""
    from optional_deps import import_optional

    import_optional("torch")
    import_tensorflow()
    suite = tmp_path / "suite.py"
    suite.write_text(TINY_SUITE)
    assert bench.main(["--backward", "--suite", str(suite), "--repeat", "3", "--json", "--no-progress"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["mode"] == "backward" and doc["peers"] == ["torch-nchw", "torch-cl", "tf"]
    assert [r["layer"] for r in doc["results"]] == ["tiny_s2_m2", "tiny_d2"]
    for r in doc["results"]:
        assert set(r["ms"]) == {"sepcpp", "torch-nchw", "torch-cl", "tf"} and min(r["ms"].values()) > 0
        assert max(r["rel_err"].values()) < 1e-4, r["rel_err"]
        assert r["ratio"] > 0 and r["best_peer"] in doc["peers"] and len(r["spread"]) == 2
    assert doc["summary"]["geomean_ratio"] > 0
    # The table.
    assert bench.main(["--backward", "--suite", str(suite), "--repeat", "1", "--peers", "torch-cl",
                       "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "training step" in out and "tiny_s2_m2" in out and "torch-cl" in out and "geometric mean" in out


@pytest.mark.parametrize("argv", [["--peers", "numpy"], ["--threads", "1,2"], ["--layers", "nope"],
                                  ["--slicenet"]])
def test_bench_backward_bad_options(argv, capsys):
    assert bench.main(["--backward"] + argv + ["--no-progress"]) == 2
    assert capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# The inference engines (ONNX Runtime, OpenVINO, LiteRT): each peer against a NumPy reference, and
# their rows in the table. About 20 s together (LiteRT converts a model per layer through TF).

# Engine -> the optional dependencies it needs (TensorFlow: LiteRT's models come from its converter).
ENGINES = {"onnxruntime": ("onnx", "onnxruntime"), "openvino": ("onnx", "openvino"),
           "litert": ("litert", "tensorflow")}
ENGINE_LAYERS = [("s2_m2", (1, 9, 8, 3), (3, 3), 2, 1, 2, 5), ("d2", (2, 1, 11, 4), (1, 3), 1, 2, 1, 3),
                 ("k5_asym", (1, 6, 7, 16), (5, 4), 1, 1, 1, 8)]


def _require_engine(engine):
    for dep in ENGINES[engine]:
        if dep == "tensorflow":
            import_tensorflow()
        else:
            import_optional(dep)


@pytest.mark.parametrize("engine", [pytest.param(e, marks=pytest.mark.uses(*deps)) for e, deps in ENGINES.items()])
def test_engine_peer_agrees_with_numpy(engine):
    """Each engine's session (made per thread count, as the benchmark times it) computes the suite's
    separable layer (stride 2 with multiplier 2, dilation 2 on a 1-D input, an asymmetric 5x4 kernel)
    and, for ONNX Runtime and OpenVINO, the SliceNet rows (causal, grouped pointwise), in sepcpp's
    layout."""
    import numpy as np

    from sepcpp.bench import peers

    _require_engine(engine)
    peer = peers.make(engine)
    assert peer.threads_at_setup
    cases = [(layer, None) for layer in map(layers.Layer.from_entry, ENGINE_LAYERS)]
    cases += [(row, row) for row in layers.slicenet_rows(channels=[12], windows=[1, 5], groups=[1, 2, 3], batch=2,
                                                         length=9)]
    for case, sn in cases:
        x, dw, pw = case.data()
        if sn is None:
            want = numpy_peer.numpy_separable(x.astype(np.float64), dw, pw, case.stride, case.dilation, case.pads)
        elif engine == "litert":  # no SliceNet form: the benchmark shows n/a
            with pytest.raises(peers.NA):
                peer.setup(case, x, dw, pw, 1)
            continue
        else:
            want = _causal_super_separable(x, dw, pw, case.groups)
        for threads in (1, 2):
            p = peer.setup(case, x, dw, pw, threads)
            got = p.to_ref(p.call())
            assert got.shape == want.shape, (engine, case.name)
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=f"{engine} {case.name} {threads}t")
            assert np.array_equal(p.to_ref(p.call()), got)  # a second call: same answer
    assert peer.unavailable is None and peer.notes([1, 2])


@pytest.mark.uses("onnx", "onnxruntime", "openvino", "litert", "tensorflow")
def test_bench_engine_rows(tmp_path, capsys, restore_threads):
    """The engines through the whole command: checked against sepcpp, at the row's thread count (so
    in the 1-thread ratios too), named in the table."""
    for engine in ENGINES:
        _require_engine(engine)
    suite = tmp_path / "suite.py"
    suite.write_text("SUITE = [('tiny_s1', (1, 10, 10, 16), (3, 3), 1, 1, 1, 24),\n"
                     "         ('tiny_s2', (1, 9, 9, 8), (3, 3), 2, 1, 2, 8)]\n")
    engines = list(ENGINES)
    argv = ["--suite", str(suite), "--peers", ",".join(engines), "--threads", "1,2", "--repeat", "2", "--budget",
            "0.02", "--peak-gflops", "100", "--bandwidth-gbs", "10", "--no-progress"]
    assert bench.main(argv + ["--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(r["layer"], r["threads"]) for r in doc["results"]] == [(n, t) for n in ("tiny_s1", "tiny_s2")
                                                                    for t in (1, 2)]
    for r in doc["results"]:
        for engine in engines:
            cell = r["peers"][engine]
            assert cell["status"] == "ok" and cell["rel_diff"] < 1e-3, (r["layer"], engine, cell)
            assert cell["threads"] == r["threads"] and cell["ms"] > 0
        assert r["best_peer"] in engines and r["ratio"] > 0
        assert (r["best_engine"], r["engine_ratio"]) == (r["best_peer"], r["ratio"])  # only engines here
    for n in ("1", "2"):
        e = doc["summary"]["per_threads"][n]["engines"]
        assert e["layers"] == 2 and e["geomean_ratio"] > 0 and e["worst"]["best_engine"] in engines
        assert e["geomean_ratio_min"] > 0 and e["worst_min"]["best_engine"] in engines
    for r in doc["results"]:  # by fastest calls: the fastest engine's fastest call over sepcpp's
        fastest = min(engines, key=lambda e: r["peers"][e]["min_ms"])
        assert r["best_engine_min"] == fastest
        assert r["engine_ratio_min"] == pytest.approx(r["peers"][fastest]["min_ms"] / r["sepcpp"]["min_ms"])
    assert doc["machine"]["onnxruntime"] and doc["machine"]["openvino"] and doc["machine"]["ai_edge_litert"]
    # The table of these rows (the CLI prints the same without --json).
    text = report.format_table(doc["results"], engines, doc["summary"], doc["limits"], doc["notes"])
    lines = text.splitlines()
    assert lines[0].split()[-4:-1] == engines  # ... onnxruntime openvino litert best/sep
    for line in lines[2:6]:
        cells = line.split()
        assert cells[0] in ("tiny_s1", "tiny_s2")
        assert all(float(v) > 0 for v in cells[-5:-2]), line  # a time in every engine's column, no "*"
    assert text.count("fastest-engine/sep over 2 layers") == 2 and text.count("by fastest calls") == 2
    assert "spinning off" in text and "INFERENCE_NUM_THREADS" in text and "XNNPACK" in text


@pytest.mark.uses("ml_dtypes")
def test_bench_bfloat16_smoke(capsys, restore_threads):
    import_optional("ml_dtypes")
    rc = bench.main(["--bfloat16", "--layers", "mnv1_7x1024_s1,mult2_28x64", "--repeat", "3", "--threads", "1",
                     "--no-peers", "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("bfloat16: sepcpp isa ")
    assert [ln.split()[0] for ln in lines[2:4]] == ["mnv1_7x1024_s1", "mult2_28x64"]
    assert "geometric mean f32/bf16" in lines[-1]
    assert bench.main(["--bfloat16", "--json", "--no-progress"]) == 2
    assert bench.main(["--bfloat16", "--layers", "no_such_layer", "--no-progress"]) == 2


def test_bfloat16_summary_ratios():
    """The three torch/bf16 measures: of medians, of fastest calls, and paired per round."""
    from sepcpp.bench.bfloat16 import format_bfloat16, summarize_bfloat16

    def row(name, share, bf16, torch, bf16_min, torch_min, paired):
        return {"layer": name, "threads": 1, "pointwise_share": share, "f32": 3 * bf16, "bf16": bf16,
                "torch": torch, "f32_spread": 0.0, "bf16_spread": 0.0, "torch_spread": 0.0, "f32_min": 3 * bf16_min,
                "bf16_min": bf16_min, "torch_min": torch_min, "torch_over_bf16_paired": paired}

    rows = [row("a", 0.99, 1.0, 2.0, 0.5, 2.0, 1.5), row("b", 0.95, 2.0, 1.0, 1.0, 1.0, 0.6),
            row("depthwise_heavy", 0.5, 1.0, 100.0, 1.0, 100.0, 100.0)]  # left out of the means
    s = summarize_bfloat16(rows)[1]
    assert s["layers"] == 2
    assert s["torch_over_bf16"] == pytest.approx(1.0)  # sqrt(2 * 0.5)
    assert s["torch_over_bf16_min"] == pytest.approx(2.0)  # sqrt(4 * 1)
    assert s["torch_over_bf16_paired"] == pytest.approx(0.9 ** 0.5)  # sqrt(1.5 * 0.6)
    assert s["worst_torch_over_bf16_paired"] == pytest.approx(0.6)
    text = format_bfloat16(rows, {1: s}, "avx2", 3)
    assert "by fastest calls 2.00x, paired per round 0.95x, worst paired 0.60x" in text
    assert "  4.00    1.50  " in text.splitlines()[2]  # row a: min 2.0 / 0.5, paired 1.5


@pytest.mark.uses("ml_dtypes", "torch")
def test_bench_bfloat16_with_torch(capsys, restore_threads):
    import_optional("ml_dtypes")
    import_optional("torch")
    rc = bench.main(["--bfloat16", "--layers", "mult2_28x64,xception_19x728", "--repeat", "3", "--threads", "1",
                     "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "paired per round" in out.splitlines()[-1]
    ratios = [float(ln.split()[8]) for ln in out.splitlines()[2:4]]  # torch/bf16 of each row
    assert all(r > 0 for r in ratios)
