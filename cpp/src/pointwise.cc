// pointwise_conv2d: one GEMM, [pixels, C] x [C, O] (when unstrided and unpadded), split into row blocks and (when the image is
// small) column blocks so that every thread has work.
#include "activation.hpp"
#include "layer.hpp"
#include "parallel.hpp"
#include "tensor_view.hpp"

namespace sepcpp {
namespace detail {

template <class T>
void run_pointwise(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const InputRows<T>& in, T* out) {
  // Strided or padded 1x1: the unrolling path of conv2d (K = C rows, the same packed matrix).
  if (g.h.stride != 1 || g.w.stride != 1 || g.h.pad_before || g.h.pad_after || g.w.pad_before || g.w.pad_after) {
    run_conv<T>(L, g, in, out);
    return;
  }
  const auto& k = L.table->template get<T>();
  const int64_t P = g.batch * g.h.out * g.w.out, C = g.in_channels, O = g.out_channels;
  const auto act = make_activation<T>(L.params.activation);
  const int64_t mr = static_cast<int64_t>(k.gemm_mr), nr = static_cast<int64_t>(k.gemm_nr);
  // Blocks of about 192 rows (each packed panel of B is streamed once per block: 64-row blocks ran
  // 2048 x 1024 x 1024 about 10% slower); 256 for a GEMM that takes k in steps (bfloat16 on AMX
  // tiles: a tile does 32 times the work of a vector instruction).
  const int64_t block_rows = k.gemm_kstep > 1 ? 256 : 192;
  // Equal blocks (196 pixels: two of 102 and 94, not 192 and 4), in whole row tiles.
  const int64_t want_blocks = std::max<int64_t>(1, (P + block_rows - 1) / block_rows);
  const int64_t row_block = std::max<int64_t>(mr, ((P + want_blocks - 1) / want_blocks + mr - 1) / mr * mr);
  const int64_t row_blocks = (P + row_block - 1) / row_block;
  const int64_t panels = (O + nr - 1) / nr;
  // Split columns only when rows alone cannot feed the threads.
  const int64_t want = 2 * static_cast<int64_t>(threads_for_call());
  const int64_t col_blocks = row_blocks >= want ? 1 : std::min<int64_t>(panels, (want + row_blocks - 1) / row_blocks);
  const int64_t panels_per_block = (panels + col_blocks - 1) / col_blocks;
  parallel_for(row_blocks * col_blocks, row_block * C * (O / col_blocks + 1), [&](int64_t b, int64_t e) {
    std::vector<T> block;  // the block's pixels, when the input is not dense NHWC
    for (int64_t i = b; i < e; ++i) {
      const int64_t rb = i / col_blocks, cb = i % col_blocks;
      const int64_t r0 = rb * row_block, rows = std::min(row_block, P - r0);
      const int64_t c0 = cb * panels_per_block * nr;
      if (c0 >= O) continue;
      const int64_t cols = std::min(panels_per_block * nr, O - c0);
      const T* a = in.dense() ? in.v.data + r0 * C : nullptr;
      if (!a) {  // gathered per block of rows: a non-dense input is never copied whole
        block.resize(static_cast<size_t>(row_block * C));
        in.gather_pixels(r0, rows, block.data());
        a = block.data();
      }
      k.gemm(static_cast<size_t>(rows), static_cast<size_t>(cols), static_cast<size_t>(C), a,
             static_cast<size_t>(C), L.gemm.data.data() + (c0 / nr) * kernels::gemm_panel_size(static_cast<size_t>(C), k.gemm_nr, k.gemm_kstep), out + r0 * O + c0,
             static_cast<size_t>(O), act);
    }
  });
}

template void run_pointwise<float>(const ConvLayer<float>::Impl&, const ConvGeometry&, const InputRows<float>&, float*);
template void run_pointwise<double>(const ConvLayer<double>::Impl&, const ConvGeometry&, const InputRows<double>&, double*);
template void run_pointwise<bfloat16>(const ConvLayer<bfloat16>::Impl&, const ConvGeometry&, const InputRows<bfloat16>&,
                                 bfloat16*);

}  // namespace detail
}  // namespace sepcpp
