// Blocked transposes of matrices in memory (the separable backward's A^T, PW^T and dZ^T; a
// filter given with strided columns when it is packed for the GEMM).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#if defined(__SSE2__)
#include <xmmintrin.h>
#endif

namespace sepcpp {
namespace detail {

#if defined(__SSE2__)
// transpose() for float with contiguous source rows: 4 x 4 blocks transposed in SSE registers (the
// baseline of every x86-64), 16 source rows at a time, so that each destination row receives a
// whole cache line's worth in one pass (with 8 rows, half-lines: 6-11% slower on a wide layer's
// training step). Out of line: inlined into the separable pass's unit loop, its loop kept operands
// on the stack for want of registers.
__attribute__((noinline)) inline void transpose_sse(const float* src, int64_t rows, int64_t cols, int64_t src_rs,
                                             float* dst, int64_t dst_rs) {
  const int64_t R4 = rows / 4 * 4, C4 = cols / 4 * 4;
  for (int64_t r0 = 0; r0 < R4; r0 += 16) {
    const int64_t r1 = std::min(R4, r0 + 16);
    for (int64_t c = 0; c < C4; c += 4)
      for (int64_t r = r0; r < r1; r += 4) {
        const float* s = src + r * src_rs + c;
        __m128 a0 = _mm_loadu_ps(s), a1 = _mm_loadu_ps(s + src_rs), a2 = _mm_loadu_ps(s + 2 * src_rs),
               a3 = _mm_loadu_ps(s + 3 * src_rs);
        _MM_TRANSPOSE4_PS(a0, a1, a2, a3);
        float* d = dst + c * dst_rs + r;
        _mm_storeu_ps(d, a0);
        _mm_storeu_ps(d + dst_rs, a1);
        _mm_storeu_ps(d + 2 * dst_rs, a2);
        _mm_storeu_ps(d + 3 * dst_rs, a3);
      }
  }
  for (int64_t r = R4; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * dst_rs + r] = src[r * src_rs + c];
  for (int64_t c = C4; c < cols; ++c)
    for (int64_t r = 0; r < R4; ++r) dst[c * dst_rs + r] = src[r * src_rs + c];
}
#endif

// dst[c * dst_rs + r] = src[r * src_rs + c * src_cs] (dst is the [cols][rows] transpose, its rows
// dst_rs apart), in blocks of 8 x 8: element by element, one side strides through memory a row per
// element, and rows of 1024 floats are 4 KiB apart, so they all fall in one L1 set (12 ways): a
// block of 8 rows on each side stays cached while it is read or written. (A 16 x 16 tile on the
// stack measured slower.) Moving values only, it gives the same bits on every path.
template <class T>
void transpose(const T* src, int64_t rows, int64_t cols, int64_t src_rs, int64_t src_cs, T* dst, int64_t dst_rs) {
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, float>) {
    if (src_cs == 1) return transpose_sse(src, rows, cols, src_rs, dst, dst_rs);
  }
#endif
  constexpr int64_t kB = 8;
  for (int64_t r0 = 0; r0 < rows; r0 += kB)
    for (int64_t c0 = 0; c0 < cols; c0 += kB) {
      const int64_t r1 = std::min(rows, r0 + kB), c1 = std::min(cols, c0 + kB);
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t r = r0; r < r1; ++r) dst[c * dst_rs + r] = src[r * src_rs + c * src_cs];
    }
}

}  // namespace detail
}  // namespace sepcpp
