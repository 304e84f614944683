// Vector traits, one struct per (ISA, element type). The kernels in kernels-inl.hpp are written
// once against these traits and compiled per ISA; only the ISA's own .cc file includes this with
// the ISA's compiler flags on.
//
// Every trait provides: V (vector type), N (lanes), load/store (full vectors), load_n/store_n
// (the first n < N lanes, never touching memory past them), set1, zero, fma (a*b + c) and
// clamp(x, lo, hi), which lets NaN through. The float32 traits also load N bfloat16 values widened
// to float32 (load_bf16) and store N floats rounded to bfloat16 (store_bf16, the rounding rule of
// bf16_bits_from_float, in integer arithmetic on every level so that all levels round alike);
// Bf16<S> turns such a trait into one whose memory is bfloat16 and whose arithmetic is float32.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "sepcpp/bfloat16.hpp"

#if defined(SEPCPP_SIMD_AVX2) || defined(SEPCPP_SIMD_AVX512)
#include <immintrin.h>
#endif
#if defined(SEPCPP_SIMD_AVX512)
#include "bf16_round_avx512.hpp"
#endif

namespace sepcpp {
namespace simd {

// The scalar level: one lane, separate multiply and add (no FMA on baseline x86-64).
template <class T>
struct Scalar {
  using Elem = T;
  using V = T;
  static constexpr size_t N = 1;
  static V load(const T* p) { return *p; }
  static void store(T* p, V v) { *p = v; }
  static V load_n(const T* p, size_t) { return *p; }
  static void store_n(T* p, V v, size_t) { *p = v; }
  static V set1(T x) { return x; }
  static V zero() { return T(0); }
  static V fma(V a, V b, V c) { return a * b + c; }
  // `x < lo ? lo : x` keeps NaN (the comparison is false for NaN).
  static V clamp(V x, V lo, V hi) {
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
  }
  static V load_bf16(const uint16_t* p) { return float_from_bf16_bits(*p); }
  static void store_bf16(uint16_t* p, V v) { *p = bf16_bits_from_float(v); }
};

#if defined(SEPCPP_SIMD_AVX2)
// MAXPS/MINPS return their second operand when either is NaN: max(lo, x) keeps a NaN x.
struct Avx2F32 {
  using Elem = float;
  using V = __m256;
  static constexpr size_t N = 8;
  static __m256i mask(size_t n) {
    static const int tbl[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tbl + 8 - n));
  }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V load_n(const float* p, size_t n) { return _mm256_maskload_ps(p, mask(n)); }
  static void store_n(float* p, V v, size_t n) { _mm256_maskstore_ps(p, mask(n), v); }
  static V set1(float x) { return _mm256_set1_ps(x); }
  static V zero() { return _mm256_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V clamp(V x, V lo, V hi) { return _mm256_min_ps(hi, _mm256_max_ps(lo, x)); }
  static V load_bf16(const uint16_t* p) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
  static void store_bf16(uint16_t* p, V v) {
    const __m256i u = _mm256_castps_si256(v), hi = _mm256_srli_epi32(u, 16);
    const __m256i odd = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), odd), 16);
    const __m256i nan = _mm256_or_si256(_mm256_and_si256(hi, _mm256_set1_epi32(0x8000)), _mm256_set1_epi32(0x7fc0));
    r = _mm256_blendv_epi8(r, nan, _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
    // Per 128-bit lane packus gives [r0..r3 r0..r3 | r4..r7 r4..r7]; qwords 0 and 2 are r0..r7.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(r, r), 0x08);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm256_castsi256_si128(packed));
  }
};

