// The pybind11 binding: arrays become pointer + shape + strides, the dtype picks the template, the
// GIL is released, and one core function runs. Argument normalisation (strides formats, padding
// lists, 1-D views, dtype rules) lives in python/sepcpp/_api.py; shape validation in the core.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <pthread.h>

#include <array>
#include <atomic>
#include <stdexcept>
#include <string>

#include "sepcpp/backprop.hpp"
#include "sepcpp/ops.hpp"
#include "sepcpp/roofline.hpp"
#include "../src/thread_pool.hpp"

namespace py = pybind11;
using sepcpp::ConvParams;
using sepcpp::OpKind;
using sepcpp::Tensor;

namespace {

sepcpp::Activation parse_activation(const std::string& a, const char* name) {
  if (a.empty() || a == "none") return sepcpp::Activation::kNone;
  if (a == "relu") return sepcpp::Activation::kRelu;
  if (a == "relu6") return sepcpp::Activation::kRelu6;
  throw std::invalid_argument(std::string(name) + ": unknown activation '" + a + "'");
}

ConvParams make_params(std::array<int64_t, 2> strides, std::array<int64_t, 2> dilations, const std::string& padding,
                       std::array<int64_t, 4> pads, const std::string& layout, const std::string& activation,
                       const std::string& depthwise_activation, int64_t groups) {
  ConvParams p;
  p.stride_h = strides[0], p.stride_w = strides[1];
  p.dilation_h = dilations[0], p.dilation_w = dilations[1];
  if (padding == "SAME") p.padding = sepcpp::Padding::kSame;
  else if (padding == "VALID") p.padding = sepcpp::Padding::kValid;
  else if (padding == "EXPLICIT") p.padding = sepcpp::Padding::kExplicit;
  else throw std::invalid_argument("padding: unknown padding '" + padding + "'");
  p.pad_top = pads[0], p.pad_bottom = pads[1], p.pad_left = pads[2], p.pad_right = pads[3];
  if (layout == "NHWC") p.layout = sepcpp::Layout::kNHWC;
  else if (layout == "NCHW") p.layout = sepcpp::Layout::kNCHW;
  else throw std::invalid_argument("data_format: unknown layout '" + layout + "'");
  p.activation = parse_activation(activation, "activation");
  p.depthwise_activation = parse_activation(depthwise_activation, "depthwise_activation");
  p.groups = groups;
  return p;
}

// Run between chunks of a long call on the thread that released the GIL: Python's signal handlers
// (Ctrl-C's KeyboardInterrupt) get their chance, and an exception they raise ends the call.
void check_signals() {
  py::gil_scoped_acquire gil;
  if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// Only the main thread runs signal handlers; other threads need no check. The main thread's id is
// looked up once, and again in a child after fork(): there the forking thread, whichever it was, is
// the main thread (and the only one).
std::atomic<unsigned long> g_main_thread{0};

bool on_main_thread() {
  unsigned long main_id = g_main_thread.load(std::memory_order_relaxed);
  if (main_id == 0) {  // (with the GIL held: Python has finished its own after-fork work)
    static const int registered = pthread_atfork(nullptr, nullptr, [] { g_main_thread.store(0); });
    (void)registered;
    py::module_ threading = py::module_::import("threading");
    main_id = threading.attr("main_thread")().attr("ident").cast<unsigned long>();
    g_main_thread.store(main_id, std::memory_order_relaxed);
  }
  return PyThread_get_thread_ident() == main_id;
}

// The Python API's names of the first filter and bias (tf.nn's names).
const char* filter_name(OpKind op) {
  return op == OpKind::kSeparable ? "depthwise_filter" : op == OpKind::kConv ? "filters" : "filter";
}
const char* bias_name(OpKind op) { return op == OpKind::kSeparable ? "depthwise_bias" : "bias"; }

// Whether `a` holds T in native byte order. Dtypes are compared by value, not identity: an array
// that went through pickle (multiprocessing, joblib, dask, Ray) carries an equal float32 dtype
// object that is not NumPy's canonical one. A non-native byte order ('>f4') is not equal and is
// refused (the Python layer refuses it first, with a clearer message).
template <class T>
bool has_dtype(const py::array& a) {
  const py::dtype want = py::dtype::of<T>();
  return a.dtype().is(want) || a.dtype().equal(want);
}

// ml_dtypes.bfloat16's dtype (kept for the life of the process), or None while ml_dtypes has not
// been imported: an array can have that dtype only once it has, so sepcpp never imports it itself.
py::object bfloat16_dtype() {
  static py::object* found = nullptr;
  if (found) return *found;
  py::dict modules = py::module_::import("sys").attr("modules");
  if (!modules.contains("ml_dtypes")) return py::none();
  found = new py::object(py::dtype::from_args(modules["ml_dtypes"].attr("bfloat16")));  // never freed
  return *found;
}

template <>
bool has_dtype<sepcpp::bfloat16>(const py::array& a) {
  if (a.itemsize() != 2) return false;
  const py::object want = bfloat16_dtype();
  return !want.is_none() && (a.dtype().is(want) || a.dtype().equal(want.cast<py::dtype>()));
}

template <class T>
py::dtype dtype_of() {
  return py::dtype::of<T>();
}
template <>
py::dtype dtype_of<sepcpp::bfloat16>() {
  return bfloat16_dtype().cast<py::dtype>();  // (only called once an array of it was seen)
}

// A new C-contiguous array of T (pybind11's array_t knows no bfloat16).
template <class T>
py::array new_result(const int64_t* shape, int ndim) {
  return py::array(dtype_of<T>(), std::vector<py::ssize_t>(shape, shape + ndim));
}

template <class T>
Tensor<const T> view(const py::object& obj, const char* name) {
  Tensor<const T> t;
  if (obj.is_none()) return t;
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!has_dtype<T>(a))
    throw py::type_error(std::string(name) + ": dtype " + py::str(a.dtype()).cast<std::string>() + " does not match the input's");
  if (a.ndim() > 4) throw std::invalid_argument(std::string(name) + ": rank " + std::to_string(a.ndim()) + " is too high");
  t.data = static_cast<const T*>(a.data());
  t.ndim = static_cast<int>(a.ndim());
  for (int i = 0; i < t.ndim; ++i) {
    t.shape[i] = a.shape(i);
    if (a.strides(i) % static_cast<py::ssize_t>(sizeof(T)) != 0)
      throw std::invalid_argument(std::string(name) + ": byte strides must be multiples of the item size");
    t.strides[i] = a.strides(i) / static_cast<py::ssize_t>(sizeof(T));
  }
  return t;
}

template <class T>
Tensor<T> mutable_view(py::array& a) {
  Tensor<const T> c = view<T>(a, "out");
  Tensor<T> t;
  t.data = static_cast<T*>(a.mutable_data());
  t.ndim = c.ndim;
  for (int i = 0; i < 4; ++i) t.shape[i] = c.shape[i], t.strides[i] = c.strides[i];
  return t;
}

template <class T>
py::array run_typed(OpKind op, const py::array& input, const py::object& f1, const py::object& f2,
                    const py::object& b1, const py::object& b2, py::object out, const ConvParams& p) {
  const Tensor<const T> in = view<T>(input, "input");
  if (in.ndim != 4)
    throw std::invalid_argument(std::string(sepcpp::op_name(op)) + ": input must have rank 4, got shape " +
                                sepcpp::shape_string(in.shape, in.ndim));
  const Tensor<const T> w1 = view<T>(f1, filter_name(op));
  const Tensor<const T> w2 = view<T>(f2, "pointwise_filter");
  const Tensor<const T> bias1 = view<T>(b1, bias_name(op));
  const Tensor<const T> bias2 = view<T>(b2, "bias");
  const sepcpp::ConvGeometry g = sepcpp::conv_geometry(op, in.shape, w1.shape, w1.ndim, w2.shape, w2.ndim, p);
  py::array result;
  if (out.is_none()) {
    int64_t shape[4];
    sepcpp::output_shape(g, p.layout, shape);
    result = new_result<T>(shape, 4);
  } else {
    result = py::reinterpret_borrow<py::array>(out);
  }
  Tensor<T> o = mutable_view<T>(result);
  {
    sepcpp::InterruptScope interrupt(on_main_thread() ? check_signals : nullptr);
    py::gil_scoped_release release;
    switch (op) {
      case OpKind::kDepthwise: sepcpp::depthwise_conv2d<T>(in, w1, bias1, o, p); break;
      case OpKind::kPointwise: sepcpp::pointwise_conv2d<T>(in, w1, bias1, o, p); break;
      case OpKind::kSeparable: sepcpp::separable_conv2d<T>(in, w1, w2, bias1, bias2, o, p); break;
      case OpKind::kConv: sepcpp::conv2d<T>(in, w1, bias1, o, p); break;
    }
  }
  return result;
}

OpKind parse_op(const std::string& op_name) {
  if (op_name == "depthwise") return OpKind::kDepthwise;
  if (op_name == "pointwise") return OpKind::kPointwise;
  if (op_name == "separable") return OpKind::kSeparable;
  if (op_name == "conv") return OpKind::kConv;
  throw std::invalid_argument("unknown op " + op_name);
}

// A prepacked layer of one dtype.
template <class T>
class PyLayer {
 public:
  PyLayer(const std::string& op, const py::array& f1, const py::object& f2, const py::object& b1,
          const py::object& b2, std::array<int64_t, 2> strides, std::array<int64_t, 2> dilations,
          const std::string& padding, std::array<int64_t, 4> pads, const std::string& layout,
          const std::string& activation, const std::string& depthwise_activation, int64_t groups)
      : layer_(parse_op(op), view<T>(f1, filter_name(parse_op(op))), view<T>(f2, "pointwise_filter"),
               view<T>(b1, bias_name(parse_op(op))), view<T>(b2, "bias"),
               make_params(strides, dilations, padding, pads, layout, activation, depthwise_activation, groups)) {}

