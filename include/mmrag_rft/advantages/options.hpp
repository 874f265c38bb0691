// SPDX-License-Identifier: Apache-2.0
// Options of the outcome-reward advantage estimators, with presets reproducing verl, TRL and OpenRLHF.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <cstdint>

namespace mmrag_rft {

/// Which standard deviation of a group's rewards scales the advantages.
enum class std_estimator : std::uint8_t {
  unbiased, ///< sqrt(sum (r - mean)^2 / (n - 1)), torch.std's default. [verl, TRL, OpenRLHF]
  biased,   ///< sqrt(sum (r - mean)^2 / n)
};

/// The advantage of the only completion of a group of one.
enum class singleton_group : std::uint8_t {
  unit_std, ///< mean 0, std 1: a = r / (1 + eps) with std division, a = r without.
  /// As `unit_std`, but 1 + eps rounded to float, as verl computes it (torch.tensor(1.0) + epsilon is a float32
  /// scalar): a = r / 1.00000095367431640625 for eps = 1e-6. [verl compute_grpo_outcome_advantage]
  unit_std_float32,
  zero,  ///< a = 0. [TRL: (r - r) / (0 + eps)]
  error, ///< throw `mmrag_rft::error`. [OpenRLHF yields NaN from torch.std of one element; we refuse instead]
};

/// Over what the GRPO std is taken.
enum class reward_scale : std::uint8_t {
  group, ///< each group's own std. [verl; TRL scale_rewards="group"]
  batch, ///< one std over the whole batch, still the group mean subtracted. [TRL scale_rewards="batch"]
};

/// What to do with a NaN or infinite reward.
enum class nonfinite_rewards : std::uint8_t {
  error,    ///< throw `mmrag_rft::error` naming the first offending index. Default.
  mask_out, ///< leave the completion out of its group's statistics, give it advantage 0, report it in `keep`.
};

/// Options of `grpo_advantages` (and `dr_grpo_advantages`). Defaults are verl's.
struct grpo_options {
  bool norm_adv_by_std_in_grpo = true; ///< divide by std + epsilon; false is Dr. GRPO. [verl; TRL scale_rewards]
  double epsilon = 1e-6;               ///< added to the std, outside the sqrt. [verl 1e-6, TRL 1e-4, OpenRLHF 1e-9]
  std_estimator std = std_estimator::unbiased;
  singleton_group singleton = singleton_group::unit_std;
  reward_scale scale = reward_scale::group;
  nonfinite_rewards nonfinite = nonfinite_rewards::error;

  /// verl compute_grpo_outcome_advantage at 1dda039b (as at b178a3cd), its float32 singleton divisor included.
  [[nodiscard]] static grpo_options verl() {
    grpo_options o;
    o.singleton = singleton_group::unit_std_float32;
    return o;
  }
  [[nodiscard]] static grpo_options trl() {
    grpo_options o;
    o.epsilon = 1e-4;
    o.singleton = singleton_group::zero;
    return o;
  }
  [[nodiscard]] static grpo_options openrlhf() {
    grpo_options o;
    o.epsilon = 1e-9;
    o.singleton = singleton_group::error;
    return o;
  }
  /// Dr. GRPO (Liu et al. 2025): no std division, so low-variance groups are not amplified.
  [[nodiscard]] static grpo_options dr_grpo() {
    grpo_options o;
    o.norm_adv_by_std_in_grpo = false;
    return o;
  }
};

/// Options of `rloo_advantages`.
struct rloo_options {
  /// A group of one: `unit_std`-like "keep" is not meaningful for RLOO, so: `zero` gives 0 [verl rloo_vectorized],
  /// `error` throws [OpenRLHF divides by zero]; `keep_reward` gives a = r [verl rloo].
  enum class singleton_policy : std::uint8_t { keep_reward, zero, error } singleton = singleton_policy::keep_reward;
  nonfinite_rewards nonfinite = nonfinite_rewards::error;
};

/// Batch whitening (x - mean) / sqrt(var + eps) over all valid tokens, as REINFORCE++ and GAE use.
struct whitening_options {
  std_estimator variance = std_estimator::unbiased; ///< verl: unbiased (N/(N-1)); OpenRLHF: biased.
  double epsilon = 1e-8;
  /// verl: rsqrt(var + eps); OpenRLHF: rsqrt(max(var, eps)).
  bool clamp_variance = false;
  bool enabled = true; ///< false: only centre, no scaling (OpenRLHF no_std_norm)
  /// Added to the token count N of the mean and of the variance's mean: mean = sum x / (N + e), var = sum (x -
  /// mean)^2 / (N + e) * N / (N - 1) (unbiased). In [0, 1e-3]. [verl 1e-8: masked_mean divides by N + 1e-8; 0 exact]
  double count_epsilon = 0.0;

  /// verl's masked_whiten: unbiased, rsqrt(var + 1e-8), means over N + 1e-8.
  [[nodiscard]] static whitening_options verl() {
    whitening_options o;
    o.count_epsilon = 1e-8;
    return o;
  }
  [[nodiscard]] static whitening_options openrlhf() {
    whitening_options o;
    o.variance = std_estimator::biased;
    o.clamp_variance = true;
    return o;
  }
};

/// What an advantage estimator reports besides the advantages.
struct advantage_summary {
  std::size_t groups = 0;            ///< groups seen
  std::size_t degenerate_groups = 0; ///< groups of >= 2 completions whose rewards were all equal (advantage 0)
  std::size_t singleton_groups = 0;  ///< groups with exactly one (finite) completion
  std::size_t masked_out = 0;        ///< completions left out for a non-finite reward (nonfinite = mask_out)
};

} // namespace mmrag_rft
