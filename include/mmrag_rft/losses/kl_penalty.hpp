// SPDX-License-Identifier: Apache-2.0
// Per-token KL estimator values, for the in-reward KL penalty (verl apply_kl_penalty, OpenRLHF compute_reward).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/losses/plan.hpp>
#include <mmrag_rft/losses/options.hpp>

#include <concepts>

namespace mmrag_rft {

/// out[i, t] = KL estimator of (log_probs, ref_log_probs) at valid tokens, 0 at masked ones; returns the mean over
/// valid tokens of the per-sequence means (verl's `current_kl`, what an adaptive KL controller reads).
/// Estimators and clamps as in `kl_estimator` / `kl_clamp`. [verl kl_penalty; OpenRLHF compute_approx_kl]
/// To shape rewards as verl does: token_reward -= beta * out.
template <std::floating_point T>
double kl_penalty(matrix_view<const T> log_probs, matrix_view<const T> ref_log_probs, mask_view mask,
                  kl_estimator estimator, kl_clamp clamps, matrix_view<T> out) {
  constexpr const char* fn = "kl_penalty";
  detail::require(detail::same_shape(ref_log_probs, log_probs), fn, "ref_log_probs",
                  "must have the shape of log_probs");
  detail::require(detail::same_shape(mask, log_probs), fn, "mask", "must have the shape of log_probs");
  detail::require(detail::same_shape(out, log_probs), fn, "out", "must have the shape of log_probs");
  double mean_of_means = 0;
  std::size_t rows_counted = 0;
  for (std::size_t i = 0; i < log_probs.rows(); ++i) {
    double sum = 0;
    std::size_t n = 0;
    for (std::size_t t = 0; t < log_probs.cols(); ++t) {
      if (!mask(i, t)) {
        out(i, t) = T(0);
        continue;
      }
      const T k = detail::kl_term(log_probs(i, t), ref_log_probs(i, t), estimator, clamps, false).value;
      out(i, t) = k;
      sum += static_cast<double>(k);
      ++n;
    }
    // verl: masked_mean(kld, mask, axis=-1) then mean over the batch; rows without tokens count as 0.
    mean_of_means += n ? sum / static_cast<double>(n) : 0.0;
    ++rows_counted;
  }
  return rows_counted ? mean_of_means / static_cast<double>(rows_counted) : 0.0;
}

} // namespace mmrag_rft
