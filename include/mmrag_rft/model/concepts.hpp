// SPDX-License-Identifier: Apache-2.0
// The model concepts a trainer needs: LogProbModel (a frozen reference model) refined by Policy (sample, backward,
// step). A ladder, as range-v3 builds range, input_range, forward_range.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/model/prompt.hpp>
#include <mmrag_rft/model/rollout.hpp>

#include <concepts>

namespace mmrag_rft {

/// A model that scores given completions. Concretely, a type M satisfies `LogProbModel` if, for `M& m`:
/// 1. `m.log_probs(prompts, rollout, out)` with `const prompt_batch&`, `const rollout_batch&` and a
///    `matrix_view<float>` of shape `[rollout.rows(), rollout.cols]` writes log pi(token | prefix) under the current
///    parameters for every response token (mask != 0); padding positions may be left untouched.
/// A policy's `log_probs` also remembers what `backward` needs (the autograd graph in LibTorch).
template <class M>
concept LogProbModel =
    requires(M& m, const prompt_batch& p, const rollout_batch& r, matrix_view<float> out) { m.log_probs(p, r, out); };

/// A frozen reference model for the KL penalty: log-probs only, never trained.
template <class M>
concept ReferenceModel = LogProbModel<M>;

/// A trainable policy. Concretely, a type P satisfies `Policy` if it is a `LogProbModel` and, for `P& p`:
/// 1. `p.generate(prompts, options)` returns a `rollout_batch` (or something convertible to one) holding
///    `options.group_size` sampled completions per prompt with their token ids, decoded text and the per-token
///    log-probs of the sampling distribution;
/// 2. `p.backward(grad)`, with `grad` a `matrix_view<const float>` of d loss / d log_probs in the shape of the last
///    `log_probs` call, accumulates parameter gradients (LibTorch: `logp.backward(grad)`);
/// 3. `p.step()` applies and clears the accumulated gradients (the optimizer step).
/// Nothing else is required: the library computes rewards, advantages and the loss itself.
template <class P>
concept Policy = LogProbModel<P> && requires(P& p, const prompt_batch& prompts, const rollout_options& opt,
                                             matrix_view<const float> grad) {
  { p.generate(prompts, opt) } -> std::convertible_to<rollout_batch>;
  p.backward(grad);
  p.step();
};

/// A policy that can also train its entropy (the loss's entropy bonus, `policy_loss_options::entropy_coeff`). A
/// `Policy` P is an `EntropyPolicy` if, for `P& p`:
/// 1. `p.log_probs_and_entropy(prompts, rollout, log_probs, entropy)` writes, besides the log-probs, the entropy of
///    the current distribution at each response token (at `rollout.temperature`), both `matrix_view<float>` of shape
///    `[rollout.rows(), rollout.cols]`, and remembers what the backward needs;
/// 2. `p.backward(grad_log_probs, grad_entropy)` (two `matrix_view<const float>` of that shape) accumulates the
///    parameter gradients of both (LibTorch: `torch::autograd::backward({logp, entropy}, {g, ge})`).
/// The sampling-time entropy of a rollout is a constant of the parameters, so only such a policy can follow the
/// bonus's gradient; `rft_step` refuses `entropy_coeff != 0` for any other.
template <class P>
concept EntropyPolicy = Policy<P> && requires(P& p, const prompt_batch& prompts, const rollout_batch& r,
                                              matrix_view<float> out, matrix_view<const float> grad) {
  p.log_probs_and_entropy(prompts, r, out, out);
  p.backward(grad, grad);
};

namespace detail {
template <class M>
concept has_log_probs = LogProbModel<M>;
template <class P>
concept has_generate = requires(P& p, const prompt_batch& prompts, const rollout_options& opt) {
  { p.generate(prompts, opt) } -> std::convertible_to<rollout_batch>;
};
template <class P>
concept has_backward = requires(P& p, matrix_view<const float> grad) { p.backward(grad); };
template <class P>
concept has_step = requires(P& p) { p.step(); };
} // namespace detail

/// Checks `Policy<P>` one requirement at a time, so that a failure reads as a sentence naming what is missing.
/// Returns true; use as `static_assert(check_policy<P>())`. Every pipeline entry point calls it.
template <class P>
[[nodiscard]] consteval bool check_policy() {
  static_assert(detail::has_log_probs<P>,
                "mmrag_rft: this type is not a Policy because it has no member log_probs(const prompt_batch&, "
                "const rollout_batch&, matrix_view<float> out) writing the log-prob of every response token");
  static_assert(detail::has_generate<P>,
                "mmrag_rft: this type is not a Policy because it has no member generate(const prompt_batch&, "
                "const rollout_options&) returning a rollout_batch of G sampled completions per prompt");
  static_assert(detail::has_backward<P>,
                "mmrag_rft: this type is not a Policy because it has no member backward(matrix_view<const float> "
                "grad) taking d loss / d log_probs of the last log_probs call");
  static_assert(detail::has_step<P>,
                "mmrag_rft: this type is not a Policy because it has no member step() applying the gradients");
  return Policy<P>;
}

/// Checks `ReferenceModel<M>` with a sentence-like message; use as `static_assert(check_reference_model<M>())`.
template <class M>
[[nodiscard]] consteval bool check_reference_model() {
  static_assert(detail::has_log_probs<M>,
                "mmrag_rft: this type is not a ReferenceModel because it has no member log_probs(const "
                "prompt_batch&, const rollout_batch&, matrix_view<float> out) writing the log-prob of every "
                "response token");
  return ReferenceModel<M>;
}

/// The "no reference model" marker: pass it where a `ReferenceModel` is optional to switch the KL term off.
struct no_reference {
  void log_probs(const prompt_batch&, const rollout_batch&, matrix_view<float>) const noexcept {}
};

} // namespace mmrag_rft
