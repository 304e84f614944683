// Rounding float32 lanes to bfloat16 with AVX-512F, shared by the AVX-512 kernel files (simd.hpp's
// Avx512F32, avx512_bf16.cc, avx512_bf16_dw.cc, amx_bf16.cc). The functions are static: each file
// that includes this compiles its own copy with its own flags, so no level runs a copy compiled
// for another (-mavx512bf16 brings AVX512BW, which the avx512 level does not require).
#pragma once

#include <immintrin.h>

namespace sepcpp {
namespace kernels {
namespace bf16_avx512 {

// bf16_bits_from_float's rounding on 16 lanes, in integer arithmetic: to nearest, ties to even,
// denormals kept, overflow to infinity, a NaN to the quiet NaN 0x7fc0 with its sign. The scalar
// level rounds with the same rule, so every level gives the same bits.
static inline __m256i round_exact(__m512 v) {
  const __m512i u = _mm512_castps_si512(v), hi = _mm512_srli_epi32(u, 16);
  const __m512i odd = _mm512_and_si512(hi, _mm512_set1_epi32(1));
  __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd), 16);
  const __m512i nan = _mm512_or_si512(_mm512_and_si512(hi, _mm512_set1_epi32(0x8000)), _mm512_set1_epi32(0x7fc0));
  r = _mm512_mask_mov_epi32(r, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), nan);
  return _mm512_cvtepi32_epi16(r);
}

// The lanes that VCVTNEPS2BF16 / VCVTNE2PS2BF16 round otherwise than round_exact: denormals (0 <
// |v| < FLT_MIN), which they flush to zero, and NaNs, whose payload they keep. (Compared over all
// 2^32 floats: they agree everywhere else.)
static inline __mmask16 inexact_lanes(__m512 v) {
  return _mm512_mask_cmp_ps_mask(_mm512_cmp_ps_mask(_mm512_abs_ps(v), _mm512_set1_ps(1.17549435e-38f), _CMP_NGE_UQ),
                                 v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
}

}  // namespace bf16_avx512
}  // namespace kernels
}  // namespace sepcpp
