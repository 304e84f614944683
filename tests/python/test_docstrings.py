"""The public docstrings: their examples run (doctest) and each documents the whole signature.

``help(sepcpp.separable_conv2d)`` should teach the API without the README, so every public function,
class and layer method has numpydoc sections: Parameters naming each parameter of its signature
(and no other), Returns when it returns a value, Raises when it takes arguments (so has bad input
to refuse), and Examples whose printed values the doctest runs here check. The examples compute on
small integer-valued arrays, so their values are exact on every ISA level and thread count.
"""

from __future__ import annotations

import builtins
import doctest
import inspect
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest

import sepcpp

OPTIONFLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

# NumPy's default print options, set explicitly so that another test (or a user's startup file)
# that changed them cannot change what the examples print.
PRINT_OPTIONS = dict(precision=8, threshold=1000, edgeitems=3, linewidth=75, suppress=False, nanstr="nan",
                     infstr="inf", sign="-", floatmode="maxprec", legacy=False)


def _is_record(obj) -> bool:
    """A namedtuple result type: its fields are documented as Attributes; it refuses nothing."""
    return inspect.isclass(obj) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def _objects(prefix, module, names):
    """(name, object) for each public name of ``module`` and its classes' methods (``__call__`` and
    public ones, written in sepcpp: e.g. the layers' ``output_shape``)."""
    objs = []
    for name in names:
        obj = getattr(module, name)
        objs.append((prefix + name, obj))
        if inspect.isclass(obj):
            for method, f in sorted(inspect.getmembers(obj, inspect.isfunction)):
                if (method == "__call__" or not method.startswith("_")) and f.__module__.startswith("sepcpp"):
                    objs.append((f"{prefix}{name}.{method}", f))
    return objs


def _public_objects():
    """The package, every name in sepcpp.__all__ and its classes' methods."""
    return [("sepcpp", sepcpp)] + _objects("", sepcpp, sepcpp.__all__)


def _torch_objects():
    """sepcpp.torch and its public objects, where PyTorch is installed (test_sepcpp_torch_is_covered
    requires it under SEPCPP_REQUIRE_ALL)."""
    try:
        import sepcpp.torch as st
    except ImportError:
        return []
    return [("sepcpp.torch", st)] + _objects("sepcpp.torch.", st, st.__all__)


PUBLIC = _public_objects()
CALLABLES = [(n, o) for n, o in PUBLIC if callable(o)]
TORCH = _torch_objects()


def _params(objs):
    """pytest parameters, those of sepcpp.torch marked as using torch."""
    return [pytest.param(n, o, id=n, marks=[pytest.mark.uses("torch")] if n.startswith("sepcpp.torch") else [])
            for n, o in objs]


def _sections(doc: str) -> dict:
    """numpydoc section title -> its lines (a title line underlined by as many dashes)."""
    lines = inspect.cleandoc(doc).splitlines()
    starts = [i for i in range(len(lines) - 1)
              if lines[i].strip() and lines[i + 1].strip() == "-" * len(lines[i].strip())]
    out = {}
    for k, i in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else len(lines)
        out[lines[i].strip()] = lines[i + 2:end]
    return out


def _parameters(obj) -> list:
    params = list(inspect.signature(obj).parameters)
    return params[1:] if params[:1] == ["self"] else params


def _returns_value(obj) -> bool:
    if inspect.isclass(obj):
        return False  # a constructor
    return inspect.signature(obj).return_annotation not in (None, "None")


def test_the_public_objects_are_all_found():
    # Guards the lists below: a name added to __all__ is checked without further edits.
    names = [n for n, _ in PUBLIC]
    assert len(sepcpp.__all__) >= 19 and len(CALLABLES) == len(PUBLIC) - 1
    for layer in ("Conv2D", "DepthwiseConv2D", "PointwiseConv2D", "SeparableConv2D"):
        assert f"{layer}.__call__" in names and f"{layer}.output_shape" in names
    for expected in ("separable_conv2d", "conv1d", "SeparableConv2D.__call__", "Conv2D.output_shape",
                     "set_num_threads", "cython_extension_kwargs"):
        assert expected in names


@pytest.mark.parametrize("name,obj", _params(PUBLIC + TORCH))
def test_examples_run_and_print_what_they_show(name, obj):
    tests = doctest.DocTestFinder(recurse=False).find(obj, name, globs={})
    examples = sum(len(t.examples) for t in tests)
    assert examples > 0, f"{name}: its docstring has no doctest example"
    runner = doctest.DocTestRunner(optionflags=OPTIONFLAGS)
    report = io.StringIO()
    try:
        with np.printoptions(**PRINT_OPTIONS):
            for t in tests:
                runner.run(t, out=report.write)
    finally:
        sepcpp.set_num_threads(0)  # some examples set it; a failing one may not have reset it
    assert runner.tries == examples
    failed = f"{name}: {runner.failures} of {examples} examples failed\n"
    assert runner.failures == 0, failed + report.getvalue()


