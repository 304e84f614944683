// The backprop ops (backprop.hpp). Two kinds of loop nest, both deterministic for any thread count:
//
// * Input gradients are gathers over input rows: a task owns whole input rows (n, ih) and adds into
//   them the contributions of every output row that reaches them (kernel rows ky in order, then
//   output columns, then kernel columns), so no two threads ever write the same element and each
//   element's sum runs in one fixed order. conv2d's is a GEMM per (output row, kernel row),
//   out_backprop [OW, O] x filter_ky^T [O, KW*C], followed by a scatter within the row (col2im).
// * Filter (and bias) gradients are reductions over pixels: the pixels are cut into a number of
//   parts that depends on the problem only (never on the thread count), each part sums its pixels
//   in order into its own partial result, and the partials are added in part order.
//
// The separable gradient is fused: units of about 1024 output pixels (bands of rows, or of columns
// for long rows) each recompute the forward pass and the gradient of the depthwise output on their
// pixels plus a halo, then add their share of every gradient but the pointwise filter's. That one,
// A^T x dZ, is a GEMM whose K is the pixels: it runs after each block of units on the block's A^T
// (at most 8 MiB of it, or one unit per thread), straight into the result.
//
// The depthwise loops are plain C++ with channels innermost (contiguous in dense NHWC), which the
// compiler vectorises at the baseline level; the conv2d and pointwise products go through the
// packed GEMM of the ISA in use (kernels.hpp).
#include "sepcpp/backprop.hpp"

#include <array>
#include <cstring>
#include <memory>
#include <optional>
#include <type_traits>

#include "checks.hpp"
#include "depthwise_rows.hpp"
#include "gemm.hpp"
#include "memory.hpp"
#include "parallel.hpp"
#include "tensor_view.hpp"
#include "transpose.hpp"

namespace sepcpp {
namespace detail {
namespace {

// Pixels per tile of a filter reduction: fixed, so the order of every sum is too.
constexpr int64_t kReduceTile = 128;
// The separable backward keeps A^T (the depthwise output, transposed) of a block of units for the
// pointwise filter gradient's GEMM, which reads and writes the whole gradient once per block: twice
// the gradient's bytes, within [1 MiB, 8 MiB] (or one unit per thread). A narrow layer's blocks
// stay in L2 with their packed dZ; a wide layer's make the gradient's traffic small beside the
// products (8 MiB: 2048 pixels of 1024 channels against a 4 MiB gradient).
constexpr int64_t kBlockBytesMin = int64_t(1) << 20, kBlockBytesMax = int64_t(8) << 20;
// The bytes of a GEMM call's A (or result) that L2 holds with a panel of B streaming past (gemm.hpp's
// plan_tiles budget).
constexpr int64_t kL2Tile = 768 * 1024;
// Whether the separable backward computes dA = dZ x PW^T transposed (the filter read in place, no
// packed copy of it): when the pixels are few against the filter's size.
inline bool transposed_input_product(int64_t pixels, int64_t kg, int64_t og) {
  return pixels * 4 <= std::min(kg, og);
}
// The partial results of a reduction use at most this many elements (or one part).
constexpr int64_t kPartialBudget = int64_t(1) << 24;
constexpr int64_t kMaxParts = 64;

// The separable backward's large buffers (the packed transposed filter, the blocks of A^T and dZ,
// the packed dZ; group 0, on the calling thread) and each thread's scratch for the units it runs
// (group 1), kept by the thread from one call to the next while a group totals at most
// kKeptBytes: a training loop calls it with the same shapes every step, and a fresh buffer costs a
// page fault per 4 KiB it touches (a tenth of a 1024-channel sequence layer's backward pass), or
// a pass of zeros for a std::vector. The values are written before they are read in every call:
// only the memory is kept.
constexpr int64_t kKeptBytes = int64_t(64) << 20;
template <class T, int kGroup>
class KeptBuffers {
 public:
  T* get(int slot, const char* what, int64_t n) {
    Slot& s = slots()[slot];
    if (s.size < n) {
      s.data.reset();
      s.size = 0;
      s.data = make_raw_buffer<T>(what, n);
      s.size = n;
    }
    return s.data.get();
  }
  ~KeptBuffers() {
    int64_t bytes = 0;
    for (const Slot& s : slots()) bytes += s.size * int64_t(sizeof(T));
    if (bytes > kKeptBytes)
      for (Slot& s : slots()) s.data.reset(), s.size = 0;
  }

