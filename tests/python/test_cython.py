"""The Cython API: a small extension that does ``cimport sepcpp`` is compiled against the installed
package (its __init__.pxd, headers and static core) and its results are checked against the Python
API and the NumPy reference."""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import reference as ref
import sepcpp
from optional_deps import import_optional

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cython"


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    import_optional("cython")
    build = tmp_path_factory.mktemp("cython_example")
    for name in ("sepcpp_cython_example.pyx", "setup.py"):
        shutil.copy(EXAMPLE / name, build / name)
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=build,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"building the Cython example failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    sys.path.insert(0, str(build))
    try:
        yield importlib.import_module("sepcpp_cython_example")
    finally:
        sys.path.remove(str(build))


def test_headers_and_library_are_installed():
    assert (Path(sepcpp.get_include()) / "sepcpp" / "ops.hpp").is_file()
    assert (Path(sepcpp.get_library_dir()) / "libsepcpp_core.a").is_file()
    assert (Path(sepcpp.__file__).parent / "__init__.pxd").is_file()


@pytest.mark.uses("cython")
def test_separable_from_cython(example):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 11, 9, 12)).astype(np.float32)
    dw = rng.standard_normal((3, 3, 12, 1)).astype(np.float32)
    pw = rng.standard_normal((1, 1, 12, 17)).astype(np.float32)
    got = example.separable_same_many(x, dw, pw, 4, True)
    # The same core underneath: bitwise equal to the Python API; and right by the reference.
    np.testing.assert_array_equal(got, sepcpp.separable_conv2d(x, dw, pw, 1, "SAME", activation="relu6"))
    want = ref.separable_conv2d(x, dw, pw, 1, "SAME", activation="relu6")
    assert np.max(np.abs(got - want)) <= 1e-5 * max(1.0, np.max(np.abs(want)))


@pytest.mark.uses("cython")
def test_layer_from_cython(example):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 7, 6, 3))
    f = rng.standard_normal((2, 3, 3, 2))
    got = example.depthwise_valid(x, f)
    want = ref.depthwise_conv2d(x, f, 1, "VALID")
    assert got.shape == want.shape
    assert np.max(np.abs(got - want)) <= 1e-12 * max(1.0, np.max(np.abs(want)))


@pytest.mark.uses("cython")
def test_errors_cross_into_python(example):
    x = np.zeros((1, 5, 5, 8), np.float32)
    dw = np.zeros((3, 3, 8, 1), np.float32)
    bad_pw = np.zeros((1, 1, 7, 4), np.float32)
    with pytest.raises(ValueError, match="pointwise_filter"):
        example.separable_same_many(x, dw, bad_pw)
