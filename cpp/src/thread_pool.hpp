// sepcpp's own worker pool, behind parallel_for (parallel.hpp).
//
// Why not an OpenMP team: an OpenMP parallel region ends in a barrier that waits for every thread
// of the team, including one that has not even started because another process holds its core; on
// a shared machine a 0.3 ms call then takes a whole scheduler slice. And libgomp's team does not
// survive fork(): the next parallel region in a forked child waits forever for threads that do not
// exist there. Here, instead:
// - a call's work is cut into chunks handed out from a shared counter; the calling thread takes
//   chunks too, and the call returns as soon as every chunk is done. A worker that wakes late finds
//   no chunk left and goes back to sleep: nobody ever waits for a thread that has not started;
// - the job lives on the heap, shared by the caller and the workers that joined it, so a late
//   worker touches only the job's counters, never the caller's stack;
// - idle workers sleep on a condition variable (no spinning while idle);
// - in a forked child the pool is forgotten (pthread_atfork) and a new one is started on first use,
//   so children compute with threads too, and the parent keeps its own;
// - contention-adaptive: a chunk a worker holds while it has lost its core (another process took
//   it) is still a wait of a scheduler slice for the caller, however small the chunk. So the caller
//   watches each call it offered: the worker came late (kLateStart after the offer), or the caller
//   waited for a held chunk much longer than its own chunks took, or the worker was woken on the
//   caller's own CPU and took it from the caller. Then the calls of the next window (4 ms, doubled
//   up to 64 ms while contention is back right after each window) run on the calling thread alone,
//   which keeps its core; one longer than solo_span (6 ms) divided by the workers it would have
//   had still offers the rest of its chunks then (alone, a call on n threads takes n times as
//   long), and so does a call whose caller loses its core all the same. Two calls of a window that
//   lose the caller's core end the window (the caller shares its core too, and two threads get
//   more of an oversubscribed machine than one), and no new one starts for a pause of 4 ms that
//   doubles, up to about a second, with each window that fails so, until one pays. When the
//   window ends, the next call offers work again: a probe, so a quiet machine is back to all its
//   threads within one window. The state is a few relaxed atomics (thread_pool.cc, Adaptive): it
//   only chooses which thread computes a chunk. It is off by default (on a shared 2-core machine it
//   brought no more layers within the under-load target than the plain pool; README):
//   SEPCPP_ADAPTIVE=1 or set_adaptive_threads(true) turns it on; adaptive_threads() reports it
//   (sepcpp.info()["adaptive_threads"]).
// Which thread computes a chunk never changes how it is computed: results are bitwise identical for
// any thread count, with or without the adaptive mode.
#pragma once

#include <cstdint>

namespace sepcpp {
namespace detail {

// body(ctx, begin, end) for the items [begin, end).
using ChunkFn = void (*)(void* ctx, int64_t begin, int64_t end);

// Runs fn over [0, items) cut into `chunks` chunks on the calling thread plus up to `threads - 1`
// pool workers. Exceptions thrown by fn (the first one) are rethrown on the calling thread once no
// chunk is running any more; the chunks not started by then are skipped. Between its chunks the
// calling thread runs the interrupt check (see InterruptCheck in sepcpp/ops.hpp), which may throw.
void run_chunks(int64_t items, int64_t chunks, int threads, ChunkFn fn, void* ctx);

// The contention-adaptive mode's tuning (the defaults are in thread_pool.cc; tests shorten or
// lengthen them): a contended call runs alone for up to solo_span_ns / (threads - 1) before it offers
// the rest of its work, or less if the caller loses more than lost_core_ns of wall time to other threads; contention
// starts a window of window_ns << level, the level rising by one (up to max_level) when contention
// is back soon after a window. `level` is read back; set_adaptive_tuning ignores it and forgets all
// past contention.
struct AdaptiveTuning {
  int64_t solo_span_ns = 0;
  int64_t window_ns = 0;
  int max_level = 0;
  int64_t lost_core_ns = 0;
  int level = 0;
};
void set_adaptive_tuning(const AdaptiveTuning& tuning);
AdaptiveTuning adaptive_tuning();
// Calls starting in the next length_ns run as after contention (tests).
void start_adaptive_window(int64_t length_ns);

// "pool" or "openmp": what parallel_for runs on in this build.
const char* threading_backend();

}  // namespace detail
}  // namespace sepcpp
