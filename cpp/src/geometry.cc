// Shape arithmetic shared by every op (see geometry.hpp).
#include "sepcpp/geometry.hpp"

#include <sstream>
#include <stdexcept>

namespace sepcpp {
namespace {

[[noreturn]] void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// Overflow-checked arithmetic; `why` is the whole error message (it names the argument).
int64_t mul(int64_t a, int64_t b, const std::string& why) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) fail(why);
  return r;
}

int64_t add(int64_t a, int64_t b, const std::string& why) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) fail(why);
  return r;
}

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

AxisGeometry resolve_axis(const char* op, const char* axis, int64_t in, int64_t kernel, int64_t stride,
                          int64_t dilation, Padding padding, int64_t pad_before, int64_t pad_after) {
  std::ostringstream m;
  m << op << ": ";
  if (stride <= 0) {
    m << "strides must be positive, got " << stride << " along " << axis;
    fail(m.str());
  }
  if (dilation <= 0) {
    m << "dilations must be positive, got " << dilation << " along " << axis;
    fail(m.str());
  }
  if (kernel <= 0) {
    m << "filter: kernel " << axis << " must be positive, got " << kernel;
    fail(m.str());
  }
  if (in < 0) {
    m << "input: negative " << axis << " " << in;
    fail(m.str());
  }
  AxisGeometry a;
  a.in = in;
  a.kernel = kernel;
  a.stride = stride;
  a.dilation = dilation;
  const std::string pre = std::string(op) + ": ";
  const std::string eff_why = pre + "dilations: the effective kernel (" + std::to_string(kernel) + " - 1) * " +
                              std::to_string(dilation) + " + 1 along " + axis + " overflows 64 bits";
  const int64_t eff = add(mul(kernel - 1, dilation, eff_why), 1, eff_why);
  switch (padding) {
    case Padding::kSame: {
      // TensorFlow: out = ceil(in / s); the odd pixel of padding goes after (bottom/right).
      a.out = in / stride + (in % stride != 0);
      const std::string why = pre + "dilations: the SAME padding for input " + std::to_string(in) + ", stride " +
                              std::to_string(stride) + " and effective kernel " + std::to_string(eff) + " along " +
                              axis + " overflows 64 bits";
      const int64_t span = a.out > 0 ? add(mul(a.out - 1, stride, why), eff, why) : 0;
      const int64_t need = span > in ? span - in : 0;
      a.pad_before = need / 2;
      a.pad_after = need - a.pad_before;
      break;
    }
    case Padding::kValid:
    case Padding::kExplicit: {
      if (padding == Padding::kExplicit) {
        if (pad_before < 0 || pad_after < 0) {
          m << "padding must be non-negative, got [" << pad_before << ", " << pad_after << "] along "
            << axis;
          fail(m.str());
        }
        a.pad_before = pad_before;
        a.pad_after = pad_after;
      }
      const std::string why = pre + "padding: input " + axis + " " + std::to_string(in) + " plus padding [" +
                              std::to_string(a.pad_before) + ", " + std::to_string(a.pad_after) + "] overflows 64 bits";
      const int64_t padded = add(add(in, a.pad_before, why), a.pad_after, why);
      if (eff > padded) {
        m << "the effective filter " << axis << " " << eff << " (kernel " << kernel << ", dilation "
          << dilation << ") is larger than the " << (padding == Padding::kValid ? "" : "padded ")
          << "input " << axis << " " << padded << " under " << padding_name(padding) << " padding";
        fail(m.str());
      }
      a.out = (padded - eff) / stride + 1;
      break;
    }
  }
  return a;
}

}  // namespace sepcpp
