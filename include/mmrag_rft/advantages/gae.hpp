// SPDX-License-Identifier: Apache-2.0
// Generalised advantage estimation for value-based (PPO) training.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/advantages/whiten.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>

namespace mmrag_rft {

/// Options of `gae_advantages`. [verl AlgoConfig gamma, lam]
struct gae_options {
  double gamma = 1.0;
  double lam = 1.0;
  bool whiten = true; ///< whiten the advantages over the valid tokens (verl does)
  whitening_options whitening{};
};

namespace detail {

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

/// GAE (Schulman et al. 2016): delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lam A_{t+1}, scanning each
/// row backwards; at masked positions the next value and the running advantage carry through unchanged (so tokens
/// that are not the policy's, e.g. tool observations, are skipped). returns = A + V (before whitening); advantages
/// are then whitened over the valid tokens when `whiten`. [verl compute_gae_advantage_return]
///
/// All views are [B, T]. Masked positions of `advantages` are 0 (verl leaves whitened garbage there, which its loss
/// masks). NaN/inf rewards or values at valid tokens throw.
template <std::floating_point T>
whitening_stats gae_advantages(matrix_view<const T> token_rewards, matrix_view<const T> values, mask_view mask,
                               matrix_view<T> advantages, matrix_view<T> returns, const gae_options& o = {}) {
  detail::validate_gae(token_rewards, values, mask, advantages, returns, o);
  for (std::size_t i = 0; i < mask.rows(); ++i)
    detail::require(detail::gae_row(token_rewards.data() + i * token_rewards.row_stride(),
                                    values.data() + i * values.row_stride(), mask.data() + i * mask.row_stride(),
                                    mask.cols(), o.gamma, o.lam, advantages.data() + i * advantages.row_stride(),
                                    returns.data() + i * returns.row_stride()),
                    "gae_advantages", "token_rewards/values", "is NaN or infinite at a valid token of row", i);
  if (!o.whiten) {
    for (std::size_t i = 0; i < mask.rows(); ++i)
      for (std::size_t t = 0; t < mask.cols(); ++t)
        if (!mask(i, t)) advantages(i, t) = T(0);
    return {};
  }
  return masked_whiten(advantages, mask, o.whitening);
}

} // namespace mmrag_rft
