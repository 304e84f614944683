"""Exactness on every instruction set, and every instruction set against the reference.

Integer-valued inputs, filters and biases (small integers, exactly representable) make every
product and every partial sum an integer far below 2**24, so any correct summation order, with or
without FMA, gives the exact result: sepcpp must equal the reference bit for bit, on every ISA
(oneDNN's benchdnn checks convolutions this way). The reference runs in float64, where these
integers are exact too.

The ISA is switched in-process with ``sepcpp._core.set_isa`` (the ``isa`` fixture of conftest.py)
and restored after each test; one test also checks the ``SEPCPP_ISA`` environment variable in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import reference as ref

import sepcpp
from sepcpp import _core

ISAS_COMPILED = _core.isas_compiled().split(",")
ISAS_AVAILABLE = [i for i in _core.isas_available().split(",") if i]


# The `isa` fixture (conftest.py) runs a test once per compiled ISA level and restores the level
# in use after it; a level this CPU lacks is skipped, a failure under SEPCPP_REQUIRE_ALL=1.


# (N, H, W, C, M, O, kh, kw, strides, dilations, padding NHWC, groups)
GEOMETRIES = [
    (1, 1, 10, 2, 1, 2, 1, 3, (1, 1), (1, 1), "VALID", 1),  # the founding example's shape
    (2, 9, 11, 1, 1, 1, 3, 3, (1, 1), (1, 1), "SAME", 1),
    (1, 13, 7, 7, 2, 9, 5, 3, (2, 1), (1, 2), "VALID", 1),
    (2, 8, 8, 8, 1, 16, 3, 3, (2, 2), (2, 2), "SAME", 2),
    (1, 7, 12, 15, 3, 15, 2, 4, (3, 2), (1, 3), [[0, 0], [2, 0], [1, 3], [0, 0]], 3),
    (2, 5, 17, 16, 4, 17, 1, 7, (1, 2), (1, 1), [[0, 0], [0, 0], [6, 0], [0, 0]], 1),
    (1, 6, 5, 17, 1, 33, 7, 1, (1, 1), (1, 1), "SAME", 1),
    (3, 4, 4, 31, 1, 8, 1, 1, (1, 1), (1, 1), "VALID", 1),
    (1, 11, 10, 32, 2, 32, 4, 4, (4, 3), (2, 1), [[0, 0], [3, 1], [0, 2], [0, 0]], 4),
    (1, 9, 9, 33, 1, 66, 9, 9, (1, 1), (1, 1), "SAME", 3),
    (2, 3, 3, 64, 1, 64, 3, 3, (1, 1), (1, 1), "SAME", 8),
    (1, 6, 7, 65, 2, 65, 3, 2, (2, 3), (2, 2), "SAME", 5),
    (1, 12, 3, 70, 1, 70, 2, 2, (1, 1), (3, 1), [[0, 0], [1, 2], [2, 0], [0, 0]], 7),
]
OPS_2D = ["depthwise_conv2d", "pointwise_conv2d", "separable_conv2d", "super_separable_conv2d", "conv2d"]
OPS_1D = ["depthwise_conv1d", "separable_conv1d", "super_separable_conv1d", "conv1d"]


def _nchw_padding(p):
    return p if isinstance(p, str) else [p[0], p[3], p[1], p[2]]


def _ints(rng, shape, lo, hi, dtype):
    return rng.integers(lo, hi + 1, size=shape).astype(dtype)


def _make(op, g, layout, dtype, rng, values):
    """(sepcpp args, reference args, reduction) for geometry `g`; `values(shape, role)` fills."""
    n, h, w, c, m, o, kh, kw, s, d, p, groups = g
    one_d = op.endswith("1d")
    kind = op.rsplit("_", 1)[0]
    if one_d:  # the W axis of the geometry
        kshape, strides, dil = (kw,), s[1], d[1]
        pad = p if isinstance(p, str) else [[0, 0], p[2], [0, 0]]
        if isinstance(pad, list) and layout == "NCW":
            pad = [pad[0], pad[2], pad[1]]
        x = values((n, w, c) if layout == "NWC" else (n, c, w), "x")
    else:
        kshape, strides, dil = (kh, kw), s, d
        pad = p if layout == "NHWC" else _nchw_padding(p)
        x = values((n, h, w, c) if layout == "NHWC" else (n, c, h, w), "x")
    taps = int(np.prod(kshape))
    args = {"input": x}
    if kind == "depthwise":
        args.update(filter=values((*kshape, c, m), "w"), bias=values((c * m,), "b"), activation="relu6")
        red = taps
    elif kind == "pointwise":
        args.update(filter=values((1, 1, c, o), "w"), bias=values((o,), "b"), activation="relu")
        red = c
    elif kind in ("separable", "super_separable"):
        gr = groups if kind == "super_separable" else 1
        while (c * m) % gr or o % gr:
            gr -= 1
        args.update(depthwise_filter=values((*kshape, c, m), "w"),
                    pointwise_filter=values((*(1,) * len(kshape), c * m // gr, o), "w"),
                    depthwise_bias=values((c * m,), "b"), depthwise_activation="relu", bias=values((o,), "b"))
        if kind == "super_separable":
            args["groups"] = gr
        red = taps + c * m // gr
    else:
        args.update(filters=values((*kshape, c, o), "w"), bias=values((o,), "b"), activation=None)
        red = taps * c
    if kind != "pointwise":
        args["stride" if one_d else "strides"] = strides
        args["padding"] = pad
        args["dilations"] = dil
    args["data_format"] = layout
    return args, red


def _layouts(op):
    return ["NWC", "NCW"] if op.endswith("1d") else ["NHWC", "NCHW"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS_2D + OPS_1D)
def test_integer_inputs_are_exact(op, dtype, isa):
    rng = np.random.default_rng([7, OPS_2D.index(op) if op in OPS_2D else 10 + OPS_1D.index(op)])
    lo_hi = {"x": (-4, 4), "w": (-3, 3), "b": (-8, 8)}
    checked = 0
    for gi, g in enumerate(GEOMETRIES):
        for layout in _layouts(op):
            args, _ = _make(op, g, layout, dtype, rng, lambda shape, role: _ints(rng, shape, *lo_hi[role], dtype))
            want = getattr(ref, op)(**args)
            assert np.all(np.abs(want) < 2**24) and np.all(want == np.round(want))
            got = getattr(sepcpp, op)(**args)
            assert got.dtype == dtype and got.shape == want.shape
            bad = got.astype(np.float64) != want
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise AssertionError(
                    f"{op} {np.dtype(dtype).name} isa={isa} geometry {gi} {layout}: {int(bad.sum())} of {bad.size} "
                    f"elements not exact; first at {idx}: got {got[idx]!r}, exact {want[idx]!r}")
            checked += 1
    assert checked == 2 * len(GEOMETRIES)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_founding_example_exact(dtype, isa):
    x = np.arange(20, dtype=dtype).reshape(1, 1, 10, 2)
    w1, w2, w3 = np.ones((1, 3, 2, 2), dtype), np.ones((1, 3, 2, 1), dtype), np.ones((1, 1, 2, 2), dtype)
    y1 = sepcpp.conv2d(x, w1, [1, 1, 1, 1], "VALID")
    y2 = sepcpp.depthwise_conv2d(x, w2, [1, 1, 1, 1], "VALID")
    want1 = np.array([[15, 15], [27, 27], [39, 39], [51, 51], [63, 63], [75, 75], [87, 87], [99, 99]], dtype)
    want2 = np.array([[6, 9], [12, 15], [18, 21], [24, 27], [30, 33], [36, 39], [42, 45], [48, 51]], dtype)
    assert np.array_equal(y1[0, 0], want1)
    assert np.array_equal(y2[0, 0], want2)
    assert np.array_equal(sepcpp.conv2d(y2, w3, [1, 1, 1, 1], "VALID"), y1)
    assert np.array_equal(sepcpp.separable_conv2d(x, w2, w3, [1, 1, 1, 1], "VALID"), y1)


@pytest.mark.parametrize("op", OPS_2D + OPS_1D)
def test_isa_matches_reference(op, isa):
    """Random (non-integer) values on every ISA, within the rounding tolerance of the reference."""
    rng = np.random.default_rng([11, len(op)])
    for gi in range(0, len(GEOMETRIES), 3):
        for dtype in (np.float32, np.float64):
            layout = _layouts(op)[gi % 2]
            args, red = _make(op, GEOMETRIES[gi], layout, dtype, rng,
                              lambda shape, role: rng.standard_normal(shape).astype(dtype))
            ref.assert_close(getattr(sepcpp, op)(**args), getattr(ref, op)(**args), dtype, red,
                             f"{op} isa={isa} geometry {gi} {layout}")


def test_isa_restored():
    """The fixture above leaves the process on the ISA it started with (the best one, or SEPCPP_ISA)."""
    forced = os.environ.get("SEPCPP_ISA")
    assert _core.isa_in_use() == (forced or ISAS_AVAILABLE[-1])


_SCRIPT = r"""
import json, sys
import numpy as np
import sepcpp
rng = np.random.default_rng(5)
x = rng.integers(-4, 5, size=(2, 9, 13, 17)).astype(np.float32)
dw = rng.integers(-3, 4, size=(3, 5, 17, 2)).astype(np.float32)
pw = rng.integers(-3, 4, size=(1, 1, 34, 9)).astype(np.float32)
y = sepcpp.separable_conv2d(x, dw, pw, (2, 1), "SAME", dilations=(1, 2))
print(json.dumps({"isa": sepcpp.info()["isa"], "y": y.astype(np.float64).ravel().tolist()}))
"""


def test_sepcpp_isa_environment_variable_exact():
    """SEPCPP_ISA=<isa> in a fresh process selects that ISA, and all give the same exact result."""
    results = {}
    for name in ISAS_AVAILABLE:
        proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=dict(os.environ, SEPCPP_ISA=name),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"SEPCPP_ISA={name}:\n{proc.stdout}\n{proc.stderr}"
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert out["isa"] == name
        results[name] = out["y"]
    first = next(iter(results.values()))
    for name, y in results.items():
        assert y == first, f"SEPCPP_ISA={name} differs from {next(iter(results))} on integer data"


# --------------------------------------------------------------------------------------------
# Exact with room to be wrong: dyadic values scaled by the fan-in keep the outputs of order 1, so
# relu6 leaves most of them inside (0, 6), and the activation variants the test above does not
# use (none after the depthwise step, a final one after separable and after conv with K > 128).
# --------------------------------------------------------------------------------------------

# op -> [(depthwise_activation, activation)]; depthwise_activation only for the two-step ops.
ACT_VARIANTS = {
    "depthwise": [(None, None), (None, "relu"), (None, "relu6")],
    "pointwise": [(None, None), (None, "relu6")],
    "separable": [(None, None), (None, "relu6"), ("relu6", "relu6"), ("relu", "relu"), (None, "relu")],
    "super_separable": [(None, "relu6"), ("relu6", None)],
    "conv": [(None, "relu"), (None, "relu6")],
}


def _kind(op):
    return "conv" if op.startswith("conv") else op.rsplit("_", 1)[0]


# GEOMETRIES plus two whose GEMM reduction (pointwise: C; separable: C*M/groups; conv: taps*C)
# runs past the 128-row K block, so a final activation applied per block would show.
VARIANT_GEOMETRIES = GEOMETRIES + [
    (1, 5, 6, 136, 1, 40, 3, 3, (1, 1), (1, 1), "SAME", 1),
    (1, 4, 7, 100, 3, 34, 2, 2, (2, 1), (1, 1), "VALID", 2),
]
VARIANT_CASES = [(op, da, a) for op in OPS_2D + OPS_1D for da, a in ACT_VARIANTS[_kind(op)]]


def _dyadic_values(rng, dtype, kind):
    """values(shape, role) for _make: x in {-1, -3/4, ..., 1}, filters k / 2**p with |k| <= 3 and
    2**p about sqrt(fan-in) / 2, biases in quarters. Every product and partial sum is a multiple
    of a power of two far above float32's resolution at these magnitudes: exact in any order."""
    filters_seen = []

    def values(shape, role):
        if role == "x":
            return rng.integers(-4, 5, size=shape).astype(dtype) / 4
        if role == "b":
            return rng.integers(-8, 9, size=shape).astype(dtype) / 4
        depthwise_filter = kind in ("depthwise", "separable", "super_separable") and not filters_seen
        filters_seen.append(shape)
        fan_in = int(np.prod(shape[:-2] if depthwise_filter else shape[:-1]))
        p = max(0, int(round(np.log2(np.sqrt(fan_in) / 2))))
        return rng.integers(-3, 4, size=shape).astype(dtype) / dtype(2.0**p)

    return values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op,dw_act,act", VARIANT_CASES,
                         ids=[f"{o}-dwact_{d}-act_{a}" for o, d, a in VARIANT_CASES])
