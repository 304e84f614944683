// The backprop ops (sepcpp/backprop.hpp) against a naive double-precision reference written here
// from the definitions (one loop per index: every output pixel, tap and channel adds its product
// to the gradient it touches), on the ISA level given as argument (ctest runs each; exit 77 when
// this CPU cannot run it), float and double, NHWC and NCHW (NCHW operands and results as strided
// views over NHWC memory, so the packing and scattering paths run too), for geometries TensorFlow
// refuses as well (stride with dilation, unequal strides), and bitwise the same for 1, 2 and 3
// threads. Gradients are prefilled with NaN so that an element the
// op forgets to write fails.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "sepcpp/backprop.hpp"
#include "sepcpp/ops.hpp"

namespace {

using sepcpp::Activation;
using sepcpp::ConvParams;
using sepcpp::Layout;
using sepcpp::Padding;
using sepcpp::Tensor;

int g_failures = 0, g_checks = 0;

void check(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok && ++g_failures <= 30) std::fprintf(stderr, "FAIL: %s\n", what.c_str());
}

struct Case {
  int64_t n, h, w, c, kh, kw, sh, sw, dh, dw;
  Padding pad;
  int64_t pt, pb, pl, pr;  // explicit padding
  int64_t m, o, groups;
  Activation dw_act, act;
  bool dw_bias, bias;
};

// One axis resolved as TensorFlow does (re-derived here, not sepcpp's geometry).
void axis(int64_t in, int64_t k, int64_t s, int64_t d, Padding p, int64_t eb, int64_t ea, int64_t* before,
          int64_t* out) {
  const int64_t eff = (k - 1) * d + 1;
  if (p == Padding::kSame) {
    *out = (in + s - 1) / s;
    const int64_t need = std::max<int64_t>(0, (*out - 1) * s + eff - in);
    *before = need / 2;
  } else {
    const int64_t b = p == Padding::kExplicit ? eb : 0, a = p == Padding::kExplicit ? ea : 0;
    *before = b;
    *out = (in + b + a - eff) / s + 1;
  }
}

struct Geo {
  int64_t oh, ow, ph, pw;
};

Geo geo(const Case& k) {
  Geo g;
  axis(k.h, k.kh, k.sh, k.dh, k.pad, k.pt, k.pb, &g.ph, &g.oh);
  axis(k.w, k.kw, k.sw, k.dw, k.pad, k.pl, k.pr, &g.pw, &g.ow);
  return g;
}

// Calls f(n, oh, ow, ky, kx, ih, iw) for every output pixel and tap inside the input.
template <class F>
void each_tap(const Case& k, const Geo& g, F&& f) {
  for (int64_t n = 0; n < k.n; ++n)
    for (int64_t oh = 0; oh < g.oh; ++oh)
      for (int64_t ow = 0; ow < g.ow; ++ow)
        for (int64_t ky = 0; ky < k.kh; ++ky)
          for (int64_t kx = 0; kx < k.kw; ++kx) {
            const int64_t ih = oh * k.sh - g.ph + ky * k.dh, iw = ow * k.sw - g.pw + kx * k.dw;
            if (ih >= 0 && ih < k.h && iw >= 0 && iw < k.w) f(n, oh, ow, ky, kx, ih, iw);
          }
}

double act_fn(Activation a, double x) {
  if (a == Activation::kRelu) return std::max(x, 0.0);
  if (a == Activation::kRelu6) return std::min(std::max(x, 0.0), 6.0);
  return x;
}
double act_grad(Activation a, double x) {
  if (a == Activation::kRelu) return x > 0 ? 1 : 0;
  if (a == Activation::kRelu6) return x > 0 && x < 6 ? 1 : 0;
  return 1;
}

