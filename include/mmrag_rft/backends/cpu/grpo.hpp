// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// `grpo_advantages` on the CPU backends: the GRPO plan's group functions in fixed chunks of groups, the uniform
// rule's loop in the instruction-set version the CPU runs.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo_plan.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/detail/cpu_isa.hpp>
#include <mmrag_rft/detail/parallel.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mmrag_rft::detail {

/// All groups of one chunk, the group size resolved to a compile-time constant where it is a common one.
template <class T>
MMRAG_RFT_FORCEINLINE void grpo_uniform_chunk(const T* r, T* y, std::size_t g0, std::size_t g1, std::size_t gs,
                                              const grpo_options& o, grpo_batch_spread batch, advantage_summary& p) {
  switch (gs) {
  case 2: return grpo_uniform_groups<2>(r, y, g0, g1, gs, o, batch, p);
  case 4: return grpo_uniform_groups<4>(r, y, g0, g1, gs, o, batch, p);
  case 8: return grpo_uniform_groups<8>(r, y, g0, g1, gs, o, batch, p);
  case 16: return grpo_uniform_groups<16>(r, y, g0, g1, gs, o, batch, p);
  default: return grpo_uniform_groups<0>(r, y, g0, g1, gs, o, batch, p);
  }
}

template <class T, class E>
advantage_summary grpo_uniform(const E& exec, std::span<const T> rewards, const group_layout& groups, std::span<T> out,
                               const grpo_options& o, std::span<std::uint8_t> keep, grpo_batch_spread batch) {
  const std::size_t gs = groups.uniform_size();
  const cpu_isa isa = chosen_cpu_isa();
  const chunking ch{groups.num_groups(), std::size_t{4096}};
  std::vector<advantage_summary> parts(ch.count());
  for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    const std::size_t g0 = ch.begin(c), g1 = ch.end(c);
    const T* r = rewards.data();
    T* y = out.data();
    advantage_summary& p = parts[c];
    // Memory-bound: the versions gain wider loads, and give the baseline's values exactly (no contraction).
    run_for_isa<isa_contraction::exact>(
        isa, [&]() MMRAG_RFT_DETAIL_ISA_BODY { grpo_uniform_chunk(r, y, g0, g1, gs, o, batch, p); });
    if (!keep.empty()) std::fill(keep.data() + g0 * gs, keep.data() + g1 * gs, std::uint8_t{1});
  });
  advantage_summary s;
  s.groups = groups.num_groups();
  for (const auto& p : parts) s.degenerate_groups += p.degenerate_groups;
  return s;
}

template <class T, class E>
advantage_summary grpo_groups(const E& exec, std::span<const T> rewards, const group_layout& groups, std::span<T> out,
                              const grpo_options& o, std::span<std::uint8_t> keep, grpo_batch_spread batch,
                              bool checked);

template <class T, class E>
advantage_summary grpo_cpu(const E& exec, std::span<const T> rewards, const group_layout& groups, std::span<T> out,
                           const grpo_options& o, std::span<std::uint8_t> keep) {
  constexpr const char* fn = "grpo_advantages";
  validate_grpo(rewards.size(), out.size(), keep.size(), groups, o);
  check_rewards(rewards, o.nonfinite, fn);
  const grpo_batch_spread batch = grpo_batch_spread_of(rewards, o);
  const bool checked = o.nonfinite == nonfinite_rewards::error || all_finite(rewards);
  const advantage_summary s = grpo_groups(exec, rewards, groups, out, o, keep, batch, checked);
  // Dr. GRPO's r - mean is unbounded: a spread beyond the range of T has no representable advantage.
  if (!o.norm_adv_by_std_in_grpo)
    for (std::size_t j = 0; j < out.size(); ++j)
      if (!finite(out[j]))
        throw error(fn, "rewards", "give an advantage r - mean beyond the range of the advantage type (Dr. GRPO)", j);
  return s;
}

template <class T, class E>
advantage_summary grpo_groups(const E& exec, std::span<const T> rewards, const group_layout& groups, std::span<T> out,
                              const grpo_options& o, std::span<std::uint8_t> keep, grpo_batch_spread batch,
                              bool checked) {
  constexpr const char* fn = "grpo_advantages";
  if (grpo_uniform_rule(checked, groups)) return grpo_uniform(exec, rewards, groups, out, o, keep, batch);
  return for_each_group(exec, groups, [&](std::size_t g, advantage_summary& part) {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    std::uint8_t* k = keep.empty() ? nullptr : keep.data() + b;
    const std::uint32_t st = checked ? grpo_group<true>(rewards.data() + b, e - b, out.data() + b, k, o, batch)
                                     : grpo_group<false>(rewards.data() + b, e - b, out.data() + b, k, o, batch);
    if (st & grpo_singleton_error)
      throw error(fn, "groups", "has a group with one finite reward (singleton = error)", g);
    const grpo_counts c = grpo_counts_of{}(st);
    part.degenerate_groups += c.degenerate, part.singleton_groups += c.singleton, part.masked_out += c.masked;
  });
}
} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

/// `grpo_advantages` on exec::seq and exec::par (bitwise the same for every thread count).
template <CpuBackend E, class T>
advantage_summary implement(const grpo_advantages_fn&, const E& exec, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const grpo_options& o,
                            std::span<std::uint8_t> keep) {
  return mmrag_rft::detail::grpo_cpu(exec, rewards, groups, advantages, o, keep);
}

} // namespace mmrag_rft::exec
