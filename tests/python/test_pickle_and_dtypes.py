"""Arrays and layers as they arrive from real programs: pickled, from torch, in worker processes.

- Arrays that went through pickle (multiprocessing, joblib, dask.distributed, Ray) carry a dtype
  equal to float32/float64 that is not NumPy's canonical dtype object: every entry point must
  accept them, with results identical bit for bit to the unpickled call. A non-native byte order
  ('>f4') stays refused.
- torch tensors with a lazy negation (``is_neg()``) export their raw memory through DLPack: sepcpp
  must compute with the values the tensor shows, and never write into one (out=).
- Layers pickle, copy and deepcopy, and run the same in a spawned worker process.
"""

from __future__ import annotations

import concurrent.futures
import copy
import multiprocessing
import pickle

import numpy as np
import pytest

import sepcpp
from optional_deps import import_optional

DTYPES = [np.float32, np.float64]


def repickled(a):
    b = pickle.loads(pickle.dumps(a))
    assert b.dtype == a.dtype and b.dtype is not np.dtype(a.dtype)  # what the bug was about
    return b


def assert_bitwise(a, b, what=""):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, what
    assert a.tobytes() == b.tobytes(), f"{what}: results differ"


def _operands(rng, dtype, one_d=False):
    r = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    if one_d:
        return dict(x=r(2, 9, 4), dw=r(3, 4, 2), pw=r(1, 8, 6), w=r(3, 4, 5), db=r(8), b6=r(6), b5=r(5))
    return dict(x=r(2, 6, 5, 4), dw=r(3, 3, 4, 2), pw=r(1, 1, 8, 6), gpw=r(1, 1, 4, 6), w=r(3, 2, 4, 5),
                pw1=r(1, 1, 4, 5), db=r(8), b6=r(6), b5=r(5))


# op name -> (operand names of the call, function building the call from a dict of operands)
CALLS_2D = {
    "depthwise_conv2d": (("x", "dw", "db"), lambda a, out=None: sepcpp.depthwise_conv2d(
        a["x"], a["dw"], 1, "SAME", bias=a["db"], out=out)),
    "pointwise_conv2d": (("x", "pw1", "b5"), lambda a, out=None: sepcpp.pointwise_conv2d(
        a["x"], a["pw1"], bias=a["b5"], out=out)),
    "separable_conv2d": (("x", "dw", "pw", "db", "b6"), lambda a, out=None: sepcpp.separable_conv2d(
        a["x"], a["dw"], a["pw"], 1, "SAME", depthwise_bias=a["db"], bias=a["b6"], out=out)),
    "super_separable_conv2d": (("x", "dw", "gpw", "db", "b6"), lambda a, out=None: sepcpp.super_separable_conv2d(
        a["x"], a["dw"], a["gpw"], 2, 1, "SAME", depthwise_bias=a["db"], bias=a["b6"], out=out)),
    "conv2d": (("x", "w", "b5"), lambda a, out=None: sepcpp.conv2d(a["x"], a["w"], 1, "SAME", bias=a["b5"], out=out)),
}
CALLS_1D = {
    "depthwise_conv1d": (("x", "dw", "db"), lambda a, out=None: sepcpp.depthwise_conv1d(
        a["x"], a["dw"], 1, "SAME", bias=a["db"], out=out)),
    "separable_conv1d": (("x", "dw", "pw", "db", "b6"), lambda a, out=None: sepcpp.separable_conv1d(
        a["x"], a["dw"], a["pw"], 1, "CAUSAL", depthwise_bias=a["db"], bias=a["b6"], out=out)),
    "super_separable_conv1d": (("x", "dw", "pw", "db", "b6"), lambda a, out=None: sepcpp.super_separable_conv1d(
        a["x"], a["dw"], a["pw"][:, :4], 2, 1, "VALID", depthwise_bias=a["db"], bias=a["b6"], out=out)),
    "conv1d": (("x", "w", "b5"), lambda a, out=None: sepcpp.conv1d(a["x"], a["w"], 2, "SAME", bias=a["b5"], out=out)),
}
CALLS = {**CALLS_2D, **CALLS_1D}


