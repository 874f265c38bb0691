// SPDX-License-Identifier: Apache-2.0
// GRPO and Dr. GRPO group-relative advantages.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/detail/cpu_isa.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <algorithm>
#include <concepts>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <span>
#include <vector>

namespace mmrag_rft {

namespace detail {
/// GRPO over groups [g0, g1) of a uniform layout of finite rewards (G >= 2): the moments inlined (double, centred
/// second pass, as `moments`), one division per group, and with a compile-time G (the common 2, 4, 8, 16) the sums
/// taken pairwise in a fixed tree, every loop unrolled. An all-equal group still gets exactly 0. The advantage
/// multiplies by 1 / (std + epsilon), within an ulp of dividing.
template <std::size_t FixedG, class T>
MMRAG_RFT_FORCEINLINE void grpo_uniform_groups(const T* __restrict r, T* __restrict out, std::size_t g0,
                                               std::size_t g1, std::size_t runtime_g, const grpo_options& o,
                                               double batch_std, advantage_summary& part) {
  const std::size_t gs = FixedG ? FixedG : runtime_g;
  const double n = static_cast<double>(gs);
  const double denom = o.std == std_estimator::unbiased ? n - 1.0 : n;
  const bool by_group = o.scale != reward_scale::batch;
  std::size_t degenerate = 0;
  for (std::size_t g = g0; g < g1; ++g) {
    const T* x = r + g * gs;
    T* y = out + g * gs;
    double mean = 0, m2 = 0;
    if constexpr (FixedG != 0) {
      // Pairwise sums, a fixed tree: 3 dependent adds for G = 8 instead of 8, and the halves vectorise.
      double v[FixedG], t[FixedG], d2[FixedG];
      for (std::size_t j = 0; j < FixedG; ++j) t[j] = v[j] = static_cast<double>(x[j]);
      for (std::size_t w = FixedG / 2; w >= 1; w /= 2)
        for (std::size_t k = 0; k < w; ++k) t[k] += t[k + w];
      mean = t[0] / n;
      for (std::size_t j = 0; j < FixedG; ++j) d2[j] = (v[j] - mean) * (v[j] - mean);
      for (std::size_t w = FixedG / 2; w >= 1; w /= 2)
        for (std::size_t k = 0; k < w; ++k) d2[k] += d2[k + w];
      m2 = d2[0];
    } else {
      const group_moments s = moments<true>(x, gs);
      mean = s.mean, m2 = s.m2;
    }
    degenerate += m2 == 0.0;
    const double sd = by_group ? std::sqrt(m2 / denom) : batch_std;
    const double inv = o.norm_adv_by_std_in_grpo ? 1.0 / (sd + o.epsilon) : 1.0;
    for (std::size_t j = 0; j < gs; ++j) y[j] = static_cast<T>((static_cast<double>(x[j]) - mean) * inv);
  }
  part.degenerate_groups += degenerate;
}

/// All groups of one chunk, the group size resolved to a compile-time constant where it is a common one.
template <class T>
MMRAG_RFT_FORCEINLINE void grpo_uniform_chunk(const T* r, T* y, std::size_t g0, std::size_t g1, std::size_t gs,
                                              const grpo_options& o, double batch_std, advantage_summary& p) {
  switch (gs) {
  case 2: return grpo_uniform_groups<2>(r, y, g0, g1, gs, o, batch_std, p);
  case 4: return grpo_uniform_groups<4>(r, y, g0, g1, gs, o, batch_std, p);
  case 8: return grpo_uniform_groups<8>(r, y, g0, g1, gs, o, batch_std, p);
  case 16: return grpo_uniform_groups<16>(r, y, g0, g1, gs, o, batch_std, p);
  default: return grpo_uniform_groups<0>(r, y, g0, g1, gs, o, batch_std, p);
  }
}

#if MMRAG_RFT_DETAIL_ISA_DISPATCH()
// AVX2 version (detail/cpu_isa.hpp; no contraction, so the same values as the baseline): 4 doubles per vector.
template <class T>
__attribute__((target("avx2,fma"))) MMRAG_RFT_DETAIL_NO_CONTRACT __attribute__((noinline)) void
grpo_uniform_chunk_avx2(const T* r, T* y, std::size_t g0, std::size_t g1, std::size_t gs, const grpo_options& o,
                        double batch_std, advantage_summary& p) {
  grpo_uniform_chunk(r, y, g0, g1, gs, o, batch_std, p);
}
#endif

template <class T, class E>
advantage_summary grpo_uniform(const E& exec, std::span<const T> rewards, const group_layout& groups, std::span<T> out,
                               const grpo_options& o, std::span<std::uint8_t> keep, double batch_std) {
  const std::size_t gs = groups.uniform_size();
  [[maybe_unused]] const cpu_isa isa = chosen_cpu_isa();
  const chunking ch{groups.num_groups(), std::size_t{4096}};
  std::vector<advantage_summary> parts(ch.count());
  for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    const std::size_t g0 = ch.begin(c), g1 = ch.end(c);
    const T* r = rewards.data();
    T* y = out.data();
    advantage_summary& p = parts[c];
#if MMRAG_RFT_DETAIL_ISA_DISPATCH()
    if (isa != cpu_isa::baseline) grpo_uniform_chunk_avx2(r, y, g0, g1, gs, o, batch_std, p);
    else grpo_uniform_chunk(r, y, g0, g1, gs, o, batch_std, p);
#else
    grpo_uniform_chunk(r, y, g0, g1, gs, o, batch_std, p);
#endif
    if (!keep.empty()) std::fill(keep.data() + g0 * gs, keep.data() + g1 * gs, std::uint8_t{1});
  });
  advantage_summary s;
  s.groups = groups.num_groups();
  for (const auto& p : parts) s.degenerate_groups += p.degenerate_groups;
  return s;
}

