"""The OpenVINO peer (its CPU plugin, oneDNN kernels): the case's ONNX graph (onnx_graph.py) read
from memory and compiled per thread count with INFERENCE_NUM_THREADS = the row's, f32 inference
precision (no bf16 downcast on CPUs that have it), the latency hint, and no CPU pinning (pinning
would bind the calling thread too, and with it every library timed after OpenVINO)."""

from __future__ import annotations

from typing import Optional

from . import NA, NOT_IMPORTABLE, Peer, Prepared
from .onnx_graph import separable_model


class OpenVINOPeer(Peer):
    engine = True
    threads_at_setup = True

    def __init__(self, name: str = "openvino") -> None:
        super().__init__()
        self.name = name
        self._ov = None
        self._core = None
        self._model: Optional[tuple] = None  # (case name, ov.Model, input, to_ref)

    def setup(self, case, x, dw, pw, threads: int) -> Prepared:
        if self._ov is None:
            if self.importable("onnx") is None:
                raise NA(NOT_IMPORTABLE)
            self._ov = self.importable("openvino")
            if self._ov is None:
                raise NA(NOT_IMPORTABLE)
            self._core = self._ov.Core()
        if self._model is None or self._model[0] != case.name:
            model, xin, to_ref = separable_model(case, x, dw, pw)
            self._model = (case.name, self._core.read_model(model), xin, to_ref)
        _, model, xin, to_ref = self._model
        config = {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32",
                  "PERFORMANCE_HINT": "LATENCY", "ENABLE_CPU_PINNING": False}
        compiled = self._core.compile_model(model, "CPU", config)
        request = compiled.create_infer_request()
        feed = {0: xin}

        def call():
            return request.infer(feed, share_inputs=True, share_outputs=True)[0]

        return Prepared(call, lambda y: to_ref(y).copy())

    def notes(self, thread_counts):
        if self._ov is None:
            return []
        from ..measure import version

        return [f"openvino {version('openvino')}: the same ONNX graph, CPU plugin, INFERENCE_NUM_THREADS = "
                "the row's, f32 precision, latency hint, no pinning"]
