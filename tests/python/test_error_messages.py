"""Every row of docs/errors.md, checked against sepcpp's rules for errors.

The table's cases live in docs/make_errors_table.py (which writes docs/errors.md); here each is
run again and must follow the README's rules: a wrong dtype or a non-array is a TypeError, any
other bad argument a ValueError (TypeError for a non-integer where integers are expected), an
impossible allocation a MemoryError naming the size; every message names the argument it is
about and, for shapes and geometry, the values. The "Not errors" rows must not raise.
"""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "make_errors_table.py")
_spec = importlib.util.spec_from_file_location("make_errors_table", _PATH)
table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(table)

ARGUMENT = re.compile(
    r"\b(input|filters?|depthwise_filter|pointwise_filter|bias|depthwise_bias|strides?|dilations|padding|"
    r"data_format|activation|depthwise_activation|groups|out|n|SEPCPP_ISA|ISA|out_backprop|input_sizes|"
    r"filter_sizes|weight|depthwise_weight|pointwise_weight|dilation|kernel_size|stream|device)\b")
VALUE = re.compile(r"\d|'[^']*'|\b(True|False|None)\b")
SIZE = re.compile(r"\d+(\.\d*)?\s*([KMGTPE]i?B|bytes)|shape \(")

# Rows where sepcpp does not follow the rules yet (bugs reported to the lead).
KNOWN = {}  # rows whose behaviour is a known, open bug (strict xfail): none at present
# Covered by test_resources.py (which also checks that its message names the size).
SKIP = {"internal buffer too large to allocate (a row of a broadcast input, gathered per thread)"}
# Rows that abort the sanitizer run (tests/run_sanitizers.sh sets SEPCPP_ASAN=1): bugs reported.
ASAN_ABORTS = {}  # rows that trip a sanitizer (an open bug): none at present

ROWS = [pytest.param(sec, what, call, id=f"{sec}: {what}",
                     marks=[pytest.mark.xfail(strict=True, reason=KNOWN[what])] if what in KNOWN else [])
        for sec, what, call in table.CASES if what not in SKIP]


@pytest.mark.parametrize("section,what,call", ROWS)
def test_error_row_follows_the_rules(section, what, call):
    if what in ASAN_ABORTS and os.environ.get("SEPCPP_ASAN") == "1":
        pytest.skip(ASAN_ABORTS[what])
    kind, message = table.run_isa_env_case() if call is None else table.run_case(call)
    if section == "Not errors":
        assert kind == "(no error)", f"{what}: raised {kind}: {message}"
        return
    if section == "Types":
        assert kind == "TypeError", f"{what}: {kind}: {message}"
    elif section == "Memory":
        assert kind == "MemoryError", f"{what}: {kind}: {message}"
        assert SIZE.search(message), f"{what}: MemoryError does not name the size: {message!r}"
        return
    else:
        assert kind in ("ValueError", "TypeError"), f"{what}: {kind}: {message}"
    assert ARGUMENT.search(message), f"{what}: the message names no argument: {message!r}"
    if section in ("Ranks", "Shapes", "Groups", "Geometry", "Options", "Layers", "ISA", "Backprop", "PyTorch"):
        assert VALUE.search(message), f"{what}: the message names no value: {message!r}"


def test_every_section_has_rows():
    sections = {sec for sec, _, _ in table.CASES}
    assert {"Types", "Ranks", "Shapes", "Groups", "Geometry", "Options", "out=", "Memory", "Not errors"} <= sections


@pytest.mark.skipif(os.environ.get("SEPCPP_ASAN") == "1",
                    reason="the table's internal-allocation row aborts under ASan instead of raising MemoryError")
def test_errors_table_is_current():
    """docs/errors.md is what docs/make_errors_table.py prints for the library as installed."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "docs" / "make_errors_table.py"
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
