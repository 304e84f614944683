"""GPU arrays given to this build: refused clearly, never copied through the host.

Runs on every build. On the default (CPU-only) build a GPU input names the missing CUDA target; on
a CUDA build without a device (tests/cuda_nodevice covers that build further) it names the missing
device. The GPU path itself is tested on a device by tests/gpu.
"""

from __future__ import annotations

import numpy as np
import pytest

import sepcpp
from optional_deps import not_applicable

CUDA = sepcpp.info()["cuda"]


class FakeDeviceArray:
    """Says, through DLPack, that it lives in CUDA memory (as a CuPy array does)."""

    __module__ = "cupy._fake"

    def __init__(self, shape, device_type=2):
        self.shape, self.dtype, self._type = tuple(shape), np.dtype(np.float32), device_type

    def __dlpack_device__(self):
        return (self._type, 0)

    def __getitem__(self, key):
        return FakeDeviceArray((1,) + self.shape, self._type)

    def __array__(self, *a, **k):
        raise AssertionError("sepcpp tried to copy a device array to the host")

    def __dlpack__(self, *a, **k):
        raise AssertionError("sepcpp tried to read a device array without a device")


def test_info_cuda():
    assert set(CUDA) >= {"compiled", "devices"}
    assert isinstance(CUDA["compiled"], bool) and isinstance(CUDA["devices"], int)
    if not CUDA["compiled"]:
        assert CUDA["devices"] == 0 and "SEPCPP_CUDA=1" in CUDA["reason"]


@pytest.mark.parametrize("call", [
    lambda x: sepcpp.depthwise_conv2d(x, np.ones((3, 3, 3, 1), np.float32), 1, "SAME"),
    lambda x: sepcpp.separable_conv2d(x, np.ones((3, 3, 3, 1), np.float32), np.ones((1, 1, 3, 2), np.float32), 1,
                                      "SAME"),
    lambda x: sepcpp.conv2d(x, np.ones((3, 3, 3, 2), np.float32), 1, "SAME"),
])
def test_gpu_input_without_cuda_or_device(call):
    if CUDA["devices"] > 0:
        not_applicable("this machine has a CUDA device (tests/gpu runs the GPU path)")
    why = "has no CUDA target" if not CUDA["compiled"] else "sees no device"
    with pytest.raises(RuntimeError, match=rf"conv2d: input is a cupy array on the GPU \(cuda:0\) but .*{why}"):
        call(FakeDeviceArray((1, 5, 5, 3)))


def test_mixed_and_foreign_devices_are_refused():
    x = np.ones((1, 5, 5, 3), np.float32)
    with pytest.raises(TypeError, match="filter: is on the GPU but the input is a host array"):
        sepcpp.depthwise_conv2d(x, FakeDeviceArray((3, 3, 3, 1)), 1, "SAME")
    with pytest.raises(TypeError, match="input: arrays on DLPack device type 10 are not supported"):
        sepcpp.conv2d(FakeDeviceArray((1, 5, 5, 3), device_type=10), np.ones((3, 3, 3, 4), np.float32), 1, "SAME")
    with pytest.raises(TypeError, match="input: is a GPU array but the layer is on device 'cpu'"):
        sepcpp.DepthwiseConv2D(np.ones((3, 3, 3, 1), np.float32), 1, "SAME")(FakeDeviceArray((1, 5, 5, 3)))


def test_layer_device_argument():
    dw = np.ones((3, 3, 3, 1), np.float32)
    assert sepcpp.DepthwiseConv2D(dw, 1, "SAME").device == "cpu"
    assert sepcpp.DepthwiseConv2D(dw, 1, "SAME", device="cpu").device == "cpu"
    with pytest.raises(ValueError, match="device: expected 'cpu', 'cuda' or 'cuda:N', got 'cuda:x'"):
        sepcpp.DepthwiseConv2D(dw, 1, "SAME", device="cuda:x")
    if CUDA["devices"] == 0:
        with pytest.raises(RuntimeError, match="DepthwiseConv2D: device='cuda:0' but"):
            sepcpp.DepthwiseConv2D(dw, 1, "SAME", device="cuda")


def test_cuda_stream_scope():
    with sepcpp.cuda_stream(0):
        with sepcpp.cuda_stream(7):
            assert sepcpp._gpu._local.stream == 7
        assert sepcpp._gpu._local.stream == 0
    assert getattr(sepcpp._gpu._local, "stream", None) is None
    with pytest.raises(TypeError, match="stream: expected"):
        sepcpp.cuda_stream(True)
    # CPU calls inside the block are unaffected
    with sepcpp.cuda_stream(0):
        y = sepcpp.depthwise_conv2d(np.ones((1, 3, 3, 1), np.float32), np.ones((3, 3, 1, 1), np.float32), 1, "VALID")
    assert y.item() == 9.0


def test_bench_device_option(capsys):
    from sepcpp.bench import cli

    assert cli.main(["--device", "tpu"]) == 2
    assert "--device: expected cpu or cuda, got 'tpu'" in capsys.readouterr().err
    if CUDA["devices"] == 0:
        assert cli.main(["--device=cuda", "--batch", "1"]) == 2
        assert "no GPU to run on" in capsys.readouterr().err
