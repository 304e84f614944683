// Vector traits, one struct per (ISA, element type). The kernels in kernels-inl.hpp are written
// once against these traits and compiled per ISA; only the ISA's own .cc file includes this with
// the ISA's compiler flags on.
//
// Every trait provides: V (vector type), N (lanes), load/store (full vectors), load_n/store_n
// (the first n < N lanes, never touching memory past them), set1, zero, fma (a*b + c) and
// clamp(x, lo, hi), which lets NaN through.
#pragma once

#include <cstddef>

#if defined(SEPCPP_SIMD_AVX2) || defined(SEPCPP_SIMD_AVX512)
#include <immintrin.h>
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

}  // namespace simd
}  // namespace sepcpp
