// Views of the caller's memory in either layout: a 4-D view in NHWC order (View4), the input read
// as rows of dense NHWC pixels (InputRows, with the per-thread RowCache of a non-dense input), the
// output written in place or scattered (DenseOutput), and filter elements at any strides.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "memory.hpp"
#include "sepcpp/ops.hpp"

namespace sepcpp {
namespace detail {

// A 4-D view in canonical NHWC order over caller memory in either layout.
template <class T>
struct View4 {
  T* data;
  int64_t n, h, w, c;
  int64_t sn, sh, sw, sc;
  bool dense() const {
    // Dense NHWC: strides of dimensions of size 1 do not matter.
    return (c <= 1 || sc == 1) && (w <= 1 || sw == c) && (h <= 1 || sh == w * c) &&
           (n <= 1 || sn == h * w * c);
  }
  int64_t size() const { return n * h * w * c; }
};

template <class T>
View4<T> nhwc_view(const Tensor<T>& t, Layout layout) {
  View4<T> v;
  v.data = t.data;
  if (layout == Layout::kNHWC) {
    v.n = t.shape[0], v.h = t.shape[1], v.w = t.shape[2], v.c = t.shape[3];
    v.sn = t.strides[0], v.sh = t.strides[1], v.sw = t.strides[2], v.sc = t.strides[3];
  } else {
    v.n = t.shape[0], v.c = t.shape[1], v.h = t.shape[2], v.w = t.shape[3];
    v.sn = t.strides[0], v.sc = t.strides[1], v.sh = t.strides[2], v.sw = t.strides[3];
  }
  return v;
}

// Copies dense NHWC memory back out into a strided view.
template <class T>
void scatter_dense(const T* src, const View4<T>& v) {
  int64_t i = 0;
  for (int64_t a = 0; a < v.n; ++a)
    for (int64_t b = 0; b < v.h; ++b)
      for (int64_t x = 0; x < v.w; ++x) {
        T* dst = v.data + a * v.sn + b * v.sh + x * v.sw;
        for (int64_t ch = 0; ch < v.c; ++ch) dst[ch * v.sc] = src[i++];
      }
}

// The input as rows of dense NHWC pixels (pixel iw of a row at row + iw*C). When the caller's rows
// are laid out so (dense NHWC, or only the batch and row strides differ: a crop in height, a
// broadcast over rows) they are read in place; otherwise (NCHW, strided or broadcast pixels or
// channels) each thread gathers the columns of the rows it is working on into a RowCache, so that
// a non-dense input is never copied whole: a zero-stride view of gigabytes costs a few rows.
template <class T>
struct InputRows {
  View4<const T> v;
  bool direct;
  InputRows(const Tensor<const T>& t, Layout layout) : v(nhwc_view(t, layout)) {
    direct = (v.c <= 1 || v.sc == 1) && (v.w <= 1 || v.sw == v.c);
  }
  const T* row(int64_t n, int64_t ih) const { return v.data + n * v.sn + ih * v.sh; }
  // Whole input is dense NHWC (pointwise reads it as one [pixels, C] matrix).
  bool dense() const { return v.dense(); }
  // Columns [x0, x1) of row (n, ih) into dst[(x - x0)*C + ch]; loops run along the smaller source
  // stride.
  void gather_row(int64_t n, int64_t ih, int64_t x0, int64_t x1, T* dst) const {
    const T* src = row(n, ih);
    const int64_t C = v.c;
    if (std::abs(v.sc) <= std::abs(v.sw)) {
      for (int64_t x = x0; x < x1; ++x)
        for (int64_t ch = 0; ch < C; ++ch) dst[(x - x0) * C + ch] = src[x * v.sw + ch * v.sc];
    } else {
      for (int64_t ch = 0; ch < C; ++ch)
        for (int64_t x = x0; x < x1; ++x) dst[(x - x0) * C + ch] = src[x * v.sw + ch * v.sc];
    }
  }
  // Flat pixels [p0, p0+count) (p = (n*H + h)*W + w) into dst[count][C], channel by channel when
  // the channel stride is the larger (NCHW: each channel's pixels are read in order).
  void gather_pixels(int64_t p0, int64_t count, T* dst) const {
    const int64_t H = v.h, W = v.w, C = v.c;
    auto src = [&](int64_t p) { return v.data + (p / (H * W)) * v.sn + ((p / W) % H) * v.sh + (p % W) * v.sw; };
    if (std::abs(v.sc) <= std::abs(v.sw)) {
      for (int64_t q = 0; q < count; ++q) {
        const T* s = src(p0 + q);
        for (int64_t ch = 0; ch < C; ++ch) dst[q * C + ch] = s[ch * v.sc];
      }
    } else {
      for (int64_t q0 = 0; q0 < count;) {  // runs of pixels within one input row
        const int64_t run = std::min(count - q0, W - (p0 + q0) % W);
        const T* s = src(p0 + q0);
        for (int64_t ch = 0; ch < C; ++ch)
          for (int64_t q = 0; q < run; ++q) dst[(q0 + q) * C + ch] = s[ch * v.sc + q * v.sw];
        q0 += run;
      }
    }
  }
};

// The input rows under the kernel rows of a run of output pixels: input pixel iw of kernel row ky
// is at ptr[ky] + (iw - first[ky]) * C (ptr[ky] null for a row in the vertical padding).
template <class T>
struct RowSet {
  const T* const* ptr;
  const int64_t* first;
  int64_t c;
  const T* at(int64_t ky, int64_t iw) const { return ptr[ky] + (iw - first[ky]) * c; }
};

// Per-thread rows of a non-direct input: one slot per kernel row, each holding the columns of one
// input row that a run of output pixels reads; refilled only when a run needs input it does not
// hold (consecutive output rows share all but `stride` rows). Slots grow to the longest run's
// columns, so a thread holds a few runs' worth of input, not whole rows.
template <class T>
struct RowCache {
  AlignedArray<T> buf;                        // [KH][cap]
  int64_t cap = 0;                            // elements per slot
  std::vector<int64_t> key, from, to;         // per slot: n*H + ih (-1: none), its columns [from, to)
  std::vector<const T*> ptr;                  // per kernel row of the current run
  std::vector<int64_t> first;
  std::vector<char> used;
};

// The input rows under kernel rows 0..KH-1 of output pixels (n, oh, ow0 .. ow1-1): every input
// pixel those pixels read is in the result. Valid until the next call with the same cache.
template <class T>
RowSet<T> input_rows(const InputRows<T>& in, const ConvGeometry& g, int64_t n, int64_t oh, int64_t ow0,
                     int64_t ow1, RowCache<T>& c) {
  const int64_t KH = g.h.kernel, H = g.h.in, W = g.w.in, C = g.in_channels;
  c.ptr.resize(static_cast<size_t>(KH));
  c.first.assign(static_cast<size_t>(KH), 0);
  const RowSet<T> rows{c.ptr.data(), c.first.data(), C};
  if (in.direct) {
    for (int64_t ky = 0; ky < KH; ++ky) {
      const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
      c.ptr[ky] = (ih >= 0 && ih < H) ? in.row(n, ih) : nullptr;
    }
    return rows;
  }
  const int64_t x0 = std::min(W, std::max<int64_t>(0, ow0 * g.w.stride - g.w.pad_before));
  const int64_t x1 = std::max(x0, std::min(W, (ow1 - 1) * g.w.stride - g.w.pad_before + g.w.effective_kernel()));
  if ((x1 - x0) * C > c.cap || c.key.empty()) {  // a longer run than any before: larger slots
    c.cap = std::max((x1 - x0) * C, c.cap);
    c.buf = make_raw_buffer<T>("the input rows gathered per thread (the input is not dense NHWC)", KH * c.cap);
    c.key.assign(static_cast<size_t>(KH), -1);
    c.from.assign(static_cast<size_t>(KH), 0);
    c.to.assign(static_cast<size_t>(KH), 0);
  }
  // Slots holding what this run needs are kept; the others take the missing rows.
  c.used.assign(static_cast<size_t>(KH), 0);
  for (int64_t ky = 0; ky < KH; ++ky) {
    const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
    c.ptr[ky] = nullptr;
    if (ih < 0 || ih >= H) continue;
    for (int64_t s = 0; s < KH && !c.ptr[ky]; ++s)
      if (!c.used[s] && c.key[s] == n * H + ih && c.from[s] <= x0 && c.to[s] >= x1) {
        c.used[s] = 1;
        c.ptr[ky] = c.buf.get() + s * c.cap;
        c.first[ky] = c.from[s];
      }
  }
  int64_t free_slot = 0;
  for (int64_t ky = 0; ky < KH; ++ky) {
    const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
    if (ih < 0 || ih >= H || c.ptr[ky]) continue;
    while (c.used[free_slot]) ++free_slot;  // the rows of one run are distinct: a slot is left
    c.used[free_slot] = 1;
    c.key[free_slot] = n * H + ih, c.from[free_slot] = x0, c.to[free_slot] = x1;
    T* dst = c.buf.get() + free_slot * c.cap;
    in.gather_row(n, ih, x0, x1, dst);
    c.ptr[ky] = dst;
    c.first[ky] = x0;
  }
  return rows;
}

// Output as dense NHWC: written in place when the caller's memory is dense NHWC, else computed
// into a buffer and scattered by finish().
template <class T>
struct DenseOutput {
  std::vector<T> storage;
  View4<T> view;
  T* data;
  DenseOutput(const Tensor<T>& t, Layout layout) : view(nhwc_view(t, layout)) {
    if (view.dense()) {
      data = view.data;
    } else {
      storage = make_buffer<T>("the dense output before it is scattered into out", view.size());
      data = storage.data();
    }
  }
  void finish() {
    if (!storage.empty()) scatter_dense<T>(storage.data(), view);
  }
};

// Filter element (a, b, c, d) of a 4-D filter tensor with any strides.
template <class T>
inline T at4(const Tensor<const T>& f, int64_t a, int64_t b, int64_t c, int64_t d) {
  return f.data[a * f.strides[0] + b * f.strides[1] + c * f.strides[2] + d * f.strides[3]];
}

template <class T>
inline T at1(const Tensor<const T>& f, int64_t i) {
  return f.data[i * f.strides[0]];
}

}  // namespace detail
}  // namespace sepcpp
