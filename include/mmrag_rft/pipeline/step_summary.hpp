// SPDX-License-Identifier: Apache-2.0
// The metrics of one RFT step, computed from what the step produced: rollout, rewards, advantage summary, loss.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
#include <mmrag_rft/model/rollout.hpp>
#include <mmrag_rft/pipeline/reward_score.hpp>

#include <cmath>
#include <cstddef>
#include <optional>
#include <span>
#include <vector>

namespace mmrag_rft {

/// The metrics of one step (all means over the step's completions or valid tokens).
struct step_metrics {
  double reward_mean = 0, reward_std = 0;
  std::vector<named_score> rule_means; ///< mean of each reward part, in the order the reward reports them
  std::vector<named_score> rule_stds;
  double loss = 0, pg_loss = 0, kl = 0;
  double clip_fraction = 0; ///< verl pg_clipfrac
  double ppo_kl = 0;        ///< approximate KL to the sampling policy
  double entropy = 0;       ///< mean per-token entropy of the policy (the rollout's, or -mean log-prob if it has none)
  double response_length = 0, truncated_fraction = 0;
  double degenerate_groups = 0; ///< fraction of groups whose rewards were all equal (no learning signal)
  /// Dynamic sampling (`rft_options::dynamic_sampling`): groups left out of the step, groups replaced by a resampled
  /// group whose rewards differ, and the extra `generate` rounds it took.
  std::size_t dropped_groups = 0, refilled_groups = 0, refill_rounds = 0;
  std::size_t entropy_masked_tokens = 0; ///< valid tokens below the `top_entropy_quantile` threshold (no pg term)
  std::size_t updates = 0;               ///< optimizer steps taken: ppo_epochs x mini_batches, 0 if nothing was left
  double seconds = 0;
  std::size_t completions = 0;
};

namespace detail {
struct mean_std {
  double mean = 0, std = 0;
};
// Mean and sample std (n - 1; 0 for one value) of value(i) for i < n, the deviations summed in a second pass so
// that equal values give exactly 0.
template <class Value>
[[nodiscard]] mean_std mean_and_sample_std(std::size_t n, Value value) {
  double sum = 0, sq = 0;
  for (std::size_t i = 0; i < n; ++i) sum += value(i);
  const double mean = sum / static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) sq += (value(i) - mean) * (value(i) - mean);
  return {mean, n > 1 ? std::sqrt(sq / static_cast<double>(n - 1)) : 0.0};
}
} // namespace detail

/// The metrics of a step from its parts: `rollout` (the completions, their mask and sampling log-probs), `rewards`
/// (one breakdown per rollout row, every one with the same rules in the same order), the estimator's `advantages`
/// summary and the `loss` result.
/// - `reward_mean` / `reward_std`: over the totals as the estimator saw them (rounded to float); the std is the
///   sample std (n - 1), 0 for one completion; `rule_means` / `rule_stds` the same per rule, named after it.
/// - `loss`, `pg_loss`, `kl` (`stats.kl_mean`), `clip_fraction` (`stats.pg_clipfrac`), `ppo_kl`: from `loss`.
/// - `entropy`: `policy_entropy` when the loss was given the policy's entropy (its `stats.entropy_mean`); without it,
///   minus the mean sampling log-prob of the response tokens, an estimate of the same quantity.
/// - `response_length` / `truncated_fraction`: the mean `completion::num_tokens` / fraction truncated.
/// - `degenerate_groups`: `advantages.degenerate_groups` over the number of groups (`rollout.num_prompts`).
/// `seconds` is left 0 (the caller times the step). An empty rollout gives zero metrics. Throws `mmrag_rft::error`
/// when `rewards` does not hold one breakdown per row or a breakdown's rules differ in number from the first's.
[[nodiscard]] inline step_metrics summarise_step(const rollout_batch& rollout,
                                                 std::span<const reward_breakdown> rewards,
                                                 const advantage_summary& advantages, const policy_loss_result& loss,
                                                 std::optional<double> policy_entropy = std::nullopt) {
  constexpr const char* fn = "summarise_step";
  const std::size_t rows = rollout.rows();
  detail::require(rewards.size() == rows, fn, "rewards", "must hold one reward_breakdown per rollout row");
  step_metrics m;
  if (rows == 0) return m;
  const reward_breakdown& first = rewards.front();
  for (const reward_breakdown& b : rewards)
    detail::require(b.scores.size() == first.names.size(), fn, "rewards",
                    "must report the same rules for every completion");
  m.completions = rows;
  // The totals rounded to float, as the estimator saw them: the metric describes the signal that was trained on.
  const detail::mean_std total = detail::mean_and_sample_std(
      rows, [&](std::size_t i) { return static_cast<double>(static_cast<float>(rewards[i].total)); });
  m.reward_mean = total.mean, m.reward_std = total.std;
  for (std::size_t j = 0; j < first.names.size(); ++j) {
    const detail::mean_std rule =
        detail::mean_and_sample_std(rows, [&](std::size_t i) { return rewards[i].scores[j]; });
    m.rule_means.push_back({first.names[j], rule.mean});
    m.rule_stds.push_back({first.names[j], rule.std});
  }
  m.loss = loss.loss, m.pg_loss = loss.pg_loss, m.kl = loss.stats.kl_mean;
  m.clip_fraction = loss.stats.pg_clipfrac, m.ppo_kl = loss.stats.ppo_kl;
  if (policy_entropy) {
    m.entropy = *policy_entropy;
  } else {
    double e = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < rollout.mask.size(); ++i)
      if (rollout.mask[i]) e -= rollout.log_probs[i], ++n;
    m.entropy = n ? e / static_cast<double>(n) : 0.0;
  }
  double len = 0, trunc = 0;
  for (const completion& c : rollout.completions) len += static_cast<double>(c.num_tokens), trunc += c.truncated;
  m.response_length = len / static_cast<double>(rows);
  m.truncated_fraction = trunc / static_cast<double>(rows);
  m.degenerate_groups = static_cast<double>(advantages.degenerate_groups) / static_cast<double>(rollout.num_prompts);
  return m;
}

} // namespace mmrag_rft
