// sepcpp's public C++ API: one function per op, tensors as pointer + shape + strides.
//
// Conventions (TensorFlow's):
//   input     [N, H, W, C] (Layout::kNHWC) or [N, C, H, W] (Layout::kNCHW)
//   depthwise [KH, KW, C, M]; output channel c*M + m
//   pointwise [1, 1, C*M/groups, O]
//   regular   [KH, KW, C, O]
//   bias      [channels]; pass a Tensor with data == nullptr for none.
// Tensors may have any element strides (negative and zero included for inputs); non-contiguous
// inputs are read row by row (each thread gathering only the input it is working on, never a
// whole copy), the caller's memory is never written except the output.
// T is float, double or bfloat16 (sepcpp/bfloat16.hpp: stored in 16 bits, computed in float32 and
// rounded once per result; a separable op rounds its depthwise result to bfloat16 before the
// pointwise step, as TensorFlow's two bfloat16 ops do).
// All functions throw std::invalid_argument (bad shapes or parameters, with a message naming the
// argument and the shapes) or std::bad_alloc; they never read or write out of bounds.
// They are safe to call from many threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sepcpp/bfloat16.hpp"
#include "sepcpp/geometry.hpp"

namespace sepcpp {

template <class T>
struct Tensor {
  T* data = nullptr;
  int ndim = 0;
  int64_t shape[4] = {0, 0, 0, 0};
  int64_t strides[4] = {0, 0, 0, 0};  // in elements, not bytes
};

// A C-contiguous tensor view over `data`.
template <class T>
Tensor<T> make_tensor(T* data, int ndim, const int64_t* shape) {
  Tensor<T> t;
  t.data = data;
  t.ndim = ndim;
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; --i) {
    t.shape[i] = shape[i];
    t.strides[i] = s;
    s *= shape[i];
  }
  return t;
}

enum class OpKind { kDepthwise, kPointwise, kSeparable, kConv };
const char* op_name(OpKind op);

// Validates shapes and parameters and returns the resolved geometry. `filter2_shape` is the
// pointwise filter of a separable op (ignored otherwise). Shapes are in the caller's layout
// (params.layout) for the input, TensorFlow's layouts for filters.
ConvGeometry conv_geometry(OpKind op, const int64_t input_shape[4], const int64_t* filter_shape,
                           int filter_ndim, const int64_t* filter2_shape, int filter2_ndim,
                           const ConvParams& params);

// The output shape in the caller's layout.
void output_shape(const ConvGeometry& g, Layout layout, int64_t out[4]);

template <class T>
void depthwise_conv2d(const Tensor<const T>& input, const Tensor<const T>& filter,
                      const Tensor<const T>& bias, const Tensor<T>& output,
                      const ConvParams& params);

template <class T>
void pointwise_conv2d(const Tensor<const T>& input, const Tensor<const T>& filter,
                      const Tensor<const T>& bias, const Tensor<T>& output,
                      const ConvParams& params);

// Fused: each tile of output pixels goes through the depthwise step into a small per-thread
// buffer and straight on through the pointwise step; the intermediate tensor is never allocated.
template <class T>
void separable_conv2d(const Tensor<const T>& input, const Tensor<const T>& depthwise_filter,
                      const Tensor<const T>& pointwise_filter,
                      const Tensor<const T>& depthwise_bias, const Tensor<const T>& bias,
                      const Tensor<T>& output, const ConvParams& params);

template <class T>
void conv2d(const Tensor<const T>& input, const Tensor<const T>& filter,
            const Tensor<const T>& bias, const Tensor<T>& output, const ConvParams& params);

// A layer: filters and biases validated, copied and packed once (into the layout the kernels of
// the ISA in use at construction read), then applied to any number of inputs of any spatial size,
// as XNNPACK's operators and oneDNN's primitives are. `filter2` is the pointwise filter of a
// separable layer and `bias2` its bias (`bias1` is then the depthwise bias); both are ignored
// (pass empty tensors) for the other ops. Copyable (shares the packed weights); const calls are
// safe from many threads at once.
template <class T>
class ConvLayer {
 public:
  ConvLayer(OpKind op, const Tensor<const T>& filter, const Tensor<const T>& filter2,
            const Tensor<const T>& bias1, const Tensor<const T>& bias2, const ConvParams& params);
  // Validates the input shape against the layer; throws std::invalid_argument.
  ConvGeometry geometry(const int64_t input_shape[4]) const;
  void operator()(const Tensor<const T>& input, const Tensor<T>& output) const;
  OpKind op() const;
  const ConvParams& params() const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// Threads used by every op: n > 0 fixes the count process-wide; n == 0 follows OpenMP's
// omp_get_max_threads() in the calling thread (OMP_NUM_THREADS, threadpoolctl).
void set_num_threads(int n);
int get_num_threads();

// Kernel level: "scalar", "avx2", "avx512", "avx512_bf16". Chosen once from the CPU (or SEPCPP_ISA).
const char* isa_in_use();
// Comma-separated list of the levels compiled in and usable on this CPU.
std::string isas_available();
std::string isas_compiled();
// Forces a level (tests); throws std::invalid_argument for an unknown or unsupported one.
void set_isa(const std::string& isa);
bool openmp_enabled();
// What the ops' threads come from: "pool" (sepcpp's own, the default) or "openmp" (a build with
// -DSEPCPP_THREADING=openmp).
const char* threading_backend();

// Contention-adaptive threads (the pool; README, "Threads and kernel level"): after a call found its
// worker late or waited for a chunk held by a worker that lost its core, the calls of the next few
// milliseconds run on the calling thread first and offer work to the pool only once they have run
// alone for a while. Off by default; SEPCPP_ADAPTIVE=1 (read at the first call) or
// set_adaptive_threads(true) turns it on. Results do not depend on it. The OpenMP build has none.
struct AdaptiveThreads {
  bool enabled = false;     // the mode is on
  bool contended = false;   // calls starting now run alone first
  int64_t events = 0;       // calls that found contention, since the process started
  int64_t solo_calls = 0;   // calls started while contended
};
void set_adaptive_threads(bool on);
AdaptiveThreads adaptive_threads();

// A check that a long call runs on its calling thread between chunks of work, about every 20 ms;
// it may throw to abandon the call (the Python binding raises KeyboardInterrupt this way). The
// call then stops within a chunk, frees what it allocated and rethrows; the output is unspecified.
// Set for the current thread while the scope lives.
using InterruptCheck = void (*)();
class InterruptScope {
 public:
  explicit InterruptScope(InterruptCheck check);
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  InterruptCheck previous_;
};

}  // namespace sepcpp
