"""sepcpp against TensorFlow itself (tf.nn and Keras layers), on a parametrized grid of cases.

Every case is a configuration TensorFlow accepts *and computes correctly* on the CPU, in both float32
and float64 (so the file passes with or without oneDNN). Where TensorFlow's own op refuses or is
wrong, the reference is built from TensorFlow ops that are right:

* tf.nn.depthwise_conv2d / separable_conv2d with stride > 1 and dilation > 1 on any axes: TF warns
  and silently returns a wrong shape or wrong values. These cases (and unequal strides, which the
  native float64 kernel refuses) use tf.nn.conv2d with the equivalent dense block-diagonal filter,
  which supports stride together with dilation on the CPU.
* NCHW on the CPU (TF's native kernels refuse it): sepcpp runs NCHW, TF runs NHWC, compared after
  transposing.
* Explicit padding in 1-D (tf.nn.conv1d refuses a list) and CAUSAL: tf.pad, then VALID.
* Keras 3's SeparableConv1D / DepthwiseConv1D have no padding='causal': explicit left zero padding.

TensorFlow is optional (pytest.importorskip) except under SEPCPP_REQUIRE_TENSORFLOW=1 or
SEPCPP_REQUIRE_ALL=1, which the test runner sets; CI installs it so these tests run there. The module
prints nothing: TensorFlow's import-time C++ logging is sent to /dev/null.
"""

import numpy as np
import pytest

from tf_support import import_tensorflow
from tf_support import silenced as _silenced

tf, keras = import_tensorflow()
with _silenced():
    tf.get_logger().setLevel("ERROR")
    try:
        tf.config.set_visible_devices([], "GPU")
    except Exception:  # pragma: no cover - devices already initialised
        pass

import sepcpp  # noqa: E402

pytestmark = pytest.mark.uses("tensorflow")

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------

def assert_matches(got, want, dtype, terms, what=""):
    """float32: 1e-5 of the output's scale (max |want|, at least 1), 1e-4 when one output sums more
    than 200 products; float64: 1e-12 of the scale."""
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, TensorFlow {want.shape}"
    assert got.dtype == dtype, f"{what}: dtype {got.dtype}, expected {dtype}"
    assert np.all(np.isfinite(got)), f"{what}: non-finite values"
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1.0)
    if dtype == F64:
        rel = 1e-12
    else:
        rel = 1e-4 if terms > 200 else 1e-5
    err = float(np.max(np.abs(got.astype(np.float64) - want.astype(np.float64)))) if want.size else 0.0
    if err > rel * scale:
        idx = np.unravel_index(np.argmax(np.abs(got.astype(np.float64) - want)), want.shape)
        raise AssertionError(
            f"{what}: max |sepcpp - tf| = {err:.3g} > {rel:g} * {scale:.3g} "
            f"(first worst at {tuple(int(i) for i in idx)}: sepcpp {got[idx]!r}, tf {want[idx]!r})")


def _tf(fn):
    """Runs TensorFlow on the CPU, quietly, and returns a numpy array."""
    with _silenced(), tf.device("/CPU:0"):
        return np.asarray(fn())


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _act_tf(y, act):
    if act is None:
        return y
    return {"relu": tf.nn.relu, "relu6": tf.nn.relu6}[act](y)


# ---------------------------------------------------------------------------------------------
# Cases for the tf.nn comparisons
# ---------------------------------------------------------------------------------------------

def _ex(top, bottom, left, right):
    return ("explicit", ((top, bottom), (left, right)))


# 2-D geometries: (H, W), (kh, kw), (sh, sw), (dh, dw), padding
GEOMETRIES_2D = [
    ((7, 7), (3, 3), (1, 1), (1, 1), "SAME"),
    ((7, 7), (3, 3), (1, 1), (1, 1), "VALID"),
    ((8, 9), (3, 3), (2, 2), (1, 1), "SAME"),
    ((8, 9), (3, 3), (2, 2), (1, 1), "VALID"),
    ((9, 11), (5, 5), (2, 2), (1, 1), "SAME"),
    ((9, 9), (3, 3), (3, 3), (1, 1), "SAME"),
    ((11, 8), (4, 4), (2, 2), (1, 1), "SAME"),          # even kernel: odd pad pixel at the end
    ((10, 7), (3, 5), (1, 1), (2, 2), "SAME"),
    ((10, 9), (3, 3), (1, 1), (2, 3), "VALID"),
    ((6, 6), (1, 1), (1, 1), (1, 1), "SAME"),
    ((6, 7), (1, 1), (2, 2), (1, 1), "VALID"),
    ((5, 5), (5, 5), (1, 1), (1, 1), "VALID"),          # kernel == input
    ((4, 5), (7, 7), (1, 1), (1, 1), "SAME"),           # kernel larger than the input
    ((1, 12), (1, 3), (1, 1), (1, 1), "VALID"),
    ((12, 1), (7, 1), (1, 1), (1, 1), "SAME"),
    ((7, 8), (2, 3), (1, 1), (1, 1), _ex(1, 2, 0, 3)),
    ((9, 9), (3, 3), (2, 2), (1, 1), _ex(0, 1, 2, 2)),
    ((8, 10), (3, 3), (1, 1), (2, 2), _ex(2, 2, 1, 0)),
    ((6, 5), (2, 2), (1, 1), (1, 1), _ex(3, 0, 0, 4)),  # padding larger than the kernel
    # TensorFlow's depthwise op refuses these (unequal strides, float64) or gets them wrong
    # (stride with dilation); the reference is tf.nn.conv2d with a dense block-diagonal filter.
    ((9, 11), (3, 3), (1, 2), (1, 1), "SAME"),
    ((9, 11), (3, 3), (2, 1), (1, 1), "VALID"),
    ((10, 11), (3, 3), (3, 2), (1, 1), _ex(1, 1, 0, 2)),
    ((9, 11), (3, 3), (2, 2), (2, 2), "SAME"),
    ((12, 13), (3, 3), (2, 2), (2, 2), "VALID"),
    ((9, 11), (3, 3), (2, 1), (1, 3), "SAME"),
    ((11, 11), (3, 2), (3, 2), (2, 2), _ex(2, 1, 1, 1)),
]

