// SPDX-License-Identifier: Apache-2.0
// RLOO advantages of 1M completions in groups of 8, float32, contiguous groups, serial and threaded. The copy floor of
// the same bytes is `grpo_floor` in the GRPO program (same shape, same bytes).
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/rloo.hpp>

#include "bench/common.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <span>

namespace {
using namespace mmrag_rft;

template <class E>
void rloo(benchmark::State& state) {
  bench::reward_problem p(state);
  const auto layout = group_layout::uniform(p.n / p.g, p.g);
  for (auto _ : state) {
    auto s = rloo_advantages(E{}, std::span<const float>(p.rewards), layout, std::span<float>(p.advantages));
    benchmark::DoNotOptimize(s);
    bench::keep_writes(p.advantages.data());
  }
  bench::set_throughput(state, p.bytes(), p.n);
}

constexpr std::int64_t completions = bench::outcome_completions, group_size = bench::outcome_group_size;
} // namespace

BENCHMARK_TEMPLATE(rloo, exec::seq_t)->Name("rloo/seq")->Args({completions, group_size})->UseRealTime();
BENCHMARK_TEMPLATE(rloo, exec::par_t)->Name("rloo/par")->Args({completions, group_size})->UseRealTime();