 private:
  struct Slot {
    AlignedArray<T> data;
    int64_t size = 0;
  };
  static std::array<Slot, 8>& slots() {
    thread_local std::array<Slot, 8> s;
    return s;
  }
};

// A product for work estimates, saturating instead of overflowing.
int64_t work_of(std::initializer_list<int64_t> factors) {
  int64_t r = 1;
  for (int64_t f : factors)
    if (__builtin_mul_overflow(r, std::max<int64_t>(f, 1), &r)) return INT64_MAX;
  return r;
}

// How many parts a reduction over `tiles` tiles with partial results of `partial_size` elements
// is cut into: a function of the problem only, so that the sums are the same for any thread count.
int64_t reduction_parts(int64_t tiles, int64_t partial_size) {
  int64_t parts = std::min(tiles, kMaxParts);
  parts = std::min(parts, std::max<int64_t>(1, kPartialBudget / std::max<int64_t>(1, partial_size)));
  return std::max<int64_t>(1, parts);
}

// out[j] = partials[0][j] + partials[1][j] + ... in part order.
template <class T>
void sum_parts(const T* partials, int64_t parts, int64_t size, T* out) {
  const int64_t block = 4096;
  parallel_for((size + block - 1) / block, block * parts, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t j0 = i * block, j1 = std::min(size, j0 + block);
      std::copy(partials + j0, partials + j1, out + j0);
      for (int64_t p = 1; p < parts; ++p) {
        const T* src = partials + p * size;
        for (int64_t j = j0; j < j1; ++j) out[j] += src[j];
      }
    }
  });
}

// Dense [a, b, c, d] copy of a 4-D tensor with any strides.
template <class T>
std::vector<T> dense_copy(const Tensor<const T>& t, const char* what) {
  std::vector<T> d = make_buffer<T>(what, t.shape[0] * t.shape[1] * t.shape[2] * t.shape[3]);
  size_t i = 0;
  for (int64_t a = 0; a < t.shape[0]; ++a)
    for (int64_t b = 0; b < t.shape[1]; ++b)
      for (int64_t c = 0; c < t.shape[2]; ++c)
        for (int64_t e = 0; e < t.shape[3]; ++e) d[i++] = at4(t, a, b, c, e);
  return d;
}

// Writes a dense [a, b, c, d] (or, for ndim 1, [a]) result into a tensor with any strides.
template <class T>
void write_strided(const T* src, const Tensor<T>& t) {
  if (t.ndim == 1) {
    for (int64_t i = 0; i < t.shape[0]; ++i) t.data[i * t.strides[0]] = src[i];
    return;
  }
  size_t i = 0;
  for (int64_t a = 0; a < t.shape[0]; ++a)
    for (int64_t b = 0; b < t.shape[1]; ++b)
      for (int64_t c = 0; c < t.shape[2]; ++c)
        for (int64_t e = 0; e < t.shape[3]; ++e)
          t.data[a * t.strides[0] + b * t.strides[1] + c * t.strides[2] + e * t.strides[3]] = src[i++];
}


// A row stride of at least n elements that is an odd number of cache lines. Rows 2^j lines apart
// fall in one set of the L1 cache (12 ways), so writing a transpose across 16 of them (a tall
// block of A^T: 2048 pixels, 8 KiB a row) evicts lines before they are filled, and a stride that is
// no whole number of lines splits the stores; with an odd one, 64 consecutive rows take 64
// different sets. (The transpose into a block of A^T ran 1.6-2x faster at 368 floats a row than at
// 361, and at 2064 than at 2048; the GEMM reading the rows is unaffected.)
template <class T>
int64_t spread_stride(int64_t n) {
  const int64_t line = int64_t(64) / int64_t(sizeof(T));
  const int64_t lines = (n + line - 1) / line;
  return (lines | 1) * line;
}

// Packs the transpose of src as the GEMM's B operand, B[kk, j] = src[j * src_rs + kk * src_cs]
// for kk < k, j < cols (k.gemm_pack's result for that B, with no bias): each panel's rows are the
// transposed block itself, so it is written in place, without a transposed copy to pack from.
// When src_rs is 1 (src's columns are contiguous: a torch weight [O, C*M] viewed as TensorFlow's
// [C*M, O] is PW^T row by row), B's rows already are, and the plain pack copies them.
template <class T>
void pack_transposed(const kernels::TypedKernels<T>& k, int64_t kdim, int64_t cols, const T* src, int64_t src_rs,
                     int64_t src_cs, T* packed) {
  const int64_t nr = static_cast<int64_t>(k.gemm_nr);
  if (src_rs == 1 || cols == 1)
    return k.gemm_pack(static_cast<size_t>(kdim), static_cast<size_t>(cols), src, static_cast<size_t>(src_cs),
                       nullptr, packed);
  if (k.gemm_kstep != 1) {  // rows interleaved in steps: through a transposed copy
    std::vector<T> t = make_buffer<T>("a transposed GEMM operand", kdim * cols);
    transpose(src, cols, kdim, src_rs, src_cs, t.data(), cols);
    k.gemm_pack(static_cast<size_t>(kdim), static_cast<size_t>(cols), t.data(), static_cast<size_t>(cols), nullptr,
                packed);
    return;
  }
  const int64_t panel = static_cast<int64_t>(kernels::gemm_panel_size(static_cast<size_t>(kdim), k.gemm_nr));
  for (int64_t j0 = 0; j0 < cols; j0 += nr) {
    const int64_t nc = std::min(nr, cols - j0);
    T* p = packed + (j0 / nr) * panel;
    std::fill(p, p + nr, T(0));  // the bias row
    transpose(src + j0 * src_rs, nc, kdim, src_rs, src_cs, p + nr, nr);
    if (nc < nr)
      for (int64_t kk = 0; kk < kdim; ++kk) std::fill(p + (kk + 1) * nr + nc, p + (kk + 2) * nr, T(0));
  }
}

// The output row oh whose kernel row ky lands on input row ih, or -1.
inline int64_t source_row(const AxisGeometry& a, int64_t ih, int64_t ky) {
  const int64_t t = ih + a.pad_before - ky * a.dilation;
  if (t < 0 || t % a.stride != 0) return -1;
  const int64_t o = t / a.stride;
  return o < a.out ? o : -1;
}

// A 4-D activation (an input or out_backprop) as dense NHWC: the caller's memory when it is
// already, else a packed copy, gathered row by row (the backprop loops index pixels directly).
template <class T>
struct DenseNhwc {
  std::vector<T> storage;
  const T* data;
  Tensor<const T> tensor;  // the dense NHWC view of `data`
  DenseNhwc(const Tensor<const T>& t, Layout layout, const char* what) {
    const View4<const T> v = nhwc_view(t, layout);
    if (v.dense()) {
      data = v.data;
    } else {
      storage = make_buffer<T>(what, v.size());
      const InputRows<T> rows(t, layout);
      for (int64_t n = 0; n < v.n; ++n)
        for (int64_t h = 0; h < v.h; ++h) rows.gather_row(n, h, 0, v.w, storage.data() + (n * v.h + h) * v.w * v.c);
      data = storage.data();
    }
    const int64_t shape[4] = {v.n, v.h, v.w, v.c};
    tensor = make_tensor<const T>(data, 4, shape);
  }
};

// ---- depthwise -------------------------------------------------------------------------------

// The tap lists handed to the depthwise kernels (DwGatherFn, DwReduceFn), kept by a thread across
// calls so that a row costs no allocation.
template <class T>
struct TapLists {
  std::vector<const T*> base, weight, row;
  std::vector<ptrdiff_t> step;
  std::vector<T*> acc;
  std::vector<int64_t> ky;
};

// Input-gradient rows [ih0, ih1), columns [iw0, iw1) of image n (dense NHWC dx), from the output
// gradient of output rows er0.. er0+R-1, columns ec0.. ec0+Q-1, which must hold every output pixel
// that reaches those input pixels. Both come as M planes, one per multiplier m (M == 1: the dense
// tensors themselves): `dyb` + m * plane_stride is [R][Q][C] (element c of plane m is channel
// c*M + m) and `filter` + m * taps * C is [KH, KW, C]. Each element sums kernel rows ky in order,
// then output columns, then kernel columns, then multipliers: the same order however the rows and
// columns are cut.
//
// The sum is the ISA's gather kernel: an input pixel iw is reached by kernel column kx from output
// column (iw + pad - kx*d) / s when that divides, so the pixels iw, iw + s, iw + 2s, ... (one
// residue class) are reached by the same kernel columns, one output column further each, except
// near the ends of the range. The row is cut into runs of one class with the same columns (a few
// per class), each one kernel call listing exactly the taps that reach it, ky ascending then kx
// descending (output columns ascending) then m: the order above.
template <class T>
void depthwise_input_rows(const ConvGeometry& g, const kernels::TypedKernels<T>& k, const T* filter, const T* dyb,
                          int64_t plane_stride, int64_t n, int64_t er0, int64_t R, int64_t ec0, int64_t Q,
                          int64_t ih0, int64_t ih1, int64_t iw0, int64_t iw1, T* dx, TapLists<T>& tl) {
  const int64_t H = g.h.in, W = g.w.in, C = g.in_channels, M = g.multiplier;
  const int64_t KH = g.h.kernel, KW = g.w.kernel, taps = g.taps();
  if (iw1 <= iw0 || C == 0) return;
  const int64_t s = g.w.stride, d = g.w.dilation, pad = g.w.pad_before;
  // The kernel columns [lo, hi] whose output column lies in [ec0, ec0 + Q) for input pixel iw
  // (those of them that divide are the taps; which divide depends on the class only).
  auto columns = [&](int64_t iw, int64_t* lo, int64_t* hi) {
    const int64_t top = iw + pad - ec0 * s;  // kx * d <= top
    const int64_t bottom = iw + pad - (ec0 + Q - 1) * s;  // kx * d >= bottom
    *hi = Q <= 0 || top < 0 ? -1 : std::min(KW - 1, top / d);
    *lo = bottom <= 0 ? 0 : (bottom + d - 1) / d;
  };
  for (int64_t ih = ih0; ih < ih1; ++ih) {
    T* drow = dx + (n * H + ih) * W * C;
    tl.ky.clear();
    tl.row.clear();
    for (int64_t ky = 0; ky < KH; ++ky) {
      const int64_t oh = source_row(g.h, ih, ky);
      if (oh < er0 || oh >= er0 + R) continue;
      tl.ky.push_back(ky);
      tl.row.push_back(dyb + (oh - er0) * Q * C);
    }
    for (int64_t r = 0; r < std::min(s, iw1 - iw0); ++r) {
      for (int64_t iw = iw0 + r; iw < iw1;) {
        int64_t lo, hi;
        columns(iw, &lo, &hi);
        int64_t count = 1, last = iw;
        while (iw1 - 1 - last >= s) {  // (no overflow for a huge stride)
          int64_t lo2, hi2;
          columns(last + s, &lo2, &hi2);
          if (lo2 != lo || hi2 != hi) break;
          last += s;
          ++count;
        }
        tl.base.clear();
        tl.step.clear();
        tl.weight.clear();
        for (size_t i = 0; i < tl.ky.size(); ++i)
          for (int64_t kx = hi; kx >= lo; --kx) {
            const int64_t t = iw + pad - kx * d;
            if (t % s != 0) continue;
            for (int64_t m = 0; m < M; ++m) {
              tl.base.push_back(tl.row[i] + m * plane_stride + (t / s - ec0) * C);
              tl.step.push_back(C);
              tl.weight.push_back(filter + m * taps * C + (tl.ky[i] * KW + kx) * C);
            }
          }
        k.dw_gather(static_cast<size_t>(C), static_cast<size_t>(count), tl.base.size(), tl.base.data(),
                    tl.step.data(), tl.weight.data(), drow + iw * C, count > 1 ? static_cast<size_t>(s * C) : 0);
        if (iw1 - 1 - last < s) break;
        iw = last + s;
      }
    }
  }
}

// The M planes of `rows` rows of `width` = C*M interleaved channels: planes[m][r][c] =
// src[r][c*M + m] (the depthwise gather reads each multiplier's channels contiguously).
template <class T>
void split_planes(const T* src, int64_t rows, int64_t C, int64_t M, T* planes) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* s = src + r * C * M;
    for (int64_t m = 0; m < M; ++m) {
      T* d = planes + (m * rows + r) * C;
      for (int64_t c = 0; c < C; ++c) d[c] = s[c * M + m];
    }
  }
}

// The inverse of split_planes: dst[r][c*M + m] = planes[m][r][c].
template <class T>
void merge_planes(const T* planes, int64_t rows, int64_t C, int64_t M, T* dst) {
  for (int64_t r = 0; r < rows; ++r) {
    T* d = dst + r * C * M;
    for (int64_t m = 0; m < M; ++m) {
      const T* s = planes + (m * rows + r) * C;
      for (int64_t c = 0; c < C; ++c) d[c * M + m] = s[c];
    }
  }
}

