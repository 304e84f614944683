// The pybind11 binding of the CUDA target (module sepcpp._cuda, built with SEPCPP_CUDA=ON).
//
// Device arrays arrive as DLPack capsules (python/sepcpp/_cuda.py calls the array's __dlpack__ on
// the stream the op will run on) and are read in place: pointer, shape and strides, never copied
// to the host. Host (NumPy) filters and biases are uploaded for the call; device ones with any
// strides are packed dense on the device. Shapes are validated by the CPU path's own
// sepcpp::conv_geometry and argument checks (cpp/src/checks.hpp), so the errors are the CPU ops'
// word for word. The output is allocated by a Python callable (so it is the input's kind of array,
// from its framework's allocator) once the shapes are valid, and written on the caller's stream.
#include <cuda_runtime.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "checks.hpp"
#include "cuda_ops.hpp"
#include "sepcpp/ops.hpp"

namespace py = pybind11;
using sepcpp::ConvParams;
using sepcpp::OpKind;

namespace {

// ---- DLPack (the ABI of dlpack.h, versions 0.x and 1.x, declared here) ----------------------
struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};
struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};
struct DLTensor {
  void* data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t* shape;
  int64_t* strides;  // in elements; nullptr means C-contiguous
  uint64_t byte_offset;
};
struct DLManagedTensor {
  DLTensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(DLManagedTensor*);
};
struct DLPackVersion {
  uint32_t major;
  uint32_t minor;
};
struct DLManagedTensorVersioned {
  DLPackVersion version;
  void* manager_ctx;
  void (*deleter)(DLManagedTensorVersioned*);
  uint64_t flags;
  DLTensor dl_tensor;
};
constexpr int32_t kDLCUDA = 2, kDLCUDAManaged = 13;
constexpr uint8_t kDLFloat = 2;
constexpr uint64_t kDLFlagReadOnly = 1;

// A borrowed view of a capsule's tensor; the capsule (kept alive by the caller) owns it.
struct DeviceView {
  const DLTensor* t = nullptr;
  bool read_only = false;
};

DeviceView view_capsule(const py::capsule& cap, const char* name) {
  DeviceView v;
  const char* cname = cap.name();
  if (cname && std::string(cname) == "dltensor") {
    v.t = &static_cast<DLManagedTensor*>(cap.get_pointer())->dl_tensor;
  } else if (cname && std::string(cname) == "dltensor_versioned") {
    auto* m = static_cast<DLManagedTensorVersioned*>(cap.get_pointer());
    if (m->version.major != 1)
      throw py::type_error(std::string(name) + ": DLPack version " + std::to_string(m->version.major) +
                           " is not supported");
    v.t = &m->dl_tensor;
    v.read_only = (m->flags & kDLFlagReadOnly) != 0;
  } else {
    throw py::type_error(std::string(name) + ": not an unused DLPack capsule");
  }
  return v;
}

template <class T>
bool dl_is(const DLDataType& d) {
  return d.code == kDLFloat && d.bits == sizeof(T) * 8 && d.lanes == 1;
}

std::string dl_dtype_name(const DLDataType& d) {
  const char* kinds[] = {"int", "uint", "float", "opaque", "bfloat", "complex", "bool"};
  std::string s = d.code < 7 ? kinds[d.code] : "code" + std::to_string(d.code);
  s += std::to_string(d.bits);
  if (d.lanes != 1) s += "x" + std::to_string(d.lanes);
  return s;
}

// The bytes a tensor's elements span, [lo, hi); empty for a tensor with no elements. (Bounds, as
// np.may_share_memory's: two tensors whose spans meet are taken to share memory.)
template <class T>
std::pair<uintptr_t, uintptr_t> span_of(const sepcpp::Tensor<T>& t) {
  int64_t lo = 0, hi = 0;
  for (int i = 0; i < t.ndim; ++i) {
    if (t.shape[i] == 0) return {0, 0};
    const int64_t reach = (t.shape[i] - 1) * t.strides[i];
    (reach < 0 ? lo : hi) += reach;
  }
  const auto base = reinterpret_cast<uintptr_t>(t.data);
  return {base + lo * static_cast<int64_t>(sizeof(T)), base + (hi + 1) * static_cast<int64_t>(sizeof(T))};
}

