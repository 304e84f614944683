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


# --------------------------------------------------------------------------------------------
# Every ISA level, optional dependencies, and SEPCPP_REQUIRE_ALL (see optional_deps.py)
# --------------------------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "uses(dependency): the test runs with this optional dependency (tensorflow, torch, "
        "hypothesis, threadpoolctl, cython); counted in the run's summary, required under "
        "SEPCPP_REQUIRE_ALL=1")
    config._sepcpp_ran = {"dependency": {}, "isa": {}, "not_applicable": 0}
    from optional_deps import REQUIRE_ALL, cpu_isas, missing_dependencies

    if not REQUIRE_ALL:
        return
    problems = [f"optional test dependency {d!r} is not installed" for d in missing_dependencies()]
    from sepcpp import _core

    usable = [i for i in _core.isas_available().split(",") if i]
    problems += [f"this CPU has ISA level {i!r} but sepcpp cannot run it (compiled: {_core.isas_compiled()}, "
                 f"available: {_core.isas_available()})" for i in cpu_isas() if i not in usable]
    if problems:
        raise pytest.UsageError("SEPCPP_REQUIRE_ALL=1: " + "; ".join(problems))


def pytest_generate_tests(metafunc):
    """A test that takes the ``isa`` fixture runs once per compiled ISA level."""
    defs = getattr(metafunc, "_arg2fixturedefs", {}).get("isa")
    if defs and defs[-1].params:  # a module's own `isa` fixture with params= of its own
        return
    for mark in metafunc.definition.iter_markers("parametrize"):  # `isa` as a plain argument
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", ())
        if "isa" in ([n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)):
            return
    if "isa" in metafunc.fixturenames:
        from sepcpp import _core

        metafunc.parametrize("isa", _core.isas_compiled().split(","), indirect=True)


@pytest.fixture
def isa(request):
    """Runs the test with the kernels of one ISA level, then restores the level in use before.
    A level this CPU lacks (by /proc/cpuinfo) is not applicable; one it has but sepcpp cannot run
    is skipped (a failure under SEPCPP_REQUIRE_ALL=1)."""
    from sepcpp import _core

    from optional_deps import cpu_isas, not_applicable

    name = request.param
    available = [i for i in _core.isas_available().split(",") if i]
    if name not in available:
        if name not in cpu_isas():
            not_applicable(f"this CPU has no {name} (it has {', '.join(cpu_isas())})")
        pytest.skip(f"ISA {name} is compiled but not usable on this CPU (available: {available})")
    previous = _core.isa_in_use()
    _core.set_isa(name)
    assert _core.isa_in_use() == name
    try:
        yield name
    finally:
        _core.set_isa(previous)


def _skip_reason(rep):
    return rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    from optional_deps import DEPENDENCIES, REQUIRE_ALL, NotApplicable

    rep = (yield).get_result()
    not_applicable = call.excinfo is not None and call.excinfo.errisinstance(NotApplicable)
    if REQUIRE_ALL and rep.skipped and not hasattr(rep, "wasxfail") and not not_applicable:
        rep.outcome = "failed"
        rep.longrepr = f"SEPCPP_REQUIRE_ALL=1 turns this skip into a failure: {_skip_reason(rep)}"
    if not_applicable and rep.skipped:
        item.config._sepcpp_ran["not_applicable"] += 1
    if rep.when == "call" and rep.outcome in ("passed", "failed"):
        ran = item.config._sepcpp_ran
        for mark in item.iter_markers("uses"):
            for dep in mark.args:
                if dep not in DEPENDENCIES:
                    raise KeyError(f"{item.nodeid}: uses({dep!r}): not one of {sorted(DEPENDENCIES)}")
                # Counted only if it was really imported (a test may drop an absent, optional peer).
                if DEPENDENCIES[dep] in sys.modules:
                    ran["dependency"][dep] = ran["dependency"].get(dep, 0) + 1
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "isa" in callspec.params:
            isa_name = callspec.params["isa"]
            ran["isa"][isa_name] = ran["isa"].get(isa_name, 0) + 1


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    """A whole module skipped at import (importorskip) fails too under SEPCPP_REQUIRE_ALL=1."""
    from optional_deps import REQUIRE_ALL

    rep = (yield).get_result()
    if REQUIRE_ALL and rep.skipped:
        rep.outcome = "failed"
        rep.longrepr = f"SEPCPP_REQUIRE_ALL=1 turns this skip into a failure: {_skip_reason(rep)}"


def pytest_terminal_summary(terminalreporter, config):
    from optional_deps import DEPENDENCIES, REQUIRE_ALL, cpu_isas

    ran = getattr(config, "_sepcpp_ran", None)
    if ran is None:
        return
    deps = ", ".join(f"{d} {ran['dependency'].get(d, 0)}" for d in DEPENDENCIES)
    isas = ", ".join(f"{i} {ran['isa'].get(i, 0)}" for i in ["scalar", "avx2", "avx512", "avx512_bf16", "amx_bf16"])
    terminalreporter.write_sep("-", "sepcpp: tests run per optional dependency and per ISA level")
    terminalreporter.write_line(f"optional dependencies: {deps}")
    terminalreporter.write_line(f"ISA levels (tests parametrized by isa): {isas}; this CPU has "
                                f"{', '.join(cpu_isas())}")
    terminalreporter.write_line(f"not applicable to this CPU or build (skipped): {ran['not_applicable']}")
    terminalreporter.write_line("SEPCPP_REQUIRE_ALL=1: other skips fail" if REQUIRE_ALL else
                                "SEPCPP_REQUIRE_ALL not set: missing dependencies and ISA levels are skipped")
