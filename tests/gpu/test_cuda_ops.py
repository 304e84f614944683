"""Every op on the GPU against the CPU path and against PyTorch's cuDNN (tests/run_gpu.sh).

The CPU path is the reference for values and errors (it is tested against TensorFlow and NumPy in
tests/python); cuDNN (a grouped convolution then a 1x1 one, TF32 off) is the independent peer on the
benchmark suite's layers. Inputs go in as PyTorch CUDA tensors, CuPy arrays and JAX GPU arrays and
must come back as the same kind, on the same device.
"""

from __future__ import annotations

import math
import os
import zlib

import numpy as np
import pytest

import sepcpp

from conftest import framework

from sepcpp.bench.layers import load_suite

SUITE = load_suite()

torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.fixture(autouse=True, scope="module")
def _no_tf32():
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def close(got, want, k, dtype, what=""):
    """Within rounding of a k-term sum in dtype, relative to the largest value."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.size == 0:
        return
    eps = 1e-6 if dtype == np.float32 else 1e-14
    tol = 8 * eps * math.sqrt(max(k, 1)) * max(1.0, float(np.nanmax(np.abs(want))))
    both_nan = np.isnan(got) & np.isnan(want)
    err = np.where(both_nan, 0.0, np.abs(got - want))
    assert np.all(np.isnan(got) == np.isnan(want)), f"{what}: NaN in different places"
    assert err.max() <= tol, f"{what}: max error {err.max():.3g} > {tol:.3g}"


def cuda(a, dev="cuda"):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a)).to(dev)


# ---- A random grid of every op and parameter, against the CPU path -----------------------------

def _cases(n, seed=20261129):
    rng = np.random.default_rng(seed)
    ops = ["depthwise", "pointwise", "separable", "super_separable", "conv", "depthwise_1d", "separable_1d",
           "conv_1d"]
    out = []
    for i in range(n):
        op = ops[i % len(ops)]
        one_d = op.endswith("_1d")
        c = dict(
            op=op, dtype=[np.float32, np.float64][rng.integers(2)], nchw=bool(rng.integers(2)),
            N=int(rng.integers(0 if i % 17 == 0 else 1, 4)), H=1 if one_d else int(rng.integers(1, 20)),
            W=int(rng.integers(1, 40)), C=int(rng.integers(1, 40)), M=int(rng.integers(1, 4)),
            O=int(rng.integers(1, 150)), kh=1 if one_d else int(rng.integers(1, 6)), kw=int(rng.integers(1, 8)),
            sh=int(rng.integers(1, 4)), sw=int(rng.integers(1, 4)), dh=int(rng.integers(1, 3)),
            dw=int(rng.integers(1, 3)), pad=["SAME", "VALID", "explicit", "CAUSAL"][rng.integers(4 if one_d else 3)],
            bias=bool(rng.integers(2)), act=[None, "relu", "relu6"][rng.integers(3)],
            dwact=[None, "relu", "relu6"][rng.integers(3)], groups=1, host_filters=bool(rng.integers(2)),
            pt=int(rng.integers(0, 3)), pb=int(rng.integers(0, 3)), pl=int(rng.integers(0, 3)),
            pr=int(rng.integers(0, 3)),
        )
        if op == "pointwise":
            c.update(kh=1, kw=1, sh=1, sw=1, dh=1, dw=1, pad="VALID")
        if op == "super_separable":
            g = int(rng.integers(2, 5))
            c.update(groups=g, C=g * int(rng.integers(1, 8)), O=g * int(rng.integers(1, 40)))
        if one_d:
            c.update(sh=1, dh=1)
        # keep VALID geometries valid
        if c["pad"] == "VALID":
            c["H"] = max(c["H"], (c["kh"] - 1) * c["dh"] + 1)
            c["W"] = max(c["W"], (c["kw"] - 1) * c["dw"] + 1)
        if c["pad"] == "explicit":
            c["H"] = max(c["H"], (c["kh"] - 1) * c["dh"] + 1)
            c["W"] = max(c["W"], (c["kw"] - 1) * c["dw"] + 1)
        out.append(c)
    return out


CASES = _cases(240)


def _arrays(c, rng):
    dt = c["dtype"]
    N, H, W, C, M, O, kh, kw = (c[k] for k in ("N", "H", "W", "C", "M", "O", "kh", "kw"))
    one_d = c["op"].endswith("_1d")
    x = rng.standard_normal((N, H, W, C)).astype(dt)
    a = {"x": x}
    op = c["op"].replace("_1d", "")
    if op in ("depthwise", "separable", "super_separable"):
        a["f1"] = rng.standard_normal((kh, kw, C, M)).astype(dt)
    if op in ("separable", "super_separable"):
        a["f2"] = rng.standard_normal((1, 1, C * M // c["groups"], O)).astype(dt)
        a["b1"] = rng.standard_normal(C * M).astype(dt) if c["bias"] else None
        a["b2"] = rng.standard_normal(O).astype(dt) if c["bias"] else None
    elif op == "depthwise":
        a["b1"] = rng.standard_normal(C * M).astype(dt) if c["bias"] else None
    else:
        a["f1"] = rng.standard_normal((kh, kw, C, O)).astype(dt)
        a["b1"] = rng.standard_normal(O).astype(dt) if c["bias"] else None
    if one_d:
        a["x"] = x[:, 0]  # NWC
        a["f1"] = a["f1"][0]
        if "f2" in a:
            a["f2"] = a["f2"][0]
    if c["nchw"]:
        a["x"] = np.ascontiguousarray(np.moveaxis(a["x"], -1, 1))
    return a


def _call(c, x, f1, f2, b1, b2):
    op = c["op"]
    one_d = op.endswith("_1d")
    fmt = ("NCW" if one_d else "NCHW") if c["nchw"] else ("NWC" if one_d else "NHWC")
    if c["pad"] == "explicit":
        pad = [[c["pl"], c["pr"]]] if one_d else [[c["pt"], c["pb"]], [c["pl"], c["pr"]]]
    else:
        pad = c["pad"]
    s = c["sw"] if one_d else (c["sh"], c["sw"])
    d = c["dw"] if one_d else (c["dh"], c["dw"])
    if op == "depthwise":
        return sepcpp.depthwise_conv2d(x, f1, s, pad, fmt, d, bias=b1, activation=c["act"])
    if op == "pointwise":
        return sepcpp.pointwise_conv2d(x, f1, fmt, bias=b1, activation=c["act"])
    if op == "conv":
        return sepcpp.conv2d(x, f1, s, pad, fmt, d, bias=b1, activation=c["act"])
    if op == "separable":
        return sepcpp.separable_conv2d(x, f1, f2, s, pad, fmt, d, depthwise_bias=b1,
                                       depthwise_activation=c["dwact"], bias=b2, activation=c["act"])
    if op == "super_separable":
        return sepcpp.super_separable_conv2d(x, f1, f2, c["groups"], s, pad, fmt, d, depthwise_bias=b1,
                                             depthwise_activation=c["dwact"], bias=b2, activation=c["act"])
    if op == "depthwise_1d":
        return sepcpp.depthwise_conv1d(x, f1, s, pad, fmt, d, bias=b1, activation=c["act"])
    if op == "separable_1d":
        return sepcpp.separable_conv1d(x, f1, f2, s, pad, fmt, d, depthwise_bias=b1,
                                       depthwise_activation=c["dwact"], bias=b2, activation=c["act"])
    return sepcpp.conv1d(x, f1, s, pad, fmt, d, bias=b1, activation=c["act"])


def _k(c):
    """Terms in one output's sum."""
    taps = c["kh"] * c["kw"]
    if c["op"].startswith("depthwise"):
        return taps
    if c["op"].startswith("pointwise"):
        return c["C"]
    if c["op"].startswith("conv"):
        return taps * c["C"]
    return 16 * (taps + c["C"] * c["M"] // c["groups"])  # two rounded steps: a looser bound


@pytest.mark.parametrize("c", CASES, ids=[f"{i}-{c['op']}-{np.dtype(c['dtype']).name}-{'NCHW' if c['nchw'] else 'NHWC'}"
                                          for i, c in enumerate(CASES)])
def test_grid_against_cpu(c):
    rng = np.random.default_rng(zlib.crc32(str(sorted(c.items())).encode()))
    a = _arrays(c, rng)
    names = ("f1", "f2", "b1", "b2")
    host = [a.get(n) for n in names]
    try:
        want = _call(c, a["x"], *host)
    except ValueError as e:  # a geometry the CPU path refuses: the GPU path must refuse it alike
        with pytest.raises(ValueError) as got:
            _call(c, cuda(a["x"]), *(host if c["host_filters"] else [cuda(v) for v in host]))
        assert str(got.value) == str(e)
        return
    dev = [v for v in host] if c["host_filters"] else [cuda(v) for v in host]
    got = _call(c, cuda(a["x"]), *dev)
    assert isinstance(got, torch.Tensor) and got.is_cuda and got.dtype == cuda(a["x"]).dtype
    close(got.cpu().numpy(), want, _k(c), c["dtype"], str(c))


# ---- The benchmark suite against cuDNN (grouped conv + 1x1) and the CPU path --------------------

def _torch_separable(x_nchw, dw, pw, layer):
    C = x_nchw.shape[1]
    kh, kw = layer.kernel
    pt, pb, pl, pr = layer.pads
    w_dw = torch.as_tensor(np.ascontiguousarray(dw.transpose(2, 3, 0, 1).reshape(C * layer.mult, 1, kh, kw)),
                           device="cuda")
    w_pw = torch.as_tensor(np.ascontiguousarray(pw[0, 0].T[:, :, None, None]), device="cuda")
    xp = F.pad(x_nchw, (pl, pr, pt, pb))
    mid = F.conv2d(xp, w_dw, stride=layer.stride, dilation=layer.dilation, groups=C)
    return F.conv2d(mid, w_pw)


@pytest.mark.parametrize("layer", SUITE, ids=[l.name for l in SUITE])
@pytest.mark.parametrize("layout", ["NHWC", "NCHW", "channels_last"])
def test_suite_against_cudnn_and_cpu(layer, layout):
    x, dw, pw = layer.data()
    x_nchw = torch.as_tensor(x, device="cuda").permute(0, 3, 1, 2).contiguous()
    want = _torch_separable(x_nchw, dw, pw, layer)
    if layout == "NHWC":
        got = sepcpp.separable_conv2d(torch.as_tensor(x, device="cuda"), dw, pw, layer.stride, "SAME",
                                      dilations=layer.dilation).permute(0, 3, 1, 2)
    else:
        xin = x_nchw if layout == "NCHW" else x_nchw.to(memory_format=torch.channels_last)
        got = sepcpp.separable_conv2d(xin, cuda(dw), cuda(pw), layer.stride, "SAME", "NCHW",
                                      dilations=layer.dilation)
    k = layer.kernel[0] * layer.kernel[1] + layer.shape[3] * layer.mult
    close(got.cpu().numpy(), want.cpu().numpy(), k, np.float32, f"{layer.name} vs cuDNN")
    if layer.shape[0] * layer.shape[1] * layer.shape[2] <= 8 * 56 * 56:
        cpu = sepcpp.separable_conv2d(x, dw, pw, layer.stride, "SAME", dilations=layer.dilation)
        if layout == "NHWC":
            close(got.permute(0, 2, 3, 1).cpu().numpy(), cpu, k, np.float32, f"{layer.name} vs CPU")


# ---- Array kinds, devices, streams, layouts ------------------------------------------------------

def _small():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 9, 11, 6)).astype(np.float32)
    dw = rng.standard_normal((3, 3, 6, 2)).astype(np.float32)
    pw = rng.standard_normal((1, 1, 12, 5)).astype(np.float32)
    return x, dw, pw, sepcpp.separable_conv2d(x, dw, pw, 2, "SAME")


