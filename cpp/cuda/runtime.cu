// The CUDA target's runtime side: errors, device count, filter packing, and the op dispatch.
#include <limits>
#include <string>

#include "cuda_ops.hpp"
#include "kernels.cuh"

namespace sepcpp {
namespace cuda {

void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear the runtime's record of a non-sticky error so later calls can run
  throw CudaError(std::string(what) + ": CUDA error " + std::to_string(static_cast<int>(e)) + " (" +
                  cudaGetErrorName(e) + "): " + cudaGetErrorString(e));
}

int device_count(std::string* why) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    // No driver (cudaErrorInsufficientDriver / cudaErrorNoDevice) is the ordinary CPU-only machine.
    if (why) *why = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    cudaGetLastError();
    return 0;
  }
  if (n == 0 && why) *why = "the CUDA driver reports no device";
  return n;
}

namespace {

template <class T>
__global__ void pack_dense_kernel(const T* __restrict__ src, int64_t d1, int64_t d2, int64_t d3, int64_t s0,
                                  int64_t s1, int64_t s2, int64_t s3, T* __restrict__ dst, int64_t total) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i;
    const int64_t d = r % d3;
    r /= d3;
    const int64_t c = r % d2;
    r /= d2;
    const int64_t b = r % d1;
    const int64_t a = r / d1;
    dst[i] = src[a * s0 + b * s1 + c * s2 + d * s3];
  }
}

}  // namespace

template <class T>
void pack_dense(const T* src, const int64_t shape[4], const int64_t strides[4], T* dst, cudaStream_t stream) {
  const int64_t total = shape[0] * shape[1] * shape[2] * shape[3];  // checked by conv_geometry
  if (total == 0) return;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, int64_t(1) << 20);
  SEPCPP_LAUNCH(pack_dense_kernel<T>, static_cast<unsigned>(blocks), threads, stream, src, shape[1], shape[2], shape[3],
                strides[0], strides[1], strides[2], strides[3], dst, total);
  check(cudaGetLastError(), "pack_dense launch");
}

namespace detail {

template <class T>
Clamp<T> make_clamp(Activation a) {
  Clamp<T> c;
  switch (a) {
    case Activation::kNone: break;
    case Activation::kRelu: c.on = true, c.lo = 0, c.hi = std::numeric_limits<T>::infinity(); break;
    case Activation::kRelu6: c.on = true, c.lo = 0, c.hi = 6; break;
  }
  return c;
}

KernelGeometry kernel_geometry(const ConvGeometry& g) {
  KernelGeometry k;
  k.batch = g.batch, k.H = g.h.in, k.W = g.w.in, k.C = g.in_channels, k.M = g.multiplier;
  k.OH = g.h.out, k.OW = g.w.out;
  k.KH = g.h.kernel, k.KW = g.w.kernel, k.sh = g.h.stride, k.sw = g.w.stride;
  k.dh = g.h.dilation, k.dw = g.w.dilation, k.pad_top = g.h.pad_before, k.pad_left = g.w.pad_before;
  return k;
}

}  // namespace detail

template <class T>
void run(OpKind op, const ConvGeometry& g, const ConvParams& p, const DeviceOperands<T>& t, cudaStream_t stream) {
  using namespace detail;
  const KernelGeometry k = kernel_geometry(g);
  if (g.batch == 0 || g.h.out == 0 || g.w.out == 0 || g.out_channels == 0) return;  // an empty output
  switch (op) {
    case OpKind::kDepthwise: launch_depthwise<T>(k, t, make_clamp<T>(p.activation), stream); break;
    case OpKind::kPointwise:
    case OpKind::kConv:
      launch_gemm<T>(op, k, g.out_channels, 1, t, Clamp<T>(), make_clamp<T>(p.activation), stream);
      break;
    case OpKind::kSeparable:
      launch_gemm<T>(op, k, g.out_channels, p.groups, t, make_clamp<T>(p.depthwise_activation),
                     make_clamp<T>(p.activation), stream);
      break;
  }
}

template void run<float>(OpKind, const ConvGeometry&, const ConvParams&, const DeviceOperands<float>&, cudaStream_t);
template void run<double>(OpKind, const ConvGeometry&, const ConvParams&, const DeviceOperands<double>&, cudaStream_t);
template void pack_dense<float>(const float*, const int64_t*, const int64_t*, float*, cudaStream_t);
template void pack_dense<double>(const double*, const int64_t*, const int64_t*, double*, cudaStream_t);

}  // namespace cuda
}  // namespace sepcpp
