# distutils: language = c++
# cython: language_level=3, boundscheck=False, wraparound=False
"""Calling sepcpp's C++ kernels from Cython, without the interpreter in the loop.

Build with setuptools: ``Extension("sepcpp_cython_example", ["sepcpp_cython_example.pyx"],
**sepcpp.cython_extension_kwargs())`` (see setup.py beside this file).
"""

from libc.stdint cimport int64_t

cimport sepcpp

import numpy as np


cdef sepcpp.Tensor[const float] _view(const float[:, :, :, ::1] a) noexcept:
    cdef int64_t shape[4]
    for i in range(4):
        shape[i] = a.shape[i]
    return sepcpp.input_f32(&a[0, 0, 0, 0], 4, shape)


def separable_same_many(const float[:, :, :, ::1] x, const float[:, :, :, ::1] depthwise_filter,
                        const float[:, :, :, ::1] pointwise_filter, int repeats=1, relu6=False):
    """separable_conv2d(x, dw, pw, 1, "SAME", activation=relu6 and "relu6") run `repeats` times
    in a nogil loop; returns the (last) result."""
    cdef sepcpp.ConvParams p
    p.padding = sepcpp.Padding.kSame
    if relu6:
        p.activation = sepcpp.Activation.kRelu6
    cdef sepcpp.Tensor[const float] tx = _view(x)
    cdef sepcpp.Tensor[const float] tdw = _view(depthwise_filter)
    cdef sepcpp.Tensor[const float] tpw = _view(pointwise_filter)
    cdef sepcpp.Tensor[const float] no_bias
    # The shape arithmetic is sepcpp's (raises ValueError on a mismatch, via `except +`).
    cdef sepcpp.ConvGeometry g = sepcpp.conv_geometry(sepcpp.OpKind.kSeparable, tx.shape, tdw.shape, 4,
                                                      tpw.shape, 4, p)
    cdef int64_t oshape[4]
    sepcpp.output_shape(g, p.layout, oshape)
    result = np.empty([oshape[0], oshape[1], oshape[2], oshape[3]], dtype=np.float32)
    cdef float[:, :, :, ::1] o = result
    cdef sepcpp.Tensor[float] to = sepcpp.output_f32(&o[0, 0, 0, 0], 4, oshape)
    cdef int r
    with nogil:
        for r in range(repeats):
            sepcpp.separable_conv2d[float](tx, tdw, tpw, no_bias, no_bias, to, p)
    return result


def depthwise_valid(const double[:, :, :, ::1] x, const double[:, :, :, ::1] filter):
    """depthwise_conv2d(x, filter, 1, "VALID") in float64 through a prepacked ConvLayer."""
    cdef sepcpp.ConvParams p
    cdef int64_t xs[4]
    cdef int64_t fs[4]
    for i in range(4):
        xs[i] = x.shape[i]
        fs[i] = filter.shape[i]
    cdef sepcpp.Tensor[const double] tx = sepcpp.input_f64(&x[0, 0, 0, 0], 4, xs)
    cdef sepcpp.Tensor[const double] tf = sepcpp.input_f64(&filter[0, 0, 0, 0], 4, fs)
    cdef sepcpp.Tensor[const double] none
    cdef sepcpp.ConvLayer[double]* layer = new sepcpp.ConvLayer[double](sepcpp.OpKind.kDepthwise, tf, none, none,
                                                                         none, p)
    cdef int64_t oshape[4]
    cdef double[:, :, :, ::1] o
    try:
        sepcpp.output_shape(layer.geometry(xs), p.layout, oshape)
        result = np.empty([oshape[0], oshape[1], oshape[2], oshape[3]])
        o = result
        with nogil:
            layer[0](tx, sepcpp.output_f64(&o[0, 0, 0, 0], 4, oshape))
    finally:
        del layer
    return result
