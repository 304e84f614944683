"""Resources: allocation failures become MemoryError naming the size; no memory grows over calls.

The impossible sizes here are beyond any x86-64 address space (> 2**48 bytes), so they fail
whatever the kernel's overcommit policy is, instantly and without touching memory.

Under the AddressSanitizer run (``SEPCPP_ASAN=1``) the RSS check is skipped (ASan's quarantine
holds freed memory on purpose), and so is the internal-buffer case (ASan aborts on a failed
``operator new`` instead of throwing ``std::bad_alloc``).
"""

from __future__ import annotations

import gc
import os
import re

import numpy as np
import pytest

import sepcpp

UNDER_ASAN = os.environ.get("SEPCPP_ASAN") == "1"
BIG = 10_000_000  # padding per side: an output side of 2e7+1


def _pad(layout_2d="NHWC", p=BIG):
    return [[0, 0], [p, p], [p, p], [0, 0]] if layout_2d == "NHWC" else [[0, 0], [0, 0], [p, p], [p, p]]


def _one(*shape, dtype=np.float32):
    return np.ones(shape, dtype)


# Each call asks for an output of (1, 2e7+1, 2e7+1, C): 4e14 elements and more, > 2**48 bytes.
HUGE_OUTPUTS = {
    "depthwise_conv2d": lambda: sepcpp.depthwise_conv2d(_one(1, 1, 1, 1), _one(1, 1, 1, 4), 1, _pad()),
    "depthwise_conv2d NCHW f64": lambda: sepcpp.depthwise_conv2d(
        _one(1, 2, 1, 1, dtype=np.float64), _one(1, 1, 2, 2, dtype=np.float64), 1, _pad("NCHW"), "NCHW"),
    "separable_conv2d": lambda: sepcpp.separable_conv2d(_one(1, 1, 1, 2), _one(3, 3, 2, 1), _one(1, 1, 2, 8), 1,
                                                        _pad()),
    "super_separable_conv2d": lambda: sepcpp.super_separable_conv2d(
        _one(1, 1, 1, 4), _one(1, 1, 4, 1), _one(1, 1, 2, 6), 2, 1, _pad()),
    "conv2d": lambda: sepcpp.conv2d(_one(1, 1, 1, 3), _one(1, 1, 3, 16), 1, _pad()),
    "conv1d": lambda: sepcpp.conv1d(_one(1, 1, 3), _one(1, 3, 4), 1, [[0, 0], [BIG ** 2, BIG ** 2], [0, 0]]),
    "depthwise_conv1d": lambda: sepcpp.depthwise_conv1d(_one(1, 1, 8), _one(1, 8, 4), 1,
                                                        [[0, 0], [BIG ** 2, BIG ** 2], [0, 0]]),
    "DepthwiseConv2D layer": lambda: sepcpp.DepthwiseConv2D(_one(1, 1, 1, 4), 1, _pad())(_one(1, 1, 1, 1)),
    "SeparableConv2D layer": lambda: sepcpp.SeparableConv2D(_one(1, 1, 2, 1), _one(1, 1, 2, 8), 1, _pad())(
        _one(1, 1, 1, 2)),
}


def _names_size(message):
    """The message names the size: a byte count (with a unit) or the full output shape."""
    return bool(re.search(r"\d+(\.\d*)?\s*([KMGTPE]i?B|bytes)", message)) or bool(
        re.search(r"\(\s*\d+,\s*\d+,\s*\d+,\s*\d+\s*\)|\(\s*\d+,\s*\d+,\s*\d+\s*\)", message))


@pytest.mark.parametrize("name", list(HUGE_OUTPUTS))
def test_output_too_large_raises_memory_error_naming_the_size(name):
    with pytest.raises(MemoryError) as info:
        HUGE_OUTPUTS[name]()
    message = str(info.value)
    assert _names_size(message), f"{name}: MemoryError does not name the size: {message!r}"
    # ...and the library is fine afterwards.
    assert np.array_equal(sepcpp.conv2d(_one(1, 3, 3, 2), _one(3, 3, 2, 1), 1, "VALID"), np.full((1, 1, 1, 1), 18.0,
                                                                                                 np.float32))


