// SPDX-License-Identifier: Apache-2.0
// The clipped value-function loss of PPO critics (GAE users): value, gradient in the value predictions, clip fraction.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/losses/options.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <optional>
#include <vector>

namespace mmrag_rft {

/// Options of `value_loss`. Defaults are verl's critic defaults at 1dda039b (cliprange_value 0.5, token-mean).
struct value_loss_options {
  double cliprange_value = 0.5; ///< c: predictions clipped to old values +- c; finite, > 0. [verl cliprange_value]
  /// As in `loss_aggregation`, with verl's agg_loss rules: token-mean divides by N_tokens exactly,
  /// seq-mean-token-mean by |o_i| + count_epsilon, seq-mean-token-sum-norm by N_seqs C (C = T, the padded length,
  /// unless given; N_seqs only with `sum_norm_seq_mean`).
  loss_aggregation aggregation = loss_aggregation::token_mean;
  /// Global N_tokens / N_seqs / C; nullopt: from the local mask (C: the padded length). Finite, > 0.
  std::optional<double> normalizer;
  double loss_scale = 1.0; ///< The loss and gradient are multiplied by this (e.g. dp_size). Finite.
  /// Added to the row length of seq-mean-token-mean and to the count of the clip fraction; in [0, 1e-3].
  /// [verl 1e-8]
  double count_epsilon = 1e-8;
  /// seq-mean-token-sum-norm also divides by N_seqs: `sum_norm_sequences` when given (verl's global_batch_size;
  /// finite, > 0), else the rows with a valid token. [verl since 1dda039b: true; b178a3cd: false]
  bool sum_norm_seq_mean = true;
  std::optional<double> sum_norm_sequences;

