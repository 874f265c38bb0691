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
#include <mmrag_rft/distributed/communicator.hpp>
#include <mmrag_rft/distributed/loss_normalizers.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
#include <mmrag_rft/model/concepts.hpp>
#include <mmrag_rft/pipeline/distributed_step.hpp>
#include <mmrag_rft/pipeline/entropy_mask.hpp>
#include <mmrag_rft/pipeline/outcome_estimator.hpp>
#include <mmrag_rft/pipeline/reward_score.hpp>
#include <mmrag_rft/pipeline/rollout_groups.hpp>
#include <mmrag_rft/pipeline/step_summary.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <tuple>
#include <utility>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace mmrag_rft {

/// What `rft_step` does with a group whose rewards are all equal (no learning signal: its GRPO / RLOO advantages
/// are 0, yet its tokens count in the loss's normaliser and dilute every other group's gradient).
enum class degenerate_group_policy : std::uint8_t {
  keep,   ///< train on them as on any group (the default; they only show in `step_metrics::degenerate_groups`)
  drop,   ///< leave them out of the step [DAPO dynamic sampling, verl `filter_groups`]
  refill, ///< sample their prompts again, up to `max_refill_rounds` times, taking a new group once its rewards
          ///< differ; the groups still degenerate after the last round are dropped [DAPO's over-sampling]
};

/// DAPO's dynamic sampling.
struct dynamic_sampling_options {
  degenerate_group_policy policy = degenerate_group_policy::keep;
  /// Extra `generate` calls at most (one per round, for the groups still degenerate) with `refill`.
  std::size_t max_refill_rounds = 3;
};

/// Options of `rft_step`: how to sample, how to turn rewards into advantages, and the loss. With `loss.kl != none`
/// a reference model must be passed.
struct rft_options {
  rollout_options rollout{};
  /// The GRPO options of the default estimator (`grpo_estimator{advantages}`); unused when the caller passes an
  /// estimator of its own.
  grpo_options advantages = grpo_options::verl();
  policy_loss_options loss = policy_loss_options::verl();
  /// Passes over the rollout [verl `ppo_epochs`, TRL `num_iterations`]; 1 is on-policy. Each epoch runs every
  /// mini-batch. Later passes see a changed policy, so their ratios differ from 1 and the clip acts.
  std::size_t ppo_epochs = 1;
  /// Optimizer steps per epoch: the groups are split into this many contiguous mini-batches of whole groups (sizes
  /// differing by at most one group), each one `log_probs` / `backward` / `step`. With more than one update the loss
  /// takes the whole rollout's global normaliser (`micro_batch_loss_options`), so the mini-batches' gradients at
  /// one set of parameters add up to the whole batch's. Must be in [1, number of groups].
  std::size_t mini_batches = 1;
  /// Degenerate groups: kept, dropped or refilled (DAPO).
  dynamic_sampling_options dynamic_sampling{};
  /// TRL's `top_entropy_quantile`: only tokens whose entropy is in this top fraction of the batch's valid tokens
  /// get a policy-gradient term (TRL's `get_high_entropy_mask` at quantile 1 - value over the rollout's entropy);
  /// the others keep their KL and entropy terms and still count in the normaliser, as in TRL. 1 (default) keeps
  /// every token; must be in (0, 1].
  double top_entropy_quantile = 1.0;
  /// `rft_step(comm, ...)` only: how the caller combines the ranks' model gradients between `policy.backward` and
  /// the optimizer update. `mean` (the default): averaged over the ranks, as PyTorch DDP's all-reduce does; each
  /// rank's loss is then scaled by the number of ranks (verl's `dp_size` convention), so the average is the
  /// single-process gradient. `sum`: summed (an all-reduce with SUM); each rank's loss is its share of the global
  /// loss. Unused by the single-process calls.
  gradient_reduction gradients = gradient_reduction::mean;
};

/// What `rft_step` returns: the metrics, and the rollout with its rewards (for logging and examples).
struct rft_step_result {
  step_metrics metrics;
  rollout_batch rollout;
  std::vector<reward_breakdown> rewards; ///< one per completion row
  std::vector<float> advantages;         ///< one per completion row
};