// NHWC storage; `nchw` presents it as an [N, C, H, W] strided view.
template <class T>
struct Act {
  std::vector<T> v;
  int64_t n, h, w, c;
  Act(int64_t n_, int64_t h_, int64_t w_, int64_t c_)
      : v(static_cast<size_t>(n_ * h_ * w_ * c_)), n(n_), h(h_), w(w_), c(c_) {}
  size_t at(int64_t a, int64_t y, int64_t x, int64_t ch) const {
    return static_cast<size_t>(((a * h + y) * w + x) * c + ch);
  }
  template <class U>
  Tensor<U> view(U* data, Layout layout) const {
    Tensor<U> t;
    t.data = data;
    t.ndim = 4;
    const int64_t sn = h * w * c, sh = w * c, sw = c;
    if (layout == Layout::kNHWC) {
      const int64_t s[4] = {n, h, w, c}, st[4] = {sn, sh, sw, 1};
      for (int i = 0; i < 4; ++i) t.shape[i] = s[i], t.strides[i] = st[i];
    } else {
      const int64_t s[4] = {n, c, h, w}, st[4] = {sn, 1, sh, sw};
      for (int i = 0; i < 4; ++i) t.shape[i] = s[i], t.strides[i] = st[i];
    }
    return t;
  }
  Tensor<const T> cview(Layout l) const { return view<const T>(v.data(), l); }
  Tensor<T> mview(Layout l) { return view<T>(v.data(), l); }
};

template <class T>
Tensor<T> dense(std::vector<T>& v, std::initializer_list<int64_t> shape) {
  Tensor<T> t;
  t.data = v.data();
  t.ndim = static_cast<int>(shape.size());
  int i = 0;
  for (int64_t s : shape) t.shape[i++] = s;
  int64_t st = 1;
  for (int j = t.ndim - 1; j >= 0; --j) t.strides[j] = st, st *= t.shape[j];
  return t;
}
template <class T>
Tensor<const T> cdense(const std::vector<T>& v, std::initializer_list<int64_t> shape) {
  Tensor<const T> t;
  Tensor<T> m = dense(const_cast<std::vector<T>&>(v), shape);
  t.data = m.data, t.ndim = m.ndim;
  for (int i = 0; i < 4; ++i) t.shape[i] = m.shape[i], t.strides[i] = m.strides[i];
  return t;
}

template <class T>
void fill(std::vector<T>& v, std::mt19937& rng, double scale = 1.0) {
  std::normal_distribution<double> d(0.0, scale);
  for (auto& e : v) e = static_cast<T>(d(rng));
}

