// SPDX-License-Identifier: Apache-2.0
// One reinforcement fine-tuning step for any Policy: rollout -> rewards -> advantages -> loss -> backward -> step,
// with any outcome estimator (GRPO by default) on any CPU execution backend (exec::seq by default).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/backends/concepts.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
#include <mmrag_rft/model/concepts.hpp>
#include <mmrag_rft/pipeline/outcome_estimator.hpp>
#include <mmrag_rft/pipeline/reward_score.hpp>
#include <mmrag_rft/pipeline/step_summary.hpp>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace mmrag_rft {

/// Options of `rft_step`: how to sample, how to turn rewards into advantages, and the loss. With `loss.kl != none`
/// a reference model must be passed.
struct rft_options {
  rollout_options rollout{};
  /// The GRPO options of the default estimator (`grpo_estimator{advantages}`); unused when the caller passes an
  /// estimator of its own.
  grpo_options advantages = grpo_options::verl();
  policy_loss_options loss = policy_loss_options::verl();
};

/// What `rft_step` returns: the metrics, and the rollout with its rewards (for logging and examples).
struct rft_step_result {
  step_metrics metrics;
  rollout_batch rollout;
  std::vector<reward_breakdown> rewards; ///< one per completion row
  std::vector<float> advantages;         ///< one per completion row
};


