// SPDX-License-Identifier: Apache-2.0
// Masked batch whitening over all valid tokens (REINFORCE++, REINFORCE++-baseline, GAE).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/token_plans.hpp>
#include <mmrag_rft/backends/cpu/token_estimators.hpp>
#include <mmrag_rft/backends/dispatch.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>

namespace mmrag_rft {

/// Statistics for whitening `values` over the tokens where `mask != 0`, token-weighted: mean = sum x / N,
/// var = sum (x - mean)^2 / (N - 1) (unbiased) or / N (biased). [verl masked_whiten; OpenRLHF experience_maker]
/// N = 0 gives mean 0, scale 1; N = 1 with the unbiased estimator takes var = 0 (verl raises instead).
/// Centred two-pass in double.
/// Call: `masked_whitening_stats([backend,] values, mask, options = {})`.
struct masked_whitening_stats_fn {
  template <exec::ExecutionBackend E, class T>
  requires exec::implements<E, masked_whitening_stats_fn, matrix_view<const T>, mask_view, const whitening_options&>
  whitening_stats operator()(const E& exec, matrix_view<const T> values, mask_view mask,
                             const whitening_options& o = {}) const {
    return exec::run(*this, exec.derived(), values, mask, o);
  }
  template <class T>
  whitening_stats operator()(matrix_view<const T> values, mask_view mask, const whitening_options& o = {}) const {
    return exec::run(*this, exec::seq, values, mask, o);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((exec::implements<Backend, masked_whitening_stats_fn, matrix_view<const float>,
                                                        mask_view, const whitening_options&> ||
                                       exec::implements<Backend, masked_whitening_stats_fn, matrix_view<const double>,
                                                        mask_view, const whitening_options&>));
};
inline constexpr masked_whitening_stats_fn masked_whitening_stats{};

/// Whitens `values` in place over the valid tokens; masked positions are set to 0.
/// Call: `masked_whiten([backend,] values, mask, options = {})`.
struct masked_whiten_fn {
  template <exec::ExecutionBackend E, class T>
  requires exec::implements<E, masked_whiten_fn, matrix_view<T>, mask_view, const whitening_options&>
  whitening_stats operator()(const E& exec, matrix_view<T> values, mask_view mask,
                             const whitening_options& o = {}) const {
    return exec::run(*this, exec.derived(), values, mask, o);
  }
  template <class T>
  whitening_stats operator()(matrix_view<T> values, mask_view mask, const whitening_options& o = {}) const {
    return exec::run(*this, exec::seq, values, mask, o);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED(
      (exec::implements<Backend, masked_whiten_fn, matrix_view<float>, mask_view, const whitening_options&> ||
       exec::implements<Backend, masked_whiten_fn, matrix_view<double>, mask_view, const whitening_options&>));
};
inline constexpr masked_whiten_fn masked_whiten{};

} // namespace mmrag_rft
