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
//   so children compute with threads too, and the parent keeps its own.
// Which thread computes a chunk never changes how it is computed: results are bitwise identical for
// any thread count.
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

// "pool" or "openmp": what parallel_for runs on in this build.
const char* threading_backend();

}  // namespace detail
}  // namespace sepcpp
