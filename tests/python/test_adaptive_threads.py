"""The pool's contention-adaptive mode (cpp/src/thread_pool.hpp): the switch (SEPCPP_ADAPTIVE,
sepcpp._core.set_adaptive_threads), what sepcpp.info() reports, and results bitwise identical with
the mode off, on, and within a contention window (every chunk on the calling thread)."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import sepcpp
from sepcpp import _core
from test_threads import ALL_OPS, work_case

POOL = sepcpp.info()["threading"] == "pool"


@pytest.fixture
def restore_adaptive():
    on = _core.adaptive_threads()["enabled"]
    yield
    _core.set_adaptive_threads(on)
    _core._start_adaptive_window(0.0)


def test_info_reports_the_mode():
    a = sepcpp.info()["adaptive_threads"]
    assert sorted(a) == ["contended", "enabled", "events", "solo_calls"]
    # Off by default (the test run leaves SEPCPP_ADAPTIVE unset); the OpenMP build has no such mode.
    assert os.environ.get("SEPCPP_ADAPTIVE") is not None or a["enabled"] is False
    assert a["events"] >= 0 and a["solo_calls"] >= 0


@pytest.mark.parametrize("value, enabled", [("1", True), ("on", True), ("TRUE", True), ("yes", True),
                                            ("0", False), ("off", False), ("", False), (None, False)])
def test_environment_switch(value, enabled):
    env = {k: v for k, v in os.environ.items() if k != "SEPCPP_ADAPTIVE"}
    if value is not None:
        env["SEPCPP_ADAPTIVE"] = value
    code = "import sepcpp; print(sepcpp.info()['adaptive_threads']['enabled'])"
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(enabled and POOL)


@pytest.mark.usefixtures("restore_adaptive")
def test_switch_at_run_time():
    _core.set_adaptive_threads(False)
    assert sepcpp.info()["adaptive_threads"]["enabled"] is False
    _core._start_adaptive_window(60.0)
    assert sepcpp.info()["adaptive_threads"]["contended"] is False  # off: never contended
    _core.set_adaptive_threads(True)
    assert sepcpp.info()["adaptive_threads"]["enabled"] is POOL
    assert sepcpp.info()["adaptive_threads"]["contended"] is POOL
    _core._start_adaptive_window(0.0)
    assert sepcpp.info()["adaptive_threads"]["contended"] is False


@pytest.mark.usefixtures("restore_threads", "restore_adaptive")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ALL_OPS)
def test_bitwise_identical_on_off_and_contended(op, dtype, rng):
    args = work_case(op, rng, dtype)
    sepcpp.set_num_threads(2)
    _core.set_adaptive_threads(False)
    off = getattr(sepcpp, op)(**args)
    _core.set_adaptive_threads(True)
    assert getattr(sepcpp, op)(**args).tobytes() == off.tobytes()
    # Within a window every multi-threaded call runs its chunks on the calling thread.
    _core._start_adaptive_window(60.0)
    solo = _core.adaptive_threads()["solo_calls"]
    assert getattr(sepcpp, op)(**args).tobytes() == off.tobytes()
    if POOL:
        assert _core.adaptive_threads()["solo_calls"] > solo
    _core._start_adaptive_window(0.0)
    sepcpp.set_num_threads(1)
    assert getattr(sepcpp, op)(**args).tobytes() == off.tobytes()
