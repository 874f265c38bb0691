// SPDX-License-Identifier: Apache-2.0
// One reinforcement fine-tuning step for any Policy: rollout -> rewards -> advantages -> loss -> backward -> step.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
#include <mmrag_rft/model/concepts.hpp>
#include <mmrag_rft/pipeline/reward_score.hpp>

#include <chrono>
#include <cmath>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace mmrag_rft {

/// Options of `rft_step`: how to sample, how to turn rewards into advantages, and the loss. With `loss.kl != none`
/// a reference model must be passed.
struct rft_options {
  rollout_options rollout{};
  grpo_options advantages = grpo_options::verl();
  policy_loss_options loss = policy_loss_options::verl();
};

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
  double seconds = 0;
  std::size_t completions = 0;
};

/// What `rft_step` returns: the metrics, and the rollout with its rewards (for logging and examples).
struct rft_step_result {
  step_metrics metrics;
  rollout_batch rollout;
  std::vector<reward_breakdown> rewards; ///< one per completion row
  std::vector<float> advantages;         ///< one per completion row
};

/// One GRPO step of `policy` on `samples` with `prompts[i]` the prompt of `samples[i]`.
///
/// 1. `policy.generate(prompts, options.rollout)` samples G completions per prompt;
/// 2. `reward` scores each completion for its sample (see `score_reward`: a composite gives per-rule scores);
/// 3. `grpo_advantages` turns each group's rewards into advantages [verl compute_grpo_outcome_advantage];
/// 4. `policy.log_probs` gives the current log-probs (and `ref.log_probs` the reference ones when a KL term is on);
///    with an entropy bonus (`options.loss.entropy_coeff != 0`, an `EntropyPolicy` only) `log_probs_and_entropy`
///    gives the current entropy too;
/// 5. `policy_loss` gives the loss and d loss / d log-prob (and d loss / d entropy) per token
///    [verl compute_policy_loss_vanilla];
/// 6. `policy.backward(grad)` (`backward(grad, grad_entropy)` with the bonus) and `policy.step()` update the
///    parameters.
/// One update per rollout (on-policy; the ratio is 1 up to rounding, so clipping only matters for stale rollouts).
/// Throws `mmrag_rft::error` when the sizes disagree or the policy returns a malformed rollout; non-finite rewards
/// follow `options.advantages.nonfinite`. An empty `samples` does nothing and returns zero metrics.
template <class P, class Reward, class Ref = no_reference>
[[nodiscard]] rft_step_result rft_step(P& policy, std::span<const sample> samples, const prompt_batch& prompts,
                                       Reward&& reward, const rft_options& options, Ref& ref) {
  static_assert(check_policy<P>());
  static_assert(check_reference_model<Ref>());
  static_assert(PipelineReward<Reward>,
                "mmrag_rft: rft_step's reward must be callable as reward(const completion&, const sample&)");
  const auto t0 = std::chrono::steady_clock::now();
  detail::require(prompts.size() == samples.size(), "rft_step", "prompts", "must hold one prompt per sample");
  constexpr bool has_ref = !std::is_same_v<std::remove_cvref_t<Ref>, no_reference>;
  detail::require(options.loss.kl == kl_estimator::none || has_ref, "rft_step", "options.loss.kl",
                  "is set but no reference model was given");
  // The entropy bonus follows the current policy's entropy, which only an EntropyPolicy can differentiate; without
  // the bonus the rollout's sampling-time entropy is only a statistic.
  const bool train_entropy = options.loss.entropy_coeff != 0;
  detail::require(!train_entropy || EntropyPolicy<P>, "rft_step", "options.loss.entropy_coeff",
                  "is set, but the policy is not an EntropyPolicy (it needs log_probs_and_entropy(prompts, rollout, "
                  "log_probs, entropy) and backward(grad_log_probs, grad_entropy) for the bonus's gradient)");
  rft_step_result res;
  if (samples.empty()) return res;

  res.rollout = policy.generate(prompts, options.rollout);
  rollout_batch& r = res.rollout;
  r.validate("rft_step");
  detail::require(r.num_prompts == prompts.size(), "rft_step", "policy.generate", "returned a wrong number of groups");
  // A policy that samples at T != 1 but leaves the rollout's temperature at 1 would recompute log-probs at another
  // temperature than it sampled at: ratios != 1 on-policy, a silent bias; say so here instead.
  detail::require(r.temperature == options.rollout.log_prob_temperature(), "rft_step", "policy.generate",
                  "returned rollout_batch::temperature = " + std::to_string(r.temperature) + " for a rollout sampled at " +
                      std::to_string(options.rollout.temperature) +
                      " (it must state the T its log_probs belong to: the sampling temperature, 1 when greedy)");
  const std::size_t rows = r.rows(), cols = r.cols;

  std::vector<float> rewards(rows);
  res.rewards.reserve(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    res.rewards.push_back(score_reward(reward, r.completions[i], samples[i / r.group_size]));
    rewards[i] = static_cast<float>(res.rewards.back().total);
  }
  res.advantages.assign(rows, 0.0f);
  const advantage_summary adv = grpo_advantages(std::span<const float>(rewards), r.layout(),
                                                std::span<float>(res.advantages), options.advantages);

  std::vector<float> logp(rows * cols, 0.0f), ref_lp, grad(rows * cols, 0.0f), ent, grad_ent;
  policy_loss_inputs<float> in;
  if constexpr (EntropyPolicy<P>) {
    if (train_entropy) {
      ent.assign(rows * cols, 0.0f);
      policy.log_probs_and_entropy(prompts, r, matrix_view<float>(logp.data(), rows, cols),
                                   matrix_view<float>(ent.data(), rows, cols));
      in.entropy = {ent.data(), rows, cols};
    }
  }
  if (!train_entropy) {
    policy.log_probs(prompts, r, matrix_view<float>(logp.data(), rows, cols));
    in.entropy = r.entropy_view();
  }
  in.log_probs = {logp.data(), rows, cols};
  in.old_log_probs = r.log_prob_view();
  in.sequence_advantages = res.advantages;
  in.mask = r.response_mask();
  if constexpr (has_ref) {
    if (options.loss.kl != kl_estimator::none) {
      ref_lp.assign(rows * cols, 0.0f);
      ref.log_probs(prompts, r, matrix_view<float>(ref_lp.data(), rows, cols));
      in.ref_log_probs = {ref_lp.data(), rows, cols};
    }
  }
  policy_loss_grads<float> out{{grad.data(), rows, cols}, {}};
  if (train_entropy) {
    grad_ent.assign(rows * cols, 0.0f);
    out.entropy = {grad_ent.data(), rows, cols};
  }
  const policy_loss_result loss = policy_loss(in, out, options.loss);
  if constexpr (EntropyPolicy<P>) {
    if (train_entropy)
      policy.backward(matrix_view<const float>(grad.data(), rows, cols),
                      matrix_view<const float>(grad_ent.data(), rows, cols));
  }
  if (!train_entropy) policy.backward(matrix_view<const float>(grad.data(), rows, cols));
  policy.step();

  step_metrics& m = res.metrics;
  m.completions = rows;
  double s = 0, s2 = 0;
  for (float x : rewards) s += x;
  m.reward_mean = s / static_cast<double>(rows);
  for (float x : rewards) s2 += (x - m.reward_mean) * (x - m.reward_mean);
  m.reward_std = rows > 1 ? std::sqrt(s2 / static_cast<double>(rows - 1)) : 0.0;
  // Every completion is scored by the same reward, so rule j has the same name in every breakdown.
  for (std::size_t j = 0; j < res.rewards.front().names.size(); ++j) {
    double sum = 0, sq = 0;
    for (const auto& b : res.rewards) sum += b.scores[j];
    const double mean = sum / static_cast<double>(rows);
    for (const auto& b : res.rewards) sq += (b.scores[j] - mean) * (b.scores[j] - mean);
    m.rule_means.push_back({res.rewards.front().names[j], mean});
    m.rule_stds.push_back({res.rewards.front().names[j], rows > 1 ? std::sqrt(sq / static_cast<double>(rows - 1)) : 0.0});
  }
  m.loss = loss.loss, m.pg_loss = loss.pg_loss, m.kl = loss.stats.kl_mean;
  m.clip_fraction = loss.stats.pg_clipfrac, m.ppo_kl = loss.stats.ppo_kl;
  if (!in.entropy.empty()) {
    m.entropy = loss.stats.entropy_mean;
  } else {
    double e = 0;
    std::size_t n = 0;
    for (std::size_t i = 0; i < rows * cols; ++i)
      if (r.mask[i]) e -= r.log_probs[i], ++n;
    m.entropy = n ? e / static_cast<double>(n) : 0.0;
  }
  double len = 0, trunc = 0;
  for (const completion& c : r.completions) len += static_cast<double>(c.num_tokens), trunc += c.truncated;
  m.response_length = len / static_cast<double>(rows);
  m.truncated_fraction = trunc / static_cast<double>(rows);
  m.degenerate_groups = static_cast<double>(adv.degenerate_groups) / static_cast<double>(r.num_prompts);
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

/// `rft_step` without a reference model (options.loss.kl must be none).
template <class P, class Reward>
[[nodiscard]] rft_step_result rft_step(P& policy, std::span<const sample> samples, const prompt_batch& prompts,
                                       Reward&& reward, const rft_options& options) {
  no_reference none;
  return rft_step(policy, samples, prompts, std::forward<Reward>(reward), options, none);
}

} // namespace mmrag_rft
