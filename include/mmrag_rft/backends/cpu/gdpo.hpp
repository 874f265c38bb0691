// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// `gdpo_advantages` on the CPU backends: the GDPO plan's group pass in fixed chunks of groups, then the batch
// whitening in one ordered pass (so exec::par is bitwise exec::seq).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/gdpo_plan.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mmrag_rft::detail {

template <class T, class E>
advantage_summary gdpo_cpu(const E& exec, matrix_view<const T> rewards, std::span<const double> weights,
                           const group_layout& groups, std::span<T> out, const gdpo_options& o,
                           std::span<std::uint8_t> keep) {
  constexpr const char* fn = "gdpo_advantages";
  validate_gdpo(rewards, weights, out.size(), keep.size(), groups, o);
  const std::size_t rows = rewards.rows(), k = rewards.cols(), stride = rewards.row_stride();
  const bool checked = o.component.nonfinite == nonfinite_rewards::error;
  if (checked)
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t c = 0; c < k; ++c)
        if (!finite(rewards(i, c))) throw_gdpo_nonfinite(i, c);
  std::vector<double> sum(rows);
  const double* w = weights.empty() ? nullptr : weights.data();
  advantage_summary s = for_each_group(exec, groups, [&](std::size_t g, advantage_summary& part) {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    const T* r = rewards.data() + b * stride;
    const std::uint32_t st = checked ? gdpo_group<true>(r, e - b, k, stride, w, sum.data() + b, o.component)
                                     : gdpo_group<false>(r, e - b, k, stride, w, sum.data() + b, o.component);
    if (st & grpo_singleton_error)
      throw error(fn, "groups", "has a group with one finite reward (singleton = error)", g);
    const grpo_counts c = grpo_counts_of{}(st);
    part.degenerate_groups += c.degenerate, part.singleton_groups += c.singleton, part.masked_out += c.masked;
  });
  // One ordered pass for the batch moments (moments() skips the NaN of masked-out completions).
  const group_moments m = moments(sum.data(), rows);
  const gdpo_batch bs = gdpo_batch_of(static_cast<double>(m.n), m.mean, m.m2, o);
  for (std::size_t i = 0; i < rows; ++i) {
    out[i] = gdpo_output<T>(sum[i], bs);
    if (!keep.empty()) keep[i] = sum[i] == sum[i] ? 1 : 0;
  }
  return s;
}
} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

/// `gdpo_advantages` on exec::seq and exec::par (bitwise the same for every thread count).
template <CpuBackend E, class T>
advantage_summary implement(const gdpo_advantages_fn&, const E& exec, matrix_view<const T> rewards,
                            std::span<const double> weights, const group_layout& groups, std::span<T> advantages,
                            const gdpo_options& o, std::span<std::uint8_t> keep) {
  return mmrag_rft::detail::gdpo_cpu(exec, rewards, weights, groups, advantages, o, keep);
}

} // namespace mmrag_rft::exec
