"""Large windows (the paper's 1-D windows up to 63 taps, 2-D kernels up to 31x31) on every ISA,
against the NumPy reference: the same kernels serve any number of taps."""

import numpy as np
import pytest

import reference as ref
import sepcpp

# The `isa` fixture (conftest.py) runs each test once per compiled ISA level; a level this CPU
# lacks is skipped, a failure under SEPCPP_REQUIRE_ALL=1.


@pytest.mark.parametrize("k,d,padding", [(63, 1, "CAUSAL"), (63, 2, "CAUSAL"), (31, 3, "SAME"), (63, 1, "VALID")])
def test_long_1d_windows(isa, k, d, padding):
    rng = np.random.default_rng(k * 10 + d)
    x = rng.standard_normal((2, 200, 33)).astype(np.float32)
    dw = rng.standard_normal((k, 33, 1)).astype(np.float32)
    pw = rng.standard_normal((1, 33, 24)).astype(np.float32)
    got = sepcpp.separable_conv1d(x, dw, pw, 1, padding, dilations=d, activation="relu")
    want = ref.separable_conv1d(x, dw, pw, 1, padding, dilations=d, activation="relu")
    ref.assert_close(got, want, np.float32, reduction=k * 33)


@pytest.mark.parametrize("kh,kw,s", [(31, 31, 1), (31, 31, 2), (31, 7, 1), (15, 31, 3)])
def test_large_2d_kernels(isa, kh, kw, s):
    rng = np.random.default_rng(kh * 100 + kw + s)
    x = rng.standard_normal((1, 40, 37, 20)).astype(np.float32)
    dw = rng.standard_normal((kh, kw, 20, 2)).astype(np.float32)
    got = sepcpp.depthwise_conv2d(x, dw, s, "SAME", bias=np.arange(40, dtype=np.float32))
    want = ref.depthwise_conv2d(x, dw, s, "SAME", bias=np.arange(40, dtype=np.float32))
    ref.assert_close(got, want, np.float32, reduction=kh * kw)
    x64 = x.astype(np.float64)
    got64 = sepcpp.depthwise_conv2d(x64, dw.astype(np.float64), s, "VALID", data_format="NHWC")
    ref.assert_close(got64, ref.depthwise_conv2d(x64, dw.astype(np.float64), s, "VALID"), np.float64)
