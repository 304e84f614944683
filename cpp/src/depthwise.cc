// depthwise_conv2d: rows of output pixels through the depthwise microkernel, threads over
// flat pixel ranges (batch x rows x columns), so even a 7x7 image keeps every thread busy.
#include "common.hpp"

namespace sepcpp {

template <class T>
void depthwise_conv2d(const Tensor<const T>& input, const Tensor<const T>& filter, const Tensor<const T>& bias,
                      const Tensor<T>& output, const ConvParams& params) {
  const char* op = "depthwise_conv2d";
  detail::check_rank(op, "input", input, 4);
  const ConvGeometry g = conv_geometry(OpKind::kDepthwise, input.shape, filter.shape, filter.ndim, nullptr, 0, params);
  detail::check_rank(op, "filter", filter, 4);
  detail::check_bias(op, "bias", bias, g.out_channels);
  detail::check_output(op, output, g, params.layout);
  const int64_t P = g.batch * g.h.out * g.w.out;
  if (P == 0 || g.out_channels == 0) return;

  const auto& k = kernels::active().get<T>();
  detail::DenseInput<T> in(input, params.layout);
  detail::DenseOutput<T> out(output, params.layout);
  const detail::DepthwiseWeights<T> dw(filter, bias);
  const std::vector<T> zero(static_cast<size_t>(g.in_channels), T(0));
  const auto act = detail::make_activation<T>(params.activation);
  const int64_t CM = g.mid_channels();
  // Chunks of at most one row keep the indirection buffer small.
  const int64_t chunk = std::max<int64_t>(1, std::min<int64_t>(g.w.out, 256));
  const int64_t chunks = (P + chunk - 1) / chunk;
  detail::parallel_for(chunks, 1, [&](int64_t b, int64_t e) {
    detail::DwScratch<T> s;
    for (int64_t i = b; i < e; ++i) {
      const int64_t p0 = i * chunk, cnt = std::min(chunk, P - p0);
      detail::depthwise_pixels(g, k, in.data, zero.data(), dw, act, p0, cnt, out.data + p0 * CM, s);
    }
  });
  out.finish();
}

template void depthwise_conv2d<float>(const Tensor<const float>&, const Tensor<const float>&,
                                      const Tensor<const float>&, const Tensor<float>&, const ConvParams&);
template void depthwise_conv2d<double>(const Tensor<const double>&, const Tensor<const double>&,
                                       const Tensor<const double>&, const Tensor<double>&, const ConvParams&);

}  // namespace sepcpp
