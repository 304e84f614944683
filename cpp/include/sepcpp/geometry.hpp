// Shape arithmetic for every sepcpp op: padding rules, output sizes and overflow checks live here
// and nowhere else. The rules are TensorFlow's (tf.nn), generalised where TensorFlow refuses:
// unequal strides, stride together with dilation.
#pragma once

#include <cstdint>
#include <string>

namespace sepcpp {

enum class Padding { kValid, kSame, kExplicit };
enum class Layout { kNHWC, kNCHW };
enum class Activation { kNone, kRelu, kRelu6 };

// Everything that describes one convolution besides the tensors themselves.
struct ConvParams {
  int64_t stride_h = 1, stride_w = 1;
  int64_t dilation_h = 1, dilation_w = 1;
  Padding padding = Padding::kValid;
  // Used only with Padding::kExplicit (TensorFlow's explicit list).
  int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  Layout layout = Layout::kNHWC;
  Activation activation = Activation::kNone;
  // Separable ops only: applied between the depthwise and the pointwise step.
  Activation depthwise_activation = Activation::kNone;
  // Separable ops only: the pointwise step is split into this many groups (super-separable).
  int64_t groups = 1;
};

// One spatial axis resolved: input size, kernel, stride, dilation, padding and output size.
struct AxisGeometry {
  int64_t in = 0, kernel = 1, stride = 1, dilation = 1;
  int64_t pad_before = 0, pad_after = 0;
  int64_t out = 0;
  int64_t effective_kernel() const { return (kernel - 1) * dilation + 1; }
};

// A fully resolved 2-D convolution: batch, spatial axes and channel counts.
struct ConvGeometry {
  int64_t batch = 0;
  int64_t in_channels = 0;   // C
  int64_t multiplier = 1;    // M (depthwise); 1 for regular conv
  int64_t out_channels = 0;  // O of the op's final output
  AxisGeometry h, w;
  int64_t taps() const { return h.kernel * w.kernel; }
  int64_t mid_channels() const { return in_channels * multiplier; }  // C*M
};

// Resolves one axis; `axis_name` ("height"/"width") and `op` only shape error messages.
// Throws std::invalid_argument on a non-positive kernel/stride/dilation, negative explicit
// padding, an effective kernel larger than the (padded) input (an empty axis gives an empty
// output where TensorFlow's kernels do: see geometry.cc), or arithmetic overflow.
AxisGeometry resolve_axis(const char* op, const char* axis_name, int64_t in, int64_t kernel,
                          int64_t stride, int64_t dilation, Padding padding, int64_t pad_before,
                          int64_t pad_after);

// Product of `n` non-negative sizes; throws std::invalid_argument naming `what` on overflow.
int64_t checked_product(const char* what, const int64_t* sizes, int n);

// "(1, 5, 5, 3)" for error messages.
std::string shape_string(const int64_t* shape, int ndim);

const char* padding_name(Padding p);
const char* layout_name(Layout l);

}  // namespace sepcpp
