// conv2d: tiles of output pixels are unrolled (im2col) into a per-thread [tile][KH*KW*C] buffer
// that stays in L2, then one GEMM with the filter, packed at layer construction as the
// [KH*KW*C, O] matrix the unrolled rows multiply.
#include <cstring>

#include "activation.hpp"
#include "depthwise_rows.hpp"
#include "gemm.hpp"
#include "layer.hpp"
#include "memory.hpp"
#include "parallel.hpp"
#include "tensor_view.hpp"

namespace sepcpp {
namespace detail {

namespace {
// Where padded taps are left out (leave_out_padded_taps: an infinity or NaN in a float32 filter),
// the GEMM's 0 x Inf = NaN over the padding must not reach the output: output pixel (oh, ow)'s columns [c0, c1) are
// recomputed from the taps inside the input only, reading the packed filter (panels of nr columns,
// a bias row then K rows), in the GEMM's order per element (bias, then k = 0..K-1).
template <class T>
void conv_pixel_exact(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const RowSet<T>& rows,
                      int64_t oh, int64_t ow, int64_t c0, int64_t c1, const kernels::Activation<T>& act, T* out,
                      std::vector<T>& acc) {
  const int64_t C = g.in_channels, KW = g.w.kernel, K = L.kg;
  const int64_t nr = static_cast<int64_t>(L.table->template get<T>().gemm_nr);
  int64_t ky0, ky1, kx0, kx1;
  valid_range(g.h, oh, &ky0, &ky1);
  valid_range(g.w, ow, &kx0, &kx1);
  acc.resize(static_cast<size_t>(nr));
  for (int64_t j0 = c0 / nr * nr; j0 < c1; j0 += nr) {
    const T* panel = L.gemm.data.data() + (j0 / nr) * (K + 1) * nr;
    const int64_t lo = std::max(c0, j0) - j0, hi = std::min(c1, j0 + nr) - j0;
    for (int64_t j = lo; j < hi; ++j) acc[j] = panel[j];
    for (int64_t ky = ky0; ky < ky1; ++ky)
      for (int64_t kx = kx0; kx < kx1; ++kx) {
        const int64_t iw = ow * g.w.stride - g.w.pad_before + kx * g.w.dilation;
        const T* x = rows.at(ky, iw);
        const T* b = panel + ((ky * KW + kx) * C + 1) * nr;
        for (int64_t c = 0; c < C; ++c, b += nr)
          for (int64_t j = lo; j < hi; ++j) acc[j] += x[c] * b[j];
      }
    for (int64_t j = lo; j < hi; ++j) {
      T v = acc[j];
      if (act.clamp) {  // NaN passes, as in the kernels' clamp
        if (v < act.lo) v = act.lo;
        if (v > act.hi) v = act.hi;
      }
      out[j0 + j] = v;
    }
  }
}
}  // namespace

template <class T>
void run_conv(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const InputRows<T>& in, T* out) {
  const auto& k = L.table->template get<T>();
  const int64_t P = g.batch * g.h.out * g.w.out, C = g.in_channels, O = g.out_channels;
  const int64_t taps = g.taps(), K = taps * C;
  const AlignedVector<T> zero = make_aligned_buffer<T>("the zero row", C);
  const auto act = make_activation<T>(L.params.activation);
  const TilePlan plan = plan_tiles<T>(P, K, k.gemm_mr, k.gemm_nr, O, threads_for_call());
  const int64_t tile = plan.tile;
  const int64_t OW = g.w.out, OH = g.h.out;
  const bool exact = leave_out_padded_taps<T>(L.nonfinite, false, g);
  int64_t lo, hi;  // output columns whose taps all lie inside the input row
  interior_columns(g, &lo, &hi);
  parallel_for(plan.tiles * plan.col_blocks, tile * K * std::min(plan.block_cols, O), [&](int64_t b, int64_t e) {
    std::vector<const T*> ind;
    std::vector<T> cols = make_buffer<T>("the conv2d unrolled tile", tile * K);
    std::vector<T> acc;
    RowCache<T> cache;
    for (int64_t i = b; i < e; ++i) {
      const int64_t ti = i / plan.col_blocks, cb = i % plan.col_blocks;
      const int64_t p0 = ti * tile, cnt = std::min(tile, P - p0);
      for (int64_t p = p0; p < p0 + cnt;) {
        const int64_t ow = p % OW, row = p / OW;
        const int64_t seg = std::min(OW - ow, p0 + cnt - p);
        ind.resize(static_cast<size_t>(seg * taps));
        const RowSet<T> rows = input_rows(in, g, row / OH, row % OH, ow, ow + seg, cache);
        build_indirection(g, rows, zero.data(), ow, seg, ind.data());
        // (C == 0 leaves the buffer empty: memcpy must not see its null pointer.)
        for (int64_t q = 0; q < seg && C > 0; ++q)
          for (int64_t t = 0; t < taps; ++t)
            std::memcpy(cols.data() + ((p - p0 + q) * taps + t) * C, ind[q * taps + t], sizeof(T) * C);
        p += seg;
      }
      const int64_t c0 = cb * plan.block_cols, c1 = std::min(O, c0 + plan.block_cols);
      run_gemm(k, L.gemm, 1, K, O, cnt, cols.data(), K, out + p0 * O, O, act, c0, plan.block_cols);
      // (Never for bfloat16: leave_out_padded_taps is false for it, and conv_pixel_exact reads the
      // float layout of the packed panels.)
      if constexpr (!std::is_same<T, bfloat16>::value) {
        if (!exact || c1 <= c0) continue;
        // The pixels with a padded tap again, from their in-input taps only.
        for (int64_t p = p0; p < p0 + cnt; ++p) {
          const int64_t ow = p % OW, oh = (p / OW) % OH;
          int64_t ky0, ky1;
          valid_range(g.h, oh, &ky0, &ky1);
          if (ky0 == 0 && ky1 == g.h.kernel && ow >= lo && ow < hi) continue;
          const RowSet<T> rows = input_rows(in, g, p / OW / OH, oh, ow, ow + 1, cache);
          conv_pixel_exact<T>(L, g, rows, oh, ow, c0, c1, act, out + p * O, acc);
        }
      }
    }
  });
}

template void run_conv<float>(const ConvLayer<float>::Impl&, const ConvGeometry&, const InputRows<float>&, float*);
template void run_conv<double>(const ConvLayer<double>::Impl&, const ConvGeometry&, const InputRows<double>&, double*);
template void run_conv<bfloat16>(const ConvLayer<bfloat16>::Impl&, const ConvGeometry&, const InputRows<bfloat16>&,
                                 bfloat16*);

}  // namespace detail
}  // namespace sepcpp