// One operand of an op: a device view, a host array uploaded for the call, or absent.
template <class T>
struct Operand {
  sepcpp::Tensor<const T> shape_only;  // shape and element strides; data is the device pointer
  bool present = false, dense = true, host = false;
  py::array host_array;
};

template <class T>
Operand<T> operand(const py::object& obj, const char* name, int device) {
  Operand<T> o;
  if (obj.is_none()) return o;
  o.present = true;
  if (py::isinstance<py::capsule>(obj)) {
    const DeviceView v = view_capsule(py::reinterpret_borrow<py::capsule>(obj), name);
    const DLTensor& t = *v.t;
    if (t.device.device_type != kDLCUDA && t.device.device_type != kDLCUDAManaged)
      throw py::type_error(std::string(name) + ": is not in CUDA device memory (DLPack device type " +
                           std::to_string(t.device.device_type) + ")");
    if (t.device.device_id != device)
      throw std::invalid_argument(std::string(name) + ": is on cuda:" + std::to_string(t.device.device_id) +
                                  " but the input is on cuda:" + std::to_string(device));
    if (!dl_is<T>(t.dtype))
      throw py::type_error(std::string(name) + ": dtype " + dl_dtype_name(t.dtype) + " does not match the input's");
    if (t.ndim > 4) throw std::invalid_argument(std::string(name) + ": rank " + std::to_string(t.ndim) + " is too high");
    o.shape_only.ndim = t.ndim;
    o.shape_only.data = reinterpret_cast<const T*>(static_cast<const char*>(t.data) + t.byte_offset);
    int64_t expect = 1;
    for (int i = t.ndim - 1; i >= 0; --i) {
      o.shape_only.shape[i] = t.shape[i];
      o.shape_only.strides[i] = t.strides ? t.strides[i] : expect;
      if (t.shape[i] != 1 && o.shape_only.strides[i] != expect) o.dense = false;
      expect *= t.shape[i];
    }
    return o;
  }
  // A host array (the Python layer has checked its dtype): made C-contiguous here, uploaded later.
  o.host = true;
  o.host_array = py::array_t<T, py::array::c_style>::ensure(obj);
  if (!o.host_array) throw py::type_error(std::string(name) + ": expected a device array or a NumPy array");
  o.shape_only.ndim = static_cast<int>(o.host_array.ndim());
  if (o.shape_only.ndim > 4) throw std::invalid_argument(std::string(name) + ": rank is too high");
  for (int i = 0; i < o.shape_only.ndim; ++i) o.shape_only.shape[i] = o.host_array.shape(i);
  o.shape_only.data = static_cast<const T*>(o.host_array.data());
  return o;
}

// Device memory for one call, freed in stream order after the call's kernels.
class Scratch {
 public:
  explicit Scratch(cudaStream_t s) : stream_(s) {}
  ~Scratch() {
    for (void* p : blocks_) cudaFreeAsync(p, stream_);
  }
  template <class T>
  T* alloc(int64_t n) {
    void* p = nullptr;
    sepcpp::cuda::check(cudaMallocAsync(&p, static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T), stream_),
                        "cudaMallocAsync");
    blocks_.push_back(p);
    return static_cast<T*>(p);
  }

 private:
  cudaStream_t stream_;
  std::vector<void*> blocks_;
};

// The operand's data as a dense device array.
template <class T>
const T* dense_on_device(const Operand<T>& o, Scratch& scratch, cudaStream_t s) {
  if (!o.present) return nullptr;
  const auto& t = o.shape_only;
  int64_t n = 1;
  for (int i = 0; i < t.ndim; ++i) n *= t.shape[i];
  if (o.host) {
    T* d = scratch.alloc<T>(n);
    if (n > 0)
      sepcpp::cuda::check(cudaMemcpyAsync(d, t.data, static_cast<size_t>(n) * sizeof(T), cudaMemcpyHostToDevice, s),
                          "uploading a host filter");
    return d;
  }
  if (o.dense) return t.data;
  int64_t shape[4] = {1, 1, 1, 1}, strides[4] = {0, 0, 0, 0};
  for (int i = 0; i < t.ndim; ++i) shape[4 - t.ndim + i] = t.shape[i], strides[4 - t.ndim + i] = t.strides[i];
  T* d = scratch.alloc<T>(n);
  sepcpp::cuda::pack_dense<T>(t.data, shape, strides, d, s);
  return d;
}

