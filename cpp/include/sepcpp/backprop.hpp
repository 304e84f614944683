// Gradients of sepcpp's ops: TensorFlow's backprop ops (tf.nn.depthwise_conv2d_backprop_input and
// _filter, conv2d_backprop_input and _filter) and the whole gradient of a (super-)separable
// convolution with its biases and activations.
//
// Conventions are ops.hpp's: tensors as pointer + shape + strides in the caller's layout
// (params.layout) for activations, TensorFlow's layouts for filters; ConvParams as for the forward
// op, so every stride, dilation and padding the forward op accepts is accepted here, with the same
// geometry (conv_geometry). `out_backprop` has the forward op's output shape.
//
// Every function is deterministic: the same bits for any thread count (reductions over pixels run
// over fixed partitions summed in a fixed order), and throws std::invalid_argument naming the
// argument and the shapes on bad input.
#pragma once

#include <cstdint>

#include "sepcpp/ops.hpp"

namespace sepcpp {

// d(loss)/d(input) of depthwise_conv2d, input of shape `input_shape` (caller's layout),
// filter [KH, KW, C, M]; written to `input_grad` (shape input_shape, caller's layout).
template <class T>
void depthwise_conv2d_backprop_input(const int64_t input_shape[4], const Tensor<const T>& filter,
                                     const Tensor<const T>& out_backprop, const Tensor<T>& input_grad,
                                     const ConvParams& params);

// d(loss)/d(filter) of depthwise_conv2d, filter of shape `filter_shape` [KH, KW, C, M].
template <class T>
void depthwise_conv2d_backprop_filter(const Tensor<const T>& input, const int64_t filter_shape[4],
                                      const Tensor<const T>& out_backprop, const Tensor<T>& filter_grad,
                                      const ConvParams& params);

// d(loss)/d(input) of conv2d, filters [KH, KW, C, O].
template <class T>
void conv2d_backprop_input(const int64_t input_shape[4], const Tensor<const T>& filters,
                           const Tensor<const T>& out_backprop, const Tensor<T>& input_grad, const ConvParams& params);

// d(loss)/d(filters) of conv2d, filters of shape `filter_shape` [KH, KW, C, O].
template <class T>
void conv2d_backprop_filter(const Tensor<const T>& input, const int64_t filter_shape[4],
                            const Tensor<const T>& out_backprop, const Tensor<T>& filter_grad,
                            const ConvParams& params);

// The gradients of separable_conv2d (params.groups > 1: super-separable) with respect to each of
// its operands; a Tensor with data == nullptr is not computed (a bias gradient must be null when
// that bias is). Shapes are those of the matching operands.
template <class T>
struct SeparableGradients {
  Tensor<T> input, depthwise_filter, pointwise_filter, depthwise_bias, bias;
};

// Fused: the forward pass and the gradient of the depthwise output are recomputed band by band
// (the gradient never stored whole; the depthwise output kept, transposed, for a block of at most
// 8 MiB for the pointwise filter's gradient) to apply the activations' gradients: relu passes the
// gradient where its input x > 0, relu6 where 0 < x < 6 (TensorFlow's rules).
template <class T>
void separable_conv2d_backprop(const Tensor<const T>& input, const Tensor<const T>& depthwise_filter,
                               const Tensor<const T>& pointwise_filter, const Tensor<const T>& depthwise_bias,
                               const Tensor<const T>& bias, const Tensor<const T>& out_backprop,
                               const SeparableGradients<T>& grads, const ConvParams& params);

}  // namespace sepcpp
