"""sepcpp: depthwise, pointwise and separable convolution with TensorFlow's semantics.

The functions take ``tf.nn``'s argument names, layouts and padding rules and return NumPy arrays;
the work is done by a C++ core (its own thread pool, AVX2/AVX-512 kernels chosen at run time).

Ops (NumPy arrays in, NumPy arrays out; float32, float64 or ml_dtypes.bfloat16):
``depthwise_conv2d``, ``pointwise_conv2d``, ``separable_conv2d``, ``super_separable_conv2d``,
``conv2d`` and the 1-D ``depthwise_conv1d``, ``separable_conv1d``, ``super_separable_conv1d``,
``conv1d``. Layers that pack their filters once: ``SeparableConv2D``, ``DepthwiseConv2D``,
``PointwiseConv2D``, ``Conv2D``. Threads: ``set_num_threads``, ``get_num_threads``; the build:
``info``; for C++ and Cython extensions: ``get_include``, ``get_library_dir``,
``cython_extension_kwargs``. ``help(sepcpp.separable_conv2d)`` and the others explain each.

Examples
--------
>>> import numpy as np, sepcpp
>>> x = np.arange(1, 7, dtype=np.float32).reshape(1, 1, 6, 1)  # NHWC: one row 1..6
>>> box = np.ones((1, 3, 1, 1), np.float32)  # depthwise filter [kh, kw, C, M]
>>> print(sepcpp.depthwise_conv2d(x, box, 1, "SAME")[0, 0, :, 0])  # 0+1+2, 1+2+3, ..., 5+6+0
[ 3.  6.  9. 12. 15. 11.]
"""

# No ``from __future__ import annotations`` here: it would bind ``annotations`` in the package
# namespace (tests/python/test_docstrings.py keeps dir(sepcpp) to the public API).
import os as _os

