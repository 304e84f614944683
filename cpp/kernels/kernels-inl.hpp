// The microkernels, written once against the vector traits of simd.hpp and instantiated by each
// ISA file. No bounds are crossed: channel and column tails use masked loads/stores, row tails
// re-read the last valid row and do not store it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "kernels.hpp"
#include "simd.hpp"

namespace sepcpp {
namespace kernels {

// ---------------------------------------------------------------------------------------------
// The accumulator tile of the depthwise kernels: PX pixels x B vectors of channels, started from
// the bias and finished by the activation clamp and a (masked) store.
template <class S, size_t PX, size_t B, bool MASKED>
inline void dw_init(typename S::V (&acc)[PX][B], const typename S::Elem* bias, size_t c, size_t n) {
  for (size_t b = 0; b < B; ++b) {
    const typename S::V init = !bias ? S::zero() : MASKED ? S::load_n(bias + c + b * S::N, n)
                                                          : S::load(bias + c + b * S::N);
    for (size_t q = 0; q < PX; ++q) acc[q][b] = init;
  }
}

template <class S, size_t PX, size_t B, bool MASKED>
inline void dw_store(typename S::V (&acc)[PX][B], typename S::Elem* o, size_t out_pixel_stride, size_t c,
                     size_t n, bool clamp, typename S::V lo, typename S::V hi) {
  for (size_t q = 0; q < PX; ++q)
    for (size_t b = 0; b < B; ++b) {
      typename S::V v = acc[q][b];
      if (clamp) v = S::clamp(v, lo, hi);
      typename S::Elem* dst = o + q * out_pixel_stride + c + b * S::N;
      if (MASKED) S::store_n(dst, v, n);
      else S::store(dst, v);
    }
}

// Depthwise: a tile of PX output pixels x B vectors of channels. Each weight vector loaded for a
// tap serves PX pixels (fewer loads per FMA), and the PX*B accumulators are independent chains
// that hide the FMA latency. MASKED handles the last n < N channels with masked loads/stores.
template <class S, size_t PX, size_t B, bool MASKED, size_t TAPS>
inline void dwconv_tile(size_t c, size_t n, size_t taps_rt, size_t channels, const typename S::Elem* const* base,
                        const ptrdiff_t* step, size_t p, const typename S::Elem* weights, const typename S::Elem* bias, typename S::Elem* o,
                        size_t out_pixel_stride, bool clamp, typename S::V lo, typename S::V hi) {
  using T = typename S::Elem;
  using V = typename S::V;
  constexpr size_t N = S::N;
  auto load = [n](const T* p) { return MASKED ? S::load_n(p, n) : S::load(p); };
  const size_t taps = TAPS ? TAPS : taps_rt;  // a constant lets the compiler unroll 3x3, 5x5, 7x7
  V acc[PX][B];
  dw_init<S, PX, B, MASKED>(acc, bias, c, n);
  for (size_t t = 0; t < taps; ++t) {
    const T* w = weights + t * channels + c;
    V wv[B];
    for (size_t b = 0; b < B; ++b) wv[b] = load(w + b * N);
    const T* in0 = base[t] + static_cast<ptrdiff_t>(p) * step[t] + c;
    for (size_t q = 0; q < PX; ++q) {
      const T* in = in0 + static_cast<ptrdiff_t>(q) * step[t];
      for (size_t b = 0; b < B; ++b) acc[q][b] = S::fma(load(in + b * N), wv[b], acc[q][b]);
    }
  }
  dw_store<S, PX, B, MASKED>(acc, o, out_pixel_stride, c, n, clamp, lo, hi);
}

// Pixels outer (tiles of 4), channel blocks inner: each tile's input pixels are read as
// contiguous channel runs, and the accumulators stay in registers for any number of taps, so a
// large window (63 taps) has no slowdown cliff. (Channel blocks outer, to keep one block's
// weights in L1 for large windows, measured no faster here, for 7x7 nor for 63 taps.)
template <class S, size_t PX, size_t TAPS>
inline void dwconv_pixels(size_t channels, size_t taps, const typename S::Elem* const* base, const ptrdiff_t* step,
                          size_t p, const typename S::Elem* weights, const typename S::Elem* bias,
                          typename S::Elem* o, size_t out_pixel_stride, bool clamp, typename S::V lo,
                          typename S::V hi) {
  constexpr size_t N = S::N;
  size_t c = 0;
  for (; c + 2 * N <= channels; c += 2 * N)
    dwconv_tile<S, PX, 2, false, TAPS>(c, N, taps, channels, base, step, p, weights, bias, o, out_pixel_stride, clamp,
                                       lo, hi);
  for (; c + N <= channels; c += N)
    dwconv_tile<S, PX, 1, false, TAPS>(c, N, taps, channels, base, step, p, weights, bias, o, out_pixel_stride, clamp,
                                       lo, hi);
  if (c < channels)
    dwconv_tile<S, PX, 1, true, TAPS>(c, channels - c, taps, channels, base, step, p, weights, bias, o,
                                      out_pixel_stride, clamp, lo, hi);
}

template <class S, size_t TAPS>
void dwconv_taps(size_t channels, size_t pixels, size_t taps, const typename S::Elem* const* tap_base,
                 const ptrdiff_t* tap_step, const typename S::Elem* weights, const typename S::Elem* bias,
                 typename S::Elem* out, size_t out_pixel_stride, const Activation<typename S::Elem>& act) {
  const typename S::V lo = S::set1(act.lo), hi = S::set1(act.hi);
  size_t p = 0;
  for (; p + 4 <= pixels; p += 4)
    dwconv_pixels<S, 4, TAPS>(channels, taps, tap_base, tap_step, p, weights, bias, out + p * out_pixel_stride,
                              out_pixel_stride, act.clamp, lo, hi);
  for (; p < pixels; ++p)
    dwconv_pixels<S, 1, TAPS>(channels, taps, tap_base, tap_step, p, weights, bias, out + p * out_pixel_stride,
                              out_pixel_stride, act.clamp, lo, hi);
}

// Specialised paths for the common windows (1x3 / 3x1, 3x3, 5x5), the general one otherwise (any
// size, stride or dilation: those only change the tap pointers and steps). 7x7 unrolled measured
// no faster than the general loop.
template <class S>
void dwconv(size_t channels, size_t pixels, size_t taps, const typename S::Elem* const* tap_base,
            const ptrdiff_t* tap_step, const typename S::Elem* weights, const typename S::Elem* bias,
            typename S::Elem* out, size_t out_pixel_stride, const Activation<typename S::Elem>& act) {
  switch (taps) {
    case 3: return dwconv_taps<S, 3>(channels, pixels, taps, tap_base, tap_step, weights, bias, out, out_pixel_stride, act);
    case 9: return dwconv_taps<S, 9>(channels, pixels, taps, tap_base, tap_step, weights, bias, out, out_pixel_stride, act);
    case 25: return dwconv_taps<S, 25>(channels, pixels, taps, tap_base, tap_step, weights, bias, out, out_pixel_stride, act);
    default: return dwconv_taps<S, 0>(channels, pixels, taps, tap_base, tap_step, weights, bias, out, out_pixel_stride, act);
  }
}

// Row-sliding depthwise (stride 1, dilation 1): along a kernel row, tap kx of pixel q reads input
// pixel q + kx, so a window of PX input vectors slides one pixel per tap: each tap loads one new
// input vector and one weight vector for PX FMAs (the general kernel loads PX + 1). Any kernel
// width; the accumulators stay in registers for any number of taps.
template <class S, size_t PX, size_t B, bool MASKED>
inline void dwrow_tile(size_t c, size_t n, size_t kh, size_t kw, size_t channels,
                       const typename S::Elem* const* rows, size_t p, const typename S::Elem* weights,
                       const typename S::Elem* bias, typename S::Elem* o, size_t out_pixel_stride, bool clamp,
                       typename S::V lo, typename S::V hi) {
  using T = typename S::Elem;
  using V = typename S::V;
  constexpr size_t N = S::N;
  auto load = [n](const T* ptr) { return MASKED ? S::load_n(ptr, n) : S::load(ptr); };
  V acc[PX][B];
  dw_init<S, PX, B, MASKED>(acc, bias, c, n);
  for (size_t ky = 0; ky < kh; ++ky) {
    const T* r = rows[ky] + p * channels + c;
    const T* w = weights + ky * kw * channels + c;
    V win[PX][B];
    for (size_t q = 0; q < PX; ++q)
      for (size_t b = 0; b < B; ++b) win[q][b] = load(r + q * channels + b * N);
    for (size_t kx = 0;; ++kx) {
      V wv[B];
      for (size_t b = 0; b < B; ++b) wv[b] = load(w + kx * channels + b * N);
      // Same order per element as dwconv_tile: taps in (ky, kx) order, fma(in, w, acc).
      for (size_t q = 0; q < PX; ++q)
        for (size_t b = 0; b < B; ++b) acc[q][b] = S::fma(win[q][b], wv[b], acc[q][b]);
      if (kx + 1 == kw) break;
      for (size_t q = 0; q + 1 < PX; ++q)
        for (size_t b = 0; b < B; ++b) win[q][b] = win[q + 1][b];
      for (size_t b = 0; b < B; ++b) win[PX - 1][b] = load(r + (PX + kx) * channels + b * N);
    }
  }
  dw_store<S, PX, B, MASKED>(acc, o, out_pixel_stride, c, n, clamp, lo, hi);
}

// Calls f(std::integral_constant<size_t, PX>, p) for the pixel tiles of a run of `pixels`: tiles
// of kDwRowTile, then one of 4 and one of 2 for what is left, then single pixels.
template <class F>
inline void dwrow_pixel_tiles(size_t pixels, F&& f) {
  size_t p = 0;
  for (; p + kDwRowTile <= pixels; p += kDwRowTile) f(std::integral_constant<size_t, kDwRowTile>(), p);
  if (p + 4 <= pixels) {
    f(std::integral_constant<size_t, 4>(), p);
    p += 4;
  }
  if (p + 2 <= pixels) {
    f(std::integral_constant<size_t, 2>(), p);
    p += 2;
  }
  for (; p < pixels; ++p) f(std::integral_constant<size_t, 1>(), p);
}

// All the pixels of a run for the channels [c, c + n) (B vectors): channel blocks outermost, so
// that a block's weights and its slice of the kernel rows stay in L1 while the pixel tiles slide
// along the row (pixels outermost, a 5x5 kernel on 240 channels touched ~60 KiB per tile).
template <class S, size_t B, bool MASKED>
inline void dwrow_channels(size_t c, size_t n, size_t channels, size_t pixels, size_t kh, size_t kw,
                           const typename S::Elem* const* rows, const typename S::Elem* weights,
                           const typename S::Elem* bias, typename S::Elem* out, size_t out_pixel_stride, bool clamp,
                           typename S::V lo, typename S::V hi) {
  dwrow_pixel_tiles(pixels, [&](auto px, size_t p) {
    dwrow_tile<S, decltype(px)::value, B, MASKED>(c, n, kh, kw, channels, rows, p, weights, bias,
                                                  out + p * out_pixel_stride, out_pixel_stride, clamp, lo, hi);
  });
}

// All the channels of the pixels [p, p + PX), in channel blocks. For a single kernel row (1-D
// windows), pixel tiles go outermost: the kernel row has no reuse across channel blocks to keep in
// L1, and a channel block taken along the row steps C values per pixel, a new 4 KiB page per pixel
// at 1024 float channels, where the hardware prefetchers do not follow (1x3 on 1024 channels: 1.7x
// faster this way, 1x15 on 512: 1.37x).
template <class S, size_t PX>
inline void dwrow_all_channels(size_t channels, size_t p, size_t kh, size_t kw, const typename S::Elem* const* rows,
                               const typename S::Elem* weights, const typename S::Elem* bias, typename S::Elem* out,
                               size_t out_pixel_stride, bool clamp, typename S::V lo, typename S::V hi) {
  constexpr size_t N = S::N, B = N >= 16 ? 2 : 1;
  typename S::Elem* o = out + p * out_pixel_stride;
  size_t c = 0;
  for (; c + B * N <= channels; c += B * N)
    dwrow_tile<S, PX, B, false>(c, N, kh, kw, channels, rows, p, weights, bias, o, out_pixel_stride, clamp, lo, hi);
  for (; c + N <= channels; c += N)
    dwrow_tile<S, PX, 1, false>(c, N, kh, kw, channels, rows, p, weights, bias, o, out_pixel_stride, clamp, lo, hi);
  if (c < channels)
    dwrow_tile<S, PX, 1, true>(c, channels - c, kh, kw, channels, rows, p, weights, bias, o, out_pixel_stride, clamp,
                               lo, hi);
}

template <class S>
void dwconv_row(size_t channels, size_t pixels, size_t kh, size_t kw, const typename S::Elem* const* rows,
                const typename S::Elem* weights, const typename S::Elem* bias, typename S::Elem* out,
                size_t out_pixel_stride, const Activation<typename S::Elem>& act) {
  const typename S::V lo = S::set1(act.lo), hi = S::set1(act.hi);
  constexpr size_t N = S::N;
  // Two vectors per step where the registers allow it (AVX-512's 32; not AVX2's 16).
  constexpr size_t B = N >= 16 ? 2 : 1;
  // (B = 2 with 6-pixel tiles: 12 accumulators, a 12-vector window and 2 weight vectors, plus the
  // clamp bounds: 28 of AVX-512's 32 registers. One vector on AVX2: 13 of 16.)
  static_assert(kDwRowTile <= 6, "B = 2 needs at most 6 pixels per tile in 32 registers");
  if (kh == 1) {  // pixel tiles outermost (dwrow_all_channels), in the same tiles as below
    dwrow_pixel_tiles(pixels, [&](auto px, size_t p) {
      dwrow_all_channels<S, decltype(px)::value>(channels, p, kh, kw, rows, weights, bias, out, out_pixel_stride,
                                                 act.clamp, lo, hi);
    });
    return;
  }
  size_t c = 0;
  for (; c + B * N <= channels; c += B * N)
    dwrow_channels<S, B, false>(c, N, channels, pixels, kh, kw, rows, weights, bias, out, out_pixel_stride, act.clamp,
                                lo, hi);
  for (; c + N <= channels; c += N)
    dwrow_channels<S, 1, false>(c, N, channels, pixels, kh, kw, rows, weights, bias, out, out_pixel_stride, act.clamp,
                                lo, hi);
  if (c < channels)
    dwrow_channels<S, 1, true>(c, channels - c, channels, pixels, kh, kw, rows, weights, bias, out, out_pixel_stride,
                               act.clamp, lo, hi);
}

// ---------------------------------------------------------------------------------------------
// Depthwise backprop steps (DwGatherFn, DwReduceFn).

// Gather: a tile of PX pixels x B vectors of channels, as dwconv_tile with a weight vector per tap
// and no bias or activation.
template <class S, size_t PX, size_t B, bool MASKED>
inline void dwg_tile(size_t c, size_t n, size_t taps, const typename S::Elem* const* base, const ptrdiff_t* step,
                     size_t p, const typename S::Elem* const* wts, typename S::Elem* o, size_t out_pixel_stride) {
  using T = typename S::Elem;
  using V = typename S::V;
  constexpr size_t N = S::N;
  auto load = [n](const T* ptr) { return MASKED ? S::load_n(ptr, n) : S::load(ptr); };
  V acc[PX][B];
  for (size_t q = 0; q < PX; ++q)
    for (size_t b = 0; b < B; ++b) acc[q][b] = S::zero();
  for (size_t t = 0; t < taps; ++t) {
    V wv[B];
    for (size_t b = 0; b < B; ++b) wv[b] = load(wts[t] + c + b * N);
    const T* in0 = base[t] + static_cast<ptrdiff_t>(p) * step[t] + c;
    for (size_t q = 0; q < PX; ++q) {
      const T* in = in0 + static_cast<ptrdiff_t>(q) * step[t];
      for (size_t b = 0; b < B; ++b) acc[q][b] = S::fma(load(in + b * N), wv[b], acc[q][b]);
    }
  }
  for (size_t q = 0; q < PX; ++q)
    for (size_t b = 0; b < B; ++b) {
      T* dst = o + q * out_pixel_stride + c + b * N;
      if (MASKED) S::store_n(dst, acc[q][b], n);
      else S::store(dst, acc[q][b]);
    }
}

template <class S, size_t PX>
inline void dwg_pixels(size_t channels, size_t taps, const typename S::Elem* const* base, const ptrdiff_t* step,
                       size_t p, const typename S::Elem* const* wts, typename S::Elem* o, size_t out_pixel_stride) {
  constexpr size_t N = S::N;
  size_t c = 0;
  for (; c + 2 * N <= channels; c += 2 * N) dwg_tile<S, PX, 2, false>(c, N, taps, base, step, p, wts, o, out_pixel_stride);
  for (; c + N <= channels; c += N) dwg_tile<S, PX, 1, false>(c, N, taps, base, step, p, wts, o, out_pixel_stride);
  if (c < channels) dwg_tile<S, PX, 1, true>(c, channels - c, taps, base, step, p, wts, o, out_pixel_stride);
}

template <class S>
void dw_gather(size_t channels, size_t pixels, size_t taps, const typename S::Elem* const* tap_base,
               const ptrdiff_t* tap_step, const typename S::Elem* const* tap_weight, typename S::Elem* out,
               size_t out_pixel_stride) {
  size_t p = 0;
  for (; p + 4 <= pixels; p += 4)
    dwg_pixels<S, 4>(channels, taps, tap_base, tap_step, p, tap_weight, out + p * out_pixel_stride, out_pixel_stride);
  for (; p < pixels; ++p)
    dwg_pixels<S, 1>(channels, taps, tap_base, tap_step, p, tap_weight, out + p * out_pixel_stride, out_pixel_stride);
}

// Reduce: G taps x B vectors of channels accumulate over all the pixels in registers (G*B
// independent chains, one gradient load serving G taps), then are stored back.
template <class S, size_t G, size_t B, bool MASKED>
inline void dwr_block(size_t c, size_t n, size_t pixels, const typename S::Elem* const* base, const ptrdiff_t* step,
                      const typename S::Elem* grad, size_t grad_pixel_stride, typename S::Elem* const* accp) {
  using T = typename S::Elem;
  using V = typename S::V;
  constexpr size_t N = S::N;
  auto load = [n](const T* ptr) { return MASKED ? S::load_n(ptr, n) : S::load(ptr); };
  V acc[G][B];
  const T* in[G];
  ptrdiff_t st[G];
  for (size_t t = 0; t < G; ++t) {
    in[t] = base[t] + c;
    st[t] = step[t];
    for (size_t b = 0; b < B; ++b) acc[t][b] = load(accp[t] + c + b * N);
  }
  const T* gp = grad + c;
  for (size_t p = 0; p < pixels; ++p, gp += grad_pixel_stride) {
    V gv[B];
    for (size_t b = 0; b < B; ++b) gv[b] = load(gp + b * N);
    for (size_t t = 0; t < G; ++t) {
      const T* x = in[t] + static_cast<ptrdiff_t>(p) * st[t];  // (only addresses of pixels in range)
      for (size_t b = 0; b < B; ++b) acc[t][b] = S::fma(load(x + b * N), gv[b], acc[t][b]);
    }
  }
  for (size_t t = 0; t < G; ++t)
    for (size_t b = 0; b < B; ++b) {
      T* dst = accp[t] + c + b * N;
      if (MASKED) S::store_n(dst, acc[t][b], n);
      else S::store(dst, acc[t][b]);
    }
}

template <class S, size_t G>
inline void dwr_taps(size_t channels, size_t pixels, const typename S::Elem* const* base, const ptrdiff_t* step,
                     const typename S::Elem* grad, size_t grad_pixel_stride, typename S::Elem* const* accp) {
  constexpr size_t N = S::N;
  size_t c = 0;
  for (; c + 2 * N <= channels; c += 2 * N)
    dwr_block<S, G, 2, false>(c, N, pixels, base, step, grad, grad_pixel_stride, accp);
  for (; c + N <= channels; c += N) dwr_block<S, G, 1, false>(c, N, pixels, base, step, grad, grad_pixel_stride, accp);
  if (c < channels) dwr_block<S, G, 1, true>(c, channels - c, pixels, base, step, grad, grad_pixel_stride, accp);
}

// Pixels at least a 4 KiB page apart (1024 float channels, a 1-D SliceNet layer's) are taken in
// blocks of kReducePixelBlock: a channel block read down all the pixels steps one page per pixel,
// where the hardware prefetchers do not follow, but within a short block the lines the L2 streamer
// brought in for one channel block serve the next ones (1x3 on 1024 channels, C++ benchmark:
// 1.6-2x). The accumulators are stored exactly between blocks, so each sum keeps its order.
constexpr size_t kReducePixelBlock = 16;

template <class S>
void dw_reduce_block(size_t channels, size_t pixels, size_t taps, const typename S::Elem* const* tap_base,
                     const ptrdiff_t* tap_step, const typename S::Elem* grad, size_t grad_pixel_stride,
                     typename S::Elem* const* tap_acc) {
  size_t t = 0;
  for (; t + 4 <= taps; t += 4)
    dwr_taps<S, 4>(channels, pixels, tap_base + t, tap_step + t, grad, grad_pixel_stride, tap_acc + t);
  switch (taps - t) {
    case 3: dwr_taps<S, 3>(channels, pixels, tap_base + t, tap_step + t, grad, grad_pixel_stride, tap_acc + t); break;
    case 2: dwr_taps<S, 2>(channels, pixels, tap_base + t, tap_step + t, grad, grad_pixel_stride, tap_acc + t); break;
    case 1: dwr_taps<S, 1>(channels, pixels, tap_base + t, tap_step + t, grad, grad_pixel_stride, tap_acc + t); break;
    default: break;
  }
}

template <class S>
void dw_reduce(size_t channels, size_t pixels, size_t taps, const typename S::Elem* const* tap_base,
               const ptrdiff_t* tap_step, const typename S::Elem* grad, size_t grad_pixel_stride,
               typename S::Elem* const* tap_acc) {
  using T = typename S::Elem;
  if (grad_pixel_stride * sizeof(T) < 4096 || pixels <= kReducePixelBlock || taps > 64) {
    dw_reduce_block<S>(channels, pixels, taps, tap_base, tap_step, grad, grad_pixel_stride, tap_acc);
    return;
  }
  const T* base[64];
  for (size_t p0 = 0; p0 < pixels; p0 += kReducePixelBlock) {
    for (size_t t = 0; t < taps; ++t) base[t] = tap_base[t] + static_cast<ptrdiff_t>(p0) * tap_step[t];
    dw_reduce_block<S>(channels, std::min(kReducePixelBlock, pixels - p0), taps, base, tap_step,
                       grad + p0 * grad_pixel_stride, grad_pixel_stride, tap_acc);
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM: an MR x (NRV*N) register tile; B packed in panels of NR = NRV*N columns, each panel being
// [bias row][k rows], so the microkernel streams it linearly. Packed a row of B at a time, into
// every panel: read panel by panel, a wide B (1024 columns) was read down its columns, one 4 KiB
// page per row, which the prefetchers do not follow (1024 x 1024 packed 3x faster this way).
template <class S, size_t NRV>
void gemm_pack(size_t k, size_t cols, const typename S::Elem* b, size_t b_row_stride,
               const typename S::Elem* bias, typename S::Elem* packed) {
  using T = typename S::Elem;
  constexpr size_t NR = NRV * S::N;
  const size_t panel_size = (k + 1) * NR;
  // Row r of every panel (r = 0: the bias row) from `src` (null: zeros).
  auto pack_row = [&](size_t r, const T* src) {
    T* dst = packed + r * NR;
    for (size_t j0 = 0; j0 < cols; j0 += NR, dst += panel_size) {
      const size_t nc = std::min(NR, cols - j0);
      for (size_t j = 0; j < nc; ++j) dst[j] = src ? src[j0 + j] : T(0);
      for (size_t j = nc; j < NR; ++j) dst[j] = T(0);
    }
  };
  pack_row(0, bias);
  for (size_t kk = 0; kk < k; ++kk) pack_row(kk + 1, b + kk * b_row_stride);
}

// One MR x (NV vectors) tile over k rows of a panel whose rows are `panel_stride` wide
// (`panel_rows` points at the first of them; NV is less than the panel's width only for the last,
// narrower panel). The first k-block starts from the bias row, later ones from the partial sums
// already in C; only the last applies the activation. Storing and reloading a float is exact, so
// the k-blocking leaves every element's arithmetic as if the whole K were done in registers.
// `next` (or null): rows of the block the GEMM runs after this one (same row stride), asked into L2
// so that the next block's first row tile does not wait for memory: the rows kk with
// kk % pf_every == pf_phase (gemm_panel spreads a block's rows over its last row tiles).
template <class S, size_t MR, size_t NV>
inline void gemm_tile(size_t mr, size_t nc, size_t k, const typename S::Elem* a, size_t a_row_stride,
                      const typename S::Elem* bias_row, const typename S::Elem* panel_rows, size_t panel_stride,
                      typename S::Elem* c, size_t c_row_stride, bool first, bool last,
                      const Activation<typename S::Elem>& act, const typename S::Elem* next = nullptr,
                      size_t pf_phase = 0, size_t pf_every = 1) {
  using T = typename S::Elem;
  using V = typename S::V;
  constexpr size_t N = S::N;
  const T* ar[MR];
  for (size_t r = 0; r < MR; ++r) ar[r] = a + std::min(r, mr - 1) * a_row_stride;
  // Columns in the last vector (the others are full).
  const size_t tail = nc - (NV - 1) * N;
  V acc[MR][NV];
  if (first) {
    for (size_t v = 0; v < NV; ++v) {
      const V bias = S::load(bias_row + v * N);
      for (size_t r = 0; r < MR; ++r) acc[r][v] = bias;
    }
  } else {
    for (size_t r = 0; r < MR; ++r) {
      const T* cr = c + std::min(r, mr - 1) * c_row_stride;
      for (size_t v = 0; v + 1 < NV; ++v) acc[r][v] = S::load(cr + v * N);
      acc[r][NV - 1] = tail == N ? S::load(cr + (NV - 1) * N) : S::load_n(cr + (NV - 1) * N, tail);
    }
  }
  const T* bp = panel_rows;
  auto step = [&](size_t kk) {
    V bv[NV];
    for (size_t v = 0; v < NV; ++v) bv[v] = S::load(bp + v * N);
    bp += panel_stride;
    for (size_t r = 0; r < MR; ++r) {
      const V av = S::set1(ar[r][kk]);
      for (size_t v = 0; v < NV; ++v) acc[r][v] = S::fma(av, bv[v], acc[r][v]);
    }
  };
  if (next) {
    constexpr size_t kLine = 64;
    const size_t row_bytes = panel_stride * sizeof(T);
    size_t wait = pf_phase;  // k steps until the next row to ask for
    for (size_t kk = 0; kk < k; ++kk) {
      if (wait == 0) {
        const char* row = reinterpret_cast<const char*>(next + kk * panel_stride);
        for (size_t off = 0; off < row_bytes; off += kLine) __builtin_prefetch(row + off, 0, 2);
        wait = pf_every;
      }
      --wait;
      step(kk);
    }
  } else {
    for (size_t kk = 0; kk < k; ++kk) step(kk);
  }
  if (last && act.clamp) {
    const V lo = S::set1(act.lo), hi = S::set1(act.hi);
    for (size_t r = 0; r < MR; ++r)
      for (size_t v = 0; v < NV; ++v) acc[r][v] = S::clamp(acc[r][v], lo, hi);
  }
  for (size_t r = 0; r < mr; ++r) {
    T* cr = c + r * c_row_stride;
    for (size_t v = 0; v + 1 < NV; ++v) S::store(cr + v * N, acc[r][v]);
    if (tail == N) S::store(cr + (NV - 1) * N, acc[r][NV - 1]);
    else S::store_n(cr + (NV - 1) * N, acc[r][NV - 1], tail);
  }
}

// The row tiles of one panel's k-block. A short last row tile runs a narrower kernel (MR/2, MR/4
// rows), so its cost follows its rows; every element's arithmetic is the same in all of them.
// The last (up to) kPrefetchTiles row tiles ask for the next block (`next`, see gemm_tile), each for
// every spread-th of its rows. With a few dozen rows and B in L3 (7x7x1024: 4 MiB of weights), the
// first row tile asking for all of the next panel (256 KiB, a line every 3 cycles) waited on the
// line fill buffers; spread over the 9 row tiles of 49 rows, mnv1_7x1024_s1 ran 1.04-1.10x faster
// on one thread (4 tiles: 0.98-1.05x; 64: level), the other layers 1.00-1.05x.
constexpr size_t kPrefetchTiles = 16;
template <class S, size_t MR, size_t NV>
void gemm_panel(size_t rows, size_t nc, size_t kc, const typename S::Elem* a, size_t a_row_stride,
                const typename S::Elem* bias_row, const typename S::Elem* panel_rows, size_t panel_stride,
                typename S::Elem* c, size_t c_row_stride, bool first, bool last,
                const Activation<typename S::Elem>& act, const typename S::Elem* next) {
  constexpr size_t MR2 = (MR + 1) / 2, MR4 = (MR + 3) / 4;
  const size_t tiles = (rows + MR - 1) / MR, spread = std::min(tiles, kPrefetchTiles);
  for (size_t t = 0, i0 = 0; i0 < rows; ++t, i0 += MR) {
    const size_t mr = std::min(MR, rows - i0);
    const typename S::Elem* ai = a + i0 * a_row_stride;
    typename S::Elem* ci = c + i0 * c_row_stride;
    const typename S::Elem* pf = t + spread >= tiles ? next : nullptr;
    const size_t phase = t + spread - tiles;  // (only read when pf is set)
    if (mr <= MR4)
      gemm_tile<S, MR4, NV>(mr, nc, kc, ai, a_row_stride, bias_row, panel_rows, panel_stride, ci, c_row_stride,
                            first, last, act, pf, phase, spread);
    else if (mr <= MR2)
      gemm_tile<S, MR2, NV>(mr, nc, kc, ai, a_row_stride, bias_row, panel_rows, panel_stride, ci, c_row_stride,
                            first, last, act, pf, phase, spread);
    else
      gemm_tile<S, MR, NV>(mr, nc, kc, ai, a_row_stride, bias_row, panel_rows, panel_stride, ci, c_row_stride,
                           first, last, act, pf, phase, spread);
  }
}

// K is cut into blocks of at most KC rows. Up to KC, a row tile's sums stay in registers for the
// whole K: C is written once, never reloaded, and the panel (K x NR, 256 KiB at K = 1024) stays in
// L2 while the row tiles of A stream past it. Blocks of 128 rows kept each panel block in L1 instead
// but passed C through L1 once per block: 2048 x 1024 x 1024 on one thread, interleaved in one
// process, ran at 132-135 GFLOP/s that way and 148-150 this way (the FMA peak is about 175), with
// the other core running the same or idle. Not for bfloat16: the partial sums would be rounded to
// bfloat16 in C between blocks; its K is never cut.
constexpr size_t kGemmKc = 1024;
template <class S>
constexpr bool kRoundsInMemory = sizeof(typename S::Elem) < sizeof(typename S::V) / S::N;

// The row tiles of columns [j0, j0 + nc) over kc rows of B (`rows_k`, rows `b_stride` apart; the
// bias row only read when `first`).
template <class S, size_t MR, size_t NRV>
inline void gemm_columns(size_t rows, size_t nc, size_t kc, const typename S::Elem* ak, size_t a_row_stride,
                         const typename S::Elem* bias_row, const typename S::Elem* rows_k, size_t b_stride,
                         typename S::Elem* cj, size_t c_row_stride, bool first, bool last,
                         const Activation<typename S::Elem>& act, const typename S::Elem* next) {
  constexpr size_t N = S::N;
  // The last panel of a width that is not a multiple of NR computes only its vectors; one vector
  // goes with twice the rows, so that its A broadcasts (one per FMA) and its B load stay within the
  // load ports (80 columns: the 16-column tail took 10% of a layer).
  switch ((nc + N - 1) / N) {
    case 1:
      gemm_panel<S, 2 * MR, 1>(rows, nc, kc, ak, a_row_stride, bias_row, rows_k, b_stride, cj, c_row_stride, first,
                               last, act, next);
      break;
    case 2:
      if constexpr (NRV >= 2)
        gemm_panel<S, MR, 2>(rows, nc, kc, ak, a_row_stride, bias_row, rows_k, b_stride, cj, c_row_stride, first,
                             last, act, next);
      break;
    case 3:
      if constexpr (NRV >= 3)
        gemm_panel<S, MR, 3>(rows, nc, kc, ak, a_row_stride, bias_row, rows_k, b_stride, cj, c_row_stride, first,
                             last, act, next);
      break;
    default:
      if constexpr (NRV >= 4)
        gemm_panel<S, MR, 4>(rows, nc, kc, ak, a_row_stride, bias_row, rows_k, b_stride, cj, c_row_stride, first,
                             last, act, next);
      break;
  }
}

// One k-block of one panel: the row tiles of columns [j0, j0 + nc).
template <class S, size_t MR, size_t NRV>
inline void gemm_block(size_t rows, size_t k, size_t k0, size_t kc, size_t j0, size_t nc, const typename S::Elem* a,
                       size_t a_row_stride, const typename S::Elem* packed_b, typename S::Elem* c,
                       size_t c_row_stride, bool first, bool last, const Activation<typename S::Elem>& act,
                       const typename S::Elem* next) {
  constexpr size_t NR = NRV * S::N;
  const typename S::Elem* panel = packed_b + (j0 / NR) * (k + 1) * NR;
  gemm_columns<S, MR, NRV>(rows, nc, kc, a + k0, a_row_stride, panel, panel + (k0 + 1) * NR, NR, c + j0,
                           c_row_stride, first, last, act, next);
}

// ACC (gemm_acc): every k-block starts from the C already there, so C += A * B, each element's
// products added to it in order (the packed bias row is not read). Its C is a filter gradient's
// partial sum, all of it large (a wide layer's is megabytes), so it runs panel by panel, every
// k-block of a panel before the next: the panel's column of C stays in L2 between k-blocks instead
// of C passing through memory once per k-block. The plain GEMM keeps k-blocks outermost (its row
// tiles of C are small). Either order gives every element the same arithmetic: its k-blocks in
// order.
template <class S, size_t MR, size_t NRV, bool ACC = false>
void gemm(size_t rows, size_t cols, size_t k, const typename S::Elem* a, size_t a_row_stride,
          const typename S::Elem* packed_b, typename S::Elem* c, size_t c_row_stride,
          const Activation<typename S::Elem>& act) {
  static_assert(NRV >= 1 && NRV <= 4, "panels of 1 to 4 vectors");
  constexpr size_t NR = NRV * S::N;
  // K == 0 still needs one pass: the output is the bias (and its activation).
  const size_t kc_max = kRoundsInMemory<S> ? std::max<size_t>(k, 1) : kGemmKc;
  // The k rows [k0, ...) of panel j0 (where the next block starts: gemm_tile's `next`), or null
  // past the last panel or k-block. With a few dozen rows, a block's first row tile would otherwise
  // wait on memory for most of the block (B is megabytes for a wide layer, read once per call).
  auto block_rows = [&](size_t j0, size_t k0) -> const typename S::Elem* {
    if (j0 >= cols || k0 >= k) return nullptr;
    return packed_b + (j0 / NR) * (k + 1) * NR + (k0 + 1) * NR;
  };
  if constexpr (ACC) {
    for (size_t j0 = 0; j0 < cols; j0 += NR) {
      const size_t nc = std::min(NR, cols - j0);
      for (size_t k0 = 0; k0 < k || k0 == 0; k0 += kc_max) {
        const size_t kc = std::min(kc_max, k - k0);
        const auto* next = k0 + kc < k ? block_rows(j0, k0 + kc) : block_rows(j0 + NR, 0);
        gemm_block<S, MR, NRV>(rows, k, k0, kc, j0, nc, a, a_row_stride, packed_b, c, c_row_stride, false,
                               k0 + kc >= k, act, next);
        if (k == 0) break;
      }
    }
  } else {
    for (size_t k0 = 0; k0 < k || k0 == 0; k0 += kc_max) {
      const size_t kc = std::min(kc_max, k - k0);
      const bool first = k0 == 0, last = k0 + kc >= k;
      for (size_t j0 = 0; j0 < cols; j0 += NR) {
        const auto* next = j0 + NR < cols ? block_rows(j0 + NR, k0) : block_rows(0, k0 + kc);
        gemm_block<S, MR, NRV>(rows, k, k0, kc, j0, std::min(NR, cols - j0), a, a_row_stride, packed_b, c,
                               c_row_stride, first, last, act, next);
      }
      if (k == 0) break;
    }
  }
}

// C += A * B with B [k, cols] read where it is (rows b_row_stride apart), not packed: each element's
// products added to C in order, the same arithmetic as gemm_acc on the packed B. For a B of short
// rows read once (a pointwise filter gradient's dZ with 64-128 outputs: its panels would be B
// itself, copied), where the pack is a pass over megabytes. cols must be a multiple of S::N (every
// vector of B loaded is a whole one inside the row).
template <class S, size_t MR, size_t NRV>
void gemm_acc_rows(size_t rows, size_t cols, size_t k, const typename S::Elem* a, size_t a_row_stride,
                   const typename S::Elem* b, size_t b_row_stride, typename S::Elem* c, size_t c_row_stride) {
  constexpr size_t NR = NRV * S::N;
  const Activation<typename S::Elem> none;
  for (size_t j0 = 0; j0 < cols; j0 += NR)
    for (size_t k0 = 0; k0 < k; k0 += kGemmKc) {
      const size_t kc = std::min(kGemmKc, k - k0);
      gemm_columns<S, MR, NRV>(rows, std::min(NR, cols - j0), kc, a + k0, a_row_stride, nullptr,
                               b + k0 * b_row_stride + j0, b_row_stride, c + j0, c_row_stride, false, true, none,
                               nullptr);
    }
}

// The roofline's compute roof: 16 independent chains (FMA latency 4 x 2 pipes needs 8; 16 also
// covers 512-bit units that take two cycles), each a*b + c with a result kept live.
constexpr int kPeakChains = 16;
template <class S>
float fma_peak(long iters) {
  using V = typename S::V;
  V acc[kPeakChains];
  const V b = S::set1(1.0000001f), c = S::set1(1e-7f);
  for (int i = 0; i < kPeakChains; ++i) acc[i] = S::set1(static_cast<float>(i));
  for (long k = 0; k < iters; ++k)
    for (int i = 0; i < kPeakChains; ++i) acc[i] = S::fma(acc[i], b, c);
  float out[S::N * kPeakChains];
  for (int i = 0; i < kPeakChains; ++i) S::store(out + i * S::N, acc[i]);
  float s = 0;
  for (float v : out) s += v;
  return s;
}

template <class S>
void fill_peak(KernelTable& t) {
  t.fma_peak = &fma_peak<S>;
  t.fma_peak_flops_per_iter = 2.0 * kPeakChains * S::N;
}

template <class S, size_t MR, size_t NRV>
void fill_typed(TypedKernels<typename S::Elem>& k) {
  k.dwconv = &dwconv<S>;
  k.dwconv_row = &dwconv_row<S>;
  k.dw_gather = &dw_gather<S>;
  k.dw_reduce = &dw_reduce<S>;
  k.gemm = &gemm<S, MR, NRV>;
  k.gemm_acc = &gemm<S, MR, NRV, true>;
  k.gemm_acc_rows = &gemm_acc_rows<S, MR, NRV>;
  k.gemm_pack = &gemm_pack<S, NRV>;
  k.gemm_mr = MR;
  k.gemm_nr = NRV * S::N;
}

}  // namespace kernels
}  // namespace sepcpp
