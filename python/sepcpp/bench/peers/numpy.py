"""The NumPy peer: a naive but reasonable separable convolution (depthwise as a sum of shifted,
strided slices times the weights; pointwise as one matmul), its BLAS threads set through
threadpoolctl where installed. Skipped for layers where one call takes over a second."""

from __future__ import annotations

import numpy as np

from ..layers import Layer
from . import NA, Peer, Prepared

NUMPY_LIMIT_S = 1.0  # NumPy is skipped for layers where one call takes longer


def numpy_separable(x, dw, pw, stride, dilation, pads):
    """The NumPy peer: depthwise as a sum over taps of strided slices times the tap's weights,
    then the pointwise step as one matmul."""
    n, h, w, c = x.shape
    kh, kw, _, m = dw.shape
    pt, pb, pl, pr = pads
    oh = (h + pt + pb - (kh - 1) * dilation - 1) // stride + 1
    ow = (w + pl + pr - (kw - 1) * dilation - 1) // stride + 1
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0))) if any(pads) else x
    acc = np.zeros((n, oh, ow, c, m), np.float32)
    tmp = np.empty_like(acc)
    for i in range(kh):
        for j in range(kw):
            y0, x0 = i * dilation, j * dilation
            sl = xp[:, y0:y0 + (oh - 1) * stride + 1:stride, x0:x0 + (ow - 1) * stride + 1:stride, :, None]
            np.multiply(sl, dw[i, j], out=tmp)
            acc += tmp
    y = acc.reshape(n * oh * ow, c * m) @ pw.reshape(c * m, -1)
    return y.reshape(n, oh, ow, -1)


class NumPyPeer(Peer):
    skip_over_s = NUMPY_LIMIT_S

    def __init__(self, name: str = "numpy") -> None:
        super().__init__()
        self.name = name
        try:
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits
        except ImportError:
            self._limits = None

    def setup(self, case, x, dw, pw, threads: int) -> Prepared:
        if not isinstance(case, Layer):
            raise NA(f"no implementation of {type(case).__name__}")
        return Prepared(lambda: numpy_separable(x, dw, pw, case.stride, case.dilation, case.pads))

    def threads(self, n: int):
        if self._limits is None:
            return super().threads(n)
        return self._limits(limits=n, user_api="blas")

    def notes(self, thread_counts):
        if self._limits is None:
            return ["threadpoolctl not installed: NumPy's BLAS threads were not controlled"]
        return []
