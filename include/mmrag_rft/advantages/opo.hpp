// SPDX-License-Identifier: Apache-2.0
// OPO: the group baseline weighted by response length (on-policy, optimal-baseline RL).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/backends/cpu/baselines.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>

namespace mmrag_rft {

/// OPO advantages (Hao et al. 2025, arXiv 2505.23585): a_i = r_i - sum_{j in g} L_j r_j / sum_{j in g} L_j, with
/// L_j the number of valid tokens of row j of `mask`; a group of one has baseline 0. The advantages are per sequence:
/// pass them to `policy_loss` as `sequence_advantages`, or expand them with `broadcast_advantages`.
/// [verl compute_opo_outcome_advantage]
///
/// A group of two or more whose rows have no valid token takes the plain group mean (verl gives NaN there: 0 / 0).
/// `mask` has one row per completion. NaN/inf rewards throw, naming the index. Sums in double; exec::par and
/// exec::thrust (device memory, one thread per group) are bitwise exec::seq. Complexity: one pass over the mask, two
/// over the rewards.
/// Call: `opo_advantages([backend,] rewards, groups, mask, advantages)`.
struct opo_advantages_fn {
  static constexpr const char* name = "opo_advantages";
  template <exec::ExecutionBackend E, class T>
  static constexpr bool supports =
      exec::implements<E, opo_advantages_fn, std::span<const T>, const group_layout&, mask_view, std::span<T>>;

  template <exec::ExecutionBackend E, std::floating_point T>
  requires supports<E, T>
  advantage_summary operator()(const E& exec, std::span<const T> rewards, const group_layout& groups, mask_view mask,
                               std::type_identity_t<std::span<T>> advantages) const {
    return exec::run(*this, exec.derived(), rewards, groups, mask, advantages);
  }
  template <std::floating_point T>
  advantage_summary operator()(std::span<const T> rewards, const group_layout& groups, mask_view mask,
                               std::type_identity_t<std::span<T>> advantages) const {
    return exec::run(*this, exec::seq, rewards, groups, mask, advantages);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((supports<Backend, float> || supports<Backend, double>));
};
inline constexpr opo_advantages_fn opo_advantages{};

} // namespace mmrag_rft