namespace detail {
template <class B, class P, class Reward, class Estimator, class Ref>
[[nodiscard]] rft_step_result rft_step_on(const B& backend, P& policy, std::span<const sample> samples,
                                          const prompt_batch& prompts, Reward& reward, Estimator& estimator,
                                          const rft_options& options, Ref& ref) {
  static_assert(check_policy<P>());
  static_assert(check_reference_model<Ref>());
  static_assert(PipelineReward<Reward>,
                "mmrag_rft: rft_step's reward must be callable as reward(const completion&, const sample&)");
  const auto t0 = std::chrono::steady_clock::now();
  require(prompts.size() == samples.size(), "rft_step", "prompts", "must hold one prompt per sample");
  constexpr bool has_ref = !std::is_same_v<std::remove_cv_t<Ref>, no_reference>;
  require(options.loss.kl == kl_estimator::none || has_ref, "rft_step", "options.loss.kl",
          "is set but no reference model was given");
  // The entropy bonus follows the current policy's entropy, which only an EntropyPolicy can differentiate; without
  // the bonus the rollout's sampling-time entropy is only a statistic.
  const bool train_entropy = options.loss.entropy_coeff != 0;
  require(!train_entropy || EntropyPolicy<P>, "rft_step", "options.loss.entropy_coeff",
          "is set, but the policy is not an EntropyPolicy (it needs log_probs_and_entropy(prompts, rollout, "
          "log_probs, entropy) and backward(grad_log_probs, grad_entropy) for the bonus's gradient)");
  rft_step_result res;
  if (samples.empty()) return res;

  res.rollout = policy.generate(prompts, options.rollout);
  rollout_batch& r = res.rollout;
  r.validate("rft_step");
  require(r.num_prompts == prompts.size(), "rft_step", "policy.generate", "returned a wrong number of groups");
  // A policy that samples at T != 1 but leaves the rollout's temperature at 1 would recompute log-probs at another
  // temperature than it sampled at: ratios != 1 on-policy, a silent bias; say so here instead.
  require(r.temperature == options.rollout.log_prob_temperature(), "rft_step", "policy.generate",
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
  const advantage_summary adv =
      estimator(backend, std::span<const float>(rewards), r.layout(), std::span<float>(res.advantages));

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
  const policy_loss_result loss = policy_loss(backend, in, out, options.loss);
  if constexpr (EntropyPolicy<P>) {
    if (train_entropy)
      policy.backward(matrix_view<const float>(grad.data(), rows, cols),
                      matrix_view<const float>(grad_ent.data(), rows, cols));
  }
  if (!train_entropy) policy.backward(matrix_view<const float>(grad.data(), rows, cols));
  policy.step();

  res.metrics = summarise_step(r, res.rewards, adv, loss,
                               in.entropy.empty() ? std::nullopt : std::optional<double>(loss.stats.entropy_mean));
  res.metrics.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return res;
}
} // namespace detail

/// One RFT step of `policy` on `samples` with `prompts[i]` the prompt of `samples[i]`:
///
///     rft_step([backend,] policy, samples, prompts, reward, [estimator,] options[, ref])
///
/// 1. `policy.generate(prompts, options.rollout)` samples G completions per prompt;
/// 2. `reward` scores each completion for its sample (see `score_reward`: a composite gives per-rule scores);
/// 3. `estimator(backend, rewards, groups, advantages)` turns each group's rewards into advantages; without an
///    estimator, `grpo_estimator{options.advantages}` [verl compute_grpo_outcome_advantage];
/// 4. `policy.log_probs` gives the current log-probs (and `ref.log_probs` the reference ones when a KL term is on);
///    with an entropy bonus (`options.loss.entropy_coeff != 0`, an `EntropyPolicy` only) `log_probs_and_entropy`
///    gives the current entropy too;
/// 5. `policy_loss(backend, ...)` gives the loss and d loss / d log-prob (and d loss / d entropy) per token
///    [verl compute_policy_loss_vanilla];
/// 6. `policy.backward(grad)` (`backward(grad, grad_entropy)` with the bonus) and `policy.step()` update the
///    parameters; `summarise_step` gives the metrics.
/// `backend` (default `exec::seq`) is where steps 3 and 5 run; the policy's own calls run as the policy runs them.
/// The step's buffers are host memory, so the backend must take host pointers: `exec::seq`, `exec::par` (bitwise
/// the same results as `exec::seq`). `estimator` is an `OutcomeEstimator<E, Backend>`: `grpo_estimator`,
/// `dr_grpo_estimator`, `rloo_estimator` or a callable of that signature; with one, `options.advantages` is unused.
/// `ref` (default `no_reference`) is a `ReferenceModel`, needed when `options.loss.kl != none`.
/// One update per rollout (on-policy; the ratio is 1 up to rounding, so clipping only matters for stale rollouts).
/// Throws `mmrag_rft::error` when the sizes disagree or the policy returns a malformed rollout; non-finite rewards
/// follow the estimator (the default: `options.advantages.nonfinite`). An empty `samples` does nothing and returns
/// zero metrics.
struct rft_step_fn {
  template <class P, class Reward, class Ref = no_reference>
    requires(!exec::ExecutionBackend<P>)
  [[nodiscard]] rft_step_result operator()(P& policy, std::span<const sample> samples, const prompt_batch& prompts,
                                           Reward&& reward, const rft_options& options, Ref&& ref = Ref{}) const {
    grpo_estimator grpo{options.advantages};
    return run(exec::seq, policy, samples, prompts, reward, grpo, options, ref);
  }
  template <class P, class Reward, class Estimator, class Ref = no_reference>
    requires(!exec::ExecutionBackend<P>)
  [[nodiscard]] rft_step_result operator()(P& policy, std::span<const sample> samples, const prompt_batch& prompts,
                                           Reward&& reward, Estimator&& estimator, const rft_options& options,
                                           Ref&& ref = Ref{}) const {
    return run(exec::seq, policy, samples, prompts, reward, estimator, options, ref);
  }
  template <exec::ExecutionBackend B, class P, class Reward, class Ref = no_reference>
  [[nodiscard]] rft_step_result operator()(const B& backend, P& policy, std::span<const sample> samples,
                                           const prompt_batch& prompts, Reward&& reward, const rft_options& options,
                                           Ref&& ref = Ref{}) const {
    grpo_estimator grpo{options.advantages};
    return run(backend.derived(), policy, samples, prompts, reward, grpo, options, ref);
  }
  template <exec::ExecutionBackend B, class P, class Reward, class Estimator, class Ref = no_reference>
  [[nodiscard]] rft_step_result operator()(const B& backend, P& policy, std::span<const sample> samples,
                                           const prompt_batch& prompts, Reward&& reward, Estimator&& estimator,
                                           const rft_options& options, Ref&& ref = Ref{}) const {
    return run(backend.derived(), policy, samples, prompts, reward, estimator, options, ref);
  }

private:
  // Every overload ends here, so the estimator check (and its message) is stated once; a failed check stops before
  // the step's body would add errors of its own.
  template <class B, class P, class Reward, class Estimator, class Ref>
  static rft_step_result run(const B& backend, P& policy, std::span<const sample> samples,
                             const prompt_batch& prompts, Reward& reward, Estimator& estimator,
                             const rft_options& options, Ref& ref) {
    static_assert(check_outcome_estimator<Estimator, B>());
    if constexpr (OutcomeEstimator<Estimator, B>)
      return detail::rft_step_on(backend, policy, samples, prompts, reward, estimator, options, ref);
    else
      return {};
  }
};
inline constexpr rft_step_fn rft_step{};

} // namespace mmrag_rft
