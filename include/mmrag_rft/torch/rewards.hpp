// SPDX-License-Identifier: Apache-2.0
// Rewards as LibTorch tensors: `score_batch`'s totals (and per-rule scores) in the dtype the advantages take.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/rewards/batch.hpp>
#include <mmrag_rft/torch/detail/tensor_view.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace mmrag_rft::libtorch {

namespace detail {
inline void require_reward_dtype(torch::Dtype dtype, const char* fn) {
  require(dtype == torch::kFloat || dtype == torch::kDouble, fn, "dtype",
          "must be float32 or float64 (what grpo_advantages takes), not " + std::string(c10::toString(dtype)));
}
} // namespace detail

/// `values` copied into a fresh 1-D tensor `[values.size()]` of `dtype` on `device`: float32 (the default, what the
/// loss and the float advantages use) or float64 (the doubles as they are). The tensor owns its memory. A CUDA
/// `device` gets one host-to-device copy of the converted values (rewards are scored on the host), ready for
/// `grpo_advantages` on that device.
[[nodiscard]] inline torch::Tensor to_tensor(std::span<const double> values, torch::Dtype dtype = torch::kFloat,
                                             const torch::Device& device = torch::kCPU) {
  detail::require_reward_dtype(dtype, "libtorch::to_tensor");
  torch::Tensor out = torch::empty({static_cast<std::int64_t>(values.size())}, torch::TensorOptions().dtype(dtype));
  if (dtype == torch::kDouble) std::copy(values.begin(), values.end(), out.data_ptr<double>());
  else {
    float* o = out.data_ptr<float>();
    for (std::size_t i = 0; i < values.size(); ++i) o[i] = static_cast<float>(values[i]);
  }
  return device.is_cpu() ? out : out.to(device);
}

/// The weighted totals of `score_batch` as a `[N]` tensor, row i the reward of completion i: the input of
/// `libtorch::grpo_advantages(rewards_tensor(scores), G)`.
[[nodiscard]] inline torch::Tensor rewards_tensor(const batch_scores& scores, torch::Dtype dtype = torch::kFloat,
                                                  const torch::Device& device = torch::kCPU) {
  return to_tensor(scores.totals, dtype, device);
}

/// The unweighted per-rule scores of `score_batch` as an `[N, R]` tensor (row i completion i, column r rule r in
/// composite order: `scores.names[r]`), e.g. to log a rule's mean or to normalise each reward apart (GDPO).
[[nodiscard]] inline torch::Tensor rule_scores_tensor(const batch_scores& scores, torch::Dtype dtype = torch::kFloat,
                                                      const torch::Device& device = torch::kCPU) {
  detail::require(scores.scores.size() == scores.totals.size() * scores.num_rules, "libtorch::rule_scores_tensor",
                  "scores", "must hold num_rules scores per completion (a batch_scores from score_batch)");
  return to_tensor(scores.scores, dtype, device)
      .view({static_cast<std::int64_t>(scores.totals.size()), static_cast<std::int64_t>(scores.num_rules)});
}

} // namespace mmrag_rft::libtorch
