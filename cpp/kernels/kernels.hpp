// The microkernel ABI: one function-pointer type per kernel family, raw pointers and sizes only.
// Each ISA file (scalar.cc, avx2.cc, avx512.cc) fills one KernelTable; dispatch.cc picks the
// table once, from the CPU's features or SEPCPP_ISA.
#pragma once

#include <cstddef>
#include <string>

#include "sepcpp/bfloat16.hpp"

namespace sepcpp {
namespace kernels {

// Output clamp applied in every epilogue (after the bias). `clamp` false means no activation.
// NaN passes through the clamp unchanged.
template <class T>
struct Activation {
  bool clamp = false;
  T lo = 0, hi = 0;
};

// Depthwise over `pixels` consecutive output pixels of one row, all `channels` channels.
//   Tap t of pixel p reads the `channels` input values at tap_base[t] + p * tap_step[t] (a zero
//   buffer with step 0 stands in for a padded tap); weights is [taps][channels]; bias is
//   [channels] or null. out + p * out_pixel_stride receives pixel p's channels.
// Per output element the arithmetic is fixed: acc = bias (or 0), then acc += in*w for t = 0..taps-1
// in order; so results do not depend on how the work is split between threads.
template <class T>
using DwconvFn = void (*)(size_t channels, size_t pixels, size_t taps, const T* const* tap_base,
                          const ptrdiff_t* tap_step, const T* weights, const T* bias, T* out,
                          size_t out_pixel_stride, const Activation<T>& act);

// The same depthwise step for the interior of a row at horizontal stride 1 and dilation 1, where
// the kw taps of a kernel row are kw consecutive input pixels: kernel row ky of pixel p reads
// rows[ky] + (p + kx) * channels, kx = 0..kw-1 (a padded row points at zeros at least
// (pixels + kw - 1) * channels long). A window of input vectors slides along the kernel row, so
// each tap loads one new input vector. Per output element the arithmetic is exactly DwconvFn's.
// DwconvRowFn computes pixels in tiles of kDwRowTile (6: twelve independent accumulator chains with
// two vectors of channels), then one tile of 4 and one of 2 for what is left, then one by one: runs
// whose length is even waste nothing, and edge runs are cut to multiples of kDwRowEdgeTile.
constexpr size_t kDwRowTile = 6;
constexpr size_t kDwRowEdgeTile = 4;

template <class T>
using DwconvRowFn = void (*)(size_t channels, size_t pixels, size_t kh, size_t kw, const T* const* rows,
                             const T* weights, const T* bias, T* out, size_t out_pixel_stride,
                             const Activation<T>& act);

// The depthwise input gradient's step (a gather): out + p * out_pixel_stride receives, for every
// channel c, the sum over t = 0..taps-1 in order of tap_base[t][p * tap_step[t] + c] *
// tap_weight[t][c], started from 0 (taps == 0 writes zeros). Each tap has its own weight vector, so
// the caller lists only the taps that reach the pixels (no zeros read for the others). Per element:
// acc = 0, then acc = fma(in, w, acc) for t in order, however the pixels are cut.
template <class T>
using DwGatherFn = void (*)(size_t channels, size_t pixels, size_t taps, const T* const* tap_base,
                            const ptrdiff_t* tap_step, const T* const* tap_weight, T* out, size_t out_pixel_stride);

// The depthwise filter gradient's step (a reduction): for every tap t and channel c,
// tap_acc[t][c] += sum over p = 0..pixels-1 in order of tap_base[t][p * tap_step[t] + c] *
// grad[p * grad_pixel_stride + c]. Per element: acc = fma(in, grad, acc) for p in order (the
// accumulators are stored back exactly, so cutting the pixels into calls changes nothing).
template <class T>
using DwReduceFn = void (*)(size_t channels, size_t pixels, size_t taps, const T* const* tap_base,
                            const ptrdiff_t* tap_step, const T* grad, size_t grad_pixel_stride, T* const* tap_acc);

// C[rows, cols] = act(A[rows, k] * B[k, cols] + bias), B packed by the matching GemmPackFn.
// Per output element: acc = bias, then acc += a*b for kk = 0..k-1 in order (bfloat16: in float32,
// rounded once when stored; with VDPBF16PS the two products of a pair are added in the
// instruction's order).
template <class T>
using GemmFn = void (*)(size_t rows, size_t cols, size_t k, const T* a, size_t a_row_stride,
                        const T* packed_b, T* c, size_t c_row_stride, const Activation<T>& act);

// C[rows, cols] += A[rows, k] * B[k, cols] with B as it is (row stride b_row_stride), not packed;
// cols a multiple of the kernel's vector width (gemm_acc_rows in kernels-inl.hpp). For float32 and
// float64 (the backward pass's types): a bfloat16 C would round the partial sums between k-blocks.
template <class T>
using GemmRowsFn = void (*)(size_t rows, size_t cols, size_t k, const T* a, size_t a_row_stride, const T* b,
                            size_t b_row_stride, T* c, size_t c_row_stride);

// Packs B[k, cols] (row stride b_row_stride) and bias[cols] (or null) into panels of `nr` columns:
// per panel, one bias row then k rows, zero-padded to nr. Returns nothing; the buffer must hold
// gemm_packed_size(k, cols, nr, kstep) elements.
//   A kernel that takes k in steps of `kstep` rows (bfloat16 pairs for VDPBF16PS: kstep 2) packs a
// panel as kstep bias rows (the bias in float32, nr floats) then k rows rounded up to a multiple of
// kstep, the rows of a step interleaved per column; kstep 1 is the layout above.
template <class T>
using GemmPackFn = void (*)(size_t k, size_t cols, const T* b, size_t b_row_stride,
                            const T* bias, T* packed);

// Elements of one packed panel, and of the whole packed matrix.
inline size_t gemm_panel_size(size_t k, size_t nr, size_t kstep = 1) {
  return ((k + kstep - 1) / kstep * kstep + kstep) * nr;
}
inline size_t gemm_packed_size(size_t k, size_t cols, size_t nr, size_t kstep = 1) {
  return (cols + nr - 1) / nr * gemm_panel_size(k, nr, kstep);
}

template <class T>
struct TypedKernels {
  DwconvFn<T> dwconv = nullptr;
  DwconvRowFn<T> dwconv_row = nullptr;
  DwGatherFn<T> dw_gather = nullptr;
  DwReduceFn<T> dw_reduce = nullptr;
  GemmFn<T> gemm = nullptr;
  GemmFn<T> gemm_acc = nullptr;  // C += A * B: C is read first and the packed bias row is not used
  GemmRowsFn<T> gemm_acc_rows = nullptr;  // gemm_acc with B read in place
  GemmPackFn<T> gemm_pack = nullptr;
  size_t gemm_mr = 1;  // rows per microtile: row tiles that are multiples of it waste nothing
  size_t gemm_nr = 1;  // columns per packed panel
  size_t gemm_kstep = 1;  // rows of k per packed step (gemm_panel_size)
};

// Runs `iters` rounds of independent FMA chains (enough of them to cover the FMA latency) and
// returns a value that depends on all of them; flops = iters * fma_peak_flops_per_iter.
using FmaPeakFn = float (*)(long iters);

struct KernelTable {
  const char* isa = "none";
  FmaPeakFn fma_peak = nullptr;
  double fma_peak_flops_per_iter = 0;
  TypedKernels<float> f32;
  TypedKernels<double> f64;
  TypedKernels<bfloat16> bf16;  // bfloat16 memory, float32 arithmetic
  template <class T>
  const TypedKernels<T>& get() const;
};

template <>
inline const TypedKernels<float>& KernelTable::get<float>() const { return f32; }
template <>
inline const TypedKernels<double>& KernelTable::get<double>() const { return f64; }
template <>
inline const TypedKernels<bfloat16>& KernelTable::get<bfloat16>() const { return bf16; }

// Filled by the ISA files.
void fill_scalar(KernelTable& table);
void fill_avx2(KernelTable& table);
void fill_avx512(KernelTable& table);
void fill_avx512_bf16(KernelTable& table);  // avx512's kernels, with VDPBF16PS for the bfloat16 GEMM
void fill_amx_bf16(KernelTable& table);     // avx512_bf16's, with AMX tiles for the bfloat16 GEMM
// avx512_bf16's bfloat16 depthwise kernels (rounding with VCVTNEPS2BF16; avx512_bf16_dw.cc).
void fill_avx512_bf16_depthwise(TypedKernels<bfloat16>& k);

// The table in use (resolved on first call).
const KernelTable& active();

}  // namespace kernels
}  // namespace sepcpp

namespace sepcpp {
namespace kernels {
void set_active(const std::string& name);
const KernelTable& find(const std::string& name);  // throws std::invalid_argument
std::string compiled_names();
std::string available_names();
}  // namespace kernels
}  // namespace sepcpp
