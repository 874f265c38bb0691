// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// `rloo_advantages` on the CPU backends: the RLOO plan's group pass in fixed chunks of groups.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/rloo_plan.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft::detail {

template <class T, class E>
advantage_summary rloo_cpu(const E& exec, std::span<const T> rewards, const group_layout& groups, std::span<T> out,
                           const rloo_options& o, std::span<std::uint8_t> keep) {
  constexpr const char* fn = "rloo_advantages";
  validate_rloo(rewards.size(), out.size(), keep.size(), groups, o);
  check_rewards(rewards, o.nonfinite, fn);
  using sp = rloo_options::singleton_policy;
  const bool checked = o.nonfinite == nonfinite_rewards::error || all_finite(rewards);
  return for_each_group(exec, groups, [&](std::size_t g, advantage_summary& part) {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    const T* r_g = rewards.data() + b;
    T* out_g = out.data() + b;
    std::uint8_t* keep_g = keep.empty() ? nullptr : keep.data() + b;
    const rloo_group_outcome r = checked ? rloo_group<true>(r_g, e - b, out_g, keep_g, o.singleton)
                                         : rloo_group(r_g, e - b, out_g, keep_g, o.singleton);
    if (r.singleton && o.singleton == sp::error) throw error(fn, "groups", "has a group with one finite reward", g);
    part.singleton_groups += r.singleton;
    part.degenerate_groups += r.degenerate;
    part.masked_out += r.masked;
  });
}
} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

/// `rloo_advantages` on exec::seq and exec::par (bitwise the same for every thread count).
template <CpuBackend E, class T>
advantage_summary implement(const rloo_advantages_fn&, const E& exec, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const rloo_options& o,
                            std::span<std::uint8_t> keep) {
  return mmrag_rft::detail::rloo_cpu(exec, rewards, groups, advantages, o, keep);
}

} // namespace mmrag_rft::exec
