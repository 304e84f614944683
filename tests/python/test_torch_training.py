"""sepcpp.torch in training: gradcheck in float64, and networks that train step for step like the
same networks built from torch.nn.functional.

gradcheck compares the analytical gradients (sepcpp's backprop ops, through the registered
autograd formulas) with finite differences of sepcpp's own forward ops; the training runs compare
the whole loop (forward, loss, backward, optimiser) with one in which every convolution is F.conv2d
or F.conv1d, from the same initial parameters and batches.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from optional_deps import import_optional

torch = import_optional("torch")
import torch.nn.functional as F  # noqa: E402

import sepcpp.torch as st  # noqa: E402
import torch_reference as ref  # noqa: E402

pytestmark = pytest.mark.uses("torch")


@pytest.fixture(autouse=True, scope="module")
def _torch_one_thread():
    # Small tensors: torch's OpenMP threads spinning beside sepcpp's pool only cost time here.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _t(rng, *shape):
    return torch.tensor(rng.standard_normal(shape), dtype=torch.float64, requires_grad=True)


GRADCHECK_CASES = [
    # (op, stride, padding, dilation, activation(s), memory format)
    ("depthwise", 2, "same", 2, "relu", "contiguous"),
    ("depthwise", (1, 2), (1, 0), 1, None, "channels_last"),
    ("conv", 2, "same", 1, "relu6", "channels_last"),
    ("conv", 1, "valid", (1, 2), None, "contiguous"),
    ("separable", 2, "same", 2, ("relu", "relu6"), "channels_last"),
    ("separable", 1, 1, 1, (None, None), "contiguous"),
    ("super_separable", (2, 1), "valid", 1, ("relu6", "relu"), "contiguous"),
    ("separable_1d", 1, "causal", 2, ("relu", None), "contiguous"),
    ("super_separable_1d", 2, "same", 1, (None, "relu6"), "channels_last_1d"),
    ("depthwise_1d", 1, "causal", 3, None, "contiguous"),
    ("conv_1d", 2, 1, 1, "relu", "channels_last_1d"),
]


@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(GRADCHECK_CASES)])
def test_gradcheck(case, rng):
    op, stride, padding, dilation, act, fmt = case
    # Inputs scaled so that no pre-activation lies within gradcheck's step of a relu/relu6 kink.
    if op.endswith("_1d"):
        x = ref.in_format(torch.tensor(rng.standard_normal((2, 2, 7))), fmt).requires_grad_(True)
        k = (3,)
    else:
        x = ref.in_format(torch.tensor(rng.standard_normal((1, 2, 5, 4))), fmt).requires_grad_(True)
        k = (3, 2)
    if op.startswith("depthwise"):
        w, b = _t(rng, 4, 1, *k), _t(rng, 4)
        f = st.depthwise_conv1d if op.endswith("_1d") else st.depthwise_conv2d
        fn = lambda x, w, b: f(x, w, b, stride, padding, dilation, activation=act)  # noqa: E731
        args = (x, w, b)
    elif op.startswith("conv"):
        w, b = _t(rng, 3, 2, *k), _t(rng, 3)
        f = st.conv1d if op.endswith("_1d") else st.conv2d
        fn = lambda x, w, b: f(x, w, b, stride, padding, dilation, activation=act)  # noqa: E731
        args = (x, w, b)
    else:
        groups = 2 if op.startswith("super") else 1
        ones = (1,) * len(k)
        dw, pw, bd, b = _t(rng, 4, 1, *k), _t(rng, 4, 4 // groups, *ones), _t(rng, 4), _t(rng, 4)
        f = {"separable": st.separable_conv2d, "separable_1d": st.separable_conv1d}.get(op)
        if f is None:
            g2 = st.super_separable_conv1d if op.endswith("_1d") else st.super_separable_conv2d
            f = lambda x, dw, pw, *a, **kw: g2(x, dw, pw, groups, *a, **kw)  # noqa: E731
        fn = lambda x, dw, pw, bd, b: f(x, dw, pw, b, stride, padding, dilation, depthwise_bias=bd,  # noqa: E731
                                        depthwise_activation=act[0], activation=act[1])
        args = (x, dw, pw, bd, b)
    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-8, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# Training, step for step


def _init_2d(seed):
    g = torch.Generator().manual_seed(seed)

    def p(*shape, scale=1.0):
        return torch.nn.Parameter(torch.randn(*shape, generator=g, dtype=torch.float64) * scale)

    return torch.nn.ParameterDict({
        "stem_w": p(8, 3, 3, 3, scale=0.3), "stem_b": p(8, scale=0.1),
        "dw1": p(16, 1, 3, 3, scale=0.3), "dw1_b": p(16, scale=0.1), "pw1": p(16, 16, 1, 1, scale=0.25),
        "b1": p(16, scale=0.1),
        "dw2": p(16, 1, 5, 5, scale=0.2), "pw2": p(12, 8, 1, 1, scale=0.3), "b2": p(12, scale=0.1),
        "dw3": p(24, 1, 3, 3, scale=0.3), "dw3_b": p(24, scale=0.1),
        "fc": p(5, 24, scale=0.2),
    })


def _net_2d(P, x, conv):
    """Stem conv (stride 2), a MobileNet block (depth multiplier 2, relu6 inside and after), a
    super-separable block (groups 2, stride 2, dilation 2), a depthwise layer, pooling, a linear
    classifier. ``conv`` is sepcpp.torch or the F.conv2d reference."""
    h = conv.conv2d(x, P["stem_w"], P["stem_b"], 2, "same", 1, activation="relu")
    h = conv.super_separable_conv2d(h, P["dw1"], P["pw1"], 1, P["b1"], 1, "same", 1, depthwise_bias=P["dw1_b"],
                                    depthwise_activation="relu6", activation="relu6")
    h = conv.super_separable_conv2d(h, P["dw2"], P["pw2"], 2, P["b2"], 2, 2, 2)
    h = conv.depthwise_conv2d(F.relu(h), P["dw3"], P["dw3_b"], 1, (2, 1), 1)
    return h.mean((2, 3)) @ P["fc"].T


class _Sepcpp:
    """sepcpp.torch under the reference's argument order (activation as a keyword)."""

    conv2d = staticmethod(lambda x, w, b, s, p, d, activation=None: st.conv2d(x, w, b, s, p, d,
                                                                              activation=activation))
    depthwise_conv2d = staticmethod(lambda x, w, b, s, p, d, activation=None: st.depthwise_conv2d(
        x, w, b, s, p, d, activation=activation))
    super_separable_conv2d = staticmethod(st.super_separable_conv2d)
    conv1d = staticmethod(lambda x, w, b, s, p, d, activation=None: st.conv1d(x, w, b, s, p, d,
                                                                              activation=activation))
    super_separable_conv1d = staticmethod(st.super_separable_conv1d)


