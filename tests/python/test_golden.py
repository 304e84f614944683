"""sepcpp against TensorFlow outputs stored in data/golden.npz (made by data/make_golden.py).

Needs no TensorFlow: this is the TensorFlow check that runs everywhere. Each stored case names the
sepcpp function, its array arguments and its keyword arguments (tf.nn names); see make_golden.py.
"""

import json
import os

import numpy as np
import pytest

import sepcpp

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "golden.npz")


def _load():
    with np.load(GOLDEN, allow_pickle=False) as z:
        meta = json.loads(str(z["params"]))
        arrays = {k: z[k] for k in z.files if k != "params"}
    return meta, arrays


META, ARRAYS = _load()
CASES = META["cases"]


def _tolerance(dtype, terms):
    """float32: 1e-5 of the output's scale, 1e-4 past 200 products per output; float64: 1e-12."""
    if np.dtype(dtype) == np.float64:
        return 1e-12
    return 1e-4 if terms > 200 else 1e-5


def test_golden_file_is_complete():
    assert len(CASES) >= 30
    ops = {c["op"] for c in CASES}
    assert ops == {"depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "conv2d",
                   "depthwise_conv1d", "separable_conv1d", "conv1d"}
    for c in CASES:
        for role in c["args"] + c["array_kwargs"] + ["expected"]:
            assert f"{c['name']}__{role}" in ARRAYS, (c["name"], role)


def _fused_options(case):
    kw, arrays = case["kwargs"], case["array_kwargs"]
    return ("depthwise_bias" in arrays, kw.get("depthwise_activation"), "bias" in arrays,
            kw.get("activation"))


def test_golden_covers_every_fused_combination():
    """Every combination of depthwise_bias, depthwise_activation, bias and activation for
    separable_conv2d (a depthwise bias without a depthwise activation and the converse included),
    and of bias and activation for the one-step ops, each against a stored TensorFlow output."""
    acts = (None, "relu", "relu6")
    want_sep = {(db, da, b, a) for db in (False, True) for da in acts for b in (False, True) for a in acts}
    assert {_fused_options(c) for c in CASES if c["op"] == "separable_conv2d"} >= want_sep
    for op in ("depthwise_conv2d", "pointwise_conv2d", "conv2d"):
        assert {_fused_options(c)[2:] for c in CASES if c["op"] == op} >= {(b, a) for b in (False, True) for a in acts}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_golden(case):
    name = case["name"]
    args = [ARRAYS[f"{name}__{role}"] for role in case["args"]]
    kwargs = dict(case["kwargs"])
    for key in case["array_kwargs"]:
        kwargs[key] = ARRAYS[f"{name}__{key}"]
    want = ARRAYS[f"{name}__expected"]
    dtype = np.dtype(case["dtype"])

    got = np.asarray(getattr(sepcpp, case["op"])(*args, **kwargs))

    assert got.shape == want.shape, f"{name}: shape {got.shape}, TensorFlow {want.shape}"
    assert got.dtype == dtype, f"{name}: dtype {got.dtype}, expected {dtype}"
    if case["exact"]:
        np.testing.assert_array_equal(got, want, err_msg=f"{name} ({case['tf']})")
        return
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1.0)
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
    rel = _tolerance(dtype, case["terms"])
    assert err <= rel * scale, (
        f"{name} ({case['tf']}): max |sepcpp - tf| = {err:.3g} > {rel:g} * {scale:.3g}")


@pytest.mark.parametrize("case", [c for c in CASES if not c["exact"]][:6],
                         ids=[c["name"] for c in CASES if not c["exact"]][:6])
def test_golden_out_argument(case):
    """The same cases written into a caller-provided out= array."""
    name = case["name"]
    args = [ARRAYS[f"{name}__{role}"] for role in case["args"]]
    kwargs = dict(case["kwargs"])
    for key in case["array_kwargs"]:
        kwargs[key] = ARRAYS[f"{name}__{key}"]
    want = ARRAYS[f"{name}__expected"]
    out = np.full(want.shape, np.nan, want.dtype)
    getattr(sepcpp, case["op"])(*args, out=out, **kwargs)
    scale = max(float(np.max(np.abs(want))), 1.0)
    err = float(np.max(np.abs(out.astype(np.float64) - want)))
    assert err <= _tolerance(want.dtype, case["terms"]) * scale, f"{name}: out= err {err:.3g}"
