// SPDX-License-Identifier: Apache-2.0
// REINFORCE++ (token-level discounted returns, batch whitening) and REINFORCE++-baseline (group mean subtracted, then
// batch whitening).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/advantages/whiten.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mmrag_rft {

namespace detail {

/// One row of REINFORCE++'s returns, scanned backwards: G_t = r_t + gamma G_{t+1}, reset after every masked
/// position. False when a valid token's reward is NaN or infinite. Shared by every backend.
template <class T>
MMRAG_RFT_HOST_DEVICE bool discounted_returns_row(const T* r, const std::uint8_t* m, std::size_t cols, double gamma,
                                                  T* out) noexcept {
  double running = 0;
  bool ok = true;
  for (std::size_t t = cols; t-- > 0;) {
    ok = ok && (m[t] == 0 || finite(r[t]));
    running = static_cast<double>(r[t]) + gamma * running;
    out[t] = static_cast<T>(running);
    if (m[t] == 0) running = 0; // verl: running_return *= mask[t]
  }
  return ok;
}

template <class T>
void validate_reinforce_pp(matrix_view<const T> token_rewards, mask_view mask, double gamma, matrix_view<T> returns,
                           matrix_view<T> advantages, const whitening_options& whiten) {
  constexpr const char* fn = "reinforce_pp_advantages";
  require(same_shape(token_rewards, mask), fn, "mask", "must have the shape of token_rewards");
  require(same_shape(returns, mask), fn, "returns", "must have the shape of token_rewards");
  require(same_shape(advantages, mask), fn, "advantages", "must have the shape of token_rewards");
  require(std::isfinite(gamma) && gamma >= 0 && gamma <= 1, fn, "gamma", "must be in [0, 1]");
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

} // namespace detail

/// REINFORCE++ (Hu 2025, arXiv 2501.03262), token level: returns G_t = r_t + gamma G_{t+1}, the running return reset
/// after every masked position; advantages = masked batch whitening of the returns, 0 at masked positions.
/// [verl compute_reinforce_plus_plus_outcome_advantage]
///
/// `token_rewards`, `mask`, `returns` and `advantages` are [B, T]; `returns` may alias nothing else. `gamma` in [0, 1].
/// An empty batch or one without valid tokens gives zeros. NaN/inf token rewards at valid positions throw.
/// Complexity: three passes over [B, T].
template <std::floating_point T>
whitening_stats reinforce_pp_advantages(matrix_view<const T> token_rewards, mask_view mask, double gamma,
                                        matrix_view<T> returns, matrix_view<T> advantages,
                                        const whitening_options& whiten = {}) {
  detail::validate_reinforce_pp(token_rewards, mask, gamma, returns, advantages, whiten);
  for (std::size_t i = 0; i < mask.rows(); ++i)
    detail::require(detail::discounted_returns_row(token_rewards.data() + i * token_rewards.row_stride(),
                                                   mask.data() + i * mask.row_stride(), mask.cols(), gamma,
                                                   returns.data() + i * returns.row_stride()),
                    "reinforce_pp_advantages", "token_rewards", "is NaN or infinite at a valid token", i);
  const whitening_stats s = masked_whitening_stats(matrix_view<const T>(returns), mask, whiten);
  for (std::size_t i = 0; i < mask.rows(); ++i)
    for (std::size_t t = 0; t < mask.cols(); ++t)
      advantages(i, t) = mask(i, t) ? static_cast<T>((static_cast<double>(returns(i, t)) - s.mean) * s.scale) : T(0);
  return s;
}

/// REINFORCE++-baseline: a_i = r_i - mean_g (the group mean; a group of one has mean 0), then whitened over all valid
/// tokens of the batch — token-weighted, so long responses weigh more in the batch statistics.
/// [verl compute_reinforce_plus_plus_baseline_outcome_advantage; OpenRLHF "reinforce_baseline"]
///
/// The result is constant over each row's valid tokens, so it is written per sequence: `advantages[i]`; pass it to
/// `policy_loss` as `sequence_advantages`, or expand it with `broadcast_advantages`. `mask` ([B, T], B = number of
/// completions) gives the token counts. NaN/inf rewards throw, naming the index.
template <std::floating_point T>
whitening_stats reinforce_pp_baseline_advantages(std::span<const T> rewards, const group_layout& groups,
                                                 mask_view mask, std::span<T> advantages,
                                                 const whitening_options& whiten = {}) {
  detail::validate_reinforce_pp_baseline(rewards, groups, mask, advantages, whiten);
  detail::check_rewards(rewards, nonfinite_rewards::error, "reinforce_pp_baseline_advantages");
  for (std::size_t g = 0; g < groups.num_groups(); ++g) {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    const detail::group_moments s = detail::moments(rewards.data() + b, e - b);
    for (std::size_t j = b; j < e; ++j) advantages[j] = detail::baseline_centred(rewards[j], s.sum, s.n);
  }
  // Token-weighted statistics from row lengths: sum_i len_i a_i and sum_i len_i (a_i - mean)^2.
  std::vector<double> len(mask.rows());
  whitening_stats st;
  double sum = 0;
  for (std::size_t i = 0; i < mask.rows(); ++i) {
    std::size_t l = 0;
    for (std::size_t t = 0; t < mask.cols(); ++t) l += mask(i, t) != 0;
    len[i] = static_cast<double>(l);
    st.count += l;
    sum += len[i] * static_cast<double>(advantages[i]);
  }
  if (st.count > 0) {
    st.mean = sum / static_cast<double>(st.count);
    double m2 = 0;
    for (std::size_t i = 0; i < mask.rows(); ++i) {
      const double d = static_cast<double>(advantages[i]) - st.mean;
      m2 += len[i] * d * d;
    }
    st.scale = detail::whitening_scale(m2, st.count, whiten);
  }
  for (std::size_t i = 0; i < mask.rows(); ++i)
    advantages[i] = len[i] > 0 ? static_cast<T>((static_cast<double>(advantages[i]) - st.mean) * st.scale) : T(0);
  return st;
}

} // namespace mmrag_rft
