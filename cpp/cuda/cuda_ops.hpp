// sepcpp's CUDA target: the ops of sepcpp/ops.hpp on device memory (built with -DSEPCPP_CUDA=ON).
//
// The caller (cpp/bindings/cuda_module.cc) validates shapes with the CPU path's own
// sepcpp::conv_geometry, so shapes, errors and padding are the CPU ops' exactly; these functions
// take the resolved geometry and only launch. Tensors are device pointers plus element strides
// given by role (batch, channel, height, width), whatever the layout: NHWC and NCHW, and a
// PyTorch channels_last tensor, are the same kernels reading other strides. Filters and biases are
// dense, in TensorFlow's layouts ([KH, KW, C, M], [1, 1, C*M/groups, O], [KH, KW, C, O]).
// Everything is launched on `stream` and nothing waits for it (no host synchronisation).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "sepcpp/geometry.hpp"
#include "sepcpp/ops.hpp"

namespace sepcpp {
namespace cuda {

// A CUDA runtime failure, with the call that failed and the runtime's words.
struct CudaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws CudaError for anything but cudaSuccess (the runtime's sticky state is cleared first).
void check(cudaError_t e, const char* what);

// Devices the runtime sees; 0 (not an error) with no driver or no GPU. `why` gets the runtime's
// reason when there are none.
int device_count(std::string* why = nullptr);

// Strides of a 4-D tensor by role, in elements.
struct Strides4 {
  int64_t n = 0, c = 0, h = 0, w = 0;
};

template <class T>
struct DeviceOperands {
  const T* input = nullptr;
  Strides4 in;
  const T* filter1 = nullptr;  // depthwise, pointwise or regular filter, dense
  const T* filter2 = nullptr;  // separable ops: the pointwise filter, dense
  const T* bias1 = nullptr;    // bias (depthwise_bias for separable ops); nullptr for none
  const T* bias2 = nullptr;    // separable ops: the final bias
  T* output = nullptr;
  Strides4 out;
};

// One op on the device. `g` comes from sepcpp::conv_geometry(op, ...) with the same `p`.
template <class T>
void run(OpKind op, const ConvGeometry& g, const ConvParams& p, const DeviceOperands<T>& t, cudaStream_t stream);

// Copies a 4-D tensor with any element strides into dense row-major `dst` (device to device),
// so filters of any layout reach the kernels dense.
template <class T>
void pack_dense(const T* src, const int64_t shape[4], const int64_t strides[4], T* dst, cudaStream_t stream);

}  // namespace cuda
}  // namespace sepcpp
