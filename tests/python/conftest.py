"""Shared fixtures and helpers for sepcpp's Python tests."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

# Make `import reference` work whatever pytest's import mode is.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def rng(request):
    """A NumPy Generator seeded from the test's node id, so every test is reproducible."""
    seed = int.from_bytes(request.node.nodeid.encode(), "little") % (2**63)
    return np.random.default_rng(seed)


@pytest.fixture
def restore_threads():
    """Return sepcpp to following OpenMP (set_num_threads(0)) after the test."""
    import sepcpp

    yield
    sepcpp.set_num_threads(0)
