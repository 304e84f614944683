// ConvLayer: validation and packing once, then runs; the functional ops are a layer built over
// the caller's filters without copying them (borrow) and run once.
#include <cmath>
#include <fstream>
#include <string>

#include "checks.hpp"
#include "depthwise_rows.hpp"
#include "gemm.hpp"
#include "layer.hpp"
#include "memory.hpp"
#include "tensor_view.hpp"

namespace sepcpp {

template <class T>
ConvLayer<T>::Impl::Impl(OpKind op_, const Tensor<const T>& filter, const Tensor<const T>& filter2,
                         const Tensor<const T>& bias1, const Tensor<const T>& bias2, const ConvParams& p,
                         bool borrow)
    : op(op_), params(p) {
  const char* name = op_name(op);
  const detail::FilterInfo fi =
      detail::filter_info(op, filter.shape, filter.ndim, filter2.shape, filter2.ndim, params);
  detail::check_rank(name, detail::filter_arg_name(op), filter, 4);
  for (int i = 0; i < 4; ++i) filter_shape[i] = filter.shape[i];
  if (op == OpKind::kSeparable) {
    detail::check_rank(name, "pointwise_filter", filter2, 4);
    for (int i = 0; i < 4; ++i) filter2_shape[i] = filter2.shape[i];
    filter2_ndim = 4;
  } else {
    params.groups = 1;
    params.depthwise_activation = Activation::kNone;
  }
  const int64_t C = fi.in_channels, CM = C * fi.multiplier, O = fi.out_channels;
  if (op == OpKind::kSeparable) {
    detail::check_bias(name, "depthwise_bias", bias1, CM);
    detail::check_bias(name, "bias", bias2, O);
  } else {
    detail::check_bias(name, "bias", bias1, O);
  }
  table = &kernels::active();
  const auto& k = table->get<T>();
  switch (op) {
    case OpKind::kDepthwise:
      dw = detail::DepthwiseWeights<T>(filter, bias1, borrow);
      break;
    case OpKind::kPointwise:
      kg = C, og = O;
      gemm = detail::pack_gemm<T>("the packed pointwise filter", k, 1, kg, og, filter.data, filter.strides[2],
                                  filter.strides[3], bias1);
      // (Padding reaches a pointwise filter only through the C++ API's padded or strided 1x1.)
      for (int64_t c = 0; c < C && !nonfinite; ++c) {
        if (filter.strides[3] == 1) {
          nonfinite = detail::any_nonfinite(filter.data + c * filter.strides[2], O);
          continue;
        }
        for (int64_t o = 0; o < O; ++o) nonfinite |= !std::isfinite(detail::at4(filter, 0, 0, c, o));
      }
      break;
    case OpKind::kSeparable:
      dw = detail::DepthwiseWeights<T>(filter, bias1, borrow);
      groups = params.groups, kg = CM / groups, og = O / groups;
      gemm = detail::pack_gemm<T>("the packed pointwise_filter", k, groups, kg, og, filter2.data, filter2.strides[2],
                                  filter2.strides[3], bias2);
      break;
    case OpKind::kConv: {
      // Rows of the [KH*KW*C, O] matrix are (kh, kw, c) in order.
      const int64_t K = fi.kh * fi.kw * C;
      std::vector<T> dense = detail::make_buffer<T>("the conv2d filters", K * O);
      for (int64_t y = 0; y < fi.kh; ++y)
        for (int64_t x = 0; x < fi.kw; ++x)
          for (int64_t c = 0; c < C; ++c)
            for (int64_t o = 0; o < O; ++o) dense[((y * fi.kw + x) * C + c) * O + o] = detail::at4(filter, y, x, c, o);
      kg = K, og = O;
      nonfinite = detail::any_nonfinite(dense.data(), K * O);
      gemm = detail::pack_gemm<T>("the packed conv2d filters", k, 1, K, O, dense.data(), O, 1, bias1);
      break;
    }
  }
}

template <class T>
ConvGeometry ConvLayer<T>::Impl::geometry(const int64_t input_shape[4]) const {
  return conv_geometry(op, input_shape, filter_shape, 4, filter2_shape, filter2_ndim, params);
}

template <class T>
void ConvLayer<T>::Impl::run(const Tensor<const T>& input, const Tensor<T>& output) const {
  const char* name = op_name(op);
  detail::check_rank(name, "input", input, 4);
  const ConvGeometry g = geometry(input.shape);
  detail::check_output(name, output, g, params.layout);
  if (g.batch * g.h.out * g.w.out == 0) return;
  const detail::InputRows<T> in(input, params.layout);
  detail::DenseOutput<T> out(output, params.layout);
  switch (op) {
    case OpKind::kDepthwise: detail::run_depthwise<T>(*this, g, in, out.data); break;
    case OpKind::kPointwise: detail::run_pointwise<T>(*this, g, in, out.data); break;
    case OpKind::kSeparable: detail::run_separable<T>(*this, g, in, out.data); break;
    case OpKind::kConv: detail::run_conv<T>(*this, g, in, out.data); break;
  }
  out.finish();
}

template <class T>
ConvLayer<T>::ConvLayer(OpKind op, const Tensor<const T>& filter, const Tensor<const T>& filter2,
                        const Tensor<const T>& bias1, const Tensor<const T>& bias2, const ConvParams& params)
    : impl_(std::make_shared<const Impl>(op, filter, filter2, bias1, bias2, params, /*borrow=*/false)) {}

template <class T>
ConvGeometry ConvLayer<T>::geometry(const int64_t input_shape[4]) const {
  return impl_->geometry(input_shape);
}

template <class T>
void ConvLayer<T>::operator()(const Tensor<const T>& input, const Tensor<T>& output) const {
  impl_->run(input, output);
}

template <class T>
OpKind ConvLayer<T>::op() const {
  return impl_->op;
}

template <class T>
const ConvParams& ConvLayer<T>::params() const {
  return impl_->params;
}

namespace detail {
namespace {
// The smallest of limit - usage over the cgroups from `dir` up to `root` (v2: memory.max and
// memory.current; v1: memory.limit_in_bytes and memory.usage_in_bytes), or -1 when there is no limit.
int64_t read_int_file(const std::string& path, bool* ok) {
  std::ifstream f(path);
  std::string word;
  *ok = static_cast<bool>(f >> word) && !word.empty() && word != "max";
  if (!*ok) return 0;
  try {
    return static_cast<int64_t>(std::stoull(word));
  } catch (const std::exception&) {
    *ok = false;
    return 0;
  }
}

int64_t cgroup_room(const std::string& root, std::string dir, const char* limit_file, const char* usage_file) {
  int64_t room = -1;
  for (;;) {
    bool has_limit, has_usage;
    const int64_t limit = read_int_file(root + dir + "/" + limit_file, &has_limit);
    const int64_t usage = read_int_file(root + dir + "/" + usage_file, &has_usage);
    // (v1 reports "no limit" as a huge number: it never wins the minimum.)
    if (has_limit && has_usage) {
      const int64_t r = std::max<int64_t>(0, limit - usage);
      room = room < 0 ? r : std::min(room, r);
    }
    if (dir.empty() || dir == "/") break;
    const size_t slash = dir.find_last_of('/');
    dir = slash == std::string::npos ? std::string() : dir.substr(0, slash);
  }
  return room;
}
}  // namespace

int64_t available_memory_bytes() {
  int64_t avail = -1;
  {
    std::ifstream f("/proc/meminfo");
    std::string key, unit;
    int64_t kib;
    while (f >> key >> kib) {
      std::getline(f, unit);
      if (key == "MemAvailable:") {
        avail = kib * 1024;
        break;
      }
    }
  }
  // /proc/self/cgroup: "0::/path" (v2) or "N:memory:/path" (v1, possibly with other controllers).
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  while (std::getline(f, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    int64_t room = -1;
    if (controllers.empty()) {
      room = cgroup_room("/sys/fs/cgroup", path, "memory.max", "memory.current");
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      room = cgroup_room("/sys/fs/cgroup/memory", path, "memory.limit_in_bytes", "memory.usage_in_bytes");
    }
    if (room >= 0) avail = avail < 0 ? room : std::min(avail, room);
  }
  return avail;
}
}  // namespace detail

namespace {
// One functional call: input checked first (its errors name the input's shape), then the layer is
// built over the caller's filters without copies, then run.
template <class T>
void run_once(OpKind op, const Tensor<const T>& input, const Tensor<const T>& filter, const Tensor<const T>& filter2,
              const Tensor<const T>& bias1, const Tensor<const T>& bias2, const Tensor<T>& output,
              const ConvParams& params) {
  detail::check_rank(op_name(op), "input", input, 4);
  conv_geometry(op, input.shape, filter.shape, filter.ndim, filter2.shape, filter2.ndim, params);
  const typename ConvLayer<T>::Impl impl(op, filter, filter2, bias1, bias2, params, /*borrow=*/true);
  impl.run(input, output);
}
}  // namespace

template <class T>
void depthwise_conv2d(const Tensor<const T>& input, const Tensor<const T>& filter, const Tensor<const T>& bias,
                      const Tensor<T>& output, const ConvParams& params) {
  run_once<T>(OpKind::kDepthwise, input, filter, Tensor<const T>(), bias, Tensor<const T>(), output, params);
}

template <class T>
void pointwise_conv2d(const Tensor<const T>& input, const Tensor<const T>& filter, const Tensor<const T>& bias,
                      const Tensor<T>& output, const ConvParams& params) {
  run_once<T>(OpKind::kPointwise, input, filter, Tensor<const T>(), bias, Tensor<const T>(), output, params);
}

template <class T>
void separable_conv2d(const Tensor<const T>& input, const Tensor<const T>& depthwise_filter,
                      const Tensor<const T>& pointwise_filter, const Tensor<const T>& depthwise_bias,
                      const Tensor<const T>& bias, const Tensor<T>& output, const ConvParams& params) {
  run_once<T>(OpKind::kSeparable, input, depthwise_filter, pointwise_filter, depthwise_bias, bias, output, params);
}

template <class T>
void conv2d(const Tensor<const T>& input, const Tensor<const T>& filter, const Tensor<const T>& bias,
            const Tensor<T>& output, const ConvParams& params) {
  run_once<T>(OpKind::kConv, input, filter, Tensor<const T>(), bias, Tensor<const T>(), output, params);
}

#define SEPCPP_INSTANTIATE(T)                                                                                   \
  template class ConvLayer<T>;                                                                                  \
  template void depthwise_conv2d<T>(const Tensor<const T>&, const Tensor<const T>&, const Tensor<const T>&,     \
                                    const Tensor<T>&, const ConvParams&);                                       \
  template void pointwise_conv2d<T>(const Tensor<const T>&, const Tensor<const T>&, const Tensor<const T>&,     \
                                    const Tensor<T>&, const ConvParams&);                                       \
  template void separable_conv2d<T>(const Tensor<const T>&, const Tensor<const T>&, const Tensor<const T>&,     \
                                    const Tensor<const T>&, const Tensor<const T>&, const Tensor<T>&,           \
                                    const ConvParams&);                                                         \
  template void conv2d<T>(const Tensor<const T>&, const Tensor<const T>&, const Tensor<const T>&, const Tensor<T>&, \
                          const ConvParams&);
SEPCPP_INSTANTIATE(float)
SEPCPP_INSTANTIATE(double)
SEPCPP_INSTANTIATE(bfloat16)
#undef SEPCPP_INSTANTIATE

}  // namespace sepcpp
