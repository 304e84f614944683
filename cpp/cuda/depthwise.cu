// Depthwise 2-D convolution on the device: one thread per output element.
//
// Consecutive threads take consecutive elements of the output in its own memory order (channels
// fastest for NHWC, width fastest for NCHW), so the stores are coalesced and, for NHWC, the loads
// of neighbouring channels too; the window's reuse between neighbouring outputs is left to the L1
// and L2 caches (a depthwise layer does 9 multiply-adds per input element read: it is bound by
// memory, not arithmetic). Padded taps are left out, never multiplied by zero.
#include <algorithm>

#include "kernels.cuh"

namespace sepcpp {
namespace cuda {
namespace detail {
namespace {

template <class T, bool kChannelsFast>
__global__ void depthwise_kernel(const T* __restrict__ in, Strides4 is, const T* __restrict__ filter,
                                 const T* __restrict__ bias, T* __restrict__ out, Strides4 os, KernelGeometry k,
                                 Clamp<T> act, int64_t total) {
  const int64_t CM = k.C * k.M;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t j, ow, oh, n, r = i;
    if (kChannelsFast) {
      j = r % CM, r /= CM;
      ow = r % k.OW, r /= k.OW;
      oh = r % k.OH, n = r / k.OH;
    } else {
      ow = r % k.OW, r /= k.OW;
      oh = r % k.OH, r /= k.OH;
      j = r % CM, n = r / CM;
    }
    const int64_t c = j / k.M;
    const T* x = in + n * is.n + c * is.c;
    const int64_t h0 = oh * k.sh - k.pad_top, w0 = ow * k.sw - k.pad_left;
    T acc = 0;
    for (int64_t p = 0; p < k.KH; ++p) {
      const int64_t ih = h0 + p * k.dh;
      if (ih < 0 || ih >= k.H) continue;
      for (int64_t q = 0; q < k.KW; ++q) {
        const int64_t iw = w0 + q * k.dw;
        if (iw < 0 || iw >= k.W) continue;
        acc += __ldg(x + ih * is.h + iw * is.w) * __ldg(filter + (p * k.KW + q) * CM + j);
      }
    }
    if (bias) acc += __ldg(bias + j);
    out[n * os.n + j * os.c + oh * os.h + ow * os.w] = act(acc);
  }
}

}  // namespace

template <class T>
void launch_depthwise(const KernelGeometry& k, const DeviceOperands<T>& t, Clamp<T> act, cudaStream_t s) {
  const int64_t total = k.batch * k.OH * k.OW * k.C * k.M;
  if (total == 0) return;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>((total + threads - 1) / threads, int64_t(1) << 20);
  auto* kernel = t.out.c == 1 ? depthwise_kernel<T, true> : depthwise_kernel<T, false>;
  SEPCPP_LAUNCH(kernel, static_cast<unsigned>(blocks), threads, s, t.input, t.in, t.filter1, t.bias1, t.output, t.out,
                k, act, total);
  check(cudaGetLastError(), "depthwise_conv2d launch");
}

template void launch_depthwise<float>(const KernelGeometry&, const DeviceOperands<float>&, Clamp<float>, cudaStream_t);
template void launch_depthwise<double>(const KernelGeometry&, const DeviceOperands<double>&, Clamp<double>,
                                       cudaStream_t);

}  // namespace detail
}  // namespace cuda
}  // namespace sepcpp