// dx[N, H, W, C] from dy[N, OH, OW, C*M] and the dense filter [KH, KW, C, M], by input rows.
template <class T>
void depthwise_input_dense(const ConvGeometry& g, const kernels::TypedKernels<T>& k, const T* filter, const T* dy,
                           T* dx) {
  const int64_t H = g.h.in, OH = g.h.out, OW = g.w.out, C = g.in_channels, M = g.multiplier, CM = C * M;
  const int64_t P = g.batch * OH * OW;
  std::vector<T> dy_planes, f_planes;
  if (M > 1) {
    dy_planes = make_buffer<T>("the out_backprop planes", P * CM);
    f_planes = make_buffer<T>("the depthwise filter planes", g.taps() * CM);
    split_planes(dy, P, C, M, dy_planes.data());
    split_planes(filter, g.taps(), C, M, f_planes.data());
    dy = dy_planes.data();
    filter = f_planes.data();
  }
  const int64_t per_row = work_of({g.h.kernel, OW, g.w.kernel, CM}) / std::max<int64_t>(1, g.h.stride);
  parallel_for(g.batch * H, per_row, [&](int64_t b, int64_t e) {
    TapLists<T> tl;
    for (int64_t row = b; row < e; ++row) {
      const int64_t n = row / H, ih = row % H;
      depthwise_input_rows(g, k, filter, dy + n * OH * OW * C, P * C, n, 0, OH, 0, OW, ih, ih + 1, 0, g.w.in, dx, tl);
    }
  });
}

// The depthwise filter gradient of output pixels (n, oh, ow0..ow1-1), in that order, added into
// `acc`: x under each tap times the pixels' gradients. Both come as M planes, one per multiplier m
// (M == 1: the dense tensors themselves): pixel ow's gradient for multiplier m is the C values at
// gy + m * gplane + (ow - ow0) * gstride, and acc + m * taps * C is [KH, KW, C] for multiplier m.
// Per element, the pixels are summed in order, as pixel by pixel. The ISA's reduce kernel runs
// over stretches of the row whose taps all fall inside the image, each tap's sum in registers over
// the stretch, once per multiplier.
template <class T>
void depthwise_filter_row(const ConvGeometry& g, const kernels::TypedKernels<T>& k, const T* x, int64_t n,
                          int64_t oh, int64_t ow0, int64_t ow1, const T* gy, int64_t gstride, int64_t gplane, T* acc,
                          TapLists<T>& tl) {
  const int64_t H = g.h.in, W = g.w.in, C = g.in_channels, M = g.multiplier;
  const int64_t KH = g.h.kernel, KW = g.w.kernel, taps = g.taps();
  if (ow1 <= ow0 || C == 0) return;
  const int64_t s = g.w.stride, d = g.w.dilation, pad = g.w.pad_before;
  // The kernel columns [lo, hi] that land inside the image for output column ow.
  auto columns = [&](int64_t ow, int64_t* lo, int64_t* hi) {
    const int64_t first = pad - ow * s;  // kx * d >= first
    const int64_t last = W - 1 + pad - ow * s;  // kx * d <= last
    *lo = first <= 0 ? 0 : (first + d - 1) / d;
    *hi = last < 0 ? -1 : std::min(KW - 1, last / d);
  };
  tl.ky.clear();
  tl.row.clear();
  for (int64_t ky = 0; ky < KH; ++ky) {
    const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
    if (ih < 0 || ih >= H) continue;
    tl.ky.push_back(ky);
    tl.row.push_back(x + (n * H + ih) * W * C);
  }
  for (int64_t a = ow0; a < ow1;) {
    int64_t lo, hi, b = a + 1;
    columns(a, &lo, &hi);
    for (; b < ow1; ++b) {
      int64_t lo2, hi2;
      columns(b, &lo2, &hi2);
      if (lo2 != lo || hi2 != hi) break;
    }
    tl.base.clear();
    tl.step.clear();
    tl.acc.clear();
    for (size_t i = 0; i < tl.ky.size(); ++i)
      for (int64_t kx = lo; kx <= hi; ++kx) {
        tl.base.push_back(tl.row[i] + (a * s - pad + kx * d) * C);
        tl.step.push_back(b - a > 1 ? s * C : 0);
        tl.acc.push_back(acc + (tl.ky[i] * KW + kx) * C);
      }
    for (int64_t m = 0; m < M && !tl.base.empty(); ++m) {
      if (m > 0)
        for (T*& ap : tl.acc) ap += taps * C;
      k.dw_reduce(static_cast<size_t>(C), static_cast<size_t>(b - a), tl.base.size(), tl.base.data(), tl.step.data(),
                  gy + m * gplane + (a - ow0) * gstride, static_cast<size_t>(gstride), tl.acc.data());
    }
    a = b;
  }
}

// df[KH, KW, C, M] (dense) = sum over output pixels of x under each tap times dy.
template <class T>
void depthwise_filter_dense(const ConvGeometry& g, const kernels::TypedKernels<T>& k, const T* x, const T* dy,
                            T* df) {
  const int64_t C = g.in_channels, M = g.multiplier, CM = C * M, OH = g.h.out, OW = g.w.out, FS = g.taps() * CM;
  const int64_t P = g.batch * OH * OW;
  if (P == 0) {
    std::fill(df, df + FS, T(0));
    return;
  }
  // With M > 1 the sums run on planes (depthwise_filter_row), interleaved back at the end.
  std::vector<T> dy_planes, df_planes;
  T* const out = M > 1 ? (df_planes = make_buffer<T>("the depthwise filter gradient planes", FS)).data() : df;
  if (M > 1) {
    dy_planes = make_buffer<T>("the out_backprop planes", P * CM);
    split_planes(dy, P, C, M, dy_planes.data());
    dy = dy_planes.data();
  }
  const int64_t gstride = M > 1 ? C : CM;
  const int64_t tiles = (P + kReduceTile - 1) / kReduceTile;
  const int64_t parts = reduction_parts(tiles, FS);
  std::vector<T> partials = make_buffer<T>("the partial depthwise filter gradients", parts * FS);
  parallel_for(parts, work_of({(tiles + parts - 1) / parts, kReduceTile, FS}), [&](int64_t b, int64_t e) {
    TapLists<T> tl;
    for (int64_t part = b; part < e; ++part) {
      T* acc = partials.data() + part * FS;
      std::fill(acc, acc + FS, T(0));
      const int64_t p_end = std::min(P, tiles * (part + 1) / parts * kReduceTile);
      // The part's pixels in order, a stretch of one output row at a time.
      for (int64_t p = tiles * part / parts * kReduceTile; p < p_end;) {
        const int64_t ow = p % OW, stop = std::min(p_end, p - ow + OW);
        depthwise_filter_row(g, k, x, p / (OW * OH), (p / OW) % OH, ow, ow + (stop - p), dy + p * gstride, gstride,
                             P * C, acc, tl);
        p = stop;
      }
    }
  });
  sum_parts(partials.data(), parts, FS, out);
  if (M > 1) merge_planes(out, g.taps(), C, M, df);
}

// ---- conv2d ----------------------------------------------------------------------------------

// dx[N, H, W, C] from dy[N, OH, OW, O]: per input row, for each kernel row ky whose output row oh
// reaches it, cols[OW, KW*C] = dy_row(oh) [OW, O] x W_ky^T [O, KW*C] (packed GEMM), then each
// (ow, kx) column block is added to input pixel iw (col2im within the row).
template <class T>
void conv_input_dense(const ConvGeometry& g, const kernels::TypedKernels<T>& k, const Tensor<const T>& filters,
                      const T* dy, T* dx) {
  const int64_t H = g.h.in, W = g.w.in, C = g.in_channels, O = g.out_channels;
  const int64_t OW = g.w.out, KH = g.h.kernel, KW = g.w.kernel, KWC = KW * C;
  std::vector<PackedGemm<T>> packed(static_cast<size_t>(KH));
  {
    std::vector<T> bt = make_buffer<T>("the transposed conv2d filter", KH * O * KWC);
    for (int64_t ky = 0; ky < KH; ++ky)
      for (int64_t o = 0; o < O; ++o)
        for (int64_t kx = 0; kx < KW; ++kx)
          for (int64_t c = 0; c < C; ++c) bt[(ky * O + o) * KWC + kx * C + c] = at4(filters, ky, kx, c, o);
    for (int64_t ky = 0; ky < KH; ++ky)
      packed[ky] = pack_gemm<T>("the packed transposed conv2d filters", k, 1, O, KWC, bt.data() + ky * O * KWC, KWC, 1,
                                Tensor<const T>());
  }
  const kernels::Activation<T> none;
  const int64_t per_row = work_of({KH, OW, O, KWC}) / std::max<int64_t>(1, g.h.stride);
  parallel_for(g.batch * H, per_row, [&](int64_t b, int64_t e) {
    std::vector<T> cols = make_buffer<T>("the conv2d backprop-input row", OW * KWC);
    for (int64_t row = b; row < e; ++row) {
      const int64_t n = row / H, ih = row % H;
      T* d = dx + row * W * C;
      std::fill(d, d + W * C, T(0));
      if (KWC == 0) continue;
      for (int64_t ky = 0; ky < KH; ++ky) {
        const int64_t oh = source_row(g.h, ih, ky);
        if (oh < 0) continue;
        run_gemm(k, packed[ky], 1, O, KWC, OW, dy + (n * g.h.out + oh) * OW * O, O, cols.data(), KWC, none);
        for (int64_t ow = 0; ow < OW; ++ow)
          for (int64_t kx = 0; kx < KW; ++kx) {
            const int64_t iw = ow * g.w.stride - g.w.pad_before + kx * g.w.dilation;
            if (iw < 0 || iw >= W) continue;
            const T* src = cols.data() + ow * KWC + kx * C;
            T* di = d + iw * C;
            for (int64_t c = 0; c < C; ++c) di[c] += src[c];
          }
      }
    }
  });
}

