"""Smoke test of the benchmark (sepcpp._bench): one small layer, sepcpp only, JSON out."""

import json

import pytest

import sepcpp


def test_bench_json_smoke(capsys, restore_threads):
    from sepcpp import _bench

    rc = _bench.main(["--layers", "mnv1_7x1024_s1", "--repeat", "2", "--no-peers", "--json",
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


def test_bench_same_padding_and_numpy_peer():
    """The NumPy peer (and the SAME-padding arithmetic it shares with the torch peer) agree with
    sepcpp on a strided and a dilated layer."""
    import numpy as np

    from sepcpp import _bench

    for entry in [("s2", (1, 9, 8, 3), (3, 3), 2, 1, 2, 5), ("d2", (2, 1, 11, 4), (1, 3), 1, 2, 1, 3)]:
        layer = _bench.Layer.from_entry(entry)
        x, dw, pw = layer.data()
        want = sepcpp.separable_conv2d(x, dw, pw, layer.stride, "SAME", dilations=layer.dilation)
        got = _bench.numpy_separable(x, dw, pw, layer.stride, layer.dilation, layer.pads)
        assert got.shape == want.shape == layer.out_shape
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("argv", [["--layers", "no_such_layer"], ["--threads", "0"], ["--peers", "mxnet"]])
def test_bench_bad_options(argv, capsys):
    from sepcpp import _bench

    assert _bench.main(argv + ["--no-progress"]) == 2
    assert capsys.readouterr().err
