// SPDX-License-Identifier: Apache-2.0
// GDPO: multi-reward advantages with each reward component normalised within its group before the weighted sum.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/gdpo_options.hpp>
#include <mmrag_rft/advantages/gdpo_plan.hpp>
#include <mmrag_rft/backends/cpu/gdpo.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <cstdint>
#include <span>

namespace mmrag_rft {

/// GDPO advantages ("GDPO: Group reward-Decoupled Normalization Policy Optimization", arXiv 2601.05242), for rewards
/// with several components (format, ranking, answer): `rewards` is an items x components matrix (row j: completion j,
/// laid out by `groups`), `weights` one weight per component (empty: all 1). For completion j of group g:
///
///   a_jk = GRPO advantage of component k within group g  ((r_jk - mean_gk) / (std_gk + eps), `options.component`)
///   s_j  = sum_k w_k a_jk
///   A_j  = (s_j - mean(s)) / (std(s) + batch_epsilon)      over the batch's kept completions (`options.whiten`)
///
/// [NVlabs/GDPO trl-GDPO: per-function group std, weighted nansum, batch whitening, each eps 1e-4]. Unlike GRPO of
/// the summed reward, components (1, 0) and (0, 1) of equal weight get different advantages whenever their groups'
/// spreads differ. Statistics in double, the std by a centred second pass: a component that is all-equal within its
/// group adds exactly 0 (a group where every component is all-equal is "degenerate"), and a batch without spread
/// gives 0 everywhere. A group of one follows `options.component.singleton` per component, as in `grpo_advantages`.
/// Non-finite rewards follow `options.component.nonfinite`: `error` names the first completion; `mask_out` leaves a
/// completion with any non-finite component out of every statistic, gives it 0 and `keep[j] = 0`.
/// Call: `gdpo_advantages([backend,] rewards, weights, groups, advantages, options = {}, keep = {})`.
/// Complexity: three reads of the rewards, one O(n) double buffer.
struct gdpo_advantages_fn {
  static constexpr const char* name = "gdpo_advantages";
  template <exec::ExecutionBackend E, class T>
  static constexpr bool supports =
      exec::implements<E, gdpo_advantages_fn, matrix_view<const T>, std::span<const double>, const group_layout&,
                       std::span<T>, const gdpo_options&, std::span<std::uint8_t>>;

  template <exec::ExecutionBackend E>
  requires supports<E, float>
  advantage_summary operator()(const E& exec, matrix_view<const float> rewards, std::span<const double> weights,
                               const group_layout& groups, std::span<float> advantages, const gdpo_options& o = {},
                               std::span<std::uint8_t> keep = {}) const {
    return exec::run(*this, exec.derived(), rewards, weights, groups, advantages, o, keep);
  }
  template <exec::ExecutionBackend E>
  requires supports<E, double>
  advantage_summary operator()(const E& exec, matrix_view<const double> rewards, std::span<const double> weights,
                               const group_layout& groups, std::span<double> advantages, const gdpo_options& o = {},
                               std::span<std::uint8_t> keep = {}) const {
    return exec::run(*this, exec.derived(), rewards, weights, groups, advantages, o, keep);
  }
  advantage_summary operator()(matrix_view<const float> rewards, std::span<const double> weights,
                               const group_layout& groups, std::span<float> advantages, const gdpo_options& o = {},
                               std::span<std::uint8_t> keep = {}) const {
    return exec::run(*this, exec::seq, rewards, weights, groups, advantages, o, keep);
  }
  advantage_summary operator()(matrix_view<const double> rewards, std::span<const double> weights,
                               const group_layout& groups, std::span<double> advantages, const gdpo_options& o = {},
                               std::span<std::uint8_t> keep = {}) const {
    return exec::run(*this, exec::seq, rewards, weights, groups, advantages, o, keep);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((supports<Backend, float> || supports<Backend, double>));
};
inline constexpr gdpo_advantages_fn gdpo_advantages{};

} // namespace mmrag_rft
