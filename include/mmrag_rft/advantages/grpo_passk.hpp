// SPDX-License-Identifier: Apache-2.0
// GRPO pass@k: only the best completion of a group is credited, by its margin over the runner-up.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/group_layout.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>

namespace mmrag_rft {

/// GRPO pass@k advantages (Chen et al. 2025, arXiv 2503.19595): in each group the first completion with the largest
/// reward gets a = (r_max - r_second) / (std_g + epsilon) (without the division when `norm_adv_by_std_in_grpo` is
/// false), std_g the unbiased std of the group; every other completion gets 0. A tie at the top, or an all-equal
/// group, gives 0 to all (counted in `degenerate_groups` when all are equal). [verl compute_grpo_passk_outcome_advantage]
///
/// Every non-empty group needs two completions or more: a group of one throws, naming it (verl raises too).
/// NaN/inf rewards throw, naming the index; `epsilon` must be finite and >= 0. exec::par is bitwise exec::seq.
/// Call: `grpo_passk_advantages([seq|par,] rewards, groups, advantages, options = {})`.
struct grpo_passk_advantages_fn {
  static constexpr const char* name = "grpo_passk_advantages";
  template <exec::CpuBackend E, std::floating_point T>
  advantage_summary operator()(const E& exec, std::span<const T> rewards, const group_layout& groups,
                               std::type_identity_t<std::span<T>> advantages, const grpo_passk_options& o = {}) const {
    detail::require_group_sizes(rewards.size(), advantages.size(), groups, name);
    detail::require(std::isfinite(o.epsilon) && o.epsilon >= 0, name, "options.epsilon", "must be finite and >= 0");
    detail::require_no_singleton_groups(groups, name);
    detail::check_rewards(rewards, nonfinite_rewards::error, name);
    return detail::for_each_group(exec, groups, [&](std::size_t g, advantage_summary& part) {
      const std::size_t b = groups.begin(g), e = groups.end(g);
      if (e == b) return;
      part.degenerate_groups += !detail::grpo_passk_group(rewards.data() + b, e - b, o.norm_adv_by_std_in_grpo,
                                                          o.epsilon, advantages.data() + b);
    });
  }
  template <std::floating_point T>
  advantage_summary operator()(std::span<const T> rewards, const group_layout& groups,
                               std::type_identity_t<std::span<T>> advantages, const grpo_passk_options& o = {}) const {
    return (*this)(exec::seq, rewards, groups, advantages, o);
  }
};
inline constexpr grpo_passk_advantages_fn grpo_passk_advantages{};

} // namespace mmrag_rft
