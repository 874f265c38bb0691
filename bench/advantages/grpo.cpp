// SPDX-License-Identifier: Apache-2.0
// GRPO advantages of 1M completions in groups of 8, float32: contiguous groups (seq, par), uid-keyed groups (verl's
// grouping, the grouping itself timed), and the copy floor of the same bytes (read the rewards, write the advantages).
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo.hpp>

#include "bench/common.hpp"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace {
using namespace mmrag_rft;

template <class E>
void grpo_contiguous(benchmark::State& state) {
  bench::reward_problem p(state);
  const auto layout = group_layout::uniform(p.n / p.g, p.g);
  advantage_summary s;
  for (auto _ : state) {
    s = grpo_advantages(E{}, std::span<const float>(p.rewards), layout, std::span<float>(p.advantages));
    bench::keep_writes(p.advantages.data());
  }
  bench::set_throughput(state, p.bytes(), p.n);
  state.counters["degenerate_groups"] = static_cast<double>(s.degenerate_groups);
}

// verl groups by a uid per prompt; here the uid is a 64-bit key per completion and building the grouping is timed,
// as verl's dict building is part of its loop.
template <class E>
void grpo_keyed(benchmark::State& state) {
  bench::reward_problem p(state);
  std::vector<std::uint64_t> uid(p.n);
  for (std::size_t j = 0; j < p.n; ++j) uid[j] = bench::mix(j / p.g);
  for (auto _ : state) {
    const auto keys = keyed_groups::from_keys(std::span<const std::uint64_t>(uid));
    auto s = grpo_advantages(E{}, std::span<const float>(p.rewards), keys, std::span<float>(p.advantages));
    benchmark::DoNotOptimize(s);
    bench::keep_writes(p.advantages.data());
  }
  bench::set_throughput(state, p.bytes(), p.n);
}

template <class E>
void grpo_copy_floor(benchmark::State& state) {
  bench::reward_problem p(state);
  for (auto _ : state) {
    bench::copy_floor(E{}, p.rewards.data(), p.advantages.data(), p.n);
    bench::keep_writes(p.advantages.data());
  }
  bench::set_throughput(state, p.bytes(), p.n);
}

constexpr std::int64_t completions = bench::outcome_completions, group_size = bench::outcome_group_size;
} // namespace

BENCHMARK_TEMPLATE(grpo_contiguous, exec::seq_t)->Name("grpo/seq")->Args({completions, group_size})->UseRealTime();
BENCHMARK_TEMPLATE(grpo_contiguous, exec::par_t)->Name("grpo/par")->Args({completions, group_size})->UseRealTime();
BENCHMARK_TEMPLATE(grpo_keyed, exec::seq_t)->Name("grpo_keyed/seq")->Args({completions, group_size})->UseRealTime();
// The grouping is serial; par runs the estimator on it with the threads.
BENCHMARK_TEMPLATE(grpo_keyed, exec::par_t)->Name("grpo_keyed/par")->Args({completions, group_size})->UseRealTime();
BENCHMARK_TEMPLATE(grpo_copy_floor, exec::seq_t)
    ->Name("grpo_floor/seq")
    ->Args({completions, group_size})
    ->UseRealTime();
BENCHMARK_TEMPLATE(grpo_copy_floor, exec::par_t)
    ->Name("grpo_floor/par")
    ->Args({completions, group_size})
    ->UseRealTime();
