// SPDX-License-Identifier: Apache-2.0
// The CPU backends together; what the CPU algorithm implementations include.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/concepts.hpp>
#include <mmrag_rft/backends/par.hpp>
#include <mmrag_rft/backends/seq.hpp>

#include <concepts>

namespace mmrag_rft::exec {

/// The CPU backends: host memory, the library's own loops (serial, or in fixed chunks on several threads).
template <class E>
concept CpuBackend = std::same_as<E, seq_t> || std::same_as<E, par_t>;

} // namespace mmrag_rft::exec