// dw[KH*KW*C, O] (dense), computed transposed: dw^T [O, K] = sum over tiles of 128 pixels of
// dy_tile^T [O, tile] x im2col(x)_tile [tile, K]. The unrolled tile is built row by row (copies of
// whole channel vectors, as the forward conv2d) and packed as the GEMM's B operand; only the
// smaller dy tile is transposed.
template <class T>
void conv_filter_dense(const ConvGeometry& g, const kernels::TypedKernels<T>& k, const T* x, const T* dy, T* dw) {
  const int64_t H = g.h.in, W = g.w.in, C = g.in_channels, O = g.out_channels;
  const int64_t OH = g.h.out, OW = g.w.out, KH = g.h.kernel, KW = g.w.kernel;
  const int64_t K = g.taps() * C, FS = K * O, P = g.batch * OH * OW;
  if (P == 0 || K == 0) {
    std::fill(dw, dw + FS, T(0));
    return;
  }
  const int64_t tiles = (P + kReduceTile - 1) / kReduceTile;
  const int64_t parts = reduction_parts(tiles, FS);
  std::vector<T> partials = make_buffer<T>("the partial conv2d filter gradients", parts * FS);
  const kernels::Activation<T> none;
  const size_t packed_size = kernels::gemm_packed_size(kReduceTile, static_cast<size_t>(K), k.gemm_nr);
  parallel_for(parts, work_of({(tiles + parts - 1) / parts, kReduceTile, FS}), [&](int64_t b, int64_t e) {
    std::vector<T> cols = make_buffer<T>("the conv2d backprop-filter unrolled tile", kReduceTile * K);
    std::vector<T> dyt = make_buffer<T>("the conv2d backprop-filter transposed tile", O * kReduceTile);
    std::vector<T> packed = make_buffer<T>("the conv2d backprop-filter packed tile", static_cast<int64_t>(packed_size));
    for (int64_t part = b; part < e; ++part) {
      T* acc = partials.data() + part * FS;
      std::fill(acc, acc + FS, T(0));
      const int64_t t_end = tiles * (part + 1) / parts;
      for (int64_t t = tiles * part / parts; t < t_end; ++t) {
        const int64_t p0 = t * kReduceTile, cnt = std::min(kReduceTile, P - p0);
        // cols[q][(tap, c)] = x under tap of pixel p0 + q (0 in the padding).
        for (int64_t q = 0; q < cnt; ++q) {
          const int64_t p = p0 + q, ow = p % OW, oh = (p / OW) % OH, n = p / (OW * OH);
          for (int64_t ky = 0; ky < KH; ++ky) {
            const int64_t ih = oh * g.h.stride - g.h.pad_before + ky * g.h.dilation;
            for (int64_t kx = 0; kx < KW; ++kx) {
              const int64_t iw = ow * g.w.stride - g.w.pad_before + kx * g.w.dilation;
              T* dst = cols.data() + q * K + (ky * KW + kx) * C;
              if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                std::fill(dst, dst + C, T(0));
              else
                std::copy(x + ((n * H + ih) * W + iw) * C, x + ((n * H + ih) * W + iw + 1) * C, dst);
            }
          }
          const T* src = dy + p * O;
          for (int64_t o = 0; o < O; ++o) dyt[o * cnt + q] = src[o];
        }
        k.gemm_pack(static_cast<size_t>(cnt), static_cast<size_t>(K), cols.data(), static_cast<size_t>(K), nullptr,
                    packed.data());
        k.gemm_acc(static_cast<size_t>(O), static_cast<size_t>(K), static_cast<size_t>(cnt), dyt.data(),
                   static_cast<size_t>(cnt), packed.data(), acc, static_cast<size_t>(K), none);
      }
    }
  });
  std::vector<T> dwt = make_buffer<T>("the transposed conv2d filter gradient", FS);
  sum_parts(partials.data(), parts, FS, dwt.data());
  for (int64_t o = 0; o < O; ++o)
    for (int64_t j = 0; j < K; ++j) dw[j * O + o] = dwt[o * K + j];
}

// ---- argument checks -------------------------------------------------------------------------

std::string prefixed(const char* op, const std::string& msg) { return std::string(op) + ": " + msg; }

void check_sizes(const char* op, const char* name, const int64_t* sizes) {
  for (int i = 0; i < 4; ++i)
    if (sizes[i] < 0) fail(prefixed(op, std::string(name) + " must be non-negative, got " + shape_string(sizes, 4)));
  checked_product(name, sizes, 4);
}

template <class T>
void check_shape(const char* op, const char* name, const Tensor<T>& t, const int64_t* want, int ndim,
                 const std::string& why) {
  bool ok = t.ndim == ndim;
  for (int i = 0; ok && i < ndim; ++i) ok = t.shape[i] == want[i];
  if (!ok)
    fail(prefixed(op, std::string(name) + " must have shape " + shape_string(want, ndim) + why + ", got shape " +
                          shape_string(t.shape, t.ndim)));
  if (!t.data && checked_product(name, want, ndim) > 0)
    fail(prefixed(op, std::string(name) + " has a null data pointer"));
}

// The forward geometry, and out_backprop checked against its output shape.
template <class T>
ConvGeometry backprop_geometry(const char* op, OpKind kind, const int64_t input_shape[4], const int64_t* fshape,
                               int fndim, const int64_t* f2shape, int f2ndim, const Tensor<const T>& out_backprop,
                               const ConvParams& p) {
  const ConvGeometry g = conv_geometry(kind, input_shape, fshape, fndim, f2shape, f2ndim, p);
  int64_t want[4];
  output_shape(g, p.layout, want);
  check_shape(op, "out_backprop", out_backprop, want, 4,
              std::string(" (the forward output for input shape ") + shape_string(input_shape, 4) + " and " +
                  filter_arg_name(kind) + " shape " + shape_string(fshape, fndim) + ", " + layout_name(p.layout) + ")");
  return g;
}

template <class T>
ConvParams plain(ConvParams p) {
  p.activation = Activation::kNone;
  p.depthwise_activation = Activation::kNone;
  p.groups = 1;
  return p;
}

}  // namespace
}  // namespace detail

using namespace detail;

template <class T>
void depthwise_conv2d_backprop_input(const int64_t input_shape[4], const Tensor<const T>& filter,
                                     const Tensor<const T>& out_backprop, const Tensor<T>& input_grad,
                                     const ConvParams& params) {
  const char* op = "depthwise_conv2d_backprop_input";
  const ConvParams p = plain<T>(params);
  check_sizes(op, "input_sizes", input_shape);
  check_rank(op, "filter", filter, 4);
  const ConvGeometry g =
      backprop_geometry(op, OpKind::kDepthwise, input_shape, filter.shape, filter.ndim, nullptr, 0, out_backprop, p);
  check_shape(op, "the input gradient", input_grad, input_shape, 4, " (input_sizes)");
  const std::vector<T> f = dense_copy(filter, "the depthwise filter");
  DenseNhwc<T> dy(out_backprop, p.layout, "a dense copy of out_backprop");
  DenseOutput<T> dx(input_grad, p.layout);
  depthwise_input_dense(g, kernels::active().get<T>(), f.data(), dy.data, dx.data);
  dx.finish();
}

template <class T>
void depthwise_conv2d_backprop_filter(const Tensor<const T>& input, const int64_t filter_shape[4],
                                      const Tensor<const T>& out_backprop, const Tensor<T>& filter_grad,
                                      const ConvParams& params) {
  const char* op = "depthwise_conv2d_backprop_filter";
  const ConvParams p = plain<T>(params);
  check_sizes(op, "filter_sizes", filter_shape);
  check_rank(op, "input", input, 4);
  const ConvGeometry g =
      backprop_geometry(op, OpKind::kDepthwise, input.shape, filter_shape, 4, nullptr, 0, out_backprop, p);
  check_shape(op, "the filter gradient", filter_grad, filter_shape, 4, " (filter_sizes)");
  DenseNhwc<T> x(input, p.layout, "a dense copy of the input");
  DenseNhwc<T> dy(out_backprop, p.layout, "a dense copy of out_backprop");
  std::vector<T> df = make_buffer<T>("the depthwise filter gradient", g.taps() * g.mid_channels());
  depthwise_filter_dense(g, kernels::active().get<T>(), x.data, dy.data, df.data());
  write_strided(df.data(), filter_grad);
}

template <class T>
void conv2d_backprop_input(const int64_t input_shape[4], const Tensor<const T>& filters,
                           const Tensor<const T>& out_backprop, const Tensor<T>& input_grad, const ConvParams& params) {
  const char* op = "conv2d_backprop_input";
  const ConvParams p = plain<T>(params);
  check_sizes(op, "input_sizes", input_shape);
  check_rank(op, "filters", filters, 4);
  const ConvGeometry g =
      backprop_geometry(op, OpKind::kConv, input_shape, filters.shape, filters.ndim, nullptr, 0, out_backprop, p);
  check_shape(op, "the input gradient", input_grad, input_shape, 4, " (input_sizes)");
  const auto& k = kernels::active().get<T>();
  DenseNhwc<T> dy(out_backprop, p.layout, "a dense copy of out_backprop");
  DenseOutput<T> dx(input_grad, p.layout);
  conv_input_dense(g, k, filters, dy.data, dx.data);
  dx.finish();
}

