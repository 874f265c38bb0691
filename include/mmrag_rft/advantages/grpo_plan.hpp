// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The plan of `grpo_advantages`, written once for every backend: validation, the batch std, one group's moments and
// decision (singletons, degenerate groups), the advantage of each completion, and the status words a backend's
// group pass reports and reduces into the summary. The CPU loops, the Thrust functors and the CUDA kernels call these.
// Host/device safe: no Eigen, no range-v3, no Thrust.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft {

struct grpo_advantages_fn;

namespace detail {

/// Whether `v` is one of the enumerators (a switch with no default: one added later and not listed draws -Wswitch).
[[nodiscard]] constexpr bool known(singleton_group v) noexcept {
  switch (v) {
  case singleton_group::unit_std:
  case singleton_group::unit_std_float32:
  case singleton_group::zero:
  case singleton_group::error: return true;
  }
  return false;
}

/// The argument checks of `grpo_advantages`, on the host, before any backend reads a reward.
inline void validate_grpo(std::size_t rewards, std::size_t out, std::size_t keep, const group_layout& groups,
                          const grpo_options& o) {
  constexpr const char* fn = "grpo_advantages";
  require_group_sizes(rewards, out, groups, fn);
  require(keep == 0 || keep == rewards, fn, "keep", "must be empty or have the size of rewards");
  require(std::isfinite(o.epsilon) && o.epsilon >= 0, fn, "options.epsilon", "must be finite and >= 0");
  // Enumerators cast from integers or read from a configuration; an unknown singleton rule would flag an error group.
  require(o.std == std_estimator::unbiased || o.std == std_estimator::biased, fn, "options.std",
          "is not a std_estimator enumerator");
  require(known(o.singleton), fn, "options.singleton", "is not a singleton_group enumerator");
  require(o.scale == reward_scale::group || o.scale == reward_scale::batch, fn, "options.scale",
          "is not a reward_scale enumerator");
  require(o.nonfinite == nonfinite_rewards::error || o.nonfinite == nonfinite_rewards::mask_out, fn,
          "options.nonfinite", "is not a nonfinite_rewards enumerator");
  if (o.singleton == singleton_group::error) require_no_singleton_groups(groups, fn);
}

/// TRL's scale_rewards="batch": the std over all n finite rewards of the batch from their centred sum of squares
/// (0 for fewer than two).
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline double grpo_batch_std(double n, double m2, std_estimator e) noexcept {
  return n > 1 ? std::sqrt(m2 / (e == std_estimator::unbiased ? n - 1.0 : n)) : 0.0;
}

/// The batch std of `reward_scale::batch` as every group uses it: `sd` is the std of the rewards times `scale`, which
/// is 1, or `grpo_overflow_scale` when the batch's centred squares overflow (finite rewards near DBL_MAX, whose std
/// may itself exceed DBL_MAX: {-1.7e308, 1.7e308} has an unbiased std of 2.4e308); every group then takes its moments
/// at that scale too, so that r - mean and the std are divided at one scale and no advantage becomes 0 or NaN.
struct grpo_batch_spread {
  double sd = 0.0;
  double scale = 1.0;
};

struct finite_sum {
  double n = 0, sum = 0;
};
struct finite_sum_plus {
  MMRAG_RFT_HOST_DEVICE finite_sum operator()(const finite_sum& a, const finite_sum& b) const noexcept {
    return {a.n + b.n, a.sum + b.sum};
  }
};
template <class T>
struct finite_sum_of {
  double scale = 1.0; ///< the rewards' factor (a power of two): 1, or the overflow scale of `grpo_batch_spread`
  MMRAG_RFT_HOST_DEVICE finite_sum operator()(T x) const noexcept {
    return finite(x) ? finite_sum{1.0, static_cast<double>(x) * scale} : finite_sum{0.0, 0.0};
  }
};
/// GRPO advantage of one completion from its group's statistics. [verl compute_grpo_outcome_advantage]
/// `scale` (a power of two) is the factor the group's moments were taken with (1 but for the overflow fallback of
/// `grpo_group`): mean and stddev are then scaled, and so is epsilon, which leaves the quotient unchanged.
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T grpo_advantage(T reward, double mean, double stddev, double epsilon,
                                                 bool divide_by_std, double scale = 1.0) noexcept {
  const double centred = static_cast<double>(reward) * scale - mean;
  return static_cast<T>(divide_by_std ? centred / (stddev + epsilon * scale) : centred / scale);
}

/// The factor the moments of a group whose rewards overflow double arithmetic (sum, deviation or square: m2 is not
/// finite although every reward is) are retaken with: 2^-600 brings |r| <= 2^1024 to 2^424, whose squares and sums
/// stay finite, and being a power of two it changes no significant bit of a normal reward.
inline constexpr double grpo_overflow_scale = 0x1p-600;

enum grpo_group_status : std::uint32_t {
  grpo_degenerate = 1,
  grpo_singleton = 2,
  grpo_singleton_error = 4,
  grpo_masked_shift = 3, ///< masked-out count lives above the flags
};

/// The batch spread of `reward_scale::batch` from sequential passes over the rewards (the CPU back ends' rule, and
/// what a user back end calls; `{0, 1}` for `reward_scale::group`): the std of the finite rewards, retaken at
/// `grpo_overflow_scale` when their centred squares overflow.
template <class T>
[[nodiscard]] grpo_batch_spread grpo_batch_spread_of(std::span<const T> rewards, const grpo_options& o) noexcept {
  grpo_batch_spread batch;
  if (o.scale != reward_scale::batch) return batch;
  group_moments b = moments(rewards.data(), rewards.size());
  if (!(b.m2 <= DBL_MAX)) b = moments(rewards.data(), rewards.size(), batch.scale = grpo_overflow_scale);
  batch.sd = grpo_batch_std(static_cast<double>(b.n), b.m2, o.std);
  return batch;
}

/// What a group's moments decide: the mean and std its advantages use, whether they are all 0, and its status.
struct grpo_group_decision {
  double mean, sd;
  double epsilon; ///< what the advantage adds to sd: the option's, or 0 where sd already holds it
  bool zero;
  std::uint32_t flags;
};

/// The per-group rules of `grpo_advantages` (singletons, degenerate groups, batch std) from the group's finite count
/// n, mean and centred sum of squares m2, shared by the Thrust functor and the CUDA kernels.
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline grpo_group_decision grpo_decide(std::size_t n, double mean, double m2,
                                                                           double batch_std, bool batch_scale,
                                                                           bool unbiased, singleton_group singleton,
                                                                           double epsilon) noexcept {
  const double denom = unbiased ? static_cast<double>(n) - 1.0 : static_cast<double>(n);
  grpo_group_decision d{mean, batch_scale ? batch_std : (denom > 0 ? std::sqrt(m2 / denom) : 0.0), epsilon, n == 0, 0};
  if (n == 1) {
    d.flags |= grpo_singleton;
    if (singleton == singleton_group::unit_std) d.mean = 0.0, d.sd = 1.0;
    else if (singleton == singleton_group::unit_std_float32)
      d.mean = 0.0, d.sd = static_cast<double>(1.0f + static_cast<float>(epsilon)), d.epsilon = 0.0;
    else if (singleton == singleton_group::zero) d.zero = true;
    else d.flags |= grpo_singleton_error, d.zero = true;
  } else if (n >= 2 && m2 == 0.0) {
    // Exactly 0, as documented, whatever the std and epsilon: with epsilon = 0 the division would be 0 / 0.
    d.flags |= grpo_degenerate, d.zero = true;
  }
  return d;
}

/// One group of any layout (the general rule): its moments (`AllFinite`: the rewards were checked at the boundary,
/// so the loops drop the per-element tests), its decision, then every completion's advantage and keep flag (`keep`
/// may be null). Returns the group's status word (flags, masked-out count above them).
template <bool AllFinite, class T>
MMRAG_RFT_HOST_DEVICE std::uint32_t grpo_group(const T* r, std::size_t size, T* out, std::uint8_t* keep,
                                               const grpo_options& o, grpo_batch_spread batch) noexcept {
  group_moments s = moments<AllFinite>(r, size);
  // Finite rewards whose sum, deviations or squares overflow (|r| near DBL_MAX), or a batch std taken at the overflow
  // scale: the moments again, scaled.
  const bool batch_scale = o.scale == reward_scale::batch;
  const double scale = s.m2 <= DBL_MAX && !(batch_scale && batch.scale != 1.0) ? 1.0 : grpo_overflow_scale;
  // With the batch std, m2 only tells whether the group is all-equal: a finite m2 at scale 1 tells it exactly, where
  // the scaled one may underflow to 0 ({3, 5} at 2^-600).
  const double m2_unscaled = s.m2;
  if (scale != 1.0) s = moments<AllFinite>(r, size, scale);
  const double m2 = batch_scale && m2_unscaled <= DBL_MAX ? m2_unscaled : s.m2;
  const double batch_sd = batch.scale == scale ? batch.sd : batch.sd * scale;
  const grpo_group_decision d =
      grpo_decide(s.n, s.mean, m2, batch_sd, batch_scale, o.std == std_estimator::unbiased, o.singleton, o.epsilon);
  std::uint32_t masked = 0;
  for (std::size_t j = 0; j < size; ++j) {
    const bool ok = AllFinite || finite(r[j]);
    masked += !ok;
    out[j] = (d.zero || !ok) ? T(0) : grpo_advantage(r[j], d.mean, d.sd, d.epsilon, o.norm_adv_by_std_in_grpo, scale);
    if (keep) keep[j] = ok ? 1 : 0;
  }
  return d.flags | (masked << grpo_masked_shift);
}

/// GRPO over groups [g0, g1) of a uniform layout of finite rewards (G >= 2): the moments inlined (double, centred
/// second pass, as `moments`), one division per group, and with a compile-time G (the common 2, 4, 8, 16) the sums
/// taken pairwise in a fixed tree, every loop unrolled. An all-equal group (members compared, not the mean as sum / n)
/// gets exactly 0, whatever epsilon; a group whose moments overflow takes `grpo_group`'s scaled rule. The advantage
/// multiplies by 1 / (std + epsilon), within an ulp of dividing.
template <std::size_t FixedG, class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE void
grpo_uniform_groups(const T* __restrict r, T* __restrict out, std::size_t g0, std::size_t g1, std::size_t runtime_g,
                    const grpo_options& o, grpo_batch_spread batch, advantage_summary& part) {
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
      bool same = true;
      for (std::size_t j = 0; j < FixedG; ++j) t[j] = v[j] = static_cast<double>(x[j]);
      for (std::size_t j = 1; j < FixedG; ++j) same &= v[j] == v[0];
      for (std::size_t w = FixedG / 2; w >= 1; w /= 2)
        for (std::size_t k = 0; k < w; ++k) t[k] += t[k + w];
      mean = same ? v[0] : t[0] / n;
      for (std::size_t j = 0; j < FixedG; ++j) d2[j] = (v[j] - mean) * (v[j] - mean);
      for (std::size_t w = FixedG / 2; w >= 1; w /= 2)
        for (std::size_t k = 0; k < w; ++k) d2[k] += d2[k + w];
      m2 = d2[0];
    } else {
      const group_moments s = moments<true>(x, gs);
      mean = s.mean, m2 = s.m2;
    }
    // Rare: rewards near DBL_MAX overflowed the sums, or a batch std so large (or taken at the overflow scale) that
    // its inverse would be subnormal and lose bits: the general rule, which divides.
    if (!(m2 <= DBL_MAX) || (!by_group && !(batch.scale == 1.0 && batch.sd < 0x1p1021))) {
      degenerate += (grpo_group<true>(x, gs, y, nullptr, o, batch) & grpo_degenerate) != 0;
      continue;
    }
    const bool zero = m2 == 0.0;
    degenerate += zero;
    const double sd = by_group ? std::sqrt(m2 / denom) : batch.sd;
    const double inv = o.norm_adv_by_std_in_grpo ? 1.0 / (sd + o.epsilon) : 1.0;
    for (std::size_t j = 0; j < gs; ++j) y[j] = zero ? T(0) : static_cast<T>((static_cast<double>(x[j]) - mean) * inv);
  }
  part.degenerate_groups += degenerate;
}