struct Avx2F64 {
  using Elem = double;
  using V = __m256d;
  static constexpr size_t N = 4;
  static __m256i mask(size_t n) {
    static const long long tbl[8] = {-1, -1, -1, -1, 0, 0, 0, 0};
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(tbl + 4 - n));
  }
  static V load(const double* p) { return _mm256_loadu_pd(p); }
  static void store(double* p, V v) { _mm256_storeu_pd(p, v); }
  static V load_n(const double* p, size_t n) { return _mm256_maskload_pd(p, mask(n)); }
  static void store_n(double* p, V v, size_t n) { _mm256_maskstore_pd(p, mask(n), v); }
  static V set1(double x) { return _mm256_set1_pd(x); }
  static V zero() { return _mm256_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V clamp(V x, V lo, V hi) { return _mm256_min_pd(hi, _mm256_max_pd(lo, x)); }
};
#endif

#if defined(SEPCPP_SIMD_AVX512)
struct Avx512F32 {
  using Elem = float;
  using V = __m512;
  static constexpr size_t N = 16;
  static __mmask16 mask(size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V load_n(const float* p, size_t n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void store_n(float* p, V v, size_t n) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static V set1(float x) { return _mm512_set1_ps(x); }
  static V zero() { return _mm512_setzero_ps(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V clamp(V x, V lo, V hi) { return _mm512_min_ps(hi, _mm512_max_ps(lo, x)); }
  static V load_bf16(const uint16_t* p) {
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
  // (Not VCVTNEPS2BF16 where AVX512_BF16 exists: it flushes denormals to zero, TensorFlow and the
  // other levels do not; avx512_bf16_dw.cc uses it where it agrees.)
  static void store_bf16(uint16_t* p, V v) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), kernels::bf16_avx512::round_exact(v));
  }
};

struct Avx512F64 {
  using Elem = double;
  using V = __m512d;
  static constexpr size_t N = 8;
  static __mmask8 mask(size_t n) { return static_cast<__mmask8>((1u << n) - 1u); }
  static V load(const double* p) { return _mm512_loadu_pd(p); }
  static void store(double* p, V v) { _mm512_storeu_pd(p, v); }
  static V load_n(const double* p, size_t n) { return _mm512_maskz_loadu_pd(mask(n), p); }
  static void store_n(double* p, V v, size_t n) { _mm512_mask_storeu_pd(p, mask(n), v); }
  static V set1(double x) { return _mm512_set1_pd(x); }
  static V zero() { return _mm512_setzero_pd(); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V clamp(V x, V lo, V hi) { return _mm512_min_pd(hi, _mm512_max_pd(lo, x)); }
};
#endif

// bfloat16 memory, float32 arithmetic over the float32 trait S: loads widen, stores round (once,
// after the epilogue). Tails go through a small buffer: AVX2 and AVX-512F have no 16-bit masked
// loads, and a tail is at most one vector per row.
template <class S>
struct Bf16 {
  using Elem = bfloat16;
  using V = typename S::V;
  static constexpr size_t N = S::N;
  static const uint16_t* bits(const bfloat16* p) { return reinterpret_cast<const uint16_t*>(p); }
  static uint16_t* bits(bfloat16* p) { return reinterpret_cast<uint16_t*>(p); }
  static V load(const bfloat16* p) { return S::load_bf16(bits(p)); }
  static void store(bfloat16* p, V v) { S::store_bf16(bits(p), v); }
  static V load_n(const bfloat16* p, size_t n) {
    uint16_t tmp[N] = {};
    std::memcpy(tmp, p, n * sizeof(uint16_t));
    return S::load_bf16(tmp);
  }
  static void store_n(bfloat16* p, V v, size_t n) {
    uint16_t tmp[N];
    S::store_bf16(tmp, v);
    std::memcpy(p, tmp, n * sizeof(uint16_t));
  }
  static V set1(bfloat16 x) { return S::set1(static_cast<float>(x)); }
  static V zero() { return S::zero(); }
  static V fma(V a, V b, V c) { return S::fma(a, b, c); }
  static V clamp(V x, V lo, V hi) { return S::clamp(x, lo, hi); }
};

}  // namespace simd
}  // namespace sepcpp
