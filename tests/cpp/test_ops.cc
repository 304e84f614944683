// ctest: every sepcpp op, on one ISA level, against the double-precision reference.
//
//   test_ops <isa>      isa: scalar | avx2 | avx512
//
// Exit status: 0 all passed, 1 a failure, 77 the ISA is not usable on this CPU (ctest: skipped).
//
// The sweeps follow ncnn's and XNNPACK's convolution tests: odd spatial sizes (13x11, 7x9, 1xW),
// channel counts below, at and above every SIMD width (1..17, 31, 33, 65), kernels 1..7 including
// non-square ones, unequal strides, stride together with dilation (which TensorFlow's depthwise
// gets wrong), asymmetric explicit padding, both layouts. Not the full cartesian product: a full
// product over the geometry (kernel x stride x dilation x padding) with the other parameters
// cycling through their lists, plus a product over channels with a few geometries, so that the
// whole binary stays within seconds per ISA.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "reference.hpp"
#include "sepcpp/geometry.hpp"
#include "sepcpp/ops.hpp"
#include "tester.hpp"

namespace {

using namespace sepcpp_test;  // NOLINT: the test's own vocabulary
using sepcpp::Activation;
using sepcpp::ConvParams;
using sepcpp::Layout;
using sepcpp::OpKind;
using sepcpp::Padding;
using sepcpp::Tensor;

using Pair = std::pair<int64_t, int64_t>;

const std::vector<int64_t> kChannels = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10,
                                        11, 12, 13, 14, 15, 16, 17, 31, 33, 65};
const std::vector<Pair> kKernels = {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6}, {7, 7},
                                    {1, 7}, {7, 1}, {3, 1}, {1, 3}, {2, 5}, {5, 2}, {3, 4}};
const std::vector<Pair> kStrides = {{1, 1}, {2, 2}, {3, 3}, {1, 2}, {3, 1}};
const std::vector<Pair> kDilations = {{1, 1}, {2, 2}, {3, 3}, {1, 3}, {2, 1}};
// (H, W): odd sizes, single rows and columns (1-D convolutions, SliceNet-style), a square, and
// two wider ones so that kernels tiling several output pixels run their main loop and remainder.
const std::vector<Pair> kSizes = {{13, 11}, {7, 9},  {1, 8},   {9, 1}, {5, 5},
                                  {16, 3},  {2, 17}, {24, 31}, {3, 40}};
const Activation kActivations[3] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};

// A padding choice: VALID, SAME or explicit (top, bottom, left, right).
struct Pad {
  Padding padding;
  int64_t top, bottom, left, right;
};
const std::vector<Pad> kPads = {{Padding::kValid, 0, 0, 0, 0},
                                {Padding::kSame, 0, 0, 0, 0},
                                {Padding::kExplicit, 2, 0, 1, 3},
                                {Padding::kExplicit, 0, 1, 2, 0},
                                {Padding::kExplicit, 1, 1, 1, 1}};

void set_pad(ConvParams& p, const Pad& pad) {
  p.padding = pad.padding;
  p.pad_top = pad.top;
  p.pad_bottom = pad.bottom;
  p.pad_left = pad.left;
  p.pad_right = pad.right;
}

template <class T>
const T& pick(const std::vector<T>& list, uint64_t i, uint64_t salt) {
  return list[mix(i, salt) % list.size()];
}

// The largest group count <= `want` that divides C*M (super-separable needs C*M % groups == 0).
int64_t fit_groups(int64_t want, int64_t mid_channels) {
  while (mid_channels % want != 0) --want;
  return want;
}

// Everything one ISA run shares: the report, a case counter that seeds the data.
class Suite {
 public:
  explicit Suite(std::string isa) : isa_(std::move(isa)) {}

  template <class T>
  void run(ConvCase c) {
    c.seed = 0x5E9C99ull + 7919ull * static_cast<uint64_t>(next_seed_++);
    const std::string what = std::string(op_str(c.op)) + " " + dtype_str<T>();
    const auto t0 = std::chrono::steady_clock::now();
    const Outcome o = run_case<T>(c, report_, what + " isa=" + isa_);
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    report_.record(what, o, dt.count());
  }

  // A named check outside the case sweeps (bad input, determinism, ...).
  void check(const std::string& what, bool ok, const std::string& message) {
    report_.record(what, ok ? Outcome::kPassed : Outcome::kFailed);
    if (!ok) report_.failure(what + " isa=" + isa_, message);
  }

  Report& report() { return report_; }
  const std::string& isa() const { return isa_; }

 private:
  std::string isa_;
  Report report_;
  int64_t next_seed_ = 0;
};

// Parameters that a sweep does not enumerate, drawn from case index `i`.
void cycle_rest(ConvCase& c, uint64_t i) {
  const Pair& hw = pick(kSizes, i, 1);
  c.height = hw.first;
  c.width = hw.second;
  c.params.layout = mix(i, 2) % 2 ? Layout::kNCHW : Layout::kNHWC;
  c.batch = 1 + static_cast<int64_t>(mix(i, 3) % 2);
  c.multiplier = 1 + static_cast<int64_t>(mix(i, 4) % 3);
  c.bias = mix(i, 5) % 2;
  c.depthwise_bias = mix(i, 6) % 2;
  c.params.activation = kActivations[mix(i, 7) % 3];
  c.params.depthwise_activation = kActivations[mix(i, 8) % 3];
  if (c.op == OpKind::kSeparable) {
    c.params.groups =
        fit_groups(1 + static_cast<int64_t>(mix(i, 9) % 3), c.channels * c.multiplier);
    c.out_channels = c.params.groups * (1 + static_cast<int64_t>(mix(i, 10) % 4));
  } else {
    c.out_channels = 1 + static_cast<int64_t>(mix(i, 10) % 8);
  }
}