  /// verl's agg_loss at b178a3cd (2026-01-29): seq-mean-token-sum-norm divides by C only. The defaults are verl's at
  /// 1dda039b.
  [[nodiscard]] static value_loss_options verl_2026_01() {
    value_loss_options o;
    o.sum_norm_seq_mean = false;
    return o;
  }
};

struct value_loss_result {
  double loss = 0;       ///< 0.5 * agg(max((v - R)^2, (clip(v, old - c, old + c) - R)^2)) * loss_scale
  double clipfrac = 0;   ///< valid tokens where the clipped error is larger / (N + e). [verl critic/vf_clipfrac]
  double vpred_mean = 0; ///< mean prediction over the valid tokens / (N + e). [verl critic/vpred_mean]
  std::size_t valid_tokens = 0;
  std::size_t valid_sequences = 0;
};

namespace detail {

template <class T>
struct value_token_term {
  double loss; ///< max of the two squared errors
  double grad; ///< d loss / d vpred
  bool clipped;
};

/// One token of the clipped value loss. Where the two errors tie (the prediction inside the clip range) both
/// branches have the gradient 2 (v - R); the clipped branch has 0 outside the range, where clip is constant.
[[nodiscard]] inline value_token_term<double> value_token(double v, double ret, double old, double c) noexcept {
  const double lo = old - c, hi = old + c;
  const double vc = std::clamp(v, lo, hi);
  const double e1 = v - ret, e2 = vc - ret;
  const double l1 = e1 * e1, l2 = e2 * e2;
  const bool clipped = l2 > l1;
  const double inside = (v >= lo && v <= hi) ? 1.0 : 0.0;
  return {clipped ? l2 : l1, clipped ? 2.0 * e2 * inside : 2.0 * e1, clipped};
}

} // namespace detail

/// The clipped value loss of one (micro-)batch, its gradient d loss / d vpreds (written into `grad_vpreds`, 0 at
/// masked tokens) and the clip fraction. All views are [B, T] of the same shape.
///   l_t = max((v_t - R_t)^2, (clip(v_t, V_t - c, V_t + c) - R_t)^2), loss = 0.5 * agg(l) * loss_scale.
/// [verl compute_value_loss with agg_loss at 1dda039b; b178a3cd with `value_loss_options::verl_2026_01()`]
/// Degenerate input: no valid tokens gives loss 0, zero gradient and zero statistics (verl: NaN for token-mean).
/// A NaN or infinite vpred, return or old value at a valid token is an error naming the row; values at masked
/// positions are never read into the result. Rows are processed in fixed chunks: `exec::par` == `exec::seq` bitwise.
template <exec::CpuBackend E, std::floating_point T>
value_loss_result value_loss(const E& exec, matrix_view<const T> vpreds, matrix_view<const T> returns,
                             matrix_view<const T> old_values, mask_view mask, matrix_view<T> grad_vpreds,
                             const value_loss_options& o = {}) {
  constexpr const char* fn = "value_loss";
  detail::require(detail::same_shape(returns, vpreds), fn, "returns", "must have the shape of vpreds");
  detail::require(detail::same_shape(old_values, vpreds), fn, "old_values", "must have the shape of vpreds");
  detail::require(detail::same_shape(mask, vpreds), fn, "mask", "must have the shape of vpreds");
  detail::require(detail::same_shape(grad_vpreds, vpreds), fn, "grad_vpreds", "must have the shape of vpreds");
  detail::require(std::isfinite(o.cliprange_value) && o.cliprange_value > 0, fn, "options.cliprange_value",
                  "must be finite and > 0");
  detail::require(!o.normalizer || (std::isfinite(*o.normalizer) && *o.normalizer > 0), fn, "options.normalizer",
                  "must be finite and > 0");
  detail::require(std::isfinite(o.loss_scale), fn, "options.loss_scale", "must be finite");
  detail::require(!o.sum_norm_sequences || (std::isfinite(*o.sum_norm_sequences) && *o.sum_norm_sequences > 0), fn,
                  "options.sum_norm_sequences", "must be finite and > 0");
  detail::require(o.count_epsilon >= 0 && o.count_epsilon <= 1e-3, fn, "options.count_epsilon", "must be in [0, 1e-3]");
  const std::size_t B = vpreds.rows(), L = vpreds.cols();

  std::vector<std::size_t> counts(B);
  detail::for_each_row_checked(exec, B, L, fn, "vpreds, returns or old_values", "is NaN or infinite at a valid token",
                               [&](std::size_t i) {
                                 std::size_t n = 0;
                                 bool ok = true;
                                 for (std::size_t t = 0; t < L; ++t)
                                   if (mask(i, t)) {
                                     ++n;
                                     ok = ok && std::isfinite(static_cast<double>(vpreds(i, t))) &&
                                          std::isfinite(static_cast<double>(returns(i, t))) &&
                                          std::isfinite(static_cast<double>(old_values(i, t)));
                                   }
                                 counts[i] = n;
                                 return ok;
                               });
  value_loss_result r;
  for (std::size_t n : counts) r.valid_tokens += n, r.valid_sequences += n ? 1 : 0;

  // Per-row weight w_i of sum_t l_it, before the 0.5 and loss_scale.
  const double n_tokens = o.normalizer.value_or(static_cast<double>(r.valid_tokens));
  const double n_seqs = o.normalizer.value_or(static_cast<double>(r.valid_sequences));
  const double sum_norm =
      o.normalizer.value_or(static_cast<double>(L)) *
      (o.sum_norm_seq_mean ? o.sum_norm_sequences.value_or(static_cast<double>(r.valid_sequences)) : 1.0);
  auto row_weight = [&](std::size_t n) -> double {
    if (n == 0) return 0.0;
    switch (o.aggregation) {
    case loss_aggregation::token_mean: return 1.0 / n_tokens;
    case loss_aggregation::seq_mean_token_sum: return 1.0 / n_seqs;
    case loss_aggregation::seq_mean_token_mean: return 1.0 / ((static_cast<double>(n) + o.count_epsilon) * n_seqs);
    case loss_aggregation::seq_mean_token_sum_norm: return 1.0 / sum_norm;
    case loss_aggregation::token_sum: return 1.0;
    }
    return 0.0;
  };

  struct row_sums {
    double loss = 0, vpred = 0;
    std::size_t clipped = 0;
  };
  std::vector<row_sums> rows(B);
  const double c = o.cliprange_value;
  detail::for_each_row(exec, B, L, [&](std::size_t i) {
    const double g = 0.5 * row_weight(counts[i]) * o.loss_scale;
    row_sums s;
    for (std::size_t t = 0; t < L; ++t) {
      if (!mask(i, t)) {
        grad_vpreds(i, t) = T(0);
        continue;
      }
      const double v = static_cast<double>(vpreds(i, t));
      const auto k =
          detail::value_token(v, static_cast<double>(returns(i, t)), static_cast<double>(old_values(i, t)), c);
      grad_vpreds(i, t) = static_cast<T>(g * k.grad);
      s.loss += k.loss;
      s.vpred += v;
      s.clipped += k.clipped ? 1 : 0;
    }
    s.loss *= g;
    rows[i] = s;
  });
  if (r.valid_tokens == 0) return r;
  double loss = 0, vpred = 0;
  std::size_t clipped = 0;
  for (const auto& s : rows) loss += s.loss, vpred += s.vpred, clipped += s.clipped;
  const double denom = static_cast<double>(r.valid_tokens) + o.count_epsilon;
  r.loss = loss;
  r.clipfrac = static_cast<double>(clipped) / denom;
  r.vpred_mean = vpred / denom;
  return r;
}

/// `value_loss` on exec::seq.
template <std::floating_point T>
value_loss_result value_loss(matrix_view<const T> vpreds, matrix_view<const T> returns, matrix_view<const T> old_values,
                             mask_view mask, matrix_view<T> grad_vpreds, const value_loss_options& o = {}) {
  return value_loss(exec::seq, vpreds, returns, old_values, mask, grad_vpreds, o);
}

} // namespace mmrag_rft