sepcpp::cuda::Strides4 role_strides(const int64_t* strides, sepcpp::Layout layout) {
  sepcpp::cuda::Strides4 r;
  r.n = strides[0];
  if (layout == sepcpp::Layout::kNHWC) r.h = strides[1], r.w = strides[2], r.c = strides[3];
  else r.c = strides[1], r.h = strides[2], r.w = strides[3];
  return r;
}

sepcpp::Activation parse_activation(const std::string& a) {
  if (a.empty() || a == "none") return sepcpp::Activation::kNone;
  if (a == "relu") return sepcpp::Activation::kRelu;
  if (a == "relu6") return sepcpp::Activation::kRelu6;
  throw std::invalid_argument("activation: unknown activation '" + a + "'");
}

OpKind parse_op(const std::string& op) {
  if (op == "depthwise") return OpKind::kDepthwise;
  if (op == "pointwise") return OpKind::kPointwise;
  if (op == "separable") return OpKind::kSeparable;
  if (op == "conv") return OpKind::kConv;
  throw std::invalid_argument("unknown op " + op);
}

ConvParams make_params(OpKind op, std::array<int64_t, 2> strides, std::array<int64_t, 2> dilations,
                       const std::string& padding, std::array<int64_t, 4> pads, const std::string& layout,
                       const std::string& activation, const std::string& dw_activation, int64_t groups) {
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
  p.activation = parse_activation(activation);
  if (op == OpKind::kSeparable) {
    p.depthwise_activation = parse_activation(dw_activation);
    p.groups = groups;
  }
  return p;
}

// Sets the current device for a scope and puts the previous one back.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    sepcpp::cuda::check(cudaGetDevice(&previous_), "cudaGetDevice");
    if (previous_ != device) sepcpp::cuda::check(cudaSetDevice(device), "cudaSetDevice");
  }
  ~DeviceScope() { cudaSetDevice(previous_); }

 private:
  int previous_ = 0;
};

