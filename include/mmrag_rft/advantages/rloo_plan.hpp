// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The plan of `rloo_advantages`, written once for every backend: validation and one group's pass.
// Host/device safe: no Eigen, no range-v3, no Thrust.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <cstddef>
#include <cstdint>

namespace mmrag_rft {

struct rloo_advantages_fn;

namespace detail {

/// The argument checks of `rloo_advantages`, on the host, before any backend reads a reward.
inline void validate_rloo(std::size_t rewards, std::size_t out, std::size_t keep, const group_layout& groups,
                          const rloo_options& o) {
  constexpr const char* fn = "rloo_advantages";
  require_group_sizes(rewards, out, groups, fn);
  require(keep == 0 || keep == rewards, fn, "keep", "must be empty or have the size of rewards");
  if (o.singleton == rloo_options::singleton_policy::error) require_no_singleton_groups(groups, fn);
}

/// RLOO advantage: the reward minus the mean of the other n - 1 rewards, r - (sum - r)/(n - 1). [verl rloo]
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T rloo_advantage(T reward, double sum, double n) noexcept {
  const double r = static_cast<double>(reward);
  return static_cast<T>(r - (sum - r) / (n - 1.0));
}

/// What one group's RLOO pass found.
struct rloo_group_outcome {
  bool singleton = false;  ///< one finite reward
  bool degenerate = false; ///< two or more finite rewards, all equal
  std::size_t masked = 0;  ///< non-finite rewards (advantage 0, keep 0)
};

/// One group of RLOO: its moments, then every completion's advantage (and keep flag, when `keep` is not null).
/// Shared by every backend, so a group's advantages are bitwise the same on each. `AllFinite` (the rewards were
/// checked at the boundary) drops the per-element tests, so the loops vectorise.
template <bool AllFinite = false, class T>
MMRAG_RFT_HOST_DEVICE rloo_group_outcome rloo_group(const T* r, std::size_t size, T* out, std::uint8_t* keep,
                                                    rloo_options::singleton_policy singleton) noexcept {
  const group_moments s = moments<AllFinite>(r, size);
  rloo_group_outcome o;
  o.singleton = s.n == 1;
  o.degenerate = s.n >= 2 && s.m2 == 0.0;
  for (std::size_t j = 0; j < size; ++j) {
    const bool ok = AllFinite || finite(r[j]);
    o.masked += !ok;
    if (keep) keep[j] = ok ? 1 : 0;
    if (!ok) out[j] = T(0);
    else if (s.n == 1) out[j] = singleton == rloo_options::singleton_policy::keep_reward ? r[j] : T(0);
    else out[j] = rloo_advantage(r[j], s.sum, static_cast<double>(s.n));
  }
  return o;
}

} // namespace detail
} // namespace mmrag_rft
