"""sepcpp itself, set up like its peers: the prepacked layer (SeparableConv2D) by default, or the
functional call; its result is the reference every peer is checked against."""

from __future__ import annotations

import numpy as np

from ..layers import Layer, SliceNetRow
from . import NA, Peer, Prepared


def resolve_api(mode: str) -> str:
    """--api auto|layer|functional -> the entry point timed: "SeparableConv2D" (the prepacked
    layer, where this sepcpp has it) or "separable_conv2d"."""
    import sepcpp

    if mode == "functional":
        return "separable_conv2d"
    if hasattr(sepcpp, "SeparableConv2D"):
        return "SeparableConv2D"
    if mode == "layer":
        raise SystemExit("--api layer: this sepcpp has no SeparableConv2D")
    return "separable_conv2d"


def setup_layer(layer: Layer, x, dw, pw, api: str) -> Prepared:
    import sepcpp

    s, d = layer.stride, layer.dilation
    if api == "SeparableConv2D":
        try:
            op = sepcpp.SeparableConv2D(dw, pw, s, "SAME", dilations=d)
        except TypeError:  # a signature without the dilations keyword
            if d != 1:
                raise
            op = sepcpp.SeparableConv2D(dw, pw, s, "SAME")
        return Prepared(lambda: op(x))
    return Prepared(lambda: sepcpp.separable_conv2d(x, dw, pw, s, "SAME", dilations=d))


def setup_slicenet(row: SliceNetRow, x, dw, pw, api: str) -> Prepared:
    """The prepacked layer (built here, outside the timing): SeparableConv2D on the H == 1 view of
    the input, CAUSAL as explicit left padding (k-1); or the functional super_separable_conv1d."""
    import sepcpp

    k, g = row.window, row.groups
    if api == "SeparableConv2D":
        op = sepcpp.SeparableConv2D(dw[None], pw[None], 1, [[0, 0], [0, 0], [k - 1, 0], [0, 0]], groups=g)
        x4 = x[:, None]  # [N, 1, W, C], a view
        return Prepared(lambda: op(x4), lambda y: np.asarray(y)[:, 0], {"api": "SeparableConv2D"})
    return Prepared(lambda: sepcpp.super_separable_conv1d(x, dw, pw, g, 1, "CAUSAL"), np.asarray,
                    {"api": "super_separable_conv1d"})


class SepcppImpl(Peer):
    name = "sepcpp"

    def __init__(self, api: str = "SeparableConv2D") -> None:
        super().__init__()
        self.api = api

    def setup(self, case, x, dw, pw, threads: int) -> Prepared:
        if isinstance(case, SliceNetRow):
            return setup_slicenet(case, x, dw, pw, self.api)
        if isinstance(case, Layer):
            return setup_layer(case, x, dw, pw, self.api)
        raise NA(f"no implementation of {type(case).__name__}")

    def threads(self, n: int):
        import sepcpp

        sepcpp.set_num_threads(n)
        return super().threads(n)

    def restore(self) -> None:
        import sepcpp

        sepcpp.set_num_threads(0)
