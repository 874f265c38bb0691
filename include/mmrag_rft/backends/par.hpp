// SPDX-License-Identifier: Apache-2.0
// The parallel CPU backend: OpenMP when the program is compiled with it, std::thread otherwise.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/concepts.hpp>

#include <cstddef>

namespace mmrag_rft::exec {

/// Runs an algorithm on several CPU threads. Work is split into chunks whose boundaries depend on the problem size
/// only, and partial sums are combined in chunk order, so results are bitwise identical to `seq` whatever
/// `num_threads` is. `num_threads == 0` means all hardware threads.
struct par_t : backend_base<par_t> {
  std::size_t num_threads = 0;
  [[nodiscard]] constexpr par_t with_threads(std::size_t n) const noexcept {
    par_t p;
    p.num_threads = n;
    return p;
  }
};
inline constexpr par_t par{};

} // namespace mmrag_rft::exec
