// The worker pool behind parallel_for; thread_pool.hpp says why it exists and how it joins.
#include "thread_pool.hpp"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include <strings.h>

#ifdef SEPCPP_THREADING_OPENMP
#include <omp.h>
#endif

#include "sepcpp/ops.hpp"

namespace sepcpp {
namespace {

thread_local InterruptCheck t_interrupt_check = nullptr;

// The calling thread runs its interrupt check at most this often: often enough that Ctrl-C stops a
// long call within about 100 ms, rarely enough to cost nothing.
constexpr auto kInterruptPeriod = std::chrono::milliseconds(20);

// Contention-adaptive defaults (thread_pool.hpp): a contended call runs alone for up to
// kDefaultSoloSpan / (threads - 1) before it offers the rest of its work; contention seen makes the
// next calls do so for kDefaultWindow, doubled when contention is back soon after a window, up to
// kDefaultMaxLevel times.
constexpr int64_t kDefaultSoloSpan = 6000000;
constexpr int64_t kDefaultWindow = 4000000;
constexpr int kDefaultMaxLevel = 4;
// A held chunk: the caller waited this much longer than two of its own chunks. A late worker: it
// came this long after the offer. A lost core: the caller's wall time exceeded its CPU time by this
// much; kSoloLostCalls calls run alone that lost it end a window.
constexpr int64_t kHeldSlack = 100000;
constexpr int64_t kLateStart = 500000;
constexpr int64_t kDefaultLostCore = 150000;
constexpr int kSoloLostCalls = 2;
constexpr int kMaxPauseLevel = 8;  // a pause of at most 4 ms << 8, about a second

class InterruptTimer {
 public:
  InterruptTimer() : check_(t_interrupt_check), last_(std::chrono::steady_clock::now()) {}
  void poll() {
    if (!check_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < kInterruptPeriod) return;
    last_ = now;
    check_();
  }

 private:
  InterruptCheck check_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

InterruptScope::InterruptScope(InterruptCheck check) : previous_(t_interrupt_check) { t_interrupt_check = check; }
InterruptScope::~InterruptScope() { t_interrupt_check = previous_; }

namespace detail {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

struct Job {
  Job(int64_t items_, int64_t chunks_, ChunkFn fn_, void* ctx_)
      : items(items_), chunks(chunks_), fn(fn_), ctx(ctx_) {}
  const int64_t items, chunks;
  const ChunkFn fn;
  void* const ctx;  // the caller's; used only while some chunk is not done, so while it waits
  std::atomic<int64_t> next{0};  // the next chunk to hand out
  std::atomic<int64_t> done{0};  // chunks finished (or skipped after an error)
  std::atomic<bool> failed{false};
  // Only for the contention-adaptive mode (`watched`, set before the job is offered): when the
  // first worker took the job (steady clock; 0: none yet), and on which CPU.
  bool watched = false;
  std::atomic<int64_t> joined_ns{0};
  std::atomic<int> worker_cpu{-1};
  int helpers_wanted = 0;  // guarded by the pool's mutex
  std::mutex mu;           // guards error; with cv, wakes the caller when the last chunk is done
  std::condition_variable cv;
  std::exception_ptr error;
};

struct NeverStop {
  bool operator()() const { return false; }
};

// Takes chunks of `job` until none is left, or until stop() (asked after each chunk) says so.
// Returns how many it took. Only the calling thread (`timer` set) polls the interrupt check: it
// runs Python's signal handlers, which only that thread may do.
template <class Stop = NeverStop>
int64_t take_chunks(Job& job, InterruptTimer* timer, Stop stop = Stop()) {
  for (int64_t taken = 0;; ++taken) {
    if (taken > 0 && stop()) return taken;
    const int64_t c = job.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job.chunks) return taken;
    if (!job.failed.load(std::memory_order_relaxed)) {
      try {
        if (timer) timer->poll();
        job.fn(job.ctx, job.items * c / job.chunks, job.items * (c + 1) / job.chunks);
      } catch (...) {
        std::lock_guard<std::mutex> lock(job.mu);
        if (!job.error) job.error = std::current_exception();
        job.failed.store(true, std::memory_order_relaxed);
      }
    }
    if (job.done.fetch_add(1, std::memory_order_acq_rel) + 1 == job.chunks) {
      std::lock_guard<std::mutex> lock(job.mu);
      job.cv.notify_all();
    }
  }
}

#ifndef SEPCPP_THREADING_OPENMP

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Waits until the chunks that running workers hold are done. A short spin catches the common case
// of a worker finishing just after the caller; then it sleeps until the last one is done.
void wait_for_workers(Job& job) {
  for (int spin = 0; spin < 4096 && job.done.load(std::memory_order_acquire) < job.chunks; ++spin) cpu_relax();
  if (job.done.load(std::memory_order_acquire) < job.chunks) {
    std::unique_lock<std::mutex> lock(job.mu);
    job.cv.wait(lock, [&] { return job.done.load(std::memory_order_acquire) >= job.chunks; });
  }
}

class Pool {
 public:
  // Offers `job` to `helpers` workers, starting workers up to that many.
  void offer(const std::shared_ptr<Job>& job, int helpers) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      while (workers_ < helpers) {
        try {
          std::thread(&Pool::work, this).detach();  // the pool lives as long as the process
        } catch (const std::system_error&) {
          break;  // no more threads to be had (a process limit): fewer helpers, same results
        }
        ++workers_;
      }
      helpers = std::min(helpers, workers_);
      if (helpers == 0) return;
      job->helpers_wanted = helpers;
      open_.push_back(job);
    }
    for (int i = 0; i < helpers; ++i) cv_.notify_one();
  }