template <class T, class E>
advantage_summary grpo_cpu(const E& exec, std::span<const T> rewards, const group_layout& groups, std::span<T> out,
                           const grpo_options& o, std::span<std::uint8_t> keep) {
  constexpr const char* fn = "grpo_advantages";
  require_group_sizes(rewards.size(), out.size(), groups, fn);
  require(keep.empty() || keep.size() == rewards.size(), fn, "keep", "must be empty or have the size of rewards");
  require(std::isfinite(o.epsilon) && o.epsilon >= 0, fn, "options.epsilon", "must be finite and >= 0");
  check_rewards(rewards, o.nonfinite, fn);

  double batch_std = 0;
  if (o.scale == reward_scale::batch) {
    // TRL scale_rewards="batch": one std over all finite rewards of the batch (0 for a batch of one).
    const group_moments b = moments(rewards.data(), rewards.size());
    batch_std = b.n > 1 ? stddev(b, o.std) : 0.0;
  }
  if (o.singleton == singleton_group::error)
    for (std::size_t g = 0; g < groups.num_groups(); ++g)
      require(groups.size(g) != 1, fn, "groups", "has a group of one completion (singleton = error)", g);

  const bool checked = o.nonfinite == nonfinite_rewards::error || all_finite(rewards);
  if (checked && groups.is_uniform() && groups.uniform_size() >= 2)
    return grpo_uniform(exec, rewards, groups, out, o, keep, batch_std);
  return for_each_group(exec, groups, [&](std::size_t g, advantage_summary& part) {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    const group_moments s = checked ? moments<true>(rewards.data() + b, e - b) : moments(rewards.data() + b, e - b);
    double mean = s.mean;
    double sd = o.scale == reward_scale::batch ? batch_std : stddev(s, o.std);
    bool zero = s.n == 0;
    if (s.n == 1) {
      ++part.singleton_groups;
      if (o.singleton == singleton_group::unit_std) mean = 0.0, sd = 1.0;
      else if (o.singleton == singleton_group::zero) zero = true;
      else throw error(fn, "groups", "has a group with one finite reward (singleton = error)", g);
    } else if (s.n >= 2 && s.m2 == 0.0) {
      ++part.degenerate_groups;
    }
    if (checked) {
      for (std::size_t j = b; j < e; ++j)
        out[j] = zero ? T(0) : grpo_advantage(rewards[j], mean, sd, o.epsilon, o.norm_adv_by_std_in_grpo);
      if (!keep.empty()) std::fill(keep.begin() + static_cast<std::ptrdiff_t>(b), keep.begin() + static_cast<std::ptrdiff_t>(e), std::uint8_t{1});
      return;
    }
    for (std::size_t j = b; j < e; ++j) {
      const bool ok = finite(rewards[j]);
      part.masked_out += !ok;
      out[j] = (zero || !ok) ? T(0) : grpo_advantage(rewards[j], mean, sd, o.epsilon, o.norm_adv_by_std_in_grpo);
      if (!keep.empty()) keep[j] = ok ? 1 : 0;
    }
  });
}
} // namespace detail

