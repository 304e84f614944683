"""The PyTorch peers: ``F.conv2d(groups=C)`` then a 1x1 ``F.conv2d`` under ``torch.no_grad()``, on an
NCHW-contiguous input (``torch-nchw``) and on a channels_last input, weights likewise
(``torch-cl``); for the SliceNet rows (``torch``), ``F.pad``, ``F.conv1d(groups=C)`` and a 1x1
``F.conv1d(groups=g)`` on an NCW input. Threads: ``torch.set_num_threads`` per measurement."""

from __future__ import annotations

from typing import Optional

import numpy as np

from ..layers import Layer, SliceNetRow
from . import NA, NOT_IMPORTABLE, Peer, Prepared


def import_torch():
    """PyTorch, or None where it does not import."""
    try:
        import torch
    except Exception:  # noqa: BLE001 - any import failure means "not available"
        return None
    return torch


def setup_layer(layer: Layer, x, dw, pw, channels_last: bool) -> Prepared:
    torch = import_torch()
    if torch is None:
        raise NA(NOT_IMPORTABLE)
    import torch.nn.functional as F

    n, h, w, c = layer.shape
    kh, kw = layer.kernel
    cm = c * layer.mult
    s, d = layer.stride, layer.dilation
    pt, pb, pl, pr = layer.pads
    # TF [kh, kw, C, M] -> torch [C*M, 1, kh, kw] (output channel c*M + m reads input channel c).
    wd = torch.from_numpy(np.ascontiguousarray(dw.transpose(2, 3, 0, 1).reshape(cm, 1, kh, kw)))
    wp = torch.from_numpy(np.ascontiguousarray(pw[0, 0].T.reshape(-1, cm, 1, 1)))
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)  # an NHWC buffer is channels_last already
    if channels_last:
        fmt = torch.channels_last
        wd, wp, xt = wd.contiguous(memory_format=fmt), wp.contiguous(memory_format=fmt), xt.contiguous(
            memory_format=fmt)
    else:
        xt = xt.contiguous()
    symmetric = pt == pb and pl == pr

    def call():
        with torch.no_grad():
            if symmetric:
                y = F.conv2d(xt, wd, None, s, (pt, pl), d, c)
            else:
                y = F.conv2d(F.pad(xt, (pl, pr, pt, pb)), wd, None, s, 0, d, c)
            return F.conv2d(y, wp)

    return Prepared(call, lambda y: y.permute(0, 2, 3, 1).numpy())


def setup_slicenet(row: SliceNetRow, x, dw, pw) -> Prepared:
    """F.pad on the left, F.conv1d(groups=C) (depthwise), F.conv1d 1x1 with groups=g; NCW contiguous."""
    torch = import_torch()
    if torch is None:
        raise NA(NOT_IMPORTABLE)
    import torch.nn.functional as F

    c, k, g = row.channels, row.window, row.groups
    wd = torch.from_numpy(np.ascontiguousarray(dw[:, :, 0].T[:, None, :]))  # [C, 1, k]
    wp = torch.from_numpy(np.ascontiguousarray(pw[0].T[:, :, None]))  # [O, C/g, 1]
    xt = torch.from_numpy(x).permute(0, 2, 1).contiguous()  # NCW

    def call():
        with torch.no_grad():
            y = F.conv1d(F.pad(xt, (k - 1, 0)), wd, None, 1, 0, 1, c)
            return F.conv1d(y, wp, None, 1, 0, 1, g)

    return Prepared(call, lambda y: y.permute(0, 2, 1).numpy(), {"layout": "NCW"})


class TorchPeer(Peer):
    def __init__(self, name: str = "torch-cl") -> None:
        super().__init__()
        self.name = name
        self._default: Optional[int] = None  # torch's thread count before the first threads()

    def setup(self, case, x, dw, pw, threads: int) -> Prepared:
        if import_torch() is None:
            self.importable("torch")  # records the import error
            raise NA(NOT_IMPORTABLE)
        if isinstance(case, SliceNetRow):
            return setup_slicenet(case, x, dw, pw)
        if isinstance(case, Layer):
            return setup_layer(case, x, dw, pw, self.name == "torch-cl")
        raise NA(f"no implementation of {type(case).__name__}")

    def threads(self, n: int):
        torch = import_torch()
        if torch is not None:
            if self._default is None:
                self._default = torch.get_num_threads()
            torch.set_num_threads(n)
        return super().threads(n)

    def restore(self) -> None:
        if self._default is not None:
            import_torch().set_num_threads(self._default)
