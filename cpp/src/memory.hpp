// Buffers the ops allocate: checked against the memory available first, and failing with an
// AllocationError (a MemoryError in Python) that names the buffer and its size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace sepcpp {
namespace detail {

// std::bad_alloc that says what could not be allocated (pybind11 turns it into a MemoryError with
// this message).
class AllocationError : public std::bad_alloc {
 public:
  explicit AllocationError(std::string msg) : msg_(std::move(msg)) {}
  const char* what() const noexcept override { return msg_.c_str(); }

 private:
  std::string msg_;
};

// Bytes this process may still allocate before the system runs short: the smallest of the
// kernel's MemAvailable and, for each cgroup (v2 or v1) above the process, its limit minus its
// usage; -1 when none of these can be read (layer.cc).
int64_t available_memory_bytes();

// Buffers from this size on are checked against available_memory_bytes() first: under Linux's
// overcommit an allocation larger than the free memory succeeds and the OOM killer ends the
// process when its pages are touched, instead of the MemoryError a caller can handle. (Reading
// /proc costs microseconds: small buffers are not checked.)
constexpr int64_t kCheckedAllocationBytes = int64_t(64) << 20;

// A buffer of n elements for `what` is refused (AllocationError naming the buffer and its size)
// when it is larger than the memory available; `attempt` then makes it, its own failures reported
// the same way.
template <class T, class F>
auto allocate_checked(const char* what, int64_t n, F attempt) -> decltype(attempt()) {
  const double bytes = static_cast<double>(n) * sizeof(T);
  auto message = [&] {
    return std::string("sepcpp: cannot allocate ") + std::to_string(n) + " elements (" +
           std::to_string(bytes / (1 << 20)) + " MiB) for " + what;
  };
  // (Beyond 2**47 bytes no x86-64 process can map it: no need to ask the system.)
  if (bytes >= static_cast<double>(kCheckedAllocationBytes) && bytes < 0x1p47) {
    const int64_t avail = available_memory_bytes();
    if (avail >= 0 && bytes > static_cast<double>(avail))
      throw AllocationError(message() + ": only " + std::to_string(avail >> 20) +
                            " MiB of memory is available (MemAvailable and the cgroup limit)");
  }
  try {
    return attempt();
  } catch (const std::bad_alloc&) {
    throw AllocationError(message());
  } catch (const std::length_error&) {
    throw AllocationError(message());
  }
}

// What the kernels stream (packed filters, depthwise weights, scratch tiles) starts on a cache line:
// a 64-byte vector load from a buffer that malloc placed 16 bytes past a line boundary straddles two
// lines, and the depthwise step on such buffers measured 15-50% slower (AVX-512, data in L1/L2).
constexpr size_t kCacheLine = 64;

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}  // NOLINT: allocators convert implicitly
  T* allocate(size_t n) {
    if (n > static_cast<size_t>(PTRDIFF_MAX) / sizeof(T)) throw std::bad_array_new_length();
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kCacheLine)));
  }
  void deallocate(T* p, size_t) noexcept { ::operator delete(p, std::align_val_t(kCacheLine)); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CacheLineAllocator<U>&) const noexcept { return false; }
};

// A vector whose elements start on a cache line.
template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

// The same allocator, elements default-initialised: a vector of floats sized with it is not zeroed,
// for a buffer the code fills completely before it is read (a packed GEMM operand: zeroing 4 MiB
// first cost as much as packing into it).
template <class T>
struct UninitCacheLineAllocator : CacheLineAllocator<T> {
  UninitCacheLineAllocator() = default;
  template <class U>
  UninitCacheLineAllocator(const UninitCacheLineAllocator<U>&) noexcept {}  // NOLINT: allocators convert implicitly
  template <class U>
  struct rebind {
    using other = UninitCacheLineAllocator<U>;
  };
  template <class U>
  void construct(U* p) noexcept(std::is_nothrow_default_constructible<U>::value) {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... A>
  void construct(U* p, A&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<A>(args)...);
  }
};
template <class T>
using UninitAlignedVector = std::vector<T, UninitCacheLineAllocator<T>>;

struct CacheLineDelete {
  template <class T>
  void operator()(T* p) const noexcept {
    ::operator delete[](p, std::align_val_t(kCacheLine));
  }
};

// An uninitialised array of trivially constructible elements that starts on a cache line.
template <class T>
using AlignedArray = std::unique_ptr<T[], CacheLineDelete>;

// A zeroed buffer of n elements for `what`.
template <class T>
std::vector<T> make_buffer(const char* what, int64_t n) {
  return allocate_checked<T>(what, n, [n] { return std::vector<T>(static_cast<size_t>(n)); });
}

// The same, starting on a cache line: for what the kernels stream.
template <class T>
AlignedVector<T> make_aligned_buffer(const char* what, int64_t n) {
  return allocate_checked<T>(what, n, [n] { return AlignedVector<T>(static_cast<size_t>(n)); });
}

// Under AddressSanitizer (tests/run_sanitizers.sh) a buffer left uninitialised is filled with
// all-ones bytes, a NaN in float32, float64 and bfloat16: an element read before it is written then
// shows in the results, where the tests compare them, instead of reading as whatever the allocator
// left there (often zeros, which could pass).
template <class T>
void poison_uninitialised(T* p, int64_t n) {
#if defined(__SANITIZE_ADDRESS__)
  std::memset(static_cast<void*>(p), 0xff, static_cast<size_t>(n) * sizeof(T));
#else
  (void)p, (void)n;
#endif
}

// The same, not zeroed: every element is written before it is read.
template <class T>
UninitAlignedVector<T> make_uninit_aligned_buffer(const char* what, int64_t n) {
  static_assert(std::is_trivially_default_constructible<T>::value, "left uninitialised");
  UninitAlignedVector<T> v =
      allocate_checked<T>(what, n, [n] { return UninitAlignedVector<T>(static_cast<size_t>(n)); });
  poison_uninitialised(v.data(), n);
  return v;
}

// An uninitialised buffer of n elements for `what`, starting on a cache line: pages never written
// are never resident.
template <class T>
AlignedArray<T> make_raw_buffer(const char* what, int64_t n) {
  static_assert(std::is_trivially_default_constructible<T>::value, "left uninitialised");
  AlignedArray<T> a = allocate_checked<T>(what, n, [n] {
    if (static_cast<uint64_t>(n) > static_cast<uint64_t>(PTRDIFF_MAX) / sizeof(T)) throw std::bad_array_new_length();
    return AlignedArray<T>(static_cast<T*>(::operator new[](static_cast<size_t>(n) * sizeof(T),
                                                             std::align_val_t(kCacheLine))));
  });
  poison_uninitialised(a.get(), n);
  return a;
}

}  // namespace detail
}  // namespace sepcpp
