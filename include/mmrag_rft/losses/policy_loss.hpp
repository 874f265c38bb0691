// SPDX-License-Identifier: Apache-2.0
// The clipped policy-gradient loss (PPO / GSPO) with KL and entropy terms: value, gradient and statistics in one pass.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu/policy_loss.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/losses/options.hpp>
#include <mmrag_rft/losses/plan.hpp>
#include <mmrag_rft/losses/policy_loss_types.hpp>

#include <concepts>

namespace mmrag_rft {

/// The policy loss of one (micro-)batch, its gradient with respect to every token's log-probability (and entropy),
/// and its statistics, in one pass over the tokens.
///
/// Per valid token (mask != 0), with ratio r = exp(clamp(logp - old, -c, c)) (PPO) or the sequence ratio
/// r_i = exp(min(mean_t(logp - old), 10)) (GSPO):
///   l_pg = max(-A min(r, delta), -A clip(r, 1 - eps_low, 1 + eps_high)), and for A < 0 with dual clip min(l_pg, -A c);
///   times the token weight rho_t when `inputs.token_weights` is given (verl's rollout_is_weights);
///   l_kl = KL estimator of (logp, ref) (times r when importance corrected);
///   loss = agg(l_pg) + kl_coef agg(l_kl) - entropy_coeff agg(H), agg as in `loss_aggregation`, times loss_scale.
/// [verl compute_policy_loss_vanilla / compute_policy_loss_gspo / kl_penalty / agg_loss; TRL GRPOTrainer._compute_loss]
///
/// Degenerate input: an empty batch, or one without valid tokens, gives loss 0, zero gradients and zero statistics
/// (verl would give NaN). Rows without valid tokens do not count in N_seqs. NaN/inf at valid tokens: see
/// `nonfinite_policy`; values at masked positions are never read into the result, NaN included.
/// Complexity: one read of each input and one write of each gradient (plus a read of the mask when the normaliser is
/// local); O(B) memory for the partial sums. Results are bitwise identical for `exec::seq` and `exec::par`.
/// Backends: `exec::seq` (the default), `exec::par`, `exec::thrust` (<mmrag_rft/backends/thrust.hpp>), `exec::cuda`
/// (<mmrag_rft/backends/cuda/all.cuh>) and any backend with an `implement(const policy_loss_fn&, backend, inputs,
/// grads, options)` (docs/design.md).
struct policy_loss_fn {
  template <exec::ExecutionBackend E, std::floating_point T>
  requires exec::implements<E, policy_loss_fn, const policy_loss_inputs<T>&, const policy_loss_grads<T>&,
                            const policy_loss_options&>
  policy_loss_result operator()(const E& exec, const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                const policy_loss_options& opt = {}) const {
    return exec::run(*this, exec.derived(), in, out, opt);
  }
  template <std::floating_point T>
  policy_loss_result operator()(const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                const policy_loss_options& opt = {}) const {
    return exec::run(*this, exec::seq, in, out, opt);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((exec::implements<Backend, policy_loss_fn, const policy_loss_inputs<float>&,
                                                        const policy_loss_grads<float>&, const policy_loss_options&> ||
                                       exec::implements<Backend, policy_loss_fn, const policy_loss_inputs<double>&,
                                                        const policy_loss_grads<double>&, const policy_loss_options&>));
};
inline constexpr policy_loss_fn policy_loss{};

} // namespace mmrag_rft
