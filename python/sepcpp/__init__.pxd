# cython: language_level=3
"""sepcpp's C++ entry points for Cython: ``cimport sepcpp`` in another package's .pyx.

Every function is declared ``nogil`` and ``except +`` (a C++ std::invalid_argument becomes a
Python ValueError, std::bad_alloc a MemoryError). Tensors are pointer + shape + strides (in
elements); see cpp/include/sepcpp/ops.hpp, installed under ``sepcpp.get_include()``. An extension
that cimports sepcpp compiles against those headers and links the static core library:
``setuptools.Extension(..., **sepcpp.cython_extension_kwargs())``.
"""

from libc.stdint cimport int64_t
from libcpp cimport bool
from libcpp.string cimport string


cdef extern from "sepcpp/geometry.hpp" namespace "sepcpp" nogil:
    cdef enum class Padding "sepcpp::Padding":
        kValid
        kSame
        kExplicit

    cdef enum class Layout "sepcpp::Layout":
        kNHWC
        kNCHW

    cdef enum class Activation "sepcpp::Activation":
        kNone
        kRelu
        kRelu6

    cdef cppclass ConvParams:
        int64_t stride_h, stride_w
        int64_t dilation_h, dilation_w
        Padding padding
        int64_t pad_top, pad_bottom, pad_left, pad_right
        Layout layout
        Activation activation
        Activation depthwise_activation
        int64_t groups

    cdef cppclass AxisGeometry:
        int64_t in_ "in"
        int64_t kernel, stride, dilation, pad_before, pad_after, out
        int64_t effective_kernel()

    cdef cppclass ConvGeometry:
        int64_t batch, in_channels, multiplier, out_channels
        AxisGeometry h, w
        int64_t taps()
        int64_t mid_channels()


cdef extern from "sepcpp/ops.hpp" namespace "sepcpp" nogil:
    cdef cppclass Tensor[T]:
        T* data
        int ndim
        int64_t shape[4]
        int64_t strides[4]

    Tensor[T] make_tensor[T](T* data, int ndim, const int64_t* shape)
    # C-contiguous views by dtype (Cython cannot spell make_tensor[const float] in an expression).
    Tensor[const float] input_f32 "sepcpp::make_tensor<const float>"(const float* data, int ndim, const int64_t* shape)
    Tensor[const double] input_f64 "sepcpp::make_tensor<const double>"(const double* data, int ndim,
                                                                         const int64_t* shape)
    Tensor[float] output_f32 "sepcpp::make_tensor<float>"(float* data, int ndim, const int64_t* shape)
    Tensor[double] output_f64 "sepcpp::make_tensor<double>"(double* data, int ndim, const int64_t* shape)

    cdef enum class OpKind "sepcpp::OpKind":
        kDepthwise
        kPointwise
        kSeparable
        kConv

    ConvGeometry conv_geometry(OpKind op, const int64_t* input_shape, const int64_t* filter_shape,
                               int filter_ndim, const int64_t* filter2_shape, int filter2_ndim,
                               const ConvParams& params) except +
    void output_shape(const ConvGeometry& g, Layout layout, int64_t* out)

    void depthwise_conv2d[T](const Tensor[const T]& input, const Tensor[const T]& filter,
                             const Tensor[const T]& bias, const Tensor[T]& output,
                             const ConvParams& params) except +
    void pointwise_conv2d[T](const Tensor[const T]& input, const Tensor[const T]& filter,
                             const Tensor[const T]& bias, const Tensor[T]& output,
                             const ConvParams& params) except +
    void separable_conv2d[T](const Tensor[const T]& input, const Tensor[const T]& depthwise_filter,
                             const Tensor[const T]& pointwise_filter,
                             const Tensor[const T]& depthwise_bias, const Tensor[const T]& bias,
                             const Tensor[T]& output, const ConvParams& params) except +
    void conv2d[T](const Tensor[const T]& input, const Tensor[const T]& filter,
                   const Tensor[const T]& bias, const Tensor[T]& output,
                   const ConvParams& params) except +

    cdef cppclass ConvLayer[T]:
        ConvLayer(OpKind op, const Tensor[const T]& filter, const Tensor[const T]& filter2,
                  const Tensor[const T]& bias1, const Tensor[const T]& bias2,
                  const ConvParams& params) except +
        ConvGeometry geometry(const int64_t* input_shape) except +
        void operator()(const Tensor[const T]& input, const Tensor[T]& output) except +

    void set_num_threads(int n) except +
    int get_num_threads()
    const char* isa_in_use() except +
