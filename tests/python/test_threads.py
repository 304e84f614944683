"""Threading: bitwise determinism across thread counts, concurrent calls, thread-count control."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import reference as ref
from optional_deps import import_optional, not_applicable
from reference import assert_close

import sepcpp

OPS_2D = ["depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "conv2d"]
OPS_1D = ["depthwise_conv1d", "separable_conv1d", "conv1d"]
ALL_OPS = OPS_2D + OPS_1D


def work_case(op, rng, dtype=np.float32, *, size="large"):
    """Arguments big enough that every op splits its work across threads.

    Odd sizes and channel counts so that no tile or vector width divides them.
    """
    two_d = op.endswith("2d")
    c, m, o = 19, 2, 23
    large = size == "large"
    if two_d:
        shape = (3, 29, 31, c) if large else (2, 9, 11, c)
    else:
        shape = (3, 301, c) if large else (2, 37, c)
    x = rng.standard_normal(shape).astype(dtype)

    def a(*s):
        return rng.standard_normal(s).astype(dtype)

    if op == "pointwise_conv2d":
        return {"input": x, "filter": a(1, 1, c, o), "bias": a(o), "activation": "relu"}
    if two_d:
        args = {"input": x, "strides": (1, 2), "padding": "SAME", "dilations": (2, 1)}
        k = (3, 3)
    else:
        args = {"input": x, "stride": 1, "padding": "CAUSAL", "dilations": 2}
        k = (5,)
    if op.startswith("depthwise"):
        args.update(filter=a(*k, c, m), bias=a(c * m))
    elif op.startswith("separable"):
        args.update(depthwise_filter=a(*k, c, m), pointwise_filter=a(*(1,) * len(k), c * m, o),
                    depthwise_bias=a(c * m), depthwise_activation="relu6", bias=a(o))
    else:
        args.update(filters=a(*k, c, o), bias=a(o), activation="relu6")
    return args


def reduction(op, args):
    if op.startswith("conv"):
        return int(np.prod(args["filters"].shape[:-1]))
    return 1 if op.startswith("depthwise") else 200


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ALL_OPS)
def test_bitwise_identical_for_any_thread_count(op, dtype, rng):
    args = work_case(op, rng, dtype)
    first = None
    for n in (1, 2, 3, 4, 1):
        sepcpp.set_num_threads(n)
        assert sepcpp.get_num_threads() == n
        y = getattr(sepcpp, op)(**args)
        if first is None:
            first = y
            assert_close(y, getattr(ref, op)(**args), dtype, reduction(op, args), what=op)
        else:
            assert y.tobytes() == first.tobytes(), f"{op}: {n} threads differ from 1 thread"
    sepcpp.set_num_threads(0)
    assert getattr(sepcpp, op)(**args).tobytes() == first.tobytes()


@pytest.mark.usefixtures("restore_threads")
def test_bitwise_identical_single_image_nchw(rng):
    """Batch 1 (the work must be split inside an image), NCHW, float32."""
    x = rng.standard_normal((1, 21, 67, 70)).astype(np.float32)
    dw = rng.standard_normal((5, 3, 21, 1)).astype(np.float32)
    pw = rng.standard_normal((1, 1, 21, 37)).astype(np.float32)
    cv = rng.standard_normal((3, 3, 21, 9)).astype(np.float32)
    calls = [
        lambda: sepcpp.separable_conv2d(x, dw, pw, [1, 1, 2, 1], "SAME", "NCHW"),
        lambda: sepcpp.depthwise_conv2d(x, dw, 1, "VALID", "NCHW", dilations=[1, 1, 2, 3]),
        lambda: sepcpp.conv2d(x, cv, (1, 1), [[0, 0], [0, 0], [2, 1], [0, 3]], "NCHW"),
        lambda: sepcpp.pointwise_conv2d(x, pw, "NCHW"),
    ]
    for fn in calls:
        sepcpp.set_num_threads(1)
        y1 = fn()
        for n in (2, 3, 5):
            sepcpp.set_num_threads(n)
            assert fn().tobytes() == y1.tobytes()


def test_concurrent_python_threads(rng):
    """8 Python threads call different ops at once; each result matches the reference."""
    n_threads, repeats = 8, 6
    jobs = []
    for i in range(n_threads):
        op = ALL_OPS[i % len(ALL_OPS)]
        dtype = np.float32 if i % 2 == 0 else np.float64
        args = work_case(op, rng, dtype, size="small")
        jobs.append((op, dtype, args))
    results = [[] for _ in range(n_threads)]
    errors = []
    barrier = threading.Barrier(n_threads)

    def worker(i):
        op, _, args = jobs[i]
        try:
            barrier.wait(timeout=60)
            for r in range(repeats):
                results[i].append(getattr(sepcpp, op)(**args))
                # The error path is thread-safe too.
                with pytest.raises(ValueError):
                    getattr(sepcpp, op)(**dict(args, activation="bogus"))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append((i, op, repr(e)))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    assert not errors, errors
    for i, (op, dtype, args) in enumerate(jobs):
        assert len(results[i]) == repeats
        expected = getattr(ref, op)(**args)
        for y in results[i]:
            assert_close(y, expected, dtype, reduction(op, args), what=f"thread {i} {op}")
            assert y.tobytes() == results[i][0].tobytes()


def test_concurrent_calls_same_inputs_with_out(rng):
    """Many threads share one input and write into their own out arrays."""
    args = work_case("separable_conv2d", rng, np.float32, size="small")
    expected = sepcpp.separable_conv2d(**args)
    outs = [np.full_like(expected, np.nan) for _ in range(8)]
    errors = []

    def worker(out):
        try:
            for _ in range(5):
                assert sepcpp.separable_conv2d(**args, out=out) is out
        except BaseException as e:  # noqa: BLE001
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(o,)) for o in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for out in outs:
        assert out.tobytes() == expected.tobytes()


# --------------------------------------------------------------------------------------------
# Thread-count control
# --------------------------------------------------------------------------------------------
@pytest.mark.usefixtures("restore_threads")
def test_set_get_num_threads_roundtrip():
    sepcpp.set_num_threads(0)
    default = sepcpp.get_num_threads()
    assert default >= 1
    for n in (1, 3, 2, 7):
        sepcpp.set_num_threads(n)
        assert sepcpp.get_num_threads() == n
        assert sepcpp.info()["num_threads"] == n
    # The fixed count is process-wide: another Python thread sees it.
    seen = []
    t = threading.Thread(target=lambda: seen.append(sepcpp.get_num_threads()))
    t.start()
    t.join()
    assert seen == [7]
    sepcpp.set_num_threads(0)
    assert sepcpp.get_num_threads() == default


@pytest.mark.usefixtures("restore_threads")
def test_set_num_threads_bad_values():
    sepcpp.set_num_threads(2)
    with pytest.raises(ValueError):
        sepcpp.set_num_threads(-1)
    with pytest.raises(TypeError):
        sepcpp.set_num_threads("2")
    # A refused call leaves the setting alone.
    assert sepcpp.get_num_threads() == 2


@pytest.mark.uses("threadpoolctl")
@pytest.mark.usefixtures("restore_threads")
def test_threadpoolctl_limits_openmp(rng):
    threadpoolctl = import_optional("threadpoolctl")
    if not sepcpp.info()["openmp"]:
        not_applicable("sepcpp built with its own thread pool, not OpenMP")
    sepcpp.set_num_threads(0)
    args = work_case("conv2d", rng, np.float32, size="small")
    expected = sepcpp.conv2d(**args)  # make sure the OpenMP runtime is loaded and used
    libs = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "openmp"]
    assert libs, "threadpoolctl finds no OpenMP runtime in the process"
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert sepcpp.get_num_threads() == 1
        assert sepcpp.conv2d(**args).tobytes() == expected.tobytes()
    with threadpoolctl.threadpool_limits(limits=2, user_api="openmp"):
        assert sepcpp.get_num_threads() == 2
    # A count fixed with set_num_threads wins over OpenMP's.
    sepcpp.set_num_threads(3)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert sepcpp.get_num_threads() == 3
    # ... until set_num_threads(0) hands control back to OpenMP.
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        sepcpp.set_num_threads(0)
        assert sepcpp.get_num_threads() == 1


@pytest.mark.parametrize("omp", ["1", "3"])
def test_omp_num_threads_environment(omp):
    if not sepcpp.info()["openmp"]:
        not_applicable("sepcpp built with its own thread pool, not OpenMP")
    env = dict(os.environ, OMP_NUM_THREADS=omp)
    code = "import sepcpp; print(sepcpp.get_num_threads(), sepcpp.info()['num_threads'])"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [omp, omp]


@pytest.mark.uses("threadpoolctl")
@pytest.mark.usefixtures("restore_threads")
def test_threadpoolctl_sees_and_limits_the_pool(rng):
    """threadpoolctl lists sepcpp's pool and limits it (user_api "sepcpp" or no user_api), and puts
    the count back afterwards; results do not change."""
    threadpoolctl = import_optional("threadpoolctl")
    kw = work_case("separable_conv2d", rng)
    x = kw.pop("input")
    want = sepcpp.separable_conv2d(x, **kw)
    mine = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "sepcpp"]
    assert len(mine) == 1, threadpoolctl.threadpool_info()
    assert mine[0]["version"] == sepcpp.__version__
    assert mine[0]["num_threads"] == sepcpp.get_num_threads()
    sepcpp.set_num_threads(2)
    try:
        with threadpoolctl.threadpool_limits(limits=1, user_api="sepcpp"):
            assert sepcpp.get_num_threads() == 1
            assert np.array_equal(sepcpp.separable_conv2d(x, **kw), want)
        assert sepcpp.get_num_threads() == 2
        with threadpoolctl.threadpool_limits(limits=1):
            assert sepcpp.get_num_threads() == 1
        assert sepcpp.get_num_threads() == 2
    finally:
        sepcpp.set_num_threads(0)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 2])
def test_bitwise_identical_small_image_column_blocks(groups, dtype, rng, isa):
    """A small image (28 pixels) with many output channels: the fused separable path splits the
    pointwise columns into one block per thread, each redoing the depthwise step."""
    x = rng.standard_normal((1, 4, 7, 24)).astype(dtype)
    dw = rng.standard_normal((3, 3, 24, 2)).astype(dtype)
    pw = rng.standard_normal((1, 1, 48 // groups, 514)).astype(dtype)
    db = rng.standard_normal(48).astype(dtype)
    b = rng.standard_normal(514).astype(dtype)
    kw = dict(depthwise_bias=db, depthwise_activation="relu6", bias=b, activation="relu")

    def call():
        return sepcpp.super_separable_conv2d(x, dw, pw, groups, 1, "SAME", **kw)

    sepcpp.set_num_threads(1)
    first = call()
    want = ref.super_separable_conv2d(x, dw, pw, groups, 1, "SAME", **kw)
    assert_close(first, want, dtype, 48 // groups, what="super_separable_conv2d")
    for n in (2, 3, 4, 8):
        sepcpp.set_num_threads(n)
        assert call().tobytes() == first.tobytes(), f"{n} threads differ from 1 thread"


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bitwise_identical_streamed_weights_column_blocks(dtype, rng, isa):
    """All pixels in one tile (6x9) and packed weights over 1 MiB (600 x 520): the fused path
    splits the columns between threads even with more pixels than the few-pixels rule takes."""
    x = rng.standard_normal((1, 6, 9, 600)).astype(dtype)
    dw = rng.standard_normal((3, 3, 600, 1)).astype(dtype)
    pw = rng.standard_normal((1, 1, 600, 520)).astype(dtype)
    b = rng.standard_normal(520).astype(dtype)

    def call():
        return sepcpp.separable_conv2d(x, dw, pw, 1, "SAME", bias=b, activation="relu6")

    sepcpp.set_num_threads(1)
    first = call()
    want = ref.separable_conv2d(x, dw, pw, 1, "SAME", bias=b, activation="relu6")
    assert_close(first, want, dtype, 600 + 9, what="separable_conv2d")
    for n in (2, 3, 5):
        sepcpp.set_num_threads(n)
        assert call().tobytes() == first.tobytes(), f"{n} threads differ from 1 thread"


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [1, 2])
def test_bitwise_identical_shared_depthwise_column_blocks(dtype, groups, rng, isa):
    """A 7x7 image against 2 MiB of weights: one tile, its GEMM columns cut into several blocks per
    thread, the depthwise step (multiplier 2, its bias and activation) computed once and shared by
    the blocks. The same bits for any thread count, and the reference's values."""
    x = rng.standard_normal((1, 7, 7, 256)).astype(dtype)
    dw = rng.standard_normal((3, 3, 256, 2)).astype(dtype)
    pw = rng.standard_normal((1, 1, 512 // groups, 1040)).astype(dtype)
    kw = dict(depthwise_bias=rng.standard_normal(512).astype(dtype), depthwise_activation="relu",
              bias=rng.standard_normal(1040).astype(dtype), activation="relu6")

    def call():
        return sepcpp.super_separable_conv2d(x, dw, pw, groups, 1, "SAME", **kw)

    sepcpp.set_num_threads(1)
    first = call()
    want = ref.super_separable_conv2d(x, dw, pw, groups, 1, "SAME", **kw)
    assert_close(first, want, dtype, 9 + 512 // groups, what="super_separable_conv2d")
    for n in (2, 3, 4, 7):
        sepcpp.set_num_threads(n)
        assert call().tobytes() == first.tobytes(), f"{n} threads differ from 1 thread"