namespace detail {
// `C` is single_process_communicator for the single-process calls (the step as it runs on one process), any other
// communicator for `rft_step(comm, ...)`: then the step's collectives run in it (see `rft_step_fn`).
template <class C, class B, class P, class Reward, class Estimator, class Ref>
[[nodiscard]] rft_step_result rft_step_on(const C& comm, const B& backend, P& policy, std::span<const sample> samples,
                                          const prompt_batch& prompts, Reward& reward, Estimator& estimator,
                                          const rft_options& options, Ref& ref) {
  static_assert(check_policy<P>());
  static_assert(check_reference_model<Ref>());
  static_assert(PipelineReward<Reward>,
                "mmrag_rft: rft_step's reward must be callable as reward(const completion&, const sample&)");
  constexpr bool distributed = !std::is_same_v<C, single_process_communicator>;
  constexpr bool has_ref = !std::is_same_v<std::remove_cv_t<Ref>, no_reference>;
  const auto t0 = std::chrono::steady_clock::now();
  if constexpr (distributed) {
    static_assert(has_distributed_estimator<std::remove_cv_t<Estimator>>,
                  "mmrag_rft: rft_step(comm, ...) takes grpo_estimator, dr_grpo_estimator or rloo_estimator (their "
                  "distributed forms see every rank's members of a group)");
    std::int64_t bad = 0, at = -1;
    if (prompts.size() != samples.size()) bad = 1;
    for (std::size_t i = 0; i < samples.size() && !bad; ++i)
      if (samples[i].id.empty()) bad = 2, at = static_cast<std::int64_t>(i);
    agree_on_step(comm,
                  step_fingerprint(estimator_fingerprint(estimator), options.loss, options.ppo_epochs,
                                   options.mini_batches, static_cast<std::uint8_t>(options.dynamic_sampling.policy),
                                   options.top_entropy_quantile, options.gradients, has_ref),
                  bad, at);
    // Both need the whole batch at once (a group's flatness, the batch's entropy quantile): refused on every rank
    // alike, since the options agree.
    require(comm.size() == 1 || options.dynamic_sampling.policy == degenerate_group_policy::keep, "rft_step",
            "options.dynamic_sampling.policy", "must be keep on several ranks");
    require(comm.size() == 1 || options.top_entropy_quantile == 1, "rft_step", "options.top_entropy_quantile",
            "must be 1 on several ranks");
  }
  require(prompts.size() == samples.size(), "rft_step", "prompts", "must hold one prompt per sample");
  require(options.loss.kl == kl_estimator::none || has_ref, "rft_step", "options.loss.kl",
          "is set but no reference model was given");
  // The entropy bonus follows the current policy's entropy, which only an EntropyPolicy can differentiate; without
  // the bonus the rollout's sampling-time entropy is only a statistic.
  const bool train_entropy = options.loss.entropy_coeff != 0;
  require(!train_entropy || EntropyPolicy<P>, "rft_step", "options.loss.entropy_coeff",
          "is set, but the policy is not an EntropyPolicy (it needs log_probs_and_entropy(prompts, rollout, "
          "log_probs, entropy) and backward(grad_log_probs, grad_entropy) for the bonus's gradient)");
  require(options.ppo_epochs >= 1, "rft_step", "options.ppo_epochs", "must be >= 1");
  require(options.mini_batches >= 1, "rft_step", "options.mini_batches", "must be >= 1");
  require(options.top_entropy_quantile > 0 && options.top_entropy_quantile <= 1, "rft_step",
          "options.top_entropy_quantile", "must be in (0, 1] (1 keeps every token)");
  rft_step_result res;
  if (!distributed && samples.empty()) return res;

  // A rank without samples still takes part in every collective and update of the step.
  rollout_batch first = samples.empty() ? rollout_batch{} : policy.generate(prompts, options.rollout);
  const auto check_rollout = [&](const rollout_batch& b, std::size_t groups) {
    b.validate("rft_step");
    require(b.num_prompts == groups, "rft_step", "policy.generate", "returned a wrong number of groups");
    // A policy that samples at T != 1 but leaves the rollout's temperature at 1 would recompute log-probs at another
    // temperature than it sampled at: ratios != 1 on-policy, a silent bias; say so here instead.
    require(b.temperature == options.rollout.log_prob_temperature(), "rft_step", "policy.generate",
            "returned rollout_batch::temperature = " + std::to_string(b.temperature) + " for a rollout sampled at " +
                std::to_string(options.rollout.temperature) +
                " (it must state the T its log_probs belong to: the sampling temperature, 1 when greedy)");
  };
  if (!samples.empty()) check_rollout(first, prompts.size());
  const auto score_all = [&](const rollout_batch& b, const auto& sample_of_group) {
    std::vector<reward_breakdown> out;
    out.reserve(b.rows());
    for (std::size_t i = 0; i < b.rows(); ++i)
      out.push_back(score_reward(reward, b.completions[i], samples[sample_of_group(i / b.group_size)]));
    return out;
  };
  const auto totals_of = [](const std::vector<reward_breakdown>& b) {
    std::vector<float> t(b.size());
    for (std::size_t i = 0; i < b.size(); ++i) t[i] = static_cast<float>(b[i].total);
    return t;
  };
  std::vector<reward_breakdown> first_rewards = score_all(first, [](std::size_t g) { return g; });

  // Dynamic sampling: which (batch, group) pairs the step trains on, and the sample (prompt) of each.
  const prompt_batch* train_prompts = &prompts;
  prompt_batch kept_prompts;
  std::vector<std::size_t> kept_samples;
  if (options.dynamic_sampling.policy == degenerate_group_policy::keep || samples.empty()) {
    res.rollout = std::move(first);
    res.rewards = std::move(first_rewards);
  } else {
    const std::size_t G = first.group_size;
    std::vector<rollout_batch> extra;
    std::vector<std::vector<reward_breakdown>> extra_rewards;
    std::vector<detail::group_ref> chosen(prompts.size());
    std::vector<bool> flat = detail::flat_groups(totals_of(first_rewards), G);
    for (std::size_t g = 0; g < chosen.size(); ++g) chosen[g] = {0, g};
    if (options.dynamic_sampling.policy == degenerate_group_policy::refill) {
      for (std::size_t round = 0; round < options.dynamic_sampling.max_refill_rounds; ++round) {
        std::vector<std::size_t> again;
        for (std::size_t g = 0; g < flat.size(); ++g)
          if (flat[g]) again.push_back(g);
        if (again.empty()) break;
        prompt_batch p;
        for (std::size_t g : again) p.push_back(prompts[g]);
        rollout_options ro = options.rollout;
        ro.seed = options.rollout.seed + 0x9e3779b97f4a7c15ULL * (round + 1); // a fresh draw for every round
        rollout_batch b = policy.generate(p, ro);
        check_rollout(b, p.size());
        require(b.group_size == G, "rft_step", "policy.generate", "returned another group size when refilling");
        std::vector<reward_breakdown> br = score_all(b, [&](std::size_t k) { return again[k]; });
        const std::vector<bool> still = detail::flat_groups(totals_of(br), G);
        ++res.metrics.refill_rounds;
        for (std::size_t k = 0; k < again.size(); ++k)
          if (!still[k]) {
            chosen[again[k]] = {extra.size() + 1, k};
            flat[again[k]] = false;
            ++res.metrics.refilled_groups;
          }
        extra.push_back(std::move(b));
        extra_rewards.push_back(std::move(br));
      }
    }
    std::vector<const rollout_batch*> sources{&first};
    for (const rollout_batch& b : extra) sources.push_back(&b);
    std::vector<detail::group_ref> refs;
    for (std::size_t g = 0; g < chosen.size(); ++g) {
      if (flat[g]) {
        ++res.metrics.dropped_groups;
        continue;
      }
      refs.push_back(chosen[g]);
      kept_prompts.push_back(prompts[g]);
      kept_samples.push_back(g);
      const std::vector<reward_breakdown>& from =
          chosen[g].batch == 0 ? first_rewards : extra_rewards[chosen[g].batch - 1];
      for (std::size_t j = 0; j < G; ++j) res.rewards.push_back(from[chosen[g].group * G + j]);
    }
    res.rollout = detail::gather_groups(sources, refs);
    train_prompts = &kept_prompts;
  }
  rollout_batch& r = res.rollout;
  const prompt_batch& tp = *train_prompts;
  const std::size_t rows = r.rows(), cols = r.cols;
  const std::vector<float> rewards = totals_of(res.rewards);
  res.advantages.assign(rows, 0.0f);
  advantage_summary adv;
  if constexpr (distributed) {
    // One key per completion: its sample's id, so that a prompt's completions on several ranks form one group.
    std::vector<std::uint64_t> keys(rows);
    for (std::size_t g = 0; g < r.num_prompts; ++g) {
      const std::uint64_t key = sample_group_key(samples[kept_samples.empty() ? g : kept_samples[g]].id);
      for (std::size_t j = 0; j < r.group_size; ++j) keys[g * r.group_size + j] = key;
    }
    adv = distributed_estimate(comm, backend, estimator, std::span<const float>(rewards),
                               std::span<const std::uint64_t>(keys), std::span<float>(res.advantages));
  } else {
    adv = estimator(backend, std::span<const float>(rewards), r.layout(), std::span<float>(res.advantages));
  }

  // TRL's top_entropy_quantile: the advantage of a token below the batch's entropy threshold is 0 (no policy
  // gradient there), while its KL and entropy terms stay and the normaliser still counts it, as TRL multiplies
  // only the clipped surrogate by the entropy mask.
  std::vector<float> token_adv;
  if (options.top_entropy_quantile < 1 && rows > 0) {
    require(!r.entropy.empty(), "rft_step", "options.top_entropy_quantile",
            "needs the rollout's per-token entropy (rollout_batch::entropy is empty)");
    float threshold = 0;
    const bool any =
        detail::top_entropy_threshold(r.entropy_view(), r.response_mask(), options.top_entropy_quantile, threshold);
    token_adv.assign(rows * cols, 0.0f);
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t t = 0; t < cols; ++t) {
        const bool valid = r.mask[i * cols + t] != 0, high = any && r.entropy[i * cols + t] >= threshold;
        token_adv[i * cols + t] = !valid || high ? res.advantages[i] : 0.0f;
        res.metrics.entropy_masked_tokens += valid && !high;
      }
  }