class _Reference:
    conv2d = staticmethod(lambda x, w, b, s, p, d, activation=None: ref.conv2d(x, w, b, s, p, d, activation))
    depthwise_conv2d = staticmethod(lambda x, w, b, s, p, d, activation=None: ref.depthwise_conv2d(
        x, w, b, s, p, d, activation))
    super_separable_conv2d = staticmethod(ref.super_separable_conv2d)
    conv1d = staticmethod(lambda x, w, b, s, p, d, activation=None: ref.conv1d(x, w, b, s, p, d, activation))
    super_separable_conv1d = staticmethod(ref.super_separable_conv1d)


def _train(net, params, batches, impl, fmt):
    opt = torch.optim.SGD(params.parameters(), lr=0.2, momentum=0.9)
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = F.cross_entropy(net(params, ref.in_format(x, fmt), impl), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("fmt", ["contiguous", "channels_last"])
def test_trains_step_for_step_like_functional_2d(fmt):
    g = torch.Generator().manual_seed(7)
    batches = [(torch.randn(4, 3, 17, 15, generator=g, dtype=torch.float64), torch.randint(0, 5, (4,), generator=g))
               for _ in range(2)] * 5
    mine, theirs = _init_2d(0), _init_2d(0)
    l_mine = _train(_net_2d, mine, batches, _Sepcpp, fmt)
    l_ref = _train(_net_2d, theirs, batches, _Reference, "contiguous")
    np.testing.assert_allclose(l_mine, l_ref, rtol=0, atol=1e-10)
    assert sum(l_mine[-2:]) < 0.9 * sum(l_mine[:2]), l_mine  # it learns (two batches, five times over)
    for name in mine:
        torch.testing.assert_close(mine[name], theirs[name], rtol=0, atol=1e-10, msg=name)


def _init_1d(seed):
    g = torch.Generator().manual_seed(seed)

    def p(*shape, scale=1.0):
        return torch.nn.Parameter(torch.randn(*shape, generator=g, dtype=torch.float64) * scale)

    return torch.nn.ParameterDict({
        "in_w": p(12, 4, 1, scale=0.5), "in_b": p(12, scale=0.1),
        "dw1": p(12, 1, 3, scale=0.5), "pw1": p(12, 6, 1, scale=0.4), "b1": p(12, scale=0.1),
        "dw2": p(12, 1, 7, scale=0.4), "pw2": p(12, 4, 1, scale=0.4), "b2": p(12, scale=0.1),
        "out_w": p(3, 12, 3, scale=0.3),
    })


def _net_1d(P, x, conv):
    """SliceNet-like: causal super-separable steps (groups 2 then 3) with residuals and layer norm."""
    h = conv.conv1d(x, P["in_w"], P["in_b"], 1, "same", 1)
    for i, (groups, d) in enumerate(((2, 1), (3, 2)), 1):
        s = conv.super_separable_conv1d(F.relu(h), P[f"dw{i}"], P[f"pw{i}"], groups, P[f"b{i}"], 1, "causal", d)
        h = h + F.layer_norm(s.transpose(1, 2), (12,)).transpose(1, 2)
    return conv.conv1d(h, P["out_w"], None, 2, 1, 1).mean(2)


@pytest.mark.parametrize("fmt", ["contiguous", "channels_last_1d"])
def test_trains_step_for_step_like_functional_1d(fmt):
    g = torch.Generator().manual_seed(8)
    batches = [(torch.randn(3, 4, 20, generator=g, dtype=torch.float64), torch.randint(0, 3, (3,), generator=g))
               for _ in range(6)]
    mine, theirs = _init_1d(1), _init_1d(1)
    l_mine = _train(_net_1d, mine, batches, _Sepcpp, fmt)
    l_ref = _train(_net_1d, theirs, batches, _Reference, "contiguous")
    np.testing.assert_allclose(l_mine, l_ref, rtol=0, atol=1e-10)
    for name in mine:
        torch.testing.assert_close(mine[name], theirs[name], rtol=0, atol=1e-10, msg=name)


def test_modules_train_like_their_torch_equivalents():
    # The modules' parameters, copied into torch.nn.Conv2d layers, train the same way.
    torch.manual_seed(5)
    mine = torch.nn.Sequential(st.SeparableConv2d(3, 8, 3, stride=2, depth_multiplier=2, dtype=torch.float64),
                               torch.nn.ReLU(), st.DepthwiseConv2d(8, 3, padding=1, dtype=torch.float64))
    dw = torch.nn.Conv2d(3, 6, 3, stride=2, groups=3, bias=False, dtype=torch.float64)
    pw = torch.nn.Conv2d(6, 8, 1, dtype=torch.float64)
    d2 = torch.nn.Conv2d(8, 8, 3, padding=1, groups=8, dtype=torch.float64)
    with torch.no_grad():
        dw.weight.copy_(mine[0].depthwise_weight)
        pw.weight.copy_(mine[0].pointwise_weight)
        pw.bias.copy_(mine[0].bias)
        d2.weight.copy_(mine[2].weight)
        d2.bias.copy_(mine[2].bias)
    # 9x9 at stride 2: TensorFlow's "same" pads 1 on each side, as padding=1 does in torch.
    theirs = torch.nn.Sequential(torch.nn.ZeroPad2d(1), dw, pw, torch.nn.ReLU(), d2)
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    o1 = torch.optim.Adam(mine.parameters(), lr=1e-2)
    o2 = torch.optim.Adam(theirs.parameters(), lr=1e-2)
    for _ in range(4):
        losses = []
        for model, opt in ((mine, o1), (theirs, o2)):
            opt.zero_grad()
            loss = model(x).square().mean()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert abs(losses[0] - losses[1]) <= 1e-10, losses
    torch.testing.assert_close(mine[0].pointwise_weight, pw.weight, rtol=0, atol=1e-10)
    assert copy.deepcopy(mine)(x).shape == (2, 8, 5, 5)


def test_double_backward_is_refused_not_wrong():
    # Gradients of gradients are not implemented: differentiating through a backward op raises
    # (torch's error naming the op) rather than returning zeros.
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    pw = torch.randn(3, 2, 1, 1, dtype=torch.float64, requires_grad=True)
    for f, op in ((lambda: st.depthwise_conv2d(x, w), "depthwise_conv2d_backprop_input"),
                  (lambda: st.separable_conv2d(x, w, pw), "separable_conv2d_backprop")):
        g, = torch.autograd.grad(f().square().sum(), x, create_graph=True)
        with pytest.raises(RuntimeError, match=f"sepcpp.{op}"):
            g.sum().backward()


def test_zero_batch_gradients():
    w = torch.randn(2, 1, 3, 3, requires_grad=True)
    pw = torch.randn(3, 2, 1, 1, requires_grad=True)
    for fmt in ("contiguous", "channels_last"):
        x = ref.in_format(torch.randn(0, 2, 5, 5), fmt).requires_grad_(True)
        st.separable_conv2d(x, w, pw, stride=2).sum().backward()
        st.depthwise_conv2d(x, w).sum().backward()
        assert x.grad.shape == (0, 2, 5, 5) and not x.grad.any()
    assert not w.grad.any() and not pw.grad.any()  # sums over no pixels