template <class T>
py::object run_typed(OpKind op, const DeviceView& input, const py::object& f1, const py::object& f2,
                     const py::object& b1, const py::object& b2, py::object out, const py::function& alloc,
                     py::object dlpack_stream, cudaStream_t stream, const ConvParams& p) {
  const char* name = sepcpp::op_name(op);
  const DLTensor& xt = *input.t;
  const int device = xt.device.device_id;
  if (xt.ndim != 4)
    throw std::invalid_argument(std::string(name) + ": input must have rank 4, got shape " +
                                sepcpp::shape_string(xt.shape, xt.ndim));
  int64_t in_shape[4], in_strides[4], expect = 1;
  for (int i = 3; i >= 0; --i) {
    in_shape[i] = xt.shape[i];
    in_strides[i] = xt.strides ? xt.strides[i] : expect;
    expect *= xt.shape[i];
  }
  const bool sep = op == OpKind::kSeparable;
  const Operand<T> w1 = operand<T>(f1, sepcpp::detail::filter_arg_name(op), device);
  const Operand<T> w2 = operand<T>(f2, "pointwise_filter", device);
  const Operand<T> bias1 = operand<T>(b1, sep ? "depthwise_bias" : "bias", device);
  const Operand<T> bias2 = operand<T>(b2, "bias", device);
  // The CPU path's checks, in its order (sepcpp::ConvLayer).
  const sepcpp::ConvGeometry g =
      sepcpp::conv_geometry(op, in_shape, w1.shape_only.shape, w1.shape_only.ndim, w2.shape_only.shape,
                            w2.shape_only.ndim, p);
  sepcpp::detail::check_rank(name, sepcpp::detail::filter_arg_name(op), w1.shape_only, 4);
  if (sep) sepcpp::detail::check_rank(name, "pointwise_filter", w2.shape_only, 4);
  if (sep) {
    sepcpp::detail::check_bias(name, "depthwise_bias", bias1.shape_only, g.mid_channels());
    sepcpp::detail::check_bias(name, "bias", bias2.shape_only, g.out_channels);
  } else {
    sepcpp::detail::check_bias(name, "bias", bias1.shape_only, g.out_channels);
  }
  int64_t out_shape[4];
  sepcpp::output_shape(g, p.layout, out_shape);
  if (out.is_none()) out = alloc(py::make_tuple(out_shape[0], out_shape[1], out_shape[2], out_shape[3]));
  py::object out_cap = out.attr("__dlpack__")(py::arg("stream") = dlpack_stream);
  const DeviceView ov = view_capsule(py::reinterpret_borrow<py::capsule>(out_cap), "out");
  const DLTensor& ot = *ov.t;
  if (ov.read_only) throw std::invalid_argument("out: is read-only");
  if (!dl_is<T>(ot.dtype))
    throw py::type_error("out: dtype " + dl_dtype_name(ot.dtype) + " does not match the input's");
  if (ot.device.device_type != xt.device.device_type || ot.device.device_id != device)
    throw std::invalid_argument("out: is not on the input's device cuda:" + std::to_string(device));
  sepcpp::Tensor<T> o;
  o.ndim = ot.ndim;
  o.data = reinterpret_cast<T*>(static_cast<char*>(ot.data) + ot.byte_offset);
  expect = 1;
  for (int i = ot.ndim - 1; i >= 0; --i) {
    o.shape[i] = ot.shape[i];
    o.strides[i] = ot.strides ? ot.strides[i] : expect;
    expect *= ot.shape[i];
  }
  sepcpp::detail::check_output(name, o, g, p.layout);
  // As on the CPU: no computing in place (the output would overwrite what is still to be read).
  {
    sepcpp::Tensor<const T> xin;
    xin.data = reinterpret_cast<const T*>(static_cast<const char*>(xt.data) + xt.byte_offset);
    xin.ndim = 4;
    for (int i = 0; i < 4; ++i) xin.shape[i] = in_shape[i], xin.strides[i] = in_strides[i];
    const auto os = span_of(o);
    auto meets = [&](const sepcpp::Tensor<const T>& t) {
      const auto ts = span_of(t);
      return os.first < os.second && ts.first < ts.second && os.first < ts.second && ts.first < os.second;
    };
    bool shared = meets(xin);
    for (const Operand<T>* w : {&w1, &w2, &bias1, &bias2})
      if (w->present && !w->host) shared = shared || meets(w->shape_only);
    if (shared) throw std::invalid_argument("out: shares memory with an input or filter; sepcpp does not compute in place");
  }

  {
    py::gil_scoped_release release;
    DeviceScope scope(device);
    Scratch scratch(stream);
    sepcpp::cuda::DeviceOperands<T> t;
    t.input = reinterpret_cast<const T*>(static_cast<const char*>(xt.data) + xt.byte_offset);
    t.in = role_strides(in_strides, p.layout);
    t.filter1 = dense_on_device(w1, scratch, stream);
    t.filter2 = dense_on_device(w2, scratch, stream);
    t.bias1 = dense_on_device(bias1, scratch, stream);
    t.bias2 = dense_on_device(bias2, scratch, stream);
    t.output = o.data;
    t.out = role_strides(o.strides, p.layout);
    sepcpp::cuda::run<T>(op, g, p, t, stream);
  }
  return out;
}

