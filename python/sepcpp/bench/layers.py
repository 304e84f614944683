"""What the benchmark times: the layer suite (``SUITE``, NHWC, SAME padding) and the SliceNet rows
(1-D, CAUSAL, super-separable with g groups).

Both kinds of case offer the same face to the runners (runner.py): ``name``, ``flops``, ``bytes``,
``describe()`` (the fields that open a result row) and ``data(seed)`` (input, depthwise filter,
pointwise filter, float32, from a seed and the case's name). A new kind of row (backward, another
dtype) is another class with that face.
"""

from __future__ import annotations

import math
import sys
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

# --------------------------------------------------------------------------------------------
# The layer suite (a copy of the project's shared suite, so the package stands alone; ``--suite FILE``
# loads another file that defines ``SUITE`` in the same form).
# Each entry: name, (N, H, W, C), kernel (kh, kw), stride, dilation, depth multiplier, out channels.

SUITE = [
    # MobileNetV1 224x224, batch 1 (latency)
    ("mnv1_112x32_s1", (1, 112, 112, 32), (3, 3), 1, 1, 1, 64),
    ("mnv1_112x64_s2", (1, 112, 112, 64), (3, 3), 2, 1, 1, 128),
    ("mnv1_56x128_s1", (1, 56, 56, 128), (3, 3), 1, 1, 1, 128),
    ("mnv1_28x256_s1", (1, 28, 28, 256), (3, 3), 1, 1, 1, 256),
    ("mnv1_14x512_s1", (1, 14, 14, 512), (3, 3), 1, 1, 1, 512),
    ("mnv1_7x1024_s1", (1, 7, 7, 1024), (3, 3), 1, 1, 1, 1024),
    # throughput: batch 8
    ("mnv1_56x128_b8", (8, 56, 56, 128), (3, 3), 1, 1, 1, 128),
    # Xception middle flow
    ("xception_19x728", (1, 19, 19, 728), (3, 3), 1, 1, 1, 728),
    # EfficientNet-style 5x5, ConvNeXt-style 7x7
    ("effnet_28x240_k5", (1, 28, 28, 240), (5, 5), 1, 1, 1, 80),
    ("convnext_56x96_k7", (1, 56, 56, 96), (7, 7), 1, 1, 1, 384),
    # depth multiplier 2
    ("mult2_28x64", (1, 28, 28, 64), (3, 3), 1, 1, 2, 128),
    # SliceNet-style 1-D sequence convolutions (batch 8, 256 tokens, 1024 channels)
    ("slicenet_1d_k3", (8, 1, 256, 1024), (1, 3), 1, 1, 1, 1024),
    ("slicenet_1d_k3_d4", (8, 1, 256, 1024), (1, 3), 1, 4, 1, 1024),
    ("slicenet_1d_k15", (8, 1, 256, 512), (1, 15), 1, 1, 1, 512),
]


def _same(size: int, k: int, s: int, d: int) -> Tuple[int, int, int]:
    """TensorFlow's SAME padding: (output size, padding before, padding after)."""
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return out, total // 2, total - total // 2


def _seeded(seed: int, name: str) -> np.random.Generator:
    """The generator of a case's data: the same numbers for the same seed and name in every run."""
    return np.random.default_rng(seed + zlib.crc32(name.encode()))


@dataclass
class Layer:
    """A suite layer: separable convolution, NHWC, float32, SAME padding."""

    name: str
    shape: Tuple[int, int, int, int]  # N, H, W, C
    kernel: Tuple[int, int]
    stride: int
    dilation: int
    mult: int
    out_channels: int
    oh: int = field(init=False)
    ow: int = field(init=False)
    pads: Tuple[int, int, int, int] = field(init=False)  # top, bottom, left, right

    def __post_init__(self) -> None:
        n, h, w, c = self.shape
        kh, kw = self.kernel
        self.oh, pt, pb = _same(h, kh, self.stride, self.dilation)
        self.ow, pl, pr = _same(w, kw, self.stride, self.dilation)
        self.pads = (pt, pb, pl, pr)

    @classmethod
    def from_entry(cls, e) -> "Layer":
        name, shape, kernel, stride, dilation, mult, out = e
        return cls(str(name), tuple(int(v) for v in shape), tuple(int(v) for v in kernel), int(stride),
                   int(dilation), int(mult), int(out))

    @property
    def out_shape(self) -> Tuple[int, int, int, int]:
        return (self.shape[0], self.oh, self.ow, self.out_channels)

    @property
    def flops(self) -> int:
        """2*N*OH*OW*C*M*(kh*kw) (depthwise) + 2*N*OH*OW*C*M*O (pointwise)."""
        n, _, _, c = self.shape
        kh, kw = self.kernel
        pix = n * self.oh * self.ow * c * self.mult
        return 2 * pix * kh * kw + 2 * pix * self.out_channels

    @property
    def bytes(self) -> int:
        """Compulsory memory traffic of a fused separable call: input, output and filters, once."""
        n, h, w, c = self.shape
        kh, kw = self.kernel
        cm = c * self.mult
        return 4 * (n * h * w * c + n * self.oh * self.ow * self.out_channels + kh * kw * cm
                    + cm * self.out_channels)

    def describe(self) -> Dict[str, Any]:
        """The fields that open each of this layer's result rows."""
        return {"layer": self.name, "input_shape": list(self.shape), "kernel": list(self.kernel),
                "stride": self.stride, "dilation": self.dilation, "depth_multiplier": self.mult,
                "out_channels": self.out_channels, "output_shape": list(self.out_shape)}

    def data(self, seed: int = 0):
        """Input, depthwise filter [kh, kw, C, M] and pointwise filter [1, 1, C*M, O]; fixed seed."""
        rng = _seeded(seed, self.name)
        n, h, w, c = self.shape
        kh, kw = self.kernel
        x = rng.standard_normal(self.shape, dtype=np.float32)
        dw = (rng.standard_normal((kh, kw, c, self.mult), dtype=np.float32) / math.sqrt(kh * kw))
        pw = (rng.standard_normal((1, 1, c * self.mult, self.out_channels), dtype=np.float32)
              / math.sqrt(c * self.mult))
        return x, dw.astype(np.float32), pw.astype(np.float32)


