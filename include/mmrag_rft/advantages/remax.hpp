// SPDX-License-Identifier: Apache-2.0
// ReMax: REINFORCE with the greedy completion's reward as the baseline.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/backends/cpu/baselines.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/backends/seq.hpp>

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
/// NaN/inf rewards or baselines throw, naming the argument and index. Not group-wise, so no layout. exec::par and
/// exec::thrust (device memory) are bitwise exec::seq.
/// Call: `remax_advantages([backend,] rewards, greedy_rewards, advantages)`.
struct remax_advantages_fn {
  static constexpr const char* name = "remax_advantages";
  template <exec::ExecutionBackend E, class T>
  static constexpr bool supports =
      exec::implements<E, remax_advantages_fn, std::span<const T>, std::span<const T>, std::span<T>>;

  template <exec::ExecutionBackend E, std::floating_point T>
  requires supports<E, T>
  void operator()(const E& exec, std::span<const T> rewards, std::type_identity_t<std::span<const T>> greedy_rewards,
                  std::type_identity_t<std::span<T>> advantages) const {
    exec::run(*this, exec.derived(), rewards, greedy_rewards, advantages);
  }
  template <std::floating_point T>
  void operator()(std::span<const T> rewards, std::type_identity_t<std::span<const T>> greedy_rewards,
                  std::type_identity_t<std::span<T>> advantages) const {
    exec::run(*this, exec::seq, rewards, greedy_rewards, advantages);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((supports<Backend, float> || supports<Backend, double>));
};
inline constexpr remax_advantages_fn remax_advantages{};

} // namespace mmrag_rft
