// pointwise_conv2d, conv2d and the (super-)separable ops on the device: one tiled GEMM kernel,
// out[pixel, o] = act(sum over k of A[pixel, k] * W[k, o] + bias[o]), whose A operand comes from a
// loader:
//   PointwiseA  reads the input (A is the input itself, a pixel's channels);
//   ConvA       gathers it (conv2d as an implicit im2col: k = (p * KW + q) * C + c, the order of
//               TensorFlow's [KH, KW, C, O] filter, which is then W as it lies in memory);
//   DepthwiseA  computes it: the fused separable op. A block's tile of output pixels goes through
//               the depthwise step (its bias and activation too) straight into shared memory and on
//               through the pointwise product; the C*M intermediate channels never reach global
//               memory. Blocks along the output channels each redo their tile's depthwise step
//               (KH*KW multiply-adds per intermediate value against the 64 of the pointwise step
//               per tile of 64 output channels: the price of keeping the intermediate on chip).
// Super-separable (groups G) runs the groups as grid.z, each its own K = C*M/G rows of W and its
// O/G columns.
//
// The tile: 64 pixels x 64 output channels per block of 256 threads, each thread a 4 x 4 block of
// accumulators in registers, K in steps of 16 through shared memory. A thread's rows and columns
// are 16 apart, so the 32 threads of a warp read 16 consecutive columns of the W tile and two
// rows of the A tile from shared memory: no bank conflicts on the inner loop's loads.
//
// Why our own kernel rather than cuBLAS: the separable op needs the GEMM's A tile to be produced
// inside the kernel (cuBLAS takes A only from global memory), conv2d reads A through an implicit
// im2col that cuBLAS cannot, and pointwise reads the input with any strides (NCHW, NHWC,
// channels_last views) where cuBLAS needs one of two dense layouts. One kernel for the three keeps
// one epilogue (bias, activation, output strides) and no extra dependency in the wheel.
// Arithmetic is full precision (fp32 or fp64 fused multiply-adds); there is no TF32 path.
#include <algorithm>

#include "kernels.cuh"

