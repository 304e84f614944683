"""The paper's ConvStep, LN(SepConv(ReLU(x))), stacked with windows 3-7-15-31 and causal padding
(examples/convstep.py, NumPy + sepcpp): against the same stack built from Keras layers
(SeparableConv1D on explicitly left-padded input, LayerNormalization), and against the NumPy
reference, including the paper's super-separable steps (groups alternating 2 and 3)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import reference as ref
from tf_support import import_tensorflow, silenced

_PATH = Path(__file__).resolve().parents[2] / "examples" / "convstep.py"
_spec = importlib.util.spec_from_file_location("convstep", _PATH)
convstep = importlib.util.module_from_spec(_spec)
sys.modules["convstep"] = convstep  # dataclasses look their module up there
_spec.loader.exec_module(convstep)

WINDOWS = (3, 7, 15, 31)


def layer_norm_reference(y, gamma, beta, epsilon=1e-3):
    """Layer normalisation over channels, in float64, written here from its definition (Keras'
    LayerNormalization: (y - mean) / sqrt(variance + epsilon) * gamma + beta, biased variance),
    not taken from the example under test."""
    y = np.asarray(y, dtype=np.float64)
    c = y.shape[-1]
    mean = np.sum(y, axis=-1, keepdims=True) / c
    centred = y - mean
    variance = np.sum(centred * centred, axis=-1, keepdims=True) / c
    gamma, beta = np.asarray(gamma, np.float64), np.asarray(beta, np.float64)
    return centred / np.sqrt(variance + epsilon) * gamma + beta


def test_layer_norm_reference_definition():
    """The reference layer norm: zero mean and unit variance per position before gamma and beta."""
    rng = np.random.default_rng(4)
    y = 3 + 5 * rng.standard_normal((2, 7, 16))
    z = layer_norm_reference(y, np.ones(16), np.zeros(16), epsilon=0.0)
    np.testing.assert_allclose(z.mean(axis=-1), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=-1), 1, rtol=1e-12)
    g, b = rng.standard_normal(16), rng.standard_normal(16)
    np.testing.assert_allclose(layer_norm_reference(y, g, b, epsilon=0.0), z * g + b, rtol=1e-12, atol=1e-12)


def reference_stack(x, steps):
    for w in steps:
        y = ref.super_separable_conv1d(np.maximum(x, 0), w.depthwise, w.pointwise, w.groups, 1, "CAUSAL",
                                       dilations=w.dilation, bias=w.bias)
        x = layer_norm_reference(y, w.gamma, w.beta)
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("groups", [None, [2, 3, 2, 3]])
def test_stack_matches_numpy_reference(dtype, groups):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 40, 24)).astype(dtype)
    steps = convstep.random_steps(24, WINDOWS, seed=1, dtype=dtype, groups=groups)
    got = convstep.convstep_stack(x, steps)
    want = reference_stack(x.astype(np.float64), steps)
    # Layer norm divides by the std of each position: compare after normalisation with a bound
    # that covers float32 rounding through four stacked steps.
    tol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=0, atol=tol)


def test_stack_is_causal():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 50, 16)).astype(np.float32)
    steps = convstep.random_steps(16, WINDOWS, seed=2)
    y = convstep.convstep_stack(x, steps)
    x2 = x.copy()
    x2[:, 30:] = rng.standard_normal((1, 20, 16))
    y2 = convstep.convstep_stack(x2, steps)
    np.testing.assert_array_equal(y[:, :30], y2[:, :30])
    assert not np.array_equal(y[:, 30:], y2[:, 30:])


@pytest.mark.uses("tensorflow")
def test_stack_matches_keras():
    _, keras = import_tensorflow()
    rng = np.random.default_rng(7)
    channels, length = 32, 48
    x = rng.standard_normal((2, length, channels)).astype(np.float32)
    steps = convstep.random_steps(channels, WINDOWS, seed=3)
    with silenced():
        layers = [keras.Input((length, channels))]
        model_layers = []
        for w in steps:
            k = w.depthwise.shape[0]
            conv = keras.layers.SeparableConv1D(channels, k, padding="valid", use_bias=True)
            norm = keras.layers.LayerNormalization(epsilon=1e-3)
            model_layers.append((conv, norm))
            # Keras 3's SeparableConv1D has no padding="causal": pad on the left explicitly.
            layers += [keras.layers.ReLU(), keras.layers.ZeroPadding1D((k - 1, 0)), conv, norm]
        model = keras.Sequential(layers)
        for (conv, norm), w in zip(model_layers, steps):
            conv.set_weights([w.depthwise, w.pointwise, w.bias])
            norm.set_weights([w.gamma, w.beta])
        want = np.asarray(model(x, training=False))
    got = convstep.convstep_stack(x, steps)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-4)
