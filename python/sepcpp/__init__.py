"""sepcpp: depthwise, pointwise and separable convolution with TensorFlow's semantics.

The functions take ``tf.nn``'s argument names, layouts and padding rules and return NumPy arrays;
the work is done by a C++ core (OpenMP threads, AVX2/AVX-512 kernels chosen at run time).
"""

from __future__ import annotations

import os as _os

from . import _core
from ._layers import Conv2D, DepthwiseConv2D, PointwiseConv2D, SeparableConv2D
from ._api import (
    conv1d,
    conv2d,
    depthwise_conv1d,
    depthwise_conv2d,
    pointwise_conv2d,
    separable_conv1d,
    separable_conv2d,
    super_separable_conv1d,
    super_separable_conv2d,
)

__version__ = "0.1.0"

__all__ = [
    "Conv2D",
    "DepthwiseConv2D",
    "PointwiseConv2D",
    "SeparableConv2D",
    "conv1d",
    "conv2d",
    "depthwise_conv1d",
    "depthwise_conv2d",
    "get_num_threads",
    "info",
    "pointwise_conv2d",
    "separable_conv1d",
    "separable_conv2d",
    "set_num_threads",
    "super_separable_conv1d",
    "super_separable_conv2d",
]


def set_num_threads(n: int) -> None:
    """Fix the number of threads every op uses, process-wide; 0 returns to following OpenMP
    (``OMP_NUM_THREADS``, ``threadpoolctl``)."""
    import operator

    if isinstance(n, bool):
        raise TypeError(f"n: expected an int, got {n!r}")
    n = operator.index(n)
    if n < 0:
        raise ValueError(f"n: must be >= 0 (0 follows OpenMP), got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the next op will use."""
    return _core.get_num_threads()


def info() -> dict:
    """What this build of sepcpp has and uses."""
    try:
        isa = _core.isa_in_use()
    except ValueError as e:  # an unusable SEPCPP_ISA: report it rather than fail
        isa = f"error: {e}"
    return {
        "version": __version__,
        "isa_compiled": _core.isas_compiled().split(","),
        "isa_available": _core.isas_available().split(","),
        "isa": isa,
        "isa_forced": _os.environ.get("SEPCPP_ISA") or None,
        "openmp": bool(_core.openmp_enabled()),
        "num_threads": _core.get_num_threads(),
        "cuda": False,
    }
