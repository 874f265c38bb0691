// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/thrust.hpp>
// Group bounds as device code reads them: where group g starts and ends, and which group an item belongs to.
// Host/device, so that tests/thrust checks the CUDA kernels' item-to-group search on the CPU. No Eigen, no range-v3.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <cstdint>

namespace mmrag_rft::detail {

/// Uniform groups of `group_size` (offsets null), or groups g = [offsets[g], offsets[g + 1]) from a validated
/// group_layout's offsets copied to the device (empty groups allowed).
struct group_bounds {
  const std::int64_t* offsets;
  std::int64_t group_size;
  std::size_t num_groups;
  /// Where group g starts (a functor, so that CUB's segmented reductions take it as their offsets iterator).
  MMRAG_RFT_HOST_DEVICE std::int64_t operator()(std::int64_t g) const noexcept {
    return offsets ? offsets[g] : g * group_size;
  }
  MMRAG_RFT_HOST_DEVICE std::size_t begin(std::size_t g) const noexcept {
    return static_cast<std::size_t>((*this)(static_cast<std::int64_t>(g)));
  }
  MMRAG_RFT_HOST_DEVICE std::size_t end(std::size_t g) const noexcept { return begin(g + 1); }
  /// The group of item j < offsets[num_groups]: the last g with offsets[g] <= j, which skips empty groups (binary
  /// search, O(log groups)).
  MMRAG_RFT_HOST_DEVICE std::size_t group_of(std::size_t j) const noexcept {
    if (!offsets) return j / static_cast<std::size_t>(group_size);
    std::size_t lo = 0, hi = num_groups;
    while (hi - lo > 1) {
      const std::size_t mid = (lo + hi) / 2;
      if (static_cast<std::size_t>(offsets[mid]) <= j) lo = mid;
      else hi = mid;
    }
    return lo;
  }
};

} // namespace mmrag_rft::detail