  // Takes `job` off the offer list (its chunks are all handed out: late workers need not see it).
  void withdraw(const Job* job) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = open_.begin(); it != open_.end(); ++it)
      if (it->get() == job) {
        open_.erase(it);
        return;
      }
  }

 private:
  // A worker sleeps as soon as no job is open. (Spinning for 50 us after a job, as OpenMP runtimes
  // do for longer, was measured: no faster on a quiet machine, and under load the spinning worker
  // spends its share of a contended core, so it is preempted more often while holding a chunk.)
  void work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return !open_.empty(); });
      std::shared_ptr<Job> job = open_.front();
      if (--job->helpers_wanted <= 0) open_.pop_front();
      lock.unlock();
      if (job->watched && job->joined_ns.load(std::memory_order_relaxed) == 0) {
        job->worker_cpu.store(sched_getcpu(), std::memory_order_relaxed);
        job->joined_ns.store(now_ns(), std::memory_order_release);
      }
      take_chunks(*job, nullptr);
      job.reset();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> open_;  // jobs that still take helpers, oldest first
  int workers_ = 0;
};

// The process's pool, started on first use. In a forked child the parent's pool (its workers do
// not exist there, its mutex may be held by one of them) is abandoned, not destroyed, and a new one
// starts on first use.
std::atomic<Pool*> g_pool{nullptr};
std::mutex g_pool_mu;

void before_fork() { g_pool_mu.lock(); }
void after_fork_parent() { g_pool_mu.unlock(); }
// Abandoned pools stay reachable (a leak checker in a child would otherwise report them).
struct Abandoned {
  Pool* pool;
  Abandoned* before;
};
Abandoned* g_abandoned = nullptr;

void after_fork_child() {
  if (Pool* old = g_pool.load(std::memory_order_relaxed)) {
    // operator new after fork in a multi-threaded parent: glibc's allocator is fork-safe.
    g_abandoned = new Abandoned{old, g_abandoned};
  }
  g_pool.store(nullptr, std::memory_order_relaxed);
  g_pool_mu.unlock();  // locked by this same thread in before_fork
}

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  static const int registered = pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  (void)registered;
  std::lock_guard<std::mutex> lock(g_pool_mu);
  p = g_pool.load(std::memory_order_relaxed);
  if (!p) {
    p = new Pool();
    g_pool.store(p, std::memory_order_release);
  }
  return *p;
}

// Contention-adaptive use of the workers (thread_pool.hpp says why and how). Relaxed atomics: the
// state only steers which thread computes what, and a raced value costs one call's choice at most.
struct Adaptive {
  // Off unless SEPCPP_ADAPTIVE says 1, on, true or yes: measured on a shared 2-core machine, it did
  // not bring more layers within the under-load target than the plain pool (README).
  Adaptive() {
    const char* v = std::getenv("SEPCPP_ADAPTIVE");
    if (v && (!std::strcmp(v, "1") || !strcasecmp(v, "on") || !strcasecmp(v, "true") || !strcasecmp(v, "yes")))
      enabled.store(true);
  }
  std::atomic<bool> enabled{false};
  std::atomic<int64_t> solo_until_ns{0};     // calls that start before this run alone first
  std::atomic<int64_t> no_solo_until_ns{0};  // running alone did not pay: not before this again
  std::atomic<int> level{0};                 // the window is window_ns << level
  std::atomic<int> solo_lost{0};             // calls of this window that lost their core alone
  std::atomic<int> pause_level{0};           // the pause after a failed window is window_ns << this
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> solo_calls{0};
  std::atomic<int64_t> solo_span_ns{kDefaultSoloSpan};
  std::atomic<int64_t> window_ns{kDefaultWindow};
  std::atomic<int> max_level{kDefaultMaxLevel};
  std::atomic<int64_t> lost_core_ns{kDefaultLostCore};
};

