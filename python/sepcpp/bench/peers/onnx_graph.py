"""The ONNX graph of one case, built here with onnx.helper (no file), for the engines that run ONNX
(ONNX Runtime, OpenVINO): a depthwise Conv (group = C) then a 1x1 Conv (group = g for the SliceNet
rows), on NCHW data, the filters as initializers. A 1-D row is the H == 1 image [N, C, 1, W].

``separable_model`` returns the serialized model and the two conversions the timing leaves out:
sepcpp's input to the graph's (NHWC -> NCHW, done once at setup) and the graph's output to sepcpp's
layout (for the check)."""

from __future__ import annotations

from typing import Callable, Tuple

import numpy as np

from ..layers import Layer, SliceNetRow
from . import NA

OPSET = 13  # Conv is unchanged since opset 11; every engine here reads 13
IR_VERSION = 8  # the IR of opset 13, read by older engines too


def _conv_attrs(kernel, pads, strides, dilations, group):
    return {"kernel_shape": list(kernel), "pads": list(pads), "strides": list(strides),
            "dilations": list(dilations), "group": int(group)}


def separable_model(case, x, dw, pw) -> Tuple[bytes, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """(serialized ModelProto, the input as the graph takes it, output -> sepcpp's layout)."""
    from onnx import TensorProto, checker, helper, numpy_helper

    if isinstance(case, Layer):
        n, h, w, c = case.shape
        kh, kw = case.kernel
        cm, o = c * case.mult, case.out_channels
        pt, pb, pl, pr = case.pads
        s, d = case.stride, case.dilation
        # TF [kh, kw, C, M] -> [C*M, 1, kh, kw] (output channel c*M + m reads input channel c).
        wd = dw.transpose(2, 3, 0, 1).reshape(cm, 1, kh, kw)
        wp = pw[0, 0].T.reshape(o, cm, 1, 1)
        dw_attrs = _conv_attrs((kh, kw), (pt, pl, pb, pr), (s, s), (d, d), c)
        pw_group = 1
        xin = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        out_shape = [n, o, case.oh, case.ow]

        def to_ref(y):
            return np.asarray(y).transpose(0, 2, 3, 1)
    elif isinstance(case, SliceNetRow):
        n, w, c = case.shape
        k, g, o = case.window, case.groups, case.out_channels
        wd = dw[:, :, 0].T.reshape(c, 1, 1, k)  # [k, C, 1] -> [C, 1, 1, k]
        wp = pw[0].T.reshape(o, c // g, 1, 1)  # [1, C/g, O] -> [O, C/g, 1, 1]
        dw_attrs = _conv_attrs((1, k), (0, k - 1, 0, 0), (1, 1), (1, 1), c)  # CAUSAL: k-1 on the left
        pw_group = g
        xin = np.ascontiguousarray(x.transpose(0, 2, 1)[:, :, None, :])
        out_shape = [n, o, 1, w]

        def to_ref(y):
            return np.asarray(y)[:, :, 0, :].transpose(0, 2, 1)
    else:
        raise NA(f"no ONNX graph for {type(case).__name__}")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w_depthwise"], ["depthwise"], **dw_attrs),
         helper.make_node("Conv", ["depthwise", "w_pointwise"], ["y"], kernel_shape=[1, 1], group=pw_group)],
        "separable",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(xin.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(np.ascontiguousarray(wd, np.float32), "w_depthwise"),
                     numpy_helper.from_array(np.ascontiguousarray(wp, np.float32), "w_pointwise")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                              producer_name="sepcpp.bench")
    checker.check_model(model)
    return model.SerializeToString(), xin, to_ref
