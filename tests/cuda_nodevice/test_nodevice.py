"""The CUDA build of sepcpp on a machine with no GPU (CI: tests/run_all.sh builds it into a venv of
its own with the nvidia-cuda-* wheels and runs this file there).

What can be checked without a device: the CUDA target compiled, linked and imports with no driver;
``sepcpp.info()["cuda"]`` says so; every GPU call fails with a clear error instead of a crash or a
silent copy through the host; CPU calls are unchanged; the GPU tests (tests/gpu) skip and say why.
The kernels' results are checked only on a device (tests/run_gpu.sh).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import sepcpp

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
CUDA = sepcpp.info()["cuda"]


class FakeDeviceArray:
    """An object that says, through DLPack, that it lives on a GPU (as a CuPy array does)."""

    __module__ = "cupy._fake"

    def __init__(self, shape, dtype=np.float32, device_type=2):
        self.shape, self.dtype, self._type = tuple(shape), np.dtype(dtype), device_type

    def __dlpack_device__(self):
        return (self._type, 0)

    def __getitem__(self, key):
        return FakeDeviceArray((1,) + self.shape, self.dtype, self._type)

    def __array__(self, *a, **k):  # a silent host copy would come through here
        raise AssertionError("sepcpp tried to copy a device array to the host")


def test_the_cuda_target_is_compiled_and_sees_no_device():
    assert CUDA["compiled"] is True, CUDA
    assert CUDA["devices"] == 0, f"this check is for machines without a GPU: {CUDA}"
    assert CUDA["reason"], CUDA
    assert CUDA["architectures"] == ["90-real", "90-virtual"], CUDA
    assert CUDA["runtime_version"].startswith("13."), CUDA


def test_the_runtime_is_linked_statically():
    import sepcpp._cuda  # noqa: F401

    with open("/proc/self/maps") as f:
        maps = f.read()
    assert "libcudart" not in maps, "the CUDA runtime must be linked statically, not loaded"


def test_gpu_calls_fail_clearly_without_a_device():
    x = FakeDeviceArray((1, 5, 5, 3))
    dw = np.ones((3, 3, 3, 2), np.float32)
    pw = np.ones((1, 1, 6, 4), np.float32)
    with pytest.raises(RuntimeError, match=r"separable_conv2d: input is a cupy array on the GPU \(cuda:0\) but "
                                           r"the CUDA runtime sees no device"):
        sepcpp.separable_conv2d(x, dw, pw, 1, "SAME")
    with pytest.raises(RuntimeError, match="super_separable_conv2d: input .* sees no device"):
        sepcpp.super_separable_conv2d(x, dw, np.ones((1, 1, 3, 4), np.float32), 2, 1, "SAME")
    with pytest.raises(RuntimeError, match="sees no device"):
        sepcpp.depthwise_conv1d(FakeDeviceArray((1, 5, 3)), dw[0], 1, "SAME")
    with pytest.raises(RuntimeError, match=r"SeparableConv2D: device='cuda:0' but the CUDA runtime sees 0 device"):
        sepcpp.SeparableConv2D(dw, pw, 1, "SAME", device="cuda")
    with pytest.raises(ValueError, match="device: expected 'cpu', 'cuda' or 'cuda:N', got 'gpu'"):
        sepcpp.SeparableConv2D(dw, pw, 1, "SAME", device="gpu")


def test_mixed_and_foreign_devices_are_refused():
    x = np.ones((1, 5, 5, 3), np.float32)
    with pytest.raises(TypeError, match="filter: is on the GPU but the input is a host array"):
        sepcpp.depthwise_conv2d(x, FakeDeviceArray((3, 3, 3, 1)), 1, "SAME")
    with pytest.raises(TypeError, match="DLPack device type 10 are not supported"):
        sepcpp.conv2d(FakeDeviceArray((1, 5, 5, 3), device_type=10), np.ones((3, 3, 3, 4), np.float32), 1, "SAME")
    with pytest.raises(TypeError, match="input: is a GPU array but the layer is on device 'cpu'"):
        sepcpp.DepthwiseConv2D(np.ones((3, 3, 3, 1), np.float32), 1, "SAME")(FakeDeviceArray((1, 5, 5, 3)))


def test_cpu_calls_are_unchanged():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    dw = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    pw = rng.standard_normal((1, 1, 6, 4)).astype(np.float32)
    y = sepcpp.separable_conv2d(x, dw, pw, 1, "VALID")
    win = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), (3, 3), axis=(1, 2))  # n,h,w,c,p,q
    mid = np.einsum("nhwcpq,pqcm->nhwcm", win, dw.astype(np.float64)).reshape(2, 5, 4, 6)
    want = mid @ pw[0, 0].astype(np.float64)
    assert type(y) is np.ndarray and y.dtype == np.float32
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-5)
    layer = sepcpp.SeparableConv2D(dw, pw, 1, "VALID")
    assert layer.device == "cpu" and np.array_equal(layer(x), y)
    torch = pytest.importorskip("torch") if os.environ.get("SEPCPP_REQUIRE_ALL") != "1" else __import__("torch")
    assert np.array_equal(sepcpp.separable_conv2d(torch.from_numpy(x), dw, pw, 1, "VALID"), y)


def test_the_gpu_tests_skip_and_say_why():
    cmd = [sys.executable, "-m", "pytest", os.path.join(ROOT, "tests", "gpu"), "-q", "-rs", "-p", "no:cacheprovider",
           "-k", "stream or errors"]
    env = {k: v for k, v in os.environ.items() if k not in ("SEPCPP_REQUIRE_ALL", "SEPCPP_REQUIRE_GPU")}
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SKIPPED" in r.stdout and "no CUDA device" in r.stdout and "passed" not in r.stdout, r.stdout
    r = subprocess.run(cmd, capture_output=True, text=True, env={**env, "SEPCPP_REQUIRE_GPU": "1"}, cwd=ROOT,
                       timeout=300)
    assert r.returncode != 0 and "SEPCPP_REQUIRE_GPU=1 but no CUDA device" in r.stdout, r.stdout
