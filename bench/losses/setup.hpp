// SPDX-License-Identifier: Apache-2.0
// Set-up shared by the policy-loss benchmark programs: cached batches, the shapes, verl's options, the input views.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include "bench/common.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <utility>

namespace mmrag_rft::bench {

/// The batch of a shape, built once per program (building the 16.8M-token one takes longer than timing it).
inline const token_batch& cached_batch(std::size_t rows, std::size_t cols) {
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<token_batch>> cache;
  auto& b = cache[{rows, cols}];
  if (!b) b = std::make_unique<token_batch>(rows, cols, true);
  return *b;
}

/// The benchmark arguments: B, T, and whether advantages are per token (verl's [B, T]) or per sequence.
struct loss_shape {
  std::size_t rows, cols;
  bool token_adv;
  explicit loss_shape(const benchmark::State& state)
      : rows(static_cast<std::size_t>(state.range(0))), cols(static_cast<std::size_t>(state.range(1))),
        token_adv(state.range(2) != 0) {}
};

/// 1M (1024 x 1024) and 16.8M (4096 x 4096) tokens, each with advantages per sequence and per token.
inline void loss_shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "T", "token_adv"});
  for (const std::int64_t n : {1024, 4096})
    for (const std::int64_t tok : {0, 1}) b->Args({n, n, tok});
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}

/// verl's actor defaults with its KL loss on: vanilla PPO clip 0.2, dual clip 3, low_var_kl (k3) with verl's clamps,
/// kl_loss_coef 0.001, token-mean over the local mask.
inline policy_loss_options verl_with_kl() {
  policy_loss_options o = policy_loss_options::verl();
  o.kl = kl_estimator::k3;
  o.kl_coef = 0.001;
  return o;
}

/// The `policy_loss` input views of a batch.
inline policy_loss_inputs<float> loss_inputs(const token_batch& b, bool token_adv) {
  policy_loss_inputs<float> in;
  in.log_probs = {b.log_probs.data(), b.rows, b.cols};
  in.old_log_probs = {b.old_log_probs.data(), b.rows, b.cols};
  in.ref_log_probs = {b.ref_log_probs.data(), b.rows, b.cols};
  in.mask = {b.mask.data(), b.rows, b.cols};
  if (token_adv) in.advantages = {b.token_advantages.data(), b.rows, b.cols};
  else in.sequence_advantages = b.sequence_advantages;
  return in;
}

} // namespace mmrag_rft::bench
