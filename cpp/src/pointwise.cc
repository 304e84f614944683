// pointwise_conv2d: one GEMM, [pixels, C] x [C, O], split into row blocks and (when the image is
// small) column blocks so that every thread has work.
#include "common.hpp"

namespace sepcpp {

template <class T>
void pointwise_conv2d(const Tensor<const T>& input, const Tensor<const T>& filter, const Tensor<const T>& bias,
                      const Tensor<T>& output, const ConvParams& params) {
  const char* op = "pointwise_conv2d";
  detail::check_rank(op, "input", input, 4);
  const ConvGeometry g = conv_geometry(OpKind::kPointwise, input.shape, filter.shape, filter.ndim, nullptr, 0, params);
  detail::check_rank(op, "filter", filter, 4);
  detail::check_bias(op, "bias", bias, g.out_channels);
  detail::check_output(op, output, g, params.layout);
  const int64_t P = g.batch * g.h.out * g.w.out, C = g.in_channels, O = g.out_channels;
  if (P == 0 || O == 0) return;

  const auto& k = kernels::active().get<T>();
  detail::DenseInput<T> in(input, params.layout);
  detail::DenseOutput<T> out(output, params.layout);
  const auto pg = detail::pack_gemm<T>(k, 1, C, O, filter.data, filter.strides[2], filter.strides[3], bias);
  const auto act = detail::make_activation<T>(params.activation);

  const int64_t mr = static_cast<int64_t>(k.gemm_mr), nr = static_cast<int64_t>(k.gemm_nr);
  const int64_t row_block = mr * std::max<int64_t>(1, 64 / mr);
  const int64_t row_blocks = (P + row_block - 1) / row_block;
  const int64_t panels = (O + nr - 1) / nr;
  // Split columns only when rows alone cannot feed the threads.
  const int64_t want = 2 * static_cast<int64_t>(detail::threads_for_call());
  const int64_t col_blocks = row_blocks >= want ? 1 : std::min<int64_t>(panels, (want + row_blocks - 1) / row_blocks);
  const int64_t panels_per_block = (panels + col_blocks - 1) / col_blocks;
  detail::parallel_for(row_blocks * col_blocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const int64_t rb = i / col_blocks, cb = i % col_blocks;
      const int64_t r0 = rb * row_block, rows = std::min(row_block, P - r0);
      const int64_t c0 = cb * panels_per_block * nr;
      if (c0 >= O) continue;
      const int64_t cols = std::min(panels_per_block * nr, O - c0);
      k.gemm(static_cast<size_t>(rows), static_cast<size_t>(cols), static_cast<size_t>(C), in.data + r0 * C,
             static_cast<size_t>(C), pg.data.data() + (c0 / nr) * (C + 1) * nr, out.data + r0 * O + c0,
             static_cast<size_t>(O), act);
    }
  });
  out.finish();
}

template void pointwise_conv2d<float>(const Tensor<const float>&, const Tensor<const float>&,
                                      const Tensor<const float>&, const Tensor<float>&, const ConvParams&);
template void pointwise_conv2d<double>(const Tensor<const double>&, const Tensor<const double>&,
                                       const Tensor<const double>&, const Tensor<double>&, const ConvParams&);

}  // namespace sepcpp