Adaptive& adaptive() {
  static Adaptive a;
  return a;
}

// CPU time of the calling thread (a system call, a fraction of a microsecond).
int64_t thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// The calling thread's clocks since a call started: lost() is the time it spent without a core.
struct CallerClock {
  int64_t wall0 = now_ns(), cpu0 = thread_cpu_ns();
  int64_t lost(int64_t wall) const { return (wall - wall0) - (thread_cpu_ns() - cpu0); }
};

// A call that found contention on the workers' side: the next calls run alone first, for a window
// that doubles when contention is back within a window's length after the last one ended (the
// probe, or a call soon after it); an isolated event starts again from the first window.
void contention_seen(Adaptive& a, int64_t now) {
  if (now < a.no_solo_until_ns.load(std::memory_order_relaxed)) return;
  const int64_t window = a.window_ns.load(std::memory_order_relaxed);
  const int previous = a.level.load(std::memory_order_relaxed);
  const int64_t until = a.solo_until_ns.load(std::memory_order_relaxed);
  const bool again = now - until < (window << previous);
  const int level = again ? std::min(previous + 1, a.max_level.load(std::memory_order_relaxed)) : 0;
  a.level.store(level, std::memory_order_relaxed);
  if (until < now) {  // a new window; the last one, if none of its calls lost the core, paid
    if (a.solo_lost.exchange(0, std::memory_order_relaxed) == 0) a.pause_level.store(0, std::memory_order_relaxed);
  }
  a.solo_until_ns.store(now + (window << level), std::memory_order_relaxed);
  a.events.fetch_add(1, std::memory_order_relaxed);
}

// A call run alone that lost its core all the same: the calling thread shares its core too, and
// two threads get more of the machine than one. The second such call ends the window, and no new
// one starts for a pause that doubles with each window that fails so (up to kMaxPauseLevel times),
// until a window passes without such calls.
void solo_lost_core(Adaptive& a, int64_t now) {
  if (a.solo_lost.fetch_add(1, std::memory_order_relaxed) + 1 < kSoloLostCalls) return;
  const int pause = a.pause_level.load(std::memory_order_relaxed);
  a.no_solo_until_ns.store(now + (a.window_ns.load(std::memory_order_relaxed) << pause), std::memory_order_relaxed);
  a.pause_level.store(std::min(pause + 1, kMaxPauseLevel), std::memory_order_relaxed);
  a.solo_until_ns.store(0, std::memory_order_relaxed);
  a.level.store(0, std::memory_order_relaxed);
  a.solo_lost.store(-kSoloLostCalls, std::memory_order_relaxed);  // not a window that paid
}

// After a call offered to workers from its start: `joined` when the first worker took the job (0:
// none yet), `own_end` when the caller found no chunk left, `end` when the last one was done, `own`
// the chunks the caller computed, `shared` whether the worker came on the caller's own CPU and the
// caller lost its core meanwhile.
void judge(Adaptive& a, int64_t start, int64_t joined, int64_t own_end, int64_t end, int64_t own, bool shared) {
  const int64_t chunk = own > 0 ? (own_end - start) / own : 0;
  // Held: the caller waited for a worker's chunk much longer than a chunk takes it (the worker lost
  // its core while holding it). Late: the worker took a scheduler-slice-scale time to come at all.
  // Shared: the worker was woken on the caller's own CPU and took it from the caller.
  const bool held = end - own_end > kHeldSlack + 2 * chunk;
  const bool late = (joined ? joined : end) - start > kLateStart;
  if (held || late || shared) contention_seen(a, end);
}

#endif

}  // namespace

}  // namespace

#ifndef SEPCPP_THREADING_OPENMP
void set_adaptive_threads(bool on) { detail::adaptive().enabled.store(on, std::memory_order_relaxed); }

AdaptiveThreads adaptive_threads() {
  detail::Adaptive& a = detail::adaptive();
  AdaptiveThreads r;
  r.enabled = a.enabled.load(std::memory_order_relaxed);
  r.contended = r.enabled && detail::now_ns() < a.solo_until_ns.load(std::memory_order_relaxed);
  r.events = a.events.load(std::memory_order_relaxed);
  r.solo_calls = a.solo_calls.load(std::memory_order_relaxed);
  return r;
}

