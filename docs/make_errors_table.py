"""Writes docs/errors.md: every kind of bad input and what sepcpp does with it.

Each row is produced by running the call against the installed sepcpp, so the table is what
the library does, not what it was meant to do:

    python docs/make_errors_table.py            # rewrites docs/errors.md
    python docs/make_errors_table.py --check    # exits 1 if docs/errors.md is out of date

The calls use small arrays named in the table's preamble (x, dw, pw, ...).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap

import numpy as np

import sepcpp

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = os.path.join(HERE, "errors.md")

SETUP = """\
import ml_dtypes, numpy as np, sepcpp
f32, bf16 = np.float32, ml_dtypes.bfloat16
x = np.ones((1, 5, 5, 3), f32)                # NHWC input: N=1, 5x5, C=3
dw = np.ones((3, 3, 3, 2), f32)               # depthwise filter [kh, kw, C, M=2]
pw = np.ones((1, 1, 6, 4), f32)               # pointwise filter [1, 1, C*M, O=4]
w = np.ones((3, 3, 3, 4), f32)                # conv2d filter [kh, kw, C, O]
x1 = np.ones((1, 9, 3), f32)                  # NWC input for the 1-D ops
dw1 = np.ones((3, 3, 2), f32)                 # 1-D depthwise filter [k, C, M]
"""

BIG = "10**7"
# The sepcpp.torch rows start with this (shown once, in the preamble): NCHW tensors and torch's
# weight layouts.
TORCH = ("import torch, sepcpp.torch as st; xt = torch.ones(1, 3, 5, 5); dw4 = torch.ones(6, 1, 3, 3); "
         "pw4 = torch.ones(4, 6, 1, 1); w4 = torch.ones(4, 3, 3, 3); ")
# (section, what is wrong, call)
CASES = [
    ("Types", "input of an integer dtype", "sepcpp.depthwise_conv2d(x.astype(np.int32), dw, 1, 'SAME')"),
    ("Types", "input of float16", "sepcpp.conv2d(x.astype(np.float16), w, 1, 'SAME')"),
    ("Types", "complex input", "sepcpp.conv2d(x.astype(np.complex64), w, 1, 'SAME')"),
    ("Types", "input of a non-native byte order", "sepcpp.conv2d(x.astype('>f4'), w, 1, 'SAME')"),
    ("Types", "filter dtype differs from the input's", "sepcpp.conv2d(x, w.astype(np.float64), 1, 'SAME')"),
    ("Types", "bias dtype differs from the input's",
     "sepcpp.conv2d(x, w, 1, 'SAME', bias=np.zeros(4, np.float64))"),
    ("Types", "bfloat16 input with a float32 filter (no mixed dtypes)",
     "sepcpp.conv2d(x.astype(bf16), w, 1, 'SAME')"),
    ("Types", "float32 input with a bfloat16 bias", "sepcpp.conv2d(x, w, 1, 'SAME', bias=np.zeros(4, bf16))"),
    ("Types", "out of float32 for a bfloat16 input",
     "sepcpp.conv2d(x.astype(bf16), w.astype(bf16), 1, 'SAME', out=np.empty((1, 5, 5, 4), f32))"),
    ("Types", "float32 input to a bfloat16 layer", "sepcpp.Conv2D(w.astype(bf16), 1, 'SAME')(x)"),
    ("Types", "bfloat16 to a backprop op (float32 and float64 only)",
     "sepcpp.conv2d_backprop_input([1, 5, 5, 3], w.astype(bf16), np.ones((1, 5, 5, 4), bf16), 1, 'SAME')"),
    ("Types", "input is not an array", "sepcpp.conv2d('not an array', w, 1, 'SAME')"),
    ("Types", "filter on a GPU (DLPack device CUDA) with a host input",
     "sepcpp.depthwise_conv2d(x, type('GpuArray', (), {'__dlpack_device__': lambda self: (2, 0)})(), 1, 'SAME')"),
    ("Types", "input on a GPU that is not CUDA's (DLPack device type 10, ROCm)",
     "sepcpp.conv2d(type('RocmArray', (), {'__dlpack_device__': lambda self: (10, 0), 'shape': (1, 5, 5, 3), "
     "'dtype': np.dtype('float32')})(), w, 1, 'SAME')"),
    ("Types", "stream for cuda_stream that is not a stream", "sepcpp.cuda_stream('default')"),
    ("Types", "input is an object whose `__array__` fails",
     "sepcpp.conv2d(type('Bad', (), {'__array__': lambda self, *a, **k: 1 / 0})(), w, 1, 'SAME')"),
    ("Types", "filter is None", "sepcpp.conv2d(x, None, 1, 'SAME')"),
    ("Ranks", "2-D op given a rank-3 input", "sepcpp.depthwise_conv2d(x[0], dw, 1, 'SAME')"),
    ("Ranks", "1-D op given a rank-4 input", "sepcpp.depthwise_conv1d(x, dw1, 1, 'SAME')"),
    ("Ranks", "rank-3 filter for a 2-D op", "sepcpp.conv2d(x, w[0], 1, 'SAME')"),
    ("Ranks", "2-D bias", "sepcpp.conv2d(x, w, 1, 'SAME', bias=np.zeros((1, 4), f32))"),
    ("Shapes", "filter channels differ from the input's", "sepcpp.conv2d(x, np.ones((3, 3, 5, 4), f32), 1, 'SAME')"),
    ("Shapes", "depthwise filter channels differ from the input's",
     "sepcpp.depthwise_conv2d(x, np.ones((3, 3, 4, 1), f32), 1, 'SAME')"),
    ("Shapes", "pointwise filter rows differ from C*M",
     "sepcpp.separable_conv2d(x, dw, np.ones((1, 1, 5, 4), f32), 1, 'SAME')"),
    ("Shapes", "pointwise filter that is not 1x1",
     "sepcpp.separable_conv2d(x, dw, np.ones((3, 3, 6, 4), f32), 1, 'SAME')"),
    ("Shapes", "pointwise_conv2d filter that is not 1x1", "sepcpp.pointwise_conv2d(x, w)"),
    ("Shapes", "bias of the wrong length", "sepcpp.conv2d(x, w, 1, 'SAME', bias=np.zeros(3, f32))"),
    ("Shapes", "depthwise bias of the wrong length",
     "sepcpp.separable_conv2d(x, dw, pw, 1, 'SAME', depthwise_bias=np.zeros(3, f32))"),
    ("Shapes", "zero-size filter (kernel 0)", "sepcpp.conv2d(x, np.ones((0, 3, 3, 4), f32), 1, 'SAME')"),
    ("Shapes", "filter too large to pack (a broadcast view)",
     "sepcpp.PointwiseConv2D(np.lib.stride_tricks.as_strided(np.ones(1, f32), (1, 1, 2**59, 1), (0, 0, 0, 4)))"),
    ("Groups", "groups does not divide C*M",
     "sepcpp.super_separable_conv2d(x, dw, np.ones((1, 1, 2, 4), f32), 4, 1, 'SAME')"),
    ("Groups", "groups does not divide the output channels",
     "sepcpp.super_separable_conv2d(x, dw, np.ones((1, 1, 3, 3), f32), 2, 1, 'SAME')"),
    ("Groups", "pointwise rows differ from C*M/groups",
     "sepcpp.super_separable_conv2d(x, dw, np.ones((1, 1, 6, 4), f32), 2, 1, 'SAME')"),
    ("Groups", "groups = 0", "sepcpp.super_separable_conv2d(x, dw, pw, 0, 1, 'SAME')"),
    ("Groups", "groups not an integer", "sepcpp.super_separable_conv2d(x, dw, pw, 1.5, 1, 'SAME')"),
    ("Groups", "groups of 2**63 or more", "sepcpp.super_separable_conv2d(x, dw, pw, 2**63, 1, 'SAME')"),
    ("Geometry", "VALID with a kernel larger than the input",
     "sepcpp.conv2d(x, np.ones((7, 3, 3, 4), f32), 1, 'VALID')"),
    ("Geometry", "VALID with a dilated kernel larger than the input",
     "sepcpp.depthwise_conv2d(x, dw, 1, 'VALID', dilations=3)"),
    ("Geometry", "explicit padding too small for the kernel",
     "sepcpp.conv2d(x, np.ones((8, 1, 3, 4), f32), 1, [[0, 0], [1, 1], [0, 0], [0, 0]])"),
    ("Geometry", "negative explicit padding", "sepcpp.conv2d(x, w, 1, [[0, 0], [-1, 0], [0, 0], [0, 0]])"),
    ("Geometry", "explicit padding on the batch or channel dimension",
     "sepcpp.conv2d(x, w, 1, [[0, 0], [1, 1], [1, 1], [1, 0]])"),
    ("Geometry", "explicit padding list of the wrong length", "sepcpp.conv2d(x, w, 1, [[1, 1], [1, 1], [1, 1]])"),
    ("Geometry", "explicit padding entry that is not a pair", "sepcpp.conv2d(x, w, 1, [[0, 0], [1], [1, 1], [0, 0]])"),
    ("Geometry", "unknown padding string", "sepcpp.conv2d(x, w, 1, 'FULL')"),
    ("Geometry", "CAUSAL padding on a 2-D op", "sepcpp.conv2d(x, w, 1, 'CAUSAL')"),
    ("Geometry", "stride 0", "sepcpp.conv2d(x, w, 0, 'SAME')"),
    ("Geometry", "negative stride", "sepcpp.depthwise_conv2d(x, dw, (1, -2), 'SAME')"),
    ("Geometry", "stride given as a float", "sepcpp.conv2d(x, w, 1.5, 'SAME')"),
    ("Geometry", "stride given as a bool", "sepcpp.conv2d(x, w, True, 'SAME')"),
    ("Geometry", "stride of 2**63 or more", "sepcpp.conv2d(x, w, 2**63, 'SAME')"),
    ("Geometry", "explicit padding of 2**63 or more", "sepcpp.conv2d(x, w, 1, [[0, 0], [2**63, 0], [0, 0], [0, 0]])"),
    ("Geometry", "4-list stride not 1 on the batch dimension", "sepcpp.conv2d(x, w, [2, 1, 1, 1], 'SAME')"),
    ("Geometry", "stride list of 3 for a 2-D op", "sepcpp.conv2d(x, w, [1, 1, 1], 'SAME')"),
    ("Geometry", "dilation 0", "sepcpp.conv2d(x, w, 1, 'SAME', dilations=0)"),
    ("Geometry", "1-D stride list of the wrong length", "sepcpp.depthwise_conv1d(x1, dw1, [1, 2], 'SAME')"),
    ("Geometry", "1-D explicit padding of the wrong length",
     "sepcpp.depthwise_conv1d(x1, dw1, 1, [[0, 0], [1, 1]])"),
    ("Geometry", "output size overflows int64",
     f"sepcpp.depthwise_conv2d(x, dw, 1, [[0, 0], [2**62, 2**62], [0, 0], [0, 0]])"),
    ("Geometry", "dilation x kernel overflows int64",
     "sepcpp.depthwise_conv2d(x, dw, 1, 'SAME', dilations=2**62)"),
    ("Geometry", "1-D CAUSAL padding (k - 1) x dilation overflows int64",
     "sepcpp.depthwise_conv1d(x1, dw1, 1, 'CAUSAL', dilations=2**62)"),
    ("Options", "unknown data_format", "sepcpp.conv2d(x, w, 1, 'SAME', data_format='HWNC')"),
    ("Options", "2-D data_format on a 1-D op", "sepcpp.depthwise_conv1d(x1, dw1, 1, 'SAME', data_format='NHWC')"),
    ("Options", "unknown activation", "sepcpp.conv2d(x, w, 1, 'SAME', activation='gelu')"),
    ("Options", "negative cudaStream_t for cuda_stream", "sepcpp.cuda_stream(-1)"),
    ("Options", "layer device that is neither CPU nor CUDA", "sepcpp.DepthwiseConv2D(dw, 1, 'SAME', device='gpu')"),
    ("Options", "unknown depthwise activation",
     "sepcpp.separable_conv2d(x, dw, pw, 1, 'SAME', depthwise_activation='tanh')"),
    ("out=", "out of the wrong shape", "sepcpp.conv2d(x, w, 1, 'SAME', out=np.empty((1, 5, 5, 5), f32))"),
    ("out=", "out of the wrong dtype", "sepcpp.conv2d(x, w, 1, 'SAME', out=np.empty((1, 5, 5, 4), np.float64))"),
    ("out=", "read-only out",
     "o = np.empty((1, 5, 5, 4), f32); o.flags.writeable = False; sepcpp.conv2d(x, w, 1, 'SAME', out=o)"),
    ("out=", "out whose elements overlap",
     "sepcpp.conv2d(x, w, 1, 'SAME', out=np.lib.stride_tricks.as_strided(np.empty(4, f32), (1, 5, 5, 4), (0, 0, 0, 4)))"),
    ("out=", "out sharing memory with the input",
     "b = np.ones((1, 5, 5, 3), f32); sepcpp.depthwise_conv2d(b, np.ones((1, 1, 3, 1), f32), 1, 'SAME', out=b)"),
    ("out=", "out that is not a NumPy array", "sepcpp.conv2d(x, w, 1, 'SAME', out=[0.0] * 100)"),
    ("Memory", "output too large to allocate",
     f"sepcpp.depthwise_conv2d(x, dw, 1, [[0, 0], [{BIG}, {BIG}], [{BIG}, {BIG}], [0, 0]])"),
    ("Memory", "internal buffer too large to allocate (a row of a broadcast input, gathered per thread)",
     "sepcpp.depthwise_conv2d(np.broadcast_to(f32(1), (1, 1, 10**14, 8)), np.ones((1, 1, 8, 1), f32), "
     "(1, 10**14 // 2), 'VALID')"),
    ("Layers", "layer called with an input of another dtype",
     "sepcpp.DepthwiseConv2D(dw, 1, 'SAME')(x.astype(np.float64))"),
    ("Layers", "layer called with the wrong number of channels",
     "sepcpp.DepthwiseConv2D(dw, 1, 'SAME')(np.ones((1, 5, 5, 4), f32))"),
    ("Layers", "layer built with a bad filter", "sepcpp.SeparableConv2D(dw, np.ones((1, 1, 5, 4), f32), 1, 'SAME')"),
    ("Backprop", "out_backprop not of the forward output's shape",
     "sepcpp.depthwise_conv2d_backprop_input([1, 5, 5, 3], dw, np.ones((1, 4, 5, 6), f32), 1, 'SAME')"),
    ("Backprop", "input_sizes of the wrong length",
     "sepcpp.conv2d_backprop_input([1, 5, 5], w, np.ones((1, 5, 5, 4), f32), 1, 'SAME')"),
    ("Backprop", "negative input_sizes",
     "sepcpp.conv2d_backprop_input([1, -5, 5, 3], w, np.ones((1, 5, 5, 4), f32), 1, 'SAME')"),
    ("Backprop", "input_sizes not integers",
     "sepcpp.conv2d_backprop_input(np.array([1.0, 5, 5, 3]), w, np.ones((1, 5, 5, 4), f32), 1, 'SAME')"),
    ("Backprop", "filter_sizes channels differ from the input's",
     "sepcpp.conv2d_backprop_filter(x, [3, 3, 4, 4], np.ones((1, 5, 5, 4), f32), 1, 'SAME')"),
    ("Backprop", "out_backprop of an integer dtype",
     "sepcpp.depthwise_conv2d_backprop_filter(x, [3, 3, 3, 2], np.ones((1, 5, 5, 6), np.int32), 1, 'SAME')"),
    ("Backprop", "out_backprop dtype differs from the input's",
     "sepcpp.separable_conv2d_backprop(x, dw, pw, np.ones((1, 5, 5, 4)), 1, 'SAME')"),
    ("Backprop", "separable out_backprop of the wrong shape",
     "sepcpp.separable_conv2d_backprop(x, dw, pw, np.ones((1, 5, 5, 6), f32), 1, 'SAME')"),
    ("Backprop", "1-D out_backprop of the wrong length under CAUSAL padding",
     "sepcpp.depthwise_conv1d_backprop_input([1, 9, 3], dw1, np.ones((1, 7, 6), f32), 1, 'CAUSAL')"),
    ("Dask", "`sepcpp.dask` op given `out=` (Dask arrays are immutable)",
     "import dask.array as da, sepcpp.dask; "
     "sepcpp.dask.conv2d(da.from_array(x), w, 1, 'SAME', out=np.empty((1, 5, 5, 4), f32))"),
    ("Dask", "`sepcpp.dask` op given an input with unknown chunk sizes",
     "import dask.array as da, sepcpp.dask; xd = da.from_array(x, chunks=2); "
     "sepcpp.dask.conv2d(xd[xd[:, 0, 0, 0] > 0], w, 1, 'SAME')"),
    ("Dask", "`sepcpp.dask` op given a bad filter (the NumPy API's message, checked on an empty batch)",
     "import dask.array as da, sepcpp.dask; "
     "sepcpp.dask.conv2d(da.from_array(x, chunks=2), np.ones((3, 3, 5, 4), f32), 1, 'SAME')"),
    ("JAX", "`sepcpp.jax` op given a bad filter (the NumPy API's message, checked on an empty batch when the op "
     "is called or traced)",
     "import jax, jax.numpy as jnp, sepcpp.jax; "
     "jax.jit(lambda x: sepcpp.jax.conv2d(x, np.ones((3, 3, 5, 4), f32), 1, 'SAME'))(jnp.asarray(x))"),
    ("JAX", "`sepcpp.jax` op given a bfloat16 input (the backprop ops have no bfloat16)",
     "import jax.numpy as jnp, sepcpp.jax; sepcpp.jax.conv1d(jnp.ones((1, 9, 3), jnp.bfloat16), "
     "jnp.ones((3, 3, 1), jnp.bfloat16), 1, 'SAME')"),
    ("JAX", "`sepcpp.jax` op given a scalar input",
     "import jax.numpy as jnp, sepcpp.jax; sepcpp.jax.conv1d(jnp.float32(1), dw1[..., :1], 1, 'SAME')"),
    ("JAX", "`sepcpp.jax` op given an input JAX cannot turn into an array",
     "import sepcpp.jax; sepcpp.jax.conv1d('abc', dw1[..., :1], 1, 'SAME')"),
    ("PyTorch", "input of an integer dtype", TORCH + "st.conv2d(torch.ones(1, 3, 5, 5, dtype=torch.int32), w4)"),
    ("PyTorch", "weight dtype differs from the input's",
     TORCH + "st.separable_conv2d(xt, dw4.double(), pw4)"),
    ("PyTorch", "input that is not a tensor", TORCH + "st.conv2d(x, w4)"),
    ("PyTorch", "input of rank 3 for a 2-D op", TORCH + "st.separable_conv2d(xt[0], dw4, pw4)"),
    ("PyTorch", "depthwise weight rows not a multiple of C",
     TORCH + "st.separable_conv2d(xt, torch.ones(5, 1, 3, 3), pw4)"),
    ("PyTorch", "pointwise weight not [O, C*M/groups, 1, 1]",
     TORCH + "st.super_separable_conv2d(xt, dw4, pw4, 2)"),
    ("PyTorch", "conv2d weight channels differ from the input's",
     TORCH + "st.conv2d(xt, torch.ones(4, 2, 3, 3))"),
    ("PyTorch", "bias of the wrong length", TORCH + "st.conv2d(xt, w4, torch.ones(3))"),
    ("PyTorch", "stride 0", TORCH + "st.separable_conv2d(xt, dw4, pw4, stride=0)"),
    ("PyTorch", "stride of three values", TORCH + "st.separable_conv2d(xt, dw4, pw4, stride=(1, 2, 1))"),
    ("PyTorch", "negative padding", TORCH + "st.separable_conv2d(xt, dw4, pw4, padding=(1, -1))"),
    ("PyTorch", "causal padding on a 2-D op", TORCH + "st.separable_conv2d(xt, dw4, pw4, padding='causal')"),
    ("PyTorch", "dilated kernel larger than the input (valid)",
     TORCH + "st.separable_conv2d(xt, dw4, pw4, padding='valid', dilation=3)"),
    ("PyTorch", "1-D op given a stride pair",
     TORCH + "st.depthwise_conv1d(xt[0], torch.ones(5, 1, 3), stride=(1, 2))"),
    ("PyTorch", "module with kernel size 0", TORCH + "st.SeparableConv2d(3, 4, 0)"),
    ("PyTorch", "module whose groups do not divide the channels",
     TORCH + "st.SuperSeparableConv1d(3, 4, 3, groups=2)"),
    ("PyTorch", "module called with another dtype than its parameters",
     TORCH + "st.DepthwiseConv2d(3, 3)(xt.double())"),
    ("Threads", "negative thread count", "sepcpp.set_num_threads(-1)"),
    ("Threads", "thread count not an integer", "sepcpp.set_num_threads(2.5)"),
    ("Threads", "thread count of 2**31 or more", "sepcpp.set_num_threads(2**31)"),
    ("ISA", "unknown ISA forced in-process", "sepcpp._core.set_isa('sse9')"),
    ("ISA", "unknown ISA forced with `SEPCPP_ISA=sse9` (every call)", None),
    ("Not errors", "zero batch", "sepcpp.conv2d(np.ones((0, 5, 5, 3), f32), w, 1, 'SAME').shape"),
    ("Not errors", "zero height with SAME", "sepcpp.conv2d(np.ones((1, 0, 5, 3), f32), w, 1, 'SAME').shape"),
    ("Not errors", "zero height, pointwise_conv2d",
     "sepcpp.pointwise_conv2d(np.ones((1, 0, 5, 3), f32), np.ones((1, 1, 3, 4), f32)).shape"),
    ("Not errors", "zero input channels", "sepcpp.conv2d(np.ones((1, 5, 5, 0), f32), np.ones((3, 3, 0, 4), f32), 1, "
                                          "'SAME')[0, 0, 0]"),
    ("Not errors", "NaN and Inf in the input",
     "a = np.ones((1, 1, 5, 1), f32); a[0, 0, 1] = np.nan; a[0, 0, 3] = np.inf; "
     "sepcpp.depthwise_conv2d(a, np.ones((1, 2, 1, 1), f32), 1, 'VALID')[0, 0, :, 0]"),
    ("Not errors", "non-contiguous input (packed once, no error)", "sepcpp.conv2d(x[:, ::-1], w, 1, 'SAME').shape"),
    ("Not errors", "stride given as a 0-d integer array", "sepcpp.conv2d(x, w, np.array(2), 'SAME').shape"),
    ("Not errors", "pickled arrays (from multiprocessing, joblib, dask, Ray)",
     "import pickle; sepcpp.conv2d(pickle.loads(pickle.dumps(x)), pickle.loads(pickle.dumps(w)), 1, 'SAME').shape"),
    ("Not errors", "a layer pickled and loaded",
     "import pickle; pickle.loads(pickle.dumps(sepcpp.Conv2D(w, 1, 'SAME')))(x).shape"),
]

ISA_ENV_SCRIPT = "import numpy as np, sepcpp; sepcpp.conv2d(np.ones((1,3,3,1),'f4'), np.ones((1,1,1,1),'f4'), 1, 'SAME')"


def run_case(call):
    env = {}
    exec(SETUP, env)  # noqa: S102 - the table's own fixed snippets
    *stmts, last = [s.strip() for s in call.split(";")]
    try:
        for s in stmts:
            exec(s, env)  # noqa: S102
        value = eval(last, env)  # noqa: S307
    except BaseException as e:  # noqa: BLE001 - the point is to record what is raised
        return type(e).__name__, str(e)
    if isinstance(value, np.ndarray):
        value = np.array2string(value, separator=", ")
    return "(no error)", f"returns {value}"


def run_isa_env_case():
    proc = subprocess.run([sys.executable, "-c", ISA_ENV_SCRIPT], env=dict(os.environ, SEPCPP_ISA="sse9"),
                          capture_output=True, text=True, timeout=120)
    if proc.returncode == 0:
        return "(no error)", "ran"
    last = proc.stderr.strip().splitlines()[-1]
    kind, _, message = last.partition(": ")
    return kind.rsplit(".", 1)[-1], message


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def render():
    lines = [
        "# Errors: each bad input and what sepcpp does",
        "",
        "Generated by `python docs/make_errors_table.py` from the installed sepcpp "
        f"{sepcpp.__version__} (do not edit by hand; rerun the script). Every row is a call that was "
        "actually run; the message is the one it raised.",
        "",
        "Rules: a wrong dtype (or a non-array) is a `TypeError`; a wrong shape, rank, size, option or "
        "geometry is a `ValueError` naming the argument and the values, raised before anything is "
        "allocated or computed; an allocation that cannot succeed is a `MemoryError`, and so is one of "
        "sepcpp's own buffers (from 64 MiB) larger than the memory available (MemAvailable, the cgroup "
        "limit), refused before it is attempted and named with its size. The inputs are never "
        "modified, including when a call fails.",
        "",
        "The calls use:",
        "",
        "```python",
        SETUP.rstrip(),
        "```",
        "",
        "and the PyTorch rows (`sepcpp.torch`: NCHW tensors, torch's weight layouts) also:",
        "",
        "```python",
        TORCH.replace("; ", "\n").rstrip(),
        "```",
        "",
    ]
    section = None
    for sec, what, call in CASES:
        if sec != section:
            lines += ["", f"## {sec}", "", "| bad input | call | result | message |", "|---|---|---|---|"]
            section = sec
        if call is None:
            kind, message = run_isa_env_case()
            shown = "SEPCPP_ISA=sse9 python -c \"...sepcpp.conv2d(...)\""
        else:
            kind, message = run_case(call)
            shown = call[len(TORCH):] if call.startswith(TORCH) else call
        message = textwrap.shorten(message, 400, placeholder=" ...")
        lines.append(f"| {cell(what)} | `{cell(shown)}` | `{kind}` | {cell(message)} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if docs/errors.md is out of date")
    parser.add_argument("--output", default=TARGET)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        with open(args.output) as f:
            if f.read() != text:
                print(f"{args.output} is out of date: run python docs/make_errors_table.py", file=sys.stderr)
                return 1
        return 0
    with open(args.output, "w") as f:
        f.write(text)
    print(f"wrote {args.output} ({len(CASES)} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
