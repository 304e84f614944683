"""The founding example of SEMANTICS.md, digit for digit, and its random-filter counterpart."""

from __future__ import annotations

import numpy as np
import pytest

import reference as ref
from reference import assert_close, truncated_normal

import sepcpp

# The numbers from /work/shared/reference/SEMANTICS.md (TensorFlow's results), typed in by hand.
Y1 = [[15, 15], [27, 27], [39, 39], [51, 51], [63, 63], [75, 75], [87, 87], [99, 99]]
Y2 = [[6, 9], [12, 15], [18, 21], [24, 27], [30, 33], [36, 39], [42, 45], [48, 51]]
STRIDES = [1, 1, 1, 1]


def _founding_inputs(dtype):
    x = np.arange(20, dtype=dtype).reshape(1, 1, 10, 2)
    w1 = np.ones((1, 3, 2, 2), dtype)
    w2 = np.ones((1, 3, 2, 1), dtype)
    w3 = np.ones((1, 1, 2, 2), dtype)
    return x, w1, w2, w3


def _exact(actual, expected_rows, dtype):
    expected = np.array(expected_rows, dtype=dtype).reshape(1, 1, 8, 2)
    assert isinstance(actual, np.ndarray)
    assert actual.dtype == np.dtype(dtype)
    assert actual.shape == (1, 1, 8, 2)
    np.testing.assert_array_equal(actual, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_founding_example_exact(dtype):
    x, w1, w2, w3 = _founding_inputs(dtype)
    y1 = sepcpp.conv2d(x, w1, STRIDES, "VALID")
    _exact(y1, Y1, dtype)
    y2 = sepcpp.depthwise_conv2d(x, w2, STRIDES, "VALID")
    _exact(y2, Y2, dtype)
    y3 = sepcpp.conv2d(y2, w3, STRIDES, "VALID")
    _exact(y3, Y1, dtype)
    y3p = sepcpp.pointwise_conv2d(y2, w3)
    _exact(y3p, Y1, dtype)
    y4 = sepcpp.separable_conv2d(x, w2, w3, STRIDES, "VALID")
    _exact(y4, Y1, dtype)
    # The NumPy reference agrees too (checks the reference against the hand-typed numbers).
    _exact(ref.separable_conv2d(x, w2, w3, STRIDES, "VALID").astype(dtype), Y1, dtype)
    _exact(ref.depthwise_conv2d(x, w2, STRIDES, "VALID").astype(dtype), Y2, dtype)


def test_founding_example_nchw():
    x, w1, w2, w3 = _founding_inputs(np.float32)
    xc = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    to_nhwc = (0, 2, 3, 1)
    _exact(sepcpp.conv2d(xc, w1, STRIDES, "VALID", "NCHW").transpose(to_nhwc), Y1, np.float32)
    _exact(sepcpp.depthwise_conv2d(xc, w2, STRIDES, "VALID", "NCHW").transpose(to_nhwc), Y2,
           np.float32)
    _exact(sepcpp.separable_conv2d(xc, w2, w3, STRIDES, "VALID", "NCHW").transpose(to_nhwc), Y1,
           np.float32)


def test_founding_example_1d():
    """The same example is a 1-D convolution over a sequence of length 10."""
    x, w1, w2, w3 = _founding_inputs(np.float32)
    x1 = x[:, 0]
    as2d = lambda y: y[:, None]  # noqa: E731
    _exact(as2d(sepcpp.conv1d(x1, w1[0], 1, "VALID")), Y1, np.float32)
    _exact(as2d(sepcpp.depthwise_conv1d(x1, w2[0], 1, "VALID")), Y2, np.float32)
    _exact(as2d(sepcpp.separable_conv1d(x1, w2[0], w3[0], 1, "VALID")), Y1, np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_founding_example_random_filters(seed):
    """Truncated-normal filters: depthwise + pointwise == separable, conv2d differs."""
    rng = np.random.default_rng(seed)
    x, _, _, _ = _founding_inputs(np.float32)
    w1 = truncated_normal(rng, (1, 3, 2, 2))
    w2 = truncated_normal(rng, (1, 3, 2, 1))
    w3 = truncated_normal(rng, (1, 1, 2, 2))

    y1 = sepcpp.conv2d(x, w1, STRIDES, "VALID")
    y2 = sepcpp.depthwise_conv2d(x, w2, STRIDES, "VALID")
    y3 = sepcpp.conv2d(y2, w3, STRIDES, "VALID")
    y3p = sepcpp.pointwise_conv2d(y2, w3)
    y4 = sepcpp.separable_conv2d(x, w2, w3, STRIDES, "VALID")

    expected_sep = ref.separable_conv2d(x, w2, w3, STRIDES, "VALID")
    for y in (y3, y3p, y4):
        assert_close(y, expected_sep, np.float32, what="separable")
    # depthwise + pointwise agree with the fused op to float32 rounding: a few ulps of the
    # magnitude sum |x| * |w2| * |w3| (the error bound of either evaluation order).
    scale = float(np.max(np.abs(expected_sep)))
    magnitude = float(np.max(ref.separable_conv2d(np.abs(x), np.abs(w2), np.abs(w3), STRIDES,
                                                  "VALID")))
    assert np.max(np.abs(y4.astype(np.float64) - y3)) <= 8 * np.finfo(np.float32).eps * magnitude
    assert_close(y1, ref.conv2d(x, w1, STRIDES, "VALID"), np.float32, what="conv2d")

    # The regular conv with independent filters is a different function ...
    assert np.max(np.abs(y1.astype(np.float64) - expected_sep)) > 1e-2 * scale
    # ... while the rank-1 filter w[a, b, c, o] = w2[a, b, c, 0] * w3[0, 0, c, o] reproduces it.
    w_eq = (w2[..., 0][..., None] * w3[0, 0][None, None]).astype(np.float32)
    assert_close(sepcpp.conv2d(x, w_eq, STRIDES, "VALID"), expected_sep, np.float32,
                 what="conv2d with the separable filter")