  // One update on groups [g0, g1) of the rollout (the whole rollout when it is the only mini-batch).
  const bool several = options.ppo_epochs > 1 || options.mini_batches > 1;
  // Across ranks a rank may hold fewer groups than there are mini-batches: its extra mini-batches are empty (it
  // still calls backward and step, so that the caller's gradient all-reduce meets the other ranks').
  require(distributed || !several || options.mini_batches <= r.num_prompts || r.num_prompts == 0, "rft_step",
          "options.mini_batches",
          "must not exceed the number of groups trained on (" + std::to_string(r.num_prompts) + ")");
  policy_loss_options loss_options = options.loss;
  if constexpr (distributed) {
    // The global normalisers of the step, over every rank (one all-gather of three int64 per rank).
    const mask_view whole = r.response_mask();
    loss_options = micro_batch_loss_options(
        options.loss, step_loss_normalizers(comm, std::span<const mask_view>(&whole, 1)), options.gradients);
  } else if (several) {
    const mask_view whole = r.response_mask();
    loss_options = micro_batch_loss_options(
        options.loss, step_loss_normalizers(single_process_communicator{}, std::span<const mask_view>(&whole, 1)));
  }
  const auto update = [&](const rollout_batch& mb, const prompt_batch& mp, std::size_t row0) {
    const std::size_t n = mb.rows(), c = mb.cols;
    if (n == 0) {
      // An empty share (a rank without groups here): no loss, a zero gradient, the same backward / step calls.
      const matrix_view<const float> none(nullptr, 0, c);
      if constexpr (EntropyPolicy<P>) {
        if (train_entropy) policy.backward(none, none);
      }
      if (!train_entropy) policy.backward(none);
      policy.step();
      ++res.metrics.updates;
      return std::pair{policy_loss_result{}, false};
    }
    std::vector<float> logp(n * c, 0.0f), ref_lp, grad(n * c, 0.0f), ent, grad_ent;
    policy_loss_inputs<float> in;
    if constexpr (EntropyPolicy<P>) {
      if (train_entropy) {
        ent.assign(n * c, 0.0f);
        policy.log_probs_and_entropy(mp, mb, matrix_view<float>(logp.data(), n, c),
                                     matrix_view<float>(ent.data(), n, c));
        in.entropy = {ent.data(), n, c};
      }
    }
    if (!train_entropy) {
      policy.log_probs(mp, mb, matrix_view<float>(logp.data(), n, c));
      in.entropy = mb.entropy_view();
    }
    in.log_probs = {logp.data(), n, c};
    in.old_log_probs = mb.log_prob_view();
    if (token_adv.empty()) in.sequence_advantages = std::span<const float>(res.advantages).subspan(row0, n);
    else in.advantages = {token_adv.data() + row0 * cols, n, c};
    in.mask = mb.response_mask();
    if constexpr (has_ref) {
      if (options.loss.kl != kl_estimator::none) {
        ref_lp.assign(n * c, 0.0f);
        ref.log_probs(mp, mb, matrix_view<float>(ref_lp.data(), n, c));
        in.ref_log_probs = {ref_lp.data(), n, c};
      }
    }
    policy_loss_grads<float> out{{grad.data(), n, c}, {}};
    if (train_entropy) {
      grad_ent.assign(n * c, 0.0f);
      out.entropy = {grad_ent.data(), n, c};
    }
    const policy_loss_result loss = policy_loss(backend, in, out, loss_options);
    if constexpr (EntropyPolicy<P>) {
      if (train_entropy)
        policy.backward(matrix_view<const float>(grad.data(), n, c), matrix_view<const float>(grad_ent.data(), n, c));
    }
    if (!train_entropy) policy.backward(matrix_view<const float>(grad.data(), n, c));
    policy.step();
    ++res.metrics.updates;
    return std::pair{loss, !in.entropy.empty()};
  };

