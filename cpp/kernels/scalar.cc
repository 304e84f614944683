// Scalar kernels: the portable baseline, built without ISA flags.
#include "kernels-inl.hpp"

namespace sepcpp {
namespace kernels {

void fill_scalar(KernelTable& table) {
  table.isa = "scalar";
  fill_peak<simd::Scalar<float>>(table);
  fill_typed<simd::Scalar<float>, 4, 4>(table.f32);
  fill_typed<simd::Scalar<double>, 4, 4>(table.f64);
  fill_typed<simd::Bf16<simd::Scalar<float>>, 4, 4>(table.bf16);
}

}  // namespace kernels
}  // namespace sepcpp