/// GRPO outcome advantages: for completion j of group g, a_j = (r_j - mean_g) / (std_g + epsilon), or r_j - mean_g
/// when `norm_adv_by_std_in_grpo` is false (Dr. GRPO). [verl compute_grpo_outcome_advantage; TRL; OpenRLHF group_norm]
///
/// `rewards` holds one scalar reward per completion, laid out by `groups` (or by a `keyed_groups`, verl's uid
/// grouping). Statistics are computed in double, the std by a centred second pass, so an all-equal group gets exactly
/// 0 (a "degenerate" group in the summary). A group of one follows `options.singleton`. NaN/inf rewards follow
/// `options.nonfinite`; with `mask_out` they are left out of their group's statistics, get advantage 0 and `keep[j] =
/// 0` (pass `keep` to learn which; it may be empty). An empty batch is valid and does nothing.
/// Complexity: two reads of the rewards, one write; no allocation for a `group_layout`, O(n) for `keyed_groups`.
struct grpo_advantages_fn {
  template <exec::ExecutionBackend E, detail::GroupLayoutLike G>
  advantage_summary operator()(const E& exec, std::span<const float> rewards, const G& groups,
                               std::span<float> advantages, const grpo_options& opt = {},
                               std::span<std::uint8_t> keep = {}) const {
    return impl(exec.derived(), rewards, groups, advantages, opt, keep);
  }
  template <exec::ExecutionBackend E, detail::GroupLayoutLike G>
  advantage_summary operator()(const E& exec, std::span<const double> rewards, const G& groups,
                               std::span<double> advantages, const grpo_options& opt = {},
                               std::span<std::uint8_t> keep = {}) const {
    return impl(exec.derived(), rewards, groups, advantages, opt, keep);
  }
  template <detail::GroupLayoutLike G>
  advantage_summary operator()(std::span<const float> rewards, const G& groups, std::span<float> advantages,
                               const grpo_options& opt = {}, std::span<std::uint8_t> keep = {}) const {
    return impl(exec::seq, rewards, groups, advantages, opt, keep);
  }
  template <detail::GroupLayoutLike G>
  advantage_summary operator()(std::span<const double> rewards, const G& groups, std::span<double> advantages,
                               const grpo_options& opt = {}, std::span<std::uint8_t> keep = {}) const {
    return impl(exec::seq, rewards, groups, advantages, opt, keep);
  }

private:
  template <class E, class T>
  static advantage_summary impl(const E& exec, std::span<const T> r, const group_layout& g, std::span<T> a,
                                const grpo_options& opt, std::span<std::uint8_t> keep) {
    return detail::grpo_cpu(exec, r, g, a, opt, keep);
  }
  template <class E, class T>
  static advantage_summary impl(const E& exec, std::span<const T> r, const keyed_groups& g, std::span<T> a,
                                const grpo_options& opt, std::span<std::uint8_t> keep) {
    return detail::through_keys<T>(r, g, a, keep, "grpo_advantages", opt.nonfinite,
                                   [&](auto rr, const group_layout& l, auto aa, auto kk) {
                                     return detail::grpo_cpu(exec, rr, l, aa, opt, kk);
                                   });
  }
};
inline constexpr grpo_advantages_fn grpo_advantages{};

/// Dr. GRPO advantages (Liu et al. 2025, "Understanding R1-Zero-like training"): a_j = r_j - mean_g, GRPO without
/// the std division, so equal to GRPO's advantages times (std_g + epsilon). [verl norm_adv_by_std_in_grpo=False;
/// TRL scale_rewards="none"; OpenRLHF dr_grpo]. Takes the arguments of `grpo_advantages` without the options; for
/// other options (singletons, non-finite rewards) call `grpo_advantages` with `grpo_options::dr_grpo()`.
struct dr_grpo_advantages_fn {
  template <class... Args>
    requires std::invocable<const grpo_advantages_fn&, Args..., const grpo_options&>
  advantage_summary operator()(Args&&... args) const {
    return grpo_advantages(std::forward<Args>(args)..., grpo_options::dr_grpo());
  }
};
inline constexpr dr_grpo_advantages_fn dr_grpo_advantages{};

} // namespace mmrag_rft
