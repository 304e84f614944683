"""sepcpp.jax: every op against TensorFlow (forward and jax.grad against GradientTape), under
jax.jit and jax.vmap (mapped inputs, mapped filters, per-example gradients), in float32 and float64
(JAX's x64 mode), bad input refused at the call and at trace time, and the module's docstrings.

The gradients come from TensorFlow's tape on its forward ops (never its raw backprop kernels, some
of which fail on these shapes: see test_backprop.py); the loss is sum(y * w) for a random w, so
every gradient is a vector-Jacobian product with a dense cotangent.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from optional_deps import import_optional
from reference import assert_close
from test_backprop import _dilated
from tf_support import import_tensorflow, silenced

jax = import_optional("jax")
import jax.numpy as jnp  # noqa: E402  (present: jax imported above)

import sepcpp.jax as sj  # noqa: E402

pytestmark = pytest.mark.uses("jax")

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def _x64(dtype):
    """JAX's x64 mode for float64 (a context manager; float32 runs in JAX's default mode)."""
    return jax.enable_x64(dtype == F64)


def _rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def _to_nchw(a):
    return np.ascontiguousarray(np.moveaxis(a, -1, 1))


# ---------------------------------------------------------------------------------------------
# The cases: each builds its NumPy operands (channels-last), the sepcpp.jax call and the same
# computation from TensorFlow's forward ops (channels-last; NCHW is compared through transposes).
# ---------------------------------------------------------------------------------------------

# 2-D geometries (strides, dilations, padding; the padding as spatial pairs when explicit) that
# TensorFlow's forward ops take.
GEOMS_2D = {
    "s2-same": (2, 1, "SAME"),
    "d2-explicit": (1, 2, [(1, 0), (2, 1)]),
}


def _pad_tf(pad, nsp):
    """Padding for TensorFlow in channels-last: a string, or the 4-list (3-list) form."""
    if isinstance(pad, str):
        return pad
    return [[0, 0]] + [list(p) for p in pad] + [[0, 0]] if nsp == 2 else [[0, 0], list(pad[0]), [0, 0]]


def _pad_sepcpp(pad, layout):
    if isinstance(pad, str):
        return pad
    z = [0, 0]
    inner = [list(p) for p in pad]
    return [z] + inner + [z] if layout in ("NHWC", "NWC") else [z, z] + inner


def _act_tf(tf, a, v):
    return v if a is None else tf.nn.relu(v) if a == "relu" else tf.nn.relu6(v)


def _tf_depthwise(tf, x, f, s, d, pad):
    return tf.nn.depthwise_conv2d(x, f, [1, s, s, 1], _pad_tf(pad, 2), dilations=[d, d])


def _tf_conv(tf, x, f, s, d, pad):
    return tf.nn.conv2d(x, _dilated(tf, f, d, 2) if d > 1 else f, [1, s, s, 1], _pad_tf(pad, 2))


def _tf_grouped_pointwise(tf, mid, pw, groups):
    """The pointwise step split into groups (TensorFlow's CPU conv2d has no groups)."""
    parts = tf.split(mid, groups, axis=-1)
    og = int(pw.shape[-1]) // groups
    return tf.concat([tf.nn.conv2d(p, pw[..., g * og:(g + 1) * og], 1, "VALID") for g, p in enumerate(parts)],
                     axis=-1)


def _case_2d(name, rng, dtype, geom):
    """(operands, sepcpp.jax call(layout, *ops), TensorFlow call(tf, *ops)), channels-last operands."""
    s, d, pad = GEOMS_2D[geom]
    c, m, o = 3, 2, 4
    x = _rand(rng, (2, 7, 6, c), dtype, 3.0)
    if name == "depthwise_conv2d":
        ops = [x, _rand(rng, (3, 3, c, m), dtype), _rand(rng, (c * m,), dtype)]

        def ours(layout, x, f, b):
            return sj.depthwise_conv2d(x, f, s, _pad_sepcpp(pad, layout), layout, d, bias=b, activation="relu6")

        def theirs(tf, x, f, b):
            return tf.nn.relu6(tf.nn.bias_add(_tf_depthwise(tf, x, f, s, d, pad), b))
    elif name == "conv2d":
        ops = [x, _rand(rng, (3, 3, c, o), dtype), _rand(rng, (o,), dtype)]

        def ours(layout, x, f, b):
            return sj.conv2d(x, f, s, _pad_sepcpp(pad, layout), layout, d, bias=b, activation="relu")

        def theirs(tf, x, f, b):
            return tf.nn.relu(tf.nn.bias_add(_tf_conv(tf, x, f, s, d, pad), b))
    elif name == "pointwise_conv2d":
        ops = [x, _rand(rng, (1, 1, c, o), dtype), _rand(rng, (o,), dtype)]

        def ours(layout, x, f, b):
            return sj.pointwise_conv2d(x, f, layout, bias=b)

        def theirs(tf, x, f, b):
            return tf.nn.bias_add(tf.nn.conv2d(x, f, 1, "VALID"), b)
    elif name == "separable_conv2d":
        ops = [x, _rand(rng, (3, 3, c, m), dtype), _rand(rng, (1, 1, c * m, o), dtype),
               _rand(rng, (c * m,), dtype), _rand(rng, (o,), dtype)]

        def ours(layout, x, fd, fp, bd, b):
            return sj.separable_conv2d(x, fd, fp, s, _pad_sepcpp(pad, layout), layout, d, depthwise_bias=bd,
                                       depthwise_activation="relu6", bias=b, activation="relu")

        def theirs(tf, x, fd, fp, bd, b):
            mid = tf.nn.relu6(tf.nn.bias_add(_tf_depthwise(tf, x, fd, s, d, pad), bd))
            return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(mid, fp, 1, "VALID"), b))
    elif name == "super_separable_conv2d":
        ops = [x, _rand(rng, (2, 3, c, m), dtype), _rand(rng, (1, 1, c * m // 3, 6), dtype)]

        def ours(layout, x, fd, fp):
            return sj.super_separable_conv2d(x, fd, fp, 3, s, _pad_sepcpp(pad, layout), layout, d)

        def theirs(tf, x, fd, fp):
            return _tf_grouped_pointwise(tf, _tf_depthwise(tf, x, fd, s, d, pad), fp, 3)
    else:
        raise KeyError(name)
    return ops, ours, theirs


def _tf_1d(tf, x, s, d, pad, k):
    """x [N, W, C] as [N, 1, W', C] with CAUSAL turned into explicit left padding; the padding
    and strides for the 2-D TensorFlow ops."""
    if pad == "CAUSAL":
        x = tf.pad(x, [[0, 0], [(k - 1) * d, 0], [0, 0]])
        pad = "VALID"
    return tf.expand_dims(x, 1), [1, 1, s, 1], pad, [1, d]


def _case_1d(name, rng, dtype):
    c, m, o = 4, 2, 6
    x = _rand(rng, (2, 11, c), dtype, 3.0)
    if name == "depthwise_conv1d":
        s, d, pad = 1, 2, "CAUSAL"
        ops = [x, _rand(rng, (3, c, m), dtype), _rand(rng, (c * m,), dtype)]

        def ours(layout, x, f, b):
            return sj.depthwise_conv1d(x, f, s, pad, layout, d, bias=b, activation="relu")

        def theirs(tf, x, f, b):
            x4, st, p, dl = _tf_1d(tf, x, s, d, pad, 3)
            return tf.nn.relu(tf.nn.bias_add(tf.nn.depthwise_conv2d(x4, f[None], st, p, dilations=dl)[:, 0], b))
    elif name == "conv1d":
        s, pad = 2, "SAME"
        ops = [x, _rand(rng, (3, c, o), dtype), _rand(rng, (o,), dtype)]

        def ours(layout, x, f, b):
            return sj.conv1d(x, f, s, pad, layout, bias=b)

        def theirs(tf, x, f, b):
            return tf.nn.bias_add(tf.nn.conv1d(x, f, s, pad), b)
    elif name == "separable_conv1d":
        s, d, pad = 1, 2, "CAUSAL"
        ops = [x, _rand(rng, (3, c, m), dtype), _rand(rng, (1, c * m, o), dtype), _rand(rng, (o,), dtype)]

        def ours(layout, x, fd, fp, b):
            return sj.separable_conv1d(x, fd, fp, s, pad, layout, d, bias=b, activation="relu6")

        def theirs(tf, x, fd, fp, b):
            x4, st, p, dl = _tf_1d(tf, x, s, d, pad, 3)
            mid = tf.nn.depthwise_conv2d(x4, fd[None], st, p, dilations=dl)
            return tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(mid, fp[None], 1, "VALID"), b))[:, 0]
    elif name == "super_separable_conv1d":
        s, pad = 1, "VALID"  # (TensorFlow's depthwise refuses unequal strides, as [1, s] is in 2-D)
        ops = [x, _rand(rng, (3, c, m), dtype), _rand(rng, (1, c * m // 2, o), dtype), _rand(rng, (c * m,), dtype)]

        def ours(layout, x, fd, fp, bd):
            return sj.super_separable_conv1d(x, fd, fp, 2, s, pad, layout, depthwise_bias=bd,
                                             depthwise_activation="relu")

        def theirs(tf, x, fd, fp, bd):
            x4, st, p, dl = _tf_1d(tf, x, s, 1, pad, 3)
            mid = tf.nn.relu(tf.nn.bias_add(tf.nn.depthwise_conv2d(x4, fd[None], st, p), bd))
            return _tf_grouped_pointwise(tf, mid, fp[None], 2)[:, 0]
    else:
        raise KeyError(name)
    return ops, ours, theirs


OPS_2D = ["depthwise_conv2d", "conv2d", "pointwise_conv2d", "separable_conv2d", "super_separable_conv2d"]
OPS_1D = ["depthwise_conv1d", "conv1d", "separable_conv1d", "super_separable_conv1d"]
CASES = [(op, g) for op in OPS_2D for g in (GEOMS_2D if op != "pointwise_conv2d" else ["s2-same"])] + \
        [(op, None) for op in OPS_1D]


def _case(name, geom, rng, dtype):
    return _case_2d(name, rng, dtype, geom) if geom else _case_1d(name, rng, dtype)


def _tf_value_and_grads(ops, theirs, w):
    """TensorFlow's y and d(sum(y * w))/d(each operand), channels-last, as float64 NumPy arrays."""
    tf, _ = import_tensorflow()
    with silenced(), tf.device("/CPU:0"):
        t = [tf.constant(a) for a in ops]
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = theirs(tf, *t)
        grads = tape.gradient(y, t, output_gradients=tf.constant(w))
        return np.asarray(y, np.float64), [np.asarray(g, np.float64) for g in grads]


def _layout_of(ops, layout):
    """The operands for `layout`: the input transposed for NCHW / NCW, the rest as they are."""
    return [_to_nchw(ops[0]) if layout in ("NCHW", "NCW") else ops[0]] + list(ops[1:])


def _channels_last(a, layout):
    return np.moveaxis(a, 1, -1) if layout in ("NCHW", "NCW") else a


@pytest.mark.uses("tensorflow")
@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
@pytest.mark.parametrize("channels_last", [True, False], ids=["channels_last", "channels_first"])
@pytest.mark.parametrize("name,geom", CASES, ids=[f"{n}-{g}" if g else n for n, g in CASES])
def test_forward_and_grad_match_tensorflow(rng, name, geom, channels_last, dtype):
    ops, ours, theirs = _case(name, geom, rng, dtype)
    nd = 2 if geom else 1
    layout = ("NHWC" if nd == 2 else "NWC") if channels_last else ("NCHW" if nd == 2 else "NCW")
    with _x64(dtype):
        y_shape = ours(layout, *_layout_of(ops, layout)).shape
        w_cl = _rand(rng, tuple(np.moveaxis(np.empty(y_shape), 1, -1).shape) if not channels_last else y_shape,
                     dtype)
        want_y, want_g = _tf_value_and_grads(ops, theirs, w_cl)
        w = jnp.asarray(w_cl if channels_last else _to_nchw(w_cl))
        args = [jnp.asarray(a) for a in _layout_of(ops, layout)]
        y = ours(layout, *args)
        grads = jax.grad(lambda *a: jnp.sum(ours(layout, *a) * w), argnums=tuple(range(len(args))))(*args)
    assert y.dtype == dtype and all(g.dtype == dtype for g in grads)
    assert_close(_channels_last(np.asarray(y), layout), want_y, dtype, reduction=100, what=f"{name} forward")
    for i, (g, want) in enumerate(zip(grads, want_g)):
        got = np.asarray(g)
        if i == 0:
            got = _channels_last(got, layout)
        assert_close(np.ascontiguousarray(got), want, dtype, reduction=1000, what=f"{name} gradient {i}, {layout}")


# ---------------------------------------------------------------------------------------------
# jit and vmap: the same bits as the eager per-example calls
# ---------------------------------------------------------------------------------------------

def _separable(x, fd, fp, b):
    return sj.separable_conv2d(x, fd, fp, [1, 2, 1, 1], "SAME", depthwise_activation="relu", bias=b,
                               activation="relu6")


def _operands(rng, dtype, batch=()):
    return (jnp.asarray(_rand(rng, batch + (2, 6, 7, 3), dtype, 3.0)), jnp.asarray(_rand(rng, (3, 3, 3, 2), dtype)),
            jnp.asarray(_rand(rng, (1, 1, 6, 4), dtype)), jnp.asarray(_rand(rng, (4,), dtype)))


def _loss(x, fd, fp, b):
    return jnp.sum(_separable(x, fd, fp, b) * jnp.arange(1.0, 5.0, dtype=x.dtype))


def _same(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), what


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_jit_gives_the_eager_bits(rng, dtype):
    with _x64(dtype):
        ops = _operands(rng, dtype)
        _same(jax.jit(_separable)(*ops), _separable(*ops), "jit forward")
        eager = jax.grad(_loss, argnums=(0, 1, 2, 3))(*ops)
        jitted = jax.jit(jax.grad(_loss, argnums=(0, 1, 2, 3)))(*ops)
        for i, (a, b) in enumerate(zip(jitted, eager)):
            _same(a, b, f"jit gradient {i}")
        # And the NumPy API's bits.
        import sepcpp

        np_y = sepcpp.separable_conv2d(*(np.asarray(a) for a in ops[:3]), [1, 2, 1, 1], "SAME",
                                       depthwise_activation="relu", bias=np.asarray(ops[3]), activation="relu6")
        _same(jax.jit(_separable)(*ops), np_y, "jit forward vs the NumPy API")


@pytest.mark.parametrize("dtype", [F32, F64], ids=["f32", "f64"])
def test_vmap_over_inputs_and_filters(rng, dtype):
    with _x64(dtype):
        xs, fd, fp, b = _operands(rng, dtype, batch=(3,))
        fds = jnp.asarray(_rand(rng, (3, 3, 3, 3, 2), dtype))
        # Mapped input, unmapped filters (the mapped axis folded into the batch): as a loop.
        _same(jax.vmap(_separable, (0, None, None, None))(xs, fd, fp, b),
              jnp.stack([_separable(x, fd, fp, b) for x in xs]), "vmap over inputs")
        # A mapped axis other than the first.
        _same(jax.vmap(_separable, (2, None, None, None), out_axes=1)(jnp.moveaxis(xs, 0, 2), fd, fp, b),
              jnp.moveaxis(jnp.stack([_separable(x, fd, fp, b) for x in xs]), 0, 1), "vmap over axis 2")
        # Mapped input and filter, and a mapped filter alone.
        _same(jax.vmap(_separable, (0, 0, None, None))(xs, fds, fp, b),
              jnp.stack([_separable(x, f, fp, b) for x, f in zip(xs, fds)]), "vmap over inputs and filters")
        _same(jax.vmap(_separable, (None, 0, None, None))(xs[0], fds, fp, b),
              jnp.stack([_separable(xs[0], f, fp, b) for f in fds]), "vmap over filters")
        # Nested: inputs in the outer map, filters in the inner one.
        nested = jax.vmap(lambda x: jax.vmap(lambda f: _separable(x, f, fp, b))(fds))(xs)
        _same(nested, jnp.stack([jnp.stack([_separable(x, f, fp, b) for f in fds]) for x in xs]), "nested vmap")
        # Per-example gradients with respect to every operand, and under jit.
        per_example = jax.vmap(jax.grad(_loss, argnums=(0, 1, 2, 3)), (0, None, None, None))
        loop = [jax.grad(_loss, argnums=(0, 1, 2, 3))(x, fd, fp, b) for x in xs]
        for got in (per_example(xs, fd, fp, b), jax.jit(per_example)(xs, fd, fp, b)):
            for i in range(4):
                _same(got[i], jnp.stack([g[i] for g in loop]), f"per-example gradient {i}")
        # The gradient of a mapped sum, with respect to the unmapped filters: the sum of the
        # per-example gradients.
        total = jax.grad(lambda f: jnp.sum(jax.vmap(lambda x: _loss(x, f, fp, b))(xs)))(fd)
        assert_close(np.asarray(total), np.sum([np.asarray(g[1], np.float64) for g in loop], axis=0), dtype,
                     reduction=10, what="gradient through vmap")


def test_vmap_of_the_single_filter_ops(rng):
    x = jnp.asarray(_rand(rng, (3, 2, 9, 4), F32))
    f = jnp.asarray(_rand(rng, (3, 4, 2), F32))
    fs = jnp.asarray(_rand(rng, (3, 3, 4, 2), F32))

    def op(x, f):
        return sj.depthwise_conv1d(x, f, 1, "CAUSAL", activation="relu")

    _same(jax.vmap(op, (0, None))(x, f), jnp.stack([op(a, f) for a in x]), "depthwise_conv1d vmap")
    _same(jax.vmap(op)(x, fs), jnp.stack([op(a, b) for a, b in zip(x, fs)]), "depthwise_conv1d vmap filters")
    grads = jax.vmap(jax.grad(lambda x, f: jnp.sum(op(x, f) ** 2), argnums=(0, 1)))(x, fs)
    loop = [jax.grad(lambda x, f: jnp.sum(op(x, f) ** 2), argnums=(0, 1))(a, b) for a, b in zip(x, fs)]
    for i in range(2):
        _same(grads[i], jnp.stack([g[i] for g in loop]), f"depthwise_conv1d per-example gradient {i}")


def test_every_op_takes_numpy_operands_and_float64_in_x64_mode(rng):
    x = _rand(rng, (1, 5, 5, 3), F64)
    with jax.enable_x64(True):
        y = sj.conv2d(x, np.ones((3, 3, 3, 2)), 1, "SAME")
        assert y.dtype == F64 and isinstance(y, jax.Array)
        g = jax.grad(lambda w: sj.conv2d(x, w, 1, "SAME").sum())(jnp.ones((3, 3, 3, 2)))
        assert g.dtype == F64


# ---------------------------------------------------------------------------------------------
# Bad input: sepcpp's errors at the call, and at trace time under jit
# ---------------------------------------------------------------------------------------------

BAD = [
    ("input rank", lambda: sj.depthwise_conv2d(jnp.ones((5, 5, 3)), jnp.ones((3, 3, 3, 1)), 1, "SAME"),
     ValueError, "input"),
    ("channels", lambda: sj.conv2d(jnp.ones((1, 5, 5, 3)), jnp.ones((3, 3, 4, 2)), 1, "SAME"), ValueError,
     r"channels \(input shape \(1, 5, 5, 3\)"),  # the input's own shape, not the empty batch checked
    ("pointwise rows", lambda: sj.separable_conv2d(jnp.ones((1, 5, 5, 3)), jnp.ones((3, 3, 3, 2)),
                                                   jnp.ones((1, 1, 5, 4)), 1, "SAME"),
     ValueError, "pointwise_filter"),
    ("groups", lambda: sj.super_separable_conv2d(jnp.ones((1, 5, 5, 3)), jnp.ones((3, 3, 3, 2)),
                                                 jnp.ones((1, 1, 3, 4)), 4, 1, "SAME"), ValueError, "groups"),
    ("padding", lambda: sj.conv2d(jnp.ones((1, 5, 5, 3)), jnp.ones((3, 3, 3, 2)), 1, "FULL"), ValueError,
     "padding"),
    ("causal in 2-D", lambda: sj.conv2d(jnp.ones((1, 5, 5, 3)), jnp.ones((3, 3, 3, 2)), 1, "CAUSAL"), ValueError,
     "CAUSAL"),
    ("activation", lambda: sj.conv1d(jnp.ones((1, 5, 3)), jnp.ones((3, 3, 2)), 1, "SAME", activation="gelu"),
     ValueError, "activation"),
    ("stride", lambda: sj.depthwise_conv1d(jnp.ones((1, 5, 3)), jnp.ones((3, 3, 1)), 0, "SAME"), ValueError,
     "stride"),
    ("bias length", lambda: sj.conv2d(jnp.ones((1, 5, 5, 3)), jnp.ones((3, 3, 3, 2)), 1, "SAME",
                                      bias=jnp.ones(3)), ValueError, "bias"),
    ("data_format", lambda: sj.pointwise_conv2d(jnp.ones((1, 5, 5, 3)), jnp.ones((1, 1, 3, 2)), "NWHC"),
     ValueError, "data_format"),
    ("integer input", lambda: sj.conv2d(jnp.ones((1, 5, 5, 3), jnp.int32), jnp.ones((3, 3, 3, 2), jnp.int32), 1,
                                        "SAME"), TypeError, "dtype"),
    ("bfloat16 input", lambda: sj.conv2d(jnp.ones((1, 5, 5, 3), jnp.bfloat16), jnp.ones((3, 3, 3, 2), jnp.bfloat16),
                                         1, "SAME"), TypeError, "dtype"),
    ("scalar input", lambda: sj.conv1d(jnp.float32(1.0), jnp.ones((3, 3, 2)), 1, "SAME"), ValueError, "input"),
    ("not an array", lambda: sj.conv1d("abc", jnp.ones((3, 3, 2)), 1, "SAME"), TypeError, "input"),
]


@pytest.mark.parametrize("what,call,exc,word", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_refused_at_the_call_and_under_jit(what, call, exc, word):
    with pytest.raises(exc, match=word):
        call()
    with pytest.raises(exc, match=word):
        jax.jit(lambda: call())()


def test_mixed_dtypes_are_refused_in_x64_mode():
    with jax.enable_x64(True):
        with pytest.raises(TypeError, match="filter"):
            sj.depthwise_conv2d(jnp.ones((1, 5, 5, 3), jnp.float32), jnp.ones((3, 3, 3, 1), jnp.float64), 1, "SAME")
        with pytest.raises(TypeError, match="bias"):
            sj.separable_conv1d(jnp.ones((1, 5, 3)), jnp.ones((3, 3, 1)), jnp.ones((1, 3, 2)), 1, "SAME",
                                bias=jnp.ones(2, jnp.float32))


def test_a_traced_stride_is_refused():
    with pytest.raises((TypeError, jax.errors.ConcretizationTypeError)):
        jax.jit(lambda s: sj.conv1d(jnp.ones((1, 5, 3)), jnp.ones((3, 3, 2)), s, "SAME"))(1)


def test_operands_are_not_modified(rng):
    x = _rand(rng, (1, 6, 6, 3), F32)
    fd, fp = _rand(rng, (3, 3, 3, 1), F32), _rand(rng, (1, 1, 3, 2), F32)
    saved = [a.copy() for a in (x, fd, fp)]
    jax.grad(lambda x, fd, fp: sj.separable_conv2d(x, fd, fp, 1, "SAME").sum(), argnums=(0, 1, 2))(x, fd, fp)
    assert all(np.array_equal(a, b) for a, b in zip((x, fd, fp), saved))


# ---------------------------------------------------------------------------------------------
# The module
# ---------------------------------------------------------------------------------------------

def test_import_sepcpp_does_not_import_jax():
    code = "import sys, sepcpp; print('jax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("name", sj.__all__)
def test_docstrings(name):
    """The numpydoc checks and doctests test_docstrings.py runs on the NumPy API."""
    import test_docstrings as td

    obj = getattr(sj, name)
    td.test_numpydoc_sections_cover_the_signature(f"sepcpp.jax.{name}", obj)
    td.test_examples_run_and_print_what_they_show(f"sepcpp.jax.{name}", obj)
