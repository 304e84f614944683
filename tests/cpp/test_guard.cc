// ctest: guard pages. Every tensor an op touches (input, filters, biases, output) is placed
// against a PROT_NONE page, so that a read or a write even one element past the end (or before
// the start) of any of them crashes the test instead of silently reading a neighbour's memory.
//
//   test_guard <isa>      isa: scalar | avx2 | avx512
//
// Exit status: 0 all passed, 1 a failure (or a crash: SIGSEGV, reported with the case first),
// 77 the ISA is not usable on this CPU (ctest: skipped).
//
// Two placements per case: kEnd puts the last element immediately before the guard page (catches
// over-reads of SIMD tails, the PaddlePaddle#11016 class of bug), kStart puts the first element
// immediately after it (catches negative offsets from padding arithmetic). The sweep covers
// channel counts 1..33 and 63..65 (below, at and above every SIMD width of float and double),
// odd spatial sizes, every op, both layouts, both dtypes, and the prepacked ConvLayer as well as
// the functional ops. Values are checked against the double-precision reference too, so a case
// that reads a wrong (but mapped) element still fails.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "reference.hpp"
#include "sepcpp/geometry.hpp"
#include "sepcpp/ops.hpp"
#include "tester.hpp"

namespace {

using namespace sepcpp_test;  // NOLINT: the test's own vocabulary

enum class Place { kEnd, kStart };

const char* place_str(Place p) { return p == Place::kEnd ? "end" : "start"; }

// `count` elements of T in their own mapping, flush against a PROT_NONE page.
template <class T>
class GuardedBuffer {
 public:
  GuardedBuffer(int64_t count, Place place) : count_(count) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t bytes = static_cast<size_t>(count) * sizeof(T);
    const size_t data_pages = (bytes + page - 1) / page;
    map_bytes_ = (data_pages + 1) * page;
    void* base = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error(std::string("mmap: ") + std::strerror(errno));
    base_ = static_cast<char*>(base);
    char* guard;
    if (place == Place::kEnd) {
      guard = base_ + data_pages * page;
      data_ = reinterpret_cast<T*>(guard - bytes);
    } else {
      guard = base_;
      data_ = reinterpret_cast<T*>(base_ + page);
    }
    if (mprotect(guard, page, PROT_NONE) != 0)
      throw std::runtime_error(std::string("mprotect: ") + std::strerror(errno));
  }
  ~GuardedBuffer() {
    if (base_) munmap(base_, map_bytes_);
  }
  GuardedBuffer(const GuardedBuffer&) = delete;
  GuardedBuffer& operator=(const GuardedBuffer&) = delete;
  GuardedBuffer(GuardedBuffer&& o) noexcept
      : base_(std::exchange(o.base_, nullptr)), map_bytes_(o.map_bytes_), data_(o.data_), count_(o.count_) {}

  T* data() const { return data_; }
  int64_t size() const { return count_; }
  std::vector<T> copy() const { return std::vector<T>(data_, data_ + count_); }

 private:
  char* base_ = nullptr;
  size_t map_bytes_ = 0;
  T* data_ = nullptr;
  int64_t count_ = 0;
};

// A dense tensor of `shape` in guarded memory, filled from `rng` (or with `fill`).
template <class T>
struct GuardedTensor {
  int ndim;
  int64_t shape[4] = {0, 0, 0, 0};
  GuardedBuffer<T> mem;

  GuardedTensor(int nd, const int64_t* s, Place place) : ndim(nd), mem(count(nd, s), place) {
    for (int d = 0; d < nd; ++d) shape[d] = s[d];
  }
  static int64_t count(int nd, const int64_t* s) {
    int64_t n = 1;
    for (int d = 0; d < nd; ++d) n *= s[d];
    return n;
  }
  void randomize(Rng& rng) {
    for (int64_t i = 0; i < mem.size(); ++i) mem.data()[i] = static_cast<T>(rng.uniform());
  }
  Tensor<const T> cview() const { return sepcpp::make_tensor<const T>(mem.data(), ndim, shape); }
  Tensor<T> view() const { return sepcpp::make_tensor<T>(mem.data(), ndim, shape); }
};

