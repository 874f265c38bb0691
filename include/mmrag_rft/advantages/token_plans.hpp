// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The plans of the token-level estimators, written once for every backend: their options and validation, and the
// per-row scans (REINFORCE++'s discounted returns, GAE, REINFORCE++-baseline's centring) and the whitening scale.
// Host/device safe: no Eigen, no range-v3, no Thrust.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft {

struct reinforce_pp_advantages_fn;
struct reinforce_pp_baseline_advantages_fn;
struct gae_advantages_fn;
struct masked_whitening_stats_fn;
struct masked_whiten_fn;
struct broadcast_advantages_fn;

/// How REINFORCE++'s running return crosses a masked position between valid tokens (an observation span of a
/// multi-turn rollout). Trailing padding gives the same returns at the valid tokens either way.
enum class masked_returns : std::uint8_t {
  /// G restarts after every masked position, which gets r_t + gamma G_{t+1}. [verl b178a3cd: running *= mask]
  reset,
  /// A masked position keeps G as it is (its reward dropped) and gets return 0. [verl 1dda039b]
  carry,
};

/// REINFORCE++'s discount: gamma in [0, 1] and the rule at masked positions. A plain gamma converts to it (`reset`).
struct reinforce_pp_discount {
  double gamma = 1.0;
  masked_returns masked = masked_returns::reset;
  // Not explicit: `reinforce_pp_advantages(..., 0.99, ...)` keeps meaning gamma 0.99 with the reset rule.
  constexpr reinforce_pp_discount(double g = 1.0, masked_returns m = masked_returns::reset) noexcept
      : gamma(g), masked(m) {}
  /// verl compute_reinforce_plus_plus_outcome_advantage at 1dda039b.
  [[nodiscard]] static constexpr reinforce_pp_discount verl(double g) noexcept { return {g, masked_returns::carry}; }
  /// verl at b178a3cd (2026-01-29).
  [[nodiscard]] static constexpr reinforce_pp_discount verl_2026_01(double g) noexcept {
    return {g, masked_returns::reset};
  }
};

/// Mean and scale of a masked whitening: out = (x - mean) * scale.
struct whitening_stats {
  double mean = 0;
  double scale = 1; ///< 1 / sqrt(var + eps) (or 1 / sqrt(max(var, eps))); 1 when scaling is disabled
  std::size_t count = 0;
};

/// Options of `gae_advantages`. [verl AlgoConfig gamma, lam]
struct gae_options {
  double gamma = 1.0;
  double lam = 1.0;
  bool whiten = true; ///< whiten the advantages over the valid tokens (verl does)
  whitening_options whitening{};
};