// Full product kernel x stride x dilation x padding x layout (3500 cases), channels cycling
// through the whole list, the rest drawn per case.
template <class T>
void sweep_geometry(Suite& s, OpKind op) {
  uint64_t i = 0;
  for (const Pair& k : kKernels)
    for (const Pair& st : kStrides)
      for (const Pair& d : kDilations)
        for (const Pad& pad : kPads)
          for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
            ConvCase c;
            c.op = op;
            c.kernel_h = k.first;
            c.kernel_w = k.second;
            c.params.stride_h = st.first;
            c.params.stride_w = st.second;
            c.params.dilation_h = d.first;
            c.params.dilation_w = d.second;
            set_pad(c.params, pad);
            c.channels = kChannels[i % kChannels.size()];
            cycle_rest(c, i);
            c.params.layout = layout;
            s.run<T>(c);
            ++i;
          }
}

// Pointwise has no kernel: its own product over stride x padding x size x layout.
template <class T>
void sweep_pointwise_geometry(Suite& s) {
  uint64_t i = 0;
  for (const Pair& st : kStrides)
    for (const Pad& pad : kPads)
      for (const Pair& hw : kSizes)
        for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
          ConvCase c;
          c.op = OpKind::kPointwise;
          c.channels = kChannels[i % kChannels.size()];
          cycle_rest(c, i);
          c.params.stride_h = st.first;
          c.params.stride_w = st.second;
          set_pad(c.params, pad);
          c.height = hw.first;
          c.width = hw.second;
          c.params.layout = layout;
          s.run<T>(c);
          ++i;
        }
}

// A few geometries for the channel sweeps: the common 3x3 SAME, a strided VALID 5x5, dilation
// with asymmetric explicit padding, a 1-D causal-like 1x7 with unequal strides.
struct Geometry {
  Pair kernel, stride, dilation, size;
  Pad pad;
};
const std::vector<Geometry> kChannelGeometries = {
    {{3, 3}, {1, 1}, {1, 1}, {13, 11}, {Padding::kSame, 0, 0, 0, 0}},
    {{5, 5}, {2, 2}, {1, 1}, {13, 11}, {Padding::kValid, 0, 0, 0, 0}},
    {{3, 3}, {1, 1}, {2, 2}, {7, 9}, {Padding::kExplicit, 2, 0, 1, 3}},
    {{1, 7}, {1, 2}, {1, 1}, {1, 16}, {Padding::kExplicit, 0, 0, 6, 0}},
};

void set_geometry(ConvCase& c, const Geometry& g) {
  c.kernel_h = g.kernel.first;
  c.kernel_w = g.kernel.second;
  c.params.stride_h = g.stride.first;
  c.params.stride_w = g.stride.second;
  c.params.dilation_h = g.dilation.first;
  c.params.dilation_w = g.dilation.second;
  c.height = g.size.first;
  c.width = g.size.second;
  set_pad(c.params, g.pad);
}

// Channels (and multipliers, output channels, groups) around every SIMD width.
template <class T>
void sweep_channels(Suite& s, OpKind op) {
  uint64_t i = 0;
  const std::vector<int64_t> outs = {1, 2, 3, 4, 5, 8, 16, 17, 33};
  for (int64_t C : kChannels)
    for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
      auto base = [&]() {
        ConvCase c;
        c.op = op;
        cycle_rest(c, i);
        c.channels = C;
        c.params.layout = layout;
        set_geometry(c, pick(kChannelGeometries, i, 11));
        ++i;
        return c;
      };
      switch (op) {
        case OpKind::kDepthwise:
          for (int64_t M = 1; M <= 3; ++M)
            for (const Geometry& g : kChannelGeometries) {
              ConvCase c = base();
              c.multiplier = M;
              set_geometry(c, g);
              s.run<T>(c);
            }
          break;
        case OpKind::kSeparable:
          for (int64_t M = 1; M <= 3; ++M)
            for (int64_t groups = 1; groups <= 3; ++groups)
              for (const Geometry& g : kChannelGeometries) {
                if ((C * M) % groups != 0) continue;
                ConvCase c = base();
                set_geometry(c, g);
                c.multiplier = M;
                c.params.groups = groups;
                c.out_channels = groups * (1 + static_cast<int64_t>(mix(i, 12) % 6));
                s.run<T>(c);
              }
          break;
        case OpKind::kConv:
          for (int64_t O : outs) {
            ConvCase c = base();
            c.out_channels = O;
            s.run<T>(c);
          }
          break;
        case OpKind::kPointwise:
          for (int64_t O : outs) {
            ConvCase c = base();
            c.out_channels = O;
            c.params.stride_h = c.params.stride_w = 1;  // plain 1x1 over 13x11
            c.params.padding = Padding::kValid;
            c.height = 13;
            c.width = 11;
            s.run<T>(c);
          }
          break;
      }
    }
}

