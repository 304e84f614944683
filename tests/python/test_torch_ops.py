"""sepcpp.torch against torch.nn.functional: values, gradients, memory formats, views, bad input.

Every op over a grid of strides, dilations, padding forms (TensorFlow's "same" at any stride,
"valid", an int, a pair, "causal" in 1-D), depth multipliers, groups, biases and activations, in
float32 and float64 and in every memory format; the references are grouped and 1x1 F.conv2d /
F.conv1d calls on an input padded with F.pad (tests/python/torch_reference.py), and the gradients
are torch autograd's through them.
"""

from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from optional_deps import import_optional

torch = import_optional("torch")
import sepcpp  # noqa: E402
import sepcpp.torch as st  # noqa: E402
import torch_reference as ref  # noqa: E402

pytestmark = pytest.mark.uses("torch")


@pytest.fixture(autouse=True, scope="module")
def _torch_one_thread():
    # The tensors here are tiny: torch's own OpenMP threads, spinning beside sepcpp's pool on a busy
    # 2-core machine, made each case 10-50x slower in CPU time without testing anything more.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

TOL = {torch.float32: dict(rtol=2e-5, atol=2e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}
STRIDES = [1, 2, (2, 1)]
DILATIONS = [1, (2, 1)]
PADDINGS = ["same", "valid", 1, (2, 0)]
ACTIVATIONS = [None, "relu", "relu6"]


def _params(rng, *shapes, dtype):
    return [torch.tensor(rng.standard_normal(s), dtype=dtype, requires_grad=True) for s in shapes]


def _case_2d(op, rng, dtype, stride, dilation, padding, m, act, with_bias):
    """(sepcpp.torch call, reference call, leaves) for one 2-D case on a 2x3x9x8 input."""
    n, c, h, w, o, k = 2, 3, 9, 8, 4, (3, 2)
    x = torch.tensor(rng.standard_normal((n, c, h, w)) * 2, dtype=dtype)
    if op == "depthwise":
        wt, b = _params(rng, (c * m, 1) + k, (c * m,), dtype=dtype)
        b = b if with_bias else None
        return (lambda xi: st.depthwise_conv2d(xi, wt, b, stride, padding, dilation, activation=act),
                lambda xi: ref.depthwise_conv2d(xi, wt, b, stride, padding, dilation, act), x, [wt, b])
    if op == "conv":
        wt, b = _params(rng, (o, c) + k, (o,), dtype=dtype)
        b = b if with_bias else None
        return (lambda xi: st.conv2d(xi, wt, b, stride, padding, dilation, activation=act),
                lambda xi: ref.conv2d(xi, wt, b, stride, padding, dilation, act), x, [wt, b])
    groups = 1 if op == "separable" else 3
    o = 6
    dw, pw, bd, b = _params(rng, (c * m, 1) + k, (o, c * m // groups, 1, 1), (c * m,), (o,), dtype=dtype)
    bd, b = (bd, b) if with_bias else (None, None)
    dact = ACTIVATIONS[(ACTIVATIONS.index(act) + 1) % 3]
    kw = dict(depthwise_bias=bd, depthwise_activation=dact, activation=act)
    if groups == 1:
        mine = lambda xi: st.separable_conv2d(xi, dw, pw, b, stride, padding, dilation, **kw)  # noqa: E731
    else:
        mine = lambda xi: st.super_separable_conv2d(xi, dw, pw, groups, b, stride, padding, dilation, **kw)  # noqa
    return mine, lambda xi: ref.super_separable_conv2d(xi, dw, pw, groups, b, stride, padding, dilation, **kw), \
        x, [dw, pw, bd, b]


def _compare(mine, theirs, x, leaves, fmt, dtype, what, rng):
    xs = ref.in_format(x, fmt).requires_grad_(True)
    xr = x.clone().requires_grad_(True)
    y = mine(xs)
    y_ref = theirs(xr)
    torch.testing.assert_close(y, y_ref, **TOL[dtype], msg=lambda m: f"{what}: forward\n{m}")
    if fmt == "channels_last" and y.shape[1] > 1 and y.shape[2] * y.shape[3] > 1:
        assert y.is_contiguous(memory_format=torch.channels_last) and not y.is_contiguous(), what
    if fmt == "contiguous":
        assert y.is_contiguous(), what
    leaves = [t for t in leaves if t is not None]
    g = torch.tensor(rng.standard_normal(tuple(y.shape)), dtype=dtype)
    got = torch.autograd.grad(y, [xs] + leaves, g)
    want = torch.autograd.grad(y_ref, [xr] + leaves, g)
    for i, (a, b) in enumerate(zip(got, want)):
        torch.testing.assert_close(a, b, **TOL[dtype], msg=lambda m: f"{what}: gradient {i}\n{m}")
    if fmt == "channels_last" and x.shape[1] > 1:
        assert got[0].is_contiguous(memory_format=torch.channels_last), f"{what}: input gradient's format"


@pytest.mark.parametrize("fmt", ["contiguous", "channels_last", "strided", "permuted"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["depthwise", "separable", "super_separable", "conv"])
def test_2d_against_functional(op, dtype, fmt, rng):
    grid = list(itertools.product(STRIDES, DILATIONS, PADDINGS, [1, 2]))
    for i, (stride, dilation, padding, m) in enumerate(grid):
        act, with_bias = ACTIVATIONS[i % 3], i % 2 == 0
        what = f"{op} {fmt} {dtype} stride={stride} dilation={dilation} padding={padding!r} M={m} act={act} " \
               f"bias={with_bias}"
        mine, theirs, x, leaves = _case_2d(op, rng, dtype, stride, dilation, padding, m, act, with_bias)
        _compare(mine, theirs, x, leaves, fmt, dtype, what, rng)


@pytest.mark.parametrize("fmt", ["contiguous", "channels_last_1d", "strided"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("op", ["depthwise", "separable", "super_separable", "conv"])
def test_1d_against_functional(op, dtype, fmt, rng):
    n, c, length, k = 2, 4, 13, 3
    for i, (stride, dilation, padding) in enumerate(itertools.product([1, 2], [1, 3], ["same", "valid", "causal", 2])):
        act, with_bias, m = ACTIVATIONS[i % 3], i % 2 == 1, 1 + i % 2
        what = f"{op}1d {fmt} {dtype} stride={stride} dilation={dilation} padding={padding!r} act={act}"
        x = torch.tensor(rng.standard_normal((n, c, length)) * 2, dtype=dtype)
        if op in ("depthwise", "conv"):
            rows = c * m if op == "depthwise" else 5
            wt, b = _params(rng, (rows, 1 if op == "depthwise" else c, k), (rows,), dtype=dtype)
            b = b if with_bias else None
            f_mine, f_ref = (st.depthwise_conv1d, ref.depthwise_conv1d) if op == "depthwise" else \
                (st.conv1d, ref.conv1d)
            mine = lambda xi: f_mine(xi, wt, b, stride, padding, dilation, activation=act)  # noqa: E731
            theirs = lambda xi: f_ref(xi, wt, b, stride, padding, dilation, act)  # noqa: E731
            leaves = [wt, b]
        else:
            groups = 1 if op == "separable" else 2
            dw, pw, bd, b = _params(rng, (c * m, 1, k), (6, c * m // groups, 1), (c * m,), (6,), dtype=dtype)
            bd, b = (bd, b) if with_bias else (None, None)
            kw = dict(depthwise_bias=bd, depthwise_activation=act, activation=act)
            if groups == 1:
                mine = lambda xi: st.separable_conv1d(xi, dw, pw, b, stride, padding, dilation, **kw)  # noqa
            else:
                mine = lambda xi: st.super_separable_conv1d(xi, dw, pw, groups, b, stride, padding,  # noqa
                                                            dilation, **kw)
            theirs = lambda xi: ref.super_separable_conv1d(xi, dw, pw, groups, b, stride, padding,  # noqa
                                                           dilation, **kw)
            leaves = [dw, pw, bd, b]
        xs = ref.in_format(x, fmt).requires_grad_(True)
        xr = x.clone().requires_grad_(True)
        y, y_ref = mine(xs), theirs(xr)
        torch.testing.assert_close(y, y_ref, **TOL[dtype], msg=lambda m: f"{what}: forward\n{m}")
        if fmt == "channels_last_1d":
            assert y.stride(1) == 1 and y.shape[1] > 1, what  # laid out as the input
        g = torch.tensor(rng.standard_normal(tuple(y.shape)), dtype=dtype)
        live = [t for t in leaves if t is not None]
        for a, b_ in zip(torch.autograd.grad(y, [xs] + live, g), torch.autograd.grad(y_ref, [xr] + live, g)):
            torch.testing.assert_close(a, b_, **TOL[dtype], msg=lambda m: f"{what}: gradient\n{m}")


def test_same_is_tensorflows_at_any_stride():
    # The odd padding pixel goes after (bottom/right), whatever the stride: a one-hot input at the
    # last row and column shows where the window is.
    x = torch.zeros(1, 1, 6, 6)
    x[0, 0, 5, 5] = 1
    w = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    y = st.depthwise_conv2d(x, w, stride=2)
    assert y.shape == (1, 1, 3, 3)  # ceil(6 / 2)
    # Total padding (3 - 1) * 2 + 3 - 6 = 1, after: the last window covers rows 4, 5 and the pad.
    assert y[0, 0].tolist() == [[0, 0, 0], [0, 0, 0], [0, 0, 5.0]]
    assert torch.equal(y, ref.depthwise_conv2d(x, w, stride=2))


def test_tensors_reach_sepcpp_without_copies(monkeypatch):
    # The core receives views of the tensors' memory, NCHW for a contiguous tensor and NHWC for a
    # channels_last one, so neither is copied on the way.
    seen = []
    real = sepcpp._core.run

    def spy(op, x, *args):
        seen.append((x, args[-4]))
        return real(op, x, *args)

    monkeypatch.setattr(sepcpp._core, "run", spy)
    w, pw = torch.randn(6, 1, 3, 3), torch.randn(4, 6, 1, 1)
    for fmt, layout in (("contiguous", "NCHW"), ("channels_last", "NHWC"), ("strided", "NCHW")):
        x = ref.in_format(torch.randn(2, 3, 7, 5), fmt)
        seen.clear()
        st.separable_conv2d(x, w, pw)
        (got, got_layout), = seen
        assert got_layout == layout, fmt
        memory = x.as_strided((x.untyped_storage().nbytes() // 4,), (1,), 0).numpy()
        assert np.shares_memory(got, memory), f"{fmt}: the input was copied"


def test_lazy_negation_is_resolved():
    # A tensor whose negation is lazy (is_neg()) shares memory with positive values: sepcpp sees the
    # values the tensor shows.
    x = torch.complex(torch.randn(1, 2, 5, 5), -torch.randn(1, 2, 5, 5)).conj().imag
    assert x.is_neg()
    w = torch.randn(2, 1, 3, 3)
    torch.testing.assert_close(st.depthwise_conv2d(x, w), ref.depthwise_conv2d(x.resolve_neg(), w))


def test_zero_batch_and_meta_tensors():
    y = st.separable_conv2d(torch.zeros(0, 3, 5, 5).to(memory_format=torch.channels_last), torch.ones(3, 1, 3, 3),
                            torch.ones(4, 3, 1, 1), stride=2)
    assert y.shape == (0, 4, 3, 3)
    # Meta tensors (shapes only, e.g. a model built on device="meta") go through the fake kernels.
    m = st.SeparableConv2d(3, 4, 3, stride=2, device="meta")
    y = m(torch.empty(2, 3, 9, 10, device="meta"))
    assert y.device.type == "meta" and y.shape == (2, 4, 5, 5)


def test_modules_initialise_as_conv2d():
    # The same random draws as torch.nn.Conv2d's own initialisation, in the same order.
    torch.manual_seed(0)
    mine = st.SeparableConv2d(4, 6, 3, depth_multiplier=2)
    torch.manual_seed(0)
    dw = torch.nn.Conv2d(4, 8, 3, groups=4, bias=False)
    pw = torch.nn.Conv2d(8, 6, 1)
    assert torch.equal(mine.depthwise_weight, dw.weight)
    assert torch.equal(mine.pointwise_weight, pw.weight) and torch.equal(mine.bias, pw.bias)
    torch.manual_seed(1)
    mine = st.DepthwiseConv2d(4, (3, 5), depth_multiplier=3)
    torch.manual_seed(1)
    theirs = torch.nn.Conv2d(4, 12, (3, 5), groups=4)
    assert torch.equal(mine.weight, theirs.weight) and torch.equal(mine.bias, theirs.bias)
    torch.manual_seed(2)
    mine = st.SuperSeparableConv1d(6, 9, 7, 3, bias=False)
    torch.manual_seed(2)
    dw1, pw1 = torch.nn.Conv1d(6, 6, 7, groups=6, bias=False), torch.nn.Conv1d(6, 9, 1, groups=3, bias=False)
    assert torch.equal(mine.depthwise_weight, dw1.weight) and torch.equal(mine.pointwise_weight, pw1.weight)
    assert mine.bias is None


def test_modules_compute_their_functional():
    torch.manual_seed(3)
    x = torch.randn(2, 4, 11, 9, dtype=torch.float64)
    m = st.SeparableConv2d(4, 5, (3, 2), stride=(2, 1), padding=1, dilation=2, depth_multiplier=2,
                           depthwise_activation="relu", activation="relu6", dtype=torch.float64)
    want = ref.super_separable_conv2d(x, m.depthwise_weight, m.pointwise_weight, 1, m.bias, (2, 1), 1, 2,
                                      depthwise_activation="relu", activation="relu6")
    torch.testing.assert_close(m(x), want, **TOL[torch.float64])
    d = st.DepthwiseConv2d(4, 3, stride=2, activation="relu", dtype=torch.float64)
    torch.testing.assert_close(d(x), ref.depthwise_conv2d(x, d.weight, d.bias, 2, activation="relu"),
                               **TOL[torch.float64])
    s1 = st.SeparableConv1d(4, 6, 5, padding="causal", dilation=2, dtype=torch.float64)
    x1 = x[:, :, 0]
    torch.testing.assert_close(s1(x1), ref.super_separable_conv1d(x1, s1.depthwise_weight, s1.pointwise_weight, 1,
                                                                  s1.bias, 1, "causal", 2), **TOL[torch.float64])
    ss = st.SuperSeparableConv1d(4, 6, 3, 2, stride=2, padding=1, depth_multiplier=3, dtype=torch.float64)
    torch.testing.assert_close(ss(x1), ref.super_separable_conv1d(x1, ss.depthwise_weight, ss.pointwise_weight, 2,
                                                                  ss.bias, 2, 1), **TOL[torch.float64])
    assert repr(ss) == "SuperSeparableConv1d(4, 6, kernel_size=(3,), stride=(2,), padding=1, depth_multiplier=3, " \
                       "groups=2)"


def test_import_sepcpp_does_not_import_torch():
    code = "import sys, sepcpp; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"


def test_without_torch_the_import_says_what_to_install():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import sepcpp.torch\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "sepcpp.torch needs PyTorch: pip install torch"


def test_ops_are_registered():
    for name in ("depthwise_conv2d", "conv2d", "separable_conv2d", "depthwise_conv2d_backprop_input",
                 "depthwise_conv2d_backprop_filter", "conv2d_backprop_input", "conv2d_backprop_filter",
                 "separable_conv2d_backprop"):
        assert hasattr(torch.ops.sepcpp, name), name


# --------------------------------------------------------------------------------------------
# Bad input: the argument is named, in torch's terms.

X = torch.ones(1, 3, 5, 5)
DW = torch.ones(6, 1, 3, 3)
PW = torch.ones(4, 6, 1, 1)
BAD = [
    (lambda: st.separable_conv2d(X.int(), DW, PW), TypeError, r"input: dtype torch.int32 is not supported"),
    (lambda: st.separable_conv2d(X.numpy(), DW, PW), TypeError, r"input: expected a torch.Tensor, got numpy.ndarray of shape \(1, 3, 5, 5\)"),
    (lambda: st.separable_conv2d(X, DW.double(), PW), TypeError,
     r"depthwise_weight: dtype torch.float64 does not match the input's dtype torch.float32"),
    (lambda: st.separable_conv2d(X, DW, PW, bias=torch.ones(4, dtype=torch.float64)), TypeError, r"bias: dtype"),
    (lambda: st.separable_conv2d(X[0], DW, PW), ValueError, r"input: must have rank 4 \(N, C, H, W\), got rank 3"),
    (lambda: st.separable_conv2d(X, torch.ones(5, 1, 3, 3), PW), ValueError,
     r"depthwise_weight: must have shape \[C\*M, 1, kh, kw\] with C = 3"),
    (lambda: st.separable_conv2d(X, DW, torch.ones(4, 5, 1, 1)), ValueError,
     r"pointwise_weight: must have shape \[O, C\*M/groups, 1, 1\] with C\*M = 6"),
    (lambda: st.super_separable_conv2d(X, DW, torch.ones(3, 3, 1, 1), 2), ValueError,
     r"pointwise_weight: .* groups = 2 dividing O; got shape \(3, 3, 1, 1\)"),
    (lambda: st.super_separable_conv2d(X, DW, PW, 0), ValueError, r"groups: must be positive, got 0"),
    (lambda: st.separable_conv2d(X, DW, PW, bias=torch.ones(3)), ValueError,
     r"bias: must have shape \(4,\) to match the 4 channels"),
    (lambda: st.separable_conv2d(X, DW, PW, depthwise_bias=torch.ones(4)), ValueError, r"depthwise_bias: must have"),
    (lambda: st.depthwise_conv2d(X, torch.ones(3, 2, 3, 3)), ValueError, r"weight: must have shape \[C\*M, 1"),
    (lambda: st.conv2d(X, torch.ones(4, 2, 3, 3)), ValueError, r"weight: must have shape \[O, C, kh, kw\] with C = 3"),
    (lambda: st.separable_conv2d(X, DW, PW, stride=0), ValueError, r"stride: must be positive, got 0"),
    (lambda: st.separable_conv2d(X, DW, PW, stride=(1, 2, 3)), ValueError, r"stride: expected an int or a pair"),
    (lambda: st.separable_conv2d(X, DW, PW, stride=1.5), TypeError, r"stride: expected integers, got 1.5"),
    (lambda: st.separable_conv2d(X, DW, PW, dilation=True), TypeError, r"dilation: expected integers, got True"),
    (lambda: st.separable_conv2d(X, DW, PW, padding=-1), ValueError, r"padding: must be non-negative"),
    (lambda: st.separable_conv2d(X, DW, PW, padding="full"), ValueError, r"padding: expected 'same', 'valid'"),
    (lambda: st.separable_conv2d(X, DW, PW, padding="causal"), ValueError, r"padding: 'causal' applies to the 1-D"),
    (lambda: st.separable_conv2d(X, DW, PW, activation="gelu"), ValueError, r"activation: expected None, 'relu'"),
    (lambda: st.separable_conv2d(X, DW, PW, depthwise_activation="tanh"), ValueError, r"depthwise_activation:"),
    (lambda: st.separable_conv2d(X, DW, PW, padding="valid", dilation=3), ValueError,
     r"larger than the input height 5 .*\[sepcpp.torch.separable_conv2d: input shape \(1, 3, 5, 5\)"),
    (lambda: st.depthwise_conv1d(X, torch.ones(3, 1, 3)), ValueError, r"input: must have rank 3 \(N, C, L\)"),
    (lambda: st.separable_conv1d(X[0], torch.ones(5, 1, 3), torch.ones(2, 5, 1), stride=(1, 1)), ValueError,
     r"stride: expected an int for a 1-D op"),
    (lambda: st.conv1d(X[0], torch.ones(2, 5, 3), padding="left"), ValueError, r"padding: expected 'same', 'valid', "
     r"'causal' or an int"),
    (lambda: st.separable_conv2d(X, DW.to("meta"), PW), ValueError, r"depthwise_weight: is on device meta, the "
     r"input on cpu"),
    (lambda: st.separable_conv2d(X, DW, PW, stride=2**63), ValueError, r"stride: 9223372036854775808 is outside"),
    (lambda: st.depthwise_conv1d(X[0], torch.ones(5, 1, 3), padding="causal", dilation=2**62), ValueError,
     r"dilation: causal padding of \(kernel 3 - 1\) \* dilation 4611686018427387904 .* overflows 64 bits"),
    (lambda: st.super_separable_conv1d(X[0], torch.ones(5, 1, 7), torch.ones(2, 5, 1), 1, padding="valid"),
     ValueError, r"larger than the input width 5 .*\[called as sepcpp.torch.super_separable_conv1d: input shape "
     r"\(3, 5, 5\) \(N, C, L\), depthwise_weight shape \(5, 1, 7\)"),
    (lambda: st.SeparableConv2d(3, 4, 0), ValueError, r"kernel_size: must be positive"),
    (lambda: st.SuperSeparableConv1d(3, 4, 3, 2), ValueError, r"groups: 2 must divide"),
    (lambda: st.DepthwiseConv2d(3, 3, padding="causal"), ValueError, r"padding: 'causal' applies to the 1-D"),
    (lambda: st.SeparableConv2d(3, 4, 3)(X.double()), TypeError,
     r"input: dtype torch.float64 does not match the layer's parameters \(torch.float32\)"),
]


@pytest.mark.parametrize("call,exc,message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_names_the_argument(call, exc, message):
    with pytest.raises(exc, match=message):
        call()


def test_inputs_are_not_modified_by_a_failed_call():
    x = torch.randn(1, 3, 5, 5)
    before = x.clone()
    with pytest.raises(ValueError):
        st.separable_conv2d(x, DW, PW, padding="valid", dilation=3)
    assert torch.equal(x, before)


def test_every_isa(isa, rng):
    # The adapter is the same on every kernel level; each level's forward and backward agree with torch.
    for op, fmt in (("separable", "channels_last"), ("super_separable", "contiguous"), ("depthwise", "strided"),
                    ("conv", "channels_last")):
        for dtype in (torch.float32, torch.float64):
            mine, theirs, x, leaves = _case_2d(op, rng, dtype, (2, 1), 2, "same", 2, "relu6", True)
            _compare(mine, theirs, x, leaves, fmt, dtype, f"{isa} {op} {fmt} {dtype}", rng)


@pytest.mark.usefixtures("restore_threads")
def test_same_bits_for_any_number_of_threads(rng):
    x = ref.in_format(torch.tensor(rng.standard_normal((3, 8, 17, 13)), dtype=torch.float32), "channels_last")
    dw, pw, b = _params(rng, (16, 1, 3, 3), (12, 16, 1, 1), (12,), dtype=torch.float32)
    results = []
    for n in (1, 2, 3):
        sepcpp.set_num_threads(n)
        xi = x.clone().requires_grad_(True)
        y = st.separable_conv2d(xi, dw, pw, b, stride=2, depthwise_activation="relu")
        grads = torch.autograd.grad(y.square().sum(), [xi, dw, pw, b])
        results.append([y, *grads])
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            assert torch.equal(a, b_)


def test_calls_from_many_python_threads(rng):
    # The core releases the GIL while it computes; calls from several Python threads at once each
    # get their own right answer.
    import concurrent.futures

    xs = [torch.tensor(rng.standard_normal((2, 4, 15, 11)), dtype=torch.float64) for _ in range(8)]
    dw, pw = torch.randn(8, 1, 3, 3, dtype=torch.float64), torch.randn(6, 8, 1, 1, dtype=torch.float64)
    want = [ref.super_separable_conv2d(x, dw, pw, 1, stride=2) for x in xs]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda x: st.separable_conv2d(x, dw, pw, stride=2), xs * 3))
    for i, y in enumerate(got):
        torch.testing.assert_close(y, want[i % len(xs)], **TOL[torch.float64])
