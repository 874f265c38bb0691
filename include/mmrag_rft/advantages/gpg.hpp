// SPDX-License-Identifier: Apache-2.0
// GPG: group policy gradient, the group mean subtracted and the batch rescaled by its share of non-zero rewards.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/group_layout.hpp>

#include <algorithm>
#include <cmath>
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
/// An all-zero batch gives alpha = B and all advantages 0. exec::par is bitwise exec::seq.
/// Call: `gpg_advantages([seq|par,] rewards, groups, advantages, options = {})`.
struct gpg_advantages_fn {
  static constexpr const char* name = "gpg_advantages";
  template <exec::CpuBackend E, std::floating_point T>
  advantage_summary operator()(const E& exec, std::span<const T> rewards, const group_layout& groups,
                               std::type_identity_t<std::span<T>> advantages, const gpg_options& o = {}) const {
    detail::require_group_sizes(rewards.size(), advantages.size(), groups, name);
    detail::require(std::isfinite(o.f_norm) && o.f_norm > 0, name, "options.f_norm", "must be finite and > 0");
    detail::check_rewards(rewards, nonfinite_rewards::error, name);
    const auto nonzero =
        static_cast<std::size_t>(std::count_if(rewards.begin(), rewards.end(), [](T x) { return x != T(0); }));
    const double alpha = o.scale_by_nonzero ? static_cast<double>(rewards.size()) /
                                                  static_cast<double>(std::max<std::size_t>(1, nonzero))
                                            : 1.0;
    // torch's float32 division of a scalar by a tensor multiplies by the reciprocal: B * (1 / M), both in float.
    const float alpha32 =
        static_cast<float>(rewards.size()) * (1.0f / static_cast<float>(std::max<std::size_t>(1, nonzero)));
    const double scale = (o.float32_alpha && o.scale_by_nonzero ? static_cast<double>(alpha32) : alpha) / o.f_norm;
    return detail::for_each_group(exec, groups, [&](std::size_t g, advantage_summary& part) {
      const std::size_t b = groups.begin(g), e = groups.end(g);
      detail::gpg_group(rewards.data() + b, e - b, scale, advantages.data() + b);
      part.singleton_groups += e - b == 1;
    });
  }
  template <std::floating_point T>
  advantage_summary operator()(std::span<const T> rewards, const group_layout& groups,
                               std::type_identity_t<std::span<T>> advantages, const gpg_options& o = {}) const {
    return (*this)(exec::seq, rewards, groups, advantages, o);
  }
};
inline constexpr gpg_advantages_fn gpg_advantages{};

} // namespace mmrag_rft
