// depthwise_conv2d: rows of output pixels through the depthwise microkernel, threads over flat
// pixel ranges (batch x rows x columns), so even a 7x7 image keeps every thread busy.
#include "activation.hpp"
#include "depthwise_rows.hpp"
#include "layer.hpp"
#include "memory.hpp"
#include "parallel.hpp"
#include "tensor_view.hpp"

namespace sepcpp {
namespace detail {

template <class T>
void run_depthwise(const typename ConvLayer<T>::Impl& L, const ConvGeometry& g, const InputRows<T>& in, T* out) {
  const auto& k = L.table->template get<T>();
  const int64_t P = g.batch * g.h.out * g.w.out, CM = g.mid_channels();
  const AlignedVector<T> zero = make_aligned_buffer<T>("the zero row", zero_length(g));
  const auto act = make_activation<T>(L.params.activation);
  // Chunks of at most 256 pixels keep every thread busy on a small image. When the input rows are
  // gathered (not read in place) and there are rows enough for the threads, whole output rows, so
  // that the rows a thread gathered serve its next output rows too.
  const int64_t rows = g.batch * g.h.out;
  const bool whole_rows = !in.direct && rows >= 4 * int64_t(threads_for_call());
  const int64_t chunk = whole_rows ? g.w.out : std::max<int64_t>(1, std::min<int64_t>(g.w.out, 256));
  const int64_t chunks = (P + chunk - 1) / chunk;
  parallel_for(chunks, chunk * CM * g.taps(), [&](int64_t b, int64_t e) {
    DwScratch<T> s;
    for (int64_t i = b; i < e; ++i) {
      const int64_t p0 = i * chunk, cnt = std::min(chunk, P - p0);
      depthwise_pixels(g, k, in, zero.data(), L.dw, act, p0, cnt, out + p0 * CM, s);
    }
  });
}

template void run_depthwise<float>(const ConvLayer<float>::Impl&, const ConvGeometry&, const InputRows<float>&, float*);
template void run_depthwise<double>(const ConvLayer<double>::Impl&, const ConvGeometry&, const InputRows<double>&, double*);
template void run_depthwise<bfloat16>(const ConvLayer<bfloat16>::Impl&, const ConvGeometry&, const InputRows<bfloat16>&,
                                 bfloat16*);

}  // namespace detail
}  // namespace sepcpp