# 1-D geometries: W, k, s, d, padding
GEOMETRIES_1D = [
    (12, 3, 1, 1, "SAME"),
    (12, 3, 1, 1, "VALID"),
    (13, 3, 2, 1, "SAME"),
    (13, 5, 2, 1, "VALID"),
    (16, 3, 1, 2, "SAME"),
    (16, 3, 1, 4, "VALID"),
    (15, 7, 1, 1, "CAUSAL"),
    (20, 3, 1, 2, "CAUSAL"),
    (14, 4, 3, 1, "CAUSAL"),
    (10, 3, 1, 1, ("explicit", (2, 1))),
    (11, 2, 2, 1, ("explicit", (0, 3))),
    (13, 3, 2, 2, "SAME"),        # stride with dilation: TF's depthwise is wrong, dense conv1d used
    (17, 3, 3, 2, "CAUSAL"),
]

ACTS = [None, "relu", "relu6"]


class Case:
    def __init__(self, op, dim, dtype, size, k, s, d, padding, n=2, c=3, m=1, o=4, fmt=None,
                 form="pair", bias=False, act=None, depthwise_bias=False, depthwise_act=None,
                 view=False, seed=0):
        self.op, self.dim, self.dtype = op, dim, np.dtype(dtype)
        self.size, self.k, self.s, self.d, self.padding = size, k, s, d, padding
        self.n, self.c, self.m, self.o = n, c, m, o
        self.fmt = fmt or ("NHWC" if dim == 2 else "NWC")
        self.form, self.bias, self.act = form, bias, act
        self.depthwise_bias, self.depthwise_act = depthwise_bias, depthwise_act
        self.view, self.seed = view, seed

    @property
    def channels_first(self):
        return self.fmt in ("NCHW", "NCW")

    def terms(self):
        taps = int(np.prod(self.k))
        return {"depthwise": taps, "conv": taps * self.c, "pointwise": self.c,
                "separable": taps + self.c * self.m}[self.op]

    def id(self):
        pad = self.padding if isinstance(self.padding, str) else "EX" + "".join(
            str(v) for v in np.ravel(self.padding[1]))
        parts = [f"{self.op}{self.dim}d", self.dtype.name[-2:], self.fmt,
                 "x".join(map(str, (self.n,) + tuple(np.atleast_1d(self.size)) + (self.c,)))]
        if self.op != "pointwise":
            parts += ["k" + "x".join(map(str, np.atleast_1d(self.k))),
                      "s" + "x".join(map(str, np.atleast_1d(self.s))),
                      "d" + "x".join(map(str, np.atleast_1d(self.d))), pad]
        if self.op in ("depthwise", "separable"):
            parts.append(f"m{self.m}")
        if self.op != "depthwise":
            parts.append(f"o{self.o}")
        parts.append(self.form)
        if self.depthwise_bias or self.depthwise_act:
            parts.append(f"dwb{int(self.depthwise_bias)}-{self.depthwise_act}")
        if self.bias or self.act:
            parts.append(f"b{int(self.bias)}-{self.act}")
        if self.view:
            parts.append("view")
        return "-".join(parts)


