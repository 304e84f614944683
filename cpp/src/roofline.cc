// The machine's limits, measured by sepcpp itself for its benchmark: the float32 FMA peak of an
// ISA level (what the GEMM microkernels could reach) and the memory bandwidth (a triad, what a
// memory-bound depthwise pass could reach).
#include <chrono>
#include <thread>
#include <vector>

#include "../kernels/kernels.hpp"
#include "sepcpp/ops.hpp"
#include "sepcpp/roofline.hpp"

namespace sepcpp {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs f(t) on `threads` threads at once (the caller being thread 0) and waits for all of them.
// Plain threads, not the ops' pool or an OpenMP team: each must run on its own core at the same
// time, and a measurement must leave nothing behind that a forked child could trip over.
template <class F>
void on_threads(int threads, F&& f) {
  std::vector<std::thread> others;
  for (int t = 1; t < threads; ++t) others.emplace_back([&f, t] { f(t); });
  f(0);
  for (auto& th : others) th.join();
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
    std::vector<float> sinks(static_cast<size_t>(threads));
    on_threads(threads, [&](int i) { sinks[i] = t.fma_peak(iters); });
    for (float v : sinks) sink += v;
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
    on_threads(threads, [&](int i) {
      for (int64_t j = n * i / threads, e = n * (i + 1) / threads; j < e; ++j) a[j] = b[j] + 3.0f * c[j];
    });
    const double s = seconds_since(t0);
    if (rep > 0) best = std::max(best, 3.0 * n * sizeof(float) / s / 1e9);  // the first run faults pages in
  }
  return best;
}

}  // namespace sepcpp
