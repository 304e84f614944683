// The fused activation of an op as the kernels take it (a clamp to [lo, hi]).
#pragma once

#include <limits>

#include "../kernels/kernels.hpp"
#include "sepcpp/ops.hpp"

namespace sepcpp {
namespace detail {

template <class T>
kernels::Activation<T> make_activation(Activation a) {
  kernels::Activation<T> k;
  switch (a) {
    case Activation::kNone: break;
    case Activation::kRelu:
      // (float's infinity: numeric_limits knows no bfloat16; the conversion is exact for all three.)
      k.clamp = true, k.lo = 0, k.hi = static_cast<T>(std::numeric_limits<float>::infinity());
      break;
    case Activation::kRelu6:
      k.clamp = true, k.lo = 0, k.hi = 6;
      break;
  }
  return k;
}

}  // namespace detail
}  // namespace sepcpp
