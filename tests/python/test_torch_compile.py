"""sepcpp.torch under torch.compile: the registered ops, their fake kernels and a compiled training step.

torch.compile is slow to start (tens of seconds on a busy machine), so the compiled tests are few:
opcheck on each registered op (schema, autograd registration, fake kernel, AOT dispatch with dynamic
shapes), the fake kernels' shapes and strides against the eager results over a grid, and one
training step compiled with fullgraph=True (no graph break) equal to the eager one.
"""

from __future__ import annotations

import itertools

import pytest

from optional_deps import import_optional

torch = import_optional("torch")
import sepcpp.torch as st  # noqa: E402
import torch_reference as ref  # noqa: E402
from torch._subclasses.fake_tensor import FakeTensorMode  # noqa: E402

pytestmark = pytest.mark.uses("torch")

OPS = torch.ops.sepcpp


@pytest.fixture(autouse=True, scope="module")
def _torch_one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _r(*shape, grad=True, fmt="contiguous"):
    t = ref.in_format(torch.randn(*shape, dtype=torch.float64), fmt)
    return t.requires_grad_(grad)


def _forward_samples():
    torch.manual_seed(0)
    geo = ([2, 1], "SAME", [0, 0, 0, 0], [1, 2])
    explicit = ([1, 2], "EXPLICIT", [1, 0, 2, 1], [2, 1])
    return [
        ("depthwise_conv2d", (_r(2, 3, 7, 6, fmt="channels_last"), _r(6, 1, 3, 3), _r(6), *geo, "relu")),
        ("depthwise_conv2d", (_r(1, 2, 5, 5), _r(2, 1, 2, 3), None, *explicit, "")),
        ("conv2d", (_r(2, 3, 7, 6), _r(4, 3, 3, 2), None, *geo, "relu6")),
        ("conv2d", (_r(1, 3, 6, 5, fmt="channels_last"), _r(2, 3, 1, 1), _r(2), *explicit, "")),
        ("separable_conv2d", (_r(2, 4, 6, 7, fmt="channels_last"), _r(8, 1, 3, 3), _r(6, 4, 1, 1), 2, _r(8), _r(6),
                              *geo, "relu", "relu6")),
        ("separable_conv2d", (_r(1, 3, 1, 9), _r(3, 1, 1, 3), _r(5, 3, 1, 1), 1, None, None, *explicit, "", "")),
    ]


@pytest.mark.parametrize("i", range(6))
def test_opcheck_forward_ops(i):
    name, args = _forward_samples()[i]
    torch.library.opcheck(getattr(OPS, name).default, args)


def test_opcheck_backward_ops():
    torch.manual_seed(1)
    geo = ([2, 1], "SAME", [0, 0, 0, 0], [1, 2])
    for fmt in ("contiguous", "channels_last"):
        x = _r(2, 3, 7, 6, grad=False, fmt=fmt)
        cl = fmt == "channels_last"
        dy6, dy4 = _r(2, 6, 4, 6, grad=False, fmt=fmt), _r(2, 4, 4, 6, grad=False, fmt=fmt)
        cases = [
            (OPS.depthwise_conv2d_backprop_input, (dy6, _r(6, 1, 3, 3, grad=False), list(x.shape), cl, *geo)),
            (OPS.depthwise_conv2d_backprop_filter, (x, [6, 1, 3, 3], dy6, *geo)),
            (OPS.conv2d_backprop_input, (dy4, _r(4, 3, 3, 2, grad=False), list(x.shape), cl, *geo)),
            (OPS.conv2d_backprop_filter, (x, [4, 3, 3, 2], dy4, *geo)),
            (OPS.separable_conv2d_backprop, (x, _r(6, 1, 3, 3, grad=False), _r(4, 3, 1, 1, grad=False), 2, None,
                                             _r(4, grad=False), dy4, *geo, "relu", "")),
        ]
        for op, args in cases:
            torch.library.opcheck(op.default, args, test_utils=("test_schema", "test_faketensor"))


def test_fake_kernels_give_the_eager_shapes_and_strides():
    # The fake kernels compute the output size themselves (shapes under torch.compile): over a grid
    # of geometries and memory formats they must say what the eager ops return.
    mode = FakeTensorMode()
    for fmt, stride, dilation, padding, k in itertools.product(
            ["contiguous", "channels_last", "strided"], [1, 2, 3, (3, 1)], [1, 2], ["same", "valid", 0, 2, (1, 3)],
            [(1, 1), (3, 2), (4, 4)]):
        x = ref.in_format(torch.randn(2, 3, 9, 8), fmt)
        w, pw = torch.randn(6, 1, *k), torch.randn(5, 6, 1, 1)
        calls = [lambda x, w, pw: st.depthwise_conv2d(x, w, None, stride, padding, dilation),
                 lambda x, w, pw: st.separable_conv2d(x, w, pw, None, stride, padding, dilation),
                 lambda x, w, pw: st.conv2d(x, pw[:, :3], None, stride, padding, dilation)]
        for call in calls:
            try:
                y = call(x, w, pw)
            except ValueError:
                continue  # a kernel larger than the input (VALID): refused, as in the eager call below
            with mode:
                fx, fw, fpw = (mode.from_tensor(t) for t in (x, w, pw))
                fy = call(fx, fw, fpw)
            assert (fy.shape, fy.stride()) == (y.shape, y.stride()), (fmt, stride, dilation, padding, k)


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.sep = st.SeparableConv2d(3, 8, 3, stride=2, depth_multiplier=2, depthwise_activation="relu6",
                                      dtype=torch.float64)
        self.dw = st.DepthwiseConv2d(8, 3, padding=1, activation="relu", dtype=torch.float64)
        self.conv_w = torch.nn.Parameter(torch.randn(4, 8, 1, 1, dtype=torch.float64) * 0.3)
        self.seq = st.SuperSeparableConv1d(4, 6, 5, 2, padding="causal", dtype=torch.float64)

    def forward(self, x):
        h = st.conv2d(self.dw(self.sep(x)), self.conv_w, activation="relu6")
        return self.seq(h.flatten(2)).square().mean()


# Inductor itself (torch 2.13) still calls torch.jit.script_method, which warns.
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")
def test_compiled_training_step_fullgraph():
    # fullgraph=True raises on any graph break; the compiled forward, and the backward AOTAutograd
    # compiles with it (sepcpp's backprop ops), give the eager loss and gradients.
    torch.manual_seed(2)
    model = _Model()
    x = torch.randn(2, 3, 11, 9, dtype=torch.float64).to(memory_format=torch.channels_last)
    eager = model(x)
    eager.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    torch._dynamo.reset()
    loss = torch.compile(model, fullgraph=True)(x)
    loss.backward()
    torch.testing.assert_close(loss, eager, rtol=1e-12, atol=1e-12)
    for p, g in zip(model.parameters(), grads):
        torch.testing.assert_close(p.grad, g, rtol=1e-12, atol=1e-12)
