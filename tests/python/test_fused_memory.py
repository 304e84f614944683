"""The fused separable pass never allocates the [N, OH, OW, C*M] intermediate: on an
(8, 112, 112, 64) input (M=1, O=64) the process's peak memory grows by at most the output plus
1 MiB per thread (checked in a fresh process, where ru_maxrss is this call's peak)."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    import sepcpp

    threads = sepcpp.get_num_threads()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 112, 112, 64), dtype=np.float32)
    dw = rng.standard_normal((3, 3, 64, 1), dtype=np.float32)
    pw = rng.standard_normal((1, 1, 64, 64), dtype=np.float32)
    # Warm up on a small input: code pages, the thread team, allocator arenas.
    sepcpp.separable_conv2d(x[:1, :16], dw, pw, 1, "SAME")
    out = np.empty((8, 112, 112, 64), np.float32)
    out.fill(0)  # touch the output's pages before measuring
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    sepcpp.separable_conv2d(x, dw, pw, 1, "SAME", out=out)
    with_out = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    y = sepcpp.separable_conv2d(x, dw, pw, 1, "SAME")
    fresh = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    print(threads, with_out, fresh, y.nbytes)
    """
)


def test_separable_peak_memory_is_output_plus_scratch():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    threads, with_out, fresh, out_bytes = (int(v) for v in proc.stdout.split())
    scratch = threads * (1 << 20)
    # Writing into a given out: nothing but per-thread scratch.
    assert with_out <= scratch, f"peak grew by {with_out} bytes with out= ({threads} threads)"
    # A fresh result: the output itself plus the scratch. The intermediate alone would be as large
    # as the output (25.7 MB), so this bound fails if it were allocated.
    assert fresh <= out_bytes + scratch, f"peak grew by {fresh} bytes; output is {out_bytes} bytes"
