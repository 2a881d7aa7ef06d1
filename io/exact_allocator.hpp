// An allocator that allocates exactly what is asked, for Asio operations a connection keeps
// pending while idle. Asio recycles operation memory per thread and would hand such an operation
// a cached block from a larger, earlier one (an HTTP read, ~600 bytes) to keep for the
// connection's life; std::allocator means "recycle" to Asio, so a distinct type is needed.
// Use: boost::asio::bind_allocator(exact_allocator<void>(), handler).
#pragma once

#include <cstddef>
#include <new>

namespace partyd {

template <class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() = default;
  template <class U>
  exact_allocator(const exact_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  friend bool operator==(const exact_allocator&, const exact_allocator&) { return true; }
};

}  // namespace partyd
