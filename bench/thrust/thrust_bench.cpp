// SPDX-License-Identifier: Apache-2.0
// exec::thrust under Thrust's OMP system (every core) against exec::par (GRPO, RLOO, the fused loss) or the serial
// CPU path (REINFORCE++, GAE, which have no threaded CPU path), on the inputs of the other benchmark programs: 1M
// completions in groups of 8, and 1024 x 1024 token batches (55% valid). Float32.
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends/thrust.hpp>
#include <mmrag_rft/losses.hpp>

#include "bench/common.hpp"
#include "bench/losses/setup.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {
using namespace mmrag_rft;

// An outcome estimator (grpo_advantages, rloo_advantages) on 1M rewards in groups of 8.
template <class E, const auto& Estimator>
void outcome(benchmark::State& state) {
  bench::reward_problem p(state);
  const auto layout = group_layout::uniform(p.n / p.g, p.g);
  for (auto _ : state) {
    auto s = Estimator(E{}, std::span<const float>(p.rewards), layout, std::span<float>(p.advantages));
    benchmark::DoNotOptimize(s);
    bench::keep_writes(p.advantages.data());
  }
  bench::set_throughput(state, p.bytes(), p.n);
}

template <class E>
void loss(benchmark::State& state) {
  const bench::loss_shape sh(state);
  const bench::token_batch& b = bench::cached_batch(sh.rows, sh.cols);
  std::vector<float> grad(b.rows * b.cols);
  const auto in = bench::loss_inputs(b, sh.token_adv);
  const policy_loss_grads<float> out{{grad.data(), b.rows, b.cols}, {}};
  const auto o = bench::verl_with_kl();
  for (auto _ : state) {
    auto r = policy_loss(E{}, in, out, o);
    benchmark::DoNotOptimize(r);
    bench::keep_writes(grad.data());
  }
  bench::set_throughput(state, b.rows * b.cols * (sh.token_adv ? 21 : 17), b.rows * b.cols);
}

// Token rewards and values for the scans: the batch's per-token advantages and old log-probs.
template <bool Thrust>
void reinforce_pp(benchmark::State& state) {
  const bench::token_batch& b = bench::cached_batch(1024, 1024);
  std::vector<float> ret(b.rows * b.cols), adv(b.rows * b.cols);
  const matrix_view<const float> r(b.token_advantages.data(), b.rows, b.cols);
  const mask_view m(b.mask.data(), b.rows, b.cols);
  for (auto _ : state) {
    whitening_stats s;
    if constexpr (Thrust)
      s = reinforce_pp_advantages(exec::thrust, r, m, 0.99, matrix_view<float>(ret.data(), b.rows, b.cols),
                                  matrix_view<float>(adv.data(), b.rows, b.cols));
    else
      s = reinforce_pp_advantages(r, m, 0.99, matrix_view<float>(ret.data(), b.rows, b.cols),
                                  matrix_view<float>(adv.data(), b.rows, b.cols));
    benchmark::DoNotOptimize(s);
    bench::keep_writes(adv.data());
  }
  bench::set_throughput(state, b.rows * b.cols * 13, b.rows * b.cols); // rewards + mask in, returns + advantages out
}

template <bool Thrust>
void gae(benchmark::State& state) {
  const bench::token_batch& b = bench::cached_batch(1024, 1024);
  std::vector<float> ret(b.rows * b.cols), adv(b.rows * b.cols);
  const matrix_view<const float> r(b.token_advantages.data(), b.rows, b.cols);
  const matrix_view<const float> v(b.old_log_probs.data(), b.rows, b.cols);
  const mask_view m(b.mask.data(), b.rows, b.cols);
  gae_options o;
  o.gamma = 0.99, o.lam = 0.95;
  for (auto _ : state) {
    whitening_stats s;
    if constexpr (Thrust)
      s = gae_advantages(exec::thrust, r, v, m, matrix_view<float>(adv.data(), b.rows, b.cols),
                         matrix_view<float>(ret.data(), b.rows, b.cols), o);
    else
      s = gae_advantages(r, v, m, matrix_view<float>(adv.data(), b.rows, b.cols),
                         matrix_view<float>(ret.data(), b.rows, b.cols), o);
    benchmark::DoNotOptimize(s);
    bench::keep_writes(adv.data());
  }
  bench::set_throughput(state, b.rows * b.cols * 17, b.rows * b.cols); // rewards + values + mask in, two outputs
}

constexpr std::int64_t completions = bench::outcome_completions, group_size = bench::outcome_group_size;
} // namespace

BENCHMARK_TEMPLATE(outcome, exec::par_t, grpo_advantages)
    ->Name("grpo/par")
    ->Args({completions, group_size})
    ->UseRealTime();
BENCHMARK_TEMPLATE(outcome, exec::thrust_t, grpo_advantages)
    ->Name("grpo/thrust_omp")
    ->Args({completions, group_size})
    ->UseRealTime();
BENCHMARK_TEMPLATE(outcome, exec::par_t, rloo_advantages)
    ->Name("rloo/par")
    ->Args({completions, group_size})
    ->UseRealTime();
BENCHMARK_TEMPLATE(outcome, exec::thrust_t, rloo_advantages)
    ->Name("rloo/thrust_omp")
    ->Args({completions, group_size})
    ->UseRealTime();
BENCHMARK_TEMPLATE(loss, exec::par_t)
    ->Name("policy_loss/par")
    ->Args({1024, 1024, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(loss, exec::thrust_t)
    ->Name("policy_loss/thrust_omp")
    ->Args({1024, 1024, 1})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(reinforce_pp, false)->Name("reinforce_pp/seq")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(reinforce_pp, true)->Name("reinforce_pp/thrust_omp")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(gae, false)->Name("gae/seq")->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(gae, true)->Name("gae/thrust_omp")->UseRealTime()->Unit(benchmark::kMillisecond);
