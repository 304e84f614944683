// ctest: the bfloat16 ops on one ISA level against a double-precision reference.
//
//   test_bf16 <isa>      isa: scalar | avx2 | avx512 | avx512_bf16 | amx_bf16
//
// Exit status: 0 all passed, 1 a failure, 77 the ISA is not usable on this CPU (ctest: skipped).
//
// The reference computes in double from the bfloat16 values (exact), rounding where sepcpp rounds:
// the depthwise result of a separable op (to bfloat16, as TensorFlow does between its two ops). The
// bound follows from bfloat16's 8 significant bits: a result is within half an ulp, 2^-8 of its
// magnitude, of the exact value; a separable result also carries the intermediate's rounding (the
// reference's and sepcpp's intermediates are each within 2^-8 of the exact one: 2^-7 of
// sum |mid * w| between them); float32 accumulation adds 2^-24 per term at most (2^-16 covers
// thousands of terms). Outputs are prefilled with NaN, so an unwritten one fails. Shapes cover
// channel tails below and above the vector widths, odd k (a VDPBF16PS pair with one row), k above
// 2048 (the AMX kernel's k-blocks), rows over several row blocks, NCHW, strides and fused epilogues;
// each case runs at 1 and 2 threads, which must give the same bits.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sepcpp/ops.hpp"