  py::array call(const py::array& input, const py::object& out) const {
    if (!has_dtype<T>(input))
      throw py::type_error("input: dtype " + py::str(input.dtype()).cast<std::string>() +
                           " does not match the layer's dtype " + py::str(dtype_of<T>()).cast<std::string>());
    const Tensor<const T> in = view<T>(input, "input");
    if (in.ndim != 4)
      throw std::invalid_argument(std::string(sepcpp::op_name(layer_.op())) + ": input must have rank 4, got shape " +
                                  sepcpp::shape_string(in.shape, in.ndim));
    const sepcpp::ConvGeometry g = layer_.geometry(in.shape);
    py::array result;
    if (out.is_none()) {
      int64_t shape[4];
      sepcpp::output_shape(g, layer_.params().layout, shape);
      result = new_result<T>(shape, 4);
    } else {
      result = py::reinterpret_borrow<py::array>(out);
    }
    Tensor<T> o = mutable_view<T>(result);
    {
      sepcpp::InterruptScope interrupt(on_main_thread() ? check_signals : nullptr);
      py::gil_scoped_release release;
      layer_(in, o);
    }
    return result;
  }

  std::vector<int64_t> output_shape(std::vector<int64_t> input_shape) const {
    if (input_shape.size() != 4) throw std::invalid_argument("input: must have rank 4");
    const sepcpp::ConvGeometry g = layer_.geometry(input_shape.data());
    std::vector<int64_t> shape(4);
    sepcpp::output_shape(g, layer_.params().layout, shape.data());
    return shape;
  }

