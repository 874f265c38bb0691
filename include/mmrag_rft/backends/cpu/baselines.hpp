// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// `opo_advantages`, `gpg_advantages`, `grpo_passk_advantages` and `remax_advantages` on the CPU backends: the
// baseline plans' group (or completion) functions in fixed chunks, so exec::par is bitwise exec::seq.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace mmrag_rft::detail {

/// Checks the rewards, then runs `group(b, size)` on every group (b its first completion), which returns false for a
/// degenerate group; groups of one are counted as singletons, as every baseline estimator reports them.
template <class E, class T, class Group>
[[nodiscard]] advantage_summary baseline_groups(const E& exec, std::span<const T> rewards, const group_layout& groups,
                                                const char* fn, Group&& group) {
  check_rewards(rewards, nonfinite_rewards::error, fn);
  return for_each_group(exec, groups, [&](std::size_t g, advantage_summary& part) {
    const std::size_t b = groups.begin(g), size = groups.end(g) - b;
    part.singleton_groups += size == 1;
    part.degenerate_groups += !group(b, size);
  });
}

} // namespace mmrag_rft::detail

// The implementations for exec::seq and exec::par, whose rewards, masks and advantages are host memory. Each one
// checks its arguments first, in the same order as every other backend, so that errors match.
namespace mmrag_rft::exec {

template <CpuBackend E, class T>
advantage_summary implement(const opo_advantages_fn&, const E& exec, std::span<const T> rewards,
                            const group_layout& groups, mask_view mask, std::span<T> advantages) {
  mmrag_rft::detail::validate_opo(rewards.size(), advantages.size(), groups, mask.rows());
  std::vector<double> len(mask.rows()); // the token counts, the weights of the baseline
  mmrag_rft::detail::for_each_row(exec, mask.rows(), mask.cols(), [&](std::size_t i) {
    std::size_t l = 0;
    for (std::size_t t = 0; t < mask.cols(); ++t) l += mask(i, t) != 0;
    len[i] = static_cast<double>(l);
  });
  return mmrag_rft::detail::baseline_groups(exec, rewards, groups, "opo_advantages", [&](std::size_t b, std::size_t n) {
    mmrag_rft::detail::opo_group(rewards.data() + b, len.data() + b, n, advantages.data() + b);
    return true;
  });
}

template <CpuBackend E, class T>
void implement(const remax_advantages_fn&, const E& exec, std::span<const T> rewards, std::span<const T> greedy_rewards,
               std::span<T> advantages) {
  constexpr const char* fn = "remax_advantages";
  mmrag_rft::detail::validate_remax(rewards.size(), greedy_rewards.size(), advantages.size());
  mmrag_rft::detail::check_rewards(rewards, nonfinite_rewards::error, fn);
  for (std::size_t i = 0; i < greedy_rewards.size(); ++i)
    mmrag_rft::detail::require(std::isfinite(greedy_rewards[i]), fn, "greedy_rewards", "is NaN or infinite", i);
  mmrag_rft::detail::for_each_row(exec, rewards.size(), 1, [&](std::size_t i) {
    advantages[i] = mmrag_rft::detail::remax_advantage(rewards[i], greedy_rewards[i]);
  });
}

template <CpuBackend E, class T>
advantage_summary implement(const gpg_advantages_fn&, const E& exec, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const gpg_options& o) {
  mmrag_rft::detail::validate_gpg(rewards.size(), advantages.size(), groups, o);
  // An integer count, so the same on every backend; taken before the reward check, which it does not need.
  const auto nonzero = static_cast<std::size_t>(
      std::count_if(rewards.begin(), rewards.end(), mmrag_rft::detail::is_nonzero_reward<T>{}));
  const double scale = mmrag_rft::detail::gpg_scale(rewards.size(), nonzero, o);
  return mmrag_rft::detail::baseline_groups(exec, rewards, groups, "gpg_advantages", [&](std::size_t b, std::size_t n) {
    mmrag_rft::detail::gpg_group(rewards.data() + b, n, scale, advantages.data() + b);
    return true;
  });
}

template <CpuBackend E, class T>
advantage_summary implement(const grpo_passk_advantages_fn&, const E& exec, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const grpo_passk_options& o) {
  mmrag_rft::detail::validate_grpo_passk(rewards.size(), advantages.size(), groups, o);
  // Groups of one were refused above; an empty group writes nothing.
  return mmrag_rft::detail::baseline_groups(
      exec, rewards, groups, "grpo_passk_advantages", [&](std::size_t b, std::size_t n) {
        return n == 0 || mmrag_rft::detail::grpo_passk_group(rewards.data() + b, n, o.norm_adv_by_std_in_grpo,
                                                             o.epsilon, advantages.data() + b);
      });
}

} // namespace mmrag_rft::exec
