// Internal helpers shared by the ops: argument checks, layout views, packing, threading, and the
// depthwise row-segment step used by both depthwise_conv2d and the fused separable_conv2d.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <mutex>
#include <new>
#include <utility>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "../kernels/kernels.hpp"
#include "sepcpp/ops.hpp"
#include "thread_pool.hpp"

namespace sepcpp {
namespace detail {

[[noreturn]] inline void fail(const std::string& msg) { throw std::invalid_argument(msg); }

// std::bad_alloc that says what could not be allocated (pybind11 turns it into a MemoryError with
// this message).
class AllocationError : public std::bad_alloc {
 public:
  explicit AllocationError(std::string msg) : msg_(std::move(msg)) {}
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  std::string msg_;
};

// A buffer of n elements for `what`; failure raises AllocationError naming the size.
template <class T>
std::vector<T> make_buffer(const char* what, int64_t n) {
  try {
    return std::vector<T>(static_cast<size_t>(n));
  } catch (const std::bad_alloc&) {
    throw AllocationError(std::string("sepcpp: cannot allocate ") + std::to_string(n) + " elements (" +
                          std::to_string(static_cast<double>(n) * sizeof(T) / (1 << 20)) + " MiB) for " + what);
  } catch (const std::length_error&) {
    throw AllocationError(std::string("sepcpp: cannot allocate ") + std::to_string(n) + " elements for " + what);
  }
}

// What the filters alone say (validated without the input).
struct FilterInfo {
  int64_t kh = 1, kw = 1, in_channels = 0, multiplier = 1, out_channels = 0;
};
FilterInfo filter_info(OpKind op, const int64_t* filter_shape, int filter_ndim, const int64_t* filter2_shape,
                       int filter2_ndim, const ConvParams& params);
const char* filter_arg_name(OpKind op);

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

// Copies a strided view into dense NHWC memory (or back out of it).
template <class T>
void gather_dense(const View4<const T>& v, T* dst) {
  int64_t i = 0;
  for (int64_t a = 0; a < v.n; ++a)
    for (int64_t b = 0; b < v.h; ++b)
      for (int64_t x = 0; x < v.w; ++x) {
        const T* src = v.data + a * v.sn + b * v.sh + x * v.sw;
        for (int64_t ch = 0; ch < v.c; ++ch) dst[i++] = src[ch * v.sc];
      }
}

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

// Input as dense NHWC: the caller's memory when it already is, a packed copy otherwise.
template <class T>
struct DenseInput {
  std::vector<T> storage;
  const T* data;
  DenseInput(const Tensor<const T>& t, Layout layout) {
    View4<const T> v = nhwc_view(t, layout);
    if (v.dense()) {
      data = v.data;
    } else {
      storage = make_buffer<T>("a dense copy of the input", v.size());
      gather_dense(v, storage.data());
      data = storage.data();
    }
  }
};

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

template <class T>
kernels::Activation<T> make_activation(Activation a) {
  kernels::Activation<T> k;
  switch (a) {
    case Activation::kNone: break;
    case Activation::kRelu:
      k.clamp = true, k.lo = 0, k.hi = std::numeric_limits<T>::infinity();
      break;
    case Activation::kRelu6:
      k.clamp = true, k.lo = 0, k.hi = 6;
      break;
  }
  return k;
}

// Argument checks shared by the ops (messages name the argument and the shapes).
template <class T>
void check_rank(const char* op, const char* name, const Tensor<T>& t, int ndim) {
  if (t.ndim != ndim)
    fail(std::string(op) + ": " + name + " must have rank " + std::to_string(ndim) + ", got rank " +
         std::to_string(t.ndim) + " with shape " + shape_string(t.shape, t.ndim));
  if (!t.data && checked_product(name, t.shape, t.ndim) > 0)
    fail(std::string(op) + ": " + name + " has a null data pointer");
}

template <class T>
void check_bias(const char* op, const char* name, const Tensor<const T>& bias, int64_t channels) {
  if (!bias.data) return;
  if (bias.ndim != 1 || bias.shape[0] != channels)
    fail(std::string(op) + ": " + name + " must have shape (" + std::to_string(channels) +
         ",) to match the " + std::to_string(channels) + " channels it is added to, got shape " +
         shape_string(bias.shape, bias.ndim));
}

template <class T>
void check_output(const char* op, const Tensor<T>& out, const ConvGeometry& g, Layout layout) {
  int64_t want[4];
  output_shape(g, layout, want);
  bool ok = out.ndim == 4;
  for (int i = 0; ok && i < 4; ++i) ok = out.shape[i] == want[i];
  if (!ok)
    fail(std::string(op) + ": out must have shape " + shape_string(want, 4) + ", got shape " +
         shape_string(out.shape, out.ndim));
  if (!out.data && checked_product("out", want, 4) > 0) fail(std::string(op) + ": out has a null data pointer");
}

// Threads for the next op (set_num_threads or OpenMP's default in the calling thread).
int threads_for_call();

// Below this many multiply-adds a call runs on the calling thread: waking a team costs more.
constexpr int64_t kMinWorkPerThread = 32 * 1024;
// At most this many multiply-adds per chunk (a few ms even on the scalar level): a long call then
// notices Ctrl-C between chunks, and a thread that loses its core holds up only a little work.
constexpr int64_t kMaxWorkPerChunk = int64_t(1) << 25;

// Runs body(begin, end) over [0, items) on up to threads_for_call() threads. `work_per_item`
// (multiply-adds, roughly) decides how many threads are worth waking. Items are handed out in
// chunks, several per thread, from a shared counter (thread_pool.hpp: the caller takes chunks too
// and never waits for a worker that has not started). Which thread computes an element never
// changes how it is computed, so results are bitwise identical for any thread count. Exceptions
// (std::bad_alloc from scratch buffers, an interrupt) are rethrown on the calling thread.
template <class F>
void parallel_for(int64_t items, int64_t work_per_item, F&& body) {
  if (items <= 0) return;
  int64_t total;
  if (__builtin_mul_overflow(items, std::max<int64_t>(1, work_per_item), &total)) total = INT64_MAX;
  const int64_t useful = std::max<int64_t>(1, std::min(items, total / kMinWorkPerThread));
  const int threads = static_cast<int>(std::min<int64_t>(threads_for_call(), useful));
  // Few items (tiles planned in equal shares per thread) are handed out one by one; many, in
  // chunks of several; a long call, in chunks of at most kMaxWorkPerChunk.
  int64_t chunks = threads <= 1 ? 1 : items <= int64_t(threads) * 8 ? items : int64_t(threads) * 4;
  chunks = std::min(items, std::max(chunks, total / kMaxWorkPerChunk + 1));
  auto call = [](void* ctx, int64_t b, int64_t e) { (*static_cast<std::remove_reference_t<F>*>(ctx))(b, e); };
  run_chunks(items, chunks, threads, call, const_cast<void*>(static_cast<const void*>(&body)));
}

// Depthwise weights rearranged per multiplier: w[m][tap][c], bias[m][c]. With `borrow` (a
// one-off functional call), M == 1 and dense memory, the caller's arrays are used as they are.
template <class T>
struct DepthwiseWeights {
  std::vector<T> w_storage, b_storage;
  const T* w = nullptr;
  const T* b = nullptr;
  int64_t taps = 0, c = 0, m = 0;
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
      w_storage = make_buffer<T>("the depthwise filter", m * taps * c);
      for (int64_t mm = 0; mm < m; ++mm)
        for (int64_t y = 0; y < kh; ++y)
          for (int64_t x = 0; x < kw; ++x)
            for (int64_t cc = 0; cc < c; ++cc)
              w_storage[((mm * taps) + y * kw + x) * c + cc] = at4(filter, y, x, cc, mm);
      w = w_storage.data();
    }
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
// tap order (kh major), a zero row standing in for padding.
template <class T>
void build_indirection(const ConvGeometry& g, const T* in, const T* zero, int64_t n, int64_t oh,
                       int64_t ow0, int64_t count, const T** ind) {
  const int64_t H = g.h.in, W = g.w.in, C = g.in_channels;
  for (int64_t p = 0; p < count; ++p) {
    const int64_t ow = ow0 + p;
    for (int64_t ky = 0; ky < g.h.kernel; ++ky) {
      const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
      const bool row_ok = ih >= 0 && ih < H;
      for (int64_t kx = 0; kx < g.w.kernel; ++kx) {
        const int64_t iw = ow * g.w.stride - g.w.pad_before + kx * g.w.dilation;
        *ind++ = (row_ok && iw >= 0 && iw < W) ? in + ((n * H + ih) * W + iw) * C : zero;
      }
    }
  }
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
  std::vector<T> padded;       // zero-padded copies of the input under an edge run
  std::vector<const T*> base;
  std::vector<ptrdiff_t> step;
  std::vector<T> tmp;  // [pixels][C], only for M > 1
};

// Output columns [lo, hi) whose every tap lies inside the input row (no horizontal padding).
inline void interior_columns(const ConvGeometry& g, int64_t* lo, int64_t* hi) {
  const AxisGeometry& a = g.w;
  *lo = std::min(a.out, (a.pad_before + a.stride - 1) / a.stride);
  const int64_t last = a.in - 1 + a.pad_before - (a.kernel - 1) * a.dilation;  // ow*s <= last
  *hi = last < 0 ? 0 : std::min(a.out, last / a.stride + 1);
  if (*hi < *lo) *hi = *lo;
}

// Depthwise for the flat output pixels [p0, p0+count) (p = (n*OH + oh)*OW + ow), result in
// out[p - p0][C*M] (pixel stride C*M, channel order c*M + m). Each row segment is cut into edge
// runs (some tap in the horizontal padding) and one interior run. At stride 1 and dilation 1 every
// run goes through the row-sliding kernel (edge runs on zero-padded copies of their input);
// otherwise the interior run's taps advance by stride*C per pixel and edge pixels go one by one
// with padded taps on the zero row. No per-pixel pointer tables either way.
template <class T>
void depthwise_pixels(const ConvGeometry& g, const kernels::TypedKernels<T>& k, const T* in,
                      const T* zero, const DepthwiseWeights<T>& dw, const kernels::Activation<T>& act,
                      int64_t p0, int64_t count, T* out, DwScratch<T>& s) {
  const int64_t OW = g.w.out, OH = g.h.out, H = g.h.in, W = g.w.in;
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
  auto fill_rows = [&](int64_t n, int64_t oh, int64_t ow0) {
    for (int64_t ky = 0; ky < KH; ++ky) {
      const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
      s.rows[ky] = (ih >= 0 && ih < H) ? in + ((n * H + ih) * W + (ow0 - g.w.pad_before)) * C : zero;
    }
  };
  auto fill_taps = [&](int64_t n, int64_t oh, int64_t ow0) {
    for (int64_t ky = 0; ky < KH; ++ky) {
      const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
      const T* row = (ih >= 0 && ih < H) ? in + (n * H + ih) * W * C : nullptr;
      for (int64_t kx = 0; kx < KW; ++kx) {
        const int64_t t = ky * KW + kx;
        const int64_t iw = ow0 * g.w.stride - g.w.pad_before + kx * g.w.dilation;
        if (row && iw >= 0 && iw < W) {
          s.base[t] = row + iw * C;
          s.step[t] = g.w.stride * C;
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
  auto fill_padded_rows = [&](int64_t n, int64_t oh, int64_t ow0, int64_t cnt) {
    const int64_t span = cnt + KW - 1, first = ow0 - g.w.pad_before;
    s.padded.assign(static_cast<size_t>(KH * span * C), T(0));
    for (int64_t ky = 0; ky < KH; ++ky) {
      const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
      T* dst = s.padded.data() + ky * span * C;
      s.rows[ky] = dst;
      if (ih < 0 || ih >= H) continue;
      const int64_t from = std::max<int64_t>(first, 0), to = std::min<int64_t>(first + span, W);
      if (to > from)
        std::copy(in + ((n * H + ih) * W + from) * C, in + ((n * H + ih) * W + to) * C, dst + (from - first) * C);
    }
  };
  // Pixels [ow0, ow0+cnt) of row (n, oh) into o. Both kernels give the same bits.
  auto run = [&](int64_t n, int64_t oh, int64_t ow0, int64_t cnt, T* o, bool edge) {
    // (Without the sliding kernel, an edge run is a single pixel: fill_taps describes it exactly.)
    const bool slide = sliding && cnt > 1;
    if (slide && edge) fill_padded_rows(n, oh, ow0, cnt);
    else if (slide) fill_rows(n, oh, ow0);
    else fill_taps(n, oh, ow0);
    auto pass = [&](const T* wm, const T* bm, T* dst, int64_t ostride) {
      if (slide) k.dwconv_row(C, cnt, KH, KW, s.rows.data(), wm, bm, dst, ostride, act);
      else k.dwconv(C, cnt, taps, s.base.data(), s.step.data(), wm, bm, dst, ostride, act);
    };
    if (M == 1) {
      pass(dw.w, dw.b, o, CM);
      return;
    }
    s.tmp.resize(static_cast<size_t>(cnt * C));
    for (int64_t m = 0; m < M; ++m) {
      pass(dw.w + m * taps * C, dw.b ? dw.b + m * C : nullptr, s.tmp.data(), C);
      for (int64_t q = 0; q < cnt; ++q)
        for (int64_t c = 0; c < C; ++c) o[q * CM + c * M + m] = s.tmp[q * C + c];
    }
  };
  int64_t p = p0;
  while (p < p0 + count) {
    const int64_t ow = p % OW, row = p / OW, oh = row % OH, n = row / OH;
    const int64_t end = ow + std::min(OW - ow, p0 + count - p);
    T* o = out + (p - p0) * CM;
    const int64_t a = std::min(std::max(ow, lo), end), b = std::max(std::min(end, hi), a);
    // Edge runs go whole through the row-sliding kernel where it applies, else pixel by pixel.
    const int64_t edge_step = sliding ? OW : 1;
    for (int64_t x = ow; x < a; x += edge_step) run(n, oh, x, std::min(a, x + edge_step) - x, o + (x - ow) * CM, true);
    if (b > a) run(n, oh, a, b - a, o + (a - ow) * CM, false);
    for (int64_t x = b; x < end; x += edge_step) run(n, oh, x, std::min(end, x + edge_step) - x, o + (x - ow) * CM, true);
    p += end - ow;
  }
}

// A GEMM's B operand packed once per call: [1 or groups][panels].
template <class T>
struct PackedGemm {
  std::vector<T> data;
  size_t group_stride = 0;
};

// Packs B = filter viewed as [k, cols] per group (k rows of the group's columns) with bias;
// `what` names it in an allocation failure.
// `row_of(kk)` gives the pointer to filter row kk; columns are read with stride `col_stride`.
template <class T>
PackedGemm<T> pack_gemm(const char* what, const kernels::TypedKernels<T>& k, int64_t groups, int64_t kg,
                        int64_t og, const T* b, int64_t b_row_stride, int64_t b_col_stride,
                        const Tensor<const T>& bias) {
  PackedGemm<T> pg;
  pg.group_stride = kernels::gemm_packed_size(static_cast<size_t>(kg), static_cast<size_t>(og), k.gemm_nr);
  pg.data = make_buffer<T>(what, static_cast<int64_t>(pg.group_stride) * groups);
  std::vector<T> dense, dbias;
  const bool is_dense = b_col_stride == 1;
  for (int64_t gi = 0; gi < groups; ++gi) {
    const T* src = b + gi * og * b_col_stride;
    int64_t stride = b_row_stride;
    if (!is_dense) {
      dense.resize(static_cast<size_t>(kg * og));
      for (int64_t r = 0; r < kg; ++r)
        for (int64_t j = 0; j < og; ++j) dense[r * og + j] = src[r * b_row_stride + j * b_col_stride];
      src = dense.data();
      stride = og;
    }
    const T* bp = nullptr;
    if (bias.data) {
      dbias.resize(static_cast<size_t>(og));
      for (int64_t j = 0; j < og; ++j) dbias[j] = at1(bias, gi * og + j);
      bp = dbias.data();
    }
    k.gemm_pack(static_cast<size_t>(kg), static_cast<size_t>(og), src, static_cast<size_t>(stride), bp,
                pg.data.data() + gi * pg.group_stride);
  }
  return pg;
}

// Runs the (grouped) GEMM on `rows` rows of A (row stride = groups*kg) into C (row stride O), for
// the columns [c0, c0 + ncols) of every group (c0 a multiple of the panel width).
template <class T>
void run_gemm(const kernels::TypedKernels<T>& k, const PackedGemm<T>& pg, int64_t groups, int64_t kg,
              int64_t og, int64_t rows, const T* a, int64_t a_row_stride, T* c, int64_t c_row_stride,
              const kernels::Activation<T>& act, int64_t c0 = 0, int64_t ncols = -1) {
  if (ncols < 0) ncols = og;
  ncols = std::min(ncols, og - c0);
  if (ncols <= 0) return;
  const int64_t nr = static_cast<int64_t>(k.gemm_nr);
  for (int64_t gi = 0; gi < groups; ++gi)
    k.gemm(static_cast<size_t>(rows), static_cast<size_t>(ncols), static_cast<size_t>(kg), a + gi * kg,
           static_cast<size_t>(a_row_stride), pg.data.data() + gi * pg.group_stride + (c0 / nr) * (kg + 1) * nr,
           c + gi * og + c0, static_cast<size_t>(c_row_stride), act);
}

// How a fused pass over P output pixels is cut: row tiles of `tile` pixels whose [tile][width]
// scratch stays within ~384 KiB (L2 holds it with the GEMM's k-blocks), in equal shares per
// thread when there are few; and, when there are few pixels, column blocks of the GEMM (multiples
// of the panel width) instead, the depthwise step being redone per block (a small share of the
// work when the pixels are few and the columns many). None of this changes any element's
// arithmetic.
struct TilePlan {
  int64_t tile = 1, tiles = 1;
  int64_t col_blocks = 1, block_cols = 0;
};

template <class T>
TilePlan plan_tiles(int64_t pixels, int64_t width, size_t mr_, size_t nr_, int64_t cols, int64_t threads) {
  const int64_t mr = static_cast<int64_t>(mr_), nr = static_cast<int64_t>(nr_);
  const int64_t budget = (384 * 1024) / static_cast<int64_t>(sizeof(T));
  const int64_t tmax = std::max<int64_t>(mr, budget / std::max<int64_t>(1, width) / mr * mr);
  TilePlan t;
  const int64_t panels = std::max<int64_t>(1, (cols + nr - 1) / nr);
  if (pixels <= std::min(tmax, 4 * mr * threads) && panels >= threads && threads > 1) {
    // Few pixels (a 7x7 image): split the columns, so that each thread streams only its share of
    // the packed weights and uses each of them for all the rows.
    t.tile = pixels;
    t.col_blocks = threads;
    t.block_cols = (panels + threads - 1) / threads * nr;
    t.col_blocks = std::max<int64_t>(1, (cols + t.block_cols - 1) / t.block_cols);
    return t;
  }
  t.tiles = (pixels + tmax - 1) / tmax;
  if (t.tiles < 8 * threads) t.tiles = (t.tiles + threads - 1) / threads * threads;
  t.tiles = std::max<int64_t>(1, std::min(t.tiles, pixels));
  t.tile = std::max<int64_t>(1, (pixels + t.tiles - 1) / t.tiles);
  t.tiles = std::max<int64_t>(1, (pixels + t.tile - 1) / t.tile);
  if (t.tiles < threads) t.col_blocks = std::min(panels, (threads + t.tiles - 1) / t.tiles);
  t.block_cols = (panels + t.col_blocks - 1) / t.col_blocks * nr;
  t.col_blocks = std::max<int64_t>(1, (cols + t.block_cols - 1) / t.block_cols);
  return t;
}

}  // namespace detail
}  // namespace sepcpp