template <class T>
void conv2d_backprop_filter(const Tensor<const T>& input, const int64_t filter_shape[4],
                            const Tensor<const T>& out_backprop, const Tensor<T>& filter_grad,
                            const ConvParams& params) {
  const char* op = "conv2d_backprop_filter";
  const ConvParams p = plain<T>(params);
  check_sizes(op, "filter_sizes", filter_shape);
  check_rank(op, "input", input, 4);
  const ConvGeometry g =
      backprop_geometry(op, OpKind::kConv, input.shape, filter_shape, 4, nullptr, 0, out_backprop, p);
  check_shape(op, "the filter gradient", filter_grad, filter_shape, 4, " (filter_sizes)");
  const auto& k = kernels::active().get<T>();
  DenseNhwc<T> x(input, p.layout, "a dense copy of the input");
  DenseNhwc<T> dy(out_backprop, p.layout, "a dense copy of out_backprop");
  std::vector<T> dw = make_buffer<T>("the conv2d filter gradient", g.taps() * g.in_channels * g.out_channels);
  conv_filter_dense(g, k, x.data, dy.data, dw.data());
  write_strided(dw.data(), filter_grad);
}

namespace {
// The activations and TensorFlow's gradients of them, as loops with the activation chosen outside
// (simple selects the compiler vectorises; random data would defeat a branch per element).
// y[j] = act(x[j]); NaN passes through, as in the forward kernels' clamp.
template <class T>
void activate(Activation a, const T* x, T* y, int64_t n) {
  switch (a) {
    case Activation::kNone:
      std::copy(x, x + n, y);
      break;
    case Activation::kRelu:
      for (int64_t j = 0; j < n; ++j) y[j] = x[j] < T(0) ? T(0) : x[j];
      break;
    case Activation::kRelu6:
      for (int64_t j = 0; j < n; ++j) y[j] = x[j] < T(0) ? T(0) : x[j] > T(6) ? T(6) : x[j];
      break;
  }
}

// g[j] = grad[j] where the activation passes the gradient at its input x[j], else 0: relu where
// x > 0, relu6 where 0 < x < 6 (TensorFlow's rules; NaN passes nothing).
template <class T>
void mask_gradient(Activation a, const T* x, const T* grad, T* g, int64_t n) {
  switch (a) {
    case Activation::kNone:
      if (g != grad) std::copy(grad, grad + n, g);
      break;
    case Activation::kRelu:
      for (int64_t j = 0; j < n; ++j) g[j] = x[j] > T(0) ? grad[j] : T(0);
      break;
    case Activation::kRelu6:
      for (int64_t j = 0; j < n; ++j) g[j] = (x[j] > T(0)) & (x[j] < T(6)) ? grad[j] : T(0);
      break;
  }
}
}  // namespace

