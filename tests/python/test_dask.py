"""sepcpp.dask: every op on chunked Dask arrays, bitwise equal to the in-memory call.

- hypothesis over shapes, chunkings (any partition of every axis, channels included) and
  parameters (kernels, strides that do not divide the chunks, dilations, SAME / VALID / explicit
  asymmetric / CAUSAL padding, both layouts, multipliers, groups, biases, activations, dtypes),
  each result compared bit for bit with the NumPy API's on the whole array (threaded scheduler);
- the same ops on ``dask.distributed`` worker processes, where every block and filter arrives
  pickled;
- an image five times one worker's memory limit (2.5 times both workers' together), generated lazily,
  through a separable layer to one number, each worker's peak RSS measured below its limit.

Values are random floats, so a changed summation order shows in the last bits (checked by
``test_random_data_detects_a_changed_summation_order``).
"""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
from optional_deps import import_optional

da = import_optional("dask")  # dask.array
distributed = import_optional("distributed")
import_optional("hypothesis")
import dask  # noqa: E402  (present: dask.array imported above)
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import sepcpp  # noqa: E402
import sepcpp.dask as sd  # noqa: E402

pytestmark = pytest.mark.uses("dask", "distributed", "hypothesis")

_PROFILE = settings.get_current_profile_name()
EXAMPLES = {"ci": 40, "long": 1000}.get(_PROFILE, settings.default.max_examples)