def test_torch_in_torch_out_same_device():
    x, dw, pw, want = _small()
    dev = f"cuda:{torch.cuda.device_count() - 1}"
    y = sepcpp.separable_conv2d(cuda(x, dev), cuda(dw, dev), cuda(pw, dev), 2, "SAME")
    assert isinstance(y, torch.Tensor) and str(y.device) == dev
    close(y.cpu().numpy(), want, 21, np.float32)


def test_cupy_in_cupy_out():
    cupy = framework("cupy")
    x, dw, pw, want = _small()
    y = sepcpp.separable_conv2d(cupy.asarray(x), cupy.asarray(dw), pw, 2, "SAME")
    assert isinstance(y, cupy.ndarray)
    close(cupy.asnumpy(y), want, 21, np.float32)


def test_jax_in_jax_out():
    jax = framework("jax")
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        pytest.fail("JAX sees no GPU") if os.environ.get("SEPCPP_REQUIRE_GPU") == "1" else pytest.skip("no JAX GPU")
    x, dw, pw, want = _small()
    xj = jax.device_put(x, gpus[0])
    y = sepcpp.separable_conv2d(xj, dw, pw, 2, "SAME")
    assert isinstance(y, jax.Array) and list(y.devices())[0].platform == "gpu"
    close(np.asarray(y), want, 21, np.float32)