# --------------------------------------------------------------------------------------------
# Pickled arrays


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(CALLS))
def test_pickled_operands_give_identical_results(op, dtype, rng):
    names, call = CALLS[op]
    a = _operands(rng, dtype, one_d=op in CALLS_1D)
    expected = call(a)
    for name in names:  # one operand pickled at a time, then all of them
        assert_bitwise(call({**a, name: repickled(a[name])}), expected, f"{op}: pickled {name}")
    everything = {k: repickled(v) for k, v in a.items()}
    assert_bitwise(call(everything), expected, f"{op}: everything pickled")
    out = repickled(np.full(expected.shape, np.nan, dtype))
    r = call(everything, out=out)
    assert r is out
    assert_bitwise(out, expected, f"{op}: pickled out=")


@pytest.mark.parametrize("op", sorted(CALLS))
def test_non_native_byte_order_stays_refused(op, rng):
    names, call = CALLS[op]
    a = _operands(rng, np.float32, one_d=op in CALLS_1D)
    for name in names:
        with pytest.raises(TypeError, match="dtype >f4"):
            call({**a, name: a[name].astype(">f4")})
    expected = call(a)
    with pytest.raises(TypeError, match="out: dtype >f4"):
        call(a, out=np.empty(expected.shape, ">f4"))


def _layers(a):
    """Every layer class over the 2-D operands in `a`, with the functional call it must match."""
    return [
        (sepcpp.DepthwiseConv2D(a["dw"], 2, "SAME", bias=a["db"], activation="relu"),
         lambda x: sepcpp.depthwise_conv2d(x, a["dw"], 2, "SAME", bias=a["db"], activation="relu")),
        (sepcpp.PointwiseConv2D(a["pw1"], bias=a["b5"], activation="relu6"),
         lambda x: sepcpp.pointwise_conv2d(x, a["pw1"], bias=a["b5"], activation="relu6")),
        (sepcpp.SeparableConv2D(a["dw"], a["pw"], 1, "VALID", dilations=(1, 2), depthwise_bias=a["db"],
                                depthwise_activation="relu6", bias=a["b6"]),
         lambda x: sepcpp.separable_conv2d(x, a["dw"], a["pw"], 1, "VALID", dilations=(1, 2), depthwise_bias=a["db"],
                                           depthwise_activation="relu6", bias=a["b6"])),
        (sepcpp.SeparableConv2D(a["dw"], a["gpw"], 1, [[0, 0], [1, 2], [0, 1], [0, 0]], groups=2),
         lambda x: sepcpp.super_separable_conv2d(x, a["dw"], a["gpw"], 2, 1, [[0, 0], [1, 2], [0, 1], [0, 0]])),
        (sepcpp.Conv2D(a["w"], (2, 1), "SAME", bias=a["b5"]),
         lambda x: sepcpp.conv2d(x, a["w"], (2, 1), "SAME", bias=a["b5"])),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_take_pickled_arrays(dtype, rng):
    a = _operands(rng, dtype)
    pickled = {k: repickled(v) for k, v in a.items()}
    for (layer, functional), (player, _) in zip(_layers(a), _layers(pickled)):
        expected = functional(a["x"])
        assert_bitwise(layer(a["x"]), expected, f"{layer!r}")
        assert_bitwise(player(a["x"]), expected, f"{layer!r} built from pickled arrays")
        assert_bitwise(layer(pickled["x"]), expected, f"{layer!r} called on a pickled input")
        out = repickled(np.full(expected.shape, np.nan, dtype))
        assert layer(pickled["x"], out=out) is out
        assert_bitwise(out, expected, f"{layer!r} with a pickled out=")
        assert player.dtype == np.dtype(dtype)


# --------------------------------------------------------------------------------------------
# torch tensors with a lazy negation


def _torch():
    return import_optional("torch")


def lazily_negated(torch, a):
    """A torch tensor showing -a whose memory holds +a (is_neg() set), as
    ``torch.complex(z, x).conj().imag`` gives."""
    t = torch.complex(torch.zeros_like(torch.from_numpy(a)), torch.from_numpy(a.copy())).conj().imag
    assert t.is_neg() and np.array_equal(t.resolve_neg().numpy(), -a)
    return t


@pytest.mark.uses("torch")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(CALLS))
def test_torch_lazy_negation_is_resolved(op, dtype, rng):
    torch = _torch()
    names, call = CALLS[op]
    a = _operands(rng, dtype, one_d=op in CALLS_1D)
    for name in names:
        t = lazily_negated(torch, a[name])
        expected = call({**a, name: -a[name]})  # the values the tensor shows
        assert_bitwise(call({**a, name: t}), expected, f"{op}: lazily negated {name}")
        assert t.is_neg(), "the caller's tensor must be left as it was"
        assert np.array_equal(t.resolve_neg().numpy(), -a[name])
    expected = call(a)
    out = lazily_negated(torch, np.zeros(expected.shape, dtype))
    with pytest.raises(TypeError, match="out: must be a NumPy array"):
        call(a, out=out)
    assert out.is_neg() and not out.resolve_neg().numpy().any(), "out= must not be written"