from . import _core, _gpu
from ._gpu import cuda_stream
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
    "cuda_stream",
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
    """Fix the number of threads every op uses, process-wide.

    The results do not depend on it: they are the same bits for any number of threads.

    Parameters
    ----------
    n : int
        The number of threads, from 1; or 0, the default, to follow OpenMP's setting again
        (``OMP_NUM_THREADS``, and ``threadpoolctl``'s limits).
        A Python or NumPy integer; bools are refused.

    Raises
    ------
    TypeError
        If ``n`` is not an integer (a float, a bool, a string).
    ValueError
        If ``n`` is negative or above ``2**31 - 1``.

    See Also
    --------
    get_num_threads : the number the next op will use.

    Examples
    --------
    >>> import sepcpp
    >>> sepcpp.set_num_threads(1)
    >>> sepcpp.get_num_threads()
    1
    >>> sepcpp.set_num_threads(0)  # follow OpenMP again
    >>> sepcpp.set_num_threads(-1)
    Traceback (most recent call last):
        ...
    ValueError: n: must be >= 0 (0 follows OpenMP), got -1
    """
    import operator

    if isinstance(n, bool):
        raise TypeError(f"n: expected an int, got {n!r}")
    try:
        n = operator.index(n)
    except TypeError:
        raise TypeError(f"n: expected an int, got {n!r} ({type(n).__name__})") from None
    if n < 0:
        raise ValueError(f"n: must be >= 0 (0 follows OpenMP), got {n}")
    if n > 2**31 - 1:  # the core (and OpenMP) count threads in a C int
        raise ValueError(f"n: must be at most 2**31 - 1 threads, got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """The number of threads the next op will use.

    Returns
    -------
    int
        The count fixed by ``set_num_threads``, or, after ``set_num_threads(0)`` (the default),
        OpenMP's (``OMP_NUM_THREADS``, ``threadpoolctl``'s limits, else normally the number of
        cores).

    Examples
    --------
    >>> import sepcpp
    >>> sepcpp.set_num_threads(2)
    >>> sepcpp.get_num_threads()
    2
    >>> sepcpp.set_num_threads(0)
    >>> sepcpp.get_num_threads() >= 1
    True
    """
    return _core.get_num_threads()


def get_include() -> str:
    """The folder holding sepcpp's C++ headers, for extensions built against sepcpp.

    Returns
    -------
    str
        The absolute path of the installed ``include`` folder, which holds ``sepcpp/ops.hpp``
        (the C++ API) and the headers it includes.

    See Also
    --------
    cython_extension_kwargs : every build setting an extension needs.

    Examples
    --------
    >>> import os, sepcpp
    >>> os.path.isfile(os.path.join(sepcpp.get_include(), "sepcpp", "ops.hpp"))
    True
    """
    return _os.path.join(_os.path.dirname(__file__), "include")


def get_library_dir() -> str:
    """The folder holding sepcpp's static core library, for extensions built against sepcpp.

    Returns
    -------
    str
        The absolute path of the installed ``lib`` folder, which holds ``libsepcpp_core.a``
        (link with ``-lsepcpp_core`` and OpenMP).

    See Also
    --------
    cython_extension_kwargs : every build setting an extension needs.

    Examples
    --------
    >>> import os, sepcpp
    >>> "libsepcpp_core.a" in os.listdir(sepcpp.get_library_dir())
    True
    """
    return _os.path.join(_os.path.dirname(__file__), "lib")


def cython_extension_kwargs() -> dict:
    """Keyword arguments for ``setuptools.Extension`` to build a .pyx that does ``cimport sepcpp``.

    Use as ``setuptools.Extension("mod", ["mod.pyx"], **sepcpp.cython_extension_kwargs())``;
    the .pyx then calls sepcpp's C++ kernels directly, without the interpreter (``nogil``).
    ``examples/cython/`` in sepcpp's sources is a complete example.

    Returns
    -------
    dict
        A new dict: ``language`` (``"c++"``), ``include_dirs`` (``get_include()``),
        ``library_dirs`` (``get_library_dir()``), ``libraries`` (``["sepcpp_core"]``),
        ``extra_compile_args`` (C++17 and OpenMP) and ``extra_link_args`` (OpenMP).

    Examples
    --------
    >>> import sepcpp
    >>> kw = sepcpp.cython_extension_kwargs()
    >>> kw["language"], kw["libraries"], kw["extra_compile_args"]
    ('c++', ['sepcpp_core'], ['-std=c++17', '-fopenmp'])
    >>> kw["include_dirs"] == [sepcpp.get_include()]
    True
    """
    return {
        "language": "c++",
        "include_dirs": [get_include()],
        "library_dirs": [get_library_dir()],
        "libraries": ["sepcpp_core"],
        "extra_compile_args": ["-std=c++17", "-fopenmp"],
        "extra_link_args": ["-fopenmp"],
    }


def info() -> dict:
    """What this build of sepcpp has and uses (``python -m sepcpp info`` prints it).

    Returns
    -------
    dict
        ``version`` (str); ``isa_compiled`` and ``isa_available`` (lists of kernel levels:
        ``"scalar"``, ``"avx2"``, ``"avx512"``, those compiled in and those this CPU runs);
        ``isa`` (the level in use, or ``"error: ..."`` saying why a forced one cannot be used);
        ``isa_forced`` (``SEPCPP_ISA``'s value, or None); ``openmp`` (bool); ``threading``
        (``"pool"``, sepcpp's own threads, or ``"openmp"``); ``num_threads`` (int, as
        ``get_num_threads()``); ``adaptive_threads`` (a dict: ``enabled``, whether calls run on
        the calling thread alone for a few milliseconds after contention was seen, off unless
        ``SEPCPP_ADAPTIVE=1``, never in the OpenMP build; ``contended``, whether calls starting now do;
        ``events``, how many calls found contention; ``solo_calls``, how many calls started while
        contended); ``cuda`` (a dict: ``compiled``, whether this build has the CUDA
        target, ``SEPCPP_CUDA=1 pip install .``; ``devices``, how many GPUs the CUDA runtime
        sees, 0 without a driver; with the target, also ``runtime_version``,
        ``driver_version``, ``names`` and ``architectures``; ``reason`` when there are none).

    Examples
    --------
    >>> import sepcpp
    >>> d = sepcpp.info()
    >>> sorted(d)
    ['adaptive_threads', 'cuda', 'isa', 'isa_available', 'isa_compiled', 'isa_forced',
     'num_threads', 'openmp', 'threading', 'version']
    >>> d["version"] == sepcpp.__version__, "scalar" in d["isa_compiled"]
    (True, True)
    """
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
        "adaptive_threads": _core.adaptive_threads(),
        "cuda": _gpu.info(),
    }