// Bias and activation combinations (the fused epilogues), including both spellings of "no bias".
template <class T>
void sweep_epilogue(Suite& s, OpKind op) {
  uint64_t i = 0;
  const bool sep = op == OpKind::kSeparable;
  for (int bias = 0; bias < 2; ++bias)
    for (int dbias = 0; dbias < (sep ? 2 : 1); ++dbias)
      for (Activation act : kActivations)
        for (int dact = 0; dact < (sep ? 3 : 1); ++dact)
          for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
            ConvCase c;
            c.op = op;
            c.channels = pick(kChannels, i, 13);
            cycle_rest(c, i);
            set_geometry(c, pick(kChannelGeometries, i, 14));
            c.params.layout = layout;
            c.bias = bias;
            c.depthwise_bias = dbias;
            c.params.activation = act;
            c.params.depthwise_activation = kActivations[dact];
            c.absent_bias_as_empty = mix(i, 15) % 2;
            s.run<T>(c);
            ++i;
          }
}

// Non-contiguous tensors: gaps, negative strides, transposed memory, zero (broadcast) strides on
// the inputs; gapped and transposed outputs.
template <class T>
void sweep_views(Suite& s, OpKind op) {
  uint64_t i = 0;
  for (View in : {View::kDense, View::kGapW, View::kNegative, View::kPermuted, View::kBroadcast})
    for (View out : {View::kDense, View::kGapW, View::kPermuted})
      for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
        ConvCase c;
        c.op = op;
        c.channels = pick(kChannels, i, 16);
        cycle_rest(c, i);
        set_geometry(c, pick(kChannelGeometries, i, 17));
        c.params.layout = layout;
        c.batch = 2;  // so that a zero batch stride means something
        c.bias = c.depthwise_bias = true;
        c.input_view = in;
        c.output_view = out;
        s.run<T>(c);
        ++i;
      }
}

// Hand-picked corners: outputs made only of padding, kernels as large as the input, strides
// larger than the input, 1x1 images, many channels with a large multiplier.
template <class T>
void sweep_corners(Suite& s, OpKind op) {
  struct Corner {
    Pair size, kernel, stride, dilation;
    Pad pad;
    int64_t channels, multiplier;
  };
  const std::vector<Corner> corners = {
      {{1, 1}, {1, 1}, {1, 1}, {1, 1}, {Padding::kValid, 0, 0, 0, 0}, 3, 1},
      {{1, 1}, {7, 7}, {1, 1}, {1, 1}, {Padding::kSame, 0, 0, 0, 0}, 5, 2},
      {{1, 1}, {3, 3}, {1, 1}, {3, 3}, {Padding::kSame, 0, 0, 0, 0}, 17, 1},
      {{5, 4}, {5, 4}, {1, 1}, {1, 1}, {Padding::kValid, 0, 0, 0, 0}, 9, 3},     // out 1x1
      {{7, 7}, {3, 3}, {1, 1}, {3, 3}, {Padding::kValid, 0, 0, 0, 0}, 8, 1},     // eff == in
      {{2, 2}, {3, 3}, {3, 3}, {1, 1}, {Padding::kSame, 0, 0, 0, 0}, 4, 2},      // stride > in
      {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {Padding::kExplicit, 4, 5, 6, 2}, 7, 1},  // padding-only
                                                                                 // rows
      {{4, 6}, {2, 2}, {2, 3}, {3, 2}, {Padding::kExplicit, 3, 3, 0, 5}, 16, 2},
      {{6, 5}, {7, 1}, {2, 1}, {1, 1}, {Padding::kExplicit, 1, 0, 0, 0}, 31, 1},  // VALID-like, eff
                                                                                  // > in
      {{9, 9}, {3, 3}, {3, 3}, {3, 3}, {Padding::kSame, 0, 0, 0, 0}, 65, 3},
      {{1, 40}, {1, 7}, {1, 1}, {1, 4}, {Padding::kExplicit, 0, 0, 24, 0}, 12, 1},  // causal
      {{8, 8}, {4, 4}, {3, 2}, {1, 1}, {Padding::kSame, 0, 0, 0, 0}, 33, 1},
  };
  uint64_t i = 0;
  for (const Corner& k : corners)
    for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
      ConvCase c;
      c.op = op;
      cycle_rest(c, i);
      c.height = k.size.first;
      c.width = k.size.second;
      c.kernel_h = k.kernel.first;
      c.kernel_w = k.kernel.second;
      c.params.stride_h = k.stride.first;
      c.params.stride_w = k.stride.second;
      c.params.dilation_h = k.dilation.first;
      c.params.dilation_w = k.dilation.second;
      set_pad(c.params, k.pad);
      c.channels = k.channels;
      c.multiplier = k.multiplier;
      if (op == OpKind::kSeparable) {
        c.params.groups = fit_groups(c.params.groups, c.channels * c.multiplier);
        c.out_channels = c.params.groups * (c.out_channels / c.params.groups + 1);
      }
      c.params.layout = layout;
      c.bias = true;
      s.run<T>(c);
      ++i;
    }
}

// Reductions longer than the GEMM's k-block (1024 rows): K = 2100 is two whole blocks and a short
// one, so a row tile's sums go through C between blocks, the bias only in the first and the
// activation only in the last. 70 output channels end on a narrow panel; 3x5 pixels on a short row
// tile. conv2d reaches K = 3*3*120 = 1080.
template <class T>
void sweep_long_k(Suite& s) {
  struct Long {
    OpKind op;
    int64_t channels, multiplier, kernel;
  };
  const Long cases[] = {{OpKind::kPointwise, 2100, 1, 1}, {OpKind::kSeparable, 1050, 2, 3}, {OpKind::kConv, 120, 1, 3}};
  uint64_t i = 0;
  for (const Long& l : cases)
    for (Layout layout : {Layout::kNHWC, Layout::kNCHW})
      for (Activation act : {Activation::kNone, Activation::kRelu6}) {
        ConvCase c;
        c.op = l.op;
        c.height = 3;
        c.width = 5;
        c.channels = l.channels;
        c.multiplier = l.multiplier;
        c.kernel_h = c.kernel_w = l.kernel;
        c.out_channels = 70;
        c.params.padding = Padding::kSame;
        c.params.layout = layout;
        c.params.activation = act;
        c.bias = true;
        c.depthwise_bias = l.op == OpKind::kSeparable;
        c.seed = 100 + i++;
        s.run<T>(c);
      }
}