template <class T>
void expect_close(const std::vector<T>& got, const std::vector<double>& want, const std::string& what) {
  double scale = 1, err = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  bool finite = got.size() == want.size();
  for (size_t i = 0; finite && i < got.size(); ++i) {
    if (!std::isfinite(static_cast<double>(got[i]))) finite = false;
    err = std::max(err, std::fabs(static_cast<double>(got[i]) - want[i]));
  }
  const double tol = (sizeof(T) == 4 ? 1e-4 : 1e-11) * scale;
  std::ostringstream m;
  m << what << ": max error " << err << " (tolerance " << tol << ")" << (finite ? "" : ", non-finite or unwritten");
  check(finite && err <= tol, m.str());
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

ConvParams params_of(const Case& k, Layout layout) {
  ConvParams p;
  p.stride_h = k.sh, p.stride_w = k.sw, p.dilation_h = k.dh, p.dilation_w = k.dw;
  p.padding = k.pad;
  p.pad_top = k.pt, p.pad_bottom = k.pb, p.pad_left = k.pl, p.pad_right = k.pr;
  p.layout = layout;
  p.activation = k.act, p.depthwise_activation = k.dw_act, p.groups = k.groups;
  return p;
}

template <class T>
void test_case(const Case& k, Layout layout, const std::string& name, std::mt19937& rng) {
  const Geo g = geo(k);
  const int64_t C = k.c, M = k.m, CM = C * M, O = k.o, G = k.groups, kg = CM / G, og = O / G;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  Act<T> x(k.n, k.h, k.w, C), dyd(k.n, g.oh, g.ow, CM), dyc(k.n, g.oh, g.ow, O);
  std::vector<T> fd(static_cast<size_t>(k.kh * k.kw * CM)), fc(static_cast<size_t>(k.kh * k.kw * C * O)),
      fp(static_cast<size_t>(kg * O)), bd(static_cast<size_t>(CM)), b(static_cast<size_t>(O));
  fill(x.v, rng, 2.0), fill(dyd.v, rng), fill(dyc.v, rng), fill(fd, rng), fill(fc, rng), fill(fp, rng);
  fill(bd, rng), fill(b, rng, 2.0);
  auto X = [&](int64_t n, int64_t y, int64_t xx, int64_t c) { return double(x.v[x.at(n, y, xx, c)]); };

  // ---- reference
  std::vector<double> r_dwx(x.v.size(), 0.0), r_dwf(fd.size(), 0.0), r_cx(x.v.size(), 0.0), r_cf(fc.size(), 0.0);
  each_tap(k, g, [&](int64_t n, int64_t oh, int64_t ow, int64_t ky, int64_t kx, int64_t ih, int64_t iw) {
    const int64_t tap = ky * k.kw + kx;
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t m = 0; m < M; ++m) {
        const double gy = dyd.v[dyd.at(n, oh, ow, c * M + m)];
        r_dwx[x.at(n, ih, iw, c)] += gy * fd[tap * CM + c * M + m];
        r_dwf[tap * CM + c * M + m] += X(n, ih, iw, c) * gy;
      }
      for (int64_t o = 0; o < O; ++o) {
        const double gy = dyc.v[dyc.at(n, oh, ow, o)];
        r_cx[x.at(n, ih, iw, c)] += gy * fc[(tap * C + c) * O + o];
        r_cf[(tap * C + c) * O + o] += X(n, ih, iw, c) * gy;
      }
    }
  });
  // Separable: forward intermediates, then the chain rule.
  const size_t P = static_cast<size_t>(k.n * g.oh * g.ow);
  std::vector<double> mid(P * CM, 0.0), a(P * CM), dz(P * O), dmid(P * CM, 0.0);
  each_tap(k, g, [&](int64_t n, int64_t oh, int64_t ow, int64_t ky, int64_t kx, int64_t ih, int64_t iw) {
    const size_t p = static_cast<size_t>((n * g.oh + oh) * g.ow + ow);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t m = 0; m < M; ++m)
        mid[p * CM + c * M + m] += X(n, ih, iw, c) * fd[(ky * k.kw + kx) * CM + c * M + m];
  });
  std::vector<double> r_sx(x.v.size(), 0.0), r_sdf(fd.size(), 0.0), r_spf(fp.size(), 0.0), r_sbd(CM, 0.0), r_sb(O, 0.0);
  for (size_t p = 0; p < P; ++p) {
    for (int64_t j = 0; j < CM; ++j) {
      if (k.dw_bias) mid[p * CM + j] += bd[j];
      a[p * CM + j] = act_fn(k.dw_act, mid[p * CM + j]);
    }
    for (int64_t o = 0; o < O; ++o) {
      const int64_t gi = o / og;
      double z = k.bias ? double(b[o]) : 0.0;
      for (int64_t kk = 0; kk < kg; ++kk) z += a[p * CM + gi * kg + kk] * fp[kk * O + o];
      dz[p * O + o] = dyc.v[p * O + o] * act_grad(k.act, z);
      r_sb[o] += dz[p * O + o];
      for (int64_t kk = 0; kk < kg; ++kk) {
        r_spf[kk * O + o] += a[p * CM + gi * kg + kk] * dz[p * O + o];
        dmid[p * CM + gi * kg + kk] += dz[p * O + o] * fp[kk * O + o];
      }
    }
    for (int64_t j = 0; j < CM; ++j) {
      dmid[p * CM + j] *= act_grad(k.dw_act, mid[p * CM + j]);
      r_sbd[j] += dmid[p * CM + j];
    }
  }
  each_tap(k, g, [&](int64_t n, int64_t oh, int64_t ow, int64_t ky, int64_t kx, int64_t ih, int64_t iw) {
    const size_t p = static_cast<size_t>((n * g.oh + oh) * g.ow + ow);
    const int64_t tap = ky * k.kw + kx;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t m = 0; m < M; ++m) {
        const double gm = dmid[p * CM + c * M + m];
        r_sx[x.at(n, ih, iw, c)] += gm * fd[tap * CM + c * M + m];
        r_sdf[tap * CM + c * M + m] += X(n, ih, iw, c) * gm;
      }
  });

  // ---- sepcpp, for 1, 2 and 3 threads
  const ConvParams prm = params_of(k, layout);
  int64_t in_shape[4];
  {
    const Tensor<const T> t = x.cview(layout);
    for (int i = 0; i < 4; ++i) in_shape[i] = t.shape[i];
  }
  const int64_t fd_shape[4] = {k.kh, k.kw, C, M}, fc_shape[4] = {k.kh, k.kw, C, O};
  std::vector<std::vector<T>> first;
  for (int threads : {1, 2, 3}) {
    sepcpp::set_num_threads(threads);
    Act<T> dwx(k.n, k.h, k.w, C), cx(k.n, k.h, k.w, C), sx(k.n, k.h, k.w, C);
    std::vector<T> dwf(fd.size(), nan), cf(fc.size(), nan), sdf(fd.size(), nan), spf(fp.size(), nan), sbd(CM, nan),
        sb(O, nan);
    for (auto* v : {&dwx.v, &cx.v, &sx.v}) std::fill(v->begin(), v->end(), nan);
    sepcpp::depthwise_conv2d_backprop_input<T>(in_shape, cdense(fd, {k.kh, k.kw, C, M}), dyd.cview(layout),
                                               dwx.mview(layout), prm);
    sepcpp::depthwise_conv2d_backprop_filter<T>(x.cview(layout), fd_shape, dyd.cview(layout),
                                                dense(dwf, {k.kh, k.kw, C, M}), prm);
    sepcpp::conv2d_backprop_input<T>(in_shape, cdense(fc, {k.kh, k.kw, C, O}), dyc.cview(layout), cx.mview(layout),
                                     prm);
    sepcpp::conv2d_backprop_filter<T>(x.cview(layout), fc_shape, dyc.cview(layout), dense(cf, {k.kh, k.kw, C, O}), prm);
    sepcpp::SeparableGradients<T> sg;
    sg.input = sx.mview(layout);
    sg.depthwise_filter = dense(sdf, {k.kh, k.kw, C, M});
    sg.pointwise_filter = dense(spf, {1, 1, kg, O});
    if (k.dw_bias) sg.depthwise_bias = dense(sbd, {CM});
    if (k.bias) sg.bias = dense(sb, {O});
    Tensor<const T> no;
    sepcpp::separable_conv2d_backprop<T>(x.cview(layout), cdense(fd, {k.kh, k.kw, C, M}), cdense(fp, {1, 1, kg, O}),
                                         k.dw_bias ? cdense(bd, {CM}) : no, k.bias ? cdense(b, {O}) : no,
                                         dyc.cview(layout), sg, prm);
    // Gradients asked for one at a time give the same bits: the input's alone (no pointwise
    // product), and the pointwise filter's alone into a strided [1, 1, kg, O] result (the
    // transpose of a dense [O, kg]: summed in a buffer, then copied out).
    {
      Act<T> sx_only(k.n, k.h, k.w, C);
      std::fill(sx_only.v.begin(), sx_only.v.end(), nan);
      sepcpp::SeparableGradients<T> only;
      only.input = sx_only.mview(layout);
      sepcpp::separable_conv2d_backprop<T>(x.cview(layout), cdense(fd, {k.kh, k.kw, C, M}),
                                           cdense(fp, {1, 1, kg, O}), k.dw_bias ? cdense(bd, {CM}) : no,
                                           k.bias ? cdense(b, {O}) : no, dyc.cview(layout), only, prm);
      check(same_bits(sx_only.v, sx.v), name + ": the input gradient alone differs");
      std::vector<T> spf_t(fp.size(), nan);
      sepcpp::SeparableGradients<T> pw_only;
      pw_only.pointwise_filter = dense(spf_t, {1, 1, kg, O});
      pw_only.pointwise_filter.strides[2] = 1;
      pw_only.pointwise_filter.strides[3] = kg;
      sepcpp::separable_conv2d_backprop<T>(x.cview(layout), cdense(fd, {k.kh, k.kw, C, M}),
                                           cdense(fp, {1, 1, kg, O}), k.dw_bias ? cdense(bd, {CM}) : no,
                                           k.bias ? cdense(b, {O}) : no, dyc.cview(layout), pw_only, prm);
      std::vector<T> back(fp.size());
      for (int64_t j = 0; j < kg; ++j)
        for (int64_t o = 0; o < O; ++o) back[j * O + o] = spf_t[o * kg + j];
      check(same_bits(back, spf), name + ": the pointwise filter gradient alone, strided, differs");
    }
    std::vector<std::vector<T>> all = {dwx.v, dwf, cx.v, cf, sx.v, sdf, spf};
    if (k.dw_bias) all.push_back(sbd);
    if (k.bias) all.push_back(sb);
    if (threads == 1) {
      const std::string t = name + (layout == Layout::kNHWC ? " NHWC " : " NCHW ") + (sizeof(T) == 4 ? "f32" : "f64");
      expect_close(dwx.v, r_dwx, t + " depthwise input");
      expect_close(dwf, r_dwf, t + " depthwise filter");
      expect_close(cx.v, r_cx, t + " conv2d input");
      expect_close(cf, r_cf, t + " conv2d filter");
      expect_close(sx.v, r_sx, t + " separable input");
      expect_close(sdf, r_sdf, t + " separable depthwise filter");
      expect_close(spf, r_spf, t + " separable pointwise filter");
      if (k.dw_bias) expect_close(sbd, r_sbd, t + " separable depthwise bias");
      if (k.bias) expect_close(sb, r_sb, t + " separable bias");
      first = all;
    } else {
      for (size_t i = 0; i < all.size(); ++i)
        check(same_bits(first[i], all[i]), name + ": result " + std::to_string(i) + " differs between 1 and " +
                                               std::to_string(threads) + " threads");
    }
  }
  sepcpp::set_num_threads(0);
}

