// conv2d: tiles of output pixels are unrolled (im2col) into a per-thread [tile][KH*KW*C] buffer
// that stays in L2, then one GEMM with the filter, whose [KH, KW, C, O] layout already is the
// [KH*KW*C, O] matrix the unrolled rows multiply.
#include <cstring>

#include "common.hpp"

namespace sepcpp {

template <class T>
void conv2d(const Tensor<const T>& input, const Tensor<const T>& filter, const Tensor<const T>& bias,
            const Tensor<T>& output, const ConvParams& params) {
  const char* op = "conv2d";
  detail::check_rank(op, "input", input, 4);
  const ConvGeometry g = conv_geometry(OpKind::kConv, input.shape, filter.shape, filter.ndim, nullptr, 0, params);
  detail::check_rank(op, "filters", filter, 4);
  detail::check_bias(op, "bias", bias, g.out_channels);
  detail::check_output(op, output, g, params.layout);
  const int64_t P = g.batch * g.h.out * g.w.out, C = g.in_channels, O = g.out_channels;
  const int64_t taps = g.taps(), K = taps * C;
  if (P == 0) return;

  const auto& k = kernels::active().get<T>();
  detail::DenseInput<T> in(input, params.layout);
  detail::DenseOutput<T> out(output, params.layout);
  // Filter rows are (kh, kw, c) in order; a dense filter has row stride O, else repack densely.
  std::vector<T> dense_filter;
  const T* fdata = filter.data;
  const bool dense = filter.strides[3] == 1 && filter.strides[2] == O && filter.strides[1] == C * O &&
                     filter.strides[0] == g.w.kernel * C * O;
  if (!dense) {
    dense_filter.resize(static_cast<size_t>(K * O));
    for (int64_t y = 0; y < g.h.kernel; ++y)
      for (int64_t x = 0; x < g.w.kernel; ++x)
        for (int64_t c = 0; c < C; ++c)
          for (int64_t o = 0; o < O; ++o)
            dense_filter[((y * g.w.kernel + x) * C + c) * O + o] = detail::at4(filter, y, x, c, o);
    fdata = dense_filter.data();
  }
  const auto pg = detail::pack_gemm<T>(k, 1, K, O, fdata, O, 1, bias);
  const std::vector<T> zero(static_cast<size_t>(C), T(0));
  const auto act = detail::make_activation<T>(params.activation);

  int64_t tile = detail::tile_pixels<T>(K, k.gemm_mr, P);
  const int64_t threads = detail::threads_for_call();
  if ((P + tile - 1) / tile < threads) {
    const int64_t mr = static_cast<int64_t>(k.gemm_mr);
    tile = std::max<int64_t>(1, ((P + threads - 1) / threads + mr - 1) / mr * mr);
  }
  const int64_t tiles = (P + tile - 1) / tile;
  const int64_t OW = g.w.out, OH = g.h.out;
  detail::parallel_for(tiles, 1, [&](int64_t b, int64_t e) {
    std::vector<const T*> ind;
    std::vector<T> cols(static_cast<size_t>(tile * K));
    for (int64_t i = b; i < e; ++i) {
      const int64_t p0 = i * tile, cnt = std::min(tile, P - p0);
      for (int64_t p = p0; p < p0 + cnt;) {
        const int64_t ow = p % OW, row = p / OW;
        const int64_t seg = std::min(OW - ow, p0 + cnt - p);
        ind.resize(static_cast<size_t>(seg * taps));
        detail::build_indirection(g, in.data, zero.data(), row / OH, row % OH, ow, seg, ind.data());
        for (int64_t q = 0; q < seg; ++q)
          for (int64_t t = 0; t < taps; ++t)
            std::memcpy(cols.data() + ((p - p0 + q) * taps + t) * C, ind[q * taps + t], sizeof(T) * C);
        p += seg;
      }
      detail::run_gemm(k, pg, 1, K, O, cnt, cols.data(), K, out.data + p0 * O, O, act);
    }
  });
  out.finish();
}

template void conv2d<float>(const Tensor<const float>&, const Tensor<const float>&, const Tensor<const float>&,
                            const Tensor<float>&, const ConvParams&);
template void conv2d<double>(const Tensor<const double>&, const Tensor<const double>&, const Tensor<const double>&,
                             const Tensor<double>&, const ConvParams&);

}  // namespace sepcpp