// ---------------------------------------------------------------------------------------------
// The founding example (SEMANTICS.md): x = arange(20) as (1, 1, 10, 2), all-ones filters, VALID.
// Every value is a small integer, so sepcpp must match digit for digit on every ISA.
template <class T>
void founding_example(Suite& s) {
  const std::string what = std::string("founding example ") + dtype_str<T>();
  std::vector<T> x(20), w1(12, T(1)), w2(6, T(1)), w3(4, T(1)), y(16), y2(16);
  for (int i = 0; i < 20; ++i) x[static_cast<size_t>(i)] = static_cast<T>(i);
  const int64_t xs[4] = {1, 1, 10, 2}, w1s[4] = {1, 3, 2, 2}, w2s[4] = {1, 3, 2, 1},
                w3s[4] = {1, 1, 2, 2}, ys[4] = {1, 1, 8, 2};
  const Tensor<const T> xt = sepcpp::make_tensor<const T>(x.data(), 4, xs);
  Tensor<const T> none;  // no bias: data == nullptr, 1-D of the right length
  none.ndim = 1;
  none.shape[0] = 2;
  const ConvParams valid;  // VALID, stride 1, NHWC
  const std::vector<T> want_y1 = {15, 15, 27, 27, 39, 39, 51, 51, 63, 63, 75, 75, 87, 87, 99, 99};
  const std::vector<T> want_y2 = {6, 9, 12, 15, 18, 21, 24, 27, 30, 33, 36, 39, 42, 45, 48, 51};
  auto expect = [&](const char* name, const std::vector<T>& got, const std::vector<T>& want) {
    std::ostringstream msg;
    msg << name << ": got";
    for (T v : got) msg << " " << v;
    s.check(what, got == want, msg.str());
  };
  try {
    sepcpp::conv2d<T>(xt, sepcpp::make_tensor<const T>(w1.data(), 4, w1s), none,
                      sepcpp::make_tensor<T>(y.data(), 4, ys), valid);
    expect("y1 = conv2d(x, w1)", y, want_y1);
    sepcpp::depthwise_conv2d<T>(xt, sepcpp::make_tensor<const T>(w2.data(), 4, w2s), none,
                                sepcpp::make_tensor<T>(y2.data(), 4, ys), valid);
    expect("y2 = depthwise_conv2d(x, w2)", y2, want_y2);
    std::fill(y.begin(), y.end(), T(0));
    sepcpp::pointwise_conv2d<T>(sepcpp::make_tensor<const T>(y2.data(), 4, ys),
                                sepcpp::make_tensor<const T>(w3.data(), 4, w3s), none,
                                sepcpp::make_tensor<T>(y.data(), 4, ys), valid);
    expect("y3 = pointwise(y2, w3)", y, want_y1);
    std::fill(y.begin(), y.end(), T(0));
    sepcpp::separable_conv2d<T>(xt, sepcpp::make_tensor<const T>(w2.data(), 4, w2s),
                                sepcpp::make_tensor<const T>(w3.data(), 4, w3s), none, none,
                                sepcpp::make_tensor<T>(y.data(), 4, ys), valid);
    expect("y4 = separable_conv2d(x, w2, w3)", y, want_y1);
  } catch (const std::exception& e) {
    s.check(what, false, std::string("threw: ") + e.what());
  }
}

