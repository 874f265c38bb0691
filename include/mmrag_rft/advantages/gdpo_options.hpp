// SPDX-License-Identifier: Apache-2.0
// Options of `gdpo_advantages`, the multi-reward estimator with per-component group normalisation.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/options.hpp>

namespace mmrag_rft {

/// Options of `gdpo_advantages`. Defaults are the GDPO reference's (NVlabs/GDPO, TRL variant): each component
/// normalised as TRL's GRPO (unbiased std, epsilon 1e-4), the weighted sum whitened over the batch with the unbiased
/// std and epsilon 1e-4.
struct gdpo_options {
  /// How each component is normalised within its group: GRPO's rule (std division or Dr. GRPO centring, estimator,
  /// singleton policy, non-finite policy). `scale` must be `reward_scale::group`: the batch step is `whiten`.
  grpo_options component = grpo_options::trl();
  /// Whiten the weighted sum over the batch: (s - mean) / (std + batch_epsilon). false: the weighted sum itself.
  bool whiten = true;
  double batch_epsilon = 1e-4;
  std_estimator batch_std = std_estimator::unbiased;

  [[nodiscard]] static gdpo_options nvlabs() { return {}; }
};

} // namespace mmrag_rft
