// SPDX-License-Identifier: Apache-2.0
// Masked batch whitening over all valid tokens (REINFORCE++, REINFORCE++-baseline, GAE).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace mmrag_rft {

/// Mean and scale of a masked whitening: out = (x - mean) * scale.
struct whitening_stats {
  double mean = 0;
  double scale = 1; ///< 1 / sqrt(var + eps) (or 1 / sqrt(max(var, eps))); 1 when scaling is disabled
  std::size_t count = 0;
};

namespace detail {

inline void validate_whitening(const whitening_options& o, const char* fn) {
  require(std::isfinite(o.epsilon) && o.epsilon >= 0, fn, "options.epsilon", "must be finite and >= 0");
}

/// The scale of a whitening of `count` values whose squared deviations from their mean sum to `m2`.
[[nodiscard]] inline double whitening_scale(double m2, std::size_t count, const whitening_options& o) noexcept {
  const double n = static_cast<double>(count);
  const double denom = o.variance == std_estimator::unbiased ? n - 1.0 : n;
  const double var = denom > 0 ? m2 / denom : 0.0;
  return o.enabled ? 1.0 / std::sqrt(o.clamp_variance ? std::max(var, o.epsilon) : var + o.epsilon) : 1.0;
}

} // namespace detail

/// Statistics for whitening `values` over the tokens where `mask != 0`, token-weighted: mean = sum x / N,
/// var = sum (x - mean)^2 / (N - 1) (unbiased) or / N (biased). [verl masked_whiten; OpenRLHF experience_maker]
/// N = 0 gives mean 0, scale 1; N = 1 with the unbiased estimator takes var = 0 (verl raises instead).
/// Centred two-pass in double.
template <class T>
[[nodiscard]] whitening_stats masked_whitening_stats(matrix_view<const T> values, mask_view mask,
                                                     const whitening_options& o) {
  detail::require(detail::same_shape(values, mask), "masked_whitening_stats", "mask", "must have the shape of values");
  detail::validate_whitening(o, "masked_whitening_stats");
  whitening_stats s;
  double sum = 0;
  for (std::size_t i = 0; i < values.rows(); ++i)
    for (std::size_t t = 0; t < values.cols(); ++t)
      if (mask(i, t)) sum += static_cast<double>(values(i, t)), ++s.count;
  if (s.count == 0) return s;
  s.mean = sum / static_cast<double>(s.count);
  double m2 = 0;
  for (std::size_t i = 0; i < values.rows(); ++i)
    for (std::size_t t = 0; t < values.cols(); ++t)
      if (mask(i, t)) {
        const double d = static_cast<double>(values(i, t)) - s.mean;
        m2 += d * d;
      }
  s.scale = detail::whitening_scale(m2, s.count, o);
  return s;
}

/// Whitens `values` in place over the valid tokens; masked positions are set to 0.
template <class T>
whitening_stats masked_whiten(matrix_view<T> values, mask_view mask, const whitening_options& o = {}) {
  const whitening_stats s = masked_whitening_stats(matrix_view<const T>(values), mask, o);
  for (std::size_t i = 0; i < values.rows(); ++i)
    for (std::size_t t = 0; t < values.cols(); ++t)
      values(i, t) = mask(i, t) ? static_cast<T>((static_cast<double>(values(i, t)) - s.mean) * s.scale) : T(0);
  return s;
}

} // namespace mmrag_rft