// The case being run, for the SIGSEGV report (written before the crash, then the previous
// handler, ASan's or the default one, takes over when the faulting access is retried).
char g_current[1024] = "(none)";
struct sigaction g_previous_segv, g_previous_bus;

void on_fault(int sig) {
  const char head[] = "\ntest_guard: memory fault (guard page hit?) in case: ";
  ssize_t ignored = write(STDERR_FILENO, head, sizeof head - 1);
  ignored = write(STDERR_FILENO, g_current, strnlen(g_current, sizeof g_current));
  ignored = write(STDERR_FILENO, "\n", 1);
  (void)ignored;
  sigaction(sig, sig == SIGSEGV ? &g_previous_segv : &g_previous_bus, nullptr);
}

void install_fault_report() {
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGSEGV, &sa, &g_previous_segv);
  sigaction(SIGBUS, &sa, &g_previous_bus);
}

struct Pair {
  int64_t h, w;
};

// Odd sizes, single rows and columns; kernels up to 7x7; strides and dilations up to 4 and 3.
const std::vector<Pair> kSizes = {{1, 1}, {1, 7}, {7, 1}, {3, 5}, {5, 3}, {9, 7}, {2, 13}, {11, 2}, {6, 6}};
const std::vector<Pair> kKernels = {{1, 1}, {3, 3}, {2, 5}, {5, 2}, {1, 7}, {7, 7}, {4, 4}, {3, 1}};
const std::vector<Pair> kStrides = {{1, 1}, {2, 2}, {1, 3}, {3, 1}, {4, 4}, {2, 1}};
const std::vector<Pair> kDilations = {{1, 1}, {2, 2}, {1, 3}, {2, 1}};
const std::vector<int64_t> kOuts = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33};
const Activation kActs[3] = {Activation::kNone, Activation::kRelu, Activation::kRelu6};

std::vector<int64_t> channel_sweep() {
  std::vector<int64_t> cs;
  for (int64_t c = 1; c <= 33; ++c) cs.push_back(c);
  for (int64_t c = 63; c <= 65; ++c) cs.push_back(c);
  return cs;
}

// One case's parameters, drawn from its index.
struct GuardCase {
  OpKind op;
  int64_t N, H, W, C, M, O, KH, KW;
  ConvParams p;
  bool bias, dbias;

  std::string describe(Place place, bool layer, const char* dtype) const {
    std::ostringstream s;
    s << op_str(op) << " " << dtype << " N=" << N << " H=" << H << " W=" << W << " C=" << C << " M=" << M
      << " O=" << O << " groups=" << p.groups << " k=" << KH << "x" << KW << " stride=" << p.stride_h << "x"
      << p.stride_w << " dilation=" << p.dilation_h << "x" << p.dilation_w << " pad=";
    if (p.padding == Padding::kValid) s << "VALID";
    else if (p.padding == Padding::kSame) s << "SAME";
    else s << "EXPLICIT(" << p.pad_top << "," << p.pad_bottom << "," << p.pad_left << "," << p.pad_right << ")";
    s << " layout=" << (p.layout == Layout::kNCHW ? "NCHW" : "NHWC") << " bias=" << bias << " dw_bias=" << dbias
      << " act=" << act_str(p.activation) << " dw_act=" << act_str(p.depthwise_activation)
      << " guard=" << place_str(place) << (layer ? " via ConvLayer" : " functional");
    return s.str();
  }
};

