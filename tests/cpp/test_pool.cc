// The thread pool behind parallel_for (cpp/src/thread_pool.hpp), on its own: every item run exactly
// once for any items/chunks/threads, errors rethrown on the caller and the pool usable afterwards,
// many callers at once, the interrupt check, and calls in a forked child after the parent's
// threads started (the child must finish, not hang: an alarm kills it otherwise), and the
// contention-adaptive mode (a worker that holds a chunk while it sleeps, as one that lost its core
// does: the next calls run on the caller alone, and after the window the worker is used again).
// Built for both threading backends (-DSEPCPP_THREADING=pool|openmp).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../../cpp/src/thread_pool.hpp"
#include "sepcpp/ops.hpp"

namespace {

int g_failures = 0;
int g_checks = 0;

void check(bool ok, const std::string& what) {
  ++g_checks;
  if (!ok) {
    ++g_failures;
    std::fprintf(stderr, "FAIL: %s\n", what.c_str());
  }
}

struct Counting {
  std::vector<std::atomic<int>> seen;
  explicit Counting(int64_t n) : seen(static_cast<size_t>(n)) {}
  static void run(void* ctx, int64_t b, int64_t e) {
    auto* self = static_cast<Counting*>(ctx);
    for (int64_t i = b; i < e; ++i) self->seen[static_cast<size_t>(i)].fetch_add(1);
  }
  bool each_once() const {
    for (const auto& s : seen)
      if (s.load() != 1) return false;
    return true;
  }
};

void test_coverage() {
  for (int64_t items : {1, 2, 3, 7, 64, 1000, 4097})
    for (int64_t chunks : {int64_t(1), int64_t(2), int64_t(5), items})
      for (int threads : {1, 2, 3, 8}) {
        if (chunks > items) continue;
        Counting c(items);
        sepcpp::detail::run_chunks(items, chunks, threads, Counting::run, &c);
        check(c.each_once(), "items " + std::to_string(items) + " chunks " + std::to_string(chunks) +
                                 " threads " + std::to_string(threads) + ": every item exactly once");
      }
}

void test_errors() {
  for (int threads : {1, 2, 4}) {
    std::atomic<int> ran{0};
    struct Ctx {
      std::atomic<int>* ran;
    } ctx{&ran};
    bool caught = false;
    try {
      sepcpp::detail::run_chunks(
          100, 100, threads,
          [](void* p, int64_t b, int64_t) {
            static_cast<Ctx*>(p)->ran->fetch_add(1);
            if (b == 3) throw std::runtime_error("chunk 3");
          },
          &ctx);
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "chunk 3";
    }
    check(caught, "threads " + std::to_string(threads) + ": the chunk's error reaches the caller");
    Counting c(500);
    sepcpp::detail::run_chunks(500, 20, threads, Counting::run, &c);
    check(c.each_once(), "threads " + std::to_string(threads) + ": usable after an error");
  }
}

void test_many_callers() {
  std::atomic<int> bad{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 8; ++t)
    callers.emplace_back([&bad, t] {
      for (int rep = 0; rep < 200; ++rep) {
        Counting c(97 + t);
        sepcpp::detail::run_chunks(97 + t, 13, 1 + (rep + t) % 4, Counting::run, &c);
        if (!c.each_once()) bad.fetch_add(1);
      }
    });
  for (auto& th : callers) th.join();
  check(bad.load() == 0, "8 callers x 200 calls at once: every item exactly once");
}

int g_polls = 0;
void interrupt_after_a_few() {
  if (++g_polls >= 3) throw std::runtime_error("interrupted");
}

void test_interrupt() {
  for (int threads : {1, 2}) {
    g_polls = 0;
    std::atomic<int64_t> done{0};
    bool caught = false;
    {
      sepcpp::InterruptScope scope(interrupt_after_a_few);
      try {
        // 2000 chunks of ~1 ms: checks every ~20 ms, so the third one stops the call at ~40 ms.
        sepcpp::detail::run_chunks(
            2000, 2000, threads,
            [](void* p, int64_t, int64_t) {
              std::this_thread::sleep_for(std::chrono::milliseconds(1));
              static_cast<std::atomic<int64_t>*>(p)->fetch_add(1);
            },
            &done);
      } catch (const std::runtime_error& e) {
        caught = std::string(e.what()) == "interrupted";
      }
    }
    check(caught, "threads " + std::to_string(threads) + ": the interrupt check's exception reaches the caller");
    check(done.load() < 1000, "threads " + std::to_string(threads) + ": the interrupted call stopped early (" +
                                  std::to_string(done.load()) + " of 2000 chunks ran)");
    Counting c(300);
    sepcpp::detail::run_chunks(300, 30, threads, Counting::run, &c);
    check(c.each_once(), "threads " + std::to_string(threads) + ": no check outside the scope");
  }
}

void test_fork() {
  Counting warm(1000);
  sepcpp::detail::run_chunks(1000, 16, 2, Counting::run, &warm);  // the parent's workers start
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(30);  // a hang fails the test instead of blocking it
    int ok = 1;
    for (int rep = 0; rep < 50; ++rep) {
      Counting c(777);
      sepcpp::detail::run_chunks(777, 16, 2, Counting::run, &c);
      ok &= c.each_once();
    }
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "forked child after the parent's threads started: finishes with correct results (status " +
            std::to_string(status) + ")");
  Counting after(1000);
  sepcpp::detail::run_chunks(1000, 16, 2, Counting::run, &after);
  check(after.each_once(), "the parent computes after the fork");
}


// The chunks of a call, by the thread that ran them.
struct Recording {
  std::thread::id caller = std::this_thread::get_id();
  std::atomic<int> on_caller{0}, on_workers{0};
  void record() { (std::this_thread::get_id() == caller ? on_caller : on_workers).fetch_add(1); }
};

