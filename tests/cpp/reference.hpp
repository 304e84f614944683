// A naive, obviously-right reference for every sepcpp op, in double precision.
//
// Everything here is written for clarity, not speed: one loop per index of the TensorFlow
// equations (shared/reference/SEMANTICS.md), activations in <-> out NHWC as dense row-major
// std::vector<double>. The tests compare sepcpp's kernels (every compiled ISA) against it.
//
// The only thing taken from sepcpp is the data layout of sepcpp::Tensor / ConvGeometry; the
// geometry itself is re-derived here by expected_axis() so that the tests can check
// sepcpp::conv_geometry instead of trusting it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <vector>

#include "sepcpp/geometry.hpp"
#include "sepcpp/ops.hpp"

namespace sepcpp_ref {

using sepcpp::Activation;
using sepcpp::AxisGeometry;
using sepcpp::ConvGeometry;
using sepcpp::Layout;
using sepcpp::Padding;

// A dense NHWC activation tensor in double.
struct Nhwc {
  int64_t n = 0, h = 0, w = 0, c = 0;
  std::vector<double> v;

  Nhwc() = default;
  Nhwc(int64_t n_, int64_t h_, int64_t w_, int64_t c_)
      : n(n_), h(h_), w(w_), c(c_), v(static_cast<size_t>(n_ * h_ * w_ * c_), 0.0) {}
  size_t index(int64_t in, int64_t ih, int64_t iw, int64_t ic) const {
    return static_cast<size_t>(((in * h + ih) * w + iw) * c + ic);
  }
  double& at(int64_t in, int64_t ih, int64_t iw, int64_t ic) { return v[index(in, ih, iw, ic)]; }
  double at(int64_t in, int64_t ih, int64_t iw, int64_t ic) const {
    return v[index(in, ih, iw, ic)];
  }
};

// Pointer to element `idx` of a strided tensor (any strides: negative, zero, gaps).
template <class T>
T* element(const sepcpp::Tensor<T>& t, const int64_t* idx) {
  int64_t off = 0;
  for (int d = 0; d < t.ndim; ++d) off += idx[d] * t.strides[d];
  return t.data + off;
}

// An input tensor in the caller's layout -> dense NHWC doubles, read through its strides.
template <class T>
Nhwc input_to_nhwc(const sepcpp::Tensor<T>& t, Layout layout) {
  const bool nchw = layout == Layout::kNCHW;
  Nhwc x(t.shape[0], nchw ? t.shape[2] : t.shape[1], nchw ? t.shape[3] : t.shape[2],
         nchw ? t.shape[1] : t.shape[3]);
  for (int64_t n = 0; n < x.n; ++n)
    for (int64_t h = 0; h < x.h; ++h)
      for (int64_t w = 0; w < x.w; ++w)
        for (int64_t c = 0; c < x.c; ++c) {
          const int64_t nhwc[4] = {n, h, w, c};
          const int64_t nchw_idx[4] = {n, c, h, w};
          x.at(n, h, w, c) = static_cast<double>(*element(t, nchw ? nchw_idx : nhwc));
        }
  return x;
}

// Any tensor (filters: 4-D, bias: 1-D) -> dense row-major doubles of its logical shape.
// An absent tensor (data == nullptr) gives an empty vector.
template <class T>
std::vector<double> to_dense(const sepcpp::Tensor<T>& t) {
  std::vector<double> out;
  if (t.data == nullptr) return out;
  int64_t count = 1;
  for (int d = 0; d < t.ndim; ++d) count *= t.shape[d];
  out.reserve(static_cast<size_t>(count));
  int64_t idx[4] = {0, 0, 0, 0};
  for (int64_t i = 0; i < count; ++i) {
    out.push_back(static_cast<double>(*element(t, idx)));
    // Odometer increment, last axis fastest (row-major order).
    for (int d = t.ndim - 1; d >= 0; --d) {
      if (++idx[d] < t.shape[d]) break;
      idx[d] = 0;
    }
  }
  return out;
}

// TensorFlow's rule for one spatial axis (SEMANTICS.md), derived independently of
// sepcpp::resolve_axis. Returns nullopt exactly where sepcpp must throw std::invalid_argument.
inline std::optional<AxisGeometry> expected_axis(int64_t in, int64_t kernel, int64_t stride,
                                                 int64_t dilation, Padding padding,
                                                 int64_t pad_before, int64_t pad_after) {
  if (in < 0 || kernel <= 0 || stride <= 0 || dilation <= 0) return std::nullopt;
  AxisGeometry a;
  a.in = in;
  a.kernel = kernel;
  a.stride = stride;
  a.dilation = dilation;
  const int64_t eff = (kernel - 1) * dilation + 1;
  switch (padding) {
    case Padding::kValid:
      if (eff > in) return std::nullopt;
      a.out = (in - eff) / stride + 1;
      break;
    case Padding::kSame: {
      a.out = (in + stride - 1) / stride;  // ceil(in / s)
      const int64_t need = std::max<int64_t>(0, (a.out - 1) * stride + eff - in);
      a.pad_before = need / 2;  // the odd pixel goes after (bottom / right)
      a.pad_after = need - a.pad_before;
      break;
    }
    case Padding::kExplicit:
      if (pad_before < 0 || pad_after < 0) return std::nullopt;
      if (eff > in + pad_before + pad_after) return std::nullopt;
      a.pad_before = pad_before;
      a.pad_after = pad_after;
      a.out = (in + pad_before + pad_after - eff) / stride + 1;
      break;
  }
  return a;
}

inline double activate(double x, Activation act) {
  switch (act) {
    case Activation::kNone:
      return x;
    case Activation::kRelu:
      return std::max(x, 0.0);
    case Activation::kRelu6:
      return std::min(std::max(x, 0.0), 6.0);
  }
  return x;
}

// Input row/column read by output position `o` and tap `k` of axis `a`; may lie in the padding
// (outside [0, a.in)), where the input counts as zero.
inline int64_t input_coord(const AxisGeometry& a, int64_t o, int64_t k) {
  return o * a.stride - a.pad_before + k * a.dilation;
}

// DepthwiseConv: filter [KH, KW, C, M] dense; output channel c*M + m (TensorFlow's order).
// `bias` has C*M entries or is empty.
inline Nhwc depthwise(const Nhwc& x, const std::vector<double>& filter,
                      const std::vector<double>& bias, const ConvGeometry& g, Activation act) {
  const int64_t C = x.c, M = g.multiplier, KH = g.h.kernel, KW = g.w.kernel;
  Nhwc y(x.n, g.h.out, g.w.out, C * M);
  for (int64_t n = 0; n < y.n; ++n)
    for (int64_t oh = 0; oh < y.h; ++oh)
      for (int64_t ow = 0; ow < y.w; ++ow)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t m = 0; m < M; ++m) {
            double acc = 0.0;
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = input_coord(g.h, oh, kh), iw = input_coord(g.w, ow, kw);
                if (ih < 0 || ih >= x.h || iw < 0 || iw >= x.w) continue;  // zero padding
                acc += x.at(n, ih, iw, c) *
                       filter[static_cast<size_t>(((kh * KW + kw) * C + c) * M + m)];
              }
            if (!bias.empty()) acc += bias[static_cast<size_t>(c * M + m)];
            y.at(n, oh, ow, c * M + m) = activate(acc, act);
          }
  return y;
}

