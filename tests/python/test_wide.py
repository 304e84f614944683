"""Wide layers (128 to 1024 output channels, up to 1024 input channels) on every ISA level, at 1, 2
and 3 threads, against the float64 reference.

The GEMM under pointwise, separable and conv2d cuts its K (input channels, or taps x channels)
into blocks of 128 and applies the bias and activation after the last block only; packs the
outputs in panels of 64 (AVX-512 float32) columns; and, for small images (a few dozen pixels, as
7x7 at the end of MobileNet) and more than one thread, splits the columns between the threads
instead of the pixels. These shapes reach all of that: K up to 1440 (several blocks plus a
partial one), output counts off the panel width, images of 20 to 49 pixels (below and above the
column-split threshold) and one of 196, activations that clamp after the full sum. Weights are
scaled by 1/sqrt(fan-in) so the outputs stay of order 1 and relu6 leaves most of them unclamped.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import reference as ref

import sepcpp

# (op, dtype, layout, input spatial (N, H, W) or (N, W), C, M, O, kernel, groups, dw_act, act)
CASES = [
    # MobileNet v1's 7x7x1024 layer
    ("separable_conv2d", np.float32, "NHWC", (1, 7, 7), 1024, 1, 1024, 3, 1, "relu6", "relu6"),
    ("pointwise_conv2d", np.float32, "NHWC", (1, 6, 8), 1024, 1, 1000, 1, 1, None, "relu6"),
    ("pointwise_conv2d", np.float64, "NCHW", (2, 4, 5), 1024, 1, 130, 1, 1, None, "relu"),
    ("separable_conv2d", np.float64, "NHWC", (1, 7, 7), 256, 2, 1024, 3, 1, None, "relu6"),
    ("conv2d", np.float32, "NHWC", (1, 7, 7), 160, 1, 256, 3, 1, None, "relu6"),
    ("conv2d", np.float64, "NCHW", (1, 6, 8), 64, 1, 129, 3, 1, None, "relu"),
    ("depthwise_conv2d", np.float32, "NHWC", (1, 7, 7), 512, 2, None, 3, 1, None, "relu6"),
    ("super_separable_conv2d", np.float32, "NHWC", (1, 7, 7), 1024, 1, 1024, 3, 2, "relu", "relu"),
    ("separable_conv2d", np.float32, "NCHW", (2, 14, 14), 128, 1, 768, 3, 1, "relu", None),
    ("separable_conv1d", np.float32, "NWC", (1, 40), 1024, 1, 1024, 3, 1, None, "relu"),
]


def _id(c):
    op, dt, layout, sp, cin, m, o, k, g, da, a = c
    return f"{op}-{np.dtype(dt).name}-{layout}-{'x'.join(map(str, sp))}-C{cin}M{m}O{o}-g{g}-{da}-{a}"


@functools.lru_cache(maxsize=None)
def _case(i):
    """(kwargs for sepcpp and for the reference, reference output, reduction length)."""
    op, dt, layout, sp, cin, m, o, k, g, dw_act, act = CASES[i]
    rng = np.random.default_rng([900, i])
    one_d = op.endswith("1d")
    ks = (k,) if one_d else (k, k)
    taps = int(np.prod(ks))

    def a(shape, fan_in=1):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(dt)

    n, spatial = sp[0], sp[1:]
    x = a((n, *spatial, cin) if layout in ("NHWC", "NWC") else (n, cin, *spatial))
    args = {"input": x}
    if op == "pointwise_conv2d":
        args.update(filter=a((1, 1, cin, o), cin), bias=a(o), activation=act)
        red = cin
    elif op == "conv2d":
        args.update(filters=a((*ks, cin, o), taps * cin), bias=a(o), activation=act, strides=1,
                    padding="SAME")
        red = taps * cin
    elif op == "depthwise_conv2d":
        args.update(filter=a((*ks, cin, m), taps), bias=a(cin * m), activation=act, strides=1, padding="SAME")
        red = taps
    else:
        args.update(depthwise_filter=a((*ks, cin, m), taps),
                    pointwise_filter=a((*(1,) * len(ks), cin * m // g, o), cin * m // g),
                    depthwise_bias=a(cin * m), depthwise_activation=dw_act, bias=a(o), activation=act,
                    padding="CAUSAL" if one_d else "SAME")
        args["stride" if one_d else "strides"] = 1
        if op.startswith("super"):
            args["groups"] = g
        red = taps + cin * m // g
    args["data_format"] = layout
    want = getattr(ref, op)(**args)
    inside = float(np.mean((want > 0) & (want < 6))) if act == "relu6" else 1.0
    assert inside > 0.3, f"{_id(CASES[i])}: only {inside:.0%} of the outputs inside (0, 6)"
    return args, want, red


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("i", range(len(CASES)), ids=[_id(c) for c in CASES])
def test_wide_layer(i, threads, isa):
    args, want, red = _case(i)
    op, dt = CASES[i][0], CASES[i][1]
    sepcpp.set_num_threads(threads)
    assert sepcpp.get_num_threads() == threads
    got = getattr(sepcpp, op)(**args)
    ref.assert_close(got, want, dt, red, f"{_id(CASES[i])} isa={isa} threads={threads}")


@pytest.mark.usefixtures("restore_threads")
def test_wide_layer_object_every_thread_count_bitwise(isa):
    """The prepacked SeparableConv2D on the 7x7x1024 MobileNet layer: right by the reference, and
    bit for bit the same result for 1 to 4 threads (the column split must not change sums)."""
    args, want, red = _case(0)
    layer = sepcpp.SeparableConv2D(args["depthwise_filter"], args["pointwise_filter"], 1, "SAME",
                                   depthwise_bias=args["depthwise_bias"], depthwise_activation="relu6",
                                   bias=args["bias"], activation="relu6")
    results = []
    for t in (1, 2, 3, 4):
        sepcpp.set_num_threads(t)
        results.append(layer(args["input"]))
    ref.assert_close(results[0], want, np.float32, red, f"SeparableConv2D 7x7x1024 isa={isa}")
    for t, y in zip((2, 3, 4), results[1:]):
        np.testing.assert_array_equal(y, results[0], err_msg=f"isa={isa}: {t} threads differ from 1")
