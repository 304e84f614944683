// AVX512_BF16 kernels; only this file is built with -mavx512bf16. The level is avx512's table with
// the bfloat16 GEMM replaced by one on VDPBF16PS, which multiplies pairs of bfloat16 values and adds
// both products to a float32 accumulator: twice the multiply-adds of a float32 FMA per
// instruction, from half the bytes. The depthwise step keeps avx512's widening kernels (its
// arithmetic is per channel: there are no pairs along k to take), instantiated in
// avx512_bf16_dw.cc with a store that rounds by VCVTNEPS2BF16.
//   This file includes neither simd.hpp nor kernels-inl.hpp: their inline functions would be compiled
// here with -mavx512bf16 (which brings AVX512BW) as well as in avx512.cc, and the linker may keep
// either copy, so the avx512 level could run an instruction its CPU lacks. Everything here is local
// (bf16_round_avx512.hpp's functions are static: this file compiles its own copy).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "bf16_round_avx512.hpp"
#include "kernels.hpp"

namespace sepcpp {
namespace kernels {
namespace {

constexpr size_t kLanes = 16;

// bf16_bits_from_float's rounding on 16 lanes (bf16_round_avx512.hpp, as every level rounds).
inline void store_bf16(uint16_t* p, __m512 v) {
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), bf16_avx512::round_exact(v));
}

// MAXPS/MINPS return their second operand when either is NaN: NaN passes the clamp.
inline __m512 clamp(__m512 x, __m512 lo, __m512 hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, x)); }

// 6 rows x 4 vectors (64 columns): 24 accumulators + 4 B vectors + 1 broadcast of the 32 zmm
// registers, 4 loads and 6 broadcasts per 24 VDPBF16PS: avx512's float32 tile, each instruction now
// covering two rows of k.
constexpr size_t kMr = 6, kNrv = 4, kNr = kNrv * kLanes, kKstep = 2;

// Panel layout (gemm_panel_size with kstep 2): the bias as kNr floats (2*kNr bfloat16 slots), then
// per pair of k rows p, column j's two values at [2j] (row 2p) and [2j + 1] (row 2p + 1), zero past
// k and past the last column, so that a zero pairs with a zero and never with NaN.
void gemm_pack_dp(size_t k, size_t cols, const bfloat16* b, size_t b_row_stride, const bfloat16* bias,
                  bfloat16* packed) {
  const size_t pairs = (k + 1) / 2;
  for (size_t j0 = 0; j0 < cols; j0 += kNr) {
    const size_t nc = std::min(kNr, cols - j0);
    bfloat16* panel = packed + (j0 / kNr) * gemm_panel_size(k, kNr, kKstep);
    float bias_f[kNr];
    for (size_t j = 0; j < kNr; ++j) bias_f[j] = (bias && j < nc) ? static_cast<float>(bias[j0 + j]) : 0.0f;
    std::memcpy(panel, bias_f, sizeof bias_f);
    for (size_t p = 0; p < pairs; ++p) {
      bfloat16* row = panel + (p + 1) * kKstep * kNr;
      for (size_t j = 0; j < kNr; ++j)
        for (size_t h = 0; h < kKstep; ++h) {
          const size_t kk = kKstep * p + h;
          row[kKstep * j + h] = (j < nc && kk < k) ? b[kk * b_row_stride + j0 + j] : bfloat16();
        }
    }
  }
}

// Rows kk and kk + 1 of A's row `a` in every 32-bit lane (little-endian: row kk in the low half,
// the half VDPBF16PS pairs with the packed panel's [2j]).
inline __m512bh pair_of(const uint16_t* a, size_t kk) {
  uint32_t pair;
  std::memcpy(&pair, a + kk, sizeof pair);
  return (__m512bh)_mm512_set1_epi32(static_cast<int>(pair));
}
// An odd k's last row, its pair's other half zero (never a value past the row: it could be NaN,
// and 0 x NaN is NaN).
inline __m512bh single_of(const uint16_t* a, size_t kk) {
  return (__m512bh)_mm512_set1_epi32(static_cast<int>(a[kk]));
}