namespace {

using sepcpp::bfloat16;
using sepcpp::ConvParams;
using sepcpp::Layout;
using sepcpp::OpKind;
using sepcpp::Tensor;

struct Case {
  OpKind op;
  int64_t n, h, w, c, kh, kw, m, o, stride;
  sepcpp::Padding padding;
  bool bias;
  sepcpp::Activation act;
  Layout layout;
};

int g_failures = 0, g_checks = 0;

double clamp_act(double v, sepcpp::Activation a) {
  if (a == sepcpp::Activation::kRelu) return v < 0 ? 0 : v;
  if (a == sepcpp::Activation::kRelu6) return v < 0 ? 0 : v > 6 ? 6 : v;
  return v;
}

double round_bf16(double v) { return static_cast<float>(bfloat16(static_cast<float>(v))); }

std::vector<bfloat16> random_bf16(size_t n, double scale, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<bfloat16> v(n);
  for (auto& x : v) x = bfloat16(static_cast<float>(d(rng) * scale));
  return v;
}

void run(const Case& k, int index) {
  std::mt19937 rng(1234 + index);
  const int64_t C = k.c, M = k.m, CM = C * M;
  const int64_t O = k.op == OpKind::kDepthwise ? CM : k.o;
  ConvParams p;
  p.stride_h = p.stride_w = k.stride;
  p.padding = k.padding;
  p.activation = k.act;
  p.layout = k.layout;
  // Input in NHWC order; NCHW is given as a transposed copy.
  std::vector<bfloat16> x = random_bf16(static_cast<size_t>(k.n * k.h * k.w * C), 1.0, rng);
  int64_t fshape[4], f2shape[4] = {1, 1, CM, O};
  std::vector<bfloat16> f, f2, b1, b2;
  switch (k.op) {
    case OpKind::kDepthwise:
    case OpKind::kSeparable:
      fshape[0] = k.kh, fshape[1] = k.kw, fshape[2] = C, fshape[3] = M;
      f = random_bf16(static_cast<size_t>(k.kh * k.kw * C * M), 1.0 / std::sqrt(double(k.kh * k.kw)), rng);
      break;
    case OpKind::kPointwise:
      fshape[0] = fshape[1] = 1, fshape[2] = C, fshape[3] = O;
      f = random_bf16(static_cast<size_t>(C * O), 1.0 / std::sqrt(double(C)), rng);
      break;
    case OpKind::kConv:
      fshape[0] = k.kh, fshape[1] = k.kw, fshape[2] = C, fshape[3] = O;
      f = random_bf16(static_cast<size_t>(k.kh * k.kw * C * O), 1.0 / std::sqrt(double(k.kh * k.kw * C)), rng);
      break;
  }
  if (k.op == OpKind::kSeparable) f2 = random_bf16(static_cast<size_t>(CM * O), 1.0 / std::sqrt(double(CM)), rng);
  if (k.bias) {
    b1 = random_bf16(static_cast<size_t>(k.op == OpKind::kSeparable ? CM : O), 0.5, rng);
    if (k.op == OpKind::kSeparable) b2 = random_bf16(static_cast<size_t>(O), 0.5, rng);
  }
  const int64_t nhwc[4] = {k.n, k.h, k.w, C}, nchw[4] = {k.n, C, k.h, k.w};
  std::vector<bfloat16> xin = x;
  if (k.layout == Layout::kNCHW)
    for (int64_t a = 0; a < k.n; ++a)
      for (int64_t y = 0; y < k.h; ++y)
        for (int64_t z = 0; z < k.w; ++z)
          for (int64_t ch = 0; ch < C; ++ch)
            xin[((a * C + ch) * k.h + y) * k.w + z] = x[((a * k.h + y) * k.w + z) * C + ch];
  const Tensor<const bfloat16> in =
      sepcpp::make_tensor<const bfloat16>(xin.data(), 4, k.layout == Layout::kNCHW ? nchw : nhwc);
  const Tensor<const bfloat16> fil = sepcpp::make_tensor<const bfloat16>(f.data(), 4, fshape);
  const Tensor<const bfloat16> fil2 =
      f2.empty() ? Tensor<const bfloat16>() : sepcpp::make_tensor<const bfloat16>(f2.data(), 4, f2shape);
  const int64_t l1 = static_cast<int64_t>(b1.size()), l2 = static_cast<int64_t>(b2.size());
  const Tensor<const bfloat16> bias1 = b1.empty() ? Tensor<const bfloat16>() : sepcpp::make_tensor<const bfloat16>(b1.data(), 1, &l1);
  const Tensor<const bfloat16> bias2 = b2.empty() ? Tensor<const bfloat16>() : sepcpp::make_tensor<const bfloat16>(b2.data(), 1, &l2);
  const sepcpp::ConvGeometry g =
      sepcpp::conv_geometry(k.op, in.shape, fshape, 4, k.op == OpKind::kSeparable ? f2shape : nullptr,
                            k.op == OpKind::kSeparable ? 4 : 0, p);
  int64_t oshape[4];
  sepcpp::output_shape(g, k.layout, oshape);
  const size_t osize = static_cast<size_t>(oshape[0] * oshape[1] * oshape[2] * oshape[3]);
  std::vector<bfloat16> out[2];
  for (int t = 0; t < 2; ++t) {
    out[t].assign(osize, bfloat16::from_bits(0x7fc1));  // NaN: an unwritten output fails
    sepcpp::set_num_threads(t + 1);
    const Tensor<bfloat16> o = sepcpp::make_tensor<bfloat16>(out[t].data(), 4, oshape);
    switch (k.op) {
      case OpKind::kDepthwise: sepcpp::depthwise_conv2d(in, fil, bias1, o, p); break;
      case OpKind::kPointwise: sepcpp::pointwise_conv2d(in, fil, bias1, o, p); break;
      case OpKind::kSeparable: sepcpp::separable_conv2d(in, fil, fil2, bias1, bias2, o, p); break;
      case OpKind::kConv: sepcpp::conv2d(in, fil, bias1, o, p); break;
    }
  }
  sepcpp::set_num_threads(0);
  const std::string what = std::string(sepcpp::op_name(k.op)) + " case " + std::to_string(index);
  ++g_checks;
  if (std::memcmp(out[0].data(), out[1].data(), osize * sizeof(bfloat16)) != 0) {
    std::printf("FAIL %s: 1 and 2 threads differ\n", what.c_str());
    ++g_failures;
  }
  // The reference, NHWC, per output pixel.
  const int64_t OH = g.h.out, OW = g.w.out;
  int64_t bad = 0;
  std::vector<double> mid(static_cast<size_t>(CM)), mid_abs(static_cast<size_t>(CM));
  for (int64_t a = 0; a < k.n; ++a)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox) {
        auto X = [&](int64_t y, int64_t z, int64_t ch) -> double {
          if (y < 0 || y >= k.h || z < 0 || z >= k.w) return 0.0;
          return static_cast<float>(x[((a * k.h + y) * k.w + z) * C + ch]);
        };
        const int64_t y0 = oy * g.h.stride - g.h.pad_before, z0 = ox * g.w.stride - g.w.pad_before;
        std::vector<double> ref(static_cast<size_t>(O)), terms(static_cast<size_t>(O)), sep(static_cast<size_t>(O), 0.0);
        if (k.op == OpKind::kDepthwise || k.op == OpKind::kSeparable) {
          for (int64_t ch = 0; ch < C; ++ch)
            for (int64_t mm = 0; mm < M; ++mm) {
              double s = 0, sa = 0;
              for (int64_t ky = 0; ky < k.kh; ++ky)
                for (int64_t kx = 0; kx < k.kw; ++kx) {
                  const double pr = X(y0 + ky, z0 + kx, ch) * static_cast<float>(f[((ky * k.kw + kx) * C + ch) * M + mm]);
                  s += pr, sa += std::fabs(pr);
                }
              const int64_t j = ch * M + mm;
              if (k.op == OpKind::kSeparable && !b1.empty()) s += static_cast<float>(b1[j]), sa += std::fabs(static_cast<float>(b1[j]));
              mid[j] = s, mid_abs[j] = sa;
            }
        }
        if (k.op == OpKind::kDepthwise) {
          for (int64_t j = 0; j < O; ++j) {
            ref[j] = mid[j] + (b1.empty() ? 0.0 : static_cast<float>(b1[j]));
            terms[j] = mid_abs[j] + (b1.empty() ? 0.0 : std::fabs(static_cast<float>(b1[j])));
          }
        } else if (k.op == OpKind::kSeparable) {
          for (int64_t j = 0; j < O; ++j) {
            double s = b2.empty() ? 0.0 : static_cast<float>(b2[j]), sa = std::fabs(s), sm = 0;
            for (int64_t i = 0; i < CM; ++i) {
              const double w2 = static_cast<float>(f2[i * O + j]);
              const double mv = round_bf16(mid[i]);  // the intermediate as sepcpp and TensorFlow round it
              s += mv * w2, sa += std::fabs(mv * w2) + mid_abs[i] * std::fabs(w2), sm += std::fabs(mv * w2);
            }
            ref[j] = s, terms[j] = sa, sep[j] = sm;
          }
        } else {
          const int64_t KH = k.op == OpKind::kPointwise ? 1 : k.kh, KW = k.op == OpKind::kPointwise ? 1 : k.kw;
          for (int64_t j = 0; j < O; ++j) {
            double s = b1.empty() ? 0.0 : static_cast<float>(b1[j]), sa = std::fabs(s);
            for (int64_t ky = 0; ky < KH; ++ky)
              for (int64_t kx = 0; kx < KW; ++kx)
                for (int64_t ch = 0; ch < C; ++ch) {
                  const double pr = X(y0 + ky, z0 + kx, ch) * static_cast<float>(f[((ky * KW + kx) * C + ch) * O + j]);
                  s += pr, sa += std::fabs(pr);
                }
            ref[j] = s, terms[j] = sa;
          }
        }
        for (int64_t j = 0; j < O; ++j) {
          const double want = clamp_act(ref[j], k.act);
          const int64_t idx = k.layout == Layout::kNCHW ? ((a * O + j) * OH + oy) * OW + ox
                                                        : ((a * OH + oy) * OW + ox) * O + j;
          const double got = static_cast<float>(out[0][static_cast<size_t>(idx)]);
          const double tol = std::ldexp(std::fabs(want), -8) + std::ldexp(sep[j], -7) + std::ldexp(terms[j], -16);
          if (!(std::fabs(got - want) <= tol)) {
            if (bad++ == 0)
              std::printf("FAIL %s: output (%lld, %lld, %lld, %lld) = %.9g, want %.9g (tolerance %.3g)\n",
                          what.c_str(), static_cast<long long>(a), static_cast<long long>(oy),
                          static_cast<long long>(ox), static_cast<long long>(j), got, want, tol);
          }
        }
      }
  if (bad) {
    ++g_failures;
    std::printf("     %lld of %zu outputs wrong\n", static_cast<long long>(bad), osize);
  }
}