@pytest.mark.uses("torch")
@pytest.mark.parametrize("dtype", DTYPES)
def test_torch_lazy_negation_in_layers(dtype, rng):
    torch = _torch()
    a = _operands(rng, dtype)
    neg = {k: lazily_negated(torch, v) for k, v in a.items()}
    shown = {k: -v for k, v in a.items()}
    for (layer, _), (nlayer, _), (slayer, _) in zip(_layers(a), _layers(neg), _layers(shown)):
        assert_bitwise(nlayer(a["x"]), slayer(a["x"]), f"{layer!r} built from lazily negated tensors")
        assert_bitwise(layer(neg["x"]), layer(shown["x"]), f"{layer!r} called on a lazily negated input")
    assert all(t.is_neg() for t in neg.values())


# --------------------------------------------------------------------------------------------
# Layers pickle and copy


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_layers_pickle_and_copy(dtype, data_format, rng):
    a = _operands(rng, dtype)
    x = a["x"] if data_format == "NHWC" else np.ascontiguousarray(a["x"].transpose(0, 3, 1, 2))
    kw = {"data_format": data_format}
    layers = [sepcpp.DepthwiseConv2D(a["dw"], 2, "SAME", bias=a["db"], activation="relu", **kw),
              sepcpp.PointwiseConv2D(a["pw1"], bias=a["b5"], **kw),
              sepcpp.SeparableConv2D(a["dw"], a["gpw"], (1, 2), "VALID", groups=2, depthwise_bias=a["db"],
                                     depthwise_activation="relu6", bias=a["b6"], activation="relu", **kw),
              sepcpp.Conv2D(a["w"], 1, [[0, 0], [1, 0], [2, 1], [0, 0]] if data_format == "NHWC"
                            else [[0, 0], [0, 0], [1, 0], [2, 1]], dilations=2, **kw)]
    expected = [layer(x) for layer in layers]
    for name, v in a.items():
        if name != "x":
            v[...] = np.nan  # the layers hold their own copies of the weights
    for layer, e in zip(layers, expected):
        assert_bitwise(layer(x), e, f"{layer!r}")
        for how, clone in [("pickle", pickle.loads(pickle.dumps(layer))),
                           ("pickle protocol 5", pickle.loads(pickle.dumps(layer, protocol=5))),
                           ("copy", copy.copy(layer)), ("deepcopy", copy.deepcopy(layer))]:
            assert type(clone) is type(layer) and repr(clone) == repr(layer), how
            assert clone.dtype == layer.dtype and clone.data_format == layer.data_format, how
            assert clone.output_shape(x.shape) == layer.output_shape(x.shape), how
            assert_bitwise(clone(x), e, f"{layer!r} after {how}")
            assert_bitwise(pickle.loads(pickle.dumps(clone))(x), e, f"{layer!r} after {how} and pickle")
    assert_bitwise(layers[0](x), expected[0], "the original still works after its copies")


def test_layer_runs_in_a_spawned_worker(rng):
    """The reason layers pickle: a layer sent to a worker process ('spawn', which imports
    sepcpp afresh) computes the same bits there."""
    a = _operands(rng, np.float32)
    layer = sepcpp.SeparableConv2D(a["dw"], a["pw"], 1, "SAME", depthwise_bias=a["db"], bias=a["b6"],
                                   activation="relu6")
    x = repickled(a["x"])
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        remote = pool.submit(layer, x).result(timeout=240)
    assert_bitwise(remote, layer(x), "a layer run in a spawned worker")


# --------------------------------------------------------------------------------------------
# 0-d integer arrays and integers outside int64


X = np.ones((1, 7, 6, 4), np.float32)
DW = np.arange(3 * 3 * 4 * 2, dtype=np.float32).reshape(3, 3, 4, 2) / 10
GPW = np.arange(4 * 6, dtype=np.float32).reshape(1, 1, 4, 6) / 10
X1 = np.arange(2 * 11 * 4, dtype=np.float32).reshape(2, 11, 4)
DW1 = DW[0]

