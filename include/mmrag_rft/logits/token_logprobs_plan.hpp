// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/logits.hpp>
// The plan of the logit kernels, written once for every backend: their options, outputs and validation. The
// per-element math is the online softmax (logits/detail/online_softmax.hpp); the CPU row kernels and the CUDA
// kernels hold the loops around it.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace mmrag_rft {

struct token_logprobs_and_entropy_fn;
struct token_logprobs_and_entropy_backward_fn;

/// Options of `token_logprobs_and_entropy` and its backward.
struct token_logprobs_options {
  /// Logits are divided by this before the softmax, z = x / T (computed as x * (1/T), within 1 ulp). It must equal
  /// the temperature the completions were sampled with: the old log-probs of the importance ratio come from the
  /// sampler's distribution softmax(x / T), so any other T makes r != 1 on-policy and biases every step (reported by
  /// TRL and NeMo-RL users). Must be finite and > 0.
  double temperature = 1.0;
};

/// Where the forward writes; each span has one element per row of the logits. Only `log_probs` is required.
struct token_logprobs_outputs {
  std::span<float> log_probs; ///< log softmax(x / T)[y] of each row's chosen token y.
  std::span<float> entropy;   ///< -sum_j p_j log p_j of each row's softmax(x / T); empty: not computed.
  std::span<float> lse;       ///< log sum_j exp(x_j / T), saved for the backward; empty: not written.
};

/// What the backward reads besides the logits and tokens: the forward's saved `lse` (and `entropy`) and the upstream
/// gradients. An empty gradient span means zero (e.g. no entropy term in the loss).
struct token_logprobs_grads {
  std::span<const float> lse;            ///< from the forward; required.
  std::span<const float> entropy;        ///< from the forward; required when `grad_entropy` is given.
  std::span<const float> grad_log_probs; ///< dL/dlogp per row; empty: 0.
  std::span<const float> grad_entropy;   ///< dL/dH per row; empty: 0.
};

namespace detail {

inline constexpr const char* token_logprobs_fn_name = "token_logprobs_and_entropy";
inline constexpr const char* token_logprobs_bwd_name = "token_logprobs_and_entropy_backward";

/// Checks shapes and options (never reads the data, so it serves device pointers too).
template <class L>
void validate_token_logprobs_shapes(const char* fn, const matrix_view<const L>& logits, std::size_t tokens,
                                    const token_logprobs_options& opt) {
  const double t = opt.temperature;
  require(std::isfinite(t) && t > 0, fn, "options.temperature",
          "must be finite and > 0 (and equal to the sampling temperature), not " + std::to_string(t));
  require(logits.rows() == 0 || logits.cols() > 0, fn, "logits", "has rows but no columns (vocabulary size 0)");
  require(logits.rows() == 0 || !logits.empty(), fn, "logits", "is null but has rows");
  require(logits.row_stride() >= logits.cols() || logits.rows() <= 1, fn, "logits",
          "has a row stride smaller than its number of columns");
  require(tokens == logits.rows(), fn, "tokens",
          "must have one element per row of logits (" + std::to_string(logits.rows()) + "), not " +
              std::to_string(tokens));
}

inline void validate_token_ids(const char* fn, std::span<const std::int64_t> tokens, std::size_t vocab) {
  for (std::size_t i = 0; i < tokens.size(); ++i)
    require(tokens[i] >= 0 && static_cast<std::uint64_t>(tokens[i]) < vocab, fn, "tokens",
            "is " + std::to_string(tokens[i]) + ", outside the vocabulary [0, " + std::to_string(vocab) + ")", i);
}

inline void validate_forward_outputs(std::size_t rows, const token_logprobs_outputs& out) {
  constexpr const char* fn = token_logprobs_fn_name;
  require(out.log_probs.size() == rows, fn, "outputs.log_probs", "must have one element per row of logits");
  require(out.entropy.empty() || out.entropy.size() == rows, fn, "outputs.entropy",
          "must be empty or have one element per row of logits");
  require(out.lse.empty() || out.lse.size() == rows, fn, "outputs.lse",
          "must be empty or have one element per row of logits");
}

template <class L, class G>
void validate_backward_args(std::size_t rows, const matrix_view<const L>& logits, const token_logprobs_grads& in,
                            const matrix_view<G>& grad_logits) {
  constexpr const char* fn = token_logprobs_bwd_name;
  require(in.lse.size() == rows, fn, "grads.lse", "must be the forward's lse, one element per row of logits");
  require(in.grad_log_probs.empty() || in.grad_log_probs.size() == rows, fn, "grads.grad_log_probs",
          "must be empty or have one element per row of logits");
  require(in.grad_entropy.empty() || in.grad_entropy.size() == rows, fn, "grads.grad_entropy",
          "must be empty or have one element per row of logits");
  require(in.grad_entropy.empty() || in.entropy.size() == rows, fn, "grads.entropy",
          "must be the forward's entropy when grad_entropy is given");
  require(detail::same_shape(grad_logits, logits) && (rows == 0 || !grad_logits.empty()), fn, "grad_logits",
          "must have the shape of logits");
  require(grad_logits.row_stride() >= grad_logits.cols() || rows <= 1, fn, "grad_logits",
          "has a row stride smaller than its number of columns");
}

} // namespace detail
} // namespace mmrag_rft