GuardCase make_case(OpKind op, int64_t C, Layout layout, uint64_t i) {
  GuardCase c;
  c.op = op;
  c.C = C;
  c.N = 1 + static_cast<int64_t>(mix(i, 1) % 2);
  const Pair hw = kSizes[mix(i, 2) % kSizes.size()];
  c.H = hw.h;
  c.W = hw.w;
  c.p.layout = layout;
  c.M = (op == OpKind::kDepthwise || op == OpKind::kSeparable) ? 1 + static_cast<int64_t>(mix(i, 3) % 4) : 1;
  c.O = kOuts[mix(i, 4) % kOuts.size()];
  c.bias = mix(i, 5) % 4 != 0;
  c.dbias = op == OpKind::kSeparable && mix(i, 6) % 2;
  c.p.activation = kActs[mix(i, 7) % 3];
  if (op == OpKind::kPointwise) {
    c.KH = c.KW = 1;  // plain 1x1: stride 1, VALID
    return c;
  }
  const Pair k = kKernels[mix(i, 8) % kKernels.size()];
  const Pair s = kStrides[mix(i, 9) % kStrides.size()];
  const Pair d = kDilations[mix(i, 10) % kDilations.size()];
  c.KH = k.h;
  c.KW = k.w;
  c.p.stride_h = s.h;
  c.p.stride_w = s.w;
  c.p.dilation_h = d.h;
  c.p.dilation_w = d.w;
  switch (mix(i, 11) % 3) {
    case 0:
      c.p.padding = Padding::kValid;
      break;
    case 1:
      c.p.padding = Padding::kSame;
      break;
    default:
      c.p.padding = Padding::kExplicit;
      c.p.pad_top = static_cast<int64_t>(mix(i, 12) % 4);
      c.p.pad_bottom = static_cast<int64_t>(mix(i, 13) % 3);
      c.p.pad_left = static_cast<int64_t>(mix(i, 14) % 3);
      c.p.pad_right = static_cast<int64_t>(mix(i, 15) % 4);
      break;
  }
  // An invalid geometry (effective kernel larger than the padded input) is test_ops's business:
  // here every case must run, so fall back to SAME, which is always valid.
  if (!sepcpp_ref::expected_axis(c.H, c.KH, c.p.stride_h, c.p.dilation_h, c.p.padding, c.p.pad_top, c.p.pad_bottom) ||
      !sepcpp_ref::expected_axis(c.W, c.KW, c.p.stride_w, c.p.dilation_w, c.p.padding, c.p.pad_left, c.p.pad_right))
    c.p.padding = Padding::kSame;
  if (op == OpKind::kSeparable) {
    int64_t g = 1 + static_cast<int64_t>(mix(i, 16) % 3);
    while ((C * c.M) % g != 0) --g;
    c.p.groups = g;
    c.O = g * (1 + static_cast<int64_t>(mix(i, 17) % 9));
    c.p.depthwise_activation = kActs[mix(i, 18) % 3];
  }
  return c;
}

class Runner {
 public:
  explicit Runner(std::string isa) : isa_(std::move(isa)) {}

  template <class T>
  void run(const GuardCase& c, Place place, bool layer) {
    const std::string what = std::string("guard ") + op_str(c.op) + " " + dtype_str<T>();
    const std::string desc = c.describe(place, layer, dtype_str<T>()) + " isa=" + isa_;
    std::snprintf(g_current, sizeof g_current, "%s", desc.c_str());
    const Outcome o = run_one<T>(c, place, layer, desc);
    report_.record(what, o);
    std::snprintf(g_current, sizeof g_current, "(between cases)");
  }

  Report& report() { return report_; }