namespace sepcpp {
namespace cuda {
namespace detail {
namespace {

constexpr int kBM = 64, kBN = 64, kBK = 16, kThreads = 256;
constexpr int kTM = kBM / 16, kTN = kBN / 16;
static_assert(kThreads == 16 * 16, "a 16 x 16 grid of threads, each kTM x kTN outputs");

// A pixel's position: the input offset of its image, the top-left input tap and the output offset.
struct PixelBase {
  int64_t image, h0, w0, out;
  bool valid;
};

template <class T>
struct PointwiseA {
  const T* in;
  Strides4 is;
  int64_t H, W;
  __device__ __forceinline__ T operator()(const PixelBase& px, int64_t k, int64_t) const {
    // Pointwise with the Python API's stride 1 / VALID always lands inside; strides and explicit
    // padding (a 1x1 kernel like any other, as the CPU path) may not.
    if (px.h0 < 0 || px.h0 >= H || px.w0 < 0 || px.w0 >= W) return T(0);
    return __ldg(in + px.image + k * is.c + px.h0 * is.h + px.w0 * is.w);
  }
};

template <class T>
struct ConvA {
  const T* in;
  Strides4 is;
  int64_t H, W, C, KW, dh, dw;
  __device__ __forceinline__ T operator()(const PixelBase& px, int64_t k, int64_t) const {
    const int64_t c = k % C, pq = k / C;
    const int64_t ih = px.h0 + (pq / KW) * dh, iw = px.w0 + (pq % KW) * dw;
    if (ih < 0 || ih >= H || iw < 0 || iw >= W) return T(0);
    return __ldg(in + px.image + c * is.c + ih * is.h + iw * is.w);
  }
};

template <class T>
struct DepthwiseA {
  const T* in;
  Strides4 is;
  int64_t H, W, M, CM, KH, KW, dh, dw, group_rows;
  const T* filter;  // dense [KH, KW, C, M]
  const T* bias;    // depthwise_bias or nullptr
  Clamp<T> act;
  __device__ __forceinline__ T operator()(const PixelBase& px, int64_t k, int64_t group) const {
    const int64_t j = group * group_rows + k;  // the intermediate channel c * M + m
    const T* x = in + px.image + (j / M) * is.c;
    T acc = 0;
    for (int64_t p = 0; p < KH; ++p) {
      const int64_t ih = px.h0 + p * dh;
      if (ih < 0 || ih >= H) continue;
      for (int64_t q = 0; q < KW; ++q) {
        const int64_t iw = px.w0 + q * dw;
        if (iw < 0 || iw >= W) continue;
        acc += __ldg(x + ih * is.h + iw * is.w) * __ldg(filter + (p * KW + q) * CM + j);
      }
    }
    if (bias) acc += __ldg(bias + j);
    return act(acc);
  }
};

// kPixelsFast: the A tile is filled with consecutive threads on consecutive pixels (the input's
// width is its fastest axis: NCHW) rather than consecutive k (channels fastest: NHWC).
template <class T, class Loader, bool kPixelsFast>
__global__ void __launch_bounds__(kThreads) gemm_kernel(Loader load, KernelGeometry k, Strides4 is, int64_t K,
                                                        int64_t group_cols, int64_t ldw, const T* __restrict__ w,
                                                        const T* __restrict__ bias, T* __restrict__ out,
                                                        Strides4 os, Clamp<T> act) {
  __shared__ T a_tile[kBK][kBM + 1];  // +1: the k-fastest fill would otherwise hit one bank 16 times
  __shared__ T b_tile[kBK][kBN];
  __shared__ PixelBase pixels[kBM];

  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t group = blockIdx.z;
  const int64_t col0 = int64_t(blockIdx.y) * kBN;
  const int64_t total_pixels = k.batch * k.OH * k.OW;
  if (tid < kBM) {
    const int64_t m = int64_t(blockIdx.x) * kBM + tid;
    PixelBase px{0, 0, 0, 0, m < total_pixels};
    if (px.valid) {
      const int64_t ow = m % k.OW, r = m / k.OW, oh = r % k.OH, n = r / k.OH;
      px.image = n * is.n;
      px.h0 = oh * k.sh - k.pad_top;
      px.w0 = ow * k.sw - k.pad_left;
      px.out = n * os.n + oh * os.h + ow * os.w;
    }
    pixels[tid] = px;
  }
  __syncthreads();

  T acc[kTM][kTN];
#pragma unroll
  for (int i = 0; i < kTM; ++i)
#pragma unroll
    for (int j = 0; j < kTN; ++j) acc[i][j] = 0;

  const T* wg = w + group * group_cols;
  for (int64_t k0 = 0; k0 < K; k0 += kBK) {
#pragma unroll
    for (int r = 0; r < kBM * kBK / kThreads; ++r) {
      const int e = tid + r * kThreads;
      const int m = kPixelsFast ? e % kBM : e / kBK;
      const int kk = kPixelsFast ? e / kBM : e % kBK;
      const PixelBase& px = pixels[m];
      a_tile[kk][m] = (px.valid && k0 + kk < K) ? load(px, k0 + kk, group) : T(0);
    }
#pragma unroll
    for (int r = 0; r < kBN * kBK / kThreads; ++r) {
      const int e = tid + r * kThreads;
      const int kk = e / kBN, nn = e % kBN;
      b_tile[kk][nn] = (k0 + kk < K && col0 + nn < group_cols) ? __ldg(wg + (k0 + kk) * ldw + col0 + nn) : T(0);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      T a[kTM], b[kTN];
#pragma unroll
      for (int i = 0; i < kTM; ++i) a[i] = a_tile[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < kTN; ++j) b[j] = b_tile[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < kTM; ++i)
#pragma unroll
        for (int j = 0; j < kTN; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kTM; ++i) {
    const PixelBase& px = pixels[ty + 16 * i];
    if (!px.valid) continue;
#pragma unroll
    for (int j = 0; j < kTN; ++j) {
      const int64_t col = col0 + tx + 16 * j;
      if (col >= group_cols) continue;
      const int64_t o = group * group_cols + col;
      T v = acc[i][j];
      if (bias) v += __ldg(bias + o);
      out[px.out + o * os.c] = act(v);
    }
  }
}

template <class T, class Loader>
void launch(const Loader& load, const KernelGeometry& k, const Strides4& is, int64_t K, int64_t out_channels,
            int64_t groups, const T* w, const T* bias, T* out, const Strides4& os, Clamp<T> act, cudaStream_t s,
            const char* what) {
  const int64_t pixels = k.batch * k.OH * k.OW;
  const int64_t group_cols = out_channels / groups;
  const int64_t bx = (pixels + kBM - 1) / kBM, by = (group_cols + kBN - 1) / kBN;
  if (bx > 0x7fffffff || by > 65535 || groups > 65535)
    throw std::invalid_argument(std::string(what) + ": too large for one launch on the device (" +
                                std::to_string(pixels) + " output pixels, " + std::to_string(group_cols) +
                                " output channels per group, " + std::to_string(groups) + " groups)");
  const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(by), static_cast<unsigned>(groups));
  auto* kernel = is.c == 1 ? gemm_kernel<T, Loader, false> : gemm_kernel<T, Loader, true>;
  SEPCPP_LAUNCH(kernel, grid, kThreads, s, load, k, is, K, group_cols, out_channels, w, bias, out, os, act);
  check(cudaGetLastError(), what);
}

}  // namespace

template <class T>
void launch_gemm(OpKind op, const KernelGeometry& k, int64_t out_channels, int64_t groups,
                 const DeviceOperands<T>& t, Clamp<T> act1, Clamp<T> act, cudaStream_t s) {
  switch (op) {
    case OpKind::kPointwise:
      launch<T>(PointwiseA<T>{t.input, t.in, k.H, k.W}, k, t.in, k.C, out_channels, 1, t.filter1, t.bias1, t.output,
                t.out, act, s, "pointwise_conv2d launch");
      break;
    case OpKind::kConv:
      launch<T>(ConvA<T>{t.input, t.in, k.H, k.W, k.C, k.KW, k.dh, k.dw}, k, t.in, k.KH * k.KW * k.C, out_channels,
                1, t.filter1, t.bias1, t.output, t.out, act, s, "conv2d launch");
      break;
    case OpKind::kSeparable: {
      const int64_t CM = k.C * k.M, rows = CM / groups;
      launch<T>(DepthwiseA<T>{t.input, t.in, k.H, k.W, k.M, CM, k.KH, k.KW, k.dh, k.dw, rows, t.filter1, t.bias1,
                              act1},
                k, t.in, rows, out_channels, groups, t.filter2, t.bias2, t.output, t.out, act, s,
                "separable_conv2d launch");
      break;
    }
    case OpKind::kDepthwise: break;  // cpp/cuda/depthwise.cu
  }
}

template void launch_gemm<float>(OpKind, const KernelGeometry&, int64_t, int64_t, const DeviceOperands<float>&,
                                 Clamp<float>, Clamp<float>, cudaStream_t);
template void launch_gemm<double>(OpKind, const KernelGeometry&, int64_t, int64_t, const DeviceOperands<double>&,
                                  Clamp<double>, Clamp<double>, cudaStream_t);

}  // namespace detail
}  // namespace cuda
}  // namespace sepcpp
