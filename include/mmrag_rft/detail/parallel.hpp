// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/cpu.hpp>
// Running independent chunks of work on the CPU backends.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>

#include <algorithm>
#include <cstddef>
#include <exception>
#include <thread>
#include <vector>
#if MMRAG_RFT_HAS_OPENMP()
#include <omp.h>
#endif

namespace mmrag_rft::detail {

/// Splits `n` items into chunks of `grain` (the last may be shorter). The split depends on `n` and `grain` only, never
/// on the thread count, which is what makes parallel reductions reproducible.
struct chunking {
  std::size_t n = 0;
  std::size_t grain = 1;
  [[nodiscard]] constexpr std::size_t count() const noexcept { return n == 0 ? 0 : (n + grain - 1) / grain; }
  [[nodiscard]] constexpr std::size_t begin(std::size_t c) const noexcept { return c * grain; }
  [[nodiscard]] constexpr std::size_t end(std::size_t c) const noexcept { return std::min(n, (c + 1) * grain); }
};

/// Calls `fn(c)` for each chunk index `c` of `chunks` on the calling thread.
template <class Fn>
void for_each_chunk(exec::seq_t, std::size_t chunks, Fn&& fn) {
  for (std::size_t c = 0; c < chunks; ++c) fn(c);
}

[[nodiscard]] inline std::size_t thread_count(const exec::par_t& p, std::size_t chunks) {
  std::size_t t = p.num_threads;
  if (t == 0) {
#if MMRAG_RFT_HAS_OPENMP()
    t = static_cast<std::size_t>(omp_get_max_threads());
#else
    t = std::max<std::size_t>(1, std::thread::hardware_concurrency());
#endif
  }
  return std::max<std::size_t>(1, std::min(t, chunks));
}

/// Calls `fn(c)` for each chunk index on up to `p.num_threads` threads. The first exception thrown by `fn` is
/// rethrown on the calling thread after all workers finished.
template <class Fn>
void for_each_chunk(const exec::par_t& p, std::size_t chunks, Fn&& fn) {
  const std::size_t threads = thread_count(p, chunks);
  if (threads <= 1) return for_each_chunk(exec::seq, chunks, fn);
  std::vector<std::exception_ptr> errors(threads);
#if MMRAG_RFT_HAS_OPENMP()
#pragma omp parallel for num_threads(static_cast<int>(threads)) schedule(dynamic, 1)
  for (std::ptrdiff_t c = 0; c < static_cast<std::ptrdiff_t>(chunks); ++c) {
    try {
      fn(static_cast<std::size_t>(c));
    } catch (...) {
      errors[static_cast<std::size_t>(omp_get_thread_num())] = std::current_exception();
    }
  }
#else
  {
    std::vector<std::jthread> workers;
    workers.reserve(threads);
    for (std::size_t t = 0; t < threads; ++t)
      workers.emplace_back([&, t] {
        try {
          for (std::size_t c = t; c < chunks; c += threads) fn(c);
        } catch (...) {
          errors[t] = std::current_exception();
        }
      });
  }
#endif
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

} // namespace mmrag_rft::detail
