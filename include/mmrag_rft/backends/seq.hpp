// SPDX-License-Identifier: Apache-2.0
// The serial CPU backend: the reference every other backend is compared with.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/concepts.hpp>

namespace mmrag_rft::exec {

/// Runs an algorithm on the calling thread. Results are bitwise identical to `par` with any thread count.
struct seq_t : backend_base<seq_t> {};
inline constexpr seq_t seq{};

} // namespace mmrag_rft::exec
