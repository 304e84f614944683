// conv2d: tiles of output pixels are unrolled (im2col) into a per-thread [tile][KH*KW*C] buffer
// that stays in L2, then one GEMM with the filter, packed at layer construction as the
// [KH*KW*C, O] matrix the unrolled rows multiply.
#include <cstring>

#include "layer.hpp"

namespace sepcpp {
namespace detail {

template <class T>
void run_conv(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const T* in, T* out) {
  const auto& k = L.table->template get<T>();
  const int64_t P = g.batch * g.h.out * g.w.out, C = g.in_channels, O = g.out_channels;
  const int64_t taps = g.taps(), K = taps * C;
  const std::vector<T> zero(static_cast<size_t>(C), T(0));
  const auto act = make_activation<T>(L.params.activation);
  const TilePlan plan = plan_tiles<T>(P, K, k.gemm_mr, k.gemm_nr, O, threads_for_call());
  const int64_t tile = plan.tile;
  const int64_t OW = g.w.out, OH = g.h.out;
  parallel_for(plan.tiles * plan.col_blocks, tile * K * std::min(plan.block_cols, O), [&](int64_t b, int64_t e) {
    std::vector<const T*> ind;
    std::vector<T> cols = make_buffer<T>("the conv2d unrolled tile", tile * K);
    for (int64_t i = b; i < e; ++i) {
      const int64_t ti = i / plan.col_blocks, cb = i % plan.col_blocks;
      const int64_t p0 = ti * tile, cnt = std::min(tile, P - p0);
      for (int64_t p = p0; p < p0 + cnt;) {
        const int64_t ow = p % OW, row = p / OW;
        const int64_t seg = std::min(OW - ow, p0 + cnt - p);
        ind.resize(static_cast<size_t>(seg * taps));
        build_indirection(g, in, zero.data(), row / OH, row % OH, ow, seg, ind.data());
        // (C == 0 leaves the buffer empty: memcpy must not see its null pointer.)
        for (int64_t q = 0; q < seg && C > 0; ++q)
          for (int64_t t = 0; t < taps; ++t)
            std::memcpy(cols.data() + ((p - p0 + q) * taps + t) * C, ind[q * taps + t], sizeof(T) * C);
        p += seg;
      }
      run_gemm(k, L.gemm, 1, K, O, cnt, cols.data(), K, out + p0 * O, O, act, cb * plan.block_cols, plan.block_cols);
    }
  });
}

template void run_conv<float>(const ConvLayer<float>::Impl&, const ConvGeometry&, const float*, float*);
template void run_conv<double>(const ConvLayer<double>::Impl&, const ConvGeometry&, const double*, double*);

}  // namespace detail
}  // namespace sepcpp
