"""The README's Python examples run, and print what the README says they print.

Each ```python block runs on its own (a fresh namespace, the installed sepcpp). A block followed by
a ```text block (with at most a "prints" line between) must print exactly that text; any other block
must print nothing, so no README output goes unchecked. A block that needs an optional package
(torch, dask, ...) is skipped where the package is missing, unless SEPCPP_REQUIRE_<PACKAGE>=1 says
it must be there (as SEPCPP_REQUIRE_TENSORFLOW does for the TensorFlow comparisons). A sketch that
is not meant to run goes in a block of another language (```text, ```cython, ```bash).
"""

from __future__ import annotations

import contextlib
import io
import os
import pathlib
import re

import numpy as np
import pytest

import sepcpp

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"

_BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:\s*prints:?\s*\n)?(?:\s*^```text\n(.*?)^```$)?", re.M | re.S)


def _blocks():
    text = README.read_text(encoding="utf-8")
    out = []
    for m in _BLOCK.finditer(text):
        line = text.count("\n", 0, m.start()) + 1
        out.append((f"README.md:{line}", m.group(1), m.group(2)))
    return out


BLOCKS = _blocks()


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2
    assert all(expected is not None for _, _, expected in BLOCKS[:2]), "the first examples show their output"


@pytest.mark.parametrize("where,code,expected", BLOCKS, ids=[w for w, _, _ in BLOCKS])
def test_readme_example(where, code, expected):
    stdout = io.StringIO()
    try:
        with np.printoptions(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False,
                             floatmode="maxprec", sign="-", legacy=False), contextlib.redirect_stdout(stdout):
            exec(compile(code, where, "exec"), {"__name__": "__readme__"})  # noqa: S102 - the README's code
    except ModuleNotFoundError as e:
        package = (e.name or "").split(".")[0]
        if package == "sepcpp" or not package:
            raise  # a sepcpp module the README names must exist
        if os.environ.get(f"SEPCPP_REQUIRE_{package.upper()}") == "1":
            raise
        pytest.skip(f"{where}: needs {package}, which is not installed")
    finally:
        sepcpp.set_num_threads(0)  # an example may set it
    got = [line.rstrip() for line in stdout.getvalue().rstrip("\n").splitlines()]
    want = [line.rstrip() for line in (expected or "").rstrip("\n").splitlines()]
    assert got == want, f"{where}: the example printed\n" + "\n".join(got) + "\nbut the README shows\n" + \
        "\n".join(want)
