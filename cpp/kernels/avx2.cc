// AVX2+FMA kernels; only this file is built with -mavx2 -mfma.
#define SEPCPP_SIMD_AVX2 1
#include "kernels-inl.hpp"

namespace sepcpp {
namespace kernels {

void fill_avx2(KernelTable& table) {
  table.isa = "avx2";
  fill_peak<simd::Avx2F32>(table);
  // 6x16 floats: 12 accumulators + 2 B vectors + 1 broadcast = 15 of the 16 ymm registers.
  fill_typed<simd::Avx2F32, 6, 2>(table.f32);
  fill_typed<simd::Avx2F64, 6, 2>(table.f64);
  // bfloat16: widened on load, rounded on store, the float32 tile.
  fill_typed<simd::Bf16<simd::Avx2F32>, 6, 2>(table.bf16);
}

}  // namespace kernels
}  // namespace sepcpp
