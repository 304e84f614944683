// cpp/cuda/'s kernels, run on the CPU by a host emulator of CUDA's execution model
// (tests/cpp/cuda_emulation/cuda_runtime.h), against the CPU ops.
//
// No GPU and no nvcc needed: the .cu files are compiled here as C++ with the emulator's
// <cuda_runtime.h>. What this checks is everything of the kernels that is not the hardware: the
// index arithmetic for NHWC, NCHW and channels_last strides, the tile loops and their edges, the
// depthwise step computed into shared memory for the fused separable op, the groups of the
// super-separable op, bias and activations, the filter packing, and that every output element
// is written (outputs are prefilled with NaN). The real device runs the same tests from Python
// (tests/gpu, by tests/run_gpu.sh).
#include <cmath>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "../../cpp/cuda/depthwise.cu"
#include "../../cpp/cuda/gemm.cu"
#include "../../cpp/cuda/runtime.cu"
#include "sepcpp/ops.hpp"

namespace {

using sepcpp::Activation;
using sepcpp::ConvParams;
using sepcpp::Layout;
using sepcpp::OpKind;
using sepcpp::Padding;
using sepcpp::Tensor;

struct Case {
  OpKind op;
  Layout layout;
  bool channels_last;  // NCHW shape with NHWC memory (PyTorch's channels_last)
  int64_t N, H, W, C, M, O, KH, KW, sh, sw, dh, dw;
  Padding padding;
  int64_t pads[4];
  bool bias;
  Activation act, dw_act;
  int64_t groups;
};

template <class T>
Tensor<const T> view(const std::vector<T>& v, std::initializer_list<int64_t> shape) {
  return sepcpp::make_tensor<const T>(v.data(), static_cast<int>(shape.size()), shape.begin());
}

std::string describe(const Case& c) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "%s %s%s N%lld H%lld W%lld C%lld M%lld O%lld k%lldx%lld s%lldx%lld d%lldx%lld pad %s "
                "[%lld %lld %lld %lld] bias %d act %d dwact %d groups %lld",
                sepcpp::op_name(c.op), sepcpp::layout_name(c.layout), c.channels_last ? "(channels_last)" : "",
                (long long)c.N, (long long)c.H, (long long)c.W, (long long)c.C, (long long)c.M, (long long)c.O,
                (long long)c.KH, (long long)c.KW, (long long)c.sh, (long long)c.sw, (long long)c.dh,
                (long long)c.dw, sepcpp::padding_name(c.padding), (long long)c.pads[0], (long long)c.pads[1],
                (long long)c.pads[2], (long long)c.pads[3], c.bias, (int)c.act, (int)c.dw_act,
                (long long)c.groups);
  return buf;
}

int refused = 0;

