// Internal helpers shared by the ops: argument checks, layout views, packing, threading, and the
// depthwise row-segment step used by both depthwise_conv2d and the fused separable_conv2d.
#pragma once

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
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

// Bytes this process may still allocate before the system runs short: the smallest of the
// kernel's MemAvailable and, for each cgroup (v2 or v1) above the process, its limit minus its
// usage; -1 when none of these can be read (layer.cc).
int64_t available_memory_bytes();

// Buffers from this size on are checked against available_memory_bytes() first: under Linux's
// overcommit an allocation larger than the free memory succeeds and the OOM killer ends the
// process when its pages are touched, instead of the MemoryError a caller can handle. (Reading
// /proc costs microseconds: small buffers are not checked.)
constexpr int64_t kCheckedAllocationBytes = int64_t(64) << 20;

// A buffer of n elements for `what` is refused (AllocationError naming the buffer and its size)
// when it is larger than the memory available; `attempt` then makes it, its own failures reported
// the same way.
template <class T, class F>
auto allocate_checked(const char* what, int64_t n, F attempt) -> decltype(attempt()) {
  const double bytes = static_cast<double>(n) * sizeof(T);
  auto message = [&] {
    return std::string("sepcpp: cannot allocate ") + std::to_string(n) + " elements (" +
           std::to_string(bytes / (1 << 20)) + " MiB) for " + what;
  };
  // (Beyond 2**47 bytes no x86-64 process can map it: no need to ask the system.)
  if (bytes >= static_cast<double>(kCheckedAllocationBytes) && bytes < 0x1p47) {
    const int64_t avail = available_memory_bytes();
    if (avail >= 0 && bytes > static_cast<double>(avail))
      throw AllocationError(message() + ": only " + std::to_string(avail >> 20) +
                            " MiB of memory is available (MemAvailable and the cgroup limit)");
  }
  try {
    return attempt();
  } catch (const std::bad_alloc&) {
    throw AllocationError(message());
  } catch (const std::length_error&) {
    throw AllocationError(message());
  }
}

// A zeroed buffer of n elements for `what`.
template <class T>
std::vector<T> make_buffer(const char* what, int64_t n) {
  return allocate_checked<T>(what, n, [n] { return std::vector<T>(static_cast<size_t>(n)); });
}

