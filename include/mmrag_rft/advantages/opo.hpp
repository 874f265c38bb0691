// SPDX-License-Identifier: Apache-2.0
// OPO: the group baseline weighted by response length (on-policy, optimal-baseline RL).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

namespace mmrag_rft {

/// OPO advantages (Hao et al. 2025, arXiv 2505.23585): a_i = r_i - sum_{j in g} L_j r_j / sum_{j in g} L_j, with
/// L_j the number of valid tokens of row j of `mask`; a group of one has baseline 0. The advantages are per sequence:
/// pass them to `policy_loss` as `sequence_advantages`, or expand them with `broadcast_advantages`.
/// [verl compute_opo_outcome_advantage]
///
/// A group of two or more whose rows have no valid token takes the plain group mean (verl gives NaN there: 0 / 0).
/// `mask` has one row per completion. NaN/inf rewards throw, naming the index. Sums in double; exec::par is bitwise
/// exec::seq. Complexity: one pass over the mask, two over the rewards.
/// Call: `opo_advantages([seq|par,] rewards, groups, mask, advantages)`.
struct opo_advantages_fn {
  static constexpr const char* name = "opo_advantages";
  template <exec::CpuBackend E, std::floating_point T>
  advantage_summary operator()(const E& exec, std::span<const T> rewards, const group_layout& groups, mask_view mask,
                               std::type_identity_t<std::span<T>> advantages) const {
    detail::require_group_sizes(rewards.size(), advantages.size(), groups, name);
    detail::require(mask.rows() == rewards.size(), name, "mask", "must have one row per completion");
    detail::check_rewards(rewards, nonfinite_rewards::error, name);
    std::vector<double> len(mask.rows());
    detail::for_each_row(exec, mask.rows(), mask.cols(), [&](std::size_t i) {
      std::size_t l = 0;
      for (std::size_t t = 0; t < mask.cols(); ++t) l += mask(i, t) != 0;
      len[i] = static_cast<double>(l);
    });
    return detail::for_each_group(exec, groups, [&](std::size_t g, advantage_summary& part) {
      const std::size_t b = groups.begin(g), e = groups.end(g);
      detail::opo_group(rewards.data() + b, len.data() + b, e - b, advantages.data() + b);
      part.singleton_groups += e - b == 1;
    });
  }
  template <std::floating_point T>
  advantage_summary operator()(std::span<const T> rewards, const group_layout& groups, mask_view mask,
                               std::type_identity_t<std::span<T>> advantages) const {
    return (*this)(exec::seq, rewards, groups, mask, advantages);
  }
};
inline constexpr opo_advantages_fn opo_advantages{};

} // namespace mmrag_rft
