// ConvCase + the machinery that runs one case against the reference (tests/cpp/reference.hpp).
//
// Modelled on XNNPACK's microkernel testers: one plain description of a case, one function that
// builds its tensors, runs sepcpp, and checks
//   - sepcpp::conv_geometry against TensorFlow's rule re-derived in the reference (including that
//     it throws std::invalid_argument exactly when the effective kernel exceeds the padded input),
//   - every output element against the double-precision reference (outputs are prefilled with
//     NaN, so an element the kernel never writes fails),
//   - that nothing outside the output's elements is written (guard zones and the gaps of a strided
//     output keep a sentinel bit pattern),
//   - that the inputs are bit-for-bit unchanged.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "reference.hpp"
#include "sepcpp/geometry.hpp"
#include "sepcpp/ops.hpp"

namespace sepcpp_test {

using sepcpp::Activation;
using sepcpp::AxisGeometry;
using sepcpp::ConvGeometry;
using sepcpp::ConvParams;
using sepcpp::Layout;
using sepcpp::OpKind;
using sepcpp::Padding;
using sepcpp::Tensor;

// ---------------------------------------------------------------------------------------------
// Names (our own, so that a broken sepcpp::op_name cannot hide which case failed).

inline const char* op_str(OpKind op) {
  switch (op) {
    case OpKind::kDepthwise:
      return "depthwise";
    case OpKind::kPointwise:
      return "pointwise";
    case OpKind::kSeparable:
      return "separable";
    case OpKind::kConv:
      return "conv2d";
  }
  return "?";
}

inline const char* act_str(Activation a) {
  switch (a) {
    case Activation::kNone:
      return "none";
    case Activation::kRelu:
      return "relu";
    case Activation::kRelu6:
      return "relu6";
  }
  return "?";
}

template <class T>
const char* dtype_str() {
  return std::is_same<T, float>::value ? "f32" : "f64";
}

// How a tensor's memory is laid out behind its (logical) shape.
enum class View {
  kDense,      // C-contiguous (make_tensor)
  kGapW,       // every second element along the width axis (the last axis for filters / bias)
  kNegative,   // every stride negated: data points at the last element in memory
  kPermuted,   // same logical shape, different memory order (planar NHWC, reversed filters)
  kBroadcast,  // stride 0 along the first axis (batch for activations, KH for filters)
};

inline const char* view_str(View v) {
  switch (v) {
    case View::kDense:
      return "dense";
    case View::kGapW:
      return "gap-w";
    case View::kNegative:
      return "negative";
    case View::kPermuted:
      return "permuted";
    case View::kBroadcast:
      return "broadcast";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Deterministic random numbers: our own generator (splitmix64) instead of <random>
// distributions, whose output is implementation-defined, so a failing case reproduces anywhere.

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A well-mixed hash of (case index, salt): picks parameters that cycle without the correlations
// of i % a, i % b.
inline uint64_t mix(uint64_t i, uint64_t salt) { return splitmix64(i * 0x100000001B3ull + salt); }

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  // Uniform in [-1, 1), 53 random bits.
  double uniform() {
    state_ = splitmix64(state_);
    return static_cast<double>(state_ >> 11) * (2.0 / 9007199254740992.0) - 1.0;
  }

 private:
  uint64_t state_;
};

// ---------------------------------------------------------------------------------------------
// One test case.

struct ConvCase {
  OpKind op = OpKind::kDepthwise;
  int64_t batch = 1, channels = 1, height = 7, width = 7;
  int64_t multiplier = 1;              // depthwise / separable only
  int64_t out_channels = 1;            // pointwise / separable / conv only (depthwise: C*M)
  int64_t kernel_h = 3, kernel_w = 3;  // ignored by pointwise (1x1)
  ConvParams params;
  bool bias = false;
  bool depthwise_bias = false;  // separable only
  // Absent biases are passed as {data = nullptr, ndim 1, shape {channels}}; with this set, as a
  // default-constructed Tensor (ndim 0), which the header also allows ("data == nullptr").
  bool absent_bias_as_empty = false;
  View input_view = View::kDense;   // applies to input, filters and biases
  View output_view = View::kDense;  // kDense, kGapW or kPermuted
  uint64_t seed = 1;

  bool is_depthwise_like() const { return op == OpKind::kDepthwise || op == OpKind::kSeparable; }
  int64_t kh() const { return op == OpKind::kPointwise ? 1 : kernel_h; }
  int64_t kw() const { return op == OpKind::kPointwise ? 1 : kernel_w; }
  int64_t mult() const { return is_depthwise_like() ? multiplier : 1; }
  // Pointwise with a stride or padding that changes the result of a 1x1 convolution.
  bool pointwise_with_spatial_params() const {
    const ConvParams& p = params;
    return op == OpKind::kPointwise &&
           (p.stride_h != 1 || p.stride_w != 1 ||
            (p.padding == Padding::kExplicit &&
             (p.pad_top != 0 || p.pad_bottom != 0 || p.pad_left != 0 || p.pad_right != 0)));
  }
  int64_t final_channels() const {
    return op == OpKind::kDepthwise ? channels * multiplier : out_channels;
  }
  // Number of products summed into one output: sizes the rounding tolerance.
  int64_t reduction_length() const {
    const int64_t g = params.groups > 0 ? params.groups : 1;
    switch (op) {
      case OpKind::kDepthwise:
        return kh() * kw();
      case OpKind::kPointwise:
        return channels / g;
      case OpKind::kSeparable:
        return kh() * kw() + channels * multiplier / g;
      case OpKind::kConv:
        return kh() * kw() * channels;
    }
    return 1;
  }

  std::string describe() const {
    const ConvParams& p = params;
    std::ostringstream s;
    s << op_str(op) << " N=" << batch << " H=" << height << " W=" << width << " C=" << channels;
    if (is_depthwise_like()) s << " M=" << multiplier;
    if (op != OpKind::kDepthwise) s << " O=" << out_channels;
    if (op == OpKind::kSeparable || p.groups != 1) s << " groups=" << p.groups;
    s << " k=" << kh() << "x" << kw() << " stride=" << p.stride_h << "x" << p.stride_w
      << " dilation=" << p.dilation_h << "x" << p.dilation_w << " pad=";
    switch (p.padding) {
      case Padding::kValid:
        s << "VALID";
        break;
      case Padding::kSame:
        s << "SAME";
        break;
      case Padding::kExplicit:
        s << "EXPLICIT(top " << p.pad_top << ", bottom " << p.pad_bottom << ", left " << p.pad_left
          << ", right " << p.pad_right << ")";
        break;
    }
    s << " layout=" << (p.layout == Layout::kNCHW ? "NCHW" : "NHWC") << " bias=" << bias;
    if (op == OpKind::kSeparable)
      s << " dw_bias=" << depthwise_bias << " dw_act=" << act_str(p.depthwise_activation);
    s << " act=" << act_str(p.activation) << " in_view=" << view_str(input_view)
      << " out_view=" << view_str(output_view);
    if (absent_bias_as_empty) s << " absent_bias=Tensor{}";
    s << " seed=" << seed;
    return s.str();
  }
};

// ---------------------------------------------------------------------------------------------
// Tensors with their own memory.

// The memory order and strides behind one view.
struct ViewSpec {
  int order[4] = {0, 1, 2, 3};  // axes from outermost to innermost in memory
  int64_t step[4] = {1, 1, 1, 1};
  bool flip[4] = {false, false, false, false};
  bool zero[4] = {false, false, false, false};
};

enum class Role { kActivation, kFilter, kVector };

inline ViewSpec view_spec(View v, Role role, int ndim, Layout layout) {
  ViewSpec s;
  const bool nchw = role == Role::kActivation && layout == Layout::kNCHW;
  const int w_axis = role == Role::kActivation ? (nchw ? 3 : 2) : ndim - 1;
  switch (v) {
    case View::kDense:
      break;
    case View::kGapW:
      s.step[w_axis] = 2;
      break;
    case View::kNegative:
      for (int d = 0; d < ndim; ++d) s.flip[d] = true;
      break;
    case View::kPermuted:
      if (role == Role::kActivation) {
        // NHWC logical over planar (NCHW) memory, and NCHW logical over interleaved memory:
        // exactly the transposed views a caller gets from numpy's .transpose().
        const int nhwc_over_nchw[4] = {0, 3, 1, 2}, nchw_over_nhwc[4] = {0, 2, 3, 1};
        std::copy(nchw ? nchw_over_nhwc : nhwc_over_nchw,
                  (nchw ? nchw_over_nhwc : nhwc_over_nchw) + 4, s.order);
      } else {
        for (int d = 0; d < ndim; ++d) s.order[d] = ndim - 1 - d;  // Fortran order
      }
      break;
    case View::kBroadcast:
      s.zero[0] = true;
      break;
  }
  return s;
}

template <class T>
struct Buffer {
  std::vector<T> mem;
  Tensor<T> view;
  std::vector<char> is_element;  // per mem slot: is it an element of the view? (outputs only)

  Buffer() = default;
  Buffer(const Buffer&) = delete;  // view.data points into mem
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&&) = default;  // moving a vector keeps its heap block, so view.data stays valid
  Buffer& operator=(Buffer&&) = default;

  Tensor<const T> cview() const {
    Tensor<const T> t;
    t.data = view.data;
    t.ndim = view.ndim;
    for (int d = 0; d < 4; ++d) {
      t.shape[d] = view.shape[d];
      t.strides[d] = view.strides[d];
    }
    return t;
  }
};

// Allocates `guard` slots on each side of the view's memory span.
template <class T>
Buffer<T> allocate(int ndim, const int64_t* shape, const ViewSpec& spec, int64_t guard) {
  Buffer<T> b;
  int64_t strides[4] = {0, 0, 0, 0};
  int64_t span = 1;
  for (int k = ndim - 1; k >= 0; --k) {
    const int ax = spec.order[k];
    if (spec.zero[ax]) continue;  // stride 0: the axis takes no memory
    strides[ax] = span * spec.step[ax];
    span = strides[ax] * std::max<int64_t>(shape[ax], 1);
  }
  int64_t offset = guard;
  for (int d = 0; d < ndim; ++d)
    if (spec.flip[d]) {
      offset += (shape[d] - 1) * strides[d];
      strides[d] = -strides[d];
    }
  b.mem.assign(static_cast<size_t>(span + 2 * guard), T(0));
  b.view.data = b.mem.data() + offset;
  b.view.ndim = ndim;
  for (int d = 0; d < ndim; ++d) {
    b.view.shape[d] = shape[d];
    b.view.strides[d] = strides[d];
  }
  return b;
}

// Calls fn(idx) for every index of `shape`, last axis fastest.
template <class Fn>
void for_each_index(int ndim, const int64_t* shape, Fn fn) {
  int64_t count = 1;
  for (int d = 0; d < ndim; ++d) count *= shape[d];
  int64_t idx[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < count; ++i) {
    fn(static_cast<const int64_t*>(idx));
    for (int d = ndim - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

// An input: every memory slot random in [-1, 1), gaps and guards included, so that a kernel
// that reads a gap gets a wrong (not a zero) value.
template <class T>
Buffer<T> random_tensor(int ndim, const int64_t* shape, View v, Role role, Layout layout,
                        Rng& rng) {
  Buffer<T> b = allocate<T>(ndim, shape, view_spec(v, role, ndim, layout), 8);
  for (T& x : b.mem) x = static_cast<T>(rng.uniform());
  return b;
}

// Fills output slots that are not elements (guards, gaps): a bit pattern no kernel writes.
template <class T>
T sentinel() {
  return static_cast<T>(-12345.6875);
}

template <class T>
Buffer<T> output_tensor(const int64_t* shape, View v, Layout layout) {
  Buffer<T> b = allocate<T>(4, shape, view_spec(v, Role::kActivation, 4, layout), 16);
  std::fill(b.mem.begin(), b.mem.end(), sentinel<T>());
  b.is_element.assign(b.mem.size(), 0);
  for_each_index(4, shape, [&](const int64_t* idx) {
    T* p = sepcpp_ref::element(b.view, idx);
    *p = std::numeric_limits<T>::quiet_NaN();
    b.is_element[static_cast<size_t>(p - b.mem.data())] = 1;
  });
  return b;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  // (memcmp on an empty vector's null data() is undefined, even with size 0.)
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// ---------------------------------------------------------------------------------------------
// Bookkeeping shared by every check.

// kInvalid: an invalid geometry, correctly rejected. kRejected: a configuration the API may
// refuse instead of computing (pointwise with stride / padding), correctly refused.
enum class Outcome { kPassed, kFailed, kInvalid, kRejected };

class Report {
 public:
  // At most this many failures are printed (SEPCPP_TEST_MAX_REPORTS overrides); all are counted.
  Report() {
    if (const char* env = std::getenv("SEPCPP_TEST_MAX_REPORTS")) max_reports_ = std::atoi(env);
  }

  // `what`: "depthwise f32" etc.; counts kept in first-seen order for the summary.
  void record(const std::string& what, Outcome o, double seconds = 0.0) {
    auto it = counts_.find(what);
    if (it == counts_.end()) {
      order_.push_back(what);
      it = counts_.emplace(what, Counts{}).first;
    }
    it->second.seconds += seconds;
    switch (o) {
      case Outcome::kPassed:
        ++it->second.passed;
        ++passed_;
        break;
      case Outcome::kInvalid:
        // Invalid geometry whose rejection was checked: a passed check, counted apart.
        ++it->second.invalid;
        ++passed_;
        break;
      case Outcome::kRejected:
        ++it->second.rejected;
        ++passed_;
        break;
      case Outcome::kFailed:
        ++it->second.failed;
        ++failed_;
        break;
    }
  }

  // Prints one failure (the first max_reports_ only; the rest are counted).
  void failure(const std::string& where, const std::string& message) {
    if (++failure_reports_ > max_reports_) {
      if (failure_reports_ == max_reports_ + 1)
        std::printf("(further failure reports suppressed)\n");
      return;
    }
    std::printf("FAIL [%s] %s\n", where.c_str(), message.c_str());
    std::fflush(stdout);
  }

  void print_counts() const {
    for (const std::string& what : order_) {
      const Counts& c = counts_.at(what);
      std::printf("%s: %lld cases passed", what.c_str(), static_cast<long long>(c.passed));
      if (c.invalid)
        std::printf(", %lld invalid geometries rejected", static_cast<long long>(c.invalid));
      if (c.rejected)
        std::printf(", %lld stride/padding configurations refused with invalid_argument",
                    static_cast<long long>(c.rejected));
      if (c.failed) std::printf(", %lld FAILED", static_cast<long long>(c.failed));
      if (c.seconds > 0.0) std::printf(" (%.2f s)", c.seconds);
      std::printf("\n");
    }
  }

  int64_t passed() const { return passed_; }
  int64_t failed() const { return failed_; }

 private:
  struct Counts {
    int64_t passed = 0, failed = 0, invalid = 0, rejected = 0;
    double seconds = 0.0;
  };
  std::map<std::string, Counts> counts_;
  std::vector<std::string> order_;
  int64_t passed_ = 0, failed_ = 0;
  int failure_reports_ = 0;
  int max_reports_ = 20;
};

// ---------------------------------------------------------------------------------------------
// A case with its tensors built.

template <class T>
struct Prepared {
  ConvCase c;
  int64_t input_shape[4] = {0, 0, 0, 0};  // in the caller's layout
  int64_t filter_shape[4] = {0, 0, 0, 0};
  int64_t filter2_shape[4] = {0, 0, 0, 0};  // separable: the pointwise filter
  int64_t out_shape[4] = {0, 0, 0, 0};      // expected, in the caller's layout
  bool valid = false;                       // expected geometry valid
  ConvGeometry geometry;                    // expected geometry (when valid)
  Buffer<T> input, filter, filter2, depthwise_bias, bias;

  Tensor<const T> bias_view(const Buffer<T>& b, bool present, int64_t length) const {
    if (present) return b.cview();
    Tensor<const T> none;  // data == nullptr: no bias
    if (!c.absent_bias_as_empty) {
      none.ndim = 1;
      none.shape[0] = length;
    }
    return none;
  }
};

// Builds shapes, the expected geometry and random inputs for `c`.
template <class T>
Prepared<T> prepare(const ConvCase& c) {
  Prepared<T> p;
  p.c = c;
  const Layout layout = c.params.layout;
  const bool nchw = layout == Layout::kNCHW;
  const int64_t N = c.batch, C = c.channels, H = c.height, W = c.width, M = c.mult();
  const int64_t O = c.final_channels(), g = c.params.groups;
  const int64_t in_nhwc[4] = {N, H, W, C}, in_nchw[4] = {N, C, H, W};
  std::copy(nchw ? in_nchw : in_nhwc, (nchw ? in_nchw : in_nhwc) + 4, p.input_shape);

  switch (c.op) {
    case OpKind::kDepthwise:
    case OpKind::kSeparable: {
      const int64_t f[4] = {c.kh(), c.kw(), C, M};
      std::copy(f, f + 4, p.filter_shape);
      const int64_t f2[4] = {1, 1, g > 0 ? C * M / g : 0, O};
      std::copy(f2, f2 + 4, p.filter2_shape);
      break;
    }
    case OpKind::kPointwise: {
      const int64_t f[4] = {1, 1, g > 0 ? C / g : 0, O};
      std::copy(f, f + 4, p.filter_shape);
      break;
    }
    case OpKind::kConv: {
      const int64_t f[4] = {c.kh(), c.kw(), C, O};
      std::copy(f, f + 4, p.filter_shape);
      break;
    }
  }

  const ConvParams& q = c.params;
  const auto h = sepcpp_ref::expected_axis(H, c.kh(), q.stride_h, q.dilation_h, q.padding,
                                           q.pad_top, q.pad_bottom);
  const auto w = sepcpp_ref::expected_axis(W, c.kw(), q.stride_w, q.dilation_w, q.padding,
                                           q.pad_left, q.pad_right);
  p.valid = h.has_value() && w.has_value();
  if (p.valid) {
    p.geometry.batch = N;
    p.geometry.in_channels = C;
    p.geometry.multiplier = M;
    p.geometry.out_channels = O;
    p.geometry.h = *h;
    p.geometry.w = *w;
    const int64_t o_nhwc[4] = {N, h->out, w->out, O}, o_nchw[4] = {N, O, h->out, w->out};
    std::copy(nchw ? o_nchw : o_nhwc, (nchw ? o_nchw : o_nhwc) + 4, p.out_shape);
  }

  Rng rng(c.seed);
  p.input = random_tensor<T>(4, p.input_shape, c.input_view, Role::kActivation, layout, rng);
  p.filter = random_tensor<T>(4, p.filter_shape, c.input_view, Role::kFilter, layout, rng);
  if (c.op == OpKind::kSeparable)
    p.filter2 = random_tensor<T>(4, p.filter2_shape, c.input_view, Role::kFilter, layout, rng);
  const int64_t bias_len[1] = {O}, dbias_len[1] = {C * M};
  p.bias = random_tensor<T>(1, bias_len, c.input_view, Role::kVector, layout, rng);
  if (c.op == OpKind::kSeparable)
    p.depthwise_bias = random_tensor<T>(1, dbias_len, c.input_view, Role::kVector, layout, rng);
  return p;
}

// Runs the op of `p` into `out` (exceptions propagate).
template <class T>
void invoke(const Prepared<T>& p, const Tensor<T>& out) {
  const ConvCase& c = p.c;
  const Tensor<const T> in = p.input.cview(), f = p.filter.cview();
  const Tensor<const T> bias = p.bias_view(p.bias, c.bias, c.final_channels());
  switch (c.op) {
    case OpKind::kDepthwise:
      sepcpp::depthwise_conv2d<T>(in, f, bias, out, c.params);
      break;
    case OpKind::kPointwise:
      sepcpp::pointwise_conv2d<T>(in, f, bias, out, c.params);
      break;
    case OpKind::kSeparable: {
      const Tensor<const T> dbias =
          p.bias_view(p.depthwise_bias, c.depthwise_bias, c.channels * c.multiplier);
      sepcpp::separable_conv2d<T>(in, f, p.filter2.cview(), dbias, bias, out, c.params);
      break;
    }
    case OpKind::kConv:
      sepcpp::conv2d<T>(in, f, bias, out, c.params);
      break;
  }
}

// The reference output (dense NHWC) of a prepared, valid case.
template <class T>
sepcpp_ref::Nhwc reference_output(const Prepared<T>& p) {
  const ConvCase& c = p.c;
  const sepcpp_ref::Nhwc x = sepcpp_ref::input_to_nhwc(p.input.cview(), c.params.layout);
  const std::vector<double> f = sepcpp_ref::to_dense(p.filter.cview());
  const std::vector<double> bias =
      c.bias ? sepcpp_ref::to_dense(p.bias.cview()) : std::vector<double>{};
  switch (c.op) {
    case OpKind::kDepthwise:
      return sepcpp_ref::depthwise(x, f, bias, p.geometry, c.params.activation);
    case OpKind::kPointwise:
      return sepcpp_ref::pointwise(x, f, bias, p.geometry, c.params.groups, c.params.activation);
    case OpKind::kSeparable: {
      const std::vector<double> dbias =
          c.depthwise_bias ? sepcpp_ref::to_dense(p.depthwise_bias.cview()) : std::vector<double>{};
      return sepcpp_ref::separable(x, f, sepcpp_ref::to_dense(p.filter2.cview()), dbias, bias,
                                   p.geometry, c.params.groups, c.params.depthwise_activation,
                                   c.params.activation);
    }
    case OpKind::kConv:
      return sepcpp_ref::conv2d(x, f, bias, p.geometry, c.params.activation);
  }
  return {};
}

// Allowed |got - ref|: rounding of a reduction of `length` products, relative to the output's
// magnitude (values are O(1) inputs times O(1) weights, so sums grow like sqrt(length)).
template <class T>
double tolerance(int64_t length, double max_abs_ref) {
  const double scale = std::max(1.0, max_abs_ref);
  if (std::is_same<T, float>::value) return (length <= 100 ? 1e-5 : 1e-4) * scale;
  return 1e-12 * scale;
}

inline std::string geometry_string(const ConvGeometry& g) {
  std::ostringstream s;
  auto axis = [&](const char* name, const AxisGeometry& a) {
    s << " " << name << "{in " << a.in << " k " << a.kernel << " s " << a.stride << " d "
      << a.dilation << " pad " << a.pad_before << "/" << a.pad_after << " out " << a.out << "}";
  };
  s << "batch " << g.batch << " C " << g.in_channels << " M " << g.multiplier << " O "
    << g.out_channels;
  axis("h", g.h);
  axis("w", g.w);
  return s.str();
}

// The dilation of a 1-tap axis changes nothing (pointwise may well normalise it to 1).
inline bool same_axis(const AxisGeometry& a, const AxisGeometry& b) {
  return a.in == b.in && a.kernel == b.kernel && a.stride == b.stride &&
         (a.dilation == b.dilation || a.kernel == 1) && a.pad_before == b.pad_before &&
         a.pad_after == b.pad_after && a.out == b.out;
}

// Runs every check on one case. `where` names the op / dtype / ISA for reports.
template <class T>
Outcome run_case(const ConvCase& c, Report& report, const std::string& where) {
  auto fail = [&](const std::string& msg) {
    report.failure(where, msg + "\n    case: " + c.describe());
    return Outcome::kFailed;
  };
  const Prepared<T> p = prepare<T>(c);
  const ConvParams& q = c.params;

  // 1. Geometry: sepcpp must agree with TensorFlow's rule, and throw exactly where it is invalid.
  ConvGeometry got;
  std::string error;
  bool threw = false;
  try {
    got = sepcpp::conv_geometry(c.op, p.input_shape, p.filter_shape, 4,
                                c.op == OpKind::kSeparable ? p.filter2_shape : nullptr,
                                c.op == OpKind::kSeparable ? 4 : 0, q);
  } catch (const std::invalid_argument& e) {
    threw = true;
    error = e.what();
  } catch (const std::exception& e) {
    return fail(std::string("conv_geometry threw a non-invalid_argument exception: ") + e.what());
  }
  // The header does not say whether pointwise_conv2d honours stride and padding. Either answer
  // is acceptable, computing a 1x1 tf.nn.conv2d or refusing with std::invalid_argument; what must
  // not happen is silently ignoring them (a caller asking for stride 2 gets a wrong shape).
  if (p.valid && threw && c.pointwise_with_spatial_params()) {
    const int64_t one[4] = {1, 1, 1, 1};
    Buffer<T> out = output_tensor<T>(one, View::kDense, q.layout);
    try {
      invoke(p, out.view);
      return fail("conv_geometry refused pointwise stride/padding, but the op accepted them");
    } catch (const std::invalid_argument&) {
    } catch (const std::exception& e) {
      return fail(std::string("the op threw a non-invalid_argument exception: ") + e.what());
    }
    return Outcome::kRejected;
  }
  if (!p.valid) {
    if (!threw) return fail("conv_geometry accepted an invalid geometry: " + geometry_string(got));
    // The op itself must refuse too, whatever output it is given.
    const int64_t one[4] = {1, 1, 1, 1};
    Buffer<T> out = output_tensor<T>(one, View::kDense, q.layout);
    try {
      invoke(p, out.view);
      return fail("the op accepted an invalid geometry (conv_geometry did throw)");
    } catch (const std::invalid_argument&) {
    } catch (const std::exception& e) {
      return fail(std::string("the op threw a non-invalid_argument exception: ") + e.what());
    }
    return Outcome::kInvalid;
  }
  if (threw) return fail("conv_geometry threw on a valid geometry: " + error);
  const ConvGeometry& want = p.geometry;
  if (got.batch != want.batch || got.in_channels != want.in_channels ||
      got.multiplier != want.multiplier || got.out_channels != want.out_channels ||
      !same_axis(got.h, want.h) || !same_axis(got.w, want.w))
    return fail("conv_geometry: got " + geometry_string(got) + "; want " + geometry_string(want));
  int64_t shape[4];
  sepcpp::output_shape(got, q.layout, shape);
  if (!std::equal(shape, shape + 4, p.out_shape))
    return fail("output_shape: got " + sepcpp::shape_string(shape, 4) + "; want " +
                sepcpp::shape_string(p.out_shape, 4));

  // 2. Run.
  Buffer<T> out = output_tensor<T>(p.out_shape, c.output_view, q.layout);
  const std::vector<T> input_copy = p.input.mem, filter_copy = p.filter.mem,
                       filter2_copy = p.filter2.mem, bias_copy = p.bias.mem,
                       dbias_copy = p.depthwise_bias.mem;
  try {
    invoke(p, out.view);
  } catch (const std::exception& e) {
    return fail(std::string("the op threw: ") + e.what());
  }

  // 3. Inputs untouched; nothing written outside the output's elements.
  if (!same_bits(input_copy, p.input.mem)) return fail("the input was modified");
  if (!same_bits(filter_copy, p.filter.mem) || !same_bits(filter2_copy, p.filter2.mem))
    return fail("a filter was modified");
  if (!same_bits(bias_copy, p.bias.mem) || !same_bits(dbias_copy, p.depthwise_bias.mem))
    return fail("a bias was modified");
  const T guard = sentinel<T>();
  for (size_t i = 0; i < out.mem.size(); ++i)
    if (!out.is_element[i] && std::memcmp(&out.mem[i], &guard, sizeof(T)) != 0) {
      const long long rel =
          static_cast<long long>(i) - static_cast<long long>(out.view.data - out.mem.data());
      return fail("wrote outside the output's elements, at memory offset " + std::to_string(rel) +
                  " from output.data");
    }

  // 4. Values.
  const sepcpp_ref::Nhwc ref = reference_output(p);
  double max_abs = 0.0;
  for (double v : ref.v) max_abs = std::max(max_abs, std::fabs(v));
  const double tol = tolerance<T>(c.reduction_length(), max_abs);
  const bool nchw = q.layout == Layout::kNCHW;
  int64_t mismatches = 0;
  std::string first;
  for (int64_t n = 0; n < ref.n; ++n)
    for (int64_t h = 0; h < ref.h; ++h)
      for (int64_t w = 0; w < ref.w; ++w)
        for (int64_t ch = 0; ch < ref.c; ++ch) {
          const int64_t nhwc[4] = {n, h, w, ch}, nchw_idx[4] = {n, ch, h, w};
          const double v =
              static_cast<double>(*sepcpp_ref::element(out.view, nchw ? nchw_idx : nhwc));
          const double r = ref.at(n, h, w, ch);
          if (std::fabs(v - r) <= tol) continue;  // NaN (unwritten) fails here
          if (mismatches++ == 0) {
            char buf[256];
            std::snprintf(buf, sizeof buf,
                          "first mismatch at (n=%lld, h=%lld, w=%lld, c=%lld): got %.9g, want "
                          "%.9g, tolerance %.3g",
                          static_cast<long long>(n), static_cast<long long>(h),
                          static_cast<long long>(w), static_cast<long long>(ch), v, r, tol);
            first = buf;
          }
        }
  if (mismatches)
    return fail(first + " (" + std::to_string(mismatches) + " of " + std::to_string(ref.v.size()) +
                " elements wrong)");
  return Outcome::kPassed;
}

}  // namespace sepcpp_test