namespace detail {

inline void validate_whitening(const whitening_options& o, const char* fn) {
  require(std::isfinite(o.epsilon) && o.epsilon >= 0, fn, "options.epsilon", "must be finite and >= 0");
  require(o.count_epsilon >= 0 && o.count_epsilon <= 1e-3, fn, "options.count_epsilon", "must be in [0, 1e-3]");
}

/// The mean of a whitening of `count` values summing to `sum` (the count plus `count_epsilon`, as verl's masked_mean).
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline double whitening_mean(double sum, std::size_t count,
                                                                 const whitening_options& o) noexcept {
  return sum / (static_cast<double>(count) + o.count_epsilon);
}

/// The scale of a whitening of `count` values whose squared deviations from their mean sum to `m2`.
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline double whitening_scale(double m2, std::size_t count,
                                                                  const whitening_options& o) noexcept {
  const double n = static_cast<double>(count);
  const double denom = o.variance == std_estimator::unbiased ? n - 1.0 : n;
  // Exact counts: one division. With count_epsilon, verl's masked_var: the masked_mean of the squares over N + e,
  // then the Bessel factor N / (N - 1).
  const double biased = n > 0 ? m2 / (n + o.count_epsilon) : 0.0;
  const double var = o.count_epsilon == 0                    ? (denom > 0 ? m2 / denom : 0.0)
                     : o.variance == std_estimator::unbiased ? (n > 1 ? biased * (n / (n - 1.0)) : 0.0)
                                                             : biased;
  const double v = o.clamp_variance ? (var < o.epsilon ? o.epsilon : var) : var + o.epsilon; // std::max is host-only
  return o.enabled ? 1.0 / std::sqrt(v) : 1.0;
}

template <class T>
void validate_whitening_stats(matrix_view<const T> values, mask_view mask, const whitening_options& o, const char* fn) {
  require(same_shape(values, mask), fn, "mask", "must have the shape of values");
  validate_whitening(o, fn);
}

template <class T>
void validate_broadcast(std::span<const T> advantages, mask_view mask, matrix_view<T> out) {
  require(advantages.size() == mask.rows(), "broadcast_advantages", "advantages",
          "must have one element per row of mask");
  require(same_shape(out, mask), "broadcast_advantages", "out", "must have the shape of mask");
}

/// The whitened value of one token from the batch statistics.
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE T whitened(T x, const whitening_stats& s) noexcept {
  return static_cast<T>((static_cast<double>(x) - s.mean) * s.scale);
}

/// One row of REINFORCE++'s returns, scanned backwards: G_t = r_t + gamma G_{t+1} at valid positions; masked ones
/// as `d.masked` says. False when a valid token's reward is NaN or infinite. Shared by every backend.
template <class T>
MMRAG_RFT_HOST_DEVICE bool discounted_returns_row(const T* r, const std::uint8_t* m, std::size_t cols,
                                                  reinforce_pp_discount d, T* out) noexcept {
  double running = 0;
  bool ok = true;
  const bool carry = d.masked == masked_returns::carry;
  for (std::size_t t = cols; t-- > 0;) {
    ok = ok && (m[t] == 0 || finite(r[t]));
    if (m[t] == 0 && carry) { // verl 1dda039b: the running return passes the masked position unchanged
      out[t] = T(0);
      continue;
    }
    running = static_cast<double>(r[t]) + d.gamma * running;
    out[t] = static_cast<T>(running);
    if (m[t] == 0) running = 0; // verl b178a3cd: running_return *= mask[t]
  }
  return ok;
}

template <class T>
void validate_reinforce_pp(matrix_view<const T> token_rewards, mask_view mask, reinforce_pp_discount d,
                           matrix_view<T> returns, matrix_view<T> advantages, const whitening_options& whiten) {
  const double gamma = d.gamma;
  constexpr const char* fn = "reinforce_pp_advantages";
  require(same_shape(token_rewards, mask), fn, "mask", "must have the shape of token_rewards");
  require(same_shape(returns, mask), fn, "returns", "must have the shape of token_rewards");
  require(same_shape(advantages, mask), fn, "advantages", "must have the shape of token_rewards");
  require(std::isfinite(gamma) && gamma >= 0 && gamma <= 1, fn, "gamma", "must be in [0, 1]");
  require(d.masked == masked_returns::reset || d.masked == masked_returns::carry, fn, "gamma.masked",
          "is not a masked_returns enumerator");
  validate_whitening(whiten, fn);
}

template <class T>
void validate_reinforce_pp_baseline(std::span<const T> rewards, const group_layout& groups, mask_view mask,
                                    std::span<T> advantages, const whitening_options& whiten) {
  constexpr const char* fn = "reinforce_pp_baseline_advantages";
  require_group_sizes(rewards.size(), advantages.size(), groups, fn);
  require(mask.rows() == rewards.size(), fn, "mask", "must have one row per completion");
  validate_whitening(whiten, fn);
}

/// REINFORCE++-baseline's centred reward of one group's completion: r_j minus the group mean (0 for a group of
/// one). `sum` is the group's sum in double, in index order.
template <class T>
MMRAG_RFT_HOST_DEVICE T baseline_centred(T reward, double sum, std::size_t n) noexcept {
  const double mean = n == 1 ? 0.0 : sum / static_cast<double>(n);
  return static_cast<T>(static_cast<double>(reward) - mean);
}

/// One row of GAE, scanned backwards (see gae_advantages); writes the row's advantages (before whitening) and
/// returns. False when a valid token's reward or value is NaN or infinite. Shared by every backend.
template <class T>
MMRAG_RFT_HOST_DEVICE bool gae_row(const T* rewards, const T* values, const std::uint8_t* m, std::size_t cols,
                                   double gamma, double lam, T* advantages, T* returns) noexcept {
  double next_value = 0, last_gae = 0;
  bool ok = true;
  for (std::size_t t = cols; t-- > 0;) {
    const double r = static_cast<double>(rewards[t]), val = static_cast<double>(values[t]);
    if (m[t] != 0) {
      ok = ok && finite(r) && finite(val);
      const double delta = r + gamma * next_value - val;
      last_gae = delta + gamma * lam * last_gae;
      next_value = val;
    }
    advantages[t] = static_cast<T>(last_gae);
    returns[t] = static_cast<T>(last_gae + val);
  }
  return ok;
}

template <class T>
void validate_gae(matrix_view<const T> token_rewards, matrix_view<const T> values, mask_view mask,
                  matrix_view<T> advantages, matrix_view<T> returns, const gae_options& o) {
  constexpr const char* fn = "gae_advantages";
  require(same_shape(token_rewards, mask), fn, "mask", "must have the shape of token_rewards");
  require(same_shape(values, mask), fn, "values", "must have the shape of token_rewards");
  require(same_shape(advantages, mask), fn, "advantages", "must have the shape of token_rewards");
  require(same_shape(returns, mask), fn, "returns", "must have the shape of token_rewards");
  require(std::isfinite(o.gamma) && o.gamma >= 0 && o.gamma <= 1, fn, "options.gamma", "must be in [0, 1]");
  require(std::isfinite(o.lam) && o.lam >= 0 && o.lam <= 1, fn, "options.lam", "must be in [0, 1]");
  if (o.whiten) validate_whitening(o.whitening, fn);
}

} // namespace detail
} // namespace mmrag_rft
