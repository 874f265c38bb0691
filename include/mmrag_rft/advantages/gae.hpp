// SPDX-License-Identifier: Apache-2.0
// Generalised advantage estimation for value-based (PPO) training.
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

/// GAE (Schulman et al. 2016): delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lam A_{t+1}, scanning each
/// row backwards; at masked positions the next value and the running advantage carry through unchanged (so tokens
/// that are not the policy's, e.g. tool observations, are skipped). returns = A + V (before whitening); advantages
/// are then whitened over the valid tokens when `whiten`. [verl compute_gae_advantage_return]
///
/// All views are [B, T]. Masked positions of `advantages` are 0 (verl leaves whitened garbage there, which its loss
/// masks). NaN/inf rewards or values at valid tokens throw.
/// Call: `gae_advantages([backend,] token_rewards, values, mask, advantages, returns, options = {})`.
struct gae_advantages_fn {
  template <exec::ExecutionBackend E, std::floating_point T>
  requires exec::implements<E, gae_advantages_fn, matrix_view<const T>, matrix_view<const T>, mask_view, matrix_view<T>,
                            matrix_view<T>, const gae_options&>
  whitening_stats operator()(const E& exec, matrix_view<const T> token_rewards,
                             std::type_identity_t<matrix_view<const T>> values, mask_view mask,
                             std::type_identity_t<matrix_view<T>> advantages,
                             std::type_identity_t<matrix_view<T>> returns, const gae_options& o = {}) const {
    return exec::run(*this, exec.derived(), token_rewards, values, mask, advantages, returns, o);
  }
  template <std::floating_point T>
  whitening_stats operator()(matrix_view<const T> token_rewards, std::type_identity_t<matrix_view<const T>> values,
                             mask_view mask, std::type_identity_t<matrix_view<T>> advantages,
                             std::type_identity_t<matrix_view<T>> returns, const gae_options& o = {}) const {
    return exec::run(*this, exec::seq, token_rewards, values, mask, advantages, returns, o);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED(
      (exec::implements<Backend, gae_advantages_fn, matrix_view<const float>, matrix_view<const float>, mask_view,
                        matrix_view<float>, matrix_view<float>, const gae_options&>));
};
inline constexpr gae_advantages_fn gae_advantages{};

} // namespace mmrag_rft