# name -> call taking the value under test (applied where an integer is expected)
INT_ARGS = {
    "strides": lambda v: sepcpp.depthwise_conv2d(X, DW, v, "SAME"),
    "strides (a pair)": lambda v: sepcpp.depthwise_conv2d(X, DW, (v, 1), "SAME"),
    "dilations": lambda v: sepcpp.depthwise_conv2d(X, DW, 1, "SAME", dilations=v),
    "padding": lambda v: sepcpp.depthwise_conv2d(X, DW, 1, [[0, 0], [v, 1], [1, v], [0, 0]]),
    "groups": lambda v: sepcpp.super_separable_conv2d(X, DW, GPW, v, 1, "SAME"),
    "stride (1-D)": lambda v: sepcpp.depthwise_conv1d(X1, DW1, v, "VALID"),
    "dilations (1-D)": lambda v: sepcpp.depthwise_conv1d(X1, DW1, 1, "CAUSAL", dilations=v),
    "strides (layer)": lambda v: sepcpp.DepthwiseConv2D(DW, v, "SAME")(X),
    "groups (layer)": lambda v: sepcpp.SeparableConv2D(DW, GPW, 1, "SAME", groups=v)(X),
}
ARG_NAME = {"strides (a pair)": "strides", "stride (1-D)": "stride", "dilations (1-D)": "dilations",
            "strides (layer)": "strides", "groups (layer)": "groups"}


@pytest.mark.parametrize("arg", sorted(INT_ARGS))
def test_zero_d_integer_arrays_are_integers(arg):
    call = INT_ARGS[arg]
    expected = call(2)
    for v in (np.array(2), np.array(2, np.int32), np.int64(2), np.uint8(2)):
        assert_bitwise(call(v), expected, f"{arg}={v!r}")
    for v in (np.array(True), np.bool_(True), True, np.array(2.0), np.float64(2.0)):
        with pytest.raises(TypeError, match=ARG_NAME.get(arg, arg)):
            call(v)


@pytest.mark.parametrize("arg", sorted(INT_ARGS))
def test_integers_outside_int64_are_named_value_errors(arg):
    call = INT_ARGS[arg]
    for v in (2**63, 2**64 + 3, -(2**63) - 1, 10**30):
        with pytest.raises(ValueError, match=ARG_NAME.get(arg, arg)) as e:
            call(v)
        assert "incompatible" not in str(e.value)


def test_largest_int64_stride_and_dilation_work():
    big = 2**63 - 1
    assert sepcpp.depthwise_conv2d(X, DW, big, "SAME").shape == (1, 1, 1, 8)
    assert sepcpp.depthwise_conv2d(X, DW[:1, :1], 1, "VALID", dilations=big).shape == (1, 7, 6, 8)
    with pytest.raises(ValueError, match="dilations.*overflows 64 bits"):
        sepcpp.depthwise_conv2d(X, DW, 1, "SAME", dilations=big)


def test_causal_padding_that_overflows_is_a_named_value_error():
    for d in (2**62, 2**63 - 1):
        with pytest.raises(ValueError, match="dilations: CAUSAL padding .* overflows 64 bits"):
            sepcpp.depthwise_conv1d(X1, DW1, 1, "CAUSAL", dilations=d)
    assert sepcpp.depthwise_conv1d(X1, DW1[:1], 1, "CAUSAL", dilations=2**63 - 1).shape == (2, 11, 8)


def test_thread_counts_outside_int_are_named_value_errors(restore_threads):
    for n in (2**31, 2**63, 2**64):
        with pytest.raises(ValueError, match=r"^n: must be at most 2\*\*31 - 1") as e:
            sepcpp.set_num_threads(n)
        assert "incompatible" not in str(e.value)
    sepcpp.set_num_threads(np.array(1))
    assert sepcpp.get_num_threads() == 1


# --------------------------------------------------------------------------------------------
# Zero height or width