// Grouped regular convolution: filter [KH, KW, C/groups, O] dense; group gi reads input channels
// [gi*Cg, (gi+1)*Cg) and writes outputs [gi*Og, (gi+1)*Og). groups == 1 is tf.nn.conv2d; a 1x1
// kernel is the pointwise step (grouped: super-separable). `bias` has O entries or is empty.
inline Nhwc grouped_conv(const Nhwc& x, const std::vector<double>& filter, int64_t out_channels,
                         int64_t groups, const std::vector<double>& bias, const AxisGeometry& gh,
                         const AxisGeometry& gw, Activation act) {
  const int64_t O = out_channels, Cg = x.c / groups, Og = O / groups;
  if (Cg * groups != x.c || Og * groups != O)
    throw std::logic_error("reference grouped_conv: channels not divisible by groups");
  const int64_t KH = gh.kernel, KW = gw.kernel;
  Nhwc y(x.n, gh.out, gw.out, O);
  for (int64_t n = 0; n < y.n; ++n)
    for (int64_t oh = 0; oh < y.h; ++oh)
      for (int64_t ow = 0; ow < y.w; ++ow)
        for (int64_t o = 0; o < O; ++o) {
          const int64_t group = o / Og;
          double acc = 0.0;
          for (int64_t kh = 0; kh < KH; ++kh)
            for (int64_t kw = 0; kw < KW; ++kw) {
              const int64_t ih = input_coord(gh, oh, kh), iw = input_coord(gw, ow, kw);
              if (ih < 0 || ih >= x.h || iw < 0 || iw >= x.w) continue;  // zero padding
              for (int64_t k = 0; k < Cg; ++k)
                acc += x.at(n, ih, iw, group * Cg + k) *
                       filter[static_cast<size_t>(((kh * KW + kw) * Cg + k) * O + o)];
            }
          if (!bias.empty()) acc += bias[static_cast<size_t>(o)];
          y.at(n, oh, ow, o) = activate(acc, act);
        }
  return y;
}

// PointwiseConv as its own op: filter [1, 1, C/groups, O], with whatever stride/padding `g` holds
// (a 1x1 tf.nn.conv2d).
inline Nhwc pointwise(const Nhwc& x, const std::vector<double>& filter,
                      const std::vector<double>& bias, const ConvGeometry& g, int64_t groups,
                      Activation act) {
  return grouped_conv(x, filter, g.out_channels, groups, bias, g.h, g.w, act);
}

// SepConv = pointwise(depthwise(x)): the strides, dilations and padding belong to the depthwise
// step; the pointwise step is 1x1 with stride 1 and no padding (SEMANTICS.md).
inline Nhwc separable(const Nhwc& x, const std::vector<double>& depthwise_filter,
                      const std::vector<double>& pointwise_filter,
                      const std::vector<double>& depthwise_bias, const std::vector<double>& bias,
                      const ConvGeometry& g, int64_t groups, Activation depthwise_act,
                      Activation act) {
  const Nhwc mid = depthwise(x, depthwise_filter, depthwise_bias, g, depthwise_act);
  AxisGeometry one_h, one_w;  // 1x1, stride 1, no padding: out == in
  one_h.in = one_h.out = mid.h;
  one_w.in = one_w.out = mid.w;
  return grouped_conv(mid, pointwise_filter, g.out_channels, groups, bias, one_h, one_w, act);
}

// tf.nn.conv2d: filter [KH, KW, C, O].
inline Nhwc conv2d(const Nhwc& x, const std::vector<double>& filter,
                   const std::vector<double>& bias, const ConvGeometry& g, Activation act) {
  return grouped_conv(x, filter, g.out_channels, 1, bias, g.h, g.w, act);
}

}  // namespace sepcpp_ref
