// A host stand-in for <cuda_runtime.h>: enough of CUDA's execution model to run cpp/cuda/'s kernels
// on the CPU with g++ (tests/cpp/test_cuda_emulated.cc), so that their index arithmetic, tiling,
// shared-memory use and barriers are checked on every build, with or without a GPU or nvcc.
//
// A launch runs its blocks one after another; each block's threads are real threads (so
// __syncthreads() is a real barrier and a missing one can show up as a wrong result), its
// __shared__ arrays are the kernel's static locals (one block at a time uses them), threadIdx and
// blockIdx are thread-local. Not emulated: warps, memory coalescing, timing, the runtime API
// beyond the few calls the kernel files make (stubs that succeed).
#pragma once

#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#define SEPCPP_CUDA_EMULATED 1
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)

struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;

using cudaError_t = int;
constexpr cudaError_t cudaSuccess = 0;
using cudaStream_t = struct CUstream_emulated*;
inline cudaError_t cudaGetLastError() { return cudaSuccess; }
inline const char* cudaGetErrorName(cudaError_t) { return "cudaErrorEmulated"; }
inline const char* cudaGetErrorString(cudaError_t) { return "emulated"; }
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 0;
  return cudaSuccess;
}
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
using std::fma;

namespace sepcpp_emulated {

class Barrier {
 public:
  explicit Barrier(unsigned n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const unsigned gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  unsigned n_, count_ = 0, gen_ = 0;
};

inline Barrier* block_barrier = nullptr;
inline long launches = 0, blocks_run = 0;

template <class Body>
void launch(dim3 grid, dim3 block, Body&& body) {
  ++launches;
  gridDim = grid;
  blockDim = block;
  const unsigned threads = block.x * block.y * block.z;
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        Barrier barrier(threads);
        block_barrier = &barrier;
        std::vector<std::thread> team;
        team.reserve(threads);
        for (unsigned t = 0; t < threads; ++t)
          team.emplace_back([&, t] {
            blockIdx = dim3(bx, by, bz);
            threadIdx = dim3(t % block.x, t / block.x % block.y, t / (block.x * block.y));
            body();
          });
        for (auto& th : team) th.join();
        ++blocks_run;
      }
}

}  // namespace sepcpp_emulated

inline void __syncthreads() { sepcpp_emulated::block_barrier->wait(); }

#define SEPCPP_LAUNCH(kernel, grid, block, stream, ...) \
  ::sepcpp_emulated::launch(dim3(grid), dim3(block), [&] { kernel(__VA_ARGS__); })
