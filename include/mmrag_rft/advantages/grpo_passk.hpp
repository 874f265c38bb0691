// SPDX-License-Identifier: Apache-2.0
// GRPO pass@k: only the best completion of a group is credited, by its margin over the runner-up.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/backends/cpu/baselines.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/group_layout.hpp>

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
/// NaN/inf rewards throw, naming the index; `epsilon` must be finite and >= 0. exec::par and exec::thrust (device
/// memory, one thread per group) are bitwise exec::seq.
/// Call: `grpo_passk_advantages([backend,] rewards, groups, advantages, options = {})`.
struct grpo_passk_advantages_fn {
  static constexpr const char* name = "grpo_passk_advantages";
  template <exec::ExecutionBackend E, class T>
  static constexpr bool supports = exec::implements<E, grpo_passk_advantages_fn, std::span<const T>,
                                                    const group_layout&, std::span<T>, const grpo_passk_options&>;

  template <exec::ExecutionBackend E, std::floating_point T>
  requires supports<E, T>
  advantage_summary operator()(const E& exec, std::span<const T> rewards, const group_layout& groups,
                               std::type_identity_t<std::span<T>> advantages, const grpo_passk_options& o = {}) const {
    return exec::run(*this, exec.derived(), rewards, groups, advantages, o);
  }
  template <std::floating_point T>
  advantage_summary operator()(std::span<const T> rewards, const group_layout& groups,
                               std::type_identity_t<std::span<T>> advantages, const grpo_passk_options& o = {}) const {
    return exec::run(*this, exec::seq, rewards, groups, advantages, o);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((supports<Backend, float> || supports<Backend, double>));
};
inline constexpr grpo_passk_advantages_fn grpo_passk_advantages{};

} // namespace mmrag_rft