void test_errors() {
  std::vector<float> f(3 * 3 * 3 * 2, 1.f), dy(1 * 5 * 5 * 6, 1.f), dx(75);
  const int64_t in_shape[4] = {1, 5, 5, 3};
  ConvParams p;
  p.padding = Padding::kSame;
  auto expect_throw = [&](const std::function<void()>& fn, const std::string& words, const std::string& what) {
    try {
      fn();
      check(false, what + ": no exception");
    } catch (const std::invalid_argument& e) {
      check(std::string(e.what()).find(words) != std::string::npos, what + ": message '" + e.what() + "'");
    }
  };
  Act<float> gx(1, 5, 5, 3);
  expect_throw(
      [&] {
        sepcpp::depthwise_conv2d_backprop_input<float>(in_shape, cdense(f, {3, 3, 3, 2}), cdense(dy, {1, 5, 5, 6}),
                                                       dense(dx, {1, 5, 5, 2}), p);
      },
      "the input gradient", "wrong input gradient shape");
  expect_throw(
      [&] {
        sepcpp::depthwise_conv2d_backprop_input<float>(in_shape, cdense(f, {3, 3, 3, 2}), cdense(dy, {1, 5, 6, 5}),
                                                       gx.mview(Layout::kNHWC), p);
      },
      "out_backprop must have shape (1, 5, 5, 6)", "wrong out_backprop shape");
  const int64_t neg[4] = {1, -5, 5, 3};
  expect_throw(
      [&] {
        sepcpp::conv2d_backprop_input<float>(neg, cdense(f, {3, 3, 3, 2}), cdense(dy, {1, 5, 5, 6}),
                                             gx.mview(Layout::kNHWC), p);
      },
      "input_sizes", "negative input_sizes");
}