 private:
  sepcpp::ConvLayer<T> layer_;
};

template <class T>
void bind_layer(py::module_& m, const char* name) {
  py::class_<PyLayer<T>>(m, name)
      .def(py::init<const std::string&, const py::array&, const py::object&, const py::object&, const py::object&,
                    std::array<int64_t, 2>, std::array<int64_t, 2>, const std::string&, std::array<int64_t, 4>,
                    const std::string&, const std::string&, const std::string&, int64_t>())
      .def("__call__", &PyLayer<T>::call, py::arg("input"), py::arg("out") = py::none())
      .def("output_shape", &PyLayer<T>::output_shape);
}

py::array run(const std::string& op_name, const py::array& input, const py::object& f1, const py::object& f2,
              const py::object& b1, const py::object& b2, const py::object& out, std::array<int64_t, 2> strides,
              std::array<int64_t, 2> dilations, const std::string& padding, std::array<int64_t, 4> pads,
              const std::string& layout, const std::string& activation, const std::string& depthwise_activation,
              int64_t groups) {
  const OpKind op = parse_op(op_name);
  const ConvParams p = make_params(strides, dilations, padding, pads, layout, activation, depthwise_activation, groups);
  if (has_dtype<float>(input)) return run_typed<float>(op, input, f1, f2, b1, b2, out, p);
  if (has_dtype<double>(input)) return run_typed<double>(op, input, f1, f2, b1, b2, out, p);
  if (has_dtype<sepcpp::bfloat16>(input)) return run_typed<sepcpp::bfloat16>(op, input, f1, f2, b1, b2, out, p);
  throw py::type_error("input: dtype " + py::str(input.dtype()).cast<std::string>() +
                       " is not supported (float32, float64 or bfloat16)");
}

}  // namespace