// ---------------------------------------------------------------------------------------------
// An infinite weight over the padding (TensorFlow 2.21's CPU kernels): float32 leaves
// padded taps out, so x = ones(3x3), w = ones(3x3) with w[0][0] = inf, SAME gives
// [[4,6,4],[6,inf,inf],[4,inf,inf]]; float64 multiplies the zero padding: NaN along the first row
// and column. The same through a padded 1x1 (the C++ API's pointwise with explicit padding).
template <class T>
void nonfinite_weights(Suite& s) {
  const std::string what = std::string("infinite weight over the padding ") + dtype_str<T>();
  const bool left_out = std::is_same<T, float>::value;
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> x(9, T(1)), w(9, T(1)), pw(1, T(1)), y(9), big(25);
  w[0] = inf;
  const int64_t xs[4] = {1, 3, 3, 1}, ws[4] = {3, 3, 1, 1}, ps[4] = {1, 1, 1, 1}, bs[4] = {1, 5, 5, 1};
  const Tensor<const T> xt = sepcpp::make_tensor<const T>(x.data(), 4, xs);
  const Tensor<const T> wt = sepcpp::make_tensor<const T>(w.data(), 4, ws);
  const Tensor<const T> pt = sepcpp::make_tensor<const T>(pw.data(), 4, ps);
  const Tensor<T> yt = sepcpp::make_tensor<T>(y.data(), 4, xs);
  Tensor<const T> none;
  ConvParams same;
  same.padding = Padding::kSame;
  const T e = left_out ? T(0) : nan;  // what a padded tap over the inf weight adds
  const std::vector<T> want = {4 + e, 6 + e, 4 + e, 6 + e, inf, inf, 4 + e, inf, inf};
  auto expect = [&](const char* name, const std::vector<T>& got, const std::vector<T>& ref) {
    bool ok = got.size() == ref.size();
    for (size_t i = 0; ok && i < got.size(); ++i)
      ok = std::isnan(ref[i]) ? std::isnan(got[i]) : got[i] == ref[i];
    std::ostringstream msg;
    msg << name << ": got";
    for (T v : got) msg << " " << v;
    s.check(what, ok, msg.str());
  };
  try {
    std::fill(y.begin(), y.end(), nan);
    sepcpp::depthwise_conv2d<T>(xt, wt, none, yt, same);
    expect("depthwise_conv2d", y, want);
    std::fill(y.begin(), y.end(), nan);
    sepcpp::separable_conv2d<T>(xt, wt, pt, none, none, yt, same);
    expect("separable_conv2d", y, want);
    std::fill(y.begin(), y.end(), nan);
    sepcpp::conv2d<T>(xt, wt, none, yt, same);
    expect("conv2d", y, want);
    std::fill(y.begin(), y.end(), nan);
    sepcpp::ConvLayer<T>(OpKind::kDepthwise, wt, Tensor<const T>(), none, none, same)(xt, yt);
    expect("depthwise layer", y, want);
    // Pointwise with one pixel of explicit padding: the border is padding only.
    ConvParams pad1;
    pad1.padding = Padding::kExplicit;
    pad1.pad_top = pad1.pad_bottom = pad1.pad_left = pad1.pad_right = 1;
    std::vector<T> inf1(1, inf), want_big(25, e);
    for (int64_t r = 1; r < 4; ++r)
      for (int64_t c = 1; c < 4; ++c) want_big[static_cast<size_t>(r * 5 + c)] = inf;
    std::fill(big.begin(), big.end(), nan);
    sepcpp::pointwise_conv2d<T>(xt, sepcpp::make_tensor<const T>(inf1.data(), 4, ps), none,
                                sepcpp::make_tensor<T>(big.data(), 4, bs), pad1);
    expect("padded pointwise_conv2d", big, want_big);
  } catch (const std::exception& ex) {
    s.check(what, false, std::string("threw: ") + ex.what());
  }
}

