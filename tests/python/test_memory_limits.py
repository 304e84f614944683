"""Memory: non-dense inputs are read row by row, never copied whole; a buffer larger than the
memory available is refused with a MemoryError before it is attempted.

Each check runs in a fresh process, so that its peak memory (VmHWM) is its own and an address-space
limit cannot affect the test run. Nothing here allocates more than a few MiB: the huge inputs are
zero-stride views (np.broadcast_to) with no memory behind them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
UNDER_ASAN = os.environ.get("SEPCPP_ASAN") == "1"


def _run(script, timeout=60):
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=timeout, cwd=HERE, env=dict(os.environ, PYTHONPATH=HERE))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


BOUNDED_RSS = """
    import numpy as np
    import reference
    import sepcpp

    def peak():
        with open("/proc/self/status") as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))

    rng = np.random.default_rng(7)
    f32 = np.float32
    dw = rng.standard_normal((3, 3, 3, 1)).astype(f32)
    pw = rng.standard_normal((1, 1, 3, 4)).astype(f32)
    cw = rng.standard_normal((3, 3, 3, 2)).astype(f32)
    row = rng.standard_normal((1, 1, 2**11, 3)).astype(f32)
    # Warm up (code pages, thread team, allocator arenas) on small inputs of each kind.
    small = np.broadcast_to(row, (1, 8, 2**11, 3))
    sepcpp.depthwise_conv2d(small, dw, (4, 512), "VALID")
    sepcpp.separable_conv2d(small.transpose(0, 3, 1, 2), dw, pw, (4, 512), "VALID", data_format="NCHW")
    sepcpp.conv2d(small, cw, (4, 512), "VALID")
    before = peak()
    # Each input would take 24 GiB as a dense copy; each output is (1, 1024, 4, C).
    huge = (1, 2**20, 2**11, 3)
    cases = {
        # Rows read in place (only the row stride is zero).
        "depthwise_conv2d, rows broadcast": (lambda x: sepcpp.depthwise_conv2d(x, dw, (2**10, 2**9), "VALID"),
                                             lambda x: reference.depthwise_conv2d(x, dw, (2**10, 2**9), "VALID"),
                                             np.broadcast_to(row, huge)),
        # Rows gathered per thread: every stride zero.
        "conv2d, scalar broadcast": (lambda x: sepcpp.conv2d(x, cw, (2**10, 2**9), "VALID"),
                                     lambda x: reference.conv2d(x, cw, (2**10, 2**9), "VALID"),
                                     np.broadcast_to(f32(1.5), huge)),
        # Rows gathered per thread from an NCHW view (channels 2**11 elements apart).
        "separable_conv2d NCHW": (
            lambda x: sepcpp.separable_conv2d(x, dw, pw, (2**10, 2**9), "VALID", data_format="NCHW"),
            lambda x: reference.separable_conv2d(x, dw, pw, (2**10, 2**9), "VALID", data_format="NCHW"),
            np.broadcast_to(np.ascontiguousarray(row.transpose(0, 3, 1, 2)), (1, 3, 2**20, 2**11))),
    }
    for name, (op, ref, x) in cases.items():
        y = op(x)
        # Every input row is the same, so every output row is that of a 3-row slice.
        h_axis = 2 if "NCHW" in name else 1
        want = ref(np.ascontiguousarray(x[:, :, :3] if h_axis == 2 else x[:, :3]).astype(np.float64))
        want = np.broadcast_to(want, y.shape)
        err = float(np.max(np.abs(y - want)))
        print(name, y.shape, err)
        assert err < 1e-4, (name, err)
    print("GROWTH", peak() - before)
"""


@pytest.mark.skipif(UNDER_ASAN, reason="ASan's shadow memory and quarantine make the peak meaningless")
def test_huge_broadcast_inputs_run_in_bounded_memory():
    out = _run(BOUNDED_RSS)
    growth = int(re.search(r"GROWTH (-?\d+)", out).group(1))
    # A dense copy of any of these inputs would be 24 GiB; a few rows per thread are < 1 MiB.
    assert growth < 64 << 20, f"peak memory grew by {growth} bytes:\n{out}"


TOO_LARGE = """
    import resource
    import numpy as np
    import sepcpp

    def field(path, key):
        with open(path) as f:
            return next(int(l.split()[1]) * 1024 for l in f if l.startswith(key))

    f32 = np.float32
    sepcpp.depthwise_conv2d(np.ones((1, 4, 4, 2), f32), np.ones((3, 3, 2, 1), f32), 1, "SAME")  # warm up
    available = field("/proc/meminfo", "MemAvailable:")
    # Two output pixels, half a row apart: sepcpp gathers the half row between them, a buffer of
    # twice the available memory: an allocation the kernel may well grant (overcommit) and the OOM
    # killer punish later. The address-space limit makes sure it is never actually made: without
    # sepcpp's own check it would fail as a plain allocation failure (no "available").
    elements = (4 * available + (2 << 30)) // 4
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (field("/proc/self/status", "VmSize:") + (1 << 30), hard))
    x = np.broadcast_to(f32(1), (1, 1, elements, 1))
    try:
        sepcpp.depthwise_conv2d(x, np.ones((1, 1, 1, 1), f32), (1, elements // 2 + 1), "VALID")
        print("NO ERROR")
    except MemoryError as e:
        print("MEMORYERROR", e)
    print("AVAILABLE_MIB", available >> 20)
    # The process is usable afterwards.
    y = sepcpp.depthwise_conv2d(np.ones((1, 4, 4, 2), f32), np.ones((3, 3, 2, 1), f32), 1, "SAME")
    print("AFTER", float(y[0, 1, 1, 0]), float(y[0, 0, 0, 0]))
"""


@pytest.mark.skipif(UNDER_ASAN, reason="ASan reserves terabytes of address space: RLIMIT_AS cannot be set")
def test_buffer_larger_than_available_memory_is_a_memory_error_naming_it():
    out = _run(TOO_LARGE)
    assert "NO ERROR" not in out, out
    message = re.search(r"MEMORYERROR (.*)", out).group(1)
    assert "the input rows gathered per thread" in message, message
    assert re.search(r"\d+ elements \(\d+(\.\d+)? MiB\)", message), message
    reported = int(re.search(r"only (\d+) MiB of memory is available", message).group(1))
    available = int(re.search(r"AVAILABLE_MIB (\d+)", out).group(1))
    assert 0 < reported <= available * 1.25 + 256, (reported, available)
    assert "AFTER 9.0 4.0" in out, out
