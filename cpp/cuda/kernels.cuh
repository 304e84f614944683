// Internal to cpp/cuda/: the launchers each .cu file defines, and what the kernels share.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_ops.hpp"

// Every launch goes through this macro: nvcc's <<<>>> here, and a host emulator of the execution
// model in tests/cpp/test_cuda_emulated.cc (built with g++ and no CUDA, so CI runs the kernels'
// index arithmetic, tiling and barriers on every build; see tests/cpp/cuda_emulation/).
#ifndef SEPCPP_CUDA_EMULATED
#define SEPCPP_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#endif

namespace sepcpp {
namespace cuda {
namespace detail {

// The output clamp of every epilogue, as the CPU kernels' (cpp/kernels/kernels.hpp): NaN passes
// through unchanged (both comparisons are false), as in TensorFlow's relu and relu6.
template <class T>
struct Clamp {
  bool on = false;
  T lo = 0, hi = 0;
  __device__ __forceinline__ T operator()(T v) const {
    if (!on) return v;
    return v < lo ? lo : (v > hi ? hi : v);
  }
};

template <class T>
Clamp<T> make_clamp(Activation a);

// Everything of ConvGeometry + ConvParams a kernel reads, as plain values.
struct KernelGeometry {
  int64_t batch, H, W, C, M, OH, OW;
  int64_t KH, KW, sh, sw, dh, dw, pad_top, pad_left;
};
KernelGeometry kernel_geometry(const ConvGeometry& g);

template <class T>
void launch_depthwise(const KernelGeometry& k, const DeviceOperands<T>& t, Clamp<T> act, cudaStream_t s);

// pointwise, conv2d and the (super-)separable ops: one tiled GEMM kernel whose A operand is read
// (pointwise), gathered (conv2d: an implicit im2col) or computed in shared memory (separable: the
// depthwise step).
template <class T>
void launch_gemm(OpKind op, const KernelGeometry& k, int64_t out_channels, int64_t groups,
                 const DeviceOperands<T>& t, Clamp<T> act1, Clamp<T> act, cudaStream_t s);

}  // namespace detail
}  // namespace cuda
}  // namespace sepcpp
