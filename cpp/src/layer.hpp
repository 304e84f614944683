// The state of a ConvLayer (validated parameters, packed weights) and the per-op run functions
// that the layer and the functional API share.
#pragma once

#include "../kernels/kernels.hpp"
#include "depthwise_rows.hpp"
#include "gemm.hpp"
#include "sepcpp/ops.hpp"
#include "tensor_view.hpp"

namespace sepcpp {

template <class T>
struct ConvLayer<T>::Impl {
  OpKind op = OpKind::kDepthwise;
  ConvParams params;
  int64_t filter_shape[4] = {0, 0, 0, 0};
  int64_t filter2_shape[4] = {0, 0, 0, 0};
  int filter2_ndim = 0;
  // The table whose packing layout `gemm` follows: the layer keeps using it even if the process's
  // ISA is changed later.
  const kernels::KernelTable* table = nullptr;
  detail::DepthwiseWeights<T> dw;  // depthwise, separable
  detail::PackedGemm<T> gemm;      // pointwise, separable, conv
  int64_t groups = 1, kg = 0, og = 0;
  // conv2d / pointwise: an infinity or NaN in the filter (run_conv then keeps padded taps out).
  bool nonfinite = false;

  Impl(OpKind op, const Tensor<const T>& filter, const Tensor<const T>& filter2, const Tensor<const T>& bias1,
       const Tensor<const T>& bias2, const ConvParams& params, bool borrow);
  ConvGeometry geometry(const int64_t input_shape[4]) const;
  void run(const Tensor<const T>& input, const Tensor<T>& output) const;
};

namespace detail {
// Each op's loop nest over dense NHWC memory (depthwise.cc, pointwise.cc, separable.cc, conv.cc).
template <class T>
void run_depthwise(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const InputRows<T>& in, T* out);
template <class T>
void run_pointwise(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const InputRows<T>& in, T* out);
template <class T>
void run_separable(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const InputRows<T>& in, T* out);
template <class T>
void run_conv(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const InputRows<T>& in, T* out);
}  // namespace detail

}  // namespace sepcpp
