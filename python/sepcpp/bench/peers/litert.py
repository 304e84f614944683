"""The LiteRT peer (ai-edge-litert, with its default XNNPACK delegate): the .tflite model of each
suite layer made here by TensorFlow's converter from ``tf.nn.separable_conv2d`` in a tf.function
(``tf.lite.TFLiteConverter.from_concrete_functions``), run by an ``Interpreter`` made per thread
count with ``num_threads`` = the row's. Each timed call sets the input, invokes and reads the output
(copies, as the Interpreter's API does). NHWC, like sepcpp."""

from __future__ import annotations

from typing import Optional

from ..layers import Layer
from . import NA, NOT_IMPORTABLE, Peer, Prepared, quiet_fds
from .tensorflow import import_tf


class LiteRTPeer(Peer):
    engine = True
    threads_at_setup = True

    def __init__(self, name: str = "litert") -> None:
        super().__init__()
        self.name = name
        self._interpreter = None
        self._model: Optional[tuple] = None  # (case name, .tflite bytes)

    def _convert(self, layer: Layer, x, dw, pw) -> bytes:
        from ..measure import all_threads

        tf = import_tf(all_threads())
        if tf is None:
            raise NA("needs TensorFlow's converter, which is not importable")
        s, d = layer.stride, layer.dilation
        if s > 1 and d > 1:
            raise NA("TF refuses stride > 1 with dilation > 1")
        dwt, pwt = tf.constant(dw), tf.constant(pw)

        @tf.function(input_signature=[tf.TensorSpec(x.shape, tf.float32)])
        def f(inp):
            return tf.nn.separable_conv2d(inp, dwt, pwt, [1, s, s, 1], "SAME", dilations=[d, d])

        with quiet_fds():  # the converter logs through C++
            return tf.lite.TFLiteConverter.from_concrete_functions([f.get_concrete_function()], f).convert()

    def setup(self, case, x, dw, pw, threads: int) -> Prepared:
        if not isinstance(case, Layer):
            raise NA(f"no implementation of {type(case).__name__}")
        if self._interpreter is None:
            module = self.importable("ai_edge_litert.interpreter")
            if module is None:
                raise NA(NOT_IMPORTABLE)
            self._interpreter = module.Interpreter
        if self._model is None or self._model[0] != case.name:
            self._model = (case.name, self._convert(case, x, dw, pw))
        with quiet_fds():  # "Created TensorFlow Lite XNNPACK delegate" on stderr
            it = self._interpreter(model_content=self._model[1], num_threads=threads)
            it.allocate_tensors()
        i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]

        def call():
            it.set_tensor(i, x)
            it.invoke()
            return it.get_tensor(o)

        return Prepared(call)

    def notes(self, thread_counts):
        if self._interpreter is None:
            return []
        from ..measure import version

        return [f"litert {version('ai-edge-litert')}: .tflite from TF's converter, XNNPACK delegate, "
                "num_threads = the row's"]
