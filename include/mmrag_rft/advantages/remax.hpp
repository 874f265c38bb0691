// SPDX-License-Identifier: Apache-2.0
// ReMax: REINFORCE with the greedy completion's reward as the baseline.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/error.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>

namespace mmrag_rft {

/// ReMax advantages (Li et al. 2023, arXiv 2310.10505): a_i = r_i - b_i, b_i the reward of the greedy completion of
/// completion i's prompt. Per sequence; `broadcast_advantages` over the response mask gives verl's [B, T] tensor
/// for an outcome reward at the last valid token (the reversed cumulative sum of the masked token rewards is r_i at
/// every valid token). [verl compute_remax_outcome_advantage]
///
/// NaN/inf rewards or baselines throw, naming the argument and index. Not group-wise, so no layout.
/// Call: `remax_advantages([seq|par,] rewards, greedy_rewards, advantages)`.
struct remax_advantages_fn {
  static constexpr const char* name = "remax_advantages";
  template <exec::CpuBackend E, std::floating_point T>
  void operator()(const E& exec, std::span<const T> rewards, std::type_identity_t<std::span<const T>> greedy_rewards,
                  std::type_identity_t<std::span<T>> advantages) const {
    detail::require(greedy_rewards.size() == rewards.size(), name, "greedy_rewards", "must have the size of rewards");
    detail::require(advantages.size() == rewards.size(), name, "advantages", "must have the size of rewards");
    detail::check_rewards(rewards, nonfinite_rewards::error, name);
    for (std::size_t i = 0; i < greedy_rewards.size(); ++i)
      detail::require(std::isfinite(greedy_rewards[i]), name, "greedy_rewards", "is NaN or infinite", i);
    detail::for_each_row(exec, rewards.size(), 1, [&](std::size_t i) {
      advantages[i] = detail::remax_advantage(rewards[i], greedy_rewards[i]);
    });
  }
  template <std::floating_point T>
  void operator()(std::span<const T> rewards, std::type_identity_t<std::span<const T>> greedy_rewards,
                  std::type_identity_t<std::span<T>> advantages) const {
    (*this)(exec::seq, rewards, greedy_rewards, advantages);
  }
};
inline constexpr remax_advantages_fn remax_advantages{};

} // namespace mmrag_rft
