"""Stress: many Python threads at once, thread counts changed mid-flight, KeyboardInterrupt.

- 16 Python threads call different ops (functional, with ``out=``, and shared prepacked layers)
  with different shapes for a few seconds; every result must equal, bit for bit, the result of
  the same call made alone beforehand (itself checked against the NumPy reference).
- ``set_num_threads`` is changed again and again while other threads compute; results stay
  bitwise identical (sepcpp's results do not depend on the thread count).
- KeyboardInterrupt delivered around and during calls (``_thread.interrupt_main`` and a real
  SIGINT): the library stays usable and later calls are exact.

``SEPCPP_STRESS_SECONDS`` scales the durations (the sanitizer run shortens them).
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time

import numpy as np
import pytest

import reference as ref

import sepcpp

SECONDS = float(os.environ.get("SEPCPP_STRESS_SECONDS", "2.5"))


def _case(i, rng):
    """Case i: (name, callable(out=None) -> array, reference result, reduction, dtype)."""
    dtype = np.float32 if i % 2 == 0 else np.float64
    c = [1, 3, 8, 9, 16, 17, 31, 33][i % 8]
    m = 1 + i % 3
    o = [1, 5, 8, 17, 24][i % 5]
    layout = "NHWC" if i % 4 < 2 else "NCHW"
    h, w = 5 + (i * 7) % 13, 3 + (i * 5) % 17
    kind = i % 9

    def a(*shape):
        return rng.standard_normal(shape).astype(dtype)

    x = a(1 + i % 3, h, w, c) if layout == "NHWC" else a(1 + i % 3, c, h, w)
    strides, dil = (1 + i % 2, 1 + (i // 2) % 3), (1 + (i // 3) % 2, 1)
    pad = ["SAME", "VALID"][i % 2] if i % 5 else ([[0, 0], [2, 1], [0, 3], [0, 0]] if layout == "NHWC"
                                                  else [[0, 0], [0, 0], [2, 1], [0, 3]])
    if kind == 0:
        f, b = a(3, 3, c, m), a(c * m)
        args = (x, f, strides, pad, layout, dil)
        kw = dict(bias=b, activation="relu6")
        return ("depthwise_conv2d", args, kw, ref.depthwise_conv2d(*args, **kw), 9, dtype, None)
    if kind == 1:
        f, b = a(1, 1, c, o), a(o)
        args = (x, f, layout)
        kw = dict(bias=b, activation="relu")
        return ("pointwise_conv2d", args, kw, ref.pointwise_conv2d(*args, **kw), c, dtype, None)
    if kind in (2, 3):
        dw, pw, db, b = a(3, 2, c, m), a(1, 1, c * m, o), a(c * m), a(o)
        args = (x, dw, pw, strides, pad, layout, dil)
        kw = dict(depthwise_bias=db, depthwise_activation="relu", bias=b)
        layer = sepcpp.SeparableConv2D(dw, pw, strides, pad, layout, dil, **kw) if kind == 3 else None
        return ("separable_conv2d", args, kw, ref.separable_conv2d(*args, **kw), 6 + c * m, dtype, layer)
    if kind == 4:
        f, b = a(2, 3, c, o), a(o)
        args = (x, f, strides, pad, layout, dil)
        kw = dict(bias=b)
        return ("conv2d", args, kw, ref.conv2d(*args, **kw), 6 * c, dtype, None)
    if kind == 5:
        g = 2 if (c * m) % 2 == 0 else 1
        dw, pw = a(3, 3, c, m), a(1, 1, c * m // g, o * g)
        args = (x, dw, pw, g, strides, pad, layout, dil)
        return ("super_separable_conv2d", args, {}, ref.super_separable_conv2d(*args), 9 + c * m, dtype, None)
    # 1-D
    l1 = "NWC" if layout == "NHWC" else "NCW"
    x1 = a(2, 3 + 4 * i, c) if l1 == "NWC" else a(2, c, 3 + 4 * i)
    if kind == 6:
        f = a(5, c, m)
        args = (x1, f, 1 + i % 3, "CAUSAL", l1, 1 + i % 2)
        return ("depthwise_conv1d", args, {}, ref.depthwise_conv1d(*args), 5, dtype, None)
    if kind == 7:
        dw, pw = a(7, c, m), a(1, c * m, o)
        args = (x1, dw, pw, 1, "SAME", l1, 2)
        return ("separable_conv1d", args, {"activation": "relu"}, ref.separable_conv1d(*args, activation="relu"),
                7 + c * m, dtype, None)
    f = a(3, c, o)
    args = (x1, f, 2, "SAME", l1, 3)
    return ("conv1d", args, {}, ref.conv1d(*args), 3 * c, dtype, None)


def _cases(count, seed):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        name, args, kw, want, red, dtype, layer = _case(i, rng)
        got = getattr(sepcpp, name)(*args, **kw)
        ref.assert_close(got, want, dtype, red, f"stress case {i} ({name})")
        if layer is not None:
            assert np.array_equal(layer(args[0]), got)
        out.append((name, args, kw, got, layer))
    return out


def _worker(cases, deadline, errors, counts, tid):
    """Cycles through `cases` (starting at its own offset) until `deadline`; bitwise checks."""
    n = 0
    try:
        k = tid
        while time.monotonic() < deadline:
            name, args, kw, want, layer = cases[k % len(cases)]
            mode = (k + n) % 3
            if layer is not None and mode == 0:
                got = layer(args[0])
            elif mode == 1:
                out = np.empty_like(want)
                got = getattr(sepcpp, name)(*args, **kw, out=out)
                assert got is out or np.shares_memory(got, out)
                got = out
            else:
                got = getattr(sepcpp, name)(*args, **kw)
            if not np.array_equal(got, want):
                errors.append(f"thread {tid}: {name} (case {k % len(cases)}, mode {mode}) differs from the serial "
                              f"result; max diff {np.nanmax(np.abs(got - want))}")
                return
            n += 1
            k += 7
    except BaseException as e:  # noqa: BLE001 - report anything, from any thread
        errors.append(f"thread {tid}: {type(e).__name__}: {e}")
    finally:
        counts[tid] = n


def _run_threads(cases, nthreads, seconds, extra=None):
    errors, counts = [], [0] * nthreads
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=_worker, args=(cases, deadline, errors, counts, t)) for t in range(nthreads)]
    for t in threads:
        t.start()
    if extra is not None:
        extra(deadline)
    for t in threads:
        t.join(timeout=seconds + 60)
        assert not t.is_alive(), "a worker thread hung"
    return errors, counts


def test_sixteen_threads_different_ops_and_shapes(restore_threads):
    cases = _cases(36, seed=1)
    errors, counts = _run_threads(cases, 16, SECONDS)
    assert not errors, "\n".join(errors[:10])
    assert min(counts) > 0, f"a thread made no call: {counts}"
    print(f"16 threads: {sum(counts)} calls checked bitwise ({counts})")


def test_set_num_threads_while_computing(restore_threads):
    cases = _cases(18, seed=2)
    changes = [0]

    def toggle(deadline):
        k = 0
        while time.monotonic() < deadline:
            sepcpp.set_num_threads([1, 2, 3, 4, 0, 7][k % 6])
            assert sepcpp.get_num_threads() >= 1
            k += 1
            time.sleep(0.002)
        changes[0] = k
        sepcpp.set_num_threads(0)

    errors, counts = _run_threads(cases, 8, SECONDS * 0.6, toggle)
    assert not errors, "\n".join(errors[:10])
    assert changes[0] > 10 and min(counts) > 0
    print(f"set_num_threads changed {changes[0]} times during {sum(counts)} checked calls")


def _long_call_args(rng):
    x = rng.standard_normal((2, 48, 48, 32)).astype(np.float32)
    w = rng.standard_normal((3, 3, 32, 48)).astype(np.float32)
    return x, w


@pytest.mark.parametrize("how", ["interrupt_main", "sigint"])
def test_keyboard_interrupt_leaves_library_usable(how, restore_threads):
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("KeyboardInterrupt is delivered to the main thread only")
    if how == "sigint" and signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT has a non-default handler in this process")
    rng = np.random.default_rng(3)
    x, w = _long_call_args(rng)
    want = sepcpp.conv2d(x, w, 1, "SAME")
    ref.assert_close(want[:1, :9, :9], ref.conv2d(x[:1, :11, :11], w, 1, "SAME")[:, :9, :9], np.float32, 288,
                     "long call")
    small = _cases(9, seed=4)
    t0 = time.perf_counter()
    sepcpp.conv2d(x, w, 1, "SAME")
    call = time.perf_counter() - t0
    interrupted = 0
    trials = max(4, int(8 * min(1.0, SECONDS / 2.5)))
    for trial in range(trials):
        delay = float(rng.uniform(0.0, 2.5 * call))  # before, during or between calls
        if how == "sigint":
            def send(delay=delay):
                time.sleep(delay)
                os.kill(os.getpid(), signal.SIGINT)
        else:
            def send(delay=delay):
                time.sleep(delay)
                _thread.interrupt_main()
        sender = threading.Thread(target=send)
        out = np.full_like(want, np.nan)
        try:
            sender.start()
            while sender.is_alive():
                sepcpp.conv2d(x, w, 1, "SAME", out=out)
            for _ in range(1000):  # the interrupt was sent: let it arrive inside this try
                time.sleep(0.001)
            raise AssertionError("KeyboardInterrupt was sent but never delivered")
        except KeyboardInterrupt:
            interrupted += 1
        sender.join()
        # Usable afterwards: the same call (exact), out= into the possibly interrupted buffer,
        # and every small case, all bitwise equal to the results from before.
        assert np.array_equal(sepcpp.conv2d(x, w, 1, "SAME"), want), f"trial {trial}: wrong after interrupt"
        sepcpp.conv2d(x, w, 1, "SAME", out=out)
        assert np.array_equal(out, want)
        for name, args, kw, swant, _ in small:
            assert np.array_equal(getattr(sepcpp, name)(*args, **kw), swant), f"{name} wrong after interrupt"
    assert interrupted == trials
    # And from many threads at once, after all that.
    errors, counts = _run_threads(small, 4, 0.2)
    assert not errors, "\n".join(errors)
