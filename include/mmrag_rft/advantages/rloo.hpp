// SPDX-License-Identifier: Apache-2.0
// RLOO: REINFORCE with the leave-one-out baseline.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/advantages/rloo_plan.hpp>
#include <mmrag_rft/backends/cpu/rloo.hpp>
#include <mmrag_rft/advantages/outcome_estimator.hpp>
#include <mmrag_rft/backends/dispatch.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft {

/// RLOO advantages (Kool et al. 2019; Ahmadian et al. 2024): a_j = r_j - (sum_g - r_j) / (n_g - 1), the reward minus
/// the mean of the other completions of its group. [verl compute_rloo_outcome_advantage; OpenRLHF "rloo"]
///
/// Sums in double. A group of one follows `options.singleton` (verl "rloo" keeps r; "rloo_vectorized" gives 0). NaN/inf
/// rewards follow `options.nonfinite` as in `grpo_advantages`. The advantages of a group always sum to 0 (n >= 2).
/// Complexity: two reads of the rewards, one write.
struct rloo_advantages_fn : detail::outcome_estimator_fn<rloo_advantages_fn, rloo_options> {
  static constexpr const char* name = "rloo_advantages";
};
inline constexpr rloo_advantages_fn rloo_advantages{};

} // namespace mmrag_rft