// ---------------------------------------------------------------------------------------------
// Bad input: each must throw std::invalid_argument (and nothing else).
template <class T>
void bad_input(Suite& s) {
  const std::string what = std::string("bad input ") + dtype_str<T>();
  // Plenty of memory behind every tensor, so a wrong shape cannot turn into an out-of-bounds
  // access inside this test itself.
  std::vector<T> mem_in(4096, T(0.5)), mem_f(4096, T(0.25)), mem_f2(4096, T(0.25)), mem_b(64, T(1)),
      mem_out(4096, T(0));
  auto in = [&](std::vector<int64_t> shape) {
    return sepcpp::make_tensor<const T>(mem_in.data(), static_cast<int>(shape.size()),
                                        shape.data());
  };
  auto f = [&](std::vector<int64_t> shape) {
    return sepcpp::make_tensor<const T>(mem_f.data(), static_cast<int>(shape.size()), shape.data());
  };
  auto f2 = [&](std::vector<int64_t> shape) {
    return sepcpp::make_tensor<const T>(mem_f2.data(), static_cast<int>(shape.size()),
                                        shape.data());
  };
  auto b = [&](int64_t n) {
    const int64_t shape[1] = {n};
    return sepcpp::make_tensor<const T>(mem_b.data(), 1, shape);
  };
  auto out = [&](std::vector<int64_t> shape) {
    return sepcpp::make_tensor<T>(mem_out.data(), static_cast<int>(shape.size()), shape.data());
  };
  // "No bias" in the form the API documents: data == nullptr, 1-D, of the right length, so that
  // a check below cannot pass merely because the absent bias was rejected.
  auto nb = [](int64_t n) {
    Tensor<const T> t;
    t.ndim = 1;
    t.shape[0] = n;
    return t;
  };

  // The valid baseline: N=1, 5x5, C=3, M=2 (C*M=6), O=4, 3x3 VALID -> 3x3 output.
  const ConvParams ok;
  auto expect_throw = [&](const std::string& name, const std::function<void()>& fn) {
    try {
      fn();
      s.check(what, false, name + ": no exception");
    } catch (const std::invalid_argument&) {
      s.check(what, true, "");
    } catch (const std::exception& e) {
      s.check(what, false,
              name + ": threw something other than std::invalid_argument: " + e.what());
    }
  };
  auto expect_ok = [&](const std::string& name, const std::function<void()>& fn) {
    try {
      fn();
      s.check(what, true, "");
    } catch (const std::exception& e) {
      s.check(what, false,
              name + " (the valid baseline of the bad-input checks) threw: " + e.what());
    }
  };
  auto dw = [&](Tensor<const T> x, Tensor<const T> w, Tensor<const T> bias, Tensor<T> y,
                const ConvParams& p) { sepcpp::depthwise_conv2d<T>(x, w, bias, y, p); };
  auto pw = [&](Tensor<const T> x, Tensor<const T> w, Tensor<const T> bias, Tensor<T> y,
                const ConvParams& p) { sepcpp::pointwise_conv2d<T>(x, w, bias, y, p); };
  auto cv = [&](Tensor<const T> x, Tensor<const T> w, Tensor<const T> bias, Tensor<T> y,
                const ConvParams& p) { sepcpp::conv2d<T>(x, w, bias, y, p); };
  auto sp = [&](Tensor<const T> x, Tensor<const T> w, Tensor<const T> w2, Tensor<const T> dbias,
                Tensor<const T> bias, Tensor<T> y,
                const ConvParams& p) { sepcpp::separable_conv2d<T>(x, w, w2, dbias, bias, y, p); };

  // Baselines first: if these throw, the checks below prove nothing.
  expect_ok("depthwise",
            [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), b(6), out({1, 3, 3, 6}), ok); });
  expect_ok("pointwise",
            [&] { pw(in({1, 5, 5, 3}), f({1, 1, 3, 4}), b(4), out({1, 5, 5, 4}), ok); });
  expect_ok("conv2d", [&] { cv(in({1, 5, 5, 3}), f({3, 3, 3, 4}), b(4), out({1, 3, 3, 4}), ok); });
  expect_ok("separable", [&] {
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 6, 4}), b(6), b(4), out({1, 3, 3, 4}), ok);
  });
  expect_ok("depthwise without bias",
            [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({1, 3, 3, 6}), ok); });
  expect_ok("separable without biases", [&] {
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 6, 4}), nb(6), nb(4), out({1, 3, 3, 4}), ok);
  });

  // Channel mismatches.
  expect_throw("depthwise: filter C 4 vs input C 3",
               [&] { dw(in({1, 5, 5, 3}), f({3, 3, 4, 2}), nb(8), out({1, 3, 3, 8}), ok); });
  expect_throw("pointwise: filter C 4 vs input C 3",
               [&] { pw(in({1, 5, 5, 3}), f({1, 1, 4, 4}), nb(4), out({1, 5, 5, 4}), ok); });
  expect_throw("conv2d: filter C 4 vs input C 3",
               [&] { cv(in({1, 5, 5, 3}), f({3, 3, 4, 4}), nb(4), out({1, 3, 3, 4}), ok); });
  expect_throw("separable: pointwise filter C 5 vs C*M 6", [&] {
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 5, 4}), nb(6), nb(4), out({1, 3, 3, 4}), ok);
  });
  expect_throw("depthwise: NCHW input C 3 vs filter C 2", [&] {
    ConvParams p;
    p.layout = Layout::kNCHW;
    dw(in({1, 3, 5, 5}), f({3, 3, 2, 1}), nb(2), out({1, 2, 3, 3}), p);
  });

  // Groups that do not divide C*M or O.
  expect_throw("separable: groups 4 does not divide C*M 6", [&] {
    ConvParams p;
    p.groups = 4;
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 1, 4}), nb(6), nb(4), out({1, 3, 3, 4}), p);
  });
  expect_throw("separable: groups 2 does not divide O 5", [&] {
    ConvParams p;
    p.groups = 2;
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 3, 5}), nb(6), nb(5), out({1, 3, 3, 5}), p);
  });
  expect_throw("separable: groups 0", [&] {
    ConvParams p;
    p.groups = 0;
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 6, 4}), nb(6), nb(4), out({1, 3, 3, 4}), p);
  });

  // Strides, dilations, padding.
  for (int axis = 0; axis < 2; ++axis)
    for (int64_t bad : {0, -1}) {
      ConvParams p;
      (axis == 0 ? p.stride_h : p.stride_w) = bad;
      const std::string sfx = std::string(axis == 0 ? " h " : " w ") + std::to_string(bad);
      expect_throw("depthwise: stride" + sfx,
                   [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({1, 3, 3, 6}), p); });
      expect_throw("conv2d: stride" + sfx,
                   [&] { cv(in({1, 5, 5, 3}), f({3, 3, 3, 4}), nb(4), out({1, 3, 3, 4}), p); });
      expect_throw("pointwise: stride" + sfx,
                   [&] { pw(in({1, 5, 5, 3}), f({1, 1, 3, 4}), nb(4), out({1, 5, 5, 4}), p); });
      ConvParams d;
      (axis == 0 ? d.dilation_h : d.dilation_w) = bad;
      expect_throw("depthwise: dilation" + sfx,
                   [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({1, 3, 3, 6}), d); });
      expect_throw("separable: dilation" + sfx, [&] {
        sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 6, 4}), nb(6), nb(4), out({1, 3, 3, 4}), d);
      });
    }
  for (int side = 0; side < 4; ++side) {
    ConvParams p;
    p.padding = Padding::kExplicit;
    int64_t* pads[4] = {&p.pad_top, &p.pad_bottom, &p.pad_left, &p.pad_right};
    *pads[side] = -1;
    // The output shape a sloppy implementation would compute: one row / column fewer.
    const int64_t oh = side < 2 ? 2 : 3, ow = side < 2 ? 3 : 2;
    expect_throw("depthwise: explicit padding -1 on side " + std::to_string(side),
                 [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({1, oh, ow, 6}), p); });
    expect_throw("conv2d: explicit padding -1 on side " + std::to_string(side),
                 [&] { cv(in({1, 5, 5, 3}), f({3, 3, 3, 4}), nb(4), out({1, oh, ow, 4}), p); });
  }
  expect_throw("depthwise: VALID, effective kernel 7 > input 5", [&] {
    ConvParams p;
    p.dilation_h = 3;
    dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({1, 1, 3, 6}), p);
  });
  expect_throw("conv2d: VALID, kernel 6 > input 5",
               [&] { cv(in({1, 5, 5, 3}), f({3, 6, 3, 4}), nb(4), out({1, 3, 1, 4}), ok); });
  expect_throw("separable: VALID, kernel 6 > input 5", [&] {
    sp(in({1, 5, 5, 3}), f({6, 3, 3, 2}), f2({1, 1, 6, 4}), nb(6), nb(4), out({1, 1, 3, 4}), ok);
  });

  // Bias of the wrong length (or rank).
  expect_throw("depthwise: bias 3, want C*M 6",
               [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), b(3), out({1, 3, 3, 6}), ok); });
  expect_throw("depthwise: bias 7, want C*M 6",
               [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), b(7), out({1, 3, 3, 6}), ok); });
  expect_throw("pointwise: bias 3, want O 4",
               [&] { pw(in({1, 5, 5, 3}), f({1, 1, 3, 4}), b(3), out({1, 5, 5, 4}), ok); });
  expect_throw("conv2d: bias 5, want O 4",
               [&] { cv(in({1, 5, 5, 3}), f({3, 3, 3, 4}), b(5), out({1, 3, 3, 4}), ok); });
  expect_throw("separable: bias 6, want O 4", [&] {
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 6, 4}), nb(6), b(6), out({1, 3, 3, 4}), ok);
  });
  expect_throw("separable: depthwise bias 4, want C*M 6", [&] {
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 6, 4}), b(4), nb(4), out({1, 3, 3, 4}), ok);
  });
  expect_throw("conv2d: 2-D bias", [&] {
    const int64_t shape[2] = {1, 4};
    cv(in({1, 5, 5, 3}), f({3, 3, 3, 4}), sepcpp::make_tensor<const T>(mem_b.data(), 2, shape),
       out({1, 3, 3, 4}), ok);
  });

  // Output of the wrong shape.
  expect_throw("depthwise: output H 4, want 3",
               [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({1, 4, 3, 6}), ok); });
  expect_throw("depthwise: output C 3, want C*M 6",
               [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({1, 3, 3, 3}), ok); });
  expect_throw("pointwise: output W 4, want 5",
               [&] { pw(in({1, 5, 5, 3}), f({1, 1, 3, 4}), nb(4), out({1, 5, 4, 4}), ok); });
  expect_throw("conv2d: output batch 2, want 1",
               [&] { cv(in({1, 5, 5, 3}), f({3, 3, 3, 4}), nb(4), out({2, 3, 3, 4}), ok); });
  expect_throw("separable: output O 6, want 4", [&] {
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({1, 1, 6, 4}), nb(6), nb(6), out({1, 3, 3, 6}), ok);
  });
  expect_throw("conv2d: NCHW params, output given in NHWC shape", [&] {
    ConvParams p;
    p.layout = Layout::kNCHW;
    cv(in({1, 3, 5, 5}), f({3, 3, 3, 4}), nb(4), out({1, 3, 3, 4}), p);
  });
  expect_throw("depthwise: 3-D output",
               [&] { dw(in({1, 5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({3, 3, 6}), ok); });

  // Wrong ranks and a pointwise filter that is not 1x1.
  expect_throw("depthwise: 3-D input",
               [&] { dw(in({5, 5, 3}), f({3, 3, 3, 2}), nb(6), out({1, 3, 3, 6}), ok); });
  expect_throw("conv2d: 3-D filter",
               [&] { cv(in({1, 5, 5, 3}), f({3, 3, 3}), nb(3), out({1, 3, 3, 3}), ok); });
  expect_throw("pointwise: 3x3 filter",
               [&] { pw(in({1, 5, 5, 3}), f({3, 3, 3, 4}), nb(4), out({1, 3, 3, 4}), ok); });
  expect_throw("separable: 3x3 pointwise filter", [&] {
    sp(in({1, 5, 5, 3}), f({3, 3, 3, 2}), f2({3, 3, 6, 4}), nb(6), nb(4), out({1, 1, 1, 4}), ok);
  });
}

// ---------------------------------------------------------------------------------------------
// Determinism: the same inputs give bit-identical outputs with 1 and 2 threads and on a rerun.
// (Parallelising over output pixels, never splitting a reduction, makes this hold.)
// Run after the sweeps: set_num_threads(n > 0) also sets OpenMP's own count
// (omp_set_num_threads), so set_num_threads(0) cannot bring back OMP_NUM_THREADS; the previous
// count is restored explicitly instead.
template <class T>
void determinism(Suite& s) {
  const int threads_before = sepcpp::get_num_threads();
  const std::string what = std::string("determinism ") + dtype_str<T>();
  std::vector<ConvCase> cases;
  for (OpKind op : {OpKind::kDepthwise, OpKind::kPointwise, OpKind::kSeparable, OpKind::kConv})
    for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
      ConvCase c;
      c.op = op;
      c.batch = 2;
      c.height = 29;
      c.width = 23;
      c.channels = 33;
      c.multiplier = 2;
      c.out_channels = 40;
      c.params.groups = op == OpKind::kSeparable ? 2 : 1;
      c.params.padding = Padding::kSame;
      // (Not pointwise: whether it takes a stride is a separate question, see run_case.)
      c.params.stride_w = layout == Layout::kNCHW && op != OpKind::kPointwise ? 2 : 1;
      c.params.layout = layout;
      c.params.activation = Activation::kRelu6;
      c.bias = c.depthwise_bias = true;
      c.seed = 4242 + cases.size();
      cases.push_back(c);
    }
  for (const ConvCase& c : cases) {
    const Prepared<T> p = prepare<T>(c);
    std::vector<std::vector<T>> results;
    try {
      for (int threads : {1, 2, 2}) {
        sepcpp::set_num_threads(threads);
        Buffer<T> out = output_tensor<T>(p.out_shape, View::kDense, c.params.layout);
        invoke(p, out.view);
        results.push_back(std::move(out.mem));
      }
    } catch (const std::exception& e) {
      s.check(what, false, std::string("threw: ") + e.what() + "\n    case: " + c.describe());
      continue;
    }
    s.check(what, same_bits(results[0], results[1]),
            "1 thread and 2 threads differ bitwise\n    case: " + c.describe());
    s.check(what, same_bits(results[1], results[2]),
            "two runs with 2 threads differ bitwise\n    case: " + c.describe());
  }
  sepcpp::set_num_threads(threads_before);
}

