"""The GPU tests (tests/run_gpu.sh runs them on a machine with a CUDA device; CI does not).

They need a CUDA build of sepcpp (``SEPCPP_CUDA=1 pip install .``), a device, and PyTorch with
CUDA. Where one is missing every test here is skipped, and the reason is printed at the top of the
run. ``SEPCPP_REQUIRE_GPU=1`` (set by tests/run_gpu.sh) turns that skip into a failure, so a device
run that lost its GPU or its CUDA build cannot pass by skipping. CuPy and JAX tests are skipped
without their packages unless ``SEPCPP_REQUIRE_GPU=1``.

These tests are not under tests/python, which CI runs with SEPCPP_REQUIRE_ALL=1 on machines
without a GPU.
"""

from __future__ import annotations

import importlib
import os

import pytest

REQUIRE = os.environ.get("SEPCPP_REQUIRE_GPU") == "1"


def gpu_unavailable_reason():
    """None when the tests can run; else why not."""
    import sepcpp

    cuda = sepcpp.info()["cuda"]
    if not cuda["compiled"]:
        return f"sepcpp has no CUDA target: {cuda.get('reason')}"
    if cuda["devices"] == 0:
        return f"no CUDA device: {cuda.get('reason')}"
    try:
        import torch
    except ImportError:
        return "PyTorch is not installed"
    if not torch.cuda.is_available():
        return f"PyTorch {torch.__version__} sees no CUDA device"
    return None


REASON = gpu_unavailable_reason()


def pytest_report_header(config):
    return f"sepcpp GPU tests: {'run' if REASON is None else 'SKIPPED: ' + REASON}"


@pytest.fixture(autouse=True)
def _needs_gpu():
    if REASON is not None:
        if REQUIRE:
            pytest.fail(f"SEPCPP_REQUIRE_GPU=1 but {REASON}")
        pytest.skip(REASON)


def framework(name: str):
    """torch, cupy or jax (skipped if missing, a failure under SEPCPP_REQUIRE_GPU=1)."""
    if REQUIRE:
        return importlib.import_module(name)
    return pytest.importorskip(name)