def _cases_2d():
    cases = []
    i = 0
    for geo in GEOMETRIES_2D:
        size, k, s, d, padding = geo
        for op in ("depthwise", "separable", "conv"):
            for dtype in (F32, F64):
                fmt = "NCHW" if i % 4 == 3 else "NHWC"
                form = ("int", "pair", "list")[i % 3]
                if form == "int" and (s[0] != s[1] or d[0] != d[1]):
                    form = "pair"
                m = 1 + (i // 2) % 3
                c = (3, 2, 4, 1, 5)[i % 5]
                o = (4, 3, 1, 6)[i % 4]
                act = ACTS[(i // 3) % 3]
                cases.append(Case(op, 2, dtype, size, k, s, d, padding, n=1 + i % 2, c=c, m=m, o=o,
                                  fmt=fmt, form=form, bias=i % 5 in (1, 2), act=act,
                                  depthwise_bias=op == "separable" and i % 7 == 2,
                                  depthwise_act="relu6" if op == "separable" and i % 7 in (2, 5) else None,
                                  view=fmt == "NCHW" and i % 8 == 7, seed=1000 + i))
                i += 1
    # Pointwise
    for j, (size, c, o) in enumerate([((5, 6), 3, 4), ((1, 1), 8, 2), ((7, 3), 16, 16),
                                      ((4, 4), 6, 1), ((3, 9), 1, 5), ((6, 6), 12, 24)]):
        for dtype in (F32, F64):
            cases.append(Case("pointwise", 2, dtype, size, (1, 1), (1, 1), (1, 1), "VALID", n=1 + j % 3,
                              c=c, o=o, fmt="NCHW" if j % 3 == 1 else "NHWC", bias=j % 2 == 0,
                              act=ACTS[j % 3], seed=2000 + 2 * j + (dtype == F64)))
    # Long reductions (float32 tolerance 1e-4 beyond 200 terms) and wide channel counts
    cases += [
        Case("conv", 2, F32, (8, 8), (3, 3), (1, 1), (1, 1), "SAME", n=1, c=32, o=16, seed=3001),
        Case("conv", 2, F64, (8, 8), (3, 3), (2, 2), (1, 1), "SAME", n=1, c=32, o=16, seed=3002),
        Case("separable", 2, F32, (7, 7), (3, 3), (1, 1), (1, 1), "SAME", n=1, c=64, m=4, o=32,
             bias=True, act="relu", seed=3003),
        Case("separable", 2, F64, (7, 7), (5, 5), (2, 2), (1, 1), "VALID", n=1, c=48, m=1, o=40,
             seed=3004),
        Case("depthwise", 2, F32, (20, 20), (15, 15), (1, 1), (1, 1), "SAME", n=1, c=8, m=1,
             seed=3005),
        Case("pointwise", 2, F32, (4, 5), (1, 1), (1, 1), (1, 1), "VALID", n=1, c=256, o=32,
             seed=3006),
        Case("depthwise", 2, F32, (16, 16), (3, 3), (1, 1), (1, 1), "SAME", n=2, c=37, m=3,
             seed=3007),
    ]
    return cases


def _cases_1d():
    cases = []
    i = 0
    for geo in GEOMETRIES_1D:
        w, k, s, d, padding = geo
        for op in ("depthwise", "separable", "conv"):
            for dtype in (F32, F64):
                fmt = "NCW" if i % 4 == 1 else "NWC"
                form = ("int", "list")[i % 2]
                cases.append(Case(op, 1, dtype, w, k, s, d, padding, n=1 + i % 3, c=(3, 2, 5)[i % 3],
                                  m=1 + i % 3, o=(4, 2, 7)[i % 3], fmt=fmt, form=form,
                                  bias=i % 4 in (0, 3), act=ACTS[(i // 2) % 3],
                                  depthwise_bias=op == "separable" and i % 5 == 0,
                                  depthwise_act="relu" if op == "separable" and i % 5 == 0 else None,
                                  seed=4000 + i))
                i += 1
    # SliceNet-like causal windows
    for j, k in enumerate((15, 31, 63)):
        cases.append(Case("separable", 1, F32, 80, k, 1, 1, "CAUSAL", n=1, c=16, m=1, o=16,
                          bias=True, act="relu", seed=4500 + j))
        cases.append(Case("conv", 1, F32, 70, k, 1, 1, "CAUSAL", n=1, c=8, o=8, seed=4600 + j))
    return cases


def _fused_cases():
    """Every combination of the fused options: bias x activation for each op, and depthwise_bias x
    depthwise_activation x bias x activation (36) for separable, in 2-D and 1-D, both dtypes and
    layouts in turn."""
    cases = []
    geo2 = [((7, 8), (3, 3), (1, 1), (1, 1), "SAME"), ((9, 8), (3, 2), (2, 1), (1, 1), "VALID"),
            ((8, 9), (3, 3), (1, 1), (2, 1), _ex(1, 0, 2, 1))]
    geo1 = [(14, 3, 1, 1, "CAUSAL"), (13, 4, 2, 1, "SAME"), (15, 3, 1, 2, "VALID")]
    i = 0
    for dim, geos in ((2, geo2), (1, geo1)):
        for op in ("depthwise", "pointwise", "conv", "separable"):
            if op == "pointwise" and dim == 1:
                continue
            dw_opts = [(False, None)]
            if op == "separable":
                dw_opts = [(db, da) for db in (False, True) for da in ACTS]
            for db, da in dw_opts:
                for b in (False, True):
                    for act in ACTS:
                        g = geos[i % len(geos)]
                        fmt = ("NHWC", "NCHW")[i % 2] if dim == 2 else ("NWC", "NCW")[i % 2]
                        if op == "pointwise":
                            g = ((6, 5), (1, 1), (1, 1), (1, 1), "VALID")
                        cases.append(Case(op, dim, (F32, F64)[(i // 2) % 2], g[0], g[1], g[2], g[3], g[4],
                                          n=1 + i % 2, c=(5, 3, 9)[i % 3], m=1 + i % 2, o=(7, 4, 17)[i % 3],
                                          fmt=fmt, form="pair" if dim == 2 else "int", bias=b, act=act,
                                          depthwise_bias=db, depthwise_act=da, seed=7000 + i))
                        i += 1
    return cases


FUSED_CASES = _fused_cases()
CASES = _cases_2d() + _cases_1d() + FUSED_CASES


def test_fused_cases_cover_every_combination():
    """Each op meets TensorFlow with every combination of its fused options (a depthwise bias
    without a depthwise activation and the converse included), in both dtypes."""
    for dim in (1, 2):
        for op in ("depthwise", "pointwise", "conv", "separable"):
            if op == "pointwise" and dim == 1:
                continue
            got = {(c.depthwise_bias, c.depthwise_act, c.bias, c.act) for c in FUSED_CASES
                   if c.op == op and c.dim == dim}
            dw = [(db, da) for db in (False, True) for da in ACTS] if op == "separable" else [(False, None)]
            assert got == {(db, da, b, a) for db, da in dw for b in (False, True) for a in ACTS}, (op, dim)
    assert {c.dtype for c in FUSED_CASES} == {F32, F64}


# ---------------------------------------------------------------------------------------------
# TensorFlow references (always NHWC / NWC)
# ---------------------------------------------------------------------------------------------

def _dense_depthwise(w):
    """[kh, kw, C, M] depthwise filter -> the equivalent [kh, kw, C, C*M] regular filter."""
    kh, kw, c, m = w.shape
    dense = np.zeros((kh, kw, c, c * m), w.dtype)
    for ci in range(c):
        dense[:, :, ci, ci * m:(ci + 1) * m] = w[:, :, ci, :]
    return dense


def _tf_depthwise_nhwc(x, w, s, d, pad):
    """Depthwise conv in TensorFlow, routed around TF's depthwise limitations."""
    if s[0] == s[1] and (s == (1, 1) or d == (1, 1)):
        return tf.nn.depthwise_conv2d(x, w, [1, s[0], s[1], 1], pad, dilations=list(d))
    return tf.nn.conv2d(x, _dense_depthwise(w), [1, s[0], s[1], 1], pad, dilations=[1, d[0], d[1], 1])


def _tf_pad_2d(padding):
    if isinstance(padding, str):
        return padding
    (t, b), (l, r) = padding[1]
    return [[0, 0], [t, b], [l, r], [0, 0]]


def _tf_reference(case, x, ws, bias, dbias):
    """x, ws in TF layouts (NHWC/NWC); returns the TF output in NHWC/NWC."""
    if case.dim == 1:
        # Lift to 2-D with height 1. Explicit and causal padding become a tf.pad, then VALID.
        k, s, d = case.k, case.s, case.d
        eff = (k - 1) * d + 1
        pad = case.padding
        if pad == "CAUSAL":
            x = np.pad(x, ((0, 0), (eff - 1, 0), (0, 0)))
            pad = "VALID"
        elif not isinstance(pad, str):
            x = np.pad(x, ((0, 0), pad[1], (0, 0)))
            pad = "VALID"
        if case.op == "conv":
            def f():
                y = tf.nn.conv1d(x, ws[0], s, pad, dilations=d)
                if bias is not None:
                    y = tf.nn.bias_add(y, bias)
                return _act_tf(y, case.act)
            return _tf(f)
        x2 = x[:, None]
        ws2 = [w[None] for w in ws]

        def f():
            if s > 1 and d > 1:
                y = tf.nn.conv2d(x2, _dense_depthwise(ws2[0]), [1, 1, s, 1], pad, dilations=[1, 1, d, 1])
            else:
                # Equal strides on the (size 1) height axis, as Keras does.
                y = tf.nn.depthwise_conv2d(x2, ws2[0], [1, s, s, 1], pad, dilations=[1, d])
            if case.op == "separable":
                if dbias is not None:
                    y = tf.nn.bias_add(y, dbias)
                y = _act_tf(y, case.depthwise_act)
                y = tf.nn.conv2d(y, ws2[1], 1, "VALID")
            if bias is not None:
                y = tf.nn.bias_add(y, bias)
            return _act_tf(y, case.act)[:, 0]
        return _tf(f)

    s, d, pad = tuple(case.s), tuple(case.d), _tf_pad_2d(case.padding)
    direct = s[0] == s[1] and (s == (1, 1) or d == (1, 1))

    def f():
        if case.op == "conv":
            y = tf.nn.conv2d(x, ws[0], [1, s[0], s[1], 1], pad, dilations=[1, d[0], d[1], 1])
        elif case.op == "pointwise":
            y = tf.nn.conv2d(x, ws[0], [1, 1, 1, 1], "VALID")
        elif case.op == "depthwise":
            y = _tf_depthwise_nhwc(x, ws[0], s, d, pad)
        elif direct and dbias is None and case.depthwise_act is None:
            y = tf.nn.separable_conv2d(x, ws[0], ws[1], [1, s[0], s[1], 1], pad, dilations=list(d))
        else:
            y = _tf_depthwise_nhwc(x, ws[0], s, d, pad)
            if dbias is not None:
                y = tf.nn.bias_add(y, dbias)
            y = _act_tf(y, case.depthwise_act)
            y = tf.nn.conv2d(y, ws[1], [1, 1, 1, 1], "VALID")
        if bias is not None:
            y = tf.nn.bias_add(y, bias)
        return _act_tf(y, case.act)
    return _tf(f)


# ---------------------------------------------------------------------------------------------
# sepcpp calls in the case's layout and argument form
# ---------------------------------------------------------------------------------------------

def _form_2d(v, form, fmt, default_none=False):
    v = tuple(int(a) for a in v)
    if default_none and v == (1, 1) and form != "list":
        return None
    if form == "int":
        assert v[0] == v[1]
        return v[0]
    if form == "pair":
        return [v[0], v[1]]
    return [1, v[0], v[1], 1] if fmt == "NHWC" else [1, 1, v[0], v[1]]


def _form_1d(v, form, fmt, default_none=False):
    if default_none and v == 1 and form != "list":
        return None
    if form == "int":
        return int(v)
    return [1, int(v), 1] if fmt == "NWC" else [1, 1, int(v)]


def _sep_padding(case):
    p = case.padding
    if isinstance(p, str):
        return p
    if case.dim == 2:
        (t, b), (l, r) = p[1]
        return ([[0, 0], [t, b], [l, r], [0, 0]] if case.fmt == "NHWC"
                else [[0, 0], [0, 0], [t, b], [l, r]])
    l, r = p[1]
    return [[0, 0], [l, r], [0, 0]] if case.fmt == "NWC" else [[0, 0], [0, 0], [l, r]]


def _to_layout(x, case):
    if not case.channels_first:
        return x
    t = np.transpose(x, (0, 3, 1, 2)) if case.dim == 2 else np.transpose(x, (0, 2, 1))
    return t if case.view else np.ascontiguousarray(t)


def _from_layout(y, case):
    if not case.channels_first:
        return np.asarray(y)
    return np.transpose(y, (0, 2, 3, 1)) if case.dim == 2 else np.transpose(y, (0, 2, 1))


def _sepcpp_call(case, x_nhwc, ws, bias, dbias, out=None):
    x = _to_layout(x_nhwc, case)
    kw = {}
    if bias is not None:
        kw["bias"] = bias
    if case.act is not None:
        kw["activation"] = case.act
    if out is not None:
        kw["out"] = out
    if case.op == "pointwise":
        return sepcpp.pointwise_conv2d(x, ws[0], data_format=case.fmt, **kw)
    if case.op == "separable":
        if dbias is not None:
            kw["depthwise_bias"] = dbias
        if case.depthwise_act is not None:
            kw["depthwise_activation"] = case.depthwise_act
    pad = _sep_padding(case)
    if case.dim == 2:
        strides = _form_2d(case.s, case.form, case.fmt)
        dil = _form_2d(case.d, case.form, case.fmt, default_none=True)
        geo = dict(strides=strides, padding=pad, data_format=case.fmt, dilations=dil)
        if case.op == "depthwise":
            return sepcpp.depthwise_conv2d(x, ws[0], **geo, **kw)
        if case.op == "separable":
            return sepcpp.separable_conv2d(x, ws[0], ws[1], **geo, **kw)
        return sepcpp.conv2d(x, ws[0], **geo, **kw)
    stride = _form_1d(case.s, case.form, case.fmt)
    dil = _form_1d(case.d, case.form, case.fmt, default_none=True)
    geo = dict(stride=stride, padding=pad, data_format=case.fmt, dilations=dil)
    if case.op == "depthwise":
        return sepcpp.depthwise_conv1d(x, ws[0], **geo, **kw)
    if case.op == "separable":
        return sepcpp.separable_conv1d(x, ws[0], ws[1], **geo, **kw)
    return sepcpp.conv1d(x, ws[0], **geo, **kw)


def _make_arrays(case):
    rng = np.random.default_rng(case.seed)
    dt = case.dtype
    spatial = tuple(np.atleast_1d(case.size))
    ks = tuple(np.atleast_1d(case.k))
    x = _rand(rng, (case.n,) + spatial + (case.c,), dt)
    if case.op == "depthwise":
        ws = [_rand(rng, ks + (case.c, case.m), dt)]
        out_c = case.c * case.m
    elif case.op == "separable":
        ws = [_rand(rng, ks + (case.c, case.m), dt),
              _rand(rng, (1,) * case.dim + (case.c * case.m, case.o), dt)]
        out_c = case.o
    else:  # conv, pointwise
        ws = [_rand(rng, ks + (case.c, case.o), dt)]
        out_c = case.o
    bias = _rand(rng, (out_c,), dt) if case.bias else None
    dbias = _rand(rng, (case.c * case.m,), dt) if case.depthwise_bias else None
    return x, ws, bias, dbias


@pytest.mark.parametrize("case", CASES, ids=[c.id() for c in CASES])
def test_tf_nn(case):
    x, ws, bias, dbias = _make_arrays(case)
    want = _tf_reference(case, x, ws, bias, dbias)
    got = _from_layout(_sepcpp_call(case, x, ws, bias, dbias), case)
    assert_matches(got, want, case.dtype, case.terms(), case.id())


# A few cases through out=: the result lands in the caller's array.
OUT_CASES = [c for c in CASES if c.seed in (1000, 1004, 1011, 1031, 2000, 4002, 4007)]


@pytest.mark.parametrize("case", OUT_CASES, ids=[c.id() for c in OUT_CASES])
def test_tf_nn_out(case):
    x, ws, bias, dbias = _make_arrays(case)
    want = _tf_reference(case, x, ws, bias, dbias)
    if case.channels_first:
        shape = (want.shape[0], want.shape[-1]) + want.shape[1:-1]
    else:
        shape = want.shape
    out = np.full(shape, np.nan, case.dtype)
    res = _sepcpp_call(case, x, ws, bias, dbias, out=out)
    assert_matches(_from_layout(out, case), want, case.dtype, case.terms(), case.id() + " out=")
    if res is not None:
        assert np.shares_memory(np.asarray(res), out) or np.array_equal(np.asarray(res), out)


# ---------------------------------------------------------------------------------------------
# Super-separable (groups > 1): TF depthwise, then one 1x1 tf.nn.conv2d per channel group, concatenated
# ---------------------------------------------------------------------------------------------

# (dim, size, k, s, d, padding, C, M, O, groups, dtype)
SUPER_CASES = [
    (2, (7, 8), (3, 3), (1, 1), (1, 1), "SAME", 4, 1, 6, 2, F32),
    (2, (9, 9), (3, 3), (2, 2), (1, 1), "VALID", 3, 2, 9, 3, F32),
    (2, (8, 7), (3, 3), (1, 1), (2, 2), "SAME", 6, 1, 6, 3, F64),
    (2, (9, 11), (3, 3), (2, 2), (2, 2), "SAME", 4, 2, 4, 4, F32),
    (1, 20, 3, 1, 1, "CAUSAL", 6, 1, 6, 2, F32),
    (1, 19, 5, 2, 1, "SAME", 4, 3, 6, 3, F64),
]


def _super_id(p):
    return f"super{p[0]}d-{p[10].name}-C{p[6]}M{p[7]}O{p[8]}g{p[9]}-s{p[3]}-d{p[4]}-{p[5]}"


@pytest.mark.parametrize("p", SUPER_CASES, ids=[_super_id(p) for p in SUPER_CASES])
def test_super_separable_vs_grouped_tf(p):
    dim, size, k, s, d, padding, c, m, o, g, dt = p
    rng = np.random.default_rng(6000 + SUPER_CASES.index(p))
    spatial = tuple(np.atleast_1d(size))
    ks = tuple(np.atleast_1d(k))
    x = _rand(rng, (2,) + spatial + (c,), dt)
    wd = _rand(rng, ks + (c, m), dt)
    wp = _rand(rng, (1,) * dim + (c * m // g, o), dt)
    b = _rand(rng, (o,), dt)
    if dim == 1:
        eff = (k - 1) * d + 1
        xt = np.pad(x, ((0, 0), (eff - 1, 0), (0, 0))) if padding == "CAUSAL" else x
        pad_t = "VALID" if padding == "CAUSAL" else padding
        x2, wd2, wp2, s2, d2 = xt[:, None], wd[None], wp[None], (1, s), (1, d)
    else:
        x2, wd2, wp2, s2, d2, pad_t = x, wd, wp, s, d, padding

    def f():
        y = _tf_depthwise_nhwc(x2, wd2, s2, d2, pad_t)
        cg, og = c * m // g, o // g
        parts = [tf.nn.conv2d(y[..., i * cg:(i + 1) * cg], wp2[..., i * og:(i + 1) * og], 1, "VALID")
                 for i in range(g)]
        y = tf.nn.relu(tf.nn.bias_add(tf.concat(parts, axis=-1), b))
        return y[:, 0] if dim == 1 else y
    want = _tf(f)
    if dim == 2:
        got = sepcpp.super_separable_conv2d(x, wd, wp, g, strides=list(s), padding=padding,
                                            dilations=list(d), bias=b, activation="relu")
    else:
        got = sepcpp.super_separable_conv1d(x, wd, wp, g, stride=s, padding=padding, dilations=d,
                                            bias=b, activation="relu")
    assert_matches(got, want, dt, int(np.prod(ks)) + c * m // g, _super_id(p))


# ---------------------------------------------------------------------------------------------
# tf.nn.convolution (regular and pointwise; it refuses stride with dilation and list paddings)
# ---------------------------------------------------------------------------------------------

CONVOLUTION_CASES = [
    c for c in CASES
    if c.op in ("conv", "pointwise") and c.padding in ("SAME", "VALID")
    and not (max(np.atleast_1d(c.s)) > 1 and max(np.atleast_1d(c.d)) > 1)
]


@pytest.mark.parametrize("case", CONVOLUTION_CASES, ids=[c.id() for c in CONVOLUTION_CASES])
def test_tf_nn_convolution(case):
    x, ws, bias, _ = _make_arrays(case)
    if case.op == "pointwise":
        s, d, pad = 1, 1, "VALID"
    else:
        s, d, pad = list(np.atleast_1d(case.s)), list(np.atleast_1d(case.d)), case.padding

    def f():
        y = tf.nn.convolution(x, ws[0], strides=s, padding=pad, dilations=d)
        if bias is not None:
            y = tf.nn.bias_add(y, bias)
        return _act_tf(y, case.act)
    want = _tf(f)
    got = _from_layout(_sepcpp_call(case, x, ws, bias, None), case)
    assert_matches(got, want, case.dtype, case.terms(), "tf.nn.convolution " + case.id())


# ---------------------------------------------------------------------------------------------
# The same errors as TensorFlow where the kernel does not fit a VALID input
# ---------------------------------------------------------------------------------------------

ERROR_CASES = [
    ("conv2d", (5, 5), (7, 1)),
    ("conv2d", (5, 6), (3, 8)),
    ("depthwise_conv2d", (5, 5), (7, 1)),
    ("depthwise_conv2d", (4, 6), (2, 9)),
]


@pytest.mark.parametrize("op,size,k", ERROR_CASES, ids=[f"{o}-{s}-{k}" for o, s, k in ERROR_CASES])
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_valid_kernel_too_large_is_an_error_like_tf(op, size, k, dtype):
    x = np.ones((1,) + size + (2,), dtype)
    w = np.ones(k + (2, 1), dtype)
    strides = [1, 1, 1, 1]
    tf_op = tf.nn.conv2d if op == "conv2d" else tf.nn.depthwise_conv2d
    with pytest.raises(Exception):
        _tf(lambda: tf_op(x, w, strides, "VALID"))
    with pytest.raises(ValueError):
        getattr(sepcpp, op)(x, w, strides, "VALID")


# ---------------------------------------------------------------------------------------------
# Keras layers: bias (random, non-zero, via set_weights) and activation
# ---------------------------------------------------------------------------------------------

def _keras_layer(cls, dtype, build_shape, **kw):
    with _silenced():
        layer = cls(dtype=dtype.name, **kw)
        layer.build(build_shape)
    return layer


def _keras_run(layer, weights, x):
    with _silenced(), tf.device("/CPU:0"):
        layer.set_weights(weights)
        return np.asarray(layer(x))


# (size, kernel, strides (equal), dilation, padding, depth_multiplier, activation, dtype)
KERAS_DW2D = [
    ((8, 9), 3, 1, 1, "same", 1, None, F32),
    ((8, 9), 3, 2, 1, "valid", 2, "relu", F32),
    ((9, 9), (3, 5), 1, 2, "same", 3, "relu6", F32),
    ((11, 10), 3, 2, 2, "same", 2, "relu", F32),       # stride with dilation (Keras decomposes)
    ((7, 7), 2, 2, 1, "same", 1, "relu6", F64),
    ((12, 11), 3, 3, 2, "valid", 1, None, F64),
    ((6, 8), (1, 3), 1, (1, 2), "valid", 2, "relu", F64),
]

KERAS_SEP2D = [
    ((8, 9), 3, 1, 1, "same", 1, 5, None, F32),
    ((8, 9), 3, 2, 1, "valid", 2, 4, "relu", F32),
    ((10, 9), (3, 2), 1, 2, "same", 3, 6, "relu6", F32),
    ((13, 12), 3, 2, 2, "valid", 1, 3, "relu", F32),   # stride with dilation (Keras decomposes)
    ((9, 9), 5, 3, 1, "same", 2, 8, "relu6", F64),
    ((11, 11), 3, 2, 2, "same", 2, 2, None, F64),
    ((7, 6), (1, 3), 1, 1, "valid", 1, 1, "relu", F64),
]

# (length, kernel, stride, dilation, padding, depth_multiplier, filters, activation, dtype)
KERAS_SEP1D = [
    (16, 3, 1, 1, "same", 1, 4, None, F32),
    (16, 3, 2, 1, "valid", 2, 4, "relu", F32),
    (17, 5, 1, 2, "same", 3, 5, "relu6", F32),
    (20, 3, 2, 2, "same", 2, 3, "relu", F32),
    (18, 7, 1, 1, "causal", 1, 6, "relu", F32),
    (24, 3, 1, 4, "causal", 2, 4, None, F32),
    (15, 4, 2, 1, "causal", 1, 3, "relu6", F64),
    (19, 3, 3, 1, "valid", 1, 2, None, F64),
    (16, 3, 1, 2, "causal", 3, 5, "relu", F64),
]

KERAS_DW1D = [
    (16, 3, 1, 1, "same", 2, "relu", F32),
    (15, 5, 2, 1, "valid", 1, None, F32),
    (20, 3, 1, 3, "causal", 2, "relu6", F32),
    (17, 4, 2, 1, "causal", 3, "relu", F64),
]

# (length, kernel, stride, dilation, padding, filters, activation, dtype): Keras Conv1D has 'causal'.
KERAS_CONV1D = [
    (16, 3, 1, 1, "causal", 4, "relu", F32),
    (18, 5, 1, 2, "causal", 3, None, F32),
    (17, 4, 2, 1, "causal", 5, "relu6", F64),
    (15, 3, 2, 1, "same", 2, "relu", F64),
]

# (size, kernel, strides, dilation, padding, filters, activation, dtype)
KERAS_CONV2D = [
    ((8, 9), 3, 1, 1, "same", 4, "relu", F32),
    ((9, 9), (3, 5), (2, 1), 1, "valid", 3, "relu6", F32),
    ((10, 8), 3, 1, (2, 1), "same", 5, None, F64),
    ((7, 7), 2, 2, 1, "same", 2, "relu", F64),
]


def _keras_id(prefix, params):
    return prefix + "-" + "-".join(str(p) if not isinstance(p, np.dtype) else p.name for p in params)


def _c_and_n(i):
    return (3, 2, 4)[i % 3], 1 + i % 2


@pytest.mark.parametrize("i,p", list(enumerate(KERAS_DW2D)),
                         ids=[_keras_id("DepthwiseConv2D", p) for p in KERAS_DW2D])
def test_keras_depthwise_conv2d(i, p):
    size, k, s, d, padding, m, act, dt = p
    c, n = _c_and_n(i)
    rng = np.random.default_rng(5000 + i)
    x = _rand(rng, (n,) + size + (c,), dt)
    layer = _keras_layer(keras.layers.DepthwiseConv2D, dt, x.shape, kernel_size=k, strides=s,
                         dilation_rate=d, padding=padding, depth_multiplier=m, activation=act,
                         use_bias=True)
    kh, kw = (k, k) if isinstance(k, int) else k
    w = _rand(rng, (kh, kw, c, m), dt)
    b = _rand(rng, (c * m,), dt)
    want = _keras_run(layer, [w, b], x)
    got = sepcpp.depthwise_conv2d(x, w, strides=s, padding=padding.upper(), dilations=d, bias=b,
                                  activation=act)
    assert_matches(got, want, dt, kh * kw, "DepthwiseConv2D")


@pytest.mark.parametrize("i,p", list(enumerate(KERAS_SEP2D)),
                         ids=[_keras_id("SeparableConv2D", p) for p in KERAS_SEP2D])
def test_keras_separable_conv2d(i, p):
    size, k, s, d, padding, m, o, act, dt = p
    c, n = _c_and_n(i)
    rng = np.random.default_rng(5100 + i)
    x = _rand(rng, (n,) + size + (c,), dt)
    layer = _keras_layer(keras.layers.SeparableConv2D, dt, x.shape, filters=o, kernel_size=k,
                         strides=s, dilation_rate=d, padding=padding, depth_multiplier=m,
                         activation=act, use_bias=True)
    kh, kw = (k, k) if isinstance(k, int) else k
    wd = _rand(rng, (kh, kw, c, m), dt)
    wp = _rand(rng, (1, 1, c * m, o), dt)
    b = _rand(rng, (o,), dt)
    want = _keras_run(layer, [wd, wp, b], x)
    # Keras has one bias, on the pointwise output: no depthwise bias.
    got = sepcpp.separable_conv2d(x, wd, wp, strides=s, padding=padding.upper(), dilations=d,
                                  depthwise_bias=None, bias=b, activation=act)
    assert_matches(got, want, dt, kh * kw + c * m, "SeparableConv2D")


def _keras_1d_padding(padding, x, k, d):
    """Keras 3's SeparableConv1D/DepthwiseConv1D refuse 'causal': pad on the left, then 'valid'."""
    if padding == "causal":
        return np.pad(x, ((0, 0), ((k - 1) * d, 0), (0, 0))), "valid"
    return x, padding


@pytest.mark.parametrize("i,p", list(enumerate(KERAS_SEP1D)),
                         ids=[_keras_id("SeparableConv1D", p) for p in KERAS_SEP1D])
def test_keras_separable_conv1d(i, p):
    length, k, s, d, padding, m, o, act, dt = p
    c, n = _c_and_n(i)
    rng = np.random.default_rng(5200 + i)
    x = _rand(rng, (n, length, c), dt)
    xk, kpad = _keras_1d_padding(padding, x, k, d)
    layer = _keras_layer(keras.layers.SeparableConv1D, dt, xk.shape, filters=o, kernel_size=k,
                         strides=s, dilation_rate=d, padding=kpad, depth_multiplier=m,
                         activation=act, use_bias=True)
    wd = _rand(rng, (k, c, m), dt)
    wp = _rand(rng, (1, c * m, o), dt)
    b = _rand(rng, (o,), dt)
    want = _keras_run(layer, [wd, wp, b], xk)
    got = sepcpp.separable_conv1d(x, wd, wp, stride=s, padding=padding.upper(), dilations=d,
                                  depthwise_bias=None, bias=b, activation=act)
    assert_matches(got, want, dt, k + c * m, "SeparableConv1D")


@pytest.mark.parametrize("i,p", list(enumerate(KERAS_DW1D)),
                         ids=[_keras_id("DepthwiseConv1D", p) for p in KERAS_DW1D])
def test_keras_depthwise_conv1d(i, p):
    length, k, s, d, padding, m, act, dt = p
    c, n = _c_and_n(i)
    rng = np.random.default_rng(5300 + i)
    x = _rand(rng, (n, length, c), dt)
    xk, kpad = _keras_1d_padding(padding, x, k, d)
    layer = _keras_layer(keras.layers.DepthwiseConv1D, dt, xk.shape, kernel_size=k, strides=s,
                         dilation_rate=d, padding=kpad, depth_multiplier=m, activation=act,
                         use_bias=True)
    w = _rand(rng, (k, c, m), dt)
    b = _rand(rng, (c * m,), dt)
    want = _keras_run(layer, [w, b], xk)
    got = sepcpp.depthwise_conv1d(x, w, stride=s, padding=padding.upper(), dilations=d, bias=b,
                                  activation=act)
    assert_matches(got, want, dt, k, "DepthwiseConv1D")


@pytest.mark.parametrize("i,p", list(enumerate(KERAS_CONV1D)),
                         ids=[_keras_id("Conv1D", p) for p in KERAS_CONV1D])
def test_keras_conv1d(i, p):
    length, k, s, d, padding, o, act, dt = p
    c, n = _c_and_n(i)
    rng = np.random.default_rng(5400 + i)
    x = _rand(rng, (n, length, c), dt)
    layer = _keras_layer(keras.layers.Conv1D, dt, x.shape, filters=o, kernel_size=k, strides=s,
                         dilation_rate=d, padding=padding, activation=act, use_bias=True)
    w = _rand(rng, (k, c, o), dt)
    b = _rand(rng, (o,), dt)
    want = _keras_run(layer, [w, b], x)
    got = sepcpp.conv1d(x, w, stride=s, padding=padding.upper(), dilations=d, bias=b,
                        activation=act)
    assert_matches(got, want, dt, k * c, "Conv1D")


@pytest.mark.parametrize("i,p", list(enumerate(KERAS_CONV2D)),
                         ids=[_keras_id("Conv2D", p) for p in KERAS_CONV2D])
def test_keras_conv2d(i, p):
    size, k, s, d, padding, o, act, dt = p
    c, n = _c_and_n(i)
    rng = np.random.default_rng(5500 + i)
    x = _rand(rng, (n,) + size + (c,), dt)
    layer = _keras_layer(keras.layers.Conv2D, dt, x.shape, filters=o, kernel_size=k, strides=s,
                         dilation_rate=d, padding=padding, activation=act, use_bias=True)
    kh, kw = (k, k) if isinstance(k, int) else k
    w = _rand(rng, (kh, kw, c, o), dt)
    b = _rand(rng, (o,), dt)
    want = _keras_run(layer, [w, b], x)
    got = sepcpp.conv2d(x, w, strides=s, padding=padding.upper(), dilations=d, bias=b,
                        activation=act)
    assert_matches(got, want, dt, kh * kw * c, "Conv2D")


# ---------------------------------------------------------------------------------------------
# The founding example (SEMANTICS.md): all-ones filters, digit for digit
# ---------------------------------------------------------------------------------------------

def test_founding_example_matches_tf_exactly():
    x = np.arange(20, dtype=np.float32).reshape(1, 1, 10, 2)
    w1 = np.ones((1, 3, 2, 2), np.float32)
    w2 = np.ones((1, 3, 2, 1), np.float32)
    w3 = np.ones((1, 1, 2, 2), np.float32)
    s = [1, 1, 1, 1]
    y1 = _tf(lambda: tf.nn.conv2d(x, w1, s, "VALID"))
    y2 = _tf(lambda: tf.nn.depthwise_conv2d(x, w2, s, "VALID"))
    y4 = _tf(lambda: tf.nn.separable_conv2d(x, w2, w3, s, "VALID"))
    np.testing.assert_array_equal(sepcpp.conv2d(x, w1, s, "VALID"), y1)
    np.testing.assert_array_equal(sepcpp.depthwise_conv2d(x, w2, s, "VALID"), y2)
    np.testing.assert_array_equal(sepcpp.pointwise_conv2d(y2, w3), y1)
    np.testing.assert_array_equal(sepcpp.separable_conv2d(x, w2, w3, s, "VALID"), y4)
    np.testing.assert_array_equal(y4, y1)