template <class T>
void separable_conv2d_backprop(const Tensor<const T>& input, const Tensor<const T>& depthwise_filter,
                               const Tensor<const T>& pointwise_filter, const Tensor<const T>& depthwise_bias,
                               const Tensor<const T>& bias, const Tensor<const T>& out_backprop,
                               const SeparableGradients<T>& grads, const ConvParams& p) {
  const char* op = p.groups == 1 ? "separable_conv2d_backprop" : "super_separable_conv2d_backprop";
  check_rank(op, "input", input, 4);
  check_rank(op, "depthwise_filter", depthwise_filter, 4);
  check_rank(op, "pointwise_filter", pointwise_filter, 4);
  const ConvGeometry g = backprop_geometry(op, OpKind::kSeparable, input.shape, depthwise_filter.shape, 4,
                                           pointwise_filter.shape, 4, out_backprop, p);
  const int64_t C = g.in_channels, CM = g.mid_channels(), O = g.out_channels, G = p.groups;
  const int64_t kg = CM / G, og = O / G;
  check_bias(op, "depthwise_bias", depthwise_bias, CM);
  check_bias(op, "bias", bias, O);
  if (grads.input.data) check_shape(op, "the input gradient", grads.input, input.shape, 4, "");
  if (grads.depthwise_filter.data)
    check_shape(op, "the depthwise_filter gradient", grads.depthwise_filter, depthwise_filter.shape, 4, "");
  if (grads.pointwise_filter.data)
    check_shape(op, "the pointwise_filter gradient", grads.pointwise_filter, pointwise_filter.shape, 4, "");
  if (grads.depthwise_bias.data) {
    if (!depthwise_bias.data) fail(prefixed(op, "a depthwise_bias gradient was asked for without a depthwise_bias"));
    check_shape(op, "the depthwise_bias gradient", grads.depthwise_bias, depthwise_bias.shape, 1, "");
  }
  if (grads.bias.data) {
    if (!bias.data) fail(prefixed(op, "a bias gradient was asked for without a bias"));
    check_shape(op, "the bias gradient", grads.bias, bias.shape, 1, "");
  }
  const auto& k = kernels::active().get<T>();
  const int64_t P = g.batch * g.h.out * g.w.out;
  DenseNhwc<T> x(input, p.layout, "a dense copy of the input");
  DenseNhwc<T> dy(out_backprop, p.layout, "a dense copy of out_backprop");
  const DepthwiseWeights<T> dw(depthwise_filter, depthwise_bias, /*borrow=*/true);
  const Activation act1 = p.depthwise_activation, act2 = p.activation;
  const kernels::Activation<T> none;
  const int64_t OH = g.h.out, OW = g.w.out, H = g.h.in, W = g.w.in, taps = g.taps();
  const int64_t nr = static_cast<int64_t>(k.gemm_nr);
  // dD (the gradient of the depthwise output) is needed for every gradient but the pointwise
  // filter's and the bias's.
  const bool want_dd = grads.input.data || grads.depthwise_filter.data || grads.depthwise_bias.data;
  const bool want_dpw = grads.pointwise_filter.data != nullptr;
  // The forward pointwise step (only to find where the output activation passes the gradient).
  PackedGemm<T> forward;
  if (act2 != Activation::kNone)
    forward = pack_gemm<T>("the packed pointwise_filter", k, G, kg, og, pointwise_filter.data,
                           pointwise_filter.strides[2], pointwise_filter.strides[3], bias);
  // dA = dZ x PW^T per group. With many pixels PW_g^T [og, kg] is packed once as the GEMM's B
  // operand (panel by panel: each panel's nr filter rows transposed straight into the panel).
  // With few pixels packing the filter would cost more than the product (a 7x7 image at 1024
  // channels: a pass over 4 MiB for 49 pixels), so the product is computed
  // transposed instead, dA_g^T [kg, pixels] = PW_g [kg, og] x dZ_g^T [og, pixels], the filter read
  // in place as the A operand and only the small dZ tile packed. Both give every element the same
  // arithmetic (the products over o in order, from 0), so the choice does not change the bits.
  const bool da_transposed = want_dd && transposed_input_product(P, kg, og) && pointwise_filter.strides[3] == 1;
  const size_t bt_group = kernels::gemm_packed_size(static_cast<size_t>(og), static_cast<size_t>(kg), k.gemm_nr,
                                                    k.gemm_kstep);
  KeptBuffers<T, 0> kept;
  T* packed_bt = nullptr;
  if (want_dd && !da_transposed && P > 0) {
    packed_bt = kept.get(0, "the packed transposed pointwise_filter", static_cast<int64_t>(bt_group) * G);
    const int64_t panels = (kg + nr - 1) / nr;
    const size_t panel = kernels::gemm_panel_size(static_cast<size_t>(og), k.gemm_nr, k.gemm_kstep);
    parallel_for(G * panels, work_of({og, nr, 2}), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const int64_t gi = i / panels, j0 = (i % panels) * nr, nc = std::min(nr, kg - j0);
        const T* src = pointwise_filter.data + j0 * pointwise_filter.strides[2] + gi * og * pointwise_filter.strides[3];
        pack_transposed(k, og, nc, src, pointwise_filter.strides[2], pointwise_filter.strides[3],
                        packed_bt + gi * bt_group + (j0 / nr) * panel);
      }
    });
  }
  const std::vector<T> zero = make_buffer<T>("the zero row", zero_length(g));
  const InputRows<T> x_rows(x.tensor, Layout::kNHWC);
  // The depthwise filter for the input gradient, as M planes [M][KH, KW, C] (depthwise_input_rows).
  std::vector<T> dw_dense =
      grads.input.data ? dense_copy(depthwise_filter, "the depthwise filter") : std::vector<T>();
  if (grads.input.data && g.multiplier > 1) {
    std::vector<T> planes = make_buffer<T>("the depthwise filter planes", g.taps() * CM);
    split_planes(dw_dense.data(), g.taps(), C, g.multiplier, planes.data());
    dw_dense.swap(planes);
  }
  // The pointwise filter gradient [kg, O] (the layout of the result) is summed in place in the
  // result when that is dense, else in a buffer (rows dpw_ld apart) copied out at the end: by the
  // blocked transpose when the result is laid out [O, kg] (a torch weight's layout, viewed as
  // TensorFlow's), from rows an odd number of cache lines apart (at 1024 channels, rows 4 KiB apart
  // fall in one L1 set, and the transpose reading 16 of them at once ran 3x slower).
  const Tensor<T>& gpw = grads.pointwise_filter;
  const bool dpw_in_place =
      want_dpw && (kg <= 1 || gpw.strides[2] == O) && (O <= 1 || gpw.strides[3] == 1);
  const bool dpw_transposed = want_dpw && !dpw_in_place && kg > 1 && gpw.strides[2] == 1 && gpw.strides[3] >= kg;
  const int64_t dpw_ld = dpw_transposed ? spread_stride<T>(O) : O;
  T* dpw = nullptr;
  if (want_dpw)
    dpw = dpw_in_place ? gpw.data : kept.get(4, "the pointwise filter gradient", std::max<int64_t>(1, kg * dpw_ld));
  // Per part: the [O] bias, [C*M] depthwise bias and [KH, KW, C, M] depthwise filter partial
  // gradients (the last as M planes [M][KH, KW, C] when M > 1).
  const int64_t FS = O + CM + taps * CM;
  std::vector<T> sums = make_buffer<T>("the separable gradients", FS);
  std::optional<DenseOutput<T>> dx_out;
  if (grads.input.data) dx_out.emplace(grads.input, p.layout);
  if (P == 0) {
    if (dx_out) std::fill(dx_out->data, dx_out->data + g.batch * H * W * C, T(0));
    if (dpw)
      for (int64_t j = 0; j < kg; ++j) std::fill(dpw + j * dpw_ld, dpw + j * dpw_ld + O, T(0));
  } else {
    // Units of output pixels: a band of `br` rows and `bc` columns of one image (about 1024 pixels;
    // whole rows unless they are long), set by the problem alone. A unit owns its output pixels (for
    // the sums over pixels) and the input pixels from its first output pixel's window origin to the
    // next unit's (for the input gradient); it recomputes the forward pass and the gradient of the
    // depthwise output on its own pixels plus the halo of rows and columns its input pixels need, in
    // per-thread buffers.
    // (At least 4 halos wide, so that the recomputed halo stays a small share of a unit's work.)
    const int64_t halo_r = std::min(OH, (g.h.kernel - 1) * g.h.dilation / g.h.stride + 1);
    const int64_t halo_c = std::min(OW, (g.w.kernel - 1) * g.w.dilation / g.w.stride + 1);
    // The bands of an axis are then made as even as the halo allows (56 rows were bands of 18, 18,
    // 18 and 2; now 14 each: at 2 threads a block of two units was 18 rows on one thread and 2 on
    // the other).
    auto even = [](int64_t extent, int64_t band, int64_t least) {
      const int64_t bands = (extent + band - 1) / band, even_band = (extent + bands - 1) / bands;
      return even_band >= least ? even_band : band;
    };
    const int64_t bc = even(OW, std::min<int64_t>(OW, std::max<int64_t>(512, 4 * halo_c)), 4 * halo_c);
    const int64_t br =
        even(OH, std::max<int64_t>(1, std::min<int64_t>(OH, std::max<int64_t>(1024 / bc, 4 * halo_r))), 4 * halo_r);
    const int64_t nrb = (OH + br - 1) / br, ncb = (OW + bc - 1) / bc, units = g.batch * nrb * ncb;
    // The small sums: part q sums units q, q + parts, q + 2 * parts, ... in that order (a function
    // of the problem only), so that any run of `parts` consecutive units goes to `parts` threads.
    const int64_t parts = reduction_parts(units, FS);
    std::vector<T> partials =
        parts > 1 ? make_buffer<T>("the partial separable gradients", parts * FS) : std::vector<T>();
    T* const part_sums = parts > 1 ? partials.data() : sums.data();
    // The pointwise filter gradient, dPW_g [kg, og] = sum over pixels of A_g^T x dZ_g, is one GEMM
    // whose K is the pixels: units are taken in blocks, each block's A^T [CM, pixels] kept (at
    // most kBlockBytesMax, or the threads' units), and after each block dPW += A_block^T x dZ_block,
    // its row tiles split between threads. Every element sums the pixels in unit order, then in each
    // unit's order, continuing in registers or from the value stored (exactly) in dPW, so the block
    // size (which depends on the thread count) does not change the bits, and no partial copy of
    // dPW (megabytes for a wide layer) is ever made.
    const int64_t threads = threads_for_call();
    const int64_t unit_pixels = br * bc;
    int64_t units_per_block = units;
    if (want_dpw) {
      const int64_t budget =
          std::min(kBlockBytesMax, std::max(kBlockBytesMin, work_of({2, kg, O, int64_t(sizeof(T))})));
      units_per_block = std::max<int64_t>(1, budget / std::max<int64_t>(1, unit_pixels * CM * int64_t(sizeof(T))));
      units_per_block = std::min(units, std::max(units_per_block, threads));
    }
    // dZ of a block's pixels is out_backprop itself (rows of consecutive pixels) without an output
    // activation when units are whole rows; else it is gathered per block.
    const bool dz_gathered = want_dpw && (act2 != Activation::kNone || ncb > 1);
    const int64_t block_pixels_max = std::min(P, units_per_block * unit_pixels);
    // With few outputs per group (at most two panels: rows of dZ 256-512 bytes apart for float32)
    // the product reads dZ where it is: its panels would be dZ's own rows copied, a pass over
    // megabytes (12544 pixels x 64 outputs: 13% of the backward pass's samples). In a C++ benchmark
    // of dPW's product alone (one thread), read in place against pack + product: 12544 x 64 (32
    // rows of dPW) 1.6x faster, 3136 x 128 1.10x. Wider rows gain less or lose (3136 x 384 1.13x
    // alone, but mnv1_28x256_s1's and convnext_56x96_k7's training steps level within the noise,
    // 0.96-1.04; 361 x 728 0.90x; 2048 x 1024 0.41x, rows a page apart), so they are packed. The
    // same arithmetic either way (gemm_acc_rows), from a result zeroed first instead of the packed
    // zero bias row.
    const bool dz_in_place = want_dpw && og % 16 == 0 && og <= 2 * nr;
    T *at_block = nullptr, *dz_block = nullptr, *packed_dz = nullptr;
    if (want_dpw)
      at_block = kept.get(1, "the separable backprop block of A^T", spread_stride<T>(block_pixels_max) * CM);
    if (dz_gathered) dz_block = kept.get(2, "the separable backprop block of dZ", block_pixels_max * O);
    if (dz_in_place)
      for (int64_t j = 0; j < kg; ++j) std::fill(dpw + j * dpw_ld, dpw + j * dpw_ld + O, T(0));
    else if (want_dpw)
      packed_dz = kept.get(3, "the separable backprop packed block of dZ",
                           static_cast<int64_t>(kernels::gemm_packed_size(static_cast<size_t>(block_pixels_max),
                                                                          static_cast<size_t>(og), k.gemm_nr,
                                                                          k.gemm_kstep)) * G);
    // Rows per GEMM call in dA (pixels) and dPW (channels): the [rows, width] result within about
    // 768 KiB, which L2 holds with a panel of B, in whole microtiles.
    const int64_t mr = static_cast<int64_t>(k.gemm_mr);
    const int64_t da_tile = std::max(mr, kL2Tile / int64_t(sizeof(T)) / std::max<int64_t>(1, kg) / mr * mr);
    // (dPW's row tiles are also cut so that every thread gets one.)
    const int64_t pw_tile = std::max(mr, std::min(kL2Tile / int64_t(sizeof(T)) / std::max<int64_t>(1, og) / mr * mr,
                                                  (kg + threads - 1) / threads + mr - 1) / mr * mr);
    // Input pixels [lo, hi) along an axis owned by band b of `bands` (output indices [o0, o1)), and
    // the output indices [e0, e1) that reach them, widened to hold [o0, o1).
    auto span = [](const AxisGeometry& a, int64_t b, int64_t bands, int64_t o0, int64_t o1, int64_t* lo, int64_t* hi,
                   int64_t* e0, int64_t* e1) {
      *lo = b == 0 ? 0 : std::min(a.in, std::max<int64_t>(0, o0 * a.stride - a.pad_before));
      *hi = b == bands - 1 ? a.in : std::min(a.in, std::max<int64_t>(0, o1 * a.stride - a.pad_before));
      *e0 = o0, *e1 = o1;
      if (*hi > *lo) {
        const int64_t first = *lo + a.pad_before - (a.kernel - 1) * a.dilation;  // o * stride >= first
        const int64_t need0 = first <= 0 ? 0 : (first + a.stride - 1) / a.stride;
        const int64_t need1 = std::min(a.out, (*hi - 1 + a.pad_before) / a.stride + 1);
        *e0 = std::min(*e0, need0), *e1 = std::max(*e1, need1);
      }
    };
    // The most pixels a unit computes (its own and the halo's): each thread's unit buffers.
    int64_t unit_r = 0, unit_q = 0;
    for (int64_t rb = 0; rb < nrb; ++rb) {
      int64_t lo, hi, e0, e1;
      span(g.h, rb, nrb, rb * br, std::min(OH, (rb + 1) * br), &lo, &hi, &e0, &e1);
      unit_r = std::max(unit_r, e1 - e0);
    }
    for (int64_t cb = 0; cb < ncb; ++cb) {
      int64_t lo, hi, e0, e1;
      span(g.w, cb, ncb, cb * bc, std::min(OW, (cb + 1) * bc), &lo, &hi, &e0, &e1);
      unit_q = std::max(unit_q, e1 - e0);
    }
    const int64_t unit_rp = unit_r * unit_q;
    auto owned_pixels = [&](int64_t u) {
      const int64_t rb = (u / ncb) % nrb, cb = u % ncb;
      return (std::min(OH, (rb + 1) * br) - rb * br) * (std::min(OW, (cb + 1) * bc) - cb * bc);
    };
    const int64_t unit_work = work_of({unit_pixels, CM, taps + 3 * og});
    std::vector<int64_t> offsets;
    for (int64_t u0 = 0; u0 < units; u0 += units_per_block) {
      const int64_t u1 = std::min(units, u0 + units_per_block);
      // Column of A^T (row of dZ) where each unit's owned pixels start in the block.
      offsets.assign(1, 0);
      for (int64_t u = u0; u < u1; ++u) offsets.push_back(offsets.back() + owned_pixels(u));
      const int64_t PB = offsets.back();
      const int64_t lda_at = spread_stride<T>(PB);  // A^T's row stride in the block
      // Segment s: the units u0 + s, u0 + s + parts, ... of the block (all in part (u0 + s) % parts).
      const int64_t segments = std::min(parts, u1 - u0);
      // A block of one unit (a small image) runs on the calling thread, which then splits the unit's
      // dA product between the threads (rows of the result: the same bits); otherwise the segments go
      // to the threads.
      const bool one_unit = segments == 1;
      auto gemm_rows = [&](int64_t rows, int64_t tile, int64_t work_per_row, auto&& body) {
        const int64_t tiles = (rows + tile - 1) / tile;
        auto run = [&](int64_t b, int64_t e) {
          for (int64_t t = b; t < e; ++t) body(t * tile, std::min(tile, rows - t * tile));
        };
        if (one_unit) parallel_for(tiles, work_of({tile, work_per_row}), run);
        else run(0, tiles);
      };
      auto phase1 = [&](int64_t b, int64_t e) {
        DwScratch<T> s;
        TapLists<T> tl;
        // The unit's buffers, kept by the thread (sized for the largest unit: RP <= unit_rp).
        KeptBuffers<T, 1> scratch;
        T* const mid = scratch.get(0, "the separable backprop depthwise output", unit_rp * CM);
        T* const act_mid =
            act1 != Activation::kNone ? scratch.get(1, "the separable backprop activations", unit_rp * CM) : nullptr;
        T* const dzbuf = scratch.get(2, "the separable backprop dZ", unit_rp * O);
        T* const dd = want_dd ? scratch.get(3, "the separable backprop dD", unit_rp * CM) : nullptr;
        T* const dd_planes =
            want_dd && g.multiplier > 1 ? scratch.get(4, "the separable backprop dD planes", unit_rp * CM) : nullptr;
        T* const ddt = da_transposed ? scratch.get(5, "the separable backprop dA^T", kg * spread_stride<T>(unit_rp))
                                     : nullptr;
        T* const packed = da_transposed ? scratch.get(6, "the separable backprop packed dZ^T",
                                                      static_cast<int64_t>(kernels::gemm_packed_size(
                                                          static_cast<size_t>(og), static_cast<size_t>(unit_rp),
                                                          k.gemm_nr, k.gemm_kstep)))
                                        : nullptr;
        // A unit that is the whole block runs on the calling thread (phase1(0, 1)); its steps that
        // go row by row (the depthwise recompute, A^T, the input gradient) are then split between
        // the threads, each chunk with scratch of its own; each row's arithmetic is the same.
        // Otherwise the unit's thread does them all, with its own scratch.
        auto split_rows = [&](int64_t count, int64_t work_per_row, auto&& body) {
          if (!one_unit || count <= 1) {
            body(int64_t(0), count, s, tl);
            return;
          }
          parallel_for(count, work_per_row, [&](int64_t b0, int64_t e0) {
            DwScratch<T> sc;
            TapLists<T> tls;
            body(b0, e0, sc, tls);
          });
        };
        for (int64_t seg = b; seg < e; ++seg)
          for (int64_t u = u0 + seg; u < u1; u += parts) {
            T* db = part_sums + (u % parts) * FS;
            T* ddb = db + O;
            T* ddf = ddb + CM;
            const int64_t n = u / (nrb * ncb), rb = (u / ncb) % nrb, cb = u % ncb;
            const int64_t r0 = rb * br, r1 = std::min(OH, r0 + br), c0 = cb * bc, c1 = std::min(OW, c0 + bc);
            int64_t ih0, ih1, er0, er1, iw0, iw1, ec0, ec1;
            span(g.h, rb, nrb, r0, r1, &ih0, &ih1, &er0, &er1);
            span(g.w, cb, ncb, c0, c1, &iw0, &iw1, &ec0, &ec1);
            const int64_t R = er1 - er0, Q = ec1 - ec0, RP = R * Q;
            // The forward pass: D = depthwise + bias, A = act1(D).
            split_rows(R, work_of({Q, CM, taps}), [&](int64_t i0, int64_t i1, DwScratch<T>& sc, TapLists<T>&) {
              for (int64_t i = i0; i < i1; ++i)
                depthwise_pixels(g, k, x_rows, zero.data(), dw, none, (n * OH + er0 + i) * OW + ec0, Q,
                                 mid + i * Q * CM, sc);
            });
            const T* a = mid;
            if (act1 != Activation::kNone) {
              activate(act1, mid, act_mid, RP * CM);
              a = act_mid;
            }
            // A^T of the unit's own pixels into the block while A is still in L2 (not after the dA
            // product, which streams dZ and dD through it): a row of pixels at a time, or all at
            // once when the unit's rows are whole (its own pixels are then consecutive, and a tall
            // transpose leaves fewer of them to the element-by-element tail).
            const int64_t off = offsets[u - u0];
            if (want_dpw) {
              if (c1 - c0 == Q) {
                // (In runs of 64 pixels: whole 4x4 blocks of the transpose.)
                const T* a0 = a + (r0 - er0) * Q * CM;
                const int64_t pixels = (r1 - r0) * Q, runs = (pixels + 63) / 64;
                split_rows(runs, work_of({64, CM}), [&](int64_t b0, int64_t e0, DwScratch<T>&, TapLists<T>&) {
                  const int64_t p0 = b0 * 64, p1 = std::min(pixels, e0 * 64);
                  transpose(a0 + p0 * CM, p1 - p0, CM, CM, 1, at_block + off + p0, lda_at);
                });
              } else
                for (int64_t oh = r0, q = off; oh < r1; ++oh, q += c1 - c0)
                  transpose(a + ((oh - er0) * Q + (c0 - ec0)) * CM, c1 - c0, CM, CM, 1, at_block + q, lda_at);
            }
            // dZ = dY where act2 passes it (Z = A x PW + bias computed only then), row stride O:
            // out_backprop itself when the unit's rows are whole and there is no act2.
            const T* dz;
            if (act2 == Activation::kNone && Q == OW) {
              dz = dy.data + (n * OH + er0) * OW * O;
            } else {
              if (act2 != Activation::kNone) run_gemm(k, forward, G, kg, og, RP, a, CM, dzbuf, O, none);
              for (int64_t i = 0; i < R; ++i) {
                const T* src = dy.data + ((n * OH + er0 + i) * OW + ec0) * O;
                T* dst = dzbuf + i * Q * O;
                mask_gradient(act2, dst, src, dst, Q * O);  // dst holds Z, or nothing yet without act2
              }
              dz = dzbuf;
            }
            // dA = dZ x PW^T per group, then dD = dA where act1 passes it.
            if (want_dd) {
              if (!da_transposed) {
                // In row tiles whose [rows, kg] result stays in L2 across the k-blocks; a unit
                // that is the whole block (a small image) in a share per thread (784 pixels at 256
                // channels were one tile of 768 rows and one of 16: the product ran on one thread).
                T* ddw = dd;
                const int64_t tile =
                    one_unit ? std::min(da_tile, std::max(mr, (RP + threads - 1) / threads + mr - 1) / mr * mr)
                             : da_tile;
                gemm_rows(RP, tile, work_of({CM, og}), [&](int64_t i0, int64_t rows) {
                  for (int64_t gi = 0; gi < G; ++gi)
                    k.gemm(static_cast<size_t>(rows), static_cast<size_t>(kg), static_cast<size_t>(og),
                           dz + i0 * O + gi * og, static_cast<size_t>(O), packed_bt + gi * bt_group,
                           ddw + i0 * CM + gi * kg, static_cast<size_t>(CM), none);
                });
              } else {
                const int64_t ldt = spread_stride<T>(RP);
                for (int64_t gi = 0; gi < G; ++gi) {
                  pack_transposed(k, og, RP, dz + gi * og, O, 1, packed);
                  gemm_rows(kg, std::max(mr, (kg + threads - 1) / threads + mr - 1) / mr * mr, work_of({RP, og}),
                            [&](int64_t j0, int64_t rows) {
                              k.gemm(static_cast<size_t>(rows), static_cast<size_t>(RP), static_cast<size_t>(og),
                                     pointwise_filter.data + j0 * pointwise_filter.strides[2] + gi * og,
                                     static_cast<size_t>(pointwise_filter.strides[2]), packed, ddt + j0 * ldt,
                                     static_cast<size_t>(ldt), none);
                            });
                  transpose(ddt, kg, RP, ldt, 1, dd + gi * kg, CM);
                }
              }
              mask_gradient(act1, mid, dd, dd, RP * CM);
            }
            // The biases' sums over the unit's own pixels, in order; dZ of those pixels into the
            // block, a row of them at a time.
            for (int64_t oh = r0, q = off; oh < r1; ++oh, q += c1 - c0) {
              const int64_t rs = (oh - er0) * Q + (c0 - ec0);  // the row's first pixel in the unit
              for (int64_t r = rs; r < rs + (c1 - c0); ++r) {
                if (grads.bias.data) {
                  const T* dzq = dz + r * O;
                  for (int64_t o = 0; o < O; ++o) db[o] += dzq[o];
                }
                if (grads.depthwise_bias.data) {
                  const T* ddq = dd + r * CM;
                  for (int64_t j = 0; j < CM; ++j) ddb[j] += ddq[j];
                }
              }
              if (dz_gathered) std::copy(dz + rs * O, dz + (rs + c1 - c0) * O, dz_block + q * O);
            }
            if (!want_dd) continue;
            // dD as M planes when M > 1 (depthwise_filter_row, depthwise_input_rows).
            const T* ddp = dd;
            int64_t dd_stride = CM, dd_plane = 0;
            if (g.multiplier > 1) {
              split_planes(dd, RP, C, g.multiplier, dd_planes);
              ddp = dd_planes;
              dd_stride = C;
              dd_plane = RP * C;
            }
            // The depthwise filter gradient over the unit's own pixels, row by row (each element sums
            // the pixels in order, as the unfused op; planes [M][KH, KW, C] when M > 1).
            if (grads.depthwise_filter.data)
              for (int64_t oh = r0; oh < r1; ++oh)
                depthwise_filter_row(g, k, x.data, n, oh, c0, c1, ddp + ((oh - er0) * Q + (c0 - ec0)) * dd_stride,
                                     dd_stride, dd_plane, ddf, tl);
            // The input gradient of the unit's input pixels, from the rows and columns of dD that
            // reach them (depthwise_input_rows' order: the same bits as the unfused op).
            if (dx_out)
              split_rows(ih1 - ih0, work_of({iw1 - iw0, CM, taps}),
                         [&](int64_t b0, int64_t e0, DwScratch<T>&, TapLists<T>& tls) {
                           depthwise_input_rows(g, k, dw_dense.data(), ddp, dd_plane, n, er0, R, ec0, Q, ih0 + b0,
                                                ih0 + e0, iw0, iw1, dx_out->data, tls);
                         });
          }
      };
      if (one_unit)
        phase1(0, 1);
      else
        parallel_for(segments, work_of({(u1 - u0 + segments - 1) / segments, unit_work}), phase1);
      if (!want_dpw) continue;
      // dPW += A_block^T x dZ_block per group: dZ_block packed whole (as the forward pass packs its
      // filter), then row tiles of A^T whose [rows, og] result stays in L2 across the k-blocks.
      const T* dzb = dz_gathered ? dz_block : dy.data + (u0 / (nrb * ncb) * OH + (u0 / ncb) % nrb * br) * OW * O;
      const int64_t row_tiles = (kg + pw_tile - 1) / pw_tile;
      if (dz_in_place) {
        parallel_for(G * row_tiles, work_of({pw_tile, og, PB}), [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) {
            const int64_t gi = i / row_tiles, r0 = (i % row_tiles) * pw_tile;
            k.gemm_acc_rows(static_cast<size_t>(std::min(pw_tile, kg - r0)), static_cast<size_t>(og),
                            static_cast<size_t>(PB), at_block + (gi * kg + r0) * lda_at, static_cast<size_t>(lda_at),
                            dzb + gi * og, static_cast<size_t>(O), dpw + r0 * dpw_ld + gi * og,
                            static_cast<size_t>(dpw_ld));
          }
        });
        continue;
      }
      const size_t dz_group = kernels::gemm_packed_size(static_cast<size_t>(PB), static_cast<size_t>(og), k.gemm_nr,
                                                        k.gemm_kstep);
      const size_t dz_panel = kernels::gemm_panel_size(static_cast<size_t>(PB), k.gemm_nr, k.gemm_kstep);
      // In one run of whole panels per thread: gemm_pack reads B a row at a time across its panels
      // (a panel at a time, the rows of a 1024-wide dZ were a page apart).
      const int64_t dz_panels = (og + nr - 1) / nr;
      const int64_t dz_runs = std::min<int64_t>(dz_panels, threads);
      const int64_t run_panels = (dz_panels + dz_runs - 1) / dz_runs;
      parallel_for(G * dz_runs, work_of({PB, run_panels * nr, 4}), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const int64_t gi = i / dz_runs, j0 = (i % dz_runs) * run_panels * nr;
          if (j0 >= og) continue;
          k.gemm_pack(static_cast<size_t>(PB), static_cast<size_t>(std::min(run_panels * nr, og - j0)),
                      dzb + gi * og + j0, static_cast<size_t>(O), nullptr,
                      packed_dz + gi * dz_group + (j0 / nr) * dz_panel);
        }
      });
      // The first product starts from the packed zero bias row: the same bits as adding to zeros.
      const auto product = u0 == 0 ? k.gemm : k.gemm_acc;
      parallel_for(G * row_tiles, work_of({pw_tile, og, PB}), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const int64_t gi = i / row_tiles, r0 = (i % row_tiles) * pw_tile;
          product(static_cast<size_t>(std::min(pw_tile, kg - r0)), static_cast<size_t>(og), static_cast<size_t>(PB),
                  at_block + (gi * kg + r0) * lda_at, static_cast<size_t>(lda_at), packed_dz + gi * dz_group,
                  dpw + r0 * dpw_ld + gi * og, static_cast<size_t>(dpw_ld), none);
        }
      });
    }
    if (parts > 1) sum_parts(partials.data(), parts, FS, sums.data());
  }
  if (dpw_transposed)
    transpose(dpw, kg, O, dpw_ld, 1, gpw.data, gpw.strides[3]);
  else if (want_dpw && !dpw_in_place)
    write_strided(dpw, gpw);
  if (grads.bias.data) write_strided(sums.data(), grads.bias);
  if (grads.depthwise_bias.data) write_strided(sums.data() + O, grads.depthwise_bias);
  if (grads.depthwise_filter.data) {
    const T* ddf = sums.data() + O + CM;
    std::vector<T> merged;
    if (g.multiplier > 1) {
      merged = make_buffer<T>("the depthwise filter gradient", taps * CM);
      merge_planes(ddf, taps, C, g.multiplier, merged.data());
      ddf = merged.data();
    }
    write_strided(ddf, grads.depthwise_filter);
  }
  if (dx_out) dx_out->finish();
}

