// SPDX-License-Identifier: Apache-2.0
// splitmix64: the library's one seeded generator where an order must be the same on every platform and standard
// library (std::shuffle's and the distributions' draws are implementation-defined).
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstdint>

namespace mmrag_rft::detail {

/// Advances `state` and returns the next 64-bit draw (Steele, Lea and Flood 2014; Vigna's constants).
[[nodiscard]] constexpr std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

} // namespace mmrag_rft::detail
