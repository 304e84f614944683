// The ops' thread runtime: how many threads a call uses (threads_for_call) and parallel_for, which
// cuts a call's work into chunks for the worker pool (thread_pool.hpp) or an OpenMP team.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "thread_pool.hpp"

namespace sepcpp {
namespace detail {

// Threads for the next op (set_num_threads or OpenMP's default in the calling thread).
int threads_for_call();

// Below this many multiply-adds a call runs on the calling thread: waking a team costs more.
constexpr int64_t kMinWorkPerThread = 32 * 1024;
// At most this many multiply-adds per chunk (a few ms even on the scalar level): a long call then
// notices Ctrl-C between chunks, and a thread that loses its core holds up only a little work.
constexpr int64_t kMaxWorkPerChunk = int64_t(1) << 25;

// Runs body(begin, end) over [0, items) on up to threads_for_call() threads. `work_per_item`
// (multiply-adds, roughly) decides how many threads are worth waking. Items are handed out in
// chunks, several per thread, from a shared counter (thread_pool.hpp: the caller takes chunks too
// and never waits for a worker that has not started). Which thread computes an element never
// changes how it is computed, so results are bitwise identical for any thread count. Exceptions
// (std::bad_alloc from scratch buffers, an interrupt) are rethrown on the calling thread.
template <class F>
void parallel_for(int64_t items, int64_t work_per_item, F&& body) {
  if (items <= 0) return;
  int64_t total;
  if (__builtin_mul_overflow(items, std::max<int64_t>(1, work_per_item), &total)) total = INT64_MAX;
  const int64_t useful = std::max<int64_t>(1, std::min(items, total / kMinWorkPerThread));
  const int threads = static_cast<int>(std::min<int64_t>(threads_for_call(), useful));
  // Few items (tiles planned in equal shares per thread) are handed out one by one; many, in
  // chunks of several; a long call, in chunks of at most kMaxWorkPerChunk.
  int64_t chunks = threads <= 1 ? 1 : items <= int64_t(threads) * 8 ? items : int64_t(threads) * 4;
  chunks = std::min(items, std::max(chunks, total / kMaxWorkPerChunk + 1));
  auto call = [](void* ctx, int64_t b, int64_t e) { (*static_cast<std::remove_reference_t<F>*>(ctx))(b, e); };
  run_chunks(items, chunks, threads, call, const_cast<void*>(static_cast<const void*>(&body)));
}

}  // namespace detail
}  // namespace sepcpp