 private:
  template <class T>
  Outcome run_one(const GuardCase& c, Place place, bool layer, const std::string& desc) {
    auto fail = [&](const std::string& msg) {
      report_.failure(isa_, msg + "\n    case: " + desc);
      return Outcome::kFailed;
    };
    const bool nchw = c.p.layout == Layout::kNCHW;
    const int64_t in_shape[4] = {c.N, nchw ? c.C : c.H, nchw ? c.H : c.W, nchw ? c.W : c.C};
    int64_t f_shape[4], f2_shape[4] = {1, 1, 1, 1};
    int64_t final_channels = c.O;
    switch (c.op) {
      case OpKind::kDepthwise:
        f_shape[0] = c.KH, f_shape[1] = c.KW, f_shape[2] = c.C, f_shape[3] = c.M;
        final_channels = c.C * c.M;
        break;
      case OpKind::kSeparable:
        f_shape[0] = c.KH, f_shape[1] = c.KW, f_shape[2] = c.C, f_shape[3] = c.M;
        f2_shape[2] = c.C * c.M / c.p.groups, f2_shape[3] = c.O;
        break;
      case OpKind::kPointwise:
        f_shape[0] = 1, f_shape[1] = 1, f_shape[2] = c.C, f_shape[3] = c.O;
        break;
      case OpKind::kConv:
        f_shape[0] = c.KH, f_shape[1] = c.KW, f_shape[2] = c.C, f_shape[3] = c.O;
        break;
    }
    const auto gh = sepcpp_ref::expected_axis(c.H, c.KH, c.p.stride_h, c.p.dilation_h, c.p.padding, c.p.pad_top,
                                              c.p.pad_bottom);
    const auto gw = sepcpp_ref::expected_axis(c.W, c.KW, c.p.stride_w, c.p.dilation_w, c.p.padding, c.p.pad_left,
                                              c.p.pad_right);
    if (!gh || !gw) return fail("test bug: invalid geometry");
    ConvGeometry g;
    g.batch = c.N;
    g.in_channels = c.C;
    g.multiplier = c.M;
    g.out_channels = final_channels;
    g.h = *gh;
    g.w = *gw;
    const int64_t out_shape[4] = {c.N, nchw ? final_channels : gh->out, nchw ? gh->out : gw->out,
                                  nchw ? gw->out : final_channels};
    const int64_t mid = c.C * c.M;
    const int64_t bias_len[1] = {final_channels}, dbias_len[1] = {mid};

    Rng rng(0x6A5Dull + 977ull * static_cast<uint64_t>(++seed_));
    GuardedTensor<T> x(4, in_shape, place), f(4, f_shape, place), f2(4, f2_shape, place), b(1, bias_len, place),
        db(1, dbias_len, place), y(4, out_shape, place);
    x.randomize(rng);
    f.randomize(rng);
    f2.randomize(rng);
    b.randomize(rng);
    db.randomize(rng);
    for (int64_t i = 0; i < y.mem.size(); ++i) y.mem.data()[i] = std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> x0 = x.mem.copy(), f0 = f.mem.copy(), f20 = f2.mem.copy(), b0 = b.mem.copy(),
                         db0 = db.mem.copy();

    const Tensor<const T> none;  // no bias: data == nullptr
    const bool sep = c.op == OpKind::kSeparable;
    const Tensor<const T> bias = c.bias ? b.cview() : none;
    const Tensor<const T> dbias = c.dbias ? db.cview() : none;
    try {
      if (layer) {
        // Built over the guarded filters (which it packs), then run on the guarded input/output.
        const sepcpp::ConvLayer<T> l(c.op, f.cview(), sep ? f2.cview() : Tensor<const T>{}, sep ? dbias : bias,
                                     sep ? bias : Tensor<const T>{}, c.p);
        l(x.cview(), y.view());
      } else {
        switch (c.op) {
          case OpKind::kDepthwise:
            sepcpp::depthwise_conv2d<T>(x.cview(), f.cview(), bias, y.view(), c.p);
            break;
          case OpKind::kPointwise:
            sepcpp::pointwise_conv2d<T>(x.cview(), f.cview(), bias, y.view(), c.p);
            break;
          case OpKind::kSeparable:
            sepcpp::separable_conv2d<T>(x.cview(), f.cview(), f2.cview(), dbias, bias, y.view(), c.p);
            break;
          case OpKind::kConv:
            sepcpp::conv2d<T>(x.cview(), f.cview(), bias, y.view(), c.p);
            break;
        }
      }
    } catch (const std::exception& e) {
      return fail(std::string("threw: ") + e.what());
    }
    if (!same_bits(x0, x.mem.copy()) || !same_bits(f0, f.mem.copy()) || !same_bits(f20, f2.mem.copy()) ||
        !same_bits(b0, b.mem.copy()) || !same_bits(db0, db.mem.copy()))
      return fail("an input, filter or bias was modified");

    // Values against the reference.
    const sepcpp_ref::Nhwc xr = sepcpp_ref::input_to_nhwc(x.cview(), c.p.layout);
    const std::vector<double> fr = sepcpp_ref::to_dense(f.cview());
    const std::vector<double> br = c.bias ? sepcpp_ref::to_dense(b.cview()) : std::vector<double>{};
    sepcpp_ref::Nhwc ref;
    int64_t length = 1;
    switch (c.op) {
      case OpKind::kDepthwise:
        ref = sepcpp_ref::depthwise(xr, fr, br, g, c.p.activation);
        length = c.KH * c.KW;
        break;
      case OpKind::kPointwise:
        ref = sepcpp_ref::pointwise(xr, fr, br, g, 1, c.p.activation);
        length = c.C;
        break;
      case OpKind::kSeparable: {
        const std::vector<double> dbr = c.dbias ? sepcpp_ref::to_dense(db.cview()) : std::vector<double>{};
        ref = sepcpp_ref::separable(xr, fr, sepcpp_ref::to_dense(f2.cview()), dbr, br, g, c.p.groups,
                                    c.p.depthwise_activation, c.p.activation);
        length = c.KH * c.KW + mid / c.p.groups;
        break;
      }
      case OpKind::kConv:
        ref = sepcpp_ref::conv2d(xr, fr, br, g, c.p.activation);
        length = c.KH * c.KW * c.C;
        break;
    }
    double max_abs = 0.0;
    for (double v : ref.v) max_abs = std::max(max_abs, std::fabs(v));
    const double tol = tolerance<T>(length, max_abs);
    const Tensor<const T> yv = y.cview();
    for (int64_t n = 0; n < ref.n; ++n)
      for (int64_t h = 0; h < ref.h; ++h)
        for (int64_t w = 0; w < ref.w; ++w)
          for (int64_t ch = 0; ch < ref.c; ++ch) {
            const int64_t nhwc[4] = {n, h, w, ch}, nchw_idx[4] = {n, ch, h, w};
            const double v = static_cast<double>(*sepcpp_ref::element(yv, nchw ? nchw_idx : nhwc));
            const double r = ref.at(n, h, w, ch);
            if (!(std::fabs(v - r) <= tol)) {
              char buf[200];
              std::snprintf(buf, sizeof buf, "mismatch at (n=%lld, h=%lld, w=%lld, c=%lld): got %.9g, want %.9g",
                            static_cast<long long>(n), static_cast<long long>(h), static_cast<long long>(w),
                            static_cast<long long>(ch), v, r);
              return fail(buf);
            }
          }
    return Outcome::kPassed;
  }