def _huge_broadcast_input():
    """A zero-stride input of 8e14 elements (no memory behind it) in one row: sepcpp gathers the
    rows of a non-dense input per thread, so the failing allocation is its own buffer for one row,
    not the (tiny) output."""
    x = np.broadcast_to(np.float32(1), (1, 1, BIG * BIG, 8))
    return sepcpp.depthwise_conv2d(x, _one(1, 1, 8, 1), (1, BIG * BIG // 2), "VALID")


@pytest.mark.skipif(UNDER_ASAN, reason="ASan aborts on a failed operator new instead of throwing bad_alloc")
def test_internal_buffer_too_large_raises_memory_error():
    with pytest.raises(MemoryError):
        _huge_broadcast_input()
    assert sepcpp.depthwise_conv2d(_one(1, 2, 2, 8), _one(1, 1, 8, 1), 1, "VALID").shape == (1, 2, 2, 8)


@pytest.mark.skipif(UNDER_ASAN, reason="ASan aborts on a failed operator new instead of throwing bad_alloc")
def test_internal_buffer_memory_error_names_the_size():
    with pytest.raises(MemoryError) as info:
        _huge_broadcast_input()
    assert _names_size(str(info.value)), f"MemoryError does not name the size: {str(info.value)!r}"


# --------------------------------------------------------------------------------------------
def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _loop_calls(rng_arrays, count):
    """`count` calls mixing every op, out=, layers built and dropped, and calls that raise."""
    x, x1, dw, pw, cw, dw1, pw1, b, out = rng_arrays
    errors = 0
    for i in range(count):
        k = i % 10
        if k == 0:
            sepcpp.depthwise_conv2d(x, dw, 1, "SAME", bias=b[:16], activation="relu6")
        elif k == 1:
            sepcpp.pointwise_conv2d(x, pw, out=out)
        elif k == 2:
            sepcpp.separable_conv2d(x, dw, pw, (2, 1), "SAME", dilations=(1, 2), depthwise_bias=b[:16])
        elif k == 3:
            sepcpp.conv2d(x.transpose(0, 2, 1, 3), cw, 1, "VALID")  # a non-contiguous input: packed
        elif k == 4:
            sepcpp.separable_conv1d(x1, dw1, pw1, 1, "CAUSAL", dilations=2)
        elif k == 5:
            sepcpp.SeparableConv2D(dw, pw, 1, "SAME")(x)  # packed weights allocated and freed
        elif k == 6:
            sepcpp.super_separable_conv2d(x, dw, pw[:, :, :8, :], 2, 1, "SAME", data_format="NHWC")
        elif k == 7:
            sepcpp.depthwise_conv1d(x1[:, ::-1], dw1, 2, "SAME", data_format="NWC")
        else:  # bad input: the error path must free what it allocated too
            try:
                if k == 8:
                    sepcpp.conv2d(x, cw, 1, "VALID", bias=b[:3])
                else:
                    sepcpp.depthwise_conv2d(x, dw, 1, [[0, 0], [99, 99], [0, 0]])
            except ValueError:
                errors += 1
    return errors


@pytest.mark.skipif(UNDER_ASAN, reason="ASan's quarantine keeps freed memory resident on purpose")
def test_ten_thousand_calls_do_not_grow_memory():
    rng = np.random.default_rng(0)

    def a(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    arrays = (a(2, 9, 9, 16), a(2, 33, 16), a(3, 3, 16, 1), a(1, 1, 16, 24), a(3, 3, 16, 24), a(5, 16, 1),
              a(1, 16, 24), a(24), np.empty((2, 9, 9, 24), np.float32))
    _loop_calls(arrays, 1000)  # warm-up: thread pools, per-thread buffers, caches
    gc.collect()
    before = _rss_bytes()
    errors = _loop_calls(arrays, 10_000)
    gc.collect()
    growth = _rss_bytes() - before
    assert errors == 2000
    assert growth < 2 * 1024 * 1024, f"RSS grew by {growth / 1024:.0f} KiB over 10,000 calls"