// op: "depthwise", "pointwise", "separable", "conv"; input: a DLPack capsule of a CUDA array;
// filters and biases: capsules, NumPy arrays or None; out: an array with __dlpack__ or None, then
// alloc(shape) makes one; stream: the cudaStream_t (as an int) to run on, and dlpack_stream what
// to pass to out.__dlpack__ (the DLPack protocol's number for that stream).
py::object run(const std::string& op_name, const py::capsule& input, const py::object& f1, const py::object& f2,
               const py::object& b1, const py::object& b2, const py::object& out, const py::function& alloc,
               uintptr_t stream, const py::object& dlpack_stream, std::array<int64_t, 2> strides,
               std::array<int64_t, 2> dilations, const std::string& padding, std::array<int64_t, 4> pads,
               const std::string& layout, const std::string& activation, const std::string& dw_activation,
               int64_t groups) {
  const OpKind op = parse_op(op_name);
  const ConvParams p = make_params(op, strides, dilations, padding, pads, layout, activation, dw_activation, groups);
  const DeviceView x = view_capsule(input, "input");
  if (x.t->device.device_type != kDLCUDA && x.t->device.device_type != kDLCUDAManaged)
    throw py::type_error("input: is not in CUDA device memory (DLPack device type " +
                         std::to_string(x.t->device.device_type) + ")");
  const cudaStream_t s = reinterpret_cast<cudaStream_t>(stream);
  if (dl_is<float>(x.t->dtype)) return run_typed<float>(op, x, f1, f2, b1, b2, out, alloc, dlpack_stream, s, p);
  if (dl_is<double>(x.t->dtype)) return run_typed<double>(op, x, f1, f2, b1, b2, out, alloc, dlpack_stream, s, p);
  throw py::type_error("input: dtype " + dl_dtype_name(x.t->dtype) + " is not supported (float32 or float64)");
}

// ---- Device memory handed out through DLPack (for array kinds whose framework cannot be asked
// to allocate: JAX arrays are immutable, so their results are written here and then wrapped). ---
struct Allocation {
  void* ptr = nullptr;
  int device = 0;
  ~Allocation() {
    if (ptr) {
      int previous = 0;
      cudaGetDevice(&previous);
      cudaSetDevice(device);
      cudaFree(ptr);
      cudaSetDevice(previous);
    }
  }
};

struct ExportCtx {
  std::shared_ptr<Allocation> alloc;
  std::vector<int64_t> shape;
  DLManagedTensor managed;
};

class DeviceBuffer {
 public:
  DeviceBuffer(std::vector<int64_t> shape, const std::string& dtype, int device, uintptr_t stream)
      : shape_(std::move(shape)), device_(device), stream_(reinterpret_cast<cudaStream_t>(stream)) {
    if (dtype == "float32") bits_ = 32;
    else if (dtype == "float64") bits_ = 64;
    else throw py::type_error("DeviceBuffer: dtype " + dtype + " is not supported");
    int64_t n = 1;
    for (int64_t d : shape_) n *= d;
    alloc_ = std::make_shared<Allocation>();
    alloc_->device = device;
    DeviceScope scope(device);
    sepcpp::cuda::check(cudaMalloc(&alloc_->ptr, static_cast<size_t>(std::max<int64_t>(n, 1)) * bits_ / 8),
                        "cudaMalloc (result)");
  }

  // The consumer's stream waits for ours (the op that wrote the buffer); with no stream named, the
  // host waits, which is what the protocol asks of a producer that cannot know the consumer's.
  py::capsule dlpack(py::object stream) {
    {
      DeviceScope scope(device_);
      if (stream.is_none()) {
        sepcpp::cuda::check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
      } else {
        const int64_t s = stream.cast<int64_t>();
        if (s != -1) {
          const cudaStream_t theirs = s == 1 ? cudaStreamLegacy : s == 2 ? cudaStreamPerThread
                                                                         : reinterpret_cast<cudaStream_t>(s);
          if (theirs != stream_) {
            cudaEvent_t e;
            sepcpp::cuda::check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
            cudaEventRecord(e, stream_);
            cudaStreamWaitEvent(theirs, e, 0);
            cudaEventDestroy(e);
          }
        }
      }
    }
    auto* ctx = new ExportCtx{alloc_, shape_, {}};
    DLTensor& t = ctx->managed.dl_tensor;
    t.data = alloc_->ptr;
    t.device = {kDLCUDA, device_};
    t.ndim = static_cast<int32_t>(shape_.size());
    t.dtype = {kDLFloat, static_cast<uint8_t>(bits_), 1};
    t.shape = ctx->shape.data();
    t.strides = nullptr;
    t.byte_offset = 0;
    ctx->managed.manager_ctx = ctx;
    ctx->managed.deleter = [](DLManagedTensor* m) { delete static_cast<ExportCtx*>(m->manager_ctx); };
    // An unconsumed capsule frees its tensor; a consumer renames it "used_dltensor" and owns it.
    PyObject* cap = PyCapsule_New(&ctx->managed, "dltensor", [](PyObject* c) {
      if (PyCapsule_IsValid(c, "dltensor")) {
        auto* m = static_cast<DLManagedTensor*>(PyCapsule_GetPointer(c, "dltensor"));
        m->deleter(m);
      }
    });
    if (!cap) {
      delete ctx;
      throw py::error_already_set();
    }
    return py::reinterpret_steal<py::capsule>(cap);
  }

