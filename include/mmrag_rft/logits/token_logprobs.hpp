// SPDX-License-Identifier: Apache-2.0
// Chosen-token log-probabilities and entropy straight from logits, and their backward, one pass per row each.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu/token_logprobs.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>
#include <mmrag_rft/logits/token_logprobs_plan.hpp>

#include <cstdint>
#include <span>

namespace mmrag_rft {

/// Log-probability of each row's chosen token and the entropy of each row's distribution, straight from the logits,
/// with the softmax never materialised: one pass over each row keeps a running max, sum of exponentials and
/// entropy moment (online softmax), then logp_i = x_{i,y_i} / T - lse_i and H_i = log s - q / s.
/// [PyTorch log_softmax(x / T).gather(y) and -(p * log p).sum(); verl entropy_from_logits; Milakov & Gimelshein 2018]
///
/// `logits` is `[N, V]` (float or `bfloat16`, rows may be strided, e.g. a `[:, :-1]` slice), `tokens` `[N]` (int64,
/// as torch.long), outputs float `[N]`. Temperature: see `token_logprobs_options` (it must equal the sampling
/// temperature). Save `outputs.lse` when you will call the backward.
///
/// Degenerate input: N = 0 does nothing; V = 1 gives logp 0 and entropy 0; a -inf logit has probability 0 (a chosen
/// token with logit -inf gets logp -inf); a row of only -inf logits, a NaN or a +inf logit give NaN, as PyTorch does.
/// Throws `mmrag_rft::error` for a temperature that is not finite and > 0, a token id outside [0, V) (naming the row)
/// or mismatched sizes. Complexity: reads each logit once (O(N V)), O(1) extra memory per thread; `exec::par` splits
/// rows, results are bitwise identical to `exec::seq`.
struct token_logprobs_and_entropy_fn {
  template <exec::ExecutionBackend E, class L>
  static constexpr bool supports =
      exec::implements<E, token_logprobs_and_entropy_fn, matrix_view<const L>, std::span<const std::int64_t>,
                       const token_logprobs_outputs&, const token_logprobs_options&>;

  template <exec::ExecutionBackend E>
  requires supports<E, float>
  void operator()(const E& exec, matrix_view<const float> logits, std::span<const std::int64_t> tokens,
                  const token_logprobs_outputs& out, const token_logprobs_options& opt = {}) const {
    exec::run(*this, exec.derived(), logits, tokens, out, opt);
  }
  template <exec::ExecutionBackend E>
  requires supports<E, bfloat16>
  void operator()(const E& exec, matrix_view<const bfloat16> logits, std::span<const std::int64_t> tokens,
                  const token_logprobs_outputs& out, const token_logprobs_options& opt = {}) const {
    exec::run(*this, exec.derived(), logits, tokens, out, opt);
  }
  void operator()(matrix_view<const float> logits, std::span<const std::int64_t> tokens,
                  const token_logprobs_outputs& out, const token_logprobs_options& opt = {}) const {
    exec::run(*this, exec::seq, logits, tokens, out, opt);
  }
  void operator()(matrix_view<const bfloat16> logits, std::span<const std::int64_t> tokens,
                  const token_logprobs_outputs& out, const token_logprobs_options& opt = {}) const {
    exec::run(*this, exec::seq, logits, tokens, out, opt);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((supports<Backend, float> || supports<Backend, bfloat16>));
};
inline constexpr token_logprobs_and_entropy_fn token_logprobs_and_entropy{};

/// The backward of `token_logprobs_and_entropy`: writes dL/dx for every logit in one pass per row, from the forward's
/// saved lse (and entropy) and the upstream dL/dlogp and dL/dH:
///   dL/dx_ij = (1/T) [ g_lp,i ([j == y_i] - p_ij) - g_H,i p_ij (log p_ij + H_i) ],  p_ij = exp(x_ij / T - lse_i).
/// [the derivative of log_softmax and of the entropy; PyTorch autograd of the reference formulation]
///
/// `grad_logits` has the shape of `logits` and is float or `bfloat16` (rounded once per element); every element is
/// written (it is not accumulated into). A -inf logit gets gradient 0. p is recomputed as exp(x / T - lse), so its
/// absolute error is about ulp(lse): negligible for real logits (|x / T| < 1e4), not for rows shifted by 1e30.
/// Throws as the forward does. Complexity: reads
/// each logit once and writes each gradient once, O(1) extra memory per thread.
struct token_logprobs_and_entropy_backward_fn {
  template <exec::ExecutionBackend E, class L, class G>
  requires(
      detail::is_logit_element_v<L> && detail::is_logit_element_v<G> &&
      exec::implements<E, token_logprobs_and_entropy_backward_fn, matrix_view<const L>, std::span<const std::int64_t>,
                       const token_logprobs_grads&, matrix_view<G>, const token_logprobs_options&>)
  void operator()(const E& exec, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                  const token_logprobs_grads& in, matrix_view<G> grad_logits,
                  const token_logprobs_options& opt = {}) const {
    exec::run(*this, exec.derived(), logits, tokens, in, grad_logits, opt);
  }
  template <class L, class G>
  requires(detail::is_logit_element_v<L> && detail::is_logit_element_v<G>)
  void operator()(matrix_view<const L> logits, std::span<const std::int64_t> tokens, const token_logprobs_grads& in,
                  matrix_view<G> grad_logits, const token_logprobs_options& opt = {}) const {
    exec::run(*this, exec::seq, logits, tokens, in, grad_logits, opt);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED(
      (exec::implements<Backend, token_logprobs_and_entropy_backward_fn, matrix_view<const float>,
                        std::span<const std::int64_t>, const token_logprobs_grads&, matrix_view<float>,
                        const token_logprobs_options&>));
};
inline constexpr token_logprobs_and_entropy_backward_fn token_logprobs_and_entropy_backward{};

} // namespace mmrag_rft
