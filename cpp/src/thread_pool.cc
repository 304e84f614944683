// The worker pool behind parallel_for; thread_pool.hpp says why it exists and how it joins.
#include "thread_pool.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

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
  int helpers_wanted = 0;  // guarded by the pool's mutex
  std::mutex mu;           // guards error; with cv, wakes the caller when the last chunk is done
  std::condition_variable cv;
  std::exception_ptr error;
};

// Takes chunks of `job` until none is left. Only the calling thread (`timer` set) polls the
// interrupt check: it runs Python's signal handlers, which only that thread may do.
void take_chunks(Job& job, InterruptTimer* timer) {
  for (;;) {
    const int64_t c = job.next.fetch_add(1, std::memory_order_relaxed);
    if (c >= job.chunks) return;
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

#endif

}  // namespace

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
  p.offer(job, static_cast<int>(std::min<int64_t>(threads - 1, chunks - 1)));
  take_chunks(*job, &timer);
  p.withdraw(job.get());
  // What is left are chunks that running workers hold. A short spin catches the common case of a
  // worker finishing just after the caller; then sleep until the last one is done.
  for (int spin = 0; spin < 4096 && job->done.load(std::memory_order_acquire) < chunks; ++spin) cpu_relax();
  if (job->done.load(std::memory_order_acquire) < chunks) {
    std::unique_lock<std::mutex> lock(job->mu);
    job->cv.wait(lock, [&] { return job->done.load(std::memory_order_acquire) >= chunks; });
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