// An uninitialised buffer of n elements for `what`: pages never written are never resident.
template <class T>
std::unique_ptr<T[]> make_raw_buffer(const char* what, int64_t n) {
  return allocate_checked<T>(what, n, [n] { return std::unique_ptr<T[]>(new T[static_cast<size_t>(n)]); });
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
  std::unique_ptr<T[]> buf;                   // [KH][cap]
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

// True when some element of w[0..n) is an infinity or a NaN.
template <class T>
bool any_nonfinite(const T* w, int64_t n) {
  bool bad = false;
  for (int64_t i = 0; i < n; ++i) bad |= !std::isfinite(w[i]);
  return bad;
}

// Depthwise weights rearranged per multiplier: w[m][tap][c], bias[m][c]. With `borrow` (a
// one-off functional call), M == 1 and dense memory, the caller's arrays are used as they are.
// `nonfinite` (an infinity or NaN among the weights, found once here) may select the exact edge
// path of depthwise_pixels (leave_out_padded_taps).
template <class T>
struct DepthwiseWeights {
  std::vector<T> w_storage, b_storage;
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
      w_storage = make_buffer<T>("the depthwise filter", m * taps * c);
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
  std::vector<T> padded;       // zero-padded copies of the input under an edge run
  std::vector<const T*> base;
  std::vector<ptrdiff_t> step;
  std::vector<T> tmp;  // [pixels][C], only for M > 1
  RowCache<T> cache;   // input rows, when the input is not read in place
  // Exact path: the weights with the taps outside the input zeroed, for the valid tap rectangle
  // `masked_for` (ky0, ky1, kx0, kx1) they were last made for.
  std::vector<T> masked;
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

// Whether padded taps must be left out of the sum instead of multiplying the zero padding, which
// differs only when a weight is infinite or NaN (0 x Inf = NaN; a finite weight adds a zero, so
// finite filters keep the fast paths). sepcpp follows TensorFlow (2.21, CPU, default build) per op
// and dtype: its float32 kernels (oneDNN) leave padded taps out, except depthwise_conv2d and
// separable_conv2d at a dilation above 1, which pad the input with zeros (space_to_batch) and
// multiply them; its float64 kernels (Eigen) multiply the padding in every op.
template <class T>
bool leave_out_padded_taps(bool nonfinite, bool depthwise_step, const ConvGeometry& g) {
  if (!nonfinite || !std::is_same<T, float>::value) return false;
  return !depthwise_step || (g.h.dilation == 1 && g.w.dilation == 1);
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
    s.padded.assign(static_cast<size_t>(KH * span * C), T(0));
    for (int64_t ky = 0; ky < KH; ++ky) {
      T* dst = s.padded.data() + ky * span * C;
      s.rows[ky] = dst;
      if (!in_rows.ptr[ky]) continue;
      const int64_t from = std::max<int64_t>(first, 0), to = std::min<int64_t>(first + span, W);
      if (to > from) std::copy(in_rows.at(ky, from), in_rows.at(ky, from) + (to - from) * C, dst + (from - first) * C);
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
  // Pixels [ow0, ow0+cnt) of the current output row into o, with weights w. Both kernels give the
  // same bits.
  auto run = [&](int64_t ow0, int64_t cnt, T* o, bool edge, const T* w) {
    // (Without the sliding kernel, an edge run is a single pixel: fill_taps describes it exactly.)
    const bool slide = sliding && cnt > 1;
    if (slide && edge) fill_padded_rows(ow0, cnt);
    else if (slide) fill_rows(ow0);
    else fill_taps(ow0);
    auto pass = [&](const T* wm, const T* bm, T* dst, int64_t ostride) {
      if (slide) k.dwconv_row(C, cnt, KH, KW, s.rows.data(), wm, bm, dst, ostride, act);
      else k.dwconv(C, cnt, taps, s.base.data(), s.step.data(), wm, bm, dst, ostride, act);
    };
    if (M == 1) {
      pass(w, dw.b, o, CM);
      return;
    }
    s.tmp.resize(static_cast<size_t>(cnt * C));
    for (int64_t m = 0; m < M; ++m) {
      pass(w + m * taps * C, dw.b ? dw.b + m * C : nullptr, s.tmp.data(), C);
      for (int64_t q = 0; q < cnt; ++q)
        for (int64_t c = 0; c < C; ++c) o[q * CM + c * M + m] = s.tmp[q * C + c];
    }
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
    // Edge runs go whole through the row-sliding kernel where it applies, else pixel by pixel.
    const int64_t edge_step = sliding ? OW : 1;
    for (int64_t x = ow; x < a; x += edge_step) run(x, std::min(a, x + edge_step) - x, o + (x - ow) * CM, true, dw.w);
    if (b > a) run(a, b - a, o + (a - ow) * CM, false, dw.w);
    for (int64_t x = b; x < end; x += edge_step) run(x, std::min(end, x + edge_step) - x, o + (x - ow) * CM, true, dw.w);
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
// scratch stays within ~384 KiB (L2 holds it with the GEMM's k-blocks); with several threads, at
// least four tiles per thread where tiles can keep 4 microtile rows, handed out one by one, so
// that a thread that loses its core (a busy machine) holds up a quarter of its share and the
// others take the rest. When there are few pixels, the GEMM's columns (multiples of the panel
// width) are split instead: each thread then streams only its share of the packed weights and
// uses each of them for all the rows. With `shared_rows` (separable_conv2d) the depthwise result
// of all the pixels is computed once, into one shared [pixels][width] buffer (`shared` set), and
// the columns are cut in four blocks per thread; otherwise (conv2d) each of `threads` column
// blocks redoes the unrolled rows. None of this changes any element's arithmetic.
struct TilePlan {
  int64_t tile = 1, tiles = 1;
  int64_t col_blocks = 1, block_cols = 0;
  bool shared = false;  // one [tile][width] buffer for all the column blocks (tiles == 1)
};

template <class T>
TilePlan plan_tiles(int64_t pixels, int64_t width, size_t mr_, size_t nr_, int64_t cols, int64_t threads,
                    bool shared_rows = false) {
  const int64_t mr = static_cast<int64_t>(mr_), nr = static_cast<int64_t>(nr_);
  const int64_t budget = (384 * 1024) / static_cast<int64_t>(sizeof(T));
  const int64_t tmax = std::max<int64_t>(mr, budget / std::max<int64_t>(1, width) / mr * mr);
  TilePlan t;
  const int64_t panels = std::max<int64_t>(1, (cols + nr - 1) / nr);
  // Tiles of at least this many pixels: below it the packed weights are streamed per tile for too
  // few rows.
  const int64_t min_tile = 4 * mr;
  const bool few = shared_rows ? pixels < min_tile * 4 * threads : pixels <= 4 * mr * threads;
  if (threads > 1 && few && pixels <= tmax && panels >= threads) {
    // Few pixels (a 7x7 image): split the columns.
    const int64_t blocks = shared_rows ? std::min(panels, 4 * threads) : threads;
    t.tile = pixels;
    t.block_cols = (panels + blocks - 1) / blocks * nr;
    t.col_blocks = std::max<int64_t>(1, (cols + t.block_cols - 1) / t.block_cols);
    t.shared = shared_rows;
    return t;
  }
  t.tiles = (pixels + tmax - 1) / tmax;
  if (threads > 1) t.tiles = std::max(t.tiles, std::min(4 * threads, pixels / min_tile));
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
