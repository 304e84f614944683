"""Layers whose pixels are a 4 KiB page or more apart (1024 float32 channels, 512 float64: SliceNet
widths): the depthwise kernels take them in a different order there (pixel tiles outermost in the
row kernel for 1-D windows, blocks of pixels in the filter gradient's reduction). Checked against
the float64 NumPy references on every ISA level, and bit for bit across thread counts."""

from __future__ import annotations

import numpy as np
import pytest
import reference as ref
import reference_backprop as rb
import sepcpp
from reference import assert_close

CASES = [(np.float32, 1024), (np.float64, 512), (np.float32, 1030)]


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dtype,channels", CASES)
def test_wide_1d_forward_and_filter_gradient(dtype, channels, rng, isa):
    # 1-D (one kernel row), 45 output pixels: row tiles of 6, 4, 2 and 1, and blocks of 16 pixels
    # with a short last one in the reduction; causal padding; a depthwise bias and relu6.
    x = rng.standard_normal((2, 1, 45, channels)).astype(dtype)
    dw = (rng.standard_normal((1, 3, channels, 1)) / 2).astype(dtype)
    db = rng.standard_normal(channels).astype(dtype)
    pad = [[0, 0], [0, 0], [2, 0], [0, 0]]
    y = sepcpp.depthwise_conv2d(x, dw, 1, pad, bias=db, activation="relu6")
    assert_close(y, ref.depthwise_conv2d(x, dw, 1, pad, bias=db, activation="relu6"), dtype, reduction=3,
                 what=f"depthwise 1x3, {channels} channels, {isa}")
    dy = rng.standard_normal(y.shape).astype(dtype)
    gf = sepcpp.depthwise_conv2d_backprop_filter(x, dw.shape, dy, 1, pad)
    assert_close(gf, rb.depthwise_filter(x, dw.shape, dy, 1, pad), dtype, reduction=90,
                 what=f"filter gradient 1x3, {channels} channels, {isa}")
    gi = sepcpp.depthwise_conv2d_backprop_input(x.shape, dw, dy, 1, pad)
    assert_close(gi, rb.depthwise_input(x.shape, dw, dy, 1, pad), dtype, reduction=3,
                 what=f"input gradient 1x3, {channels} channels, {isa}")
    firsts = None
    for n in (1, 2, 3):
        sepcpp.set_num_threads(n)
        got = [sepcpp.depthwise_conv2d(x, dw, 1, pad, bias=db, activation="relu6"),
               sepcpp.depthwise_conv2d_backprop_filter(x, dw.shape, dy, 1, pad)]
        if firsts is None:
            firsts = got
        else:
            assert all(a.tobytes() == b.tobytes() for a, b in zip(got, firsts)), f"{n} threads differ"