OPS_2D = ["depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "super_separable_conv2d", "conv2d"]
OPS_1D = ["depthwise_conv1d", "separable_conv1d", "super_separable_conv1d", "conv1d"]


def _bits(a: np.ndarray) -> np.ndarray:
    """The array's bit patterns (so -0.0 != 0.0 and NaNs compare by payload)."""
    return np.ascontiguousarray(a).view(np.uint32 if a.dtype == np.float32 else np.uint64)


def assert_bitwise(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    diff = np.flatnonzero(_bits(got) != _bits(want))
    if diff.size:
        first = diff[0]
        where = np.unravel_index(first, want.shape)
        pytest.fail(f"{diff.size} of {want.size} elements differ, first at {where}: "
                    f"{got.flat[first]!r} vs {want.flat[first]!r}")


@st.composite
def partition(draw, n):
    """Chunk sizes summing to n: one chunk, or cuts anywhere (sizes 1 and uneven included)."""
    if n <= 1 or draw(st.integers(0, 4)) == 0:
        return (n,)
    cuts = sorted(draw(st.sets(st.integers(1, n - 1), min_size=1, max_size=min(n - 1, 5))))
    edges = [0, *cuts, n]
    return tuple(b - a for a, b in zip(edges, edges[1:]))


@st.composite
def cases(draw, op):
    """A whole call: arguments for the op and a chunking of the input."""
    one_d = op.endswith("1d")
    nsp = 1 if one_d else 2
    pointwise = op == "pointwise_conv2d"
    layout = draw(st.sampled_from(["NWC", "NCW"] if one_d else ["NHWC", "NCHW"]))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n = draw(st.integers(1, 3))
    c = draw(st.integers(1, 6))
    sizes = [draw(st.integers(1, 40 if one_d else 17)) for _ in range(nsp)]
    kernels = [1] * nsp if pointwise else [draw(st.integers(1, 5)) for _ in range(nsp)]
    strides = [draw(st.integers(1, 3)) for _ in range(nsp)]
    dilations = [draw(st.integers(1, 3)) for _ in range(nsp)]
    modes = ["SAME", "VALID", "EXPLICIT"] + (["CAUSAL"] if one_d else [])
    mode = draw(st.sampled_from(modes))
    pads = [(draw(st.integers(0, 7)), draw(st.integers(0, 7))) for _ in range(nsp)]
    if mode == "VALID" or mode == "EXPLICIT":
        # Keep most cases valid: grow the input to the (padded) effective kernel.
        sizes = [max(s, (k - 1) * d + 1 - (sum(p) if mode == "EXPLICIT" else 0))
                 for s, k, d, p in zip(sizes, kernels, dilations, pads)]
    m = draw(st.integers(1, 3))
    groups = 1
    if op.startswith("super"):
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if (c * m) % g == 0]))
    o = groups * draw(st.integers(1, 3))

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def rand(*shape):
        return rng.standard_normal(shape).astype(dtype)

    spatial = tuple(sizes)
    shape = (n, *spatial, c) if layout in ("NHWC", "NWC") else (n, c, *spatial)
    x = rand(*shape)
    chunks = tuple(draw(partition(s)) for s in shape)

    kw = {"data_format": layout}
    act = st.sampled_from([None, "relu", "relu6"])
    if pointwise:
        args = [rand(1, 1, c, o)]
    elif op.startswith("depthwise"):
        args = [rand(*kernels, c, m)]
    elif op.startswith("conv"):
        args = [rand(*kernels, c, o)]
    else:
        args = [rand(*kernels, c, m), rand(*([1] * nsp), c * m // groups, o)]
        if op.startswith("super"):
            args.append(groups)
        if draw(st.booleans()):
            kw["depthwise_bias"] = rand(c * m)
        kw["depthwise_activation"] = draw(act)
    if not pointwise:
        st_ = strides[0] if one_d else tuple(strides)
        args.append(st_)
        if mode == "EXPLICIT":
            args.append([list(p) for p in pads])
        else:
            args.append(mode)
        kw["dilations"] = dilations[0] if one_d else tuple(dilations)
    if draw(st.booleans()):
        kw["bias"] = rand(m * c if op.startswith("depthwise") else o)
    kw["activation"] = draw(act)
    return x, chunks, args, kw


def _check(op, case, scheduler="threads"):
    x, chunks, args, kw = case
    try:
        want = getattr(sepcpp, op)(x, *args, **kw)
    except ValueError as e:
        # An invalid call (e.g. VALID with a kernel larger than the input): the same error, before
        # anything is computed.
        with pytest.raises(ValueError) as info:
            getattr(sd, op)(da.from_array(x, chunks=chunks), *args, **kw)
        assert str(info.value) == str(e)
        return
    y = getattr(sd, op)(da.from_array(x, chunks=chunks), *args, **kw)
    assert y.shape == want.shape and y.dtype == want.dtype
    assert_bitwise(y.compute(scheduler=scheduler), want)


@pytest.mark.parametrize("op", OPS_2D + OPS_1D)
def test_bitwise_equal_to_in_memory(op):
    @settings(max_examples=EXAMPLES)
    @given(case=cases(op))
    def run(case):
        _check(op, case)

    run()


ISAS_AVAILABLE = [i for i in sepcpp._core.isas_available().split(",") if i]


@pytest.mark.parametrize("isa", ISAS_AVAILABLE)
def test_bitwise_equal_every_isa(isa):
    """The blocks' arithmetic matches the whole call's with each kernel level (their tails and
    vector widths differ): every fixed case, plus random ones over all ops."""
    previous = sepcpp._core.isa_in_use()
    sepcpp._core.set_isa(isa)
    try:
        for op, x, chunks, args, kw in _fixed_cases():
            y = getattr(sd, op)(da.from_array(x, chunks=chunks), *args, **kw)
            assert_bitwise(y.compute(scheduler="threads"), getattr(sepcpp, op)(x, *args, **kw))

        @settings(max_examples=max(EXAMPLES // 2, 10))
        @given(data=st.data())
        def run(data):
            op = data.draw(st.sampled_from(OPS_2D + OPS_1D))
            _check(op, data.draw(cases(op)))

        run()
    finally:
        sepcpp._core.set_isa(previous)


# --------------------------------------------------------------------------------------------
# Fixed cases the properties might not hit


def test_random_data_detects_a_changed_summation_order():
    """Bitwise comparisons are only meaningful if another order gives other bits: summing the
    pointwise products of two channel halves does, on these random floats."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 16, 16, 64)).astype(np.float32)
    w = rng.standard_normal((1, 1, 64, 8)).astype(np.float32)
    whole = sepcpp.pointwise_conv2d(x, w)
    halves = (sepcpp.pointwise_conv2d(x[..., :32], w[:, :, :32])
              + sepcpp.pointwise_conv2d(x[..., 32:], w[:, :, 32:]))
    assert np.allclose(whole, halves, rtol=1e-4, atol=1e-4)
    assert not np.array_equal(whole, halves)


@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_fused_separable_large_channels(layout):
    """The fused separable path with channel counts past the SIMD widths, a depth multiplier,
    stride 2 over odd chunks and SAME's asymmetric padding."""
    rng = np.random.default_rng(2)
    shape = (2, 37, 29, 33) if layout == "NHWC" else (2, 33, 37, 29)
    x = rng.standard_normal(shape).astype(np.float32)
    dw = rng.standard_normal((3, 5, 33, 2)).astype(np.float32)
    pw = rng.standard_normal((1, 1, 66, 40)).astype(np.float32)
    kw = dict(data_format=layout, dilations=(1, 2), depthwise_bias=rng.standard_normal(66).astype(np.float32),
              depthwise_activation="relu6", bias=rng.standard_normal(40).astype(np.float32),
              activation="relu")
    want = sepcpp.separable_conv2d(x, dw, pw, 2, "SAME", **kw)
    chunks = (1, 11, 7, 33) if layout == "NHWC" else (1, 10, 11, 7)
    y = sd.separable_conv2d(da.from_array(x, chunks=chunks), dw, pw, 2, "SAME", **kw)
    assert_bitwise(y.compute(scheduler="threads"), want)


@pytest.mark.parametrize("op", ["depthwise_conv1d", "separable_conv1d", "conv1d"])
def test_blocks_wholly_in_padding(op):
    """Explicit padding wider than the chunks: some output blocks read nothing but padding (an empty
    input slice, all of it padding in the block's call); the bias still reaches them."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 10, 3))
    dw, bias = rng.standard_normal((2, 3, 1)), None
    args = {"depthwise_conv1d": [dw], "separable_conv1d": [dw, rng.standard_normal((1, 3, 2))],
            "conv1d": [rng.standard_normal((2, 3, 2))]}[op]
    bias = rng.standard_normal(3 if op == "depthwise_conv1d" else 2)
    plan = sd._axis_plan((2,) * 5, 10, 2, 3, 1, 9, (10 + 18 - 2) // 3 + 1)[1]
    assert any(pieces[0][1] == slice(0, 0) for pieces, _ in plan)  # the branch is reached
    want = getattr(sepcpp, op)(x, *args, 3, [[9, 9]], bias=bias)
    y = getattr(sd, op)(da.from_array(x, chunks=(1, 2, 3)), *args, 3, [[9, 9]], bias=bias)
    assert_bitwise(y.compute(), want)


def test_depthwise_keeps_channel_chunks():
    """Depthwise runs per channel chunk (no rechunk): output channel chunks are the input's times M."""
    x = da.ones((1, 20, 20, 10), dtype=np.float32, chunks=(1, 7, 20, (3, 3, 4)))
    y = sd.depthwise_conv2d(x, np.ones((3, 3, 10, 2), np.float32), 2, "SAME")
    assert y.chunks == ((1,), (4, 3, 3), (10,), (6, 6, 8))
    assert not any("rechunk" in str(k) for k in y.dask.layers)
    z = sd.conv2d(x, np.ones((3, 3, 10, 4), np.float32), 1, "SAME")
    assert z.chunks[3] == (4,)


def test_lazy_and_halo_only():
    """Building the graph computes nothing, and a block reads only its halo from its neighbours."""
    calls = []

    def gen(block_info=None):
        calls.append(1)
        loc = block_info[None]["array-location"]
        h = np.arange(*loc[1], dtype=np.float32)[:, None] * 1000 + np.arange(*loc[2], dtype=np.float32)
        return np.broadcast_to(h[None, :, :, None], (1, *h.shape, 2)).copy()

    x = da.map_blocks(gen, dtype=np.float32, chunks=((1,), (8, 8), (8, 8), (2,)),
                      meta=np.empty((0,) * 4, np.float32))
    w = np.ones((3, 3, 2, 1), np.float32)
    y = sd.depthwise_conv2d(x, w, 1, "SAME")
    assert calls == []
    halos = [v for k, v in dict(y.dask).items() if isinstance(k, tuple) and str(k[0]).endswith("-halo")]
    assert halos  # neighbours are sliced, not passed whole
    assert_bitwise(y.compute(scheduler="sync"), sepcpp.depthwise_conv2d(x.compute(), w, 1, "SAME"))


def test_import_sepcpp_does_not_import_dask():
    import subprocess
    import sys

    code = "import sys, sepcpp; print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_docstring_examples():
    import doctest

    result = doctest.testmod(sd, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 9 * 3 and result.failed == 0


def test_numpy_input_and_dask_filters():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 9, 3)).astype(np.float64)
    w = rng.standard_normal((3, 3, 2))
    y = sd.conv1d(x, da.from_array(w), 2, "CAUSAL")
    assert isinstance(y, da.Array)
    assert_bitwise(y.compute(), sepcpp.conv1d(x, w, 2, "CAUSAL"))


def test_list_filters_with_chunked_channels():
    """Filters and biases given as lists take the input's dtype, also when split per channel chunk."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 7, 7, 3)).astype(np.float32)
    f = rng.standard_normal((3, 3, 3, 2)).tolist()
    b = [0.5, -1.0, 2.0, 0.0, 1.0, -0.5]
    y = sd.depthwise_conv2d(da.from_array(x, chunks=(1, 3, 4, 1)), f, 1, "SAME", bias=b)
    assert_bitwise(y.compute(), sepcpp.depthwise_conv2d(x, f, 1, "SAME", bias=b))


def test_errors():
    x = da.ones((1, 5, 5, 3), dtype=np.float32, chunks=2)
    with pytest.raises(TypeError, match="out: not supported by sepcpp.dask"):
        sd.depthwise_conv2d(x, np.ones((3, 3, 3, 1), np.float32), 1, "SAME",
                            out=np.empty((1, 5, 5, 3), np.float32))
    # The NumPy API's messages, with the real input's shape (the op is checked on an empty batch).
    with pytest.raises(ValueError, match=r"input has 3 channels \(input shape \(1, 5, 5, 3\), NHWC\)"):
        sd.depthwise_conv2d(x, np.ones((3, 3, 4, 1), np.float32), 1, "SAME")
    shapes = r"\(input shape \(5, 1, 5, 3\), NHWC\) \[conv1d: input shape \(5, 5, 3\) \(NWC\)"
    with pytest.raises(ValueError, match=shapes):
        sd.conv1d(x[0], np.ones((3, 4, 2), np.float32), 1, "SAME")
    with pytest.raises(TypeError, match="input: dtype int64 is not supported"):
        sd.conv2d(da.ones((1, 5, 5, 3), dtype=np.int64), np.ones((3, 3, 3, 1)), 1, "SAME")
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        sd.conv2d(x[x[:, 0, 0, 0] > 0], np.ones((3, 3, 3, 1), np.float32), 1, "SAME")


def test_bench_dask_rows(capsys):
    """``python -m sepcpp bench --dask`` (tiny): every row's sum matches the in-memory call's."""
    import json

    from sepcpp import bench

    assert bench.main(["--dask", "--dask-size", "300", "--dask-channels", "4", "--dask-chunks", "128",
                        "--threads", "1,2", "--repeat", "1", "--no-distributed", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    engines = [(r["engine"], r["workers"]) for r in doc["results"]]
    assert engines[0][0] == "in-memory" and ("dask threads", 1) in engines and ("dask threads", 2) in engines
    assert all(r["sum_rel_diff"] < 1e-9 and r["seconds"] > 0 for r in doc["results"])


# --------------------------------------------------------------------------------------------
# dask.distributed: worker processes, pickled blocks and filters, and memory limits

MEMORY_LIMIT = 450 * 2**20  # bytes per worker


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                           memory_limit=MEMORY_LIMIT, dashboard_address=None)
    with cluster, distributed.Client(cluster) as c:
        yield c


def _fixed_cases():
    rng = np.random.default_rng(4)

    def r(*s, dtype=np.float32):
        return rng.standard_normal(s).astype(dtype)

    return [
        ("depthwise_conv2d", r(2, 23, 19, 6), (1, 6, 5, 4), [r(3, 3, 6, 2), (2, 1), "SAME"],
         dict(dilations=(1, 2), bias=r(12), activation="relu6")),
        ("pointwise_conv2d", r(1, 5, 17, 13, dtype=np.float64), (1, 2, 6, 5),
         [r(1, 1, 5, 7, dtype=np.float64)], dict(data_format="NCHW")),
        ("separable_conv2d", r(1, 31, 30, 8), (1, 8, 9, 3), [r(5, 3, 8, 2), r(1, 1, 16, 9), 3,
                                                             [[0, 0], [4, 1], [0, 3], [0, 0]]],
         dict(depthwise_bias=r(16), depthwise_activation="relu", bias=r(9), activation="relu6")),
        ("super_separable_conv2d", r(1, 4, 21, 22), (1, 2, 7, 8),
         [r(3, 3, 4, 1), r(1, 1, 2, 6), 2, 2, "VALID"], dict(data_format="NCHW")),
        ("conv2d", r(1, 18, 18, 5, dtype=np.float64), (1, 5, 7, 2),
         [r(4, 4, 5, 3, dtype=np.float64), 2, "SAME"], {}),
        ("depthwise_conv1d", r(2, 100, 4), (1, 33, 3), [r(7, 4, 2), 3, "CAUSAL"], dict(dilations=2)),
        ("separable_conv1d", r(1, 6, 90), (1, 3, 16), [r(5, 6, 1), r(1, 6, 4), 2, "SAME"],
         dict(data_format="NCW")),
        ("super_separable_conv1d", r(2, 77, 6), (2, 20, 6), [r(3, 6, 2), r(1, 4, 6), 3, 1, [[5, 2]]], {}),
        ("conv1d", r(1, 64, 3), (1, 10, 3), [r(9, 3, 2), 1, "CAUSAL"], dict(dilations=3, bias=r(2))),
    ]


def test_distributed_worker_processes_bitwise(client):
    """Every op on two worker processes: blocks, halos and filters arrive pickled."""
    ys, wants = [], []
    for op, x, chunks, args, kw in _fixed_cases():
        wants.append(getattr(sepcpp, op)(x, *args, **kw))
        ys.append(getattr(sd, op)(da.from_array(x, chunks=chunks), *args, **kw))
    got = client.compute(ys, sync=True)
    for g, w in zip(got, wants):
        assert_bitwise(g, w)
    # Both workers took part (the blocks were spread, so pickled inputs were really exercised).
    assert len(client.scheduler_info()["workers"]) == 2


def _start_rss_sampler(dask_worker):
    import psutil

    proc = psutil.Process()
    state = {"peak": proc.memory_info().rss, "stop": False}

    def sample():
        while not state["stop"]:
            state["peak"] = max(state["peak"], proc.memory_info().rss)
            time.sleep(0.005)

    state["thread"] = threading.Thread(target=sample, daemon=True)
    state["thread"].start()
    dask_worker._sepcpp_rss = state
    return os.getpid(), state["peak"]


def _stop_rss_sampler(dask_worker):
    state = dask_worker._sepcpp_rss
    state["stop"] = True
    state["thread"].join()
    return os.getpid(), state["peak"]


def _spilled_to_disk(dask_worker):
    """Bytes this worker has spilled to disk (0 where the spill buffer does not report it)."""
    spilled = getattr(dask_worker.data, "spilled_total", None)
    return getattr(spilled, "disk", 0)


def _band(block_info=None):
    """A lazily generated block of the big image: deterministic, values in [0, 3), and cheap (one
    broadcast sum of per-row, per-column and per-channel values)."""
    _, (h0, h1), (w0, w1), (c0, c1) = block_info[None]["array-location"]
    h = (np.arange(h0, h1) * 0.618034 % 1).astype(np.float32)[:, None, None]
    w = (np.arange(w0, w1) * 0.414214 % 1).astype(np.float32)[None, :, None]
    c = (np.arange(c0, c1) * 0.25).astype(np.float32)[None, None, :]
    return ((h + w) + c)[None]


def test_image_larger_than_the_workers_memory(client):
    """A 2.4 GB float32 image (lazy) through a separable layer to one number on two workers of
    450 MiB each: each worker's peak RSS, sampled every 5 ms, stays below its limit and no worker
    is restarted."""
    side, channels, chunk = 12288, 4, 1024
    x = da.map_blocks(_band, dtype=np.float32,
                      chunks=((1,), (chunk,) * (side // chunk), (chunk,) * (side // chunk), (channels,)))
    assert x.nbytes > 2.2e9 and x.nbytes > 5 * MEMORY_LIMIT and x.nbytes > 2.5 * 2 * MEMORY_LIMIT
    dw = np.full((3, 3, channels, 1), 1 / 9, np.float32)
    pw = np.full((1, 1, channels, 4), 0.25, np.float32)
    y = sd.separable_conv2d(x, dw, pw, 1, "SAME", activation="relu6")

    before = client.run(_start_rss_sampler)
    t0 = time.perf_counter()
    total = client.compute(y.sum(dtype=np.float64), sync=True)
    elapsed = time.perf_counter() - t0
    after = client.run(_stop_rss_sampler)
    peaks = ", ".join(f"{before[w][1] / 2**20:.0f} -> {after[w][1] / 2**20:.0f}" for w in after)
    print(f"\n2.4 GB image on 2 workers: {elapsed:.1f} s; RSS per worker at the start -> peak (MiB): {peaks} "
          f"(limit {MEMORY_LIMIT / 2**20:.0f})")
    assert set(before) == set(after) and all(before[w][0] == after[w][0] for w in before)  # same processes
    for _, peak in after.values():
        assert peak < MEMORY_LIMIT
    # Nothing went to disk, so the RSS is the whole working set (no spilling hid any of it).
    assert all(v == 0 for v in client.run(_spilled_to_disk).values())
    # Means of values in [0, 3) through relu6: in [0, 3), and not all zero.
    assert 0 < total < 3 * y.size