def _empty_axis_out(size, k, s, d, padding):
    """Independent statement of the rule: SAME gives ceil(size / s); VALID or explicit padding
    gives (padded - eff) // s + 1 when the kernel fits, an empty axis when nothing is there to fit
    (padded == 0) and eff < 2 * s (where TensorFlow's kernels give an empty result), else None
    (an error)."""
    eff = (k - 1) * d + 1
    if padding == "SAME":
        return -(-size // s)
    padded = size + (0 if padding == "VALID" else sum(padding))
    if padded >= eff:
        return (padded - eff) // s + 1
    return 0 if padded == 0 and eff < 2 * s else None


@pytest.mark.parametrize("data_format", ["NHWC", "NCHW"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_pointwise_on_zero_height_or_width_is_empty(dtype, data_format):
    f = np.ones((1, 1, 3, 2), dtype)
    for h, w in [(0, 5), (5, 0), (0, 0)]:
        shape = (2, h, w, 3) if data_format == "NHWC" else (2, 3, h, w)
        expected = (2, h, w, 2) if data_format == "NHWC" else (2, 2, h, w)
        x = np.ones(shape, dtype)
        assert sepcpp.pointwise_conv2d(x, f, data_format, bias=np.ones(2, dtype)).shape == expected
        out = np.empty(expected, dtype)
        assert sepcpp.pointwise_conv2d(x, f, data_format, out=out) is out
        assert sepcpp.PointwiseConv2D(f, data_format)(x).shape == expected
        assert sepcpp.conv2d(x, f, 1, "VALID", data_format).shape == expected
        assert sepcpp.separable_conv2d(x, np.ones((1, 1, 3, 1), dtype), f, 1, "VALID", data_format).shape == expected


ZERO_CASES = [(h, w, k, s, d, p) for (h, w) in [(0, 5), (4, 0)] for k in (1, 2, 3) for s in (1, 2, 3)
              for d in (1, 2) for p in ("SAME", "VALID", [[0, 0], [1, 1], [1, 0], [0, 0]])
              if not (d == 2 and k == 1)]


def test_zero_height_or_width_matches_tensorflow():
    """Every op on an input with no rows or no columns: under SAME and VALID it raises exactly
    where TensorFlow's eager kernels do, and otherwise returns the rule's shape; with explicit
    padding that makes the output non-empty, the values are TensorFlow's. (TensorFlow's own empty
    results carry the input's shape, not the output's, so only sepcpp's shape is checked against
    the rule.)"""
    from tf_support import import_tensorflow

    tf, _ = import_tensorflow()
    rng = np.random.default_rng(8)
    agreed = compared = 0
    for h, w, k, s, d, p in ZERO_CASES:
        x = rng.standard_normal((1, h, w, 3)).astype(np.float32)
        f = rng.standard_normal((k, k, 3, 2)).astype(np.float32)
        pw = rng.standard_normal((1, 1, 6, 4)).astype(np.float32)
        what = f"H={h} W={w} kernel {k} stride {s} dilation {d} padding {p}"
        oh = _empty_axis_out(h, k, s, d, p if isinstance(p, str) else p[1])
        ow = _empty_axis_out(w, k, s, d, p if isinstance(p, str) else p[2])
        tf_can = s == 1 or d == 1  # TensorFlow refuses stride and dilation together
        if tf_can and isinstance(p, str):
            try:
                tf.nn.conv2d(x, f, s, p, dilations=d)
                tf_error = False
            except (tf.errors.InvalidArgumentError, ValueError):
                tf_error = True
            assert tf_error == (oh is None or ow is None), f"the rule disagrees with TensorFlow: {what}"
            agreed += 1
        refs = {
            "depthwise_conv2d": (lambda: sepcpp.depthwise_conv2d(x, f, s, p, dilations=d), 6,
                                 lambda: tf.nn.depthwise_conv2d(x, f, [1, s, s, 1], p, dilations=[d, d])),
            "separable_conv2d": (lambda: sepcpp.separable_conv2d(x, f, pw, s, p, dilations=d), 4,
                                 lambda: tf.nn.conv2d(tf.nn.depthwise_conv2d(x, f, [1, s, s, 1], p,
                                                                             dilations=[d, d]), pw, 1, "VALID")),
            "conv2d": (lambda: sepcpp.conv2d(x, f, s, p, dilations=d), 2,
                       lambda: tf.nn.conv2d(x, f, s, p, dilations=d)),
        }
        for name, (call, channels, ref) in refs.items():
            if oh is None or ow is None:
                with pytest.raises(ValueError, match=f"{name}: the effective filter"):
                    call()
                continue
            r = call()
            assert r.shape == (1, oh, ow, channels), f"{name} {what}"
            if r.size and tf_can:
                np.testing.assert_allclose(r, ref().numpy(), rtol=1e-5, atol=1e-5, err_msg=f"{name} {what}")
                compared += 1
    assert agreed >= 40 and compared >= 20, (agreed, compared)


def test_zero_width_1d():
    x = np.ones((2, 0, 4), np.float32)
    assert sepcpp.depthwise_conv1d(x, np.ones((1, 4, 2), np.float32), 1, "VALID").shape == (2, 0, 8)
    assert sepcpp.conv1d(x, np.ones((3, 4, 5), np.float32), 2, "VALID").shape == (2, 0, 5)
    assert sepcpp.conv1d(x, np.ones((3, 4, 5), np.float32), 1, "SAME").shape == (2, 0, 5)
    with pytest.raises(ValueError, match="conv1d: the effective filter width 3"):
        sepcpp.conv1d(x, np.ones((3, 4, 5), np.float32), 1, "VALID")


# --------------------------------------------------------------------------------------------
# Filters too large: named with their own shape; conv2d named conv2d


def _run_script(code, timeout=120):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)


def test_filter_too_large_to_pack_is_named_with_its_own_shape():
    """A (broadcast) filter whose packed form needs more than 2**63 elements: the size used to wrap
    around, a small buffer was allocated and packing wrote past it (a crash). Run in a child so a
    regression fails this test rather than the run."""
    code = """if True:
    import numpy as np, sepcpp
    b = lambda shape: np.lib.stride_tricks.as_strided(np.ones(1, np.float32), shape, (0,) * (len(shape) - 1) + (4,))
    x = np.broadcast_to(np.float32(1), (0, 1, 1, 2**59))
    for call in [lambda: sepcpp.pointwise_conv2d(x, b((1, 1, 2**59, 1))),
                 lambda: sepcpp.PointwiseConv2D(b((1, 1, 2**59, 1))),
                 lambda: sepcpp.conv2d(x, b((1, 1, 2**59, 1)), 1, 'VALID'),
                 lambda: sepcpp.separable_conv2d(x, b((1, 1, 2**59, 1)), b((1, 1, 2**59, 1)), 1, 'VALID')]:
        try:
            call()
            print('no error')
        except ValueError as e:
            print(e)
    """
    proc = _run_script(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    shape = "(1, 1, 576460752303423488, 1)"
    tail = ", too large: its packed form needs more than 2**63 elements"
    assert lines == [f"pointwise_conv2d: filter has shape {shape}{tail}",
                     f"pointwise_conv2d: filter has shape {shape}{tail}",
                     f"conv2d: filters has shape {shape}{tail}",
                     f"separable_conv2d: pointwise_filter has shape {shape}{tail}"]


def test_depthwise_filter_too_large_is_named_with_its_own_shape():
    """The depthwise filter is not packed as a GEMM: a large one is refused by the output or by
    the allocation, never with a made-up shape (C*M, C*M) that is not the filter's."""
    f = np.broadcast_to(np.float32(1), (3, 3, 3, 2**40))
    with pytest.raises((ValueError, MemoryError)) as e:
        sepcpp.depthwise_conv2d(np.ones((0, 5, 5, 3), np.float32), f, 1, "SAME")
    assert str(3 * 2**40) + ", " + str(3 * 2**40) not in str(e.value)
    assert "depthwise filter" in str(e.value) or "(3, 3, 3, 1099511627776)" in str(e.value)


def test_conv2d_allocation_failures_name_conv2d():
    """conv2d packs its filters like a GEMM: when that allocation fails, the message says conv2d's
    filters, not the pointwise filter. The child's address space is capped a little above what the
    unpacked filters need, so the packed copy (at least 4x larger: one column padded to a panel)
    cannot be allocated."""
    code = """if True:
    import resource, numpy as np, sepcpp
    x = np.broadcast_to(np.float32(1), (0, 1, 1, 2**24))
    f = np.broadcast_to(np.float32(1), (1, 1, 2**24, 1))   # 64 MiB unpacked, >= 256 MiB packed
    sepcpp.conv2d(np.ones((1, 1, 1, 1), np.float32), np.ones((1, 1, 1, 1), np.float32), 1, 'VALID')
    vm = int([l for l in open('/proc/self/status') if l.startswith('VmSize')][0].split()[1]) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + (160 << 20), resource.RLIM_INFINITY))
    try:
        sepcpp.conv2d(x, f, 1, 'VALID')
        print('no error')
    except MemoryError as e:
        print(e)
    """
    proc = _run_script(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "conv2d filters" in proc.stdout and "pointwise" not in proc.stdout, proc.stdout
