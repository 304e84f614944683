"""The depthwise step on narrow rows with horizontal padding (a 7x7 or 14x14 image, a 5x5 or 7x7
kernel on 28 columns): each input row is copied once into a zero-padded ring slot and whole output
rows run through the row-sliding kernel (cpp/src/depthwise_rows.hpp, depthwise_pixels). An input
that is not dense NHWC is gathered instead and takes the edge-run path: both must give the same
bits, and the float64 NumPy reference's values, on every ISA level, for any thread count."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from reference import assert_close

import sepcpp

# (H, W, C, kernel, strides, dilations, multiplier, padding): every row narrow enough for the ring,
# with vertical strides and dilations that the ring must follow (a dilation of 3 under a 3-row
# kernel puts the three rows of an output row in slots that a modulo rule would collide).
CASES = [
    (7, 7, 40, (3, 3), (1, 1), (1, 1), 1, "SAME"),
    (14, 14, 24, (3, 3), (2, 1), (1, 1), 1, "SAME"),
    (9, 10, 17, (5, 5), (1, 1), (1, 1), 2, "SAME"),
    (12, 9, 33, (3, 3), (1, 1), (3, 1), 1, "SAME"),
    (8, 11, 16, (7, 7), (3, 1), (2, 1), 1, "SAME"),
    (6, 7, 48, (3, 5), (1, 1), (1, 1), 1, [[0, 0], [2, 0], [1, 3], [0, 0]]),
    (5, 6, 8, (1, 7), (1, 1), (1, 1), 3, "SAME"),
]


def _not_dense(x):
    """The same values as x, in a view that is not dense NHWC (channels every other element)."""
    wide = np.zeros(x.shape[:3] + (2 * x.shape[3],), x.dtype)
    wide[..., ::2] = x
    view = wide[..., ::2]
    assert not view.flags.c_contiguous
    return view


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}x{c[1]}x{c[2]}k{c[3][0]}x{c[3][1]}s{c[4]}d{c[5]}m{c[6]}")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ring_matches_edge_runs_and_reference(isa, case, dtype):
    h, w, c, (kh, kw), strides, dilations, m, padding = case
    rng = np.random.default_rng([h, w, c, kh, kw, m])
    x = rng.standard_normal((2, h, w, c)).astype(dtype)
    f = rng.standard_normal((kh, kw, c, m)).astype(dtype)
    pw = rng.standard_normal((1, 1, c * m, 5)).astype(dtype)
    bias = rng.standard_normal(c * m).astype(dtype)
    kwargs = dict(strides=[1, *strides, 1], padding=padding, dilations=list(dilations))
    expect_dw = ref.depthwise_conv2d(x.astype(np.float64), f.astype(np.float64), **kwargs)
    expect_sep = ref.separable_conv2d(x.astype(np.float64), f.astype(np.float64), pw.astype(np.float64),
                                      **kwargs)
    try:
        results = {}
        for threads in (1, 2, 3):
            sepcpp.set_num_threads(threads)
            for kind, xin in (("dense", x), ("gathered", _not_dense(x))):
                results[threads, kind] = (
                    sepcpp.depthwise_conv2d(xin, f, **kwargs),
                    sepcpp.separable_conv2d(xin, f, pw, **kwargs),
                    sepcpp.depthwise_conv2d(xin, f, **kwargs, bias=bias, activation="relu6"),
                )
    finally:
        sepcpp.set_num_threads(0)
    first = results[1, "dense"]
    assert_close(first[0], expect_dw, dtype, reduction=kh * kw, what="depthwise")
    assert_close(first[1], expect_sep, dtype, reduction=kh * kw * c * m, what="separable")
    expect_act = np.clip(expect_dw + bias, 0, 6)
    assert_close(first[2], expect_act, dtype, reduction=kh * kw, what="depthwise + bias + relu6")
    for key, got in results.items():
        for a, b in zip(got, first):
            np.testing.assert_array_equal(a, b, err_msg=f"{key} differs from 1 thread, dense input")


def test_ring_is_chosen_for_these_cases():
    """The cases above do take the ring (a dense input with horizontal padding whose padded row is
    shorter than KH times both edge runs' spans, the ring within 2 MiB) - else this file tests
    nothing new."""
    edge_tile = 4  # kernels::kDwRowEdgeTile
    for h, w, c, (kh, kw), strides, dilations, m, padding in CASES:
        out_w = w if padding == "SAME" else w + sum(padding[2]) - kw + 1
        assert out_w + kw - 1 < kh * 2 * (edge_tile + kw - 1)
        assert kh * (out_w + kw - 1) * c * 8 <= 2 ** 21
