// SPDX-License-Identifier: Apache-2.0
// The result of sampling G completions per prompt: padded token ids, sampling log-probs, masks and decoded text.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/core/sample.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mmrag_rft {

/// How a policy samples: G completions per prompt, at most `max_new_tokens` each.
struct rollout_options {
  std::size_t group_size = 8;      ///< G, completions per prompt. [paper-notes: GRPO groups of 4-8]
  std::size_t max_new_tokens = 64; ///< completions stop here (`completion::truncated` = true) or at end-of-sequence.
  double temperature = 1.0;        ///< 0 means greedy (argmax) decoding, for evaluation.

  /// The temperature the rollout's log-probs belong to (`rollout_batch::temperature`): T, or 1 when greedy.
  [[nodiscard]] constexpr double log_prob_temperature() const noexcept { return temperature > 0 ? temperature : 1.0; }
  std::uint64_t seed = 0; ///< sampling seed; equal seeds and parameters give equal rollouts.
};

/// G sampled completions for each of P prompts, in one padded `[P * G, T]` layout: row `p * G + g` is completion `g`
/// of prompt `p`, so `layout()` is uniform with group size G.
///
/// `tokens`, `log_probs` and `mask` are row-major `[rows, cols]`; `mask` is 1 for every generated token (the
/// end-of-sequence token included, padding excluded). `log_probs` are the sampling policy's log-probabilities of the
/// sampled tokens (the "old" log-probs of PPO); `entropy` holds the sampling distribution's entropy per token, or is
/// empty when the policy does not report it. `completions[r]` is the decoded text of row r as the reward rules see it.
///
/// `temperature` is the T of the distribution softmax(logits / T) that `log_probs` and `entropy` belong to: the
/// sampling temperature, and 1 for greedy decoding (`rollout_options::temperature` = 0). A policy's `log_probs`
/// must recompute the log-probs at this T (`token_logprobs_options::temperature`): at any other T the importance
/// ratio is not 1 on-policy and every step is biased (reported by TRL and NeMo-RL users). `rft_step` checks that a
/// policy's rollout states the temperature it was asked to sample at.
struct rollout_batch {
  std::size_t num_prompts = 0;
  std::size_t group_size = 0;
  std::size_t cols = 0;
  double temperature = 1.0;
  std::vector<std::int32_t> tokens;
  std::vector<float> log_probs;
  std::vector<float> entropy;
  std::vector<std::uint8_t> mask;
  std::vector<completion> completions;

  /// An all-padding batch of the given shape, for a policy to fill.
  [[nodiscard]] static rollout_batch zeros(std::size_t num_prompts, std::size_t group_size, std::size_t cols,
                                           bool with_entropy = true) {
    rollout_batch b;
    b.num_prompts = num_prompts, b.group_size = group_size, b.cols = cols;
    const std::size_t n = num_prompts * group_size * cols;
    b.tokens.assign(n, 0);
    b.log_probs.assign(n, 0.0f);
    if (with_entropy) b.entropy.assign(n, 0.0f);
    b.mask.assign(n, 0);
    b.completions.resize(num_prompts * group_size);
    return b;
  }

  [[nodiscard]] std::size_t rows() const noexcept { return num_prompts * group_size; }
  [[nodiscard]] group_layout layout() const { return group_layout::uniform(num_prompts, group_size); }
  [[nodiscard]] matrix_view<const std::int32_t> token_view() const noexcept { return {tokens.data(), rows(), cols}; }
  [[nodiscard]] matrix_view<const float> log_prob_view() const noexcept { return {log_probs.data(), rows(), cols}; }
  [[nodiscard]] matrix_view<const float> entropy_view() const noexcept {
    return entropy.empty() ? matrix_view<const float>{} : matrix_view<const float>{entropy.data(), rows(), cols};
  }
  [[nodiscard]] mask_view response_mask() const noexcept { return {mask.data(), rows(), cols}; }

  /// Throws `mmrag_rft::error` unless every array has the size its shape asks for; `who` names the caller.
  void validate(const char* who) const {
    const std::size_t n = rows() * cols;
    detail::require(tokens.size() == n, who, "rollout.tokens", "must hold rows * cols elements");
    detail::require(log_probs.size() == n, who, "rollout.log_probs", "must hold rows * cols elements");
    detail::require(entropy.empty() || entropy.size() == n, who, "rollout.entropy", "must be empty or rows * cols");
    detail::require(mask.size() == n, who, "rollout.mask", "must hold rows * cols elements");
    detail::require(completions.size() == rows(), who, "rollout.completions", "must hold one entry per row");
    detail::require(std::isfinite(temperature) && temperature > 0, who, "rollout.temperature",
                    "must be finite and > 0 (the sampling temperature; 1 for greedy decoding), not " +
                        std::to_string(temperature));
  }
};

} // namespace mmrag_rft
