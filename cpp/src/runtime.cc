// Process-wide settings: thread count and kernel level.
#include <atomic>

#include "common.hpp"

namespace sepcpp {
namespace {
std::atomic<int> g_threads{0};  // 0: follow OpenMP's default in the calling thread
}

void set_num_threads(int n) {
  if (n < 0) detail::fail("set_num_threads: n must be >= 0 (0 follows OpenMP), got " + std::to_string(n));
  g_threads.store(n);
  // Keep OpenMP's own setting in step in this thread, so that tools reading it (threadpoolctl)
  // report what sepcpp uses.
  if (n > 0) omp_set_num_threads(n);
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

}  // namespace sepcpp