// The header promises the ops are safe to call from many threads at once: two threads run two
// different cases repeatedly; every result must equal the serial one bitwise.
template <class T>
void concurrent_calls(Suite& s) {
  const std::string what = std::string("concurrent calls ") + dtype_str<T>();
  ConvCase a, b;
  a.op = OpKind::kSeparable;
  a.height = a.width = 17;
  a.channels = 16;
  a.multiplier = 1;
  a.out_channels = 24;
  a.params.padding = Padding::kSame;
  a.bias = true;
  a.seed = 99;
  b.op = OpKind::kDepthwise;
  b.height = 15;
  b.width = 9;
  b.channels = 31;
  b.multiplier = 2;
  b.kernel_h = b.kernel_w = 5;
  b.params.layout = Layout::kNCHW;
  b.params.stride_h = 2;
  b.seed = 100;
  const Prepared<T> pa = prepare<T>(a), pb = prepare<T>(b);
  try {
    Buffer<T> serial_a = output_tensor<T>(pa.out_shape, View::kDense, a.params.layout);
    Buffer<T> serial_b = output_tensor<T>(pb.out_shape, View::kDense, b.params.layout);
    invoke(pa, serial_a.view);
    invoke(pb, serial_b.view);
    bool ok_a = true, ok_b = true;
    auto worker = [](const Prepared<T>& p, const Buffer<T>& serial, bool& ok) {
      for (int rep = 0; rep < 20; ++rep) {
        Buffer<T> out = output_tensor<T>(p.out_shape, View::kDense, p.c.params.layout);
        invoke(p, out.view);
        ok = ok && same_bits(out.mem, serial.mem);
      }
    };
    std::thread ta(worker, std::cref(pa), std::cref(serial_a), std::ref(ok_a));
    std::thread tb(worker, std::cref(pb), std::cref(serial_b), std::ref(ok_b));
    ta.join();
    tb.join();
    s.check(what, ok_a && ok_b,
            "a call made concurrently with another differs from the serial one");
  } catch (const std::exception& e) {
    s.check(what, false, std::string("threw: ") + e.what());
  }
}