def test_on_the_callers_stream():
    """The input is written late on the caller's stream (after a chain of large products): an op
    queued on any other stream, unsynchronised, would read it before it is there."""
    x, dw, pw, want = _small()
    xs, dws, pws = cuda(x), cuda(dw), cuda(pw)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        big = torch.randn(4096, 4096, device="cuda") / 64
        for _ in range(4):
            big = torch.tanh(big @ big)
        late = xs + 0 * big[0, 0]  # written on s only once the products are done
        y = sepcpp.separable_conv2d(late, dws, pws, 2, "SAME")
    s.synchronize()
    close(y.cpu().numpy(), want, 21, np.float32)


def test_cuda_stream_block():
    x, dw, pw, want = _small()
    s = torch.cuda.Stream()
    xs = cuda(x)
    torch.cuda.current_stream().synchronize()
    with sepcpp.cuda_stream(s):
        y = sepcpp.separable_conv2d(xs, cuda(dw), cuda(pw), 2, "SAME")
    s.synchronize()
    close(y.cpu().numpy(), want, 21, np.float32)


def test_out_and_strided_filters():
    x, dw, pw, want = _small()
    out = torch.full(want.shape, float("nan"), device="cuda")
    dw_t = cuda(np.ascontiguousarray(dw.transpose(3, 2, 1, 0))).permute(3, 2, 1, 0)  # non-dense view
    assert not dw_t.is_contiguous()
    y = sepcpp.separable_conv2d(cuda(x), dw_t, cuda(pw), 2, "SAME", out=out)
    assert y is out
    close(out.cpu().numpy(), want, 21, np.float32)