  policy_loss_result loss;
  bool has_entropy = false;
  if (distributed ? adv.groups == 0 : rows == 0) {
    // Every group was dropped (on every rank): nothing to train on this step.
  } else if (!several) {
    std::tie(loss, has_entropy) = update(r, tp, 0);
  } else {
    // Mini-batches of whole groups, the same split every epoch; the losses of one epoch's mini-batches add up to a
    // whole-batch loss (global normaliser), reported as the mean over the epochs; statistics are token-weighted
    // means over every update.
    const std::size_t groups = r.num_prompts, m = options.mini_batches;
    std::vector<rollout_batch> parts;
    std::vector<prompt_batch> part_prompts;
    std::vector<std::size_t> first_group;
    for (std::size_t b = 0; b < m; ++b) {
      const std::size_t g0 = b * groups / m, g1 = (b + 1) * groups / m;
      first_group.push_back(g0);
      parts.push_back(m == 1 ? r : detail::group_range(r, g0, g1));
      part_prompts.emplace_back(tp.begin() + static_cast<std::ptrdiff_t>(g0),
                                tp.begin() + static_cast<std::ptrdiff_t>(g1));
    }
    double tokens = 0;
    policy_loss_stats& st = loss.stats;
    for (std::size_t e = 0; e < options.ppo_epochs; ++e)
      for (std::size_t b = 0; b < m; ++b) {
        const auto [l, h] = update(parts[b], part_prompts[b], first_group[b] * r.group_size);
        has_entropy = h;
        loss.loss += l.loss, loss.pg_loss += l.pg_loss, loss.kl_loss += l.kl_loss, loss.entropy += l.entropy;
        const double w = static_cast<double>(l.stats.valid_tokens);
        tokens += w;
        st.pg_clipfrac += w * l.stats.pg_clipfrac, st.ppo_kl += w * l.stats.ppo_kl;
        st.kl_mean += w * l.stats.kl_mean, st.entropy_mean += w * l.stats.entropy_mean;
        st.valid_tokens += l.stats.valid_tokens;
      }
    const double epochs = static_cast<double>(options.ppo_epochs);
    loss.loss /= epochs, loss.pg_loss /= epochs, loss.kl_loss /= epochs, loss.entropy /= epochs;
    if (tokens > 0) st.pg_clipfrac /= tokens, st.ppo_kl /= tokens, st.kl_mean /= tokens, st.entropy_mean /= tokens;
  }

