// Argument checks shared by the ops: the error they raise (fail: std::invalid_argument, a
// ValueError in Python), what the filters alone say, and the rank, bias and output checks, whose
// messages name the argument and the shapes.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#include "sepcpp/ops.hpp"

namespace sepcpp {
namespace detail {

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// What the filters alone say (validated without the input).
struct FilterInfo {
  int64_t kh = 1, kw = 1, in_channels = 0, multiplier = 1, out_channels = 0;
};
FilterInfo filter_info(OpKind op, const int64_t* filter_shape, int filter_ndim, const int64_t* filter2_shape,
                       int filter2_ndim, const ConvParams& params);
const char* filter_arg_name(OpKind op);

// Argument checks shared by the ops (messages name the argument and the shapes).
template <class T>
void check_rank(const char* op, const char* name, const Tensor<T>& t, int ndim) {
  if (t.ndim != ndim)
    fail(std::string(op) + ": " + name + " must have rank " + std::to_string(ndim) + ", got rank " +
         std::to_string(t.ndim) + " with shape " + shape_string(t.shape, t.ndim));
  if (!t.data && checked_product(name, t.shape, t.ndim) > 0)
    fail(std::string(op) + ": " + name + " has a null data pointer");
}

template <class T>
void check_bias(const char* op, const char* name, const Tensor<const T>& bias, int64_t channels) {
  if (!bias.data) return;
  if (bias.ndim != 1 || bias.shape[0] != channels)
    fail(std::string(op) + ": " + name + " must have shape (" + std::to_string(channels) +
         ",) to match the " + std::to_string(channels) + " channels it is added to, got shape " +
         shape_string(bias.shape, bias.ndim));
}

template <class T>
void check_output(const char* op, const Tensor<T>& out, const ConvGeometry& g, Layout layout) {
  int64_t want[4];
  output_shape(g, layout, want);
  bool ok = out.ndim == 4;
  for (int i = 0; ok && i < 4; ++i) ok = out.shape[i] == want[i];
  if (!ok)
    fail(std::string(op) + ": out must have shape " + shape_string(want, 4) + ", got shape " +
         shape_string(out.shape, out.ndim));
  if (!out.data && checked_product("out", want, 4) > 0) fail(std::string(op) + ": out has a null data pointer");
}

}  // namespace detail
}  // namespace sepcpp