// Plain C symbols for threadpoolctl's controller (python/sepcpp/_threadpoolctl.py), found with
// ctypes: the module is built with hidden visibility, so these are exported by name.
extern "C" {
__attribute__((visibility("default"))) int sepcpp_get_num_threads(void) { return sepcpp::get_num_threads(); }
__attribute__((visibility("default"))) void sepcpp_set_num_threads(int n) {
  if (n >= 0) sepcpp::set_num_threads(n);
}
}


// ---- The backprop ops (sepcpp/backprop.hpp) -----------------------------------------------------
namespace {

// `sizes` as a 4-D shape (a C-contiguous array of it is allocated only once the geometry is valid).
template <class T>
py::array_t<T> new_array(const int64_t* shape, int ndim) {
  return py::array_t<T>(std::vector<py::ssize_t>(shape, shape + ndim));
}

template <class T>
py::array backprop_typed(bool depthwise, bool input_grad, const py::array& x_or_filter,
                         std::array<int64_t, 4> sizes, const py::array& out_backprop, const ConvParams& p) {
  const OpKind kind = depthwise ? OpKind::kDepthwise : OpKind::kConv;
  const Tensor<const T> operand =
      view<T>(x_or_filter, input_grad ? (depthwise ? "filter" : "filters") : "input");
  const Tensor<const T> dy = view<T>(out_backprop, "out_backprop");
  // The forward geometry validates sizes and filters before the result is allocated.
  if (input_grad) sepcpp::conv_geometry(kind, sizes.data(), operand.shape, operand.ndim, nullptr, 0, p);
  else sepcpp::conv_geometry(kind, operand.shape, sizes.data(), 4, nullptr, 0, p);
  py::array_t<T> result = new_array<T>(sizes.data(), 4);
  Tensor<T> r = mutable_view<T>(result);
  {
    sepcpp::InterruptScope interrupt(on_main_thread() ? check_signals : nullptr);
    py::gil_scoped_release release;
    if (depthwise && input_grad) sepcpp::depthwise_conv2d_backprop_input<T>(sizes.data(), operand, dy, r, p);
    else if (depthwise) sepcpp::depthwise_conv2d_backprop_filter<T>(operand, sizes.data(), dy, r, p);
    else if (input_grad) sepcpp::conv2d_backprop_input<T>(sizes.data(), operand, dy, r, p);
    else sepcpp::conv2d_backprop_filter<T>(operand, sizes.data(), dy, r, p);
  }
  return std::move(result);
}

// op: "depthwise" or "conv"; wrt: "input" (x_or_filter is the filter, sizes the input's) or
// "filter" (x_or_filter is the input, sizes the filter's). The dtype is out_backprop's.
py::array backprop(const std::string& op, const std::string& wrt, const py::array& x_or_filter,
                   std::array<int64_t, 4> sizes, const py::array& out_backprop, std::array<int64_t, 2> strides,
                   std::array<int64_t, 2> dilations, const std::string& padding, std::array<int64_t, 4> pads,
                   const std::string& layout) {
  const bool depthwise = parse_op(op) == OpKind::kDepthwise, input_grad = wrt == "input";
  const ConvParams p = make_params(strides, dilations, padding, pads, layout, "", "", 1);
  if (has_dtype<float>(out_backprop))
    return backprop_typed<float>(depthwise, input_grad, x_or_filter, sizes, out_backprop, p);
  if (has_dtype<double>(out_backprop))
    return backprop_typed<double>(depthwise, input_grad, x_or_filter, sizes, out_backprop, p);
  throw py::type_error("out_backprop: dtype " + py::str(out_backprop.dtype()).cast<std::string>() +
                       " is not supported (float32 or float64)");
}

template <class T>
py::tuple separable_backprop_typed(const py::array& input, const py::object& f1, const py::object& f2,
                                   const py::object& b1, const py::object& b2, const py::array& out_backprop,
                                   const ConvParams& p) {
  const Tensor<const T> x = view<T>(input, "input");
  const Tensor<const T> fd = view<T>(f1, "depthwise_filter"), fp = view<T>(f2, "pointwise_filter");
  const Tensor<const T> bd = view<T>(b1, "depthwise_bias"), b = view<T>(b2, "bias");
  const Tensor<const T> dy = view<T>(out_backprop, "out_backprop");
  sepcpp::conv_geometry(OpKind::kSeparable, x.shape, fd.shape, fd.ndim, fp.shape, fp.ndim, p);
  sepcpp::SeparableGradients<T> g;
  py::array gx = new_array<T>(x.shape, x.ndim), gd = new_array<T>(fd.shape, fd.ndim), gp;
  if (fp.ndim == 4 && fp.shape[2] > 1 && fp.shape[3] > 1 && fp.strides[2] == 1 && fp.strides[3] == fp.shape[2]) {
    // The pointwise gradient in the filter's layout when that is [C*M/groups, O] column by column
    // (a torch weight [O, C*M] viewed as TensorFlow's): sepcpp.torch then takes it as it is, not
    // through an element-by-element transposed copy.
    const auto s = static_cast<py::ssize_t>(sizeof(T));
    gp = py::array_t<T>(std::vector<py::ssize_t>(fp.shape, fp.shape + 4),
                        {fp.shape[2] * fp.shape[3] * s, fp.shape[2] * fp.shape[3] * s, s, fp.shape[2] * s});
  } else {
    gp = new_array<T>(fp.shape, fp.ndim);
  }
  py::object gbd = py::none(), gb = py::none();
  g.input = mutable_view<T>(gx), g.depthwise_filter = mutable_view<T>(gd), g.pointwise_filter = mutable_view<T>(gp);
  if (bd.data && bd.ndim == 1) {
    py::array a = new_array<T>(bd.shape, 1);
    g.depthwise_bias = mutable_view<T>(a);
    gbd = a;
  }
  if (b.data && b.ndim == 1) {
    py::array a = new_array<T>(b.shape, 1);
    g.bias = mutable_view<T>(a);
    gb = a;
  }
  {
    sepcpp::InterruptScope interrupt(on_main_thread() ? check_signals : nullptr);
    py::gil_scoped_release release;
    sepcpp::separable_conv2d_backprop<T>(x, fd, fp, bd, b, dy, g, p);
  }
  return py::make_tuple(gx, gd, gp, gbd, gb);
}

py::tuple separable_backprop(const py::array& input, const py::object& f1, const py::object& f2, const py::object& b1,
                             const py::object& b2, const py::array& out_backprop, std::array<int64_t, 2> strides,
                             std::array<int64_t, 2> dilations, const std::string& padding,
                             std::array<int64_t, 4> pads, const std::string& layout, const std::string& activation,
                             const std::string& depthwise_activation, int64_t groups) {
  const ConvParams p = make_params(strides, dilations, padding, pads, layout, activation, depthwise_activation, groups);
  if (has_dtype<float>(input))
    return separable_backprop_typed<float>(input, f1, f2, b1, b2, out_backprop, p);
  if (has_dtype<double>(input))
    return separable_backprop_typed<double>(input, f1, f2, b1, b2, out_backprop, p);
  throw py::type_error("input: dtype " + py::str(input.dtype()).cast<std::string>() +
                       " is not supported (float32 or float64)");
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "sepcpp's C++ core (use the sepcpp package, not this module)";
  m.def("run", &run, py::arg("op"), py::arg("input"), py::arg("filter1"), py::arg("filter2"), py::arg("bias1"),
        py::arg("bias2"), py::arg("out"), py::arg("strides"), py::arg("dilations"), py::arg("padding"),
        py::arg("pads"), py::arg("layout"), py::arg("activation"), py::arg("depthwise_activation"),
        py::arg("groups"));
  bind_layer<float>(m, "LayerF32");
  bind_layer<double>(m, "LayerF64");
  bind_layer<sepcpp::bfloat16>(m, "LayerBF16");
  m.def("set_num_threads", &sepcpp::set_num_threads);
  m.def("get_num_threads", &sepcpp::get_num_threads);
  m.def("isa_in_use", [] { return std::string(sepcpp::isa_in_use()); });
  m.def("isas_compiled", &sepcpp::isas_compiled);
  m.def("isas_available", &sepcpp::isas_available);
  m.def("set_isa", &sepcpp::set_isa);
  m.def("openmp_enabled", &sepcpp::openmp_enabled);
  m.def("threading_backend", [] { return std::string(sepcpp::threading_backend()); });
  m.def("adaptive_threads", [] {
    const sepcpp::AdaptiveThreads a = sepcpp::adaptive_threads();
    return py::dict(py::arg("enabled") = a.enabled, py::arg("contended") = a.contended,
                    py::arg("events") = a.events, py::arg("solo_calls") = a.solo_calls);
  });
  m.def("set_adaptive_threads", &sepcpp::set_adaptive_threads);
  // Tests: the calls of the next `seconds` run as after contention.
  m.def("_start_adaptive_window", [](double seconds) {
    sepcpp::detail::start_adaptive_window(static_cast<int64_t>(seconds * 1e9));
  });
  m.def("measure_peak_gflops", &sepcpp::measure_fma_peak_gflops, py::arg("isa"), py::arg("threads") = 0,
        py::call_guard<py::gil_scoped_release>());
  m.def("measure_bandwidth_gbs", &sepcpp::measure_bandwidth_gbs, py::arg("threads") = 0,
        py::arg("bytes_per_array") = int64_t(256) << 20, py::call_guard<py::gil_scoped_release>());
  // The backprop ops.
  m.def("backprop", &backprop, py::arg("op"), py::arg("wrt"), py::arg("x_or_filter"), py::arg("sizes"),
        py::arg("out_backprop"), py::arg("strides"), py::arg("dilations"), py::arg("padding"), py::arg("pads"),
        py::arg("layout"));
  m.def("separable_backprop", &separable_backprop, py::arg("input"), py::arg("filter1"), py::arg("filter2"),
        py::arg("bias1"), py::arg("bias2"), py::arg("out_backprop"), py::arg("strides"), py::arg("dilations"),
        py::arg("padding"), py::arg("pads"), py::arg("layout"), py::arg("activation"),
        py::arg("depthwise_activation"), py::arg("groups"));
#ifdef SEPCPP_VERSION
  m.attr("__version__") = SEPCPP_VERSION;
#endif
}
