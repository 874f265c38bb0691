// SPDX-License-Identifier: Apache-2.0
// GPG: group policy gradient, the group mean subtracted and the batch rescaled by its share of non-zero rewards.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/backends/cpu/baselines.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/group_layout.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <type_traits>

namespace mmrag_rft {

/// GPG advantages (Chu et al. 2025, arXiv 2504.02546): a_i = alpha (r_i - mean_g) / f_norm, alpha = B / max(1, M),
/// B the batch size and M the number of non-zero rewards in it; a group of one has mean 0 (its advantage is
/// alpha r / f_norm). No std division. [verl compute_gpg_outcome_advantage]
///
/// Per sequence, as `opo_advantages`. NaN/inf rewards throw, naming the index; `f_norm` must be finite and > 0.
/// An all-zero batch gives alpha = B and all advantages 0. exec::par and exec::thrust (device memory; M is an integer
/// count, so exact) are bitwise exec::seq.
/// Call: `gpg_advantages([backend,] rewards, groups, advantages, options = {})`.
struct gpg_advantages_fn {
  static constexpr const char* name = "gpg_advantages";
  template <exec::ExecutionBackend E, class T>
  static constexpr bool supports =
      exec::implements<E, gpg_advantages_fn, std::span<const T>, const group_layout&, std::span<T>, const gpg_options&>;

  template <exec::ExecutionBackend E, std::floating_point T>
  requires supports<E, T>
  advantage_summary operator()(const E& exec, std::span<const T> rewards, const group_layout& groups,
                               std::type_identity_t<std::span<T>> advantages, const gpg_options& o = {}) const {
    return exec::run(*this, exec.derived(), rewards, groups, advantages, o);
  }
  template <std::floating_point T>
  advantage_summary operator()(std::span<const T> rewards, const group_layout& groups,
                               std::type_identity_t<std::span<T>> advantages, const gpg_options& o = {}) const {
    return exec::run(*this, exec::seq, rewards, groups, advantages, o);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((supports<Backend, float> || supports<Backend, double>));
};
inline constexpr gpg_advantages_fn gpg_advantages{};

} // namespace mmrag_rft
