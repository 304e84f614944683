// separable_conv2d, fused: each thread takes tiles of flat output pixels; a tile's depthwise
// result lands in a per-thread scratch of at most ~128 KiB (L2) and goes straight through the
// pointwise GEMM. The [N, OH, OW, C*M] intermediate is never allocated.
#include "common.hpp"

namespace sepcpp {

template <class T>
void separable_conv2d(const Tensor<const T>& input, const Tensor<const T>& depthwise_filter,
                      const Tensor<const T>& pointwise_filter, const Tensor<const T>& depthwise_bias,
                      const Tensor<const T>& bias, const Tensor<T>& output, const ConvParams& params) {
  const char* op = "separable_conv2d";
  detail::check_rank(op, "input", input, 4);
  const ConvGeometry g = conv_geometry(OpKind::kSeparable, input.shape, depthwise_filter.shape, depthwise_filter.ndim,
                                       pointwise_filter.shape, pointwise_filter.ndim, params);
  detail::check_rank(op, "depthwise_filter", depthwise_filter, 4);
  detail::check_rank(op, "pointwise_filter", pointwise_filter, 4);
  detail::check_bias(op, "depthwise_bias", depthwise_bias, g.mid_channels());
  detail::check_bias(op, "bias", bias, g.out_channels);
  detail::check_output(op, output, g, params.layout);
  const int64_t P = g.batch * g.h.out * g.w.out, CM = g.mid_channels(), O = g.out_channels;
  if (P == 0) return;

  const auto& k = kernels::active().get<T>();
  detail::DenseInput<T> in(input, params.layout);
  detail::DenseOutput<T> out(output, params.layout);
  const detail::DepthwiseWeights<T> dw(depthwise_filter, depthwise_bias);
  const int64_t G = params.groups, kg = CM / G, og = O / G;
  const auto pg = detail::pack_gemm<T>(k, G, kg, og, pointwise_filter.data, pointwise_filter.strides[2],
                                       pointwise_filter.strides[3], bias);
  const std::vector<T> zero(static_cast<size_t>(g.in_channels), T(0));
  const auto dw_act = detail::make_activation<T>(params.depthwise_activation);
  const auto act = detail::make_activation<T>(params.activation);

  int64_t tile = detail::tile_pixels<T>(CM, k.gemm_mr, P);
  // Small images: shrink the tile so that every thread gets one.
  const int64_t threads = detail::threads_for_call();
  if ((P + tile - 1) / tile < threads) {
    const int64_t mr = static_cast<int64_t>(k.gemm_mr);
    tile = std::max<int64_t>(1, ((P + threads - 1) / threads + mr - 1) / mr * mr);
  }
  const int64_t tiles = (P + tile - 1) / tile;
  detail::parallel_for(tiles, 1, [&](int64_t b, int64_t e) {
    detail::DwScratch<T> s;
    std::vector<T> mid(static_cast<size_t>(tile * CM));
    for (int64_t i = b; i < e; ++i) {
      const int64_t p0 = i * tile, cnt = std::min(tile, P - p0);
      detail::depthwise_pixels(g, k, in.data, zero.data(), dw, dw_act, p0, cnt, mid.data(), s);
      detail::run_gemm(k, pg, G, kg, og, cnt, mid.data(), CM, out.data + p0 * O, O, act);
    }
  });
  out.finish();
}

template void separable_conv2d<float>(const Tensor<const float>&, const Tensor<const float>&,
                                      const Tensor<const float>&, const Tensor<const float>&,
                                      const Tensor<const float>&, const Tensor<float>&, const ConvParams&);
template void separable_conv2d<double>(const Tensor<const double>&, const Tensor<const double>&,
                                       const Tensor<const double>&, const Tensor<const double>&,
                                       const Tensor<const double>&, const Tensor<double>&, const ConvParams&);

}  // namespace sepcpp
