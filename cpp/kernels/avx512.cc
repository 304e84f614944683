// AVX-512F kernels; only this file is built with -mavx512f.
#define SEPCPP_SIMD_AVX512 1
#include "kernels-inl.hpp"

namespace sepcpp {
namespace kernels {

void fill_avx512(KernelTable& table) {
  table.isa = "avx512";
  fill_peak<simd::Avx512F32>(table);
  // 12x32 floats: 24 accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers.
  fill_typed<simd::Avx512F32, 12, 2>(table.f32);
  fill_typed<simd::Avx512F64, 12, 2>(table.f64);
}

}  // namespace kernels
}  // namespace sepcpp
