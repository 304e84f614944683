"""sepcpp's benchmark: the separable-convolution layer suite, timed against its peers.

Run it as ``python -m sepcpp bench [options]`` (or ``sepcpp bench``, ``python benchmarks/bench.py``);
``--help`` lists the options. For every layer of the suite (NHWC, float32, SAME padding) it times
sepcpp's separable convolution and, in the same process on the same data, the peers that are
importable:

* ``numpy``: a naive but reasonable implementation (depthwise as a sum of shifted, strided slices
  times the weights; pointwise as one matmul). Skipped for layers where one call takes over a second.
* ``tf``: ``tf.nn.separable_conv2d`` in a ``tf.function`` with a fixed input signature.
* ``torch-nchw`` / ``torch-cl``: ``F.conv2d(groups=C)`` then a 1x1 ``F.conv2d``, on an NCHW-contiguous
  input and on a channels_last input (weights likewise), under ``torch.no_grad()``.
* the inference engines, each a prepared session per thread count: ``onnxruntime`` and ``openvino``
  (an ONNX graph built here: depthwise Conv with group = C, then a 1x1 Conv; ONNX Runtime with
  spinning off, OpenVINO with INFERENCE_NUM_THREADS and f32 precision) and ``litert`` (a .tflite
  model from TensorFlow's converter on ``tf.nn.separable_conv2d``, its XNNPACK delegate, num_threads).

Every peer's output is checked against sepcpp's (max abs difference relative to the output's scale,
below 1e-3); a peer that disagrees is reported as MISMATCH and left out of the ratios.

Timing is warm-up calls, then the median of ``--repeat`` calls measured with ``time.perf_counter``
(fewer calls, but at least 3, where one call is slow). Each layer runs with every thread count of
``--threads``. TensorFlow's thread pool is fixed once it has started, so TF runs with the same
threads in every row; in rows with fewer threads it is shown (marked ``*``) but left out of the ratio.

``--slicenet`` times, instead of the suite, the 1-D rows of the paper behind sepcpp (SliceNet):
batch 8, length 256, channels 512/768/1024, windows 3 to 63, CAUSAL padding, super-separable with
g = 1, 2 and 3 groups (where g divides C); sepcpp's prepacked ``SeparableConv2D(groups=g)`` against
TensorFlow (left pad, ``depthwise_conv2d``, grouped pointwise as a grouped ``conv1d`` or as
split / per-group ``conv1d`` / concat, in one ``tf.function``) and PyTorch (``F.pad``,
``F.conv1d(groups=C)``, 1x1 ``F.conv1d(groups=g)``, NCW), ONNX Runtime and OpenVINO (the ONNX graph
with a grouped 1x1 Conv). Threads: all by default. Beside each g > 1
row: sepcpp's speed-up over g=1; g=2 rows of C=1024 below 1.6x are flagged.

``--under-load`` (tail latency with one core busy), ``--call-overhead``, ``--dask`` and ``--bfloat16``
(the suite in bfloat16 against float32 and PyTorch's bfloat16) are the other modes.

The package: ``layers`` (the suite, the SliceNet rows), ``peers`` (sepcpp and one module per peer
family), ``measure`` (timing, threads, the machine's limits), ``runner`` (the measurement loop the
tables share), ``suite`` / ``slicenet`` / ``under_load`` / ``dask`` / ``bfloat16`` (the modes), ``report`` (tables,
plot) and ``cli`` (the options).

Nothing here needs TensorFlow, PyTorch, ONNX Runtime, OpenVINO, LiteRT, threadpoolctl, tqdm or
matplotlib: each is used if present.
"""

from .cli import build_parser, main

__all__ = ["build_parser", "main"]
