"""TensorFlow for the tests that compare with it: quiet, and required where the runner says so.

tests/run_all.sh (and so CI) sets SEPCPP_REQUIRE_TENSORFLOW=1 and SEPCPP_REQUIRE_ALL=1 (either
does): there a missing TensorFlow is an import error, not a skip, so comparisons with TensorFlow
cannot silently count as passed.
"""

import contextlib
import os
import sys
import warnings

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REQUIRED = (os.environ.get("SEPCPP_REQUIRE_TENSORFLOW") == "1"
            or os.environ.get("SEPCPP_REQUIRE_ALL") == "1")


@contextlib.contextmanager
def silenced():
    """Sends stdout and stderr to /dev/null at the file-descriptor level (C++ logging too)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # pragma: no cover - exotic capture objects
            pass
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # pragma: no cover
                pass
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [devnull]:
            os.close(fd)


def import_tensorflow():
    """(tf, keras), imported quietly; skips the caller when absent unless REQUIRED."""
    with silenced():
        if REQUIRED:
            import keras
            import tensorflow as tf
        else:
            tf = pytest.importorskip("tensorflow")
            keras = pytest.importorskip("keras")
    return tf, keras
