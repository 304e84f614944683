// The microkernels, written once against the vector traits of simd.hpp and instantiated by each
// ISA file. No bounds are crossed: channel and column tails use masked loads/stores, row tails
// re-read the last valid row and do not store it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "kernels.hpp"
#include "simd.hpp"

namespace sepcpp {
namespace kernels {

// ---------------------------------------------------------------------------------------------
// Depthwise: B vectors of channels at a time, so B independent FMA chains hide FMA latency.
template <class S, size_t B>
inline void dwconv_block(size_t c, size_t taps, size_t channels, const typename S::Elem* const* ip,
                         const typename S::Elem* weights, const typename S::Elem* bias,
                         typename S::Elem* o, bool clamp, typename S::V lo, typename S::V hi) {
  using V = typename S::V;
  V acc[B];
  for (size_t b = 0; b < B; ++b) acc[b] = bias ? S::load(bias + c + b * S::N) : S::zero();
  for (size_t t = 0; t < taps; ++t) {
    const typename S::Elem* in = ip[t] + c;
    const typename S::Elem* w = weights + t * channels + c;
    for (size_t b = 0; b < B; ++b) acc[b] = S::fma(S::load(in + b * S::N), S::load(w + b * S::N), acc[b]);
  }
  for (size_t b = 0; b < B; ++b) {
    if (clamp) acc[b] = S::clamp(acc[b], lo, hi);
    S::store(o + c + b * S::N, acc[b]);
  }
}

template <class S>
void dwconv(size_t channels, size_t pixels, size_t taps, const typename S::Elem* const* indirection,
            const typename S::Elem* weights, const typename S::Elem* bias, typename S::Elem* out,
            size_t out_pixel_stride, const Activation<typename S::Elem>& act) {
  using V = typename S::V;
  constexpr size_t N = S::N;
  const V lo = S::set1(act.lo), hi = S::set1(act.hi);
  for (size_t p = 0; p < pixels; ++p) {
    const typename S::Elem* const* ip = indirection + p * taps;
    typename S::Elem* o = out + p * out_pixel_stride;
    size_t c = 0;
    for (; c + 4 * N <= channels; c += 4 * N) dwconv_block<S, 4>(c, taps, channels, ip, weights, bias, o, act.clamp, lo, hi);
    for (; c + N <= channels; c += N) dwconv_block<S, 1>(c, taps, channels, ip, weights, bias, o, act.clamp, lo, hi);
    if (c < channels) {
      const size_t n = channels - c;
      V acc = bias ? S::load_n(bias + c, n) : S::zero();
      for (size_t t = 0; t < taps; ++t)
        acc = S::fma(S::load_n(ip[t] + c, n), S::load_n(weights + t * channels + c, n), acc);
      if (act.clamp) acc = S::clamp(acc, lo, hi);
      S::store_n(o + c, acc, n);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM: an MR x (NRV*N) register tile; B packed in panels of NR = NRV*N columns, each panel being
// [bias row][k rows], so the microkernel streams it linearly.
template <class S, size_t NRV>
void gemm_pack(size_t k, size_t cols, const typename S::Elem* b, size_t b_row_stride,
               const typename S::Elem* bias, typename S::Elem* packed) {
  using T = typename S::Elem;
  constexpr size_t NR = NRV * S::N;
  for (size_t j0 = 0; j0 < cols; j0 += NR) {
    const size_t nc = std::min(NR, cols - j0);
    T* panel = packed + (j0 / NR) * (k + 1) * NR;
    for (size_t j = 0; j < NR; ++j) panel[j] = (bias && j < nc) ? bias[j0 + j] : T(0);
    for (size_t kk = 0; kk < k; ++kk) {
      T* row = panel + (kk + 1) * NR;
      const T* src = b + kk * b_row_stride + j0;
      for (size_t j = 0; j < nc; ++j) row[j] = src[j];
      for (size_t j = nc; j < NR; ++j) row[j] = T(0);
    }
  }
}

template <class S, size_t MR, size_t NRV>
inline void gemm_tile(size_t mr, size_t nc, size_t k, const typename S::Elem* a, size_t a_row_stride,
                      const typename S::Elem* panel, typename S::Elem* c, size_t c_row_stride,
                      const Activation<typename S::Elem>& act) {
  using T = typename S::Elem;
  using V = typename S::V;
  constexpr size_t N = S::N;
  constexpr size_t NR = NRV * N;
  const T* ar[MR];
  for (size_t r = 0; r < MR; ++r) ar[r] = a + std::min(r, mr - 1) * a_row_stride;
  V acc[MR][NRV];
  for (size_t v = 0; v < NRV; ++v) {
    const V bias = S::load(panel + v * N);
    for (size_t r = 0; r < MR; ++r) acc[r][v] = bias;
  }
  const T* bp = panel + NR;
  for (size_t kk = 0; kk < k; ++kk) {
    V bv[NRV];
    for (size_t v = 0; v < NRV; ++v) bv[v] = S::load(bp + v * N);
    bp += NR;
    for (size_t r = 0; r < MR; ++r) {
      const V av = S::set1(ar[r][kk]);
      for (size_t v = 0; v < NRV; ++v) acc[r][v] = S::fma(av, bv[v], acc[r][v]);
    }
  }
  if (act.clamp) {
    const V lo = S::set1(act.lo), hi = S::set1(act.hi);
    for (size_t r = 0; r < MR; ++r)
      for (size_t v = 0; v < NRV; ++v) acc[r][v] = S::clamp(acc[r][v], lo, hi);
  }
  for (size_t r = 0; r < mr; ++r) {
    T* cr = c + r * c_row_stride;
    if (nc == NR) {
      for (size_t v = 0; v < NRV; ++v) S::store(cr + v * N, acc[r][v]);
    } else {
      for (size_t v = 0; v < NRV; ++v) {
        if (v * N >= nc) break;
        const size_t left = nc - v * N;
        if (left >= N) S::store(cr + v * N, acc[r][v]);
        else S::store_n(cr + v * N, acc[r][v], left);
      }
    }
  }
}

template <class S, size_t MR, size_t NRV>
void gemm(size_t rows, size_t cols, size_t k, const typename S::Elem* a, size_t a_row_stride,
          const typename S::Elem* packed_b, typename S::Elem* c, size_t c_row_stride,
          const Activation<typename S::Elem>& act) {
  constexpr size_t NR = NRV * S::N;
  // Panels outer, rows inner: the row block of A (a tile of the op) stays in L1/L2 while each
  // packed panel of B is streamed once.
  for (size_t j0 = 0; j0 < cols; j0 += NR) {
    const size_t nc = std::min(NR, cols - j0);
    const typename S::Elem* panel = packed_b + (j0 / NR) * (k + 1) * NR;
    for (size_t i0 = 0; i0 < rows; i0 += MR) {
      const size_t mr = std::min(MR, rows - i0);
      gemm_tile<S, MR, NRV>(mr, nc, k, a + i0 * a_row_stride, a_row_stride, panel,
                            c + i0 * c_row_stride + j0, c_row_stride, act);
    }
  }
}

template <class S, size_t MR, size_t NRV>
void fill_typed(TypedKernels<typename S::Elem>& k) {
  k.dwconv = &dwconv<S>;
  k.gemm = &gemm<S, MR, NRV>;
  k.gemm_pack = &gemm_pack<S, NRV>;
  k.gemm_mr = MR;
  k.gemm_nr = NRV * S::N;
}

}  // namespace kernels
}  // namespace sepcpp