template <class T>
bool run_case(const Case& c, std::mt19937_64& rng) {
  std::normal_distribution<double> nd;
  auto fill = [&](std::vector<T>& v, size_t n) {
    v.resize(n);
    for (auto& x : v) x = static_cast<T>(nd(rng));
  };
  ConvParams p;
  p.stride_h = c.sh, p.stride_w = c.sw, p.dilation_h = c.dh, p.dilation_w = c.dw;
  p.padding = c.padding;
  p.pad_top = c.pads[0], p.pad_bottom = c.pads[1], p.pad_left = c.pads[2], p.pad_right = c.pads[3];
  p.layout = c.layout;
  p.activation = c.act;
  const bool sep = c.op == OpKind::kSeparable;
  if (sep) p.depthwise_activation = c.dw_act, p.groups = c.groups;

  // The input: memory NHWC (channels_last too) or NCHW, viewed in the layout's dimension order.
  std::vector<T> x;
  fill(x, static_cast<size_t>(c.N * c.H * c.W * c.C));
  Tensor<const T> in;
  in.data = x.data();
  in.ndim = 4;
  const bool nhwc_memory = c.layout == Layout::kNHWC || c.channels_last;
  const int64_t sn = c.H * c.W * c.C, sc = nhwc_memory ? 1 : c.H * c.W, sh = nhwc_memory ? c.W * c.C : c.W,
                sw = nhwc_memory ? c.C : 1;
  if (c.layout == Layout::kNHWC) {
    const int64_t s[4] = {c.N, c.H, c.W, c.C}, st[4] = {sn, sh, sw, sc};
    for (int i = 0; i < 4; ++i) in.shape[i] = s[i], in.strides[i] = st[i];
  } else {
    const int64_t s[4] = {c.N, c.C, c.H, c.W}, st[4] = {sn, sc, sh, sw};
    for (int i = 0; i < 4; ++i) in.shape[i] = s[i], in.strides[i] = st[i];
  }
  std::vector<T> f1, f2, b1, b2;
  Tensor<const T> tf1, tf2, tb1, tb2;
  const int64_t CM = c.C * c.M;
  switch (c.op) {
    case OpKind::kDepthwise:
      fill(f1, c.KH * c.KW * CM), tf1 = view(f1, {c.KH, c.KW, c.C, c.M});
      if (c.bias) fill(b1, CM), tb1 = view(b1, {CM});
      break;
    case OpKind::kSeparable:
      fill(f1, c.KH * c.KW * CM), tf1 = view(f1, {c.KH, c.KW, c.C, c.M});
      fill(f2, CM / c.groups * c.O), tf2 = view(f2, {1, 1, CM / c.groups, c.O});
      if (c.bias) fill(b1, CM), tb1 = view(b1, {CM}), fill(b2, c.O), tb2 = view(b2, {c.O});
      break;
    case OpKind::kPointwise:
    case OpKind::kConv:
      fill(f1, c.KH * c.KW * c.C * c.O), tf1 = view(f1, {c.KH, c.KW, c.C, c.O});
      if (c.bias) fill(b1, c.O), tb1 = view(b1, {c.O});
      break;
  }
  sepcpp::ConvGeometry g;
  try {
    g = sepcpp::conv_geometry(c.op, in.shape, tf1.shape, 4, tf2.shape, sep ? 4 : 0, p);
  } catch (const std::invalid_argument&) {
    ++refused;  // a geometry both paths refuse (the binding validates before any launch)
    return true;
  }
  int64_t oshape[4];
  sepcpp::output_shape(g, c.layout, oshape);
  const size_t on = static_cast<size_t>(oshape[0] * oshape[1] * oshape[2] * oshape[3]);
  std::vector<T> want(on), got(on, std::numeric_limits<T>::quiet_NaN());
  Tensor<T> ow = sepcpp::make_tensor<T>(want.data(), 4, oshape);
  switch (c.op) {
    case OpKind::kDepthwise: sepcpp::depthwise_conv2d<T>(in, tf1, tb1, ow, p); break;
    case OpKind::kPointwise: sepcpp::pointwise_conv2d<T>(in, tf1, tb1, ow, p); break;
    case OpKind::kSeparable: sepcpp::separable_conv2d<T>(in, tf1, tf2, tb1, tb2, ow, p); break;
    case OpKind::kConv: sepcpp::conv2d<T>(in, tf1, tb1, ow, p); break;
  }
  sepcpp::cuda::DeviceOperands<T> t;
  t.input = x.data();
  t.in = {sn, sc, sh, sw};
  t.filter1 = f1.data();
  t.filter2 = sep ? f2.data() : nullptr;
  t.bias1 = c.bias ? b1.data() : nullptr;
  t.bias2 = c.bias && sep ? b2.data() : nullptr;
  t.output = got.data();
  const int64_t OH = g.h.out, OW = g.w.out, O = g.out_channels;
  t.out = c.layout == Layout::kNHWC ? sepcpp::cuda::Strides4{OH * OW * O, 1, OW * O, O}
                                    : sepcpp::cuda::Strides4{O * OH * OW, OH * OW, OW, 1};
  sepcpp::cuda::run<T>(c.op, g, p, t, nullptr);

  const int64_t k = c.op == OpKind::kDepthwise ? c.KH * c.KW
                    : c.op == OpKind::kSeparable ? c.KH * c.KW + CM / c.groups
                                                 : c.KH * c.KW * c.C;
  double scale = 1;
  for (T v : want) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  const double eps = sizeof(T) == 4 ? 1e-6 : 1e-14;
  const double tol = 8 * eps * std::sqrt(static_cast<double>(k)) * scale * (sep ? 4 : 1);
  for (size_t i = 0; i < on; ++i) {
    const double a = got[i], b = want[i];
    if (!(std::fabs(a - b) <= tol)) {
      std::printf("FAIL %s %s: element %zu of %zu: emulated GPU %.9g, CPU %.9g (tolerance %.3g)\n",
                  sizeof(T) == 4 ? "float32" : "float64", describe(c).c_str(), i, on, a, b, tol);
      return false;
    }
  }
  return true;
}

}  // namespace

