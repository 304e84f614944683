// Kernel dispatch: the CPU's features are read once and the best compiled table is chosen, unless
// SEPCPP_ISA names a level. Baseline code never executes an instruction the CPU lacks: only the ISA
// files are compiled with ISA flags, and their tables are used only after the feature check.
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(SEPCPP_HAVE_AVX512)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "kernels.hpp"

namespace sepcpp {
namespace kernels {
namespace {

struct Level {
  const char* name;
  void (*fill)(KernelTable&);
  bool (*supported)();
};

bool always() { return true; }
#if defined(SEPCPP_HAVE_AVX2)
bool cpu_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#endif
#if defined(SEPCPP_HAVE_AVX512)
bool cpu_avx512() { return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
bool cpu_avx512_bf16() { return cpu_avx512() && __builtin_cpu_supports("avx512bf16"); }
// AMX: the CPU has AVX512BW (the A copy's masked 16-bit moves), AMX-TILE and AMX-BF16 (CPUID leaf 7, EDX bits 24 and 22), the OS saves the tile
// state (XCR0 bits 17 and 18), and Linux grants this process the tile data: a process must ask
// (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, Linux 5.16 on) or its first tile load
// is SIGILL. Asked once; the permission covers every thread.
bool cpu_amx_bf16() {
  static const bool ok = [] {
    if (!cpu_avx512_bf16() || !__builtin_cpu_supports("avx512bw")) return false;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 22))) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return false;
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return ok;
}
#endif

// Ordered from the most portable to the fastest.
const std::vector<Level>& levels() {
  static const std::vector<Level> all = {
      {"scalar", &fill_scalar, &always},
#if defined(SEPCPP_HAVE_AVX2)
      {"avx2", &fill_avx2, &cpu_avx2},
#endif
#if defined(SEPCPP_HAVE_AVX512)
      {"avx512", &fill_avx512, &cpu_avx512},
      {"avx512_bf16", &fill_avx512_bf16, &cpu_avx512_bf16},
      {"amx_bf16", &fill_amx_bf16, &cpu_amx_bf16},
#endif
  };
  return all;
}

const std::vector<KernelTable>& tables() {
  static const std::vector<KernelTable> t = [] {
    std::vector<KernelTable> out;
    for (const Level& l : levels()) {
      KernelTable k;
      l.fill(k);
      out.push_back(k);
    }
    return out;
  }();
  return t;
}

std::string join_names(bool only_supported) {
  std::string s;
  for (const Level& l : levels()) {
    if (only_supported && !l.supported()) continue;
    if (!s.empty()) s += ",";
    s += l.name;
  }
  return s;
}

const KernelTable* find_table(const std::string& name) {
  const auto& ls = levels();
  for (size_t i = 0; i < ls.size(); ++i) {
    if (name == ls[i].name) {
      if (!ls[i].supported())
        throw std::invalid_argument("ISA '" + name + "' is compiled in but this CPU lacks it (usable: " +
                                    join_names(true) + ")");
      return &tables()[i];
    }
  }
  throw std::invalid_argument("unknown ISA '" + name + "': compiled levels are " + join_names(false));
}

const KernelTable* best_table() {
  const auto& ls = levels();
  for (size_t i = ls.size(); i-- > 0;)
    if (ls[i].supported()) return &tables()[i];
  return &tables()[0];
}

std::atomic<const KernelTable*> g_active{nullptr};

}  // namespace

const KernelTable& active() {
  const KernelTable* t = g_active.load(std::memory_order_acquire);
  if (t) return *t;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  t = g_active.load(std::memory_order_acquire);
  if (t) return *t;
  const char* env = std::getenv("SEPCPP_ISA");
  if (env && *env) {
    try {
      t = find_table(env);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("SEPCPP_ISA: ") + e.what());
    }
  } else {
    t = best_table();
  }
  g_active.store(t, std::memory_order_release);
  return *t;
}

const KernelTable& find(const std::string& name) { return *find_table(name); }

void set_active(const std::string& name) { g_active.store(find_table(name), std::memory_order_release); }
std::string compiled_names() { return join_names(false); }
std::string available_names() { return join_names(true); }

}  // namespace kernels
}  // namespace sepcpp
