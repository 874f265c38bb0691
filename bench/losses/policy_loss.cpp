// SPDX-License-Identifier: Apache-2.0
// The fused PPO-clip (dual clip) + k3 KL + gradient pass of `policy_loss`, float32, token-mean, verl's defaults, on
// 1M (1024 x 1024) and 16.7M (4096 x 4096) token batches; advantages per sequence or per token (verl's [B, T] tensor);
// serial and threaded; and, in the same program, the memory floor of the same bytes.
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include "bench/common.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

namespace {
using namespace mmrag_rft;

// Batches are built once per shape (building the 16.7M-token one takes longer than timing it).
const bench::token_batch& batch(std::size_t rows, std::size_t cols) {
  static std::map<std::pair<std::size_t, std::size_t>, std::unique_ptr<bench::token_batch>> cache;
  auto& b = cache[{rows, cols}];
  if (!b) b = std::make_unique<bench::token_batch>(rows, cols, true);
  return *b;
}

struct shape {
  std::size_t rows, cols;
  bool token_adv;
  explicit shape(const benchmark::State& state)
      : rows(static_cast<std::size_t>(state.range(0))), cols(static_cast<std::size_t>(state.range(1))),
        token_adv(state.range(2) != 0) {}
};

/// verl's actor defaults with its KL loss on: vanilla PPO clip 0.2, dual clip 3, low_var_kl (k3) with verl's clamps,
/// kl_loss_coef 0.001, token-mean over the local mask.
policy_loss_options verl_with_kl() {
  policy_loss_options o = policy_loss_options::verl();
  o.kl = kl_estimator::k3;
  o.kl_coef = 0.001;
  return o;
}

template <class E>
void loss(benchmark::State& state) {
  const shape s(state);
  const auto& b = batch(s.rows, s.cols);
  std::vector<float> grad(s.rows * s.cols);
  policy_loss_inputs<float> in;
  in.log_probs = {b.log_probs.data(), s.rows, s.cols};
  in.old_log_probs = {b.old_log_probs.data(), s.rows, s.cols};
  in.ref_log_probs = {b.ref_log_probs.data(), s.rows, s.cols};
  in.mask = {b.mask.data(), s.rows, s.cols};
  if (s.token_adv) in.advantages = {b.token_advantages.data(), s.rows, s.cols};
  else in.sequence_advantages = b.sequence_advantages;
  const policy_loss_grads<float> out{.log_probs = {grad.data(), s.rows, s.cols}};
  const policy_loss_options opt = verl_with_kl();
  policy_loss_result r;
  for (auto _ : state) {
    r = policy_loss(E{}, in, out, opt);
    benchmark::DoNotOptimize(grad.data());
    benchmark::ClobberMemory();
  }
  bench::set_throughput(state, bench::loss_bytes(s.rows, s.cols, s.token_adv), s.rows * s.cols);
  state.counters["loss"] = r.loss;
  state.counters["pg_clipfrac"] = r.stats.pg_clipfrac;
  state.counters["valid_tokens"] = static_cast<double>(r.stats.valid_tokens);
}

template <class E>
void floor(benchmark::State& state) {
  const shape s(state);
  const auto& b = batch(s.rows, s.cols);
  std::vector<float> grad(s.rows * s.cols);
  for (auto _ : state) {
    bench::loss_floor(E{}, b, grad.data(), s.token_adv);
    benchmark::DoNotOptimize(grad.data());
    benchmark::ClobberMemory();
  }
  bench::set_throughput(state, bench::loss_bytes(s.rows, s.cols, s.token_adv), s.rows * s.cols);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"B", "T", "token_adv"});
  for (const std::int64_t n : {1024, 4096})
    for (const std::int64_t tok : {0, 1}) b->Args({n, n, tok});
  b->UseRealTime()->Unit(benchmark::kMillisecond);
}
} // namespace

BENCHMARK_TEMPLATE(loss, exec::seq_t)->Name("policy_loss/seq")->Apply(shapes);
BENCHMARK_TEMPLATE(loss, exec::par_t)->Name("policy_loss/par")->Apply(shapes);
BENCHMARK_TEMPLATE(floor, exec::seq_t)->Name("policy_loss_floor/seq")->Apply(shapes);
BENCHMARK_TEMPLATE(floor, exec::par_t)->Name("policy_loss_floor/par")->Apply(shapes);