int main() {
  std::mt19937_64 rng(20261129);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const OpKind ops[] = {OpKind::kDepthwise, OpKind::kPointwise, OpKind::kSeparable, OpKind::kConv};
  const Activation acts[] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};
  int failed = 0, run = 0;
  const int cases = 64;
  for (int i = 0; i < cases; ++i) {
    Case c{};
    c.op = ops[i % 4];
    c.layout = (i / 4) % 2 ? Layout::kNCHW : Layout::kNHWC;
    c.channels_last = c.layout == Layout::kNCHW && (i / 8) % 2;
    c.N = pick(1, 2), c.H = pick(1, 12), c.W = pick(1, 14), c.C = pick(1, 20), c.M = pick(1, 3);
    c.O = pick(1, 80), c.KH = pick(1, 4), c.KW = pick(1, 5);
    c.sh = pick(1, 3), c.sw = pick(1, 3), c.dh = pick(1, 2), c.dw = pick(1, 2);
    c.padding = static_cast<Padding>(pick(0, 2));
    for (auto& v : c.pads) v = pick(0, 2);
    c.bias = pick(0, 1), c.act = acts[pick(0, 2)], c.dw_act = acts[pick(0, 2)], c.groups = 1;
    if (c.op == OpKind::kPointwise) c.KH = c.KW = c.sh = c.sw = c.dh = c.dw = 1, c.padding = Padding::kValid;
    if (c.op == OpKind::kSeparable && i % 8 == 2) {  // super-separable
      c.groups = pick(2, 3);
      c.C = c.groups * pick(1, 6);
      c.O = c.groups * pick(1, 30);
    }
    if (i == 5) c.N = 3, c.H = 17, c.W = 19, c.C = 3;  // more than one 64-pixel tile, tile edges
    if (i == 6) c.C = 40, c.M = 1, c.O = 130;           // K over several steps of 16, three column tiles
    run += 2;
    if (!run_case<float>(c, rng)) ++failed;
    if (!run_case<double>(c, rng)) ++failed;
  }
  // pack_dense: a transposed view packed back to row-major.
  {
    std::vector<float> src(2 * 3 * 4 * 5), dst(src.size(), -1);
    for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<float>(i);
    const int64_t shape[4] = {5, 4, 3, 2}, strides[4] = {1, 5, 20, 60};  // src [2,3,4,5] transposed
    sepcpp::cuda::pack_dense<float>(src.data(), shape, strides, dst.data(), nullptr);
    bool ok = true;
    for (int64_t a = 0; a < 5; ++a)
      for (int64_t b = 0; b < 4; ++b)
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t d = 0; d < 2; ++d)
            ok &= dst[((a * 4 + b) * 3 + c) * 2 + d] == src[a + 5 * b + 20 * c + 60 * d];
    ++run;
    if (!ok) ++failed, std::printf("FAIL pack_dense of a transposed view\n");
  }
  std::printf("%d of %d emulated GPU cases passed (%d of them geometries both paths refuse; %ld launches, %ld "
              "blocks)\n", run - failed, run, refused, sepcpp_emulated::launches, sepcpp_emulated::blocks_run);
  return failed ? 1 : 0;
}