/// One group of a uniform layout of finite rewards with the fixed-size rule, the group size resolved to a
/// compile-time constant where it is a common one: what every backend runs per group when the whole batch takes the
/// uniform rule (`grpo_uniform_rule`), so that each group's bits are the same on every backend.
template <class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE std::uint32_t
grpo_uniform_group(const T* r, T* out, std::size_t gs, const grpo_options& o, grpo_batch_spread batch) noexcept {
  advantage_summary p;
  switch (gs) {
  case 2: grpo_uniform_groups<2>(r, out, 0, 1, gs, o, batch, p); break;
  case 4: grpo_uniform_groups<4>(r, out, 0, 1, gs, o, batch, p); break;
  case 8: grpo_uniform_groups<8>(r, out, 0, 1, gs, o, batch, p); break;
  case 16: grpo_uniform_groups<16>(r, out, 0, 1, gs, o, batch, p); break;
  default: grpo_uniform_groups<0>(r, out, 0, 1, gs, o, batch, p); break;
  }
  return p.degenerate_groups ? grpo_degenerate : 0u;
}

/// Whether a batch takes the uniform rule: finite rewards (checked, or `nonfinite = error`), equal groups of two or
/// more.
[[nodiscard]] inline bool grpo_uniform_rule(bool all_checked, const group_layout& groups) noexcept {
  return all_checked && groups.is_uniform() && groups.uniform_size() >= 2;
}

struct grpo_counts {
  std::size_t degenerate = 0, singleton = 0, singleton_error = 0, masked = 0;
};
struct grpo_counts_of {
  MMRAG_RFT_HOST_DEVICE grpo_counts operator()(std::uint32_t s) const noexcept {
    return {(s & grpo_degenerate) ? 1u : 0u, (s & grpo_singleton) ? 1u : 0u, (s & grpo_singleton_error) ? 1u : 0u,
            static_cast<std::size_t>(s >> grpo_masked_shift)};
  }
};
struct grpo_counts_plus {
  MMRAG_RFT_HOST_DEVICE grpo_counts operator()(const grpo_counts& a, const grpo_counts& b) const noexcept {
    return {a.degenerate + b.degenerate, a.singleton + b.singleton, a.singleton_error + b.singleton_error,
            a.masked + b.masked};
  }
};
} // namespace detail
} // namespace mmrag_rft
