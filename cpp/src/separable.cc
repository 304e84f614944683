// separable_conv2d, fused: each thread takes tiles of flat output pixels (and, for small images,
// column blocks); a tile's depthwise result lands in a per-thread scratch of at most ~768 KiB
// (L2) and goes straight through the pointwise GEMM. The [N, OH, OW, C*M] intermediate is never
// allocated.
#include "activation.hpp"
#include "depthwise_rows.hpp"
#include "gemm.hpp"
#include "layer.hpp"
#include "memory.hpp"
#include "parallel.hpp"
#include "tensor_view.hpp"

namespace sepcpp {
namespace detail {

template <class T>
void run_separable(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const InputRows<T>& in, T* out) {
  const auto& k = L.table->template get<T>();
  const int64_t P = g.batch * g.h.out * g.w.out, CM = g.mid_channels(), O = g.out_channels;
  const AlignedVector<T> zero = make_aligned_buffer<T>("the zero row", zero_length(g));
  const auto dw_act = make_activation<T>(L.params.depthwise_activation);
  const auto act = make_activation<T>(L.params.activation);
  const TilePlan plan = plan_tiles<T>(P, CM, k.gemm_mr, k.gemm_nr, L.og, threads_for_call());
  // (The scratch is not zeroed: every element is written before it is read.)
  if (plan.tiles == 1 && plan.col_blocks > 1) {
    // Few pixels, the GEMM's columns split: the depthwise step once, on the calling thread (a
    // 7x7x1024 image's is about 1% of the layer), then the column blocks from the shared result.
    DwScratch<T> s;
    const AlignedArray<T> mid = make_raw_buffer<T>("the separable tile scratch", P * CM);
    depthwise_pixels(g, k, in, zero.data(), L.dw, dw_act, 0, P, mid.get(), s);
    parallel_for(plan.col_blocks, P * CM * std::min(plan.block_cols, L.og) * L.groups, [&](int64_t b, int64_t e) {
      for (int64_t cb = b; cb < e; ++cb)
        run_gemm(k, L.gemm, L.groups, L.kg, L.og, P, mid.get(), CM, out, O, act, cb * plan.block_cols,
                 plan.block_cols);
    });
    return;
  }
  const int64_t work = plan.tile * CM * (g.taps() + std::min(plan.block_cols, L.og) * L.groups);
  parallel_for(plan.tiles * plan.col_blocks, work, [&](int64_t b, int64_t e) {
    DwScratch<T> s;
    const AlignedArray<T> mid = make_raw_buffer<T>("the separable tile scratch", plan.tile * CM);
    for (int64_t i = b; i < e; ++i) {
      const int64_t ti = i / plan.col_blocks, cb = i % plan.col_blocks;
      const int64_t p0 = ti * plan.tile, cnt = std::min(plan.tile, P - p0);
      depthwise_pixels(g, k, in, zero.data(), L.dw, dw_act, p0, cnt, mid.get(), s);
      run_gemm(k, L.gemm, L.groups, L.kg, L.og, cnt, mid.get(), CM, out + p0 * O, O, act, cb * plan.block_cols,
               plan.block_cols);
    }
  });
}

template void run_separable<float>(const ConvLayer<float>::Impl&, const ConvGeometry&, const InputRows<float>&, float*);
template void run_separable<double>(const ConvLayer<double>::Impl&, const ConvGeometry&, const InputRows<double>&, double*);
template void run_separable<bfloat16>(const ConvLayer<bfloat16>::Impl&, const ConvGeometry&, const InputRows<bfloat16>&,
                                 bfloat16*);

}  // namespace detail
}  // namespace sepcpp