def test_dyadic_inputs_are_exact_with_every_activation(op, dw_act, act, dtype, isa):
    kind = _kind(op)
    rng = np.random.default_rng([13, VARIANT_CASES.index((op, dw_act, act))])
    inside, total, long_k = 0, 0, 0
    for gi, g in enumerate(VARIANT_GEOMETRIES):
        for layout in _layouts(op):
            args, red = _make(op, g, layout, dtype, rng, _dyadic_values(rng, dtype, kind))
            args["activation"] = act
            if kind in ("separable", "super_separable"):
                args["depthwise_activation"] = dw_act
            want = getattr(ref, op)(**args)
            got = getattr(sepcpp, op)(**args)
            assert got.dtype == dtype and got.shape == want.shape
            bad = got.astype(np.float64) != want
            if bad.any():
                idx = tuple(int(i) for i in np.argwhere(bad)[0])
                raise AssertionError(
                    f"{op} dwact={dw_act} act={act} {np.dtype(dtype).name} isa={isa} geometry {gi} {layout}: "
                    f"{int(bad.sum())} of {bad.size} elements not exact; first at {idx}: got {got[idx]!r}, "
                    f"exact {want[idx]!r}")
            # Outputs the activation leaves as computed (not clamped to 0 or 6).
            inside += int(np.sum((want > 0) & (want < (6 if act == "relu6" else np.inf))
                                 if act else want != 0))
            total += want.size
            if kind in ("separable", "super_separable"):  # the GEMM's K: the pointwise step's
                red -= int(np.prod(args["depthwise_filter"].shape[:-2]))
            long_k += kind != "depthwise" and red > 128
    # A good share of outputs must lie where the activation does not decide them (about 30% for
    # relu6 and 45% for relu, of which at most half can be positive; the integer test: 16%).
    assert inside >= 0.25 * total, f"only {inside / total:.0%} of the outputs unclamped by {act}"
    if kind != "depthwise":
        assert long_k > 0, "no geometry with a reduction longer than the GEMM's 128-row block"
