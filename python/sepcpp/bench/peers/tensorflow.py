"""The TensorFlow peer: ``tf.nn.separable_conv2d`` in a ``tf.function`` with a fixed input signature
(suite layers); for the SliceNet rows, the paper's definition (left pad, ``depthwise_conv2d``,
grouped pointwise) in one ``tf.function``.

TensorFlow's intra-op pool is set to all threads before it starts and is fixed from then on: TF runs
with the same threads in every row, and rows with fewer threads leave it out of their ratios.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Dict, List

import numpy as np

from ..layers import Layer, SliceNetRow
from ..measure import TOLERANCE, all_threads, rel_diff
from . import NA, NOT_IMPORTABLE, Peer, Prepared, quiet_fds

_TF: Dict[str, Any] = {}  # the module (or None), once per process, and how its threads were set


def import_tf(n_threads: int):
    """TensorFlow, imported once, its intra-op pool set to `n_threads` before it starts."""
    if "module" in _TF:
        return _TF["module"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    already = "tensorflow" in sys.modules
    try:
        with quiet_fds():  # TF's C++ logging at import time bypasses TF_CPP_MIN_LOG_LEVEL
            import tensorflow as tf
    except Exception as e:  # noqa: BLE001 - any import failure means "not available"
        _TF["module"] = None
        _TF["error"] = f"{type(e).__name__}: {e}"
        return None
    _TF["module"] = tf
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n_threads)
        _TF["threads_note"] = f"TF intra-op threads set to {n_threads}"
    except RuntimeError:  # TF had started already: its pools are fixed
        _TF["threads_note"] = "TF had started before the benchmark; its thread count was left as it was"
    if already:
        _TF["threads_note"] += " (TF was imported before the benchmark)"
    n = tf.config.threading.get_intra_op_parallelism_threads()
    _TF["threads"] = n if n > 0 else n_threads
    return tf


def setup_layer(layer: Layer, x, dw, pw, n_threads: int) -> Prepared:
    tf = import_tf(n_threads)
    if tf is None:
        raise NA(NOT_IMPORTABLE)
    s, d = layer.stride, layer.dilation
    if s > 1 and d > 1:
        raise NA("TF refuses stride > 1 with dilation > 1")
    dwt, pwt = tf.constant(dw), tf.constant(pw)
    xt = tf.constant(x)

    @tf.function(input_signature=[tf.TensorSpec(x.shape, tf.float32)])
    def f(inp):
        return tf.nn.separable_conv2d(inp, dwt, pwt, [1, s, s, 1], "SAME", dilations=[d, d])

    f(xt)  # trace outside the timing
    return Prepared(lambda: f(xt).numpy())


def setup_slicenet(row: SliceNetRow, x, dw, pw, n_threads: int, try_grouped: bool = True) -> Prepared:
    """The paper's definition in one tf.function: tf.pad on the left, tf.nn.depthwise_conv2d on the
    H == 1 view, then the grouped pointwise step, as tf.nn.conv1d over C/g input channels (grouped
    convolution) where this TensorFlow runs it on the CPU and it agrees with the split / per-group
    conv1d / concat form, else (or with ``try_grouped=False``) as that split / conv1d / concat
    (tensor2tensor's way)."""
    tf = import_tf(n_threads)
    if tf is None:
        raise NA(NOT_IMPORTABLE)
    k, g = row.window, row.groups
    dwt = tf.constant(dw[None])  # [1, k, C, 1]
    spec = [tf.TensorSpec(x.shape, tf.float32)]
    xt = tf.constant(x)

    def depthwise(a):
        a = tf.pad(a, [[0, 0], [k - 1, 0], [0, 0]])
        return tf.nn.depthwise_conv2d(a[:, None], dwt, [1, 1, 1, 1], "VALID")[:, 0]

    pw_parts = [tf.constant(p) for p in np.split(pw, g, axis=2)]  # group i: outputs [i*O/g, (i+1)*O/g)

    @tf.function(input_signature=spec)
    def split_concat(a):
        d = depthwise(a)
        if g == 1:
            return tf.nn.conv1d(d, pw_parts[0], 1, "VALID")
        parts = tf.split(d, g, axis=-1)
        return tf.concat([tf.nn.conv1d(p, w, 1, "VALID") for p, w in zip(parts, pw_parts)], axis=-1)

    want = split_concat(xt).numpy()  # traces outside the timing
    if g == 1:
        return Prepared(lambda: split_concat(xt).numpy(), np.asarray, {"pointwise": "conv1d"})
    if not try_grouped:
        return Prepared(lambda: split_concat(xt).numpy(), np.asarray, {"pointwise": "split/conv1d/concat"})
    pwt = tf.constant(pw)  # [1, C/g, O]: conv1d infers the groups from C / (C/g)

    @tf.function(input_signature=spec)
    def grouped(a):
        return tf.nn.conv1d(depthwise(a), pwt, 1, "VALID")

    try:
        got = grouped(xt).numpy()
        ok = got.shape == want.shape and rel_diff(want, got) < TOLERANCE
        why = "disagrees with split/concat"
    except Exception as e:  # noqa: BLE001 - e.g. "Grouped convolution is not supported on CPU"
        ok, why = False, f"{type(e).__name__}"
    if ok:
        return Prepared(lambda: grouped(xt).numpy(), np.asarray, {"pointwise": "grouped conv1d"})
    return Prepared(lambda: split_concat(xt).numpy(), np.asarray,
                    {"pointwise": "split/conv1d/concat", "grouped_conv1d": why})


class TensorFlowPeer(Peer):
    def __init__(self, name: str = "tf") -> None:
        super().__init__()
        self.name = name
        self._pointwise: Dict[str, List[str]] = {}  # SliceNet g > 1 rows: how TF ran the pointwise step

    def setup(self, case, x, dw, pw, threads: int) -> Prepared:
        if isinstance(case, SliceNetRow):
            p = self._checked(setup_slicenet, case, x, dw, pw)
            if case.groups > 1:
                self._pointwise.setdefault(p.info["pointwise"], []).append(case.name)
            return p
        if isinstance(case, Layer):
            return self._checked(setup_layer, case, x, dw, pw)
        raise NA(f"no implementation of {type(case).__name__}")

    def _checked(self, setup, case, x, dw, pw) -> Prepared:
        try:
            return setup(case, x, dw, pw, all_threads())
        except NA as e:
            if str(e) == NOT_IMPORTABLE:
                error = _TF.get("error")
                self.unavailable = f"{NOT_IMPORTABLE} ({error})" if error else NOT_IMPORTABLE
            raise

    def fixed_threads(self):
        return _TF.get("threads", all_threads()) if _TF.get("module") is not None else None

    def notes(self, thread_counts):
        if _TF.get("module") is None:
            return []
        out = [f"tf: pointwise step as {how} in {len(names)} of the g > 1 rows"
               for how, names in self._pointwise.items()]
        tft = self.fixed_threads()
        if any(n != tft for n in thread_counts):
            out.append(f"* TF runs with {tft} thread(s) in every row (its thread pool is fixed once it has "
                       f"started); it is left out of the ratio in rows with another thread count")
        out.append(_TF.get("threads_note", ""))
        return out
