// The depthwise row step shared by depthwise_conv2d, the fused separable_conv2d and the backprop
// ops: the weights rearranged per multiplier (DepthwiseWeights), the taps inside the input
// (valid_range, interior_columns, build_indirection, which conv2d uses too), the rule for padded
// taps under a non-finite weight, and depthwise_pixels, which runs row segments through the
// depthwise microkernels.
#pragma once

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../kernels/kernels.hpp"
#include "memory.hpp"
#include "sepcpp/ops.hpp"
#include "tensor_view.hpp"

namespace sepcpp {
namespace detail {

// True when some element of w[0..n) is an infinity or a NaN: all exponent bits set. (On the bits,
// which the compiler vectorizes; a loop of std::isfinite ran a scalar compare per element, more
// than half of a functional pointwise call's time with a 1024 x 1024 filter.)
template <class T>
bool any_nonfinite(const T* w, int64_t n) {
  static_assert(sizeof(T) == 2 || sizeof(T) == 4 || sizeof(T) == 8, "bfloat16, float or double");
  using U = std::conditional_t<sizeof(T) == 2, uint16_t, std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>>;
  constexpr U exponent = sizeof(T) == 2   ? U(0x7f80)
                         : sizeof(T) == 4 ? U(0x7f800000u)
                                          : U(0x7ff0000000000000ull);
  U bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    U u;
    std::memcpy(&u, w + i, sizeof u);
    bad |= static_cast<U>((u & exponent) == exponent);
  }
  return bad != 0;
}

// Depthwise weights rearranged per multiplier: w[m][tap][c], bias[m][c]. With `borrow` (a
// one-off functional call), M == 1 and dense memory, the caller's arrays are used as they are.
// `nonfinite` (an infinity or NaN among the weights, found once here) may select the exact edge
// path of depthwise_pixels (leave_out_padded_taps).
template <class T>
struct DepthwiseWeights {
  AlignedVector<T> w_storage;
  std::vector<T> b_storage;
  const T* w = nullptr;
  const T* b = nullptr;
  int64_t taps = 0, c = 0, m = 0;
  bool nonfinite = false;
  DepthwiseWeights() = default;
  DepthwiseWeights(const Tensor<const T>& filter, const Tensor<const T>& bias, bool borrow) {
    const int64_t kh = filter.shape[0], kw = filter.shape[1];
    c = filter.shape[2], m = filter.shape[3];
    taps = kh * kw;
    const bool dense = filter.strides[3] == 1 && filter.strides[2] == m &&
                       filter.strides[1] == c * m && filter.strides[0] == kw * c * m;
    if (borrow && m == 1 && dense) {
      w = filter.data;
    } else {
      w_storage = make_aligned_buffer<T>("the depthwise filter", m * taps * c);
      for (int64_t mm = 0; mm < m; ++mm)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            for (int64_t cc = 0; cc < c; ++cc)
              w_storage[((mm * taps) + y * kw + x) * c + cc] = at4(filter, y, x, cc, mm);
      w = w_storage.data();
    }
    nonfinite = any_nonfinite(w, m * taps * c);
    if (bias.data) {
      if (borrow && m == 1 && bias.strides[0] == 1) {
        b = bias.data;
      } else {
        b_storage.resize(static_cast<size_t>(m * c));
        for (int64_t mm = 0; mm < m; ++mm)
          for (int64_t cc = 0; cc < c; ++cc) b_storage[mm * c + cc] = at1(bias, cc * m + mm);
        b = b_storage.data();
      }
    }
  }
  // Moving a vector keeps its buffer, so w/b stay valid; copying would not: forbid it.
  DepthwiseWeights(DepthwiseWeights&&) = default;
  DepthwiseWeights& operator=(DepthwiseWeights&&) = default;
  DepthwiseWeights(const DepthwiseWeights&) = delete;
  DepthwiseWeights& operator=(const DepthwiseWeights&) = delete;
};

// Pointers to the input pixels under each tap of output pixels (n, oh, ow0 .. ow0+count-1), in
// tap order (kh major), a zero row standing in for padding. rows: input_rows() of those pixels.
template <class T>
void build_indirection(const ConvGeometry& g, const RowSet<T>& rows, const T* zero, int64_t ow0, int64_t count,
                       const T** ind) {
  const int64_t W = g.w.in;
  for (int64_t p = 0; p < count; ++p) {
    const int64_t ow = ow0 + p;
    for (int64_t ky = 0; ky < g.h.kernel; ++ky) {
      const bool row = rows.ptr[ky] != nullptr;
      for (int64_t kx = 0; kx < g.w.kernel; ++kx) {
        const int64_t iw = ow * g.w.stride - g.w.pad_before + kx * g.w.dilation;
        *ind++ = (row && iw >= 0 && iw < W) ? rows.at(ky, iw) : zero;
      }
    }
  }
}

// The taps of output pixel (oh, ow) that lie inside the input: kernel rows [*ky0, *ky1) and
// columns [*kx0, *kx1) (at dilation 1 along an axis they are a range; at any dilation the first
// and one-past-last in-range taps, those between being in range too).
inline void valid_range(const AxisGeometry& a, int64_t o, int64_t* k0, int64_t* k1) {
  const int64_t first = o * a.stride - a.pad_before;  // input index of tap 0
  int64_t lo = 0, hi = a.kernel;
  while (lo < hi && first + lo * a.dilation < 0) ++lo;
  while (hi > lo && first + (hi - 1) * a.dilation >= a.in) --hi;
  *k0 = lo, *k1 = hi;
}

// Elements of the zero buffer depthwise_pixels needs: one channel vector for a padded tap; and,
// when a whole kernel row can fall in the vertical padding and the row-sliding kernel runs (stride
// 1, dilation 1), a whole padded input row (a run plus the kernel). Without vertical padding no
// kernel row is ever out of the input, so a 1-D layer does not zero a row per call.
inline int64_t zero_length(const ConvGeometry& g) {
  const bool padded_rows = g.h.pad_before > 0 || g.h.pad_after > 0;
  const bool sliding = g.w.stride == 1 && g.w.dilation == 1;
  return padded_rows && sliding ? g.in_channels * (g.w.out + g.w.kernel) : g.in_channels;
}

// Per-thread scratch of the depthwise step.
template <class T>
struct DwScratch {
  std::vector<const T*> rows;  // per kernel row, for the row-sliding kernel
  AlignedVector<T> padded;     // zero-padded copies of the input under an edge run
  std::vector<const T*> base;
  std::vector<ptrdiff_t> step;
  AlignedVector<T> tmp;  // [M][pixels][C], only for M > 1
  RowCache<T> cache;   // input rows, when the input is not read in place
  // Narrow rows (the ring of depthwise_pixels): KH whole input rows, zero-padded on both sides, each held for
  // the output rows that read it; ring_key is n*H + ih per slot (-1: none).
  AlignedArray<T> ring;
  int64_t ring_size = 0;
  std::vector<int64_t> ring_key;
  std::vector<char> ring_used;
  // Exact path: the weights with the taps outside the input zeroed, for the valid tap rectangle
  // `masked_for` (ky0, ky1, kx0, kx1) they were last made for.
  AlignedVector<T> masked;
  int64_t masked_for[4] = {-1, -1, -1, -1};
};

// Output columns [lo, hi) whose every tap lies inside the input row (no horizontal padding).
inline void interior_columns(const ConvGeometry& g, int64_t* lo, int64_t* hi) {
  const AxisGeometry& a = g.w;
  *lo = std::min(a.out, (a.pad_before + a.stride - 1) / a.stride);
  const int64_t last = a.in - 1 + a.pad_before - (a.kernel - 1) * a.dilation;  // ow*s <= last
  *hi = last < 0 ? 0 : std::min(a.out, last / a.stride + 1);
  if (*hi < *lo) *hi = *lo;
}

// out[q * out_stride + c * M + m] = planes[(m * pixels + q) * C + c]: the depthwise result of a
// depth multiplier M, computed plane by plane, into sepcpp's channel order c*M + m. Written in
// order (one plane at a time, every M-th element, ran at a quarter to a third of a multiplier-2
// layer's time); M = 2 in float or double pairs the two planes with SSE2 unpacks.
template <class T>
void interleave_planes(const T* planes, int64_t M, int64_t pixels, int64_t C, T* out, int64_t out_stride) {
  for (int64_t q = 0; q < pixels; ++q) {
    T* o = out + q * out_stride;
    int64_t c = 0;
    const T* p0 = planes + q * C;
    const T* p1 = planes + (pixels + q) * C;  // (read only when M == 2)
#if defined(__SSE2__)
    if (M == 2) {
      if constexpr (std::is_same<T, float>::value) {
        for (; c + 4 <= C; c += 4) {
          const __m128 a = _mm_loadu_ps(p0 + c), b = _mm_loadu_ps(p1 + c);
          _mm_storeu_ps(o + 2 * c, _mm_unpacklo_ps(a, b));
          _mm_storeu_ps(o + 2 * c + 4, _mm_unpackhi_ps(a, b));
        }
      } else if constexpr (std::is_same<T, double>::value) {
        for (; c + 2 <= C; c += 2) {
          const __m128d a = _mm_loadu_pd(p0 + c), b = _mm_loadu_pd(p1 + c);
          _mm_storeu_pd(o + 2 * c, _mm_unpacklo_pd(a, b));
          _mm_storeu_pd(o + 2 * c + 2, _mm_unpackhi_pd(a, b));
        }
      }
    }
#endif
    for (; c < C && M == 2; ++c) o[2 * c] = p0[c], o[2 * c + 1] = p1[c];
    for (; c < C; ++c)
      for (int64_t m = 0; m < M; ++m) o[c * M + m] = planes[(m * pixels + q) * C + c];
  }
}

// Whether padded taps must be left out of the sum instead of multiplying the zero padding, which
// differs only when a weight is infinite or NaN (0 x Inf = NaN; a finite weight adds a zero, so
// finite filters keep the fast paths). sepcpp follows TensorFlow (2.21, CPU, default build) per op
// and dtype: its float32 kernels (oneDNN) leave padded taps out, except depthwise_conv2d and
// separable_conv2d at a dilation above 1, which pad the input with zeros (space_to_batch) and
// multiply them; its float64 kernels (Eigen) multiply the padding in every op; its bfloat16 kernels
// leave padded taps out in the depthwise step at dilation 1 only (conv2d, hence pointwise, multiplies
// the padding).
template <class T>
bool leave_out_padded_taps(bool nonfinite, bool depthwise_step, const ConvGeometry& g) {
  if (!nonfinite || std::is_same<T, double>::value) return false;
  const bool undilated = g.h.dilation == 1 && g.w.dilation == 1;
  if (std::is_same<T, bfloat16>::value) return depthwise_step && undilated;
  return !depthwise_step || undilated;
}

// Depthwise for the flat output pixels [p0, p0+count) (p = (n*OH + oh)*OW + ow), result in
// out[p - p0][C*M] (pixel stride C*M, channel order c*M + m). Each row segment is cut into edge
// runs (some tap in the horizontal padding) and one interior run. At stride 1 and dilation 1 every
// run goes through the row-sliding kernel (edge runs on zero-padded copies of their input);
// otherwise the interior run's taps advance by stride*C per pixel and edge pixels go one by one
// with padded taps on the zero row. No per-pixel pointer tables either way. Where padded taps are
// left out (leave_out_padded_taps) edge pixels go one by one and every pixel with a padded tap uses a
// copy of the weights whose padded taps are zero, so that a padded tap adds 0 x 0.
template <class T>
void depthwise_pixels(const ConvGeometry& g, const kernels::TypedKernels<T>& k, const InputRows<T>& in,
                      const T* zero, const DepthwiseWeights<T>& dw, const kernels::Activation<T>& act,
                      int64_t p0, int64_t count, T* out, DwScratch<T>& s) {
  const int64_t OW = g.w.out, OH = g.h.out, W = g.w.in;
  const int64_t C = g.in_channels, M = g.multiplier, CM = C * M;
  const int64_t KH = g.h.kernel, KW = g.w.kernel, taps = g.taps();
  int64_t lo, hi;
  interior_columns(g, &lo, &hi);
  s.base.resize(static_cast<size_t>(taps));
  s.step.resize(static_cast<size_t>(taps));
  s.rows.resize(static_cast<size_t>(KH));
  // At stride 1 and dilation 1 runs of pixels go through the row-sliding kernel; `zero` is long
  // enough (zero_length) to stand in for a whole padded input row there.
  const bool sliding = g.w.stride == 1 && g.w.dilation == 1 && k.dwconv_row != nullptr;
  const bool exact = leave_out_padded_taps<T>(dw.nonfinite, true, g);
  RowSet<T> in_rows{};  // input rows of the current output row segment (input_rows)
  auto fill_rows = [&](int64_t ow0) {
    for (int64_t ky = 0; ky < KH; ++ky) s.rows[ky] = in_rows.ptr[ky] ? in_rows.at(ky, ow0 - g.w.pad_before) : zero;
  };
  auto fill_taps = [&](int64_t ow0) {
    for (int64_t ky = 0; ky < KH; ++ky) {
      const bool row = in_rows.ptr[ky] != nullptr;
      for (int64_t kx = 0; kx < KW; ++kx) {
        const int64_t t = ky * KW + kx;
        const int64_t iw = ow0 * g.w.stride - g.w.pad_before + kx * g.w.dilation;
        if (row && iw >= 0 && iw < W) {
          s.base[t] = in_rows.at(ky, iw);
          // Advances only between output pixels of one row, so only when there are several; then
          // stride < W and stride * C cannot overflow (a stride of 2**63-1 on a 1-wide output can).
          s.step[t] = g.w.out > 1 ? g.w.stride * C : 0;
        } else {  // only for a single edge pixel or a padded row: the zero row, not advancing
          s.base[t] = zero;
          s.step[t] = 0;
        }
      }
    }
  };
  // For an edge run (some taps in the horizontal padding) at stride 1: copies of the input under
  // it, zero-padded, so that the row-sliding kernel runs there too (a causal 63-tap window has 62
  // edge pixels per row). The zeros are multiplied like the general kernel's zero row: same bits.
  auto fill_padded_rows = [&](int64_t ow0, int64_t cnt) {
    const int64_t span = cnt + KW - 1, first = ow0 - g.w.pad_before;
    s.padded.resize(static_cast<size_t>(KH * span * C));
    // Only what lies outside the input is zeroed: the copy covers the rest. (Zero bits are zero in
    // float, double and bfloat16: a memset, where a fill of bfloat16 values compiles to a loop of
    // 2-byte stores.)
    auto clear = [](T* p, int64_t n) { std::memset(static_cast<void*>(p), 0, static_cast<size_t>(n) * sizeof(T)); };
    const int64_t from = std::max<int64_t>(first, 0), to = std::max(from, std::min<int64_t>(first + span, W));
    for (int64_t ky = 0; ky < KH; ++ky) {
      T* dst = s.padded.data() + ky * span * C;
      s.rows[ky] = dst;
      if (!in_rows.ptr[ky] || to == from) {
        clear(dst, span * C);
        continue;
      }
      clear(dst, (from - first) * C);
      std::copy(in_rows.at(ky, from), in_rows.at(ky, from) + (to - from) * C, dst + (from - first) * C);
      clear(dst + (to - first) * C, (first + span - to) * C);
    }
  };
  // Narrow rows with horizontal padding (a 7x7 or 14x14 image; a 5x5 or 7x7 kernel on 28 or 56
  // columns): the edge runs' padded copies would be most of the row, made again for every output
  // row under each kernel row. Instead each input row is copied once into a zero-padded slot of a
  // ring (its padding zeroed once, when the ring is made) and the whole output row runs through the
  // row-sliding kernel. Chosen when that copies fewer pixels per output row (OW + KW - 1 against
  // KH times both edge runs' spans) and the ring stays within kRingBytes (a 63x63 window would make
  // it a gigabyte). Input read in place only (dense rows); the same zeros are multiplied as on the
  // edge copies: same bits.
  constexpr int64_t kRingBytes = int64_t(1) << 21;
  const int64_t PW = OW + KW - 1;  // a padded row, at horizontal stride 1 and dilation 1
  const int64_t edge_span = 2 * (static_cast<int64_t>(kernels::kDwRowEdgeTile) + KW - 1);
  const bool ring = sliding && !exact && in.direct && (g.w.pad_before > 0 || g.w.pad_after > 0) &&
                    PW < KH * edge_span && C > 0 &&
                    KH * PW <= kRingBytes / static_cast<int64_t>(sizeof(T)) / C;
  // A slot holds input columns [0, cols) at padded column pad_before; the rest of it is zero.
  const int64_t cols = std::min(W, PW - g.w.pad_before);
  if (ring && s.ring_size != KH * PW * C) {
    s.ring = make_raw_buffer<T>("the padded input rows", KH * PW * C);
    s.ring_size = KH * PW * C;
    s.ring_key.assign(static_cast<size_t>(KH), -1);
    for (int64_t j = 0; j < KH; ++j) {
      T* slot = s.ring.get() + j * PW * C;
      std::memset(static_cast<void*>(slot), 0, static_cast<size_t>(g.w.pad_before * C) * sizeof(T));
      std::memset(static_cast<void*>(slot + (g.w.pad_before + cols) * C), 0,
                  static_cast<size_t>((PW - g.w.pad_before - cols) * C) * sizeof(T));
    }
  }
  // Points s.rows at the padded rows under output row (n, oh), pixel ow0, copying the missing ones.
  auto fill_ring_rows = [&](int64_t n, int64_t oh, int64_t ow0) {
    const int64_t H = g.h.in;
    s.ring_used.assign(static_cast<size_t>(KH), 0);
    auto ih_of = [&](int64_t ky) { return oh * g.h.stride - g.h.pad_before + ky * g.h.dilation; };
    for (int64_t ky = 0; ky < KH; ++ky) {  // rows already held
      s.rows[ky] = nullptr;
      if (!in_rows.ptr[ky]) continue;
      for (int64_t j = 0; j < KH; ++j)
        if (!s.ring_used[j] && s.ring_key[j] == n * H + ih_of(ky)) {
          s.ring_used[j] = 1;
          s.rows[ky] = s.ring.get() + (j * PW + ow0) * C;
          break;
        }
    }
    int64_t j = 0;
    for (int64_t ky = 0; ky < KH; ++ky) {
      if (!in_rows.ptr[ky]) {
        s.rows[ky] = zero;  // a padded row: zero_length covers a whole padded row
        continue;
      }
      if (s.rows[ky]) continue;
      while (s.ring_used[j]) ++j;  // the rows under one output row are distinct: a slot is left
      s.ring_used[j] = 1;
      s.ring_key[j] = n * H + ih_of(ky);
      T* slot = s.ring.get() + j * PW * C;
      std::copy(in_rows.at(ky, 0), in_rows.at(ky, 0) + cols * C, slot + g.w.pad_before * C);
      s.rows[ky] = slot + ow0 * C;
    }
  };
  // The weights for pixels whose in-input taps are rows [ky0, ky1) x columns [kx0, kx1): dw.w
  // itself when that is the whole kernel, else a copy with the other taps zeroed.
  auto weights_for = [&](int64_t ky0, int64_t ky1, int64_t kx0, int64_t kx1) -> const T* {
    if (ky0 == 0 && ky1 == KH && kx0 == 0 && kx1 == KW) return dw.w;
    const int64_t key[4] = {ky0, ky1, kx0, kx1};
    if (!std::equal(key, key + 4, s.masked_for)) {
      s.masked.assign(static_cast<size_t>(M * taps * C), T(0));
      for (int64_t m = 0; m < M; ++m)
        for (int64_t ky = ky0; ky < ky1; ++ky)
          for (int64_t kx = kx0; kx < kx1; ++kx) {
            const int64_t off = (m * taps + ky * KW + kx) * C;
            std::copy(dw.w + off, dw.w + off + C, s.masked.data() + off);
          }
      std::copy(key, key + 4, s.masked_for);
    }
    return s.masked.data();
  };
  // Pixels [ow0, ow0+cnt) of the current output row into o, with weights w: the rows (slide) or
  // taps already described in s. Both kernels give the same bits.
  auto compute = [&](int64_t cnt, T* o, const T* w, bool slide) {
    auto pass = [&](const T* wm, const T* bm, T* dst, int64_t ostride) {
      if (slide) k.dwconv_row(C, cnt, KH, KW, s.rows.data(), wm, bm, dst, ostride, act);
      else k.dwconv(C, cnt, taps, s.base.data(), s.step.data(), wm, bm, dst, ostride, act);
    };
    if (M == 1) {
      pass(w, dw.b, o, CM);
      return;
    }
    s.tmp.resize(static_cast<size_t>(M * cnt * C));
    for (int64_t m = 0; m < M; ++m)
      pass(w + m * taps * C, dw.b ? dw.b + m * C : nullptr, s.tmp.data() + m * cnt * C, C);
    interleave_planes(s.tmp.data(), M, cnt, C, o, CM);
  };
  auto run = [&](int64_t ow0, int64_t cnt, T* o, bool edge, const T* w) {
    // (Without the sliding kernel, an edge run is a single pixel: fill_taps describes it exactly.)
    const bool slide = sliding && cnt > 1;
    if (slide && edge) fill_padded_rows(ow0, cnt);
    else if (slide) fill_rows(ow0);
    else fill_taps(ow0);
    compute(cnt, o, w, slide);
  };
  int64_t p = p0;
  while (p < p0 + count) {
    const int64_t ow = p % OW, row = p / OW, oh = row % OH, n = row / OH;
    const int64_t end = ow + std::min(OW - ow, p0 + count - p);
    T* o = out + (p - p0) * CM;
    in_rows = input_rows(in, g, n, oh, ow, end, s.cache);
    const int64_t a = std::min(std::max(ow, lo), end), b = std::max(std::min(end, hi), a);
    if (exact) {
      int64_t ky0, ky1, kx0, kx1;
      valid_range(g.h, oh, &ky0, &ky1);
      for (int64_t x = ow; x < end; x = x < a || x >= b ? x + 1 : b) {
        if (x >= a && x < b) {  // the interior run: only padded rows, if any, are left out
          run(a, b - a, o + (a - ow) * CM, false, weights_for(ky0, ky1, 0, KW));
          continue;
        }
        valid_range(g.w, x, &kx0, &kx1);
        run(x, 1, o + (x - ow) * CM, true, weights_for(ky0, ky1, kx0, kx1));
      }
      p += end - ow;
      continue;
    }
    if (ring) {
      fill_ring_rows(n, oh, ow);
      compute(end - ow, o, dw.w, true);
      p += end - ow;
      continue;
    }
    // Edge runs go whole through the row-sliding kernel where it applies, else pixel by pixel.
    // There they are widened into the interior to whole pixel tiles of the kernel (a 5x5 kernel's
    // 2 edge pixels would otherwise go one by one), the padded copy being the input there.
    int64_t ea = a, eb = b;
    if (sliding && b > a) {
      const int64_t tile = static_cast<int64_t>(kernels::kDwRowEdgeTile);
      if (a > ow) ea = std::min(b, ow + (a - ow + tile - 1) / tile * tile);
      if (end > b) eb = std::max(ea, end - (end - b + tile - 1) / tile * tile);
    }
    const int64_t edge_step = sliding ? OW : 1;
    for (int64_t x = ow; x < ea; x += edge_step) run(x, std::min(ea, x + edge_step) - x, o + (x - ow) * CM, true, dw.w);
    if (eb > ea) run(ea, eb - ea, o + (ea - ow) * CM, false, dw.w);
    for (int64_t x = eb; x < end; x += edge_step) run(x, std::min(end, x + edge_step) - x, o + (x - ow) * CM, true, dw.w);
    p += end - ow;
  }
}

}  // namespace detail
}  // namespace sepcpp