namespace detail {
void set_adaptive_tuning(const AdaptiveTuning& t) {
  Adaptive& a = adaptive();
  a.solo_span_ns.store(t.solo_span_ns);
  a.window_ns.store(t.window_ns);
  a.max_level.store(t.max_level);
  a.lost_core_ns.store(t.lost_core_ns);
  a.solo_until_ns.store(0);
  a.no_solo_until_ns.store(0);
  a.level.store(0);
  a.solo_lost.store(0);
  a.pause_level.store(0);
}

void start_adaptive_window(int64_t length_ns) {
  Adaptive& a = adaptive();
  a.no_solo_until_ns.store(0);
  a.solo_until_ns.store(now_ns() + length_ns);
}
AdaptiveTuning adaptive_tuning() {
  Adaptive& a = adaptive();
  AdaptiveTuning t;
  t.solo_span_ns = a.solo_span_ns.load();
  t.window_ns = a.window_ns.load();
  t.max_level = a.max_level.load();
  t.lost_core_ns = a.lost_core_ns.load();
  t.level = a.level.load();
  return t;
}
}  // namespace detail
#else
void set_adaptive_threads(bool) {}
AdaptiveThreads adaptive_threads() { return {}; }
namespace detail {
void set_adaptive_tuning(const AdaptiveTuning&) {}
AdaptiveTuning adaptive_tuning() { return {}; }
void start_adaptive_window(int64_t) {}
}  // namespace detail
#endif

namespace detail {

#ifndef SEPCPP_THREADING_OPENMP

void run_chunks(int64_t items, int64_t chunks, int threads, ChunkFn fn, void* ctx) {
  InterruptTimer timer;
  if (threads <= 1 || chunks <= 1) {
    for (int64_t c = 0; c < chunks; ++c) {
      timer.poll();
      fn(ctx, items * c / chunks, items * (c + 1) / chunks);
    }
    return;
  }
  auto job = std::make_shared<Job>(items, chunks, fn, ctx);
  Pool& p = pool();
  const int helpers = static_cast<int>(std::min<int64_t>(threads - 1, chunks - 1));
  Adaptive& a = adaptive();
  if (!a.enabled.load(std::memory_order_relaxed)) {
    p.offer(job, helpers);
    take_chunks(*job, &timer);
    p.withdraw(job.get());
    wait_for_workers(*job);
  } else {
    job->watched = true;
    const CallerClock clock;
    const bool solo = clock.wall0 < a.solo_until_ns.load(std::memory_order_relaxed);
    bool offered = !solo, lost_core = false;
    if (solo) {
      // Contended: run alone; a short call ends here. A long one offers the rest of its chunks after
      // solo_span_ns / helpers (the more threads a call would have, the less alone pays), or as
      // soon as the caller loses its core (then it shares its core too).
      a.solo_calls.fetch_add(1, std::memory_order_relaxed);
      const int64_t until = clock.wall0 + a.solo_span_ns.load(std::memory_order_relaxed) / helpers;
      const int64_t lost_limit = a.lost_core_ns.load(std::memory_order_relaxed);
      take_chunks(*job, &timer, [&] {
        const int64_t t = now_ns();
        lost_core = clock.lost(t) > lost_limit;
        return t >= until || lost_core;
      });
      offered = job->next.load(std::memory_order_relaxed) < chunks;
    }
    const int64_t offered_at = offered && solo ? now_ns() : clock.wall0;
    if (offered) p.offer(job, helpers);
    const int64_t own = take_chunks(*job, &timer);
    const int64_t own_end = now_ns();
    if (offered) p.withdraw(job.get());
    wait_for_workers(*job);
    const int64_t end = now_ns();
    if (solo) {
      if (lost_core || clock.lost(own_end) > a.lost_core_ns.load(std::memory_order_relaxed)) solo_lost_core(a, end);
    } else {
      const int64_t joined = job->joined_ns.load(std::memory_order_acquire);
      const bool shared = joined && job->worker_cpu.load(std::memory_order_relaxed) == sched_getcpu();
      judge(a, offered_at, joined, own_end, end, own,
            shared && clock.lost(own_end) > a.lost_core_ns.load(std::memory_order_relaxed));
    }
  }
  // The error leaves with the caller: the job itself may be freed last by a worker, and an error
  // that holds a Python exception must not be destroyed on a thread Python does not know.
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(job->mu);
    std::swap(error, job->error);
  }
  if (error) std::rethrow_exception(error);
}

const char* threading_backend() { return "pool"; }

#else  // SEPCPP_THREADING_OPENMP: the same chunks on an OpenMP team (the join waits for the team)

void run_chunks(int64_t items, int64_t chunks, int threads, ChunkFn fn, void* ctx) {
  InterruptTimer timer;
  if (threads <= 1 || chunks <= 1) {
    for (int64_t c = 0; c < chunks; ++c) {
      timer.poll();
      fn(ctx, items * c / chunks, items * (c + 1) / chunks);
    }
    return;
  }
  Job job(items, chunks, fn, ctx);
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(threads, chunks)))
  take_chunks(job, omp_get_thread_num() == 0 ? &timer : nullptr);
  if (job.error) std::rethrow_exception(job.error);
}

const char* threading_backend() { return "openmp"; }

#endif

}  // namespace detail
}  // namespace sepcpp