// One MR x NV-vector tile over the whole of k (accumulators never leave the registers, so each
// output is rounded to bfloat16 once).
template <size_t MR, size_t NV>
inline void gemm_tile_dp(size_t mr, size_t nc, size_t k, const bfloat16* a, size_t a_row_stride,
                         const bfloat16* panel, bfloat16* c, size_t c_row_stride, const Activation<bfloat16>& act) {
  const uint16_t* ar[MR];
  for (size_t r = 0; r < MR; ++r)
    ar[r] = reinterpret_cast<const uint16_t*>(a + std::min(r, mr - 1) * a_row_stride);
  __m512 acc[MR][NV];
  const float* bias = reinterpret_cast<const float*>(panel);
  for (size_t v = 0; v < NV; ++v) {
    const __m512 b = _mm512_loadu_ps(bias + v * kLanes);
    for (size_t r = 0; r < MR; ++r) acc[r][v] = b;
  }
  const bfloat16* bp = panel + kKstep * kNr;
  auto step = [&](size_t kk, bool single) {
    __m512bh bv[NV];
    for (size_t v = 0; v < NV; ++v) bv[v] = (__m512bh)_mm512_loadu_si512(bp + v * kKstep * kLanes);
    bp += kKstep * kNr;
    for (size_t r = 0; r < MR; ++r) {
      const __m512bh av = single ? single_of(ar[r], kk) : pair_of(ar[r], kk);
      for (size_t v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
    }
  };
  size_t kk = 0;
  for (; kk + kKstep <= k; kk += kKstep) step(kk, false);
  if (kk < k) step(kk, true);
  if (act.clamp) {
    const __m512 lo = _mm512_set1_ps(static_cast<float>(act.lo)), hi = _mm512_set1_ps(static_cast<float>(act.hi));
    for (size_t r = 0; r < MR; ++r)
      for (size_t v = 0; v < NV; ++v) acc[r][v] = clamp(acc[r][v], lo, hi);
  }
  const size_t tail = nc - (NV - 1) * kLanes;
  for (size_t r = 0; r < mr; ++r) {
    uint16_t* cr = reinterpret_cast<uint16_t*>(c + r * c_row_stride);
    for (size_t v = 0; v + 1 < NV; ++v) store_bf16(cr + v * kLanes, acc[r][v]);
    if (tail == kLanes) {
      store_bf16(cr + (NV - 1) * kLanes, acc[r][NV - 1]);
    } else {
      uint16_t tmp[kLanes];
      store_bf16(tmp, acc[r][NV - 1]);
      std::memcpy(cr + (NV - 1) * kLanes, tmp, tail * sizeof(uint16_t));
    }
  }
}

template <size_t NV>
void gemm_panel_dp(size_t rows, size_t nc, size_t k, const bfloat16* a, size_t a_row_stride, const bfloat16* panel,
                   bfloat16* c, size_t c_row_stride, const Activation<bfloat16>& act) {
  constexpr size_t kMr2 = (kMr + 1) / 2, kMr4 = (kMr + 3) / 4;
  for (size_t i0 = 0; i0 < rows; i0 += kMr) {
    const size_t mr = std::min(kMr, rows - i0);
    const bfloat16* ai = a + i0 * a_row_stride;
    bfloat16* ci = c + i0 * c_row_stride;
    if (mr <= kMr4) gemm_tile_dp<kMr4, NV>(mr, nc, k, ai, a_row_stride, panel, ci, c_row_stride, act);
    else if (mr <= kMr2) gemm_tile_dp<kMr2, NV>(mr, nc, k, ai, a_row_stride, panel, ci, c_row_stride, act);
    else gemm_tile_dp<kMr, NV>(mr, nc, k, ai, a_row_stride, panel, ci, c_row_stride, act);
  }
}

void gemm_dp(size_t rows, size_t cols, size_t k, const bfloat16* a, size_t a_row_stride, const bfloat16* packed_b,
             bfloat16* c, size_t c_row_stride, const Activation<bfloat16>& act) {
  for (size_t j0 = 0; j0 < cols; j0 += kNr) {
    const size_t nc = std::min(kNr, cols - j0);
    const bfloat16* panel = packed_b + (j0 / kNr) * gemm_panel_size(k, kNr, kKstep);
    bfloat16* cj = c + j0;
    switch ((nc + kLanes - 1) / kLanes) {
      case 1: gemm_panel_dp<1>(rows, nc, k, a, a_row_stride, panel, cj, c_row_stride, act); break;
      case 2: gemm_panel_dp<2>(rows, nc, k, a, a_row_stride, panel, cj, c_row_stride, act); break;
      case 3: gemm_panel_dp<3>(rows, nc, k, a, a_row_stride, panel, cj, c_row_stride, act); break;
      default: gemm_panel_dp<4>(rows, nc, k, a, a_row_stride, panel, cj, c_row_stride, act); break;
    }
  }
}

}  // namespace

void fill_avx512_bf16(KernelTable& table) {
  fill_avx512(table);
  table.isa = "avx512_bf16";
  fill_avx512_bf16_depthwise(table.bf16);
  table.bf16.gemm = &gemm_dp;
  table.bf16.gemm_pack = &gemm_pack_dp;
  table.bf16.gemm_mr = kMr;
  table.bf16.gemm_nr = kNr;
  table.bf16.gemm_kstep = kKstep;
}

}  // namespace kernels
}  // namespace sepcpp
