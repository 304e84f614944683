// Shape arithmetic shared by every op (see geometry.hpp).
#include "sepcpp/geometry.hpp"

#include <sstream>
#include <stdexcept>

namespace sepcpp {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Overflow-checked arithmetic: false on overflow (the caller builds the message, only then).
bool mul(int64_t a, int64_t b, int64_t* r) { return !__builtin_mul_overflow(a, b, r); }
bool add(int64_t a, int64_t b, int64_t* r) { return !__builtin_add_overflow(a, b, r); }

}  // namespace

std::string shape_string(const int64_t* shape, int ndim) {
  std::ostringstream s;
  s << "(";
  for (int i = 0; i < ndim; ++i) s << (i ? ", " : "") << shape[i];
  if (ndim == 1) s << ",";
  s << ")";
  return s.str();
}

const char* padding_name(Padding p) {
  switch (p) {
    case Padding::kValid: return "VALID";
    case Padding::kSame: return "SAME";
    case Padding::kExplicit: return "EXPLICIT";
  }
  return "?";
}

const char* layout_name(Layout l) { return l == Layout::kNHWC ? "NHWC" : "NCHW"; }

int64_t checked_product(const char* what, const int64_t* sizes, int n) {
  int64_t p = 1;
  for (int i = 0; i < n; ++i) {
    if (sizes[i] < 0) fail(std::string(what) + ": negative size in shape " + shape_string(sizes, n));
    if (__builtin_mul_overflow(p, sizes[i], &p))
      fail(std::string(what) + ": the number of elements of shape " + shape_string(sizes, n) +
           " overflows 64 bits");
  }
  return p;
}

// Called on every op call: messages are built only when something is wrong.
AxisGeometry resolve_axis(const char* op, const char* axis, int64_t in, int64_t kernel, int64_t stride,
                          int64_t dilation, Padding padding, int64_t pad_before, int64_t pad_after) {
  auto fail_with = [&](auto&&... parts) {
    std::ostringstream m;
    m << op << ": ";
    (m << ... << parts);
    fail(m.str());
  };
  if (stride <= 0) fail_with("strides must be positive, got ", stride, " along ", axis);
  if (dilation <= 0) fail_with("dilations must be positive, got ", dilation, " along ", axis);
  if (kernel <= 0) fail_with("filter: kernel ", axis, " must be positive, got ", kernel);
  if (in < 0) fail_with("input: negative ", axis, " ", in);
  AxisGeometry a;
  a.in = in;
  a.kernel = kernel;
  a.stride = stride;
  a.dilation = dilation;
  int64_t eff;
  if (!mul(kernel - 1, dilation, &eff) || !add(eff, 1, &eff))
    fail_with("dilations: the effective kernel (", kernel, " - 1) * ", dilation, " + 1 along ", axis,
              " overflows 64 bits");
  switch (padding) {
    case Padding::kSame: {
      // TensorFlow: out = ceil(in / s); the odd pixel of padding goes after (bottom/right).
      a.out = in / stride + (in % stride != 0);
      int64_t span = 0;
      if (a.out > 0 && (!mul(a.out - 1, stride, &span) || !add(span, eff, &span)))
        fail_with("dilations: the SAME padding for input ", in, ", stride ", stride, " and effective kernel ", eff,
                  " along ", axis, " overflows 64 bits");
      const int64_t need = span > in ? span - in : 0;
      a.pad_before = need / 2;
      a.pad_after = need - a.pad_before;
      break;
    }
    case Padding::kValid:
    case Padding::kExplicit: {
      if (padding == Padding::kExplicit) {
        if (pad_before < 0 || pad_after < 0)
          fail_with("padding must be non-negative, got [", pad_before, ", ", pad_after, "] along ", axis);
        a.pad_before = pad_before;
        a.pad_after = pad_after;
      }
      int64_t padded;
      if (!add(in, a.pad_before, &padded) || !add(padded, a.pad_after, &padded))
        fail_with("padding: input ", axis, " ", in, " plus padding [", a.pad_before, ", ", a.pad_after,
                  "] overflows 64 bits");
      // An empty axis (no input and no padding) gives an empty output where TensorFlow's kernels
      // give one: their VALID size (padded - eff + stride) / stride truncates to 0 when
      // eff < 2 * stride (a 1x1 kernel, so pointwise_conv2d, always; a 3-tap one from stride 2),
      // and is "negative" otherwise. Non-empty axes keep the error when eff > padded: TensorFlow's
      // graph mode refuses those too, and its eager kernels return memory they never wrote.
      if (padded == 0 && eff - stride < stride) {
        a.out = 0;
        break;
      }
      if (eff > padded)
        fail_with("the effective filter ", axis, " ", eff, " (kernel ", kernel, ", dilation ", dilation,
                  ") is larger than the ", (padding == Padding::kValid ? "" : "padded "), "input ", axis, " ",
                  padded, " under ", padding_name(padding), " padding");
      a.out = (padded - eff) / stride + 1;
      break;
    }
  }
  return a;
}

}  // namespace sepcpp
