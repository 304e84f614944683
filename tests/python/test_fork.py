"""Forked workers: after a multi-threaded call in the parent, calls in forked children compute
exactly and never hang, and the parent keeps its threads.

With an OpenMP team behind the ops, a forked child's first parallel call waited forever for team
threads that do not exist in the child. Each route users take is tested under a timeout, in a
fresh Python process so that the test run itself never forks a process holding TensorFlow's or
pytest's threads: os.fork, multiprocessing with the fork start method, ProcessPoolExecutor, and
PyTorch DataLoader workers.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import sepcpp
from optional_deps import import_optional

TIMEOUT = 120

# Shared by every route: a call large enough to use both threads, its result in the parent, and a
# check in the child against that result (bitwise: the same arithmetic whatever the thread count).
PRELUDE = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    import sepcpp

    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 40, 40, 32)).astype(np.float32)
    dw = rng.standard_normal((3, 3, 32, 1)).astype(np.float32)
    pw = rng.standard_normal((1, 1, 32, 64)).astype(np.float32)
    sepcpp.set_num_threads(2)

    def compute(seed_shift=0):
        return sepcpp.separable_conv2d(x + np.float32(seed_shift), dw, pw, 1, "SAME", activation="relu6")

    def expected(seed_shift=0):
        # float64 direct sum, independent of sepcpp
        xs = (x + np.float32(seed_shift)).astype(np.float64)
        p = np.pad(xs, ((0, 0), (1, 1), (1, 1), (0, 0)))
        d = np.zeros((2, 40, 40, 32))
        for i in range(3):
            for j in range(3):
                d += p[:, i:i + 40, j:j + 40, :] * dw[i, j, :, 0]
        return np.clip(d @ pw[0, 0].astype(np.float64), 0, 6)

    def check(y, seed_shift=0):
        np.testing.assert_allclose(y, expected(seed_shift), rtol=1e-4, atol=1e-4)
        return True

    parent = compute()          # the parent's threads are started here
    check(parent)
    """
)


def run_script(body: str) -> str:
    code = PRELUDE + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc.stdout


def test_os_fork():
    out = run_script(
        """
        pid = os.fork()
        if pid == 0:
            try:
                y = compute(1)
                ok = check(y, 1) and sepcpp.get_num_threads() == 2
                os._exit(0 if ok else 3)
            except BaseException as e:
                print("child failed:", repr(e), flush=True)
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
        assert np.array_equal(compute(), parent)   # the parent still computes, with its threads
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_multiprocessing_fork_pool():
    out = run_script(
        """
        import multiprocessing as mp

        def work(k):
            y = compute(k)
            check(y, k)
            return float(y.sum())

        with mp.get_context("fork").Pool(2) as pool:
            sums = pool.map(work, range(4))
        assert sums == [float(compute(k).sum()) for k in range(4)], sums
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_process_pool_executor_fork():
    out = run_script(
        """
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        def work(k):
            y = compute(k)
            check(y, k)
            return y

        with ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
            results = list(ex.map(work, range(3)))
        for k, y in enumerate(results):
            assert np.array_equal(y, compute(k))
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


@pytest.mark.uses("torch")
def test_torch_dataloader_fork_workers():
    import_optional("torch")
    out = run_script(
        """
        import torch
        from torch.utils.data import DataLoader, Dataset

        class Layers(Dataset):
            def __len__(self):
                return 4
            def __getitem__(self, k):
                y = compute(k)
                check(y, k)
                return torch.from_numpy(y)

        loader = DataLoader(Layers(), batch_size=None, num_workers=2, multiprocessing_context="fork")
        got = [t.numpy() for t in loader]
        for k, y in enumerate(got):
            assert np.array_equal(y, compute(k))
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_threading_backend_reported():
    # The default build runs on sepcpp's own pool; a -DSEPCPP_THREADING=openmp build says so.
    assert sepcpp.info()["threading"] in ("pool", "openmp")
