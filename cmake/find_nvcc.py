"""Prints the path of an nvcc from PyPI's nvidia-cuda-nvcc wheel, if one is installed for this Python.

CMakeLists.txt runs it when SEPCPP_CUDA is ON and no compiler was named (CMAKE_CUDA_COMPILER,
CUDACXX): the wheels put a whole toolkit under site-packages/nvidia/cu13 (bin/nvcc, include,
lib/libcudart_static.a; cu12 wheels used nvidia/cuda_nvcc), which nothing puts on PATH. Prints
nothing when there is none, and CMake then looks on PATH and in CUDA_HOME as usual.
"""

import importlib.util
import os
import sys


def main() -> None:
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return
    if spec is None:
        return
    # "nvidia" is a namespace package: each wheel of the family may sit in another site directory.
    for root in spec.submodule_search_locations or []:
        for sub in ("cu13", "cuda_nvcc"):
            nvcc = os.path.join(root, sub, "bin", "nvcc")
            if os.access(nvcc, os.X_OK):
                sys.stdout.write(nvcc)
                return


if __name__ == "__main__":
    main()