def test_errors_are_the_cpu_paths():
    x, dw, pw, _ = _small()
    with pytest.raises(ValueError) as cpu:
        sepcpp.separable_conv2d(x, dw, pw[:, :, :7], 2, "SAME")
    with pytest.raises(ValueError) as gpu:
        sepcpp.separable_conv2d(cuda(x), cuda(dw), cuda(pw[:, :, :7]), 2, "SAME")
    assert str(gpu.value) == str(cpu.value)
    with pytest.raises(TypeError, match="filter: is on the GPU but the input is a host array"):
        sepcpp.depthwise_conv2d(x, cuda(dw), 1, "SAME")
    with pytest.raises(TypeError, match="dtype"):
        sepcpp.depthwise_conv2d(cuda(x), cuda(dw.astype(np.float64)), 1, "SAME")
    xs = cuda(x)
    with pytest.raises(ValueError, match="out: shares memory with an input or filter"):
        sepcpp.depthwise_conv2d(xs, cuda(np.ones((1, 1, 6, 1), np.float32)), 1, "SAME", out=xs)


def test_nan_passes_relu_and_runs_are_bitwise_equal():
    x, dw, pw, _ = _small()
    x[0, 3, 4, 1] = np.nan
    want = sepcpp.depthwise_conv2d(x, dw, 1, "SAME", activation="relu")
    a = sepcpp.depthwise_conv2d(cuda(x), cuda(dw), 1, "SAME", activation="relu").cpu().numpy()
    b = sepcpp.depthwise_conv2d(cuda(x), cuda(dw), 1, "SAME", activation="relu").cpu().numpy()
    assert np.array_equal(a, b, equal_nan=True)
    close(a, want, 9, np.float32)


def test_layer_on_the_device():
    x, dw, pw, want = _small()
    layer = sepcpp.SeparableConv2D(dw, pw, 2, "SAME", device="cuda")
    y = layer(cuda(x))
    assert isinstance(y, torch.Tensor) and y.is_cuda
    close(y.cpu().numpy(), want, 21, np.float32)
    with pytest.raises(TypeError, match="device"):
        layer(x)