bool isa_listed(const std::string& list, const std::string& isa) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (item == isa) return true;
  return false;
}

template <class T>
void run_all(Suite& s) {
  for (OpKind op : {OpKind::kDepthwise, OpKind::kSeparable, OpKind::kConv})
    sweep_geometry<T>(s, op);
  sweep_pointwise_geometry<T>(s);
  for (OpKind op : {OpKind::kDepthwise, OpKind::kPointwise, OpKind::kSeparable, OpKind::kConv}) {
    sweep_channels<T>(s, op);
    sweep_epilogue<T>(s, op);
    sweep_views<T>(s, op);
    sweep_corners<T>(s, op);
  }
  sweep_long_k<T>(s);
  founding_example<T>(s);
  nonfinite_weights<T>(s);
  bad_input<T>(s);
}

template <class T>
void run_threading(Suite& s) {
  determinism<T>(s);
  concurrent_calls<T>(s);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s scalar|avx2|avx512\n", argv[0]);
    return 2;
  }
  const std::string isa = argv[1];
  if (!isa_listed(sepcpp::isas_available(), isa)) {
    std::printf("SKIP isa %s not available on this CPU (available: %s; compiled: %s)\n",
                isa.c_str(), sepcpp::isas_available().c_str(), sepcpp::isas_compiled().c_str());
    return 77;
  }
  try {
    sepcpp::set_isa(isa);
  } catch (const std::exception& e) {
    std::printf("FAIL set_isa(\"%s\") threw although isas_available() lists it: %s\n", isa.c_str(),
                e.what());
    return 1;
  }
  if (isa != sepcpp::isa_in_use()) {
    std::printf("FAIL set_isa(\"%s\") left isa_in_use() = \"%s\"\n", isa.c_str(),
                sepcpp::isa_in_use());
    return 1;
  }
  std::printf("isa %s (available: %s), openmp %s, %d threads\n", isa.c_str(),
              sepcpp::isas_available().c_str(), sepcpp::openmp_enabled() ? "on" : "off",
              sepcpp::get_num_threads());

  Suite suite(isa);
  const auto start = std::chrono::steady_clock::now();
  // Wall and process CPU time: on a loaded machine OpenMP's spin-waits inflate the wall time.
  auto lap = [&](const char* name, const std::function<void()>& fn) {
    const auto t0 = std::chrono::steady_clock::now();
    const std::clock_t c0 = std::clock();
    fn();
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    std::printf("[%s done in %.2f s wall, %.2f s cpu]\n", name, dt.count(),
                static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
    std::fflush(stdout);
  };
  lap("float", [&] { run_all<float>(suite); });
  lap("double", [&] { run_all<double>(suite); });
  lap("threads", [&] {
    run_threading<float>(suite);
    run_threading<double>(suite);
  });
  const std::chrono::duration<double> total = std::chrono::steady_clock::now() - start;

  suite.report().print_counts();
  std::printf("%lld passed, %lld failed (isa %s, %.2f s)\n",
              static_cast<long long>(suite.report().passed()),
              static_cast<long long>(suite.report().failed()), isa.c_str(), total.count());
  return suite.report().failed() == 0 ? 0 : 1;
}
