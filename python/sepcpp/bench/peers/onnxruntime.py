"""The ONNX Runtime peer (its CPU execution provider, MLAS kernels): the case's ONNX graph
(onnx_graph.py) in an InferenceSession made per thread count, intra-op threads set to the row's,
one inter-op thread, and spinning off (allow_spinning = 0 for both pools, so that its idle workers
do not take the cores from the next library timed)."""

from __future__ import annotations

from typing import Optional

from . import NA, NOT_IMPORTABLE, Peer, Prepared
from .onnx_graph import separable_model


class OnnxRuntimePeer(Peer):
    engine = True
    threads_at_setup = True

    def __init__(self, name: str = "onnxruntime") -> None:
        super().__init__()
        self.name = name
        self._ort = None
        self._model: Optional[tuple] = None  # (case name, model, input, to_ref): one graph per case

    def setup(self, case, x, dw, pw, threads: int) -> Prepared:
        if self._ort is None:
            if self.importable("onnx") is None:
                raise NA(NOT_IMPORTABLE)
            self._ort = self.importable("onnxruntime")
            if self._ort is None:
                raise NA(NOT_IMPORTABLE)
        ort = self._ort
        if self._model is None or self._model[0] != case.name:
            self._model = (case.name, *separable_model(case, x, dw, pw))
        _, model, xin, to_ref = self._model
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.add_session_config_entry("session.inter_op.allow_spinning", "0")
        so.log_severity_level = 3
        sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
        feed = {"x": xin}
        return Prepared(lambda: sess.run(None, feed)[0], to_ref)

    def notes(self, thread_counts):
        if self._ort is None:
            return []
        return [f"onnxruntime {self._ort.__version__}: ONNX graph (depthwise Conv group=C, 1x1 Conv) on "
                "NCHW, CPU provider, intra-op threads = the row's, spinning off"]