bool isa_listed(const std::string& list, const std::string& isa) {
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = list.find(',', start);
    if (list.substr(start, end == std::string::npos ? std::string::npos : end - start) == isa) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <isa>\n", argv[0]);
    return 2;
  }
  const std::string isa = argv[1];
  if (!isa_listed(sepcpp::isas_available(), isa)) {
    std::printf("SKIP isa %s not available on this CPU (available: %s)\n", isa.c_str(),
                sepcpp::isas_available().c_str());
    return 77;
  }
  sepcpp::set_isa(isa);
  using A = sepcpp::Activation;
  using P = sepcpp::Padding;
  const Case cases[] = {
      {OpKind::kDepthwise, 2, 9, 11, 19, 3, 3, 1, 0, 1, P::kSame, true, A::kRelu6, Layout::kNHWC},
      {OpKind::kDepthwise, 1, 13, 12, 35, 5, 5, 2, 0, 2, P::kValid, false, A::kNone, Layout::kNCHW},
      {OpKind::kPointwise, 2, 5, 7, 69, 1, 1, 1, 33, 1, P::kValid, true, A::kRelu, Layout::kNHWC},
      {OpKind::kPointwise, 1, 30, 30, 300, 1, 1, 1, 70, 1, P::kValid, false, A::kNone, Layout::kNCHW},
      // k past 2048: amx_bf16 takes k in blocks with the partial sums stored between them
      {OpKind::kPointwise, 1, 5, 7, 2100, 1, 1, 1, 40, 1, P::kValid, true, A::kRelu6, Layout::kNHWC},
      {OpKind::kPointwise, 1, 9, 9, 2100, 1, 1, 1, 70, 1, P::kValid, false, A::kNone, Layout::kNHWC},
      // amx_bf16 copies a row block of A during the previous block's steps and rounds a block's C
      // during the next block's: 667 rows (calls of 224, 224 and 219 rows: a last block of 27), k
      // of 45 (a step of 13), a last panel of 17 columns (one in the second C tile); 49 rows (a block of 17), k of
      // 1000 (prefetched), 24 columns; 15 rows (one A tile), 16 columns (one C tile)
      {OpKind::kPointwise, 1, 23, 29, 45, 1, 1, 1, 49, 1, P::kValid, true, A::kRelu6, Layout::kNHWC},
      {OpKind::kPointwise, 1, 7, 7, 1000, 1, 1, 1, 24, 1, P::kValid, true, A::kRelu, Layout::kNHWC},
      {OpKind::kPointwise, 1, 3, 5, 64, 1, 1, 1, 16, 1, P::kValid, false, A::kNone, Layout::kNHWC},
      {OpKind::kSeparable, 2, 9, 11, 23, 3, 3, 1, 70, 1, P::kSame, true, A::kRelu6, Layout::kNHWC},
      {OpKind::kSeparable, 1, 14, 13, 16, 3, 3, 2, 40, 2, P::kSame, false, A::kNone, Layout::kNCHW},
      {OpKind::kSeparable, 1, 7, 7, 520, 3, 3, 1, 65, 1, P::kSame, true, A::kNone, Layout::kNHWC},
      {OpKind::kConv, 2, 10, 9, 5, 3, 3, 1, 20, 2, P::kSame, true, A::kNone, Layout::kNHWC},
      {OpKind::kConv, 1, 11, 11, 33, 3, 3, 1, 48, 1, P::kValid, false, A::kRelu, Layout::kNCHW},
  };
  int index = 0;
  for (const Case& c : cases) run(c, index++);
  std::printf("isa %s: %d bfloat16 cases, %d failures\n", isa.c_str(), g_checks, g_failures);
  return g_failures ? 1 : 0;
}
