// SPDX-License-Identifier: Apache-2.0
// GRPO and Dr. GRPO group-relative advantages.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/grpo_plan.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/backends/cpu/grpo.hpp>
#include <mmrag_rft/advantages/outcome_estimator.hpp>
#include <mmrag_rft/backends/dispatch.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace mmrag_rft {

/// GRPO outcome advantages: for completion j of group g, a_j = (r_j - mean_g) / (std_g + epsilon), or r_j - mean_g
/// when `norm_adv_by_std_in_grpo` is false (Dr. GRPO). [verl compute_grpo_outcome_advantage; TRL; OpenRLHF group_norm]
///
/// `rewards` holds one scalar reward per completion, laid out by `groups` (or by a `keyed_groups`, verl's uid
/// grouping). Statistics are computed in double, the std by a centred second pass, so an all-equal group gets exactly
/// 0 (a "degenerate" group in the summary). A group of one follows `options.singleton`. NaN/inf rewards follow
/// `options.nonfinite`; with `mask_out` they are left out of their group's statistics, get advantage 0 and `keep[j] =
/// 0` (pass `keep` to learn which; it may be empty). An empty batch is valid and does nothing. Without the std
/// division (Dr. GRPO) r_j - mean_g is unbounded: an advantage beyond the range of T (rewards spread wider than it)
/// throws `mmrag_rft::error` naming `rewards` and the index, on the CPU backends.
/// Complexity: two reads of the rewards, one write; no allocation for a `group_layout`, O(n) for `keyed_groups`.
struct grpo_advantages_fn : detail::outcome_estimator_fn<grpo_advantages_fn, grpo_options> {
  static constexpr const char* name = "grpo_advantages";
};
inline constexpr grpo_advantages_fn grpo_advantages{};

/// Dr. GRPO advantages (Liu et al. 2025, "Understanding R1-Zero-like training"): a_j = r_j - mean_g, GRPO without
/// the std division, so equal to GRPO's advantages times (std_g + epsilon). [verl norm_adv_by_std_in_grpo=False;
/// TRL scale_rewards="none"; OpenRLHF dr_grpo]. Takes the arguments of `grpo_advantages` without the options; for
/// other options (singletons, non-finite rewards) call `grpo_advantages` with `grpo_options::dr_grpo()`.
struct dr_grpo_advantages_fn {
  template <class... Args>
  requires std::invocable<const grpo_advantages_fn&, Args..., const grpo_options&>
  advantage_summary operator()(Args&&... args) const {
    return grpo_advantages(std::forward<Args>(args)..., grpo_options::dr_grpo());
  }
};
inline constexpr dr_grpo_advantages_fn dr_grpo_advantages{};

} // namespace mmrag_rft
