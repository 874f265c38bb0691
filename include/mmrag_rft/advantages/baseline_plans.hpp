// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The plans of `opo_advantages`, `gpg_advantages`, `grpo_passk_advantages` and `remax_advantages`: one group's (or
// one completion's) pass, written once for every backend. Host/device safe: no Eigen, no range-v3, no Thrust.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>

#include <cmath>
#include <cstddef>

namespace mmrag_rft {

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
