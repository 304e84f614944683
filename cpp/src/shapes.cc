// Validation of op arguments and the resolved geometry of each op (uses geometry.cc's rules).
#include <string>

#include "common.hpp"

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

ConvGeometry conv_geometry(OpKind op, const int64_t input_shape[4], const int64_t* fs, int fnd,
                           const int64_t* ps, int pnd, const ConvParams& p) {
  using detail::fail;
  const std::string name = op_name(op);
  const char* opn = name.c_str();
  const int64_t in_elems = checked_product("input", input_shape, 4);
  (void)in_elems;
  const std::string in_str = shape_string(input_shape, 4);
  ConvGeometry g;
  g.batch = input_shape[0];
  int64_t H, W;
  if (p.layout == Layout::kNHWC) {
    H = input_shape[1], W = input_shape[2], g.in_channels = input_shape[3];
  } else {
    g.in_channels = input_shape[1], H = input_shape[2], W = input_shape[3];
  }
  const std::string lay = layout_name(p.layout);
  // The filter argument's name in the Python API (tf.nn's names).
  const std::string fname = op == OpKind::kSeparable ? "depthwise_filter" : op == OpKind::kConv ? "filters" : "filter";
  if (fnd != 4)
    fail(name + ": " + fname + " must have rank 4, got rank " + std::to_string(fnd) + " with shape " +
         shape_string(fs, fnd));
  checked_product(fname.c_str(), fs, 4);
  const std::string f_str = shape_string(fs, 4);
  int64_t kh = fs[0], kw = fs[1];
  switch (op) {
    case OpKind::kDepthwise:
    case OpKind::kSeparable: {
      if (fs[2] != g.in_channels)
        fail(name + ": " + fname + " has " + std::to_string(fs[2]) +
             " input channels (filter shape " + f_str + " is [kh, kw, C, M]) but input has " +
             std::to_string(g.in_channels) + " channels (input shape " + in_str + ", " + lay + ")");
      if (fs[3] <= 0) fail(name + ": " + fname + "'s depth multiplier must be positive, shape " + f_str);
      g.multiplier = fs[3];
      g.out_channels = g.in_channels * g.multiplier;
      if (op == OpKind::kSeparable) {
        if (pnd != 4)
          fail(name + ": pointwise_filter must have rank 4, got rank " + std::to_string(pnd) +
               " with shape " + shape_string(ps, pnd));
        checked_product("pointwise_filter", ps, 4);
        const std::string p_str = shape_string(ps, 4);
        if (p.groups <= 0) fail(name + ": groups must be positive, got " + std::to_string(p.groups));
        const int64_t cm = g.mid_channels();
        if (ps[0] != 1 || ps[1] != 1)
          fail(name + ": pointwise_filter must have shape [1, 1, C*M/groups, O], got " + p_str);
        if (cm % p.groups != 0 || ps[2] * p.groups != cm)
          fail(name + ": pointwise_filter has " + std::to_string(ps[2]) + " input channels (shape " +
               p_str + ") but the depthwise step gives C*M = " + std::to_string(cm) +
               " channels (input shape " + in_str + ", depthwise filter shape " + f_str + ", groups " +
               std::to_string(p.groups) + "): it needs C*M/groups");
        if (ps[3] <= 0 || ps[3] % p.groups != 0)
          fail(name + ": pointwise_filter's output channels " + std::to_string(ps[3]) +
               " must be positive and divisible by groups " + std::to_string(p.groups) + " (shape " +
               p_str + ")");
        g.out_channels = ps[3];
      }
      break;
    }
    case OpKind::kPointwise:
      if (kh != 1 || kw != 1)
        fail(name + ": filter must have shape [1, 1, C, O], got " + f_str);
      [[fallthrough]];
    case OpKind::kConv:
      if (fs[2] != g.in_channels)
        fail(name + ": " + fname + " has " + std::to_string(fs[2]) + " input channels (shape " + f_str +
             ") but input has " + std::to_string(g.in_channels) + " channels (input shape " + in_str +
             ", " + lay + ")");
      if (fs[3] <= 0) fail(name + ": " + fname + "'s output channels must be positive, shape " + f_str);
      g.out_channels = fs[3];
      break;
  }
  if (op == OpKind::kPointwise) {
    g.h = resolve_axis(opn, "height", H, 1, 1, 1, Padding::kValid, 0, 0);
    g.w = resolve_axis(opn, "width", W, 1, 1, 1, Padding::kValid, 0, 0);
  } else {
    g.h = resolve_axis(opn, "height", H, kh, p.stride_h, p.dilation_h, p.padding, p.pad_top, p.pad_bottom);
    g.w = resolve_axis(opn, "width", W, kw, p.stride_w, p.dilation_w, p.padding, p.pad_left, p.pad_right);
  }
  int64_t out[4];
  output_shape(g, p.layout, out);
  checked_product("output", out, 4);
  // The im2col buffer of conv2d is indexed by taps*C and the reference loops by taps*C*O.
  const int64_t work[3] = {g.taps(), g.mid_channels(), g.out_channels};
  checked_product("filter", work, 3);
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
