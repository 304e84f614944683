"""The implementations the benchmark times: sepcpp itself and its peers, one module per family.

Each is a ``Peer``: ``setup(case, x, dw, pw, threads)`` prepares one case (a suite ``Layer`` or a
``SliceNetRow``) outside the timing and returns a ``Prepared`` (the call to time, and how to read
its result in sepcpp's layout), or raises ``NA`` where it cannot run that case. Thread counts are
set per measurement (``threads(n)``), or, for the engines whose sessions fix them, at setup
(``threads_at_setup``); TensorFlow's pool is fixed once it has started (``fixed_threads()``), and
the rows with another count leave it out of their ratios.

A new peer is a module here with a ``Peer`` subclass, named in ``_FAMILIES``.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np

NOT_IMPORTABLE = "not importable"


class NA(Exception):
    """This implementation does not run this case (the message says why)."""


@dataclass
class Prepared:
    """One case, ready to time: ``call()`` runs it once on the prepared data; ``to_ref(result)``
    gives the result as a NumPy array in sepcpp's layout (NHWC, or NWC for 1-D rows); ``info`` says
    how it computes (it goes into the result row)."""

    call: Callable[[], Any]
    to_ref: Callable[[Any], np.ndarray] = np.asarray
    info: Dict[str, Any] = field(default_factory=dict)


class Peer:
    """An implementation of the cases; subclasses override what differs."""

    name = ""
    engine = False  # an inference engine: also ranked on its own (fastest engine / sepcpp)
    threads_at_setup = False  # True: setup() takes the thread count (a session per count)
    skip_over_s: Optional[float] = None  # a case whose first call takes longer is skipped

    def __init__(self) -> None:
        self.unavailable: Optional[str] = None  # why the whole library cannot run (with the error)

    def setup(self, case, x, dw, pw, threads: int) -> Prepared:
        raise NA("no implementation of this case")

    def threads(self, n: int):
        """A context manager that runs this implementation with n threads."""
        return contextlib.nullcontext()

    def fixed_threads(self) -> Optional[int]:
        """The thread count it runs with whatever is asked (TensorFlow), or None."""
        return None

    def restore(self) -> None:
        """Puts back the thread settings changed by threads()."""

    def notes(self, thread_counts: List[int]) -> List[str]:
        """Lines for the table's footer after a run."""
        return []

    def importable(self, module: str):
        """`module` imported, or None after recording why not in ``unavailable``."""
        try:
            return importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - any import failure means "not available"
            self.unavailable = f"{NOT_IMPORTABLE} ({type(e).__name__}: {e})"
            return None


@contextlib.contextmanager
def quiet_fds():
    """Sends file descriptors 1 and 2 to /dev/null (C++ logging too) for the duration."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # no real descriptors (an embedded interpreter): leave them alone
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


# Peer name -> (module in this package, class). Modules are imported when a peer is made.
_FAMILIES = {
    "numpy": ("numpy", "NumPyPeer"),
    "tf": ("tensorflow", "TensorFlowPeer"),
    "torch-nchw": ("torch", "TorchPeer"),
    "torch-cl": ("torch", "TorchPeer"),
    "torch": ("torch", "TorchPeer"),
    "onnxruntime": ("onnxruntime", "OnnxRuntimePeer"),
    "openvino": ("openvino", "OpenVINOPeer"),
    "litert": ("litert", "LiteRTPeer"),
}

# The inference engines: each runs the case as a prepared session with its own thread count.
ENGINES = ("onnxruntime", "openvino", "litert")
SUITE_PEERS = ("numpy", "tf", "torch-nchw", "torch-cl", *ENGINES)
SLICENET_PEERS = ("tf", "torch", "onnxruntime", "openvino")
UNDER_LOAD_PEERS = ("tf", "torch-cl")


def make(name: str, api: str = "SeparableConv2D") -> Peer:
    """The implementation called `name` ("sepcpp" with its entry point `api`, or a peer)."""
    if name == "sepcpp":
        from .sepcpp import SepcppImpl

        return SepcppImpl(api)
    module, cls = _FAMILIES[name]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)(name)