bool isa_listed(const std::string& list, const std::string& isa) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (item == isa) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s scalar|avx2|avx512\n", argv[0]);
    return 2;
  }
  const std::string isa = argv[1];
  if (!isa_listed(sepcpp::isas_available(), isa)) {
    std::printf("SKIP isa %s not available on this CPU (available: %s; compiled: %s)\n", isa.c_str(),
                sepcpp::isas_available().c_str(), sepcpp::isas_compiled().c_str());
    return 77;
  }
  sepcpp::set_isa(isa);
  // clang-format off
  const std::vector<Case> cases = {
      // n  h  w  c kh kw sh sw dh dw  pad               pt pb pl pr  m  o  g  dw_act             act                dwb   b
      {2, 7, 6, 3, 3, 3, 1, 1, 1, 1, Padding::kSame, 0, 0, 0, 0, 1, 4, 1, Activation::kNone, Activation::kNone, false, false},
      {1, 9, 8, 5, 3, 2, 2, 2, 1, 1, Padding::kValid, 0, 0, 0, 0, 2, 6, 2, Activation::kRelu, Activation::kRelu6, true, true},
      {2, 8, 9, 3, 3, 3, 2, 3, 2, 1, Padding::kSame, 0, 0, 0, 0, 2, 3, 1, Activation::kRelu6, Activation::kRelu, true, false},
      {1, 7, 7, 17, 2, 3, 1, 1, 2, 2, Padding::kExplicit, 1, 0, 2, 3, 1, 9, 1, Activation::kNone, Activation::kRelu, false, true},
      {2, 5, 11, 4, 1, 1, 2, 2, 1, 1, Padding::kSame, 0, 0, 0, 0, 3, 6, 3, Activation::kRelu, Activation::kNone, true, true},
      {1, 1, 40, 8, 1, 5, 1, 1, 1, 3, Padding::kExplicit, 0, 0, 12, 0, 1, 8, 4, Activation::kNone, Activation::kNone, false, true},
      // More than 1024 output pixels per image: the separable gradient's units are bands of rows
      // (or, past 512 columns, of columns) with halos; stride and dilation across band edges.
      {1, 70, 33, 3, 3, 3, 1, 1, 1, 1, Padding::kSame, 0, 0, 0, 0, 2, 4, 2, Activation::kRelu, Activation::kRelu6, true, true},
      {2, 141, 50, 2, 3, 2, 2, 2, 2, 3, Padding::kSame, 0, 0, 0, 0, 1, 3, 1, Activation::kRelu6, Activation::kNone, false, true},
      {1, 1, 1500, 3, 1, 5, 1, 1, 1, 3, Padding::kExplicit, 0, 0, 12, 0, 2, 4, 1, Activation::kNone, Activation::kRelu, true, false},
      {1, 3, 1100, 2, 3, 4, 1, 3, 1, 2, Padding::kExplicit, 2, 1, 3, 5, 1, 2, 1, Activation::kRelu, Activation::kRelu, true, true},
      // Multiplier 1 (the gather and reduce kernels): channel counts that leave tails after blocks
      // of 2 vectors and of 1 (16-lane AVX-512, 8-lane AVX2), runs of 4 pixels and their remainders,
      // a stride with a dilation (residue classes of input columns), a kernel wider than the
      // input, and padding wider than the kernel's reach.
      {2, 9, 13, 33, 3, 3, 1, 1, 1, 1, Padding::kSame, 0, 0, 0, 0, 1, 5, 1, Activation::kNone, Activation::kNone, false, false},
      {1, 11, 17, 40, 5, 3, 3, 2, 1, 2, Padding::kExplicit, 2, 3, 4, 1, 1, 8, 2, Activation::kRelu, Activation::kNone, true, false},
      {1, 4, 5, 19, 5, 7, 1, 1, 1, 1, Padding::kSame, 0, 0, 0, 0, 1, 3, 1, Activation::kNone, Activation::kRelu6, false, true},
      {1, 6, 30, 24, 1, 3, 1, 4, 1, 5, Padding::kExplicit, 0, 0, 7, 12, 1, 4, 1, Activation::kNone, Activation::kNone, false, false},
      // Enough pixels for several reduction parts and threads.
      {3, 20, 19, 16, 3, 3, 1, 1, 1, 1, Padding::kSame, 0, 0, 0, 0, 2, 24, 2, Activation::kRelu6, Activation::kRelu, true, true},
      // Outputs per group a multiple of 16 within two panels: the pointwise filter's gradient reads
      // dZ in place (out_backprop's rows; gathered under an output activation); 64 outputs are
      // packed on AVX2 (four 16-column panels) and read in place on AVX-512.
      {2, 12, 11, 8, 3, 3, 1, 1, 1, 1, Padding::kSame, 0, 0, 0, 0, 1, 64, 1, Activation::kNone, Activation::kNone, false, true},
      {1, 9, 10, 6, 3, 3, 1, 1, 1, 1, Padding::kSame, 0, 0, 0, 0, 2, 48, 3, Activation::kRelu, Activation::kRelu6, true, false},
  };
  // clang-format on
  std::mt19937 rng(12345);
  for (size_t i = 0; i < cases.size(); ++i)
    for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
      const std::string name = isa + " case " + std::to_string(i);
      test_case<float>(cases[i], layout, name, rng);
      test_case<double>(cases[i], layout, name, rng);
    }
  test_errors();
  std::printf("isa %s: %d checks, %d failures\n", isa.c_str(), g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