  std::pair<int, int> dlpack_device() const { return {kDLCUDA, device_}; }

  // A copy of a host array on `device` (a prepacked layer's weights, uploaded once); the host
  // waits for the copy, so the buffer is ready on every stream.
  static DeviceBuffer upload(const py::array& a, int device) {
    const bool f64 = py::isinstance<py::array_t<double>>(a) && a.dtype().equal(py::dtype::of<double>());
    py::array c = f64 ? py::array(py::array_t<double, py::array::c_style>::ensure(a))
                      : py::array(py::array_t<float, py::array::c_style>::ensure(a));
    std::vector<int64_t> shape(c.shape(), c.shape() + c.ndim());
    DeviceBuffer b(shape, f64 ? "float64" : "float32", device, 0);
    DeviceScope scope(device);
    if (c.nbytes() > 0)
      sepcpp::cuda::check(cudaMemcpy(b.alloc_->ptr, c.data(), static_cast<size_t>(c.nbytes()), cudaMemcpyHostToDevice),
                          "uploading a layer's weights");
    return b;
  }

 private:
  std::vector<int64_t> shape_;
  int device_;
  cudaStream_t stream_;
  int bits_ = 32;
  std::shared_ptr<Allocation> alloc_;
};

py::dict device_info() {
  py::dict d;
  std::string why;
  const int n = sepcpp::cuda::device_count(&why);
  d["devices"] = n;
  if (n == 0) d["reason"] = why;
  int rt = 0, drv = 0;
  cudaRuntimeGetVersion(&rt);
  if (cudaDriverGetVersion(&drv) != cudaSuccess) cudaGetLastError();
  d["runtime_version"] = std::to_string(rt / 1000) + "." + std::to_string(rt % 1000 / 10);
  d["driver_version"] = drv ? std::to_string(drv / 1000) + "." + std::to_string(drv % 1000 / 10) : std::string();
  py::list names;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, i) == cudaSuccess)
      names.append(std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")");
    else
      cudaGetLastError();
  }
  d["names"] = names;
  d["architectures"] = SEPCPP_CUDA_ARCHITECTURES;
  return d;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "sepcpp's CUDA target (use the sepcpp package, not this module)";
  py::register_exception<sepcpp::cuda::CudaError>(m, "CudaError", PyExc_RuntimeError);
  m.def("device_info", &device_info);
  m.def("device_count", [] { return sepcpp::cuda::device_count(); });
  m.def("run", &run, py::arg("op"), py::arg("input"), py::arg("filter1"), py::arg("filter2"), py::arg("bias1"),
        py::arg("bias2"), py::arg("out"), py::arg("alloc"), py::arg("stream"), py::arg("dlpack_stream"),
        py::arg("strides"), py::arg("dilations"), py::arg("padding"), py::arg("pads"), py::arg("layout"),
        py::arg("activation"), py::arg("depthwise_activation"), py::arg("groups"));
  py::class_<DeviceBuffer>(m, "DeviceBuffer")
      .def(py::init<std::vector<int64_t>, const std::string&, int, uintptr_t>(), py::arg("shape"), py::arg("dtype"),
           py::arg("device"), py::arg("stream"))
      // (max_version, dl_device and copy are the protocol's; this buffer always answers version 0.x,
      // on its own device, without a copy.)
      .def(
          "__dlpack__",
          [](DeviceBuffer& b, py::object stream, py::object, py::object, py::object) { return b.dlpack(stream); },
          py::kw_only(), py::arg("stream") = py::none(), py::arg("max_version") = py::none(),
          py::arg("dl_device") = py::none(), py::arg("copy") = py::none())
      .def("__dlpack_device__", &DeviceBuffer::dlpack_device)
      .def_static("upload", &DeviceBuffer::upload, py::arg("array"), py::arg("device"));
}