@pytest.mark.parametrize("name,obj", _params(CALLABLES + [(n, o) for n, o in TORCH if callable(o)]))
def test_numpydoc_sections_cover_the_signature(name, obj):
    doc = obj.__doc__
    assert doc, f"{name}: no docstring"
    sections = _sections(doc)
    params = _parameters(obj)
    lines = inspect.cleandoc(doc).splitlines()
    assert lines[0].strip() and (len(lines) == 1 or not lines[1].strip()), f"{name}: no one-line summary"
    # Every ``{placeholder}`` line was filled in (by sepcpp._api._doc).
    assert not re.search(r"^\s*\{\w+\}\s*$", doc, re.M), f"{name}: an unfilled placeholder"

    if _is_record(obj):
        assert "Attributes" in sections, f"{name}: no Attributes section"
        documented = [m.group(1) for line in sections["Attributes"] if (m := re.match(r"(\w+)\s*:", line))]
        assert documented == list(obj._fields), f"{name}: Attributes has {documented}, not {obj._fields}"
    elif params:
        assert "Parameters" in sections, f"{name}: no Parameters section"
        documented = [m.group(1) for line in sections["Parameters"]
                      if (m := re.match(r"(\w+)\s*:", line))]
        assert documented == params, (
            f"{name}: Parameters documents {documented}, the signature has {params} (same order)")
        # Each parameter has a description (an indented line under it).
        text = "\n".join(sections["Parameters"])
        for p in params:
            assert re.search(rf"^{p}\s*:.*\n    \S", text, re.M), f"{name}: parameter {p} has no description"
        # What it raises, and when: every callable that takes arguments has bad input to refuse.
        assert "Raises" in sections, f"{name}: no Raises section"
        raised = [line.strip() for line in sections["Raises"] if line.strip() and not line.startswith(" ")]
        assert raised, f"{name}: an empty Raises section"
        text = "\n".join(sections["Raises"])
        for r in raised:  # a built-in exception (TypeError, ValueError, MemoryError), and when
            exc = getattr(builtins, r, None)
            assert isinstance(exc, type) and issubclass(exc, Exception), f"{name}: Raises names {r!r}"
            assert re.search(rf"^{r}\n    \S", text, re.M), f"{name}: Raises {r} without saying when"
    else:
        assert "Parameters" not in sections, f"{name}: a Parameters section but no parameters"

    if _returns_value(obj):
        assert "Returns" in sections and any(s.strip() for s in sections["Returns"]), f"{name}: no Returns"
    else:
        assert "Returns" not in sections, f"{name}: a Returns section, but it returns None"
    assert "Examples" in sections and any(">>>" in s for s in sections["Examples"]), f"{name}: no Examples"


@pytest.mark.uses("torch")
def test_sepcpp_torch_is_covered():
    # The lists above hold sepcpp.torch's objects whenever PyTorch is installed (required under
    # SEPCPP_REQUIRE_ALL=1, so CI cannot drop them silently).
    from optional_deps import import_optional

    import_optional("torch")
    import sepcpp.torch as st

    names = [n for n, _ in TORCH]
    assert len(TORCH) > len(st.__all__) >= 12
    for expected in ("sepcpp.torch", "sepcpp.torch.separable_conv2d", "sepcpp.torch.conv1d",
                     "sepcpp.torch.SeparableConv2d.forward", "sepcpp.torch.DepthwiseConv2d.extra_repr",
                     "sepcpp.torch.SuperSeparableConv1d.reset_parameters"):
        assert expected in names


def test_the_ops_document_layouts_and_padding_forms():
    # The shared descriptions reach every op: layouts, the SAME rule, explicit lists, CAUSAL in 1-D.
    for name in ("depthwise_conv2d", "separable_conv2d", "super_separable_conv2d", "conv2d"):
        doc = getattr(sepcpp, name).__doc__
        for phrase in ("NHWC", "NCHW", "ceil(H / sh)", "[[0, 0], [top, bottom], [left, right], [0, 0]]",
                       "[[0, 0], [0, 0], [top, bottom], [left, right]]", "[kh, kw, C, M]" if name != "conv2d"
                       else "[kh, kw, C, O]"):
            assert phrase in doc, (name, phrase)
    assert "[1, 1, C*M, O]" in sepcpp.separable_conv2d.__doc__
    assert "[1, 1, C*M/groups, O]" in sepcpp.super_separable_conv2d.__doc__
    for name in ("depthwise_conv1d", "separable_conv1d", "super_separable_conv1d", "conv1d"):
        doc = getattr(sepcpp, name).__doc__
        for phrase in ("NWC", "NCW", '"CAUSAL"', "(k - 1) * d", "[[0, 0], [left, right], [0, 0]]"):
            assert phrase in doc, (name, phrase)


def test_dir_shows_the_public_api_only():
    # In a fresh interpreter: other tests import submodules (sepcpp.bench) into the package.
    code = ("import json, types, sepcpp\n"
            "print(json.dumps([[n, isinstance(getattr(sepcpp, n), types.ModuleType)\n"
            "                   and getattr(sepcpp, n).__name__ == 'sepcpp.' + n] for n in dir(sepcpp)]))")
    names = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                      text=True).stdout)
    # Public names: __all__, and public submodules (sepcpp.X modules, if the package imports one).
    leaked = [n for n, is_submodule in names
              if not n.startswith("_") and n not in sepcpp.__all__ and not is_submodule]
    assert leaked == [], f"dir(sepcpp) shows names that are not sepcpp's API: {leaked}"
    assert "annotations" not in dict(names)
    assert set(sepcpp.__all__) <= {n for n, _ in names}
