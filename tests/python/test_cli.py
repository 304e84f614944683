"""The command line as a user meets it: `sepcpp ...` (the console script) and `python -m sepcpp`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig

import pytest

import sepcpp

SCRIPT = os.path.join(sysconfig.get_path("scripts"), "sepcpp")


def run(args, module=False):
    cmd = [sys.executable, "-m", "sepcpp", *args] if module else [SCRIPT, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module", autouse=True)
def console_script():
    assert os.path.exists(SCRIPT), f"the console script is not installed at {SCRIPT}"


@pytest.mark.parametrize("module", [False, True])
def test_version(module):
    p = run(["--version"], module)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"sepcpp {sepcpp.__version__}"


@pytest.mark.parametrize("module,prog", [(False, "sepcpp"), (True, "python -m sepcpp")])
def test_usage_names_how_it_was_run(module, prog):
    p = run(["--help"], module)
    assert p.returncode == 0
    assert p.stdout.startswith(f"usage: {prog} ")
    # no reStructuredText markup in what a person reads
    assert "``" not in p.stdout and ":func:" not in p.stdout
    b = run(["bench", "--help"], module)
    assert b.returncode == 0 and b.stdout.startswith(f"usage: {prog} bench ")
    assert "``" not in b.stdout


def test_info_table_and_json():
    table = run(["info"])
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert 5 <= len(lines) <= 20
    want = sepcpp.info()
    assert lines[0].split() == ["version", want["version"]]
    assert any(line.startswith("kernel level in use") and line.endswith(want["isa"]) for line in lines)
    assert not table.stdout.lstrip().startswith("{")
    js = run(["info", "--json"])
    assert js.returncode == 0
    doc = json.loads(js.stdout)
    assert doc["version"] == want["version"] and doc["isa_compiled"] == want["isa_compiled"]


def test_closed_pipe_is_quiet():
    # The reader is gone before sepcpp writes (as with `sepcpp info | head -1` on a long output).
    r, w = os.pipe()
    os.close(r)
    try:
        p = subprocess.run([SCRIPT, "info", "--json"], stdout=w, stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(w)
    assert p.returncode == 0
    assert "Traceback" not in p.stderr and "BrokenPipeError" not in p.stderr, p.stderr


def test_bad_command():
    p = run(["bogus"])
    assert p.returncode == 2
    assert "invalid choice" in p.stderr and "Traceback" not in p.stderr
