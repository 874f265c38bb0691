// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The plans of `opo_advantages`, `gpg_advantages`, `grpo_passk_advantages` and `remax_advantages`: one group's (or
// one completion's) pass, written once for every backend, and the argument checks every backend makes first.
// Host/device safe: no Eigen, no range-v3, no Thrust.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/core/group_layout.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace mmrag_rft {

struct opo_advantages_fn;
struct gpg_advantages_fn;
struct grpo_passk_advantages_fn;
struct remax_advantages_fn;

/// Options of `gpg_advantages`. Defaults are verl's.
struct gpg_options {
  double f_norm = 1.0; ///< the advantages are divided by it; must be finite and > 0. [verl f_norm]
  /// Multiply by alpha = B / max(1, number of non-zero rewards in the batch), GPG's correction for the completions
  /// that carry no signal. [verl: always on, its `alpha` argument is overwritten]
  bool scale_by_nonzero = true;
  /// alpha in float as verl computes it, B * (1 / M) (an int divided by an integer tensor gives a float32 tensor).
  bool float32_alpha = true;
};

/// Options of `grpo_passk_advantages`. Defaults are verl's.
struct grpo_passk_options {
  bool norm_adv_by_std_in_grpo = true; ///< divide by the group's unbiased std + epsilon
  double epsilon = 1e-6;               ///< added to the std; must be finite and >= 0
};

namespace detail {

/// The argument checks of `opo_advantages` (`mask_rows`: the mask's row count), on the host, before any reward is read.
inline void validate_opo(std::size_t rewards, std::size_t out, const group_layout& groups, std::size_t mask_rows) {
  constexpr const char* fn = "opo_advantages";
  require_group_sizes(rewards, out, groups, fn);
  require(mask_rows == rewards, fn, "mask", "must have one row per completion");
}

/// The argument checks of `gpg_advantages`.
inline void validate_gpg(std::size_t rewards, std::size_t out, const group_layout& groups, const gpg_options& o) {
  constexpr const char* fn = "gpg_advantages";
  require_group_sizes(rewards, out, groups, fn);
  require(std::isfinite(o.f_norm) && o.f_norm > 0, fn, "options.f_norm", "must be finite and > 0");
}

/// The argument checks of `grpo_passk_advantages`: sizes, epsilon, and no group of one.
inline void validate_grpo_passk(std::size_t rewards, std::size_t out, const group_layout& groups,
                                const grpo_passk_options& o) {
  constexpr const char* fn = "grpo_passk_advantages";
  require_group_sizes(rewards, out, groups, fn);
  require(std::isfinite(o.epsilon) && o.epsilon >= 0, fn, "options.epsilon", "must be finite and >= 0");
  require_no_singleton_groups(groups, fn);
}

/// The argument checks of `remax_advantages`: one greedy reward and one advantage per reward.
inline void validate_remax(std::size_t rewards, std::size_t greedy, std::size_t out) {
  constexpr const char* fn = "remax_advantages";
  require(greedy == rewards, fn, "greedy_rewards", "must have the size of rewards");
  require(out == rewards, fn, "advantages", "must have the size of rewards");
}

/// GPG's factor alpha / f_norm from the batch size and its count of non-zero rewards (an integer, so every backend
/// gets the same bits): alpha = B / max(1, M), or 1 without `scale_by_nonzero`.
[[nodiscard]] inline double gpg_scale(std::size_t batch, std::size_t nonzero, const gpg_options& o) noexcept {
  const std::size_t m = std::max<std::size_t>(1, nonzero);
  const double alpha = o.scale_by_nonzero ? static_cast<double>(batch) / static_cast<double>(m) : 1.0;
  // torch's float32 division of a scalar by a tensor multiplies by the reciprocal: B * (1 / M), both in float.
  const float alpha32 = static_cast<float>(batch) * (1.0f / static_cast<float>(m));
  return (o.float32_alpha && o.scale_by_nonzero ? static_cast<double>(alpha32) : alpha) / o.f_norm;
}

/// GPG's non-zero test of one reward, the predicate of the batch count.
template <class T>
struct is_nonzero_reward {
  MMRAG_RFT_HOST_DEVICE bool operator()(T x) const noexcept { return x != T(0); }
};

/// OPO's baseline of one group: sum_j L_j r_j / sum_j L_j with L_j the completion's token count; 0 for a group of one
/// (verl); the plain mean when the group's completions have no tokens at all (verl divides 0 by 0 there).
template <class T>
MMRAG_RFT_HOST_DEVICE double opo_baseline(const T* r, const double* len, std::size_t size) noexcept {
  if (size == 1) return 0.0;
  double weighted = 0, total = 0, plain = 0;
  for (std::size_t j = 0; j < size; ++j) {
    weighted += len[j] * static_cast<double>(r[j]);
    total += len[j];
    plain += static_cast<double>(r[j]);
  }
  return total > 0 ? weighted / total : plain / static_cast<double>(size);
}

/// One group of OPO: a_j = r_j - baseline.
template <class T>
MMRAG_RFT_HOST_DEVICE void opo_group(const T* r, const double* len, std::size_t size, T* out) noexcept {
  const double b = opo_baseline(r, len, size);
  for (std::size_t j = 0; j < size; ++j) out[j] = static_cast<T>(static_cast<double>(r[j]) - b);
}

/// One group of GPG: a_j = alpha (r_j - mean) / f_norm, mean 0 for a group of one. `scale` = alpha / f_norm.
template <class T>
MMRAG_RFT_HOST_DEVICE void gpg_group(const T* r, std::size_t size, double scale, T* out) noexcept {
  double sum = 0;
  for (std::size_t j = 0; j < size; ++j) sum += static_cast<double>(r[j]);
  const double mean = size == 1 ? 0.0 : sum / static_cast<double>(size);
  for (std::size_t j = 0; j < size; ++j) out[j] = static_cast<T>(scale * (static_cast<double>(r[j]) - mean));
}

/// One group (of two or more) of GRPO pass@k: the first completion with the largest reward gets
/// (r_max - r_second) [/ (std + eps)], every other completion 0. `r_second` is the largest reward of the others, so
/// a tie at the top gives 0 to all. False when all rewards of the group are equal.
template <class T>
MMRAG_RFT_HOST_DEVICE bool grpo_passk_group(const T* r, std::size_t size, bool norm, double eps, T* out) noexcept {
  std::size_t top = 0;
  for (std::size_t j = 1; j < size; ++j) top = r[j] > r[top] ? j : top;
  double second = 0, sum = 0;
  bool first = true, varied = false;
  for (std::size_t j = 0; j < size; ++j) {
    const double x = static_cast<double>(r[j]);
    sum += x;
    varied = varied || r[j] != r[0];
    if (j == top) continue;
    second = first || x > second ? x : second;
    first = false;
  }
  double a = static_cast<double>(r[top]) - second;
  if (norm) {
    const double mean = sum / static_cast<double>(size);
    double m2 = 0;
    for (std::size_t j = 0; j < size; ++j)
      m2 += (static_cast<double>(r[j]) - mean) * (static_cast<double>(r[j]) - mean);
    a /= std::sqrt(m2 / (static_cast<double>(size) - 1.0)) + eps;
  }
  for (std::size_t j = 0; j < size; ++j) out[j] = j == top ? static_cast<T>(a) : T(0);
  return varied;
}

/// ReMax: the sampled completion's reward minus the reward of the greedy completion of the same prompt.
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T remax_advantage(T reward, T greedy_reward) noexcept {
  return static_cast<T>(static_cast<double>(reward) - static_cast<double>(greedy_reward));
}

} // namespace detail
} // namespace mmrag_rft
