// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/losses.hpp>
// The arguments and results of `policy_loss`: what every backend's implementation takes and returns.
// Host/device safe: no Eigen, no range-v3.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <concepts>
#include <cstddef>
#include <span>

namespace mmrag_rft {

/// The per-token inputs of `policy_loss`, all `[B, T]` views of one padded batch (rows may be strided).
template <std::floating_point T>
struct policy_loss_inputs {
  matrix_view<const T> log_probs;         ///< log pi_theta of each response token under the current parameters.
  matrix_view<const T> old_log_probs;     ///< log pi_old (sampling policy); empty: on-policy, old = sg(log_probs).
  matrix_view<const T> advantages;        ///< per-token advantages; leave empty when giving `sequence_advantages`.
  std::span<const T> sequence_advantages; ///< one advantage per row, broadcast to its tokens (saves a [B,T] read).
  mask_view mask;                         ///< response mask; only tokens with mask != 0 count.
  matrix_view<const T> ref_log_probs;     ///< log pi_ref; required when `options.kl != none`.
  matrix_view<const T> entropy; ///< per-token entropy; required when `entropy_coeff != 0`, else only for stats.
  /// Optional per-token weights of the policy-gradient term: each token's pg loss (and its gradient) is multiplied by
  /// its weight before aggregation, e.g. rollout importance-sampling weights; the KL and entropy terms and the
  /// statistics are not weighted. Empty: every weight is 1, on the unweighted code path. [verl rollout_is_weights]
  matrix_view<const T> token_weights;
};

/// Where `policy_loss` writes its gradients. Every element of a given view is written (0 at masked tokens).
template <std::floating_point T>
struct policy_loss_grads {
  matrix_view<T> log_probs; ///< d loss / d log_probs; required. Backpropagate with `logp.backward(grad)`.
  matrix_view<T> entropy;   ///< d loss / d entropy; optional (needed when the entropy bonus is on).
};

/// Statistics of one `policy_loss` call: means are over the valid tokens of this call (local, like verl's metrics).
struct policy_loss_stats {
  double pg_clipfrac = 0;       ///< fraction of tokens whose clipped term was chosen. [verl actor/pg_clipfrac]
  double pg_clipfrac_lower = 0; ///< fraction under the dual clip. [verl actor/pg_clipfrac_lower]
  double clip_ratio_low = 0;    ///< fraction with r < 1 - eps_low and A < 0. [TRL clip_ratio/low_mean]
  double clip_ratio_high = 0;   ///< fraction with r > 1 + eps_high and A > 0. [TRL clip_ratio/high_mean]
  double clip_ratio_region = 0; ///< low or high. [TRL clip_ratio/region_mean]
  /// Mean of old - new log-prob, the approximate KL to the old policy; KL-Cov: the mean of |new - old|, as verl's
  /// compute_policy_loss_kl_cov reports it. [verl actor/ppo_kl]
  double ppo_kl = 0;
  double kl_mean = 0;      ///< mean KL-estimator value to the reference (0 without KL).
  double entropy_mean = 0; ///< mean entropy (0 when no entropy was given).
  double advantage_mean = 0, advantage_min = 0, advantage_max = 0;
  double ratio_mean = 0, ratio_min = 0, ratio_max = 0;
  std::size_t valid_tokens = 0;     ///< tokens with mask != 0 in this call
  std::size_t valid_sequences = 0;  ///< rows with at least one valid token
  std::size_t nonfinite_tokens = 0; ///< valid tokens with a NaN/inf input (only non-zero with nonfinite = propagate)
};

/// The result of `policy_loss`: the total and its parts (each aggregated with the chosen mode and scale).
struct policy_loss_result {
  double loss = 0; ///< pg_loss + kl_coef * kl_loss - entropy_coeff * entropy
  double pg_loss = 0;
  double kl_loss = 0; ///< aggregated KL estimator (before kl_coef)
  double entropy = 0; ///< aggregated entropy (before entropy_coeff)
  policy_loss_stats stats;
};

} // namespace mmrag_rft