  step_metrics counts = res.metrics;
  if constexpr (distributed)
    res.metrics = summarise_step_across(comm, r, res.rewards, adv, loss, has_entropy, options.gradients);
  else
    res.metrics = summarise_step(r, res.rewards, adv, loss,
                                 has_entropy ? std::optional<double>(loss.stats.entropy_mean) : std::nullopt);
  res.metrics.updates = counts.updates, res.metrics.refill_rounds = counts.refill_rounds;
  res.metrics.refilled_groups = counts.refilled_groups, res.metrics.dropped_groups = counts.dropped_groups;
  res.metrics.entropy_masked_tokens = counts.entropy_masked_tokens;
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
///
/// Data-parallel: `rft_step(comm, [backend,] policy, samples, prompts, reward, [estimator,] options[, ref])` runs
/// the step on this rank's shard of the global batch (the ranks' shards concatenated in rank order), `comm` any
/// `Communicator`. Every rank calls it with the same options (the rollout options may differ: seed, group size);
/// the collectives, in order:
/// 1. one all-gather of the options' fingerprint and of each rank's argument errors, so that ranks that disagree
///    or hold a bad argument all raise the same `mmrag_rft::error`;
/// 2. the estimator's distributed form (`distributed_grpo_advantages` / `distributed_rloo_advantages`): the groups
///    are keyed by `sample::id` (`sample_group_key`) across the ranks, a group may be split over several ranks,
///    and each rank's advantages are bitwise those of one process on the global batch;
/// 3. `step_loss_normalizers`: every update's loss takes the global normaliser (`micro_batch_loss_options`), so the
///    ranks' gradients reduced as `options.gradients` says (`mean`, DDP's average, by default; or `sum`) are the
///    single-process gradient of the global batch;
/// 4. `policy.backward` / `policy.step` are the caller's: the policy reduces its model gradients over the ranks
///    between them (DDP does so in backward), as `options.gradients` says;
/// 5. the metrics over every rank (`step_metrics` of the global batch; the reward statistics bitwise those of one
///    process, token means up to rounding); `updates` and `seconds` are this rank's.
/// A rank without samples still takes part in every collective and update (an empty backward, then step). The
/// estimator must be `grpo_estimator` (the default), `dr_grpo_estimator` or `rloo_estimator`; on more than one
/// rank `dynamic_sampling` must be `keep` and `top_entropy_quantile` 1. An error raised by the policy or the
/// reward on one rank alone leaves the others in their next collective (the transport's timeout ends the job).
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

