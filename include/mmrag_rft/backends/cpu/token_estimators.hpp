// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The token-level estimators on the CPU backends: REINFORCE++ (+ baseline), GAE, masked whitening and broadcast.
// Rows run in fixed chunks on exec::par; the batch statistics are summed in token order on either backend, so
// exec::par is bitwise exec::seq.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/token_plans.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>

#include <concepts>
#include <cstddef>
#include <span>
#include <vector>

namespace mmrag_rft::exec {

/// The batch statistics, summed in token order whatever the backend.
template <class T>
[[nodiscard]] whitening_stats whitening_stats_cpu(matrix_view<const T> values, mask_view mask,
                                                  const whitening_options& o) {
  whitening_stats s;
  double sum = 0;
  for (std::size_t i = 0; i < values.rows(); ++i)
    for (std::size_t t = 0; t < values.cols(); ++t)
      if (mask(i, t)) sum += static_cast<double>(values(i, t)), ++s.count;
  if (s.count == 0) return s;
  s.mean = mmrag_rft::detail::whitening_mean(sum, s.count, o);
  double m2 = 0;
  for (std::size_t i = 0; i < values.rows(); ++i)
    for (std::size_t t = 0; t < values.cols(); ++t)
      if (mask(i, t)) {
        const double d = static_cast<double>(values(i, t)) - s.mean;
        m2 += d * d;
      }
  s.scale = mmrag_rft::detail::whitening_scale(m2, s.count, o);
  return s;
}

/// Writes the whitened `in` (0 at masked positions) into `out` (which may be `in`), row by row.
template <CpuBackend E, class T>
void whiten_rows(const E& exec, matrix_view<const T> in, mask_view mask, matrix_view<T> out, const whitening_stats& s) {
  mmrag_rft::detail::for_each_row(exec, mask.rows(), mask.cols(), [&](std::size_t i) {
    for (std::size_t t = 0; t < mask.cols(); ++t)
      out(i, t) = mask(i, t) ? mmrag_rft::detail::whitened(in(i, t), s) : T(0);
  });
}

template <CpuBackend E, class T>
whitening_stats whiten_cpu(const E& exec, matrix_view<T> values, mask_view mask, const whitening_options& o) {
  const whitening_stats s = whitening_stats_cpu(matrix_view<const T>(values), mask, o);
  whiten_rows(exec, matrix_view<const T>(values), mask, values, s);
  return s;
}

template <CpuBackend E, class T>
[[nodiscard]] whitening_stats implement(const masked_whitening_stats_fn&, const E&, matrix_view<const T> values,
                                        mask_view mask, const whitening_options& o = {}) {
  mmrag_rft::detail::validate_whitening_stats(values, mask, o, "masked_whitening_stats");
  return whitening_stats_cpu(values, mask, o);
}

template <CpuBackend E, class T>
whitening_stats implement(const masked_whiten_fn&, const E& exec, matrix_view<T> values, mask_view mask,
                          const whitening_options& o = {}) {
  mmrag_rft::detail::validate_whitening_stats(matrix_view<const T>(values), mask, o, "masked_whitening_stats");
  return whiten_cpu(exec, values, mask, o);
}

template <CpuBackend E, std::floating_point T>
whitening_stats implement(const reinforce_pp_advantages_fn&, const E& exec, matrix_view<const T> token_rewards,
                          mask_view mask, reinforce_pp_discount gamma, matrix_view<T> returns,
                          matrix_view<T> advantages, const whitening_options& whiten = {}) {
  mmrag_rft::detail::validate_reinforce_pp(token_rewards, mask, gamma, returns, advantages, whiten);
  mmrag_rft::detail::for_each_row_checked(exec, mask.rows(), mask.cols(), "reinforce_pp_advantages", "token_rewards",
                                          "is NaN or infinite at a valid token", [&](std::size_t i) {
                                            return mmrag_rft::detail::discounted_returns_row(
                                                token_rewards.data() + i * token_rewards.row_stride(),
                                                mask.data() + i * mask.row_stride(), mask.cols(), gamma,
                                                returns.data() + i * returns.row_stride());
                                          });
  const whitening_stats s = whitening_stats_cpu(matrix_view<const T>(returns), mask, whiten);
  whiten_rows(exec, matrix_view<const T>(returns), mask, advantages, s);
  return s;
}

template <CpuBackend E, std::floating_point T>
whitening_stats implement(const reinforce_pp_baseline_advantages_fn&, const E&, std::span<const T> rewards,
                          const group_layout& groups, mask_view mask, std::span<T> advantages,
                          const whitening_options& whiten = {}) {
  namespace md = mmrag_rft::detail;
  md::validate_reinforce_pp_baseline(rewards, groups, mask, advantages, whiten);
  md::check_rewards(rewards, nonfinite_rewards::error, "reinforce_pp_baseline_advantages");
  for (std::size_t g = 0; g < groups.num_groups(); ++g) {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    const md::group_moments s = md::moments(rewards.data() + b, e - b);
    for (std::size_t j = b; j < e; ++j) advantages[j] = md::baseline_centred(rewards[j], s.sum, s.n);
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
    st.mean = md::whitening_mean(sum, st.count, whiten);
    double m2 = 0;
    for (std::size_t i = 0; i < mask.rows(); ++i) {
      const double d = static_cast<double>(advantages[i]) - st.mean;
      m2 += len[i] * d * d;
    }
    st.scale = md::whitening_scale(m2, st.count, whiten);
  }
  for (std::size_t i = 0; i < mask.rows(); ++i) advantages[i] = len[i] > 0 ? md::whitened(advantages[i], st) : T(0);
  return st;
}

template <CpuBackend E, std::floating_point T>
whitening_stats implement(const gae_advantages_fn&, const E& exec, matrix_view<const T> token_rewards,
                          matrix_view<const T> values, mask_view mask, matrix_view<T> advantages,
                          matrix_view<T> returns, const gae_options& o = {}) {
  mmrag_rft::detail::validate_gae(token_rewards, values, mask, advantages, returns, o);
  mmrag_rft::detail::for_each_row_checked(
      exec, mask.rows(), mask.cols(), "gae_advantages", "token_rewards/values",
      "is NaN or infinite at a valid token of row", [&](std::size_t i) {
        return mmrag_rft::detail::gae_row(token_rewards.data() + i * token_rewards.row_stride(),
                                          values.data() + i * values.row_stride(), mask.data() + i * mask.row_stride(),
                                          mask.cols(), o.gamma, o.lam, advantages.data() + i * advantages.row_stride(),
                                          returns.data() + i * returns.row_stride());
      });
  if (!o.whiten) {
    whiten_rows(exec, matrix_view<const T>(advantages), mask, advantages, whitening_stats{});
    return {};
  }
  return whiten_cpu(exec, advantages, mask, o.whitening);
}

template <CpuBackend E, std::floating_point T>
void implement(const broadcast_advantages_fn&, const E& exec, std::span<const T> advantages, mask_view mask,
               matrix_view<T> out) {
  mmrag_rft::detail::validate_broadcast(advantages, mask, out);
  mmrag_rft::detail::for_each_row(exec, mask.rows(), mask.cols(), [&](std::size_t i) {
    for (std::size_t t = 0; t < mask.cols(); ++t) out(i, t) = mask(i, t) ? advantages[i] : T(0);
  });
}

} // namespace mmrag_rft::exec
