// AVX-512F kernels; only this file is built with -mavx512f.
#define SEPCPP_SIMD_AVX512 1
#include "kernels-inl.hpp"

namespace sepcpp {
namespace kernels {

void fill_avx512(KernelTable& table) {
  table.isa = "avx512";
  fill_peak<simd::Avx512F32>(table);
  // 6x64 floats: 24 accumulators + 4 B vectors + 1 broadcast of the 32 zmm registers; 10 loads per
  // 24 FMAs. Measured with A in L2 and B streamed (96x1024x1024, one thread): 104 GFLOP/s, against
  // 81 for 12x32, 99 for 8x48 and 76 for 14x32.
  fill_typed<simd::Avx512F32, 6, 4>(table.f32);
  fill_typed<simd::Avx512F64, 6, 4>(table.f64);
  // bfloat16: widened on load, rounded on store, the float32 tile (avx512_bf16 replaces the GEMM).
  fill_typed<simd::Bf16<simd::Avx512F32>, 6, 4>(table.bf16);
}

}  // namespace kernels
}  // namespace sepcpp