#define SEPCPP_INSTANTIATE(T)                                                                                        \
  template void depthwise_conv2d_backprop_input<T>(const int64_t*, const Tensor<const T>&, const Tensor<const T>&,   \
                                                   const Tensor<T>&, const ConvParams&);                             \
  template void depthwise_conv2d_backprop_filter<T>(const Tensor<const T>&, const int64_t*, const Tensor<const T>&,  \
                                                    const Tensor<T>&, const ConvParams&);                            \
  template void conv2d_backprop_input<T>(const int64_t*, const Tensor<const T>&, const Tensor<const T>&,             \
                                         const Tensor<T>&, const ConvParams&);                                       \
  template void conv2d_backprop_filter<T>(const Tensor<const T>&, const int64_t*, const Tensor<const T>&,            \
                                          const Tensor<T>&, const ConvParams&);                                      \
  template void separable_conv2d_backprop<T>(const Tensor<const T>&, const Tensor<const T>&, const Tensor<const T>&, \
                                             const Tensor<const T>&, const Tensor<const T>&, const Tensor<const T>&, \
                                             const SeparableGradients<T>&, const ConvParams&);
SEPCPP_INSTANTIATE(float)
SEPCPP_INSTANTIATE(double)
#undef SEPCPP_INSTANTIATE

}  // namespace sepcpp
