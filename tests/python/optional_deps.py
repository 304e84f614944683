"""Optional test dependencies and ISA levels, and the switch that makes all of them required.

Without a switch, a test whose optional dependency is missing is skipped, and so is an ISA level
this CPU cannot run: a developer's machine without PyTorch or AVX-512 still runs the rest.

``SEPCPP_REQUIRE_ALL=1`` (set by tests/run_all.sh, so by CI) turns that off: every dependency in
``DEPENDENCIES`` must import, every ISA level this CPU has (read from /proc/cpuinfo, not from
sepcpp) must be usable by sepcpp, and any skipped test fails (conftest.py). A runner that lost
PyTorch or an AVX-512 build then goes red instead of staying green with those tests never run.
``SEPCPP_REQUIRE_TENSORFLOW=1`` (tf_support.py) requires TensorFlow alone.

Tests name what they use with ``@pytest.mark.uses("torch")`` (a module: ``pytestmark``); the end
of the pytest run prints how many tests ran with each dependency and on each ISA level.

The one skip that stays a skip under the switch is ``not_applicable(reason)``, for a fact about this
machine or build that no installation changes: an ISA level the CPU does not have, a threading
backend the build does not use. It is reported as a skip, never counted as run.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import pytest

REQUIRE_ALL = os.environ.get("SEPCPP_REQUIRE_ALL") == "1"

# Dependency name (as in uses(...)) -> module to import.
DEPENDENCIES = {
    "tensorflow": "tensorflow",
    "torch": "torch",
    "hypothesis": "hypothesis",
    "threadpoolctl": "threadpoolctl",
    "cython": "Cython",
    "dask": "dask.array",
    "distributed": "distributed",
    "jax": "jax",
    # The inference engines the benchmark compares with (sepcpp.bench.peers).
    "onnx": "onnx",
    "onnxruntime": "onnxruntime",
    "openvino": "openvino",
    "litert": "ai_edge_litert.interpreter",
    "ml_dtypes": "ml_dtypes",
}


class NotApplicable(pytest.skip.Exception):
    """A skip for a test that cannot apply to this CPU or build (see not_applicable)."""


def not_applicable(reason: str):
    """Skips the calling test as not applicable here (a skip even under SEPCPP_REQUIRE_ALL=1)."""
    raise NotApplicable(f"not applicable here: {reason}")


def required(dep: str) -> bool:
    """Whether a missing ``dep`` is a failure (not a skip) in this run."""
    if dep not in DEPENDENCIES:
        raise KeyError(f"unknown optional dependency {dep!r}; known: {sorted(DEPENDENCIES)}")
    return REQUIRE_ALL or (dep == "tensorflow" and os.environ.get("SEPCPP_REQUIRE_TENSORFLOW") == "1")


def import_optional(dep: str):
    """The module of ``dep``: imported if required (ImportError if missing), else importorskip."""
    must = required(dep)  # KeyError for a name not in DEPENDENCIES
    module = DEPENDENCIES[dep]
    return importlib.import_module(module) if must else pytest.importorskip(module)


def missing_dependencies() -> list:
    return [dep for dep, mod in DEPENDENCIES.items() if importlib.util.find_spec(mod) is None]


def cpu_isas() -> list:
    """The ISA levels this CPU has, by sepcpp's rules (avx2 needs AVX2 and FMA; avx512 needs
    AVX-512F besides; avx512_bf16 needs AVX512_BF16 besides; amx_bf16, AMX-TILE and AMX-BF16), from the kernel's /proc/cpuinfo, independently of sepcpp's own detection."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:  # not Linux: fall back to sepcpp's own list
        from sepcpp import _core

        return [i for i in _core.isas_available().split(",") if i]
    isas = ["scalar"]
    if {"avx2", "fma"} <= flags:
        isas.append("avx2")
        if "avx512f" in flags:
            isas.append("avx512")
            if "avx512_bf16" in flags:
                isas.append("avx512_bf16")
                if {"amx_tile", "amx_bf16"} <= flags:
                    isas.append("amx_bf16")
    return isas
