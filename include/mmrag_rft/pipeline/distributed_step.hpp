// SPDX-License-Identifier: Apache-2.0
// The parts of `rft_step(comm, ...)` that cross the ranks: the group key of a sample, the estimators' distributed
// forms, the step's first collective (options and arguments of every rank) and its metrics over every rank.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/distributed/advantages.hpp>
#include <mmrag_rft/distributed/communicator.hpp>
#include <mmrag_rft/distributed/loss_normalizers.hpp>
#include <mmrag_rft/distributed/option_agreement.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
#include <mmrag_rft/model/rollout.hpp>
#include <mmrag_rft/pipeline/outcome_estimator.hpp>
#include <mmrag_rft/pipeline/reward_score.hpp>
#include <mmrag_rft/pipeline/step_summary.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace mmrag_rft {

/// The group key of a sample across ranks: FNV-1a (64 bit) of its id. Completions of samples with one id form one
/// group over every rank, whichever ranks hold them.
[[nodiscard]] inline std::uint64_t sample_group_key(std::string_view id) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : id) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

namespace detail {

/// Whether `E` has a distributed form (`rft_step(comm, ...)` takes these three estimators only: any other callable
/// sees one rank's rewards and cannot know the groups' other members).
template <class E>
inline constexpr bool has_distributed_estimator =
    std::is_same_v<E, grpo_estimator> || std::is_same_v<E, dr_grpo_estimator> || std::is_same_v<E, rloo_estimator>;

template <class E>
[[nodiscard]] std::int64_t estimator_fingerprint(const E& e) {
  if constexpr (std::is_same_v<E, rloo_estimator>) return options_fingerprint(e.options);
  else {
    grpo_options o = e.options;
    if constexpr (std::is_same_v<E, dr_grpo_estimator>) o.norm_adv_by_std_in_grpo = false;
    return options_fingerprint(o);
  }
}

template <Communicator C, class B, class E>
[[nodiscard]] advantage_summary distributed_estimate(const C& comm, const B& backend, const E& e,
                                                     std::span<const float> rewards,
                                                     std::span<const std::uint64_t> keys, std::span<float> out) {
  if constexpr (std::is_same_v<E, rloo_estimator>)
    return distributed_rloo_advantages(comm, backend, rewards, keys, out, e.options);
  else {
    grpo_options o = e.options;
    if constexpr (std::is_same_v<E, dr_grpo_estimator>) o.norm_adv_by_std_in_grpo = false;
    return distributed_grpo_advantages(comm, backend, rewards, keys, out, o);
  }
}

/// The step's options that every rank must share, as one fingerprint (the rollout options may differ: each rank
/// samples with its own seed, and its own group size).
[[nodiscard]] inline std::int64_t step_fingerprint(std::int64_t estimator, const policy_loss_options& loss,
                                                   std::size_t ppo_epochs, std::size_t mini_batches,
                                                   std::uint8_t dynamic_policy, double top_entropy_quantile,
                                                   gradient_reduction reduction, bool has_ref) {
  option_fingerprint f;
  f.add(std::uint64_t{0x5354}).add(static_cast<std::uint64_t>(estimator));
  f.add(static_cast<std::uint64_t>(options_fingerprint(loss))).add(std::uint64_t{ppo_epochs});
  f.add(std::uint64_t{mini_batches}).add(std::uint64_t{dynamic_policy}).add(top_entropy_quantile).add(reduction);
  return f.add(has_ref).value();
}

/// The step's first collective: every rank's options fingerprint and the first of its argument errors (a code and
/// an index, -1 when none), so that every rank raises the same error before any other collective. Codes: 1 the
/// prompts do not match the samples in number, 2 a sample without an id.
inline void agree_on_step(const auto& comm, std::int64_t fingerprint, std::int64_t bad_code, std::int64_t bad_index) {
  constexpr std::size_t stride = 3;
  const std::int64_t mine[stride] = {fingerprint, bad_code, bad_index};
  std::vector<std::int64_t> all(stride * static_cast<std::size_t>(comm.size()));
  comm.all_gather(std::span<const std::int64_t>(mine), std::span<std::int64_t>(all));
  require_agreed_fingerprints("rft_step", "options", all, stride, 0);
  for (std::size_t r = 0; r < static_cast<std::size_t>(comm.size()); ++r) {
    const std::int64_t code = all[stride * r + 1];
    const std::string on = " (rank " + std::to_string(r) + ")";
    if (code == 1) throw error("rft_step", "prompts", "must hold one prompt per sample" + on);
    if (code == 2)
      throw error("rft_step", "samples", "must have an id (the group key across ranks)" + on,
                  static_cast<std::size_t>(all[stride * r + 2]));
  }
}

/// `summarise_step` over every rank: the global batch is the ranks' rollouts concatenated in rank order.
/// Reward means and stds are computed from every rank's values gathered in that order (bitwise what one process
/// computes); the loss terms are summed over the ranks (each rank's loss uses the global normaliser) and divided by
/// the number of ranks under `gradient_reduction::mean`; token statistics are token-weighted means over the ranks
/// (equal to one process's up to rounding). `advantages` is the global summary. Three all-gathers: the rule names
/// of the first rank that has completions, the per-completion rewards, the sums.
template <Communicator C>
[[nodiscard]] step_metrics summarise_step_across(const C& comm, const rollout_batch& r,
                                                 std::span<const reward_breakdown> rewards,
                                                 const advantage_summary& advantages, const policy_loss_result& loss,
                                                 bool has_entropy, gradient_reduction reduction) {
  const std::size_t rows = r.rows();
  // The rule names, as bytes in int64, from every rank (empty where it has no completion).
  std::vector<std::int64_t> names;
  if (rows > 0)
    for (const std::string& n : rewards.front().names) {
      names.push_back(static_cast<std::int64_t>(n.size()));
      for (const char c : n) names.push_back(static_cast<unsigned char>(c));
    }
  const auto all_names = all_gather_v(comm, std::span<const std::int64_t>(names));
  std::vector<std::string> rule_names;
  for (int q = 0; q < comm.size(); ++q) {
    const auto t = all_names.of(q);
    if (t.empty()) continue;
    for (std::size_t i = 0; i < t.size();) {
      const auto len = static_cast<std::size_t>(t[i++]);
      std::string s;
      for (std::size_t j = 0; j < len; ++j) s.push_back(static_cast<char>(t[i++]));
      rule_names.push_back(std::move(s));
    }
    break;
  }
  const std::size_t k = rule_names.size(), stride = 1 + k;
  for (const reward_breakdown& b : rewards)
    require(b.scores.size() == k, "rft_step", "reward",
            "must report the same rules for every completion on every rank");
  std::vector<double> packed;
  packed.reserve(rows * stride);
  for (const reward_breakdown& b : rewards) {
    packed.push_back(static_cast<double>(static_cast<float>(b.total)));
    for (const double s : b.scores) packed.push_back(s);
  }
  const auto all = all_gather_v(comm, std::span<const double>(packed));
  const std::size_t global_rows = all.values.size() / stride;

  const double w = static_cast<double>(loss.stats.valid_tokens);
  double neg_logp = 0, logp_n = 0, len = 0, trunc = 0;
  for (std::size_t i = 0; i < r.mask.size(); ++i)
    if (r.mask[i]) neg_logp -= r.log_probs[i], ++logp_n;
  for (const completion& c : r.completions) len += static_cast<double>(c.num_tokens), trunc += c.truncated;
  std::vector<double> sums = {loss.loss,
                              loss.pg_loss,
                              w * loss.stats.kl_mean,
                              w * loss.stats.pg_clipfrac,
                              w * loss.stats.ppo_kl,
                              w * loss.stats.entropy_mean,
                              w,
                              neg_logp,
                              logp_n,
                              len,
                              trunc,
                              has_entropy ? 1.0 : 0.0};
  fixed_order_sum(comm, std::span<double>(sums));

  step_metrics m;
  if (global_rows == 0) return m;
  m.completions = global_rows;
  const auto value = [&](std::size_t i, std::size_t j) { return all.values[i * stride + j]; };
  const mean_std total = mean_and_sample_std(global_rows, [&](std::size_t i) { return value(i, 0); });
  m.reward_mean = total.mean, m.reward_std = total.std;
  for (std::size_t j = 0; j < k; ++j) {
    const mean_std rule = mean_and_sample_std(global_rows, [&](std::size_t i) { return value(i, 1 + j); });
    m.rule_means.push_back({rule_names[j], rule.mean});
    m.rule_stds.push_back({rule_names[j], rule.std});
  }
  const double ranks = reduction == gradient_reduction::mean ? static_cast<double>(comm.size()) : 1.0;
  m.loss = sums[0] / ranks, m.pg_loss = sums[1] / ranks;
  const double tokens = sums[6];
  if (tokens > 0) m.kl = sums[2] / tokens, m.clip_fraction = sums[3] / tokens, m.ppo_kl = sums[4] / tokens;
  if (sums[11] > 0) m.entropy = tokens > 0 ? sums[5] / tokens : 0.0;
  else m.entropy = sums[8] > 0 ? sums[7] / sums[8] : 0.0;
  m.response_length = sums[9] / static_cast<double>(global_rows);
  m.truncated_fraction = sums[10] / static_cast<double>(global_rows);
  m.degenerate_groups = advantages.groups
                            ? static_cast<double>(advantages.degenerate_groups) / static_cast<double>(advantages.groups)
                            : 0.0;
  return m;
}

} // namespace detail
} // namespace mmrag_rft
