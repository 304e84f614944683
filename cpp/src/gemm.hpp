// The packed GEMM as the ops use it: B (a filter, with its bias) packed once for the ISA's
// microkernel (pack_gemm), run on rows of A per group (run_gemm), and how a fused pass over output
// pixels is cut into row tiles and column blocks (plan_tiles).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../kernels/kernels.hpp"
#include "memory.hpp"
#include "sepcpp/ops.hpp"
#include "tensor_view.hpp"
#include "transpose.hpp"

namespace sepcpp {
namespace detail {

// A GEMM's B operand packed once per call: [1 or groups][panels]. Not zeroed first: every
// kernel's gemm_pack writes each element of its panels (bias rows, padding included).
template <class T>
struct PackedGemm {
  UninitAlignedVector<T> data;
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
  pg.group_stride =
      kernels::gemm_packed_size(static_cast<size_t>(kg), static_cast<size_t>(og), k.gemm_nr, k.gemm_kstep);
  pg.data = make_uninit_aligned_buffer<T>(what, static_cast<int64_t>(pg.group_stride) * groups);
  std::vector<T> dense, dbias;
  const bool is_dense = b_col_stride == 1;
  for (int64_t gi = 0; gi < groups; ++gi) {
    const T* src = b + gi * og * b_col_stride;
    int64_t stride = b_row_stride;
    if (!is_dense) {
      // Columns as the rows of a transpose (a blocked one: PyTorch's [O, C*M] pointwise weight
      // copied element by element wrote rows 4 KiB apart, 4.5 ms of a 7x7x1024 training step).
      dense.resize(static_cast<size_t>(kg * og));
      transpose(src, og, kg, b_col_stride, b_row_stride, dense.data(), og);
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
           static_cast<size_t>(a_row_stride), pg.data.data() + gi * pg.group_stride +
               (c0 / nr) * kernels::gemm_panel_size(static_cast<size_t>(kg), k.gemm_nr, k.gemm_kstep),
           c + gi * og + c0, static_cast<size_t>(c_row_stride), act);
}

// How a fused pass over P output pixels is cut: row tiles of `tile` pixels whose [tile][width]
// scratch stays within ~768 KiB from 512 channels on (L2 holds it with the GEMM's panel of B: 192
// pixels at 1024 channels; 96 pixels, each 1024 x 1024 panel streamed twice as often, ran 4-5%
// slower), ~384 KiB below (where a panel is small; the larger tiles cost 2-10% there), in equal shares per
// thread when there are few; and, when there are few pixels, one tile whose GEMM columns are cut
// into blocks (multiples of the panel width) instead: kColBlocksPerThread per thread, so that a
// thread that loses its core to another process holds up a small share of the layer while the
// others take the rest (7x7x1024 on 2 threads with one core busy: loaded p90 1.0-1.2 ms with 4
// blocks per thread, 1.7-1.8 ms with 1). The separable pass computes the tile's depthwise step
// once and shares it (separable.cc); conv2d unrolls its rows per block. None of this changes any
// element's arithmetic.
constexpr int64_t kColBlocksPerThread = 4;
struct TilePlan {
  int64_t tile = 1, tiles = 1;
  int64_t col_blocks = 1, block_cols = 0;
};

template <class T>
TilePlan plan_tiles(int64_t pixels, int64_t width, size_t mr_, size_t nr_, int64_t cols, int64_t threads) {
  const int64_t mr = static_cast<int64_t>(mr_), nr = static_cast<int64_t>(nr_);
  const int64_t budget = (width * static_cast<int64_t>(sizeof(T)) >= 2048 ? 768 : 384) * 1024 /
                         static_cast<int64_t>(sizeof(T));
  const int64_t tmax = std::max<int64_t>(mr, budget / std::max<int64_t>(1, width) / mr * mr);
  TilePlan t;
  const int64_t panels = std::max<int64_t>(1, (cols + nr - 1) / nr);
  // The packed weights stay in L2 beside the scratch below about 1 MiB; above, cutting the rows
  // between threads makes every thread stream all of them for a share of the rows.
  const bool weights_stream = width * cols * static_cast<int64_t>(sizeof(T)) > (int64_t(1) << 20);
  if (pixels <= std::min(tmax, (weights_stream ? tmax : 4 * mr * threads)) && panels >= threads && threads > 1) {
    // Few pixels (a 7x7 image; or all of them fit one tile and the weights stream): split the
    // columns, so that each thread streams only its share of the packed weights and uses each of
    // them for all the rows. (7x7x1024 on 2 threads: 1.10x faster than with the rows split;
    // 14x14x512, whose 1 MiB of weights L2 holds, 0.92x, so it keeps its rows split.)
    t.tile = pixels;
    const int64_t blocks = std::min(panels, kColBlocksPerThread * threads);
    t.block_cols = (panels + blocks - 1) / blocks * nr;
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
