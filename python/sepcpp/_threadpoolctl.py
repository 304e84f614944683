"""sepcpp's thread pool as a threadpoolctl controller.

When threadpoolctl is installed, ``threadpoolctl.threadpool_info()`` lists sepcpp's pool
(``user_api`` and ``internal_api`` "sepcpp") and ``threadpool_limits(n)`` or
``threadpool_limits(n, user_api="sepcpp")`` limits it, as they do BLAS and OpenMP. The controller
reaches the pool through two C symbols of sepcpp's extension module (``sepcpp_get_num_threads``,
``sepcpp_set_num_threads``), found with ctypes like every threadpoolctl controller; another
library's ``_core`` module lacks them and is not taken for sepcpp's.

Leaving a ``threadpool_limits`` block sets the count it found on entry: a process that had
``set_num_threads(0)`` (follow OpenMP) then has that count fixed.
"""

from __future__ import annotations

try:
    from threadpoolctl import LibController, register
except ImportError:  # threadpoolctl is optional
    LibController = None


def _symbol(dynlib, name):
    return getattr(dynlib, name, None) if dynlib is not None else None


if LibController is not None:

    class SepcppController(LibController):
        """threadpoolctl controller of sepcpp's thread pool."""

        user_api = "sepcpp"
        internal_api = "sepcpp"
        filename_prefixes = ("_core",)
        check_symbols = ("sepcpp_get_num_threads",)

        def get_num_threads(self):
            f = _symbol(self.dynlib, "sepcpp_get_num_threads")
            return f() if f is not None else None

        def set_num_threads(self, num_threads):
            f = _symbol(self.dynlib, "sepcpp_set_num_threads")
            if f is not None:
                f(int(num_threads))

        def get_version(self):
            if _symbol(self.dynlib, "sepcpp_get_num_threads") is None:
                return None
            from . import __version__

            return __version__

    register(SepcppController)
