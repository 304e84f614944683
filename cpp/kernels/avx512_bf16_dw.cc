// The bfloat16 depthwise kernels of the avx512_bf16 level (built with -mavx512bf16, like
// avx512_bf16.cc): kernels-inl.hpp's depthwise templates over a vector trait of this file whose
// store rounds with VCVTNEPS2BF16. avx512's Bf16<Avx512F32> rounds in integer arithmetic, about a
// dozen instructions per 16 values, which is most of the work of a 1x3 window (3 FMAs per output
// vector); VCVTNEPS2BF16 is one.
//   The instruction rounds to nearest even as bf16_bits_from_float does for every float but two
// kinds: denormals, which it flushes to zero, and NaNs, whose payload it keeps. A vector holding
// either is rounded by the integer path instead, so every output's bits are those of the other
// levels.
//   No SEPCPP_SIMD_* macro is defined here, so simd.hpp declares no avx2 or avx512 trait in this
// file: every template instantiated here is over NativeBf16, local to this file, and no inline
// function is compiled here with -mavx512bf16 as well as elsewhere without it.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "bf16_round_avx512.hpp"
#include "kernels-inl.hpp"

namespace sepcpp {
namespace kernels {
namespace {

// bfloat16 memory, float32 arithmetic on 16 lanes (the interface of simd.hpp's traits).
struct NativeBf16 {
  using Elem = bfloat16;
  using V = __m512;
  static constexpr size_t N = 16;

  static V widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  // The instruction where it agrees with the integer rounding (bf16_round_avx512.hpp).
  static __m256i round(V v) {
    if (__builtin_expect(bf16_avx512::inexact_lanes(v) != 0, 0)) return bf16_avx512::round_exact(v);
    return reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(v));
  }

  static V load(const bfloat16* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static void store(bfloat16* p, V v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), round(v)); }
  // Tails through a small buffer, as Bf16<S> (no 16-bit masked moves without AVX512BW, which the
  // level does not require).
  static V load_n(const bfloat16* p, size_t n) {
    uint16_t tmp[N] = {};
    std::memcpy(tmp, p, n * sizeof(uint16_t));
    return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(tmp)));
  }
  static void store_n(bfloat16* p, V v, size_t n) {
    uint16_t tmp[N];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(tmp), round(v));
    std::memcpy(p, tmp, n * sizeof(uint16_t));
  }
  static V set1(bfloat16 x) { return _mm512_set1_ps(static_cast<float>(x)); }
  static V zero() { return _mm512_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  // MAXPS/MINPS return their second operand when either is NaN: max(lo, x) keeps a NaN x.
  static V clamp(V x, V lo, V hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, x)); }
};

}  // namespace

void fill_avx512_bf16_depthwise(TypedKernels<bfloat16>& k) {
  k.dwconv = &dwconv<NativeBf16>;
  k.dwconv_row = &dwconv_row<NativeBf16>;
  k.dw_gather = &dw_gather<NativeBf16>;
  k.dw_reduce = &dw_reduce<NativeBf16>;
}

}  // namespace kernels
}  // namespace sepcpp
