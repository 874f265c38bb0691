// SPDX-License-Identifier: Apache-2.0
// RLOO: REINFORCE with the leave-one-out baseline.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <span>

namespace mmrag_rft {

namespace detail {

/// What one group's RLOO pass found.
struct rloo_group_outcome {
  bool singleton = false;  ///< one finite reward
  bool degenerate = false; ///< two or more finite rewards, all equal
  std::size_t masked = 0;  ///< non-finite rewards (advantage 0, keep 0)
};

/// One group of RLOO: its moments, then every completion's advantage (and keep flag, when `keep` is not null).
/// Shared by every backend, so a group's advantages are bitwise the same on each. `AllFinite` (the rewards were
/// checked at the boundary) drops the per-element tests, so the loops vectorise.
template <bool AllFinite = false, class T>
MMRAG_RFT_HOST_DEVICE rloo_group_outcome rloo_group(const T* r, std::size_t size, T* out, std::uint8_t* keep,
                                                    rloo_options::singleton_policy singleton) noexcept {
  const group_moments s = moments<AllFinite>(r, size);
  rloo_group_outcome o;
  o.singleton = s.n == 1;
  o.degenerate = s.n >= 2 && s.m2 == 0.0;
  for (std::size_t j = 0; j < size; ++j) {
    const bool ok = AllFinite || finite(r[j]);
    o.masked += !ok;
    if (keep) keep[j] = ok ? 1 : 0;
    if (!ok) out[j] = T(0);
    else if (s.n == 1) out[j] = singleton == rloo_options::singleton_policy::keep_reward ? r[j] : T(0);
    else out[j] = rloo_advantage(r[j], s.sum, static_cast<double>(s.n));
  }
  return o;
}

template <class T, class E>
advantage_summary rloo_cpu(const E& exec, std::span<const T> rewards, const group_layout& groups, std::span<T> out,
                           const rloo_options& o, std::span<std::uint8_t> keep) {
  constexpr const char* fn = "rloo_advantages";
  require_group_sizes(rewards.size(), out.size(), groups, fn);
  require(keep.empty() || keep.size() == rewards.size(), fn, "keep", "must be empty or have the size of rewards");
  check_rewards(rewards, o.nonfinite, fn);
  using sp = rloo_options::singleton_policy;
  if (o.singleton == sp::error)
    for (std::size_t g = 0; g < groups.num_groups(); ++g)
      require(groups.size(g) != 1, fn, "groups", "has a group of one completion (singleton = error)", g);
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
} // namespace detail

/// RLOO advantages (Kool et al. 2019; Ahmadian et al. 2024): a_j = r_j - (sum_g - r_j) / (n_g - 1), the reward minus
/// the mean of the other completions of its group. [verl compute_rloo_outcome_advantage; OpenRLHF "rloo"]
///
/// Sums in double. A group of one follows `options.singleton` (verl "rloo" keeps r; "rloo_vectorized" gives 0). NaN/inf
/// rewards follow `options.nonfinite` as in `grpo_advantages`. The advantages of a group always sum to 0 (n >= 2).
/// Complexity: two reads of the rewards, one write.
struct rloo_advantages_fn {
  template <exec::ExecutionBackend E, detail::GroupLayoutLike G>
  advantage_summary operator()(const E& exec, std::span<const float> rewards, const G& groups,
                               std::span<float> advantages, const rloo_options& opt = {},
                               std::span<std::uint8_t> keep = {}) const {
    return impl(exec.derived(), rewards, groups, advantages, opt, keep);
  }
  template <exec::ExecutionBackend E, detail::GroupLayoutLike G>
  advantage_summary operator()(const E& exec, std::span<const double> rewards, const G& groups,
                               std::span<double> advantages, const rloo_options& opt = {},
                               std::span<std::uint8_t> keep = {}) const {
    return impl(exec.derived(), rewards, groups, advantages, opt, keep);
  }
  template <detail::GroupLayoutLike G>
  advantage_summary operator()(std::span<const float> rewards, const G& groups, std::span<float> advantages,
                               const rloo_options& opt = {}, std::span<std::uint8_t> keep = {}) const {
    return impl(exec::seq, rewards, groups, advantages, opt, keep);
  }
  template <detail::GroupLayoutLike G>
  advantage_summary operator()(std::span<const double> rewards, const G& groups, std::span<double> advantages,
                               const rloo_options& opt = {}, std::span<std::uint8_t> keep = {}) const {
    return impl(exec::seq, rewards, groups, advantages, opt, keep);
  }

private:
  template <class E, class T>
  static advantage_summary impl(const E& exec, std::span<const T> r, const group_layout& g, std::span<T> a,
                                const rloo_options& opt, std::span<std::uint8_t> keep) {
    return detail::rloo_cpu(exec, r, g, a, opt, keep);
  }
  template <class E, class T>
  static advantage_summary impl(const E& exec, std::span<const T> r, const keyed_groups& g, std::span<T> a,
                                const rloo_options& opt, std::span<std::uint8_t> keep) {
    return detail::through_keys<T>(r, g, a, keep, "rloo_advantages", opt.nonfinite,
                                   [&](auto rr, const group_layout& l, auto aa, auto kk) {
                                     return detail::rloo_cpu(exec, rr, l, aa, opt, kk);
                                   });
  }
};
inline constexpr rloo_advantages_fn rloo_advantages{};

} // namespace mmrag_rft
