"""sepcpp's build backend: scikit-build-core's, plus the CUDA compiler when SEPCPP_CUDA is set.

pyproject.toml names this module (build-system.backend-path) so that `SEPCPP_CUDA=1 pip install .`
gets nvcc, the CUDA runtime and its headers from PyPI as build requirements, on a machine with no
CUDA installed: pip asks get_requires_for_build_wheel before it builds. Without SEPCPP_CUDA the
requirements, and so the CPU build, are scikit-build-core's alone. (With --no-build-isolation pip
installs nothing: the nvidia-cuda-* packages must then be in the environment already.)
SEPCPP_CUDA also turns the CMake option on: see [[tool.scikit-build.overrides]] in pyproject.toml.
"""

import os

from scikit_build_core import build as _backend
from scikit_build_core.build import *  # noqa: F401,F403 - every hook we do not override

# CUDA 13: the first release that still builds for sm_90 and whose nvcc wheel lands in nvidia/cu13.
CUDA_BUILD_REQUIRES = [
    "nvidia-cuda-nvcc>=13,<14",
    "nvidia-cuda-runtime>=13,<14",
    "nvidia-cuda-cccl>=13,<14",
]


def _cuda_wanted() -> bool:
    return os.environ.get("SEPCPP_CUDA", "").strip().lower() not in ("", "0", "off", "false", "no")


def _extra() -> list:
    return list(CUDA_BUILD_REQUIRES) if _cuda_wanted() else []


def get_requires_for_build_wheel(config_settings=None):
    return list(_backend.get_requires_for_build_wheel(config_settings)) + _extra()


def get_requires_for_build_editable(config_settings=None):
    return list(_backend.get_requires_for_build_editable(config_settings)) + _extra()
