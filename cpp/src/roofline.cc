// The machine's limits, measured by sepcpp itself for its benchmark: the float32 FMA peak of an
// ISA level (what the GEMM microkernels could reach) and the memory bandwidth (a triad, what a
// memory-bound depthwise pass could reach).
#include <chrono>
#include <vector>

#include "common.hpp"
#include "sepcpp/roofline.hpp"

namespace sepcpp {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

double measure_fma_peak_gflops(const std::string& isa, int threads) {
  const kernels::KernelTable& t = kernels::find(isa);
  if (threads <= 0) threads = get_num_threads();
  const long iters = 4000000;
  double best = 0;
  float sink = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
    sink += t.fma_peak(iters);
    const double s = seconds_since(t0);
    best = std::max(best, threads * iters * t.fma_peak_flops_per_iter / s / 1e9);
  }
  // Keep the result alive so the loop is not optimised away.
  volatile float keep = sink;
  (void)keep;
  return best;
}

double measure_bandwidth_gbs(int threads, int64_t bytes_per_array) {
  if (threads <= 0) threads = get_num_threads();
  const int64_t n = std::max<int64_t>(1 << 20, bytes_per_array / static_cast<int64_t>(sizeof(float)));
  std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n), 1.0f), c(static_cast<size_t>(n), 2.0f);
  double best = 0;
  for (int rep = 0; rep < 6; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) a[i] = b[i] + 3.0f * c[i];
    const double s = seconds_since(t0);
    if (rep > 0) best = std::max(best, 3.0 * n * sizeof(float) / s / 1e9);  // the first run faults pages in
  }
  return best;
}

}  // namespace sepcpp
