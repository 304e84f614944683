"""sepcpp: depthwise, pointwise and separable convolution with TensorFlow's semantics.

The functions take ``tf.nn``'s argument names, layouts and padding rules and return NumPy arrays;
the work is done by a C++ core (its own thread pool, AVX2/AVX-512 kernels chosen at run time).
"""

from __future__ import annotations

import os as _os

from . import _core
from . import _threadpoolctl  # noqa: F401  (registers the pool with threadpoolctl, if installed)
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
from ._grad import (
    SeparableGradients,
    conv1d_backprop_filter,
    conv1d_backprop_input,
    conv2d_backprop_filter,
    conv2d_backprop_input,
    depthwise_conv1d_backprop_filter,
    depthwise_conv1d_backprop_input,
    depthwise_conv2d_backprop_filter,
    depthwise_conv2d_backprop_input,
    separable_conv1d_backprop,
    separable_conv2d_backprop,
    super_separable_conv1d_backprop,
    super_separable_conv2d_backprop,
)

__version__ = "0.1.0"

__all__ = [
    "Conv2D",
    "DepthwiseConv2D",
    "PointwiseConv2D",
    "SeparableConv2D",
    "SeparableGradients",
    "conv1d",
    "conv1d_backprop_filter",
    "conv1d_backprop_input",
    "conv2d",
    "conv2d_backprop_filter",
    "conv2d_backprop_input",
    "cython_extension_kwargs",
    "depthwise_conv1d",
    "depthwise_conv1d_backprop_filter",
    "depthwise_conv1d_backprop_input",
    "depthwise_conv2d",
    "depthwise_conv2d_backprop_filter",
    "depthwise_conv2d_backprop_input",
    "get_include",
    "get_library_dir",
    "get_num_threads",
    "info",
    "pointwise_conv2d",
    "separable_conv1d",
    "separable_conv1d_backprop",
    "separable_conv2d",
    "separable_conv2d_backprop",
    "set_num_threads",
    "super_separable_conv1d",
    "super_separable_conv1d_backprop",
    "super_separable_conv2d",
    "super_separable_conv2d_backprop",
]


def set_num_threads(n: int) -> None:
    """Fix the number of threads every op uses, process-wide; 0 returns to following OpenMP
    (``OMP_NUM_THREADS``, ``threadpoolctl``)."""
    import operator

    if isinstance(n, bool):
        raise TypeError(f"n: expected an int, got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n: expected an int, got {n!r} ({type(n).__name__})") from None
    if n < 0:
        raise ValueError(f"n: must be >= 0 (0 follows OpenMP), got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """Threads the next op will use."""
    return _core.get_num_threads()


def get_include() -> str:
    """The folder holding sepcpp's C++ headers (``sepcpp/ops.hpp``), for extensions that cimport
    sepcpp."""
    return _os.path.join(_os.path.dirname(__file__), "include")


def get_library_dir() -> str:
    """The folder holding the static core library ``libsepcpp_core.a``."""
    return _os.path.join(_os.path.dirname(__file__), "lib")


def cython_extension_kwargs() -> dict:
    """Keyword arguments for ``setuptools.Extension`` to build a .pyx that does ``cimport sepcpp``:
    C++17, sepcpp's headers, its static core library and OpenMP."""
    return {
        "language": "c++",
        "include_dirs": [get_include()],
        "library_dirs": [get_library_dir()],
        "libraries": ["sepcpp_core"],
        "extra_compile_args": ["-std=c++17", "-fopenmp"],
        "extra_link_args": ["-fopenmp"],
    }


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
        "threading": _core.threading_backend(),
        "num_threads": _core.get_num_threads(),
        "cuda": False,
    }
