// SPDX-License-Identifier: Apache-2.0
// The fused PPO-clip (dual clip) + k3 KL + gradient pass of `policy_loss`, float32, token-mean, verl's defaults, on
// 1M (1024 x 1024) and 16.8M (4096 x 4096) token batches; advantages per sequence or per token (verl's [B, T] tensor);
// serial and threaded; and, in the same program, the memory floor of the same bytes.
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include "bench/common.hpp"
#include "bench/losses/setup.hpp"

#include <benchmark/benchmark.h>

#include <vector>

namespace {
using namespace mmrag_rft;

template <class E>
void loss(benchmark::State& state) {
  const bench::loss_shape s(state);
  const auto& b = bench::cached_batch(s.rows, s.cols);
  std::vector<float> grad(s.rows * s.cols);
  const policy_loss_inputs<float> in = bench::loss_inputs(b, s.token_adv);
  const policy_loss_grads<float> out{.log_probs = {grad.data(), s.rows, s.cols}};
  const policy_loss_options opt = bench::verl_with_kl();
  policy_loss_result r;
  for (auto _ : state) {
    r = policy_loss(E{}, in, out, opt);
    bench::keep_writes(grad.data());
  }
  bench::set_throughput(state, bench::loss_bytes(s.rows, s.cols, s.token_adv), s.rows * s.cols);
  state.counters["loss"] = r.loss;
  state.counters["pg_clipfrac"] = r.stats.pg_clipfrac;
  state.counters["valid_tokens"] = static_cast<double>(r.stats.valid_tokens);
}

template <class E>
void floor(benchmark::State& state) {
  const bench::loss_shape s(state);
  const auto& b = bench::cached_batch(s.rows, s.cols);
  std::vector<float> grad(s.rows * s.cols);
  for (auto _ : state) {
    bench::loss_floor(E{}, b, grad.data(), s.token_adv);
    bench::keep_writes(grad.data());
  }
  bench::set_throughput(state, bench::loss_bytes(s.rows, s.cols, s.token_adv), s.rows * s.cols);
}
} // namespace

BENCHMARK_TEMPLATE(loss, exec::seq_t)->Name("policy_loss/seq")->Apply(bench::loss_shapes);
BENCHMARK_TEMPLATE(loss, exec::par_t)->Name("policy_loss/par")->Apply(bench::loss_shapes);
BENCHMARK_TEMPLATE(floor, exec::seq_t)->Name("policy_loss_floor/seq")->Apply(bench::loss_shapes);
BENCHMARK_TEMPLATE(floor, exec::par_t)->Name("policy_loss_floor/par")->Apply(bench::loss_shapes);