  template <Communicator C, class P, class Reward, class Ref = no_reference>
  requires(!exec::ExecutionBackend<P>)
  [[nodiscard]] rft_step_result operator()(const C& comm, P& policy, std::span<const sample> samples,
                                           const prompt_batch& prompts, Reward&& reward, const rft_options& options,
                                           Ref&& ref = Ref{}) const {
    grpo_estimator grpo{options.advantages};
    return run_on(comm, exec::seq, policy, samples, prompts, reward, grpo, options, ref);
  }
  template <Communicator C, class P, class Reward, class Estimator, class Ref = no_reference>
  requires(!exec::ExecutionBackend<P>)
  [[nodiscard]] rft_step_result operator()(const C& comm, P& policy, std::span<const sample> samples,
                                           const prompt_batch& prompts, Reward&& reward, Estimator&& estimator,
                                           const rft_options& options, Ref&& ref = Ref{}) const {
    return run_on(comm, exec::seq, policy, samples, prompts, reward, estimator, options, ref);
  }
  template <Communicator C, exec::ExecutionBackend B, class P, class Reward, class Ref = no_reference>
  [[nodiscard]] rft_step_result operator()(const C& comm, const B& backend, P& policy, std::span<const sample> samples,
                                           const prompt_batch& prompts, Reward&& reward, const rft_options& options,
                                           Ref&& ref = Ref{}) const {
    grpo_estimator grpo{options.advantages};
    return run_on(comm, backend.derived(), policy, samples, prompts, reward, grpo, options, ref);
  }
  template <Communicator C, exec::ExecutionBackend B, class P, class Reward, class Estimator, class Ref = no_reference>
  [[nodiscard]] rft_step_result operator()(const C& comm, const B& backend, P& policy, std::span<const sample> samples,
                                           const prompt_batch& prompts, Reward&& reward, Estimator&& estimator,
                                           const rft_options& options, Ref&& ref = Ref{}) const {
    return run_on(comm, backend.derived(), policy, samples, prompts, reward, estimator, options, ref);
  }

private:
  // Every overload ends here, so the estimator check (and its message) is stated once; a failed check stops before
  // the step's body would add errors of its own.
  template <class B, class P, class Reward, class Estimator, class Ref>
  static rft_step_result run(const B& backend, P& policy, std::span<const sample> samples, const prompt_batch& prompts,
                             Reward& reward, Estimator& estimator, const rft_options& options, Ref& ref) {
    return run_on(single_process_communicator{}, backend, policy, samples, prompts, reward, estimator, options, ref);
  }
  template <class C, class B, class P, class Reward, class Estimator, class Ref>
  static rft_step_result run_on(const C& comm, const B& backend, P& policy, std::span<const sample> samples,
                                const prompt_batch& prompts, Reward& reward, Estimator& estimator,
                                const rft_options& options, Ref& ref) {
    static_assert(check_outcome_estimator<Estimator, B>());
    if constexpr (OutcomeEstimator<Estimator, B>)
      return detail::rft_step_on(comm, backend, policy, samples, prompts, reward, estimator, options, ref);
    else return {};
  }
};
inline constexpr rft_step_fn rft_step{};

} // namespace mmrag_rft