// Waits up to 10 s for `flag`; false if it never came.
bool wait_for(const std::atomic<bool>& flag) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return true;
}

// A call whose worker holds a chunk for 100 ms, as a worker that lost its core does: the caller's
// first chunk waits until a worker has taken a chunk, then the caller finishes the others and waits.
struct HeldChunk : Recording {
  std::atomic<bool> worker_in{false};
  static void run(void* p, int64_t, int64_t) {
    auto* self = static_cast<HeldChunk*>(p);
    self->record();
    if (std::this_thread::get_id() != self->caller) {
      self->worker_in.store(true);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    } else {
      wait_for(self->worker_in);
    }
  }
};

// A call whose first chunk (the caller's) finishes only once another thread has run a chunk: it
// proves that the call offered work to the pool (alone, the caller would wait 10 s and the check
// fail).
struct NeedsWorker : Recording {
  std::atomic<bool> worker_ran{false};
  bool came = true;
  static void run(void* p, int64_t b, int64_t) {
    auto* self = static_cast<NeedsWorker*>(p);
    self->record();
    if (std::this_thread::get_id() != self->caller) self->worker_ran.store(true);
    else if (b == 0) self->came = wait_for(self->worker_ran);
  }
};

void test_adaptive() {
  using sepcpp::detail::AdaptiveTuning;
  const AdaptiveTuning defaults = sepcpp::detail::adaptive_tuning();
  AdaptiveTuning t;
  t.solo_span_ns = int64_t(60) * 1000000000;  // a contended call here never offers its rest...
  t.lost_core_ns = int64_t(60) * 1000000000;  // ... not even when this machine is busy
  t.window_ns = 300 * 1000000;
  t.max_level = 2;
  sepcpp::detail::set_adaptive_tuning(t);
  sepcpp::set_adaptive_threads(true);
  const int64_t events = sepcpp::adaptive_threads().events;

  HeldChunk held;
  sepcpp::detail::run_chunks(8, 8, 2, HeldChunk::run, &held);
  check(held.on_workers.load() >= 1 && held.on_caller.load() + held.on_workers.load() == 8,
        "adaptive: the worker took a chunk and held it");
  check(sepcpp::adaptive_threads().events == events + 1, "adaptive: a held chunk is contention");
  check(sepcpp::adaptive_threads().contended, "adaptive: contended after a held chunk");

  const int64_t solo = sepcpp::adaptive_threads().solo_calls;
  for (int rep = 0; rep < 5; ++rep) {
    Recording r;
    sepcpp::detail::run_chunks(
        64, 16, 2, [](void* p, int64_t, int64_t) { static_cast<Recording*>(p)->record(); }, &r);
    check(r.on_caller.load() == 16 && r.on_workers.load() == 0,
          "adaptive: within the window a call runs on the caller alone (" + std::to_string(r.on_workers.load()) +
              " chunks on workers)");
  }
  check(sepcpp::adaptive_threads().solo_calls == solo + 5, "adaptive: the window's calls are counted");

  // After the window the next call offers work again (the probe).
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  check(!sepcpp::adaptive_threads().contended, "adaptive: the window ends");
  NeedsWorker probe;
  sepcpp::detail::run_chunks(8, 8, 2, NeedsWorker::run, &probe);
  check(probe.came && probe.on_workers.load() >= 1, "adaptive: after the window a worker computes again");

  // Contention back right after a window: a longer window.
  sepcpp::detail::set_adaptive_tuning(t);
  HeldChunk first;
  sepcpp::detail::run_chunks(8, 8, 2, HeldChunk::run, &first);
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  HeldChunk again;
  sepcpp::detail::run_chunks(8, 8, 2, HeldChunk::run, &again);
  check(sepcpp::detail::adaptive_tuning().level >= 1, "adaptive: contention back after a window doubles the next");

  // Turned off: a held chunk changes nothing, and the next call uses the worker.
  sepcpp::set_adaptive_threads(false);
  check(!sepcpp::adaptive_threads().enabled && !sepcpp::adaptive_threads().contended, "adaptive: off");
  const int64_t before = sepcpp::adaptive_threads().events;
  HeldChunk held_off;
  sepcpp::detail::run_chunks(8, 8, 2, HeldChunk::run, &held_off);
  NeedsWorker after;
  sepcpp::detail::run_chunks(8, 8, 2, NeedsWorker::run, &after);
  check(sepcpp::adaptive_threads().events == before && after.came && after.on_workers.load() >= 1,
        "adaptive: off, the worker is used after a held chunk");

  // A window started by hand: every chunk on the caller, the same items exactly once.
  sepcpp::set_adaptive_threads(true);
  sepcpp::detail::start_adaptive_window(int64_t(60) * 1000000000);
  Counting c(4097);
  sepcpp::detail::run_chunks(4097, 64, 4, Counting::run, &c);
  check(c.each_once(), "adaptive: a call within the window runs every item exactly once");
  sepcpp::detail::set_adaptive_tuning(defaults);
  check(!sepcpp::adaptive_threads().contended, "adaptive: the tuning reset forgets contention");
}

}  // namespace

int main() {
  std::printf("thread pool tests, backend %s\n", sepcpp::threading_backend());
  test_coverage();
  test_errors();
  test_many_callers();
  test_interrupt();
  // libgomp's team does not survive fork(): the OpenMP build is expected to hang there.
  if (std::string(sepcpp::threading_backend()) == "pool") test_fork();
  // The OpenMP build has no adaptive mode.
  if (std::string(sepcpp::threading_backend()) == "pool") test_adaptive();
  std::printf("%d checks, %d failed\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
