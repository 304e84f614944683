// The machine's limits, for benchmarks: what sepcpp's kernels could reach at best.
#pragma once

#include <cstdint>
#include <string>

namespace sepcpp {

// Best-of-5 float32 FMA throughput of the ISA level `isa` ("scalar", "avx2", "avx512") on
// `threads` threads (0: get_num_threads()), in GFLOP/s. Throws std::invalid_argument for an
// unknown or unusable level.
double measure_fma_peak_gflops(const std::string& isa, int threads);

// Best triad bandwidth (a = b + 3c, 3 arrays of `bytes_per_array`, larger than the caches) on
// `threads` threads, in GB/s.
double measure_bandwidth_gbs(int threads, int64_t bytes_per_array = int64_t(256) << 20);

}  // namespace sepcpp