def load_suite(path: Optional[str] = None) -> List[Layer]:
    """The built-in suite, or the ``SUITE`` a Python file defines."""
    entries = SUITE
    if path:
        namespace: Dict[str, Any] = {}
        with open(path, encoding="utf-8") as f:
            exec(compile(f.read(), path, "exec"), namespace)  # noqa: S102 - a trusted local file
        entries = namespace["SUITE"]
    return [Layer.from_entry(e) for e in entries]


def select_layers(suite: List[Layer], spec: Optional[str]) -> Optional[List[Layer]]:
    """The layers --layers names (all of the suite without it); None, after saying why, for an
    unknown name."""
    if not spec:
        return suite
    by_name = {layer.name: layer for layer in suite}
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in by_name]
    if unknown:
        print(f"--layers: unknown {', '.join(unknown)}; known: {', '.join(by_name)}", file=sys.stderr)
        return None
    return [by_name[n] for n in names]


# --------------------------------------------------------------------------------------------
# SliceNet rows (--slicenet): the 1-D sequence convolutions of the paper behind sepcpp (Kaiser,
# Gomez, Chollet 2017): batch 8, 256 tokens, 512-1024 channels, windows 3 to 63, CAUSAL padding,
# and super-separable convolutions whose pointwise step is split into g groups. Out channels = C,
# depth multiplier 1, stride 1, dilation 1, float32, NWC.

SLICENET_BATCH = 8
SLICENET_LENGTH = 256
SLICENET_CHANNELS = (512, 768, 1024)
SLICENET_WINDOWS = (3, 7, 15, 31, 63)
SLICENET_GROUPS = (1, 2, 3)  # a row for each g that divides C


@dataclass
class SliceNetRow:
    """A SliceNet row: causal super-separable 1-D convolution, NWC, float32, O = C."""

    batch: int
    length: int
    channels: int
    window: int
    groups: int

    @property
    def name(self) -> str:
        return f"slicenet_c{self.channels}_k{self.window}_g{self.groups}"

    @property
    def out_channels(self) -> int:
        return self.channels

    @property
    def shape(self) -> Tuple[int, int, int]:
        return (self.batch, self.length, self.channels)

    @property
    def out_shape(self) -> Tuple[int, int, int]:
        return (self.batch, self.length, self.out_channels)  # CAUSAL, stride 1: same length

    @property
    def flops(self) -> int:
        """2*N*W*C*k (depthwise) + 2*N*W*C*O/g (grouped pointwise)."""
        pix = self.batch * self.length * self.channels
        return 2 * pix * self.window + 2 * pix * self.out_channels // self.groups

    @property
    def bytes(self) -> int:
        """Compulsory memory traffic of a fused call: input, output and filters, once."""
        n, w, c = self.shape
        return 4 * (n * w * c + n * w * self.out_channels + self.window * c
                    + c * self.out_channels // self.groups)

    def describe(self) -> Dict[str, Any]:
        """The fields that open each of this row's result rows."""
        return {"layer": self.name, "batch": self.batch, "length": self.length, "channels": self.channels,
                "window": self.window, "groups": self.groups, "padding": "CAUSAL",
                "input_shape": list(self.shape), "output_shape": list(self.out_shape),
                "out_channels": self.out_channels}

    def data(self, seed: int = 0):
        """Input [N, W, C], depthwise filter [k, C, 1], pointwise filter [1, C/g, O]; fixed seed."""
        rng = _seeded(seed, self.name)
        c, k, g = self.channels, self.window, self.groups
        x = rng.standard_normal(self.shape, dtype=np.float32)
        dw = rng.standard_normal((k, c, 1), dtype=np.float32) * np.float32(1 / math.sqrt(k))
        pw = rng.standard_normal((1, c // g, self.out_channels), dtype=np.float32) * np.float32(
            1 / math.sqrt(c // g))
        return x, dw, pw


def slicenet_rows(channels=SLICENET_CHANNELS, windows=SLICENET_WINDOWS, groups=SLICENET_GROUPS,
                  batch: int = SLICENET_BATCH, length: int = SLICENET_LENGTH) -> List[SliceNetRow]:
    """The rows, ordered C, then k, then g (so each (C, k) has its g=1 row first); a g that does
    not divide C has no row."""
    return [SliceNetRow(int(batch), int(length), int(c), int(k), int(g))
            for c in channels for k in windows for g in sorted(set(groups)) if c % g == 0]
