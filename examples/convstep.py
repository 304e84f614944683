"""The paper's ConvStep over a sequence, in NumPy + sepcpp.

"Depthwise Separable Convolutions for Neural Machine Translation" (Kaiser, Gomez, Chollet 2017)
builds its encoder and decoder from

    ConvStep_{d,s}(W, x) = LN(SepConv_{d,s}(W, ReLU(x)))

over (batch, length, channels) sequences, stacking windows 3, 7, 15 and 31, with causal (left-only)
padding in the decoder. This file runs such a stack with sepcpp doing the convolutions (one fused
separable_conv1d per step, with its bias) and NumPy the ReLU and the layer norm.

    python examples/convstep.py
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import numpy as np

import sepcpp


@dataclass
class ConvStepWeights:
    depthwise: np.ndarray  # [k, C, 1]
    pointwise: np.ndarray  # [1, C, O]
    bias: np.ndarray  # [O]
    gamma: np.ndarray  # [O], layer norm scale
    beta: np.ndarray  # [O], layer norm offset
    dilation: int = 1
    groups: int = 1  # > 1: the paper's super-separable step


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, epsilon: float = 1e-3) -> np.ndarray:
    """Normalisation over the channel axis, as Keras' LayerNormalization (epsilon 1e-3 there too)."""
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def conv_step(x: np.ndarray, w: ConvStepWeights, causal: bool = True, epsilon: float = 1e-3) -> np.ndarray:
    """LN(SepConv(ReLU(x))) for x of shape (batch, length, channels)."""
    padding = "CAUSAL" if causal else "SAME"
    y = sepcpp.super_separable_conv1d(np.maximum(x, 0), w.depthwise, w.pointwise, w.groups, 1, padding,
                                      dilations=w.dilation, bias=w.bias)
    return layer_norm(y, w.gamma, w.beta, epsilon)


def convstep_stack(x: np.ndarray, steps: List[ConvStepWeights], causal: bool = True) -> np.ndarray:
    for w in steps:
        x = conv_step(x, w, causal)
    return x


def random_steps(channels: int, windows=(3, 7, 15, 31), seed: int = 0, dtype=np.float32,
                 groups: Optional[List[int]] = None) -> List[ConvStepWeights]:
    rng = np.random.default_rng(seed)
    steps = []
    for i, k in enumerate(windows):
        g = 1 if groups is None else groups[i]
        steps.append(ConvStepWeights(
            depthwise=(rng.standard_normal((k, channels, 1)) / np.sqrt(k)).astype(dtype),
            pointwise=(rng.standard_normal((1, channels // g, channels)) / np.sqrt(channels // g)).astype(dtype),
            bias=(0.1 * rng.standard_normal(channels)).astype(dtype),
            gamma=(1 + 0.1 * rng.standard_normal(channels)).astype(dtype),
            beta=(0.1 * rng.standard_normal(channels)).astype(dtype),
            groups=g,
        ))
    return steps


if __name__ == "__main__":
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 64, 32)).astype(np.float32)
    y = convstep_stack(x, random_steps(32))
    print(f"ConvStep stack (windows 3-7-15-31, causal) on {x.shape}: output {y.shape}, "
          f"mean {y.mean():.4f}, std {y.std():.4f}")
    # Causality: changing the last input step leaves every earlier output unchanged.
    x2 = x.copy()
    x2[:, -1] += 10
    y2 = convstep_stack(x2, random_steps(32))
    print("earlier outputs unchanged by a change at the last step:", bool(np.array_equal(y[:, :-1], y2[:, :-1])))
