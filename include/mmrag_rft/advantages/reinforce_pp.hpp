// SPDX-License-Identifier: Apache-2.0
// REINFORCE++ (token-level discounted returns, batch whitening) and REINFORCE++-baseline (group mean subtracted, then
// batch whitening).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/token_plans.hpp>
#include <mmrag_rft/backends/cpu/token_estimators.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/core/group_layout.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

namespace mmrag_rft {

/// REINFORCE++ (Hu 2025, arXiv 2501.03262), token level: returns G_t = r_t + gamma G_{t+1}, the running return reset
/// after every masked position (`masked_returns::reset`) or carried over it (`carry`); advantages = masked batch
/// whitening of the returns, 0 at masked positions.
/// [verl compute_reinforce_plus_plus_outcome_advantage: `reinforce_pp_discount::verl(gamma)` with
///  `whitening_options::verl()`; a plain gamma resets, as verl b178a3cd]
///
/// `token_rewards`, `mask`, `returns` and `advantages` are [B, T]; `returns` may alias nothing else. `gamma` in [0, 1].
/// An empty batch or one without valid tokens gives zeros. NaN/inf token rewards at valid positions throw.
/// Complexity: three passes over [B, T].
/// Call: `reinforce_pp_advantages([backend,] token_rewards, mask, gamma, returns, advantages, whiten = {})`, `gamma`
/// a double or a `reinforce_pp_discount`.
struct reinforce_pp_advantages_fn {
  template <exec::ExecutionBackend E, std::floating_point T>
  requires exec::implements<E, reinforce_pp_advantages_fn, matrix_view<const T>, mask_view, reinforce_pp_discount,
                            matrix_view<T>, matrix_view<T>, const whitening_options&>
  whitening_stats operator()(const E& exec, matrix_view<const T> token_rewards, mask_view mask,
                             reinforce_pp_discount gamma, std::type_identity_t<matrix_view<T>> returns,
                             std::type_identity_t<matrix_view<T>> advantages,
                             const whitening_options& whiten = {}) const {
    return exec::run(*this, exec.derived(), token_rewards, mask, gamma, returns, advantages, whiten);
  }
  template <std::floating_point T>
  whitening_stats operator()(matrix_view<const T> token_rewards, mask_view mask, reinforce_pp_discount gamma,
                             std::type_identity_t<matrix_view<T>> returns,
                             std::type_identity_t<matrix_view<T>> advantages,
                             const whitening_options& whiten = {}) const {
    return exec::run(*this, exec::seq, token_rewards, mask, gamma, returns, advantages, whiten);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED(
      (exec::implements<Backend, reinforce_pp_advantages_fn, matrix_view<const float>, mask_view, reinforce_pp_discount,
                        matrix_view<float>, matrix_view<float>, const whitening_options&>));
};
inline constexpr reinforce_pp_advantages_fn reinforce_pp_advantages{};

/// REINFORCE++-baseline: a_i = r_i - mean_g (the group mean; a group of one has mean 0), then whitened over all valid
/// tokens of the batch — token-weighted, so long responses weigh more in the batch statistics.
/// [verl compute_reinforce_plus_plus_baseline_outcome_advantage; OpenRLHF "reinforce_baseline"]
///
/// The result is constant over each row's valid tokens, so it is written per sequence: `advantages[i]`; pass it to
/// `policy_loss` as `sequence_advantages`, or expand it with `broadcast_advantages`. `mask` ([B, T], B = number of
/// completions) gives the token counts. NaN/inf rewards throw, naming the index.
/// Call: `reinforce_pp_baseline_advantages([backend,] rewards, groups, mask, advantages, whiten = {})`.
struct reinforce_pp_baseline_advantages_fn {
  template <exec::ExecutionBackend E, std::floating_point T>
  requires exec::implements<E, reinforce_pp_baseline_advantages_fn, std::span<const T>, const group_layout&, mask_view,
                            std::span<T>, const whitening_options&>
  whitening_stats operator()(const E& exec, std::span<const T> rewards, const group_layout& groups, mask_view mask,
                             std::type_identity_t<std::span<T>> advantages,
                             const whitening_options& whiten = {}) const {
    return exec::run(*this, exec.derived(), rewards, groups, mask, advantages, whiten);
  }
  template <std::floating_point T>
  whitening_stats operator()(std::span<const T> rewards, const group_layout& groups, mask_view mask,
                             std::type_identity_t<std::span<T>> advantages,
                             const whitening_options& whiten = {}) const {
    return exec::run(*this, exec::seq, rewards, groups, mask, advantages, whiten);
  }
  /// Groups given by keys (verl's `index`, one uid per completion, in any order): each completion's centred reward is
  /// computed in its group, in the group's gathered order, then the batch is whitened in the caller's order, so the
  /// result is bitwise the `group_layout` form's when the keys are already adjacent.
  template <std::floating_point T>
  whitening_stats operator()(std::span<const T> rewards, const keyed_groups& groups, mask_view mask,
                             std::type_identity_t<std::span<T>> advantages,
                             const whitening_options& whiten = {}) const {
    constexpr const char* fn = "reinforce_pp_baseline_advantages";
    detail::require(rewards.size() == groups.size(), fn, "rewards", "must have one element per key");
    detail::require(advantages.size() == rewards.size(), fn, "advantages", "must have the size of rewards");
    detail::require(mask.rows() == rewards.size(), fn, "mask", "must have one row per completion");
    detail::check_rewards(rewards, nonfinite_rewards::error, fn);
    const auto order = groups.order();
    const group_layout layout = groups.layout();
    std::vector<T> gathered(rewards.size()), centred(rewards.size());
    for (std::size_t j = 0; j < order.size(); ++j) gathered[j] = rewards[order[j]];
    for (std::size_t g = 0; g < layout.num_groups(); ++g) {
      const std::size_t b = layout.begin(g), e = layout.end(g);
      const detail::group_moments s = detail::moments(gathered.data() + b, e - b);
      for (std::size_t j = b; j < e; ++j) centred[order[j]] = detail::baseline_centred(gathered[j], s.sum, s.n);
    }
    // Groups of one have mean 0, so the contiguous form leaves the centred values as they are and whitens them.
    return (*this)(std::span<const T>(centred), group_layout::uniform(rewards.size(), 1), mask, advantages, whiten);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED(
      (exec::implements<Backend, reinforce_pp_baseline_advantages_fn, std::span<const float>, const group_layout&,
                        mask_view, std::span<float>, const whitening_options&>));
};
inline constexpr reinforce_pp_baseline_advantages_fn reinforce_pp_baseline_advantages{};

} // namespace mmrag_rft