  std::string isa_;
  Report report_;
  int64_t seed_ = 0;
};

bool isa_listed(const std::string& list, const std::string& isa) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ','))
    if (item == isa) return true;
  return false;
}

template <class T>
void sweep(Runner& r) {
  uint64_t i = 0;
  for (OpKind op : {OpKind::kDepthwise, OpKind::kPointwise, OpKind::kSeparable, OpKind::kConv})
    for (int64_t C : channel_sweep())
      for (Layout layout : {Layout::kNHWC, Layout::kNCHW}) {
        const GuardCase c = make_case(op, C, layout, i++);
        for (Place place : {Place::kEnd, Place::kStart}) r.run<T>(c, place, /*layer=*/false);
        // The prepacked layer reads the input and writes the output through the same kernels but
        // its own packed weights: one placement is enough.
        r.run<T>(c, i % 2 ? Place::kEnd : Place::kStart, /*layer=*/true);
      }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s scalar|avx2|avx512\n", argv[0]);
    return 2;
  }
  const std::string isa = argv[1];
  if (!isa_listed(sepcpp::isas_available(), isa)) {
    std::printf("SKIP isa %s not available on this CPU (available: %s; compiled: %s)\n", isa.c_str(),
                sepcpp::isas_available().c_str(), sepcpp::isas_compiled().c_str());
    return 77;
  }
  try {
    sepcpp::set_isa(isa);
  } catch (const std::exception& e) {
    std::printf("FAIL set_isa(\"%s\") threw although isas_available() lists it: %s\n", isa.c_str(), e.what());
    return 1;
  }
  install_fault_report();
  const auto t0 = std::chrono::steady_clock::now();
  Runner r(isa);
  sweep<float>(r);
  sweep<double>(r);
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  r.report().print_counts();
  std::printf("%lld passed, %lld failed (guard pages, isa %s, %.2f s)\n", static_cast<long long>(r.report().passed()),
              static_cast<long long>(r.report().failed()), isa.c_str(), dt.count());
  return r.report().failed() == 0 ? 0 : 1;
}
