// bfloat16 as sepcpp stores it: the upper 16 bits of a float32 (sign, 8 exponent bits, 7 mantissa
// bits), bit for bit the layout of ml_dtypes.bfloat16 (TensorFlow's and JAX's CPU bfloat16), so a
// NumPy array of that dtype is read and written in place. sepcpp never computes in bfloat16: values
// are widened to float32 (exact), accumulated in float32 and rounded once when stored.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sepcpp {

// float32 -> bfloat16 bits, rounded to nearest, ties to even, as TensorFlow (Eigen) and
// ml_dtypes round: denormals are kept (no flush to zero), infinities stay infinite, values that
// round past the largest finite bfloat16 become infinite, and a NaN stays a (quiet) NaN with its
// sign. Every ISA level rounds with exactly this rule (simd.hpp), so the levels round alike.
inline uint16_t bf16_bits_from_float(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7fc0u);  // NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

inline float float_from_bf16_bits(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

struct bfloat16 {
  // A trivial default constructor, as float's: `bfloat16 x;` is uninitialised, `bfloat16()` and
  // std::vector<bfloat16>(n) are zero (and the vector is zeroed with memset, not element by element).
  uint16_t bits;
  bfloat16() = default;
  // Converting from float rounds (above); to float is exact. Both implicit, as for Eigen's
  // bfloat16, so that code written for float and double (zero fills, bias copies, clamps) reads
  // the same for bfloat16; arithmetic on it is never done in 16 bits.
  bfloat16(float f) : bits(bf16_bits_from_float(f)) {}  // NOLINT(google-explicit-constructor)
  operator float() const { return float_from_bf16_bits(bits); }  // NOLINT(google-explicit-constructor)
  static bfloat16 from_bits(uint16_t b) {
    bfloat16 x;
    x.bits = b;
    return x;
  }
};
static_assert(sizeof(bfloat16) == 2, "bfloat16 must be the 2 bytes of ml_dtypes.bfloat16");
static_assert(std::is_trivially_default_constructible<bfloat16>::value && std::is_trivially_copyable<bfloat16>::value,
              "bfloat16 must be as trivial as float");

}  // namespace sepcpp
