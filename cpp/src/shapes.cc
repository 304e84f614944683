// Validation of op arguments and the resolved geometry of each op (uses geometry.cc's rules).
// Filters are checked on their own (filter_info, when a layer is built) and then against the
// input (conv_geometry, on every call).
#include <string>

#include "checks.hpp"

namespace sepcpp {

const char* op_name(OpKind op) {
  switch (op) {
    case OpKind::kDepthwise: return "depthwise_conv2d";
    case OpKind::kPointwise: return "pointwise_conv2d";
    case OpKind::kSeparable: return "separable_conv2d";
    case OpKind::kConv: return "conv2d";
  }
  return "?";
}

namespace detail {

// The filter argument's name in the Python API (tf.nn's names).
const char* filter_arg_name(OpKind op) {
  return op == OpKind::kSeparable ? "depthwise_filter" : op == OpKind::kConv ? "filters" : "filter";
}

FilterInfo filter_info(OpKind op, const int64_t* fs, int fnd, const int64_t* ps, int pnd, const ConvParams& p) {
  // Called on every op call: strings are built only on the failure paths.
  const char* opn = op_name(op);
  const char* fname = filter_arg_name(op);
  auto f_str = [&] { return shape_string(fs, 4); };
  auto p_str = [&] { return shape_string(ps, 4); };
  auto pre = [&] { return std::string(opn) + ": "; };
  if (fnd != 4)
    fail(pre() + fname + " must have rank 4, got rank " + std::to_string(fnd) + " with shape " +
         shape_string(fs, fnd));
  checked_product(fname, fs, 4);
  FilterInfo fi;
  fi.kh = fs[0], fi.kw = fs[1], fi.in_channels = fs[2];
  if (fi.kh <= 0 || fi.kw <= 0)
    fail(pre() + fname + " must have a positive kernel height and width, shape " + f_str());
  if (op == OpKind::kPointwise && (fi.kh != 1 || fi.kw != 1))
    fail(pre() + "filter must have shape [1, 1, C, O], got " + f_str());
  if (op == OpKind::kDepthwise || op == OpKind::kSeparable) {
    if (fs[3] <= 0) fail(pre() + fname + "'s depth multiplier must be positive, shape " + f_str());
    fi.multiplier = fs[3];
    fi.out_channels = fs[2] * fs[3];
  } else {
    if (fs[3] <= 0) fail(pre() + fname + "'s output channels must be positive, shape " + f_str());
    fi.out_channels = fs[3];
  }
  if (op == OpKind::kSeparable) {
    if (pnd != 4)
      fail(pre() + "pointwise_filter must have rank 4, got rank " + std::to_string(pnd) + " with shape " +
           shape_string(ps, pnd));
    checked_product("pointwise_filter", ps, 4);
    if (p.groups <= 0) fail(pre() + "groups must be positive, got " + std::to_string(p.groups));
    const int64_t cm = fi.out_channels;
    if (ps[0] != 1 || ps[1] != 1)
      fail(pre() + "pointwise_filter must have shape [1, 1, C*M/groups, O], got " + p_str());
    if (cm % p.groups != 0 || ps[2] * p.groups != cm)
      fail(pre() + "pointwise_filter has " + std::to_string(ps[2]) + " input channels (shape " + p_str() +
           ") but the depthwise step gives C*M = " + std::to_string(cm) + " channels (depthwise_filter shape " +
           f_str() + "), so it needs C*M/groups = " +
           (cm % p.groups == 0 ? std::to_string(cm / p.groups) : std::string("(not an integer)")) + " with groups " +
           std::to_string(p.groups));
    if (ps[3] <= 0 || ps[3] % p.groups != 0)
      fail(pre() + "pointwise_filter's output channels " + std::to_string(ps[3]) +
           " must be positive and divisible by groups " + std::to_string(p.groups) + " (shape " + p_str() + ")");
    fi.out_channels = ps[3];
  }
  // The GEMM packing of pointwise, separable and conv2d stores (rows + 1) x (columns rounded up to
  // a panel of at most kMaxGemmPanel) per group: that size, not just the filter's own element
  // count, must fit in 64 bits (a wrapped size would allocate a small buffer and pack past it).
  if (op != OpKind::kDepthwise) {
    const bool sep = op == OpKind::kSeparable;
    const int64_t groups = sep ? p.groups : 1;
    const int64_t rows = sep ? fi.in_channels * fi.multiplier / groups : fi.kh * fi.kw * fi.in_channels;
    const int64_t cols = (sep ? ps[3] : fs[3]) / groups;
    constexpr int64_t kMaxGemmPanel = 64;  // the widest panel: AVX-512 float, 4 vectors of 16
    int64_t size = 0;
    if (__builtin_add_overflow(cols, kMaxGemmPanel - 1, &size) ||
        __builtin_mul_overflow(size / kMaxGemmPanel * kMaxGemmPanel, rows + 1, &size) ||
        __builtin_mul_overflow(size, groups, &size))
      fail(pre() + (sep ? "pointwise_filter" : fname) + " has shape " + (sep ? p_str() : f_str()) +
           ", too large: its packed form needs more than 2**63 elements");
  }
  return fi;
}

}  // namespace detail

ConvGeometry conv_geometry(OpKind op, const int64_t input_shape[4], const int64_t* fs, int fnd,
                           const int64_t* ps, int pnd, const ConvParams& p) {
  using detail::fail;
  const char* opn = op_name(op);
  checked_product("input", input_shape, 4);
  const detail::FilterInfo fi = detail::filter_info(op, fs, fnd, ps, pnd, p);
  ConvGeometry g;
  g.batch = input_shape[0];
  int64_t H, W;
  if (p.layout == Layout::kNHWC) {
    H = input_shape[1], W = input_shape[2], g.in_channels = input_shape[3];
  } else {
    g.in_channels = input_shape[1], H = input_shape[2], W = input_shape[3];
  }
  if (fi.in_channels != g.in_channels)
    fail(std::string(opn) + ": " + detail::filter_arg_name(op) + " has " + std::to_string(fi.in_channels) +
         " input channels (shape " + shape_string(fs, 4) + ") but input has " + std::to_string(g.in_channels) +
         " channels (input shape " + shape_string(input_shape, 4) + ", " + layout_name(p.layout) + ")");
  g.multiplier = fi.multiplier;
  g.out_channels = fi.out_channels;
  // Pointwise is a 1x1 kernel like any other: strides and padding apply (the Python API passes 1
  // and VALID).
  g.h = resolve_axis(opn, "height", H, fi.kh, p.stride_h, p.dilation_h, p.padding, p.pad_top, p.pad_bottom);
  g.w = resolve_axis(opn, "width", W, fi.kw, p.stride_w, p.dilation_w, p.padding, p.pad_left, p.pad_right);
  int64_t out[4];
  output_shape(g, p.layout, out);
  checked_product("output", out, 4);
  return g;
}

void output_shape(const ConvGeometry& g, Layout layout, int64_t out[4]) {
  out[0] = g.batch;
  if (layout == Layout::kNHWC) {
    out[1] = g.h.out, out[2] = g.w.out, out[3] = g.out_channels;
  } else {
    out[1] = g.out_channels, out[2] = g.h.out, out[3] = g.w.out;
  }
}

}  // namespace sepcpp
