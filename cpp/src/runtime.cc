// Process-wide settings: thread count and kernel level.
#include <omp.h>

#include <atomic>

#include "../kernels/kernels.hpp"
#include "checks.hpp"
#include "parallel.hpp"

namespace sepcpp {
namespace {
std::atomic<int> g_threads{0};  // 0: follow OpenMP's default in the calling thread
}

void set_num_threads(int n) {
  if (n < 0) detail::fail("set_num_threads: n must be >= 0 (0 follows OpenMP), got " + std::to_string(n));
  // sepcpp's own setting: OpenMP's (omp_set_num_threads) is left alone, so that set_num_threads(0)
  // really returns to it and other OpenMP libraries in the process are not affected.
  g_threads.store(n);
}

int get_num_threads() {
  const int n = g_threads.load();
  return n > 0 ? n : omp_get_max_threads();
}

namespace detail {
int threads_for_call() {
  // Inside an enclosing parallel region (a caller's own OpenMP loop), do not nest teams.
  if (omp_in_parallel()) return 1;
  return std::max(1, get_num_threads());
}
}  // namespace detail

const char* isa_in_use() { return kernels::active().isa; }
std::string isas_available() { return kernels::available_names(); }
std::string isas_compiled() { return kernels::compiled_names(); }
void set_isa(const std::string& isa) { kernels::set_active(isa); }
bool openmp_enabled() { return true; }
const char* threading_backend() { return detail::threading_backend(); }

}  // namespace sepcpp
