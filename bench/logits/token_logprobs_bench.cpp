// SPDX-License-Identifier: Apache-2.0
// token_logprobs_and_entropy (+ backward) on the CPU backends against the floor of reading the logits once.
// Shape: N = 1024 rows x V = 152064 (Qwen2.5's vocabulary), 623 MB of float32 logits. N = 16k would be
// 10 GB (20 GB with the gradient), too big for a 24 GB machine beside a reference; per-row work is
// independent, so time scales linearly in N. Compare with bench/logits/token_logprobs_reference.py (PyTorch).
#include <mmrag_rft/logits.hpp>
#include "bench/common.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

namespace {

using namespace mmrag_rft;

constexpr std::size_t vocab = 152064;

struct data {
  std::size_t n;
  std::vector<float> x;
  std::vector<bfloat16> xb;
  std::vector<std::int64_t> y;
  std::vector<float> lp, ent, lse, g;
  explicit data(std::size_t rows) : n(rows), x(rows * vocab), y(rows), lp(rows), ent(rows), lse(rows) {
    std::mt19937 gen(7);
    std::normal_distribution<float> d(0.0f, 2.0f);
    for (auto& e : x) e = d(gen);
    for (std::size_t i = 0; i < rows; ++i) y[i] = static_cast<std::int64_t>((i * 7919) % vocab);
  }
  [[nodiscard]] matrix_view<const float> view() const { return {x.data(), n, vocab}; }
};

data& shared(std::size_t rows) {
  static data d(rows);
  return d;
}

void set_bytes(benchmark::State& s, std::size_t bytes) {
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * bytes));
}

// The forward's floor: read every logit once (a sum with independent lanes, so the loop vectorises), by the same
// threads as the kernel.
template <class E>
void floor_read(benchmark::State& s, E exec) {
  data& d = shared(static_cast<std::size_t>(s.range(0)));
  const detail::chunking ch{d.x.size(), std::size_t{1} << 18};
  std::vector<float> part(ch.count());
  for (auto _ : s) {
    detail::for_each_chunk(exec, ch.count(), [&](std::size_t c) {
      float acc[16] = {};
      const float* p = d.x.data() + ch.begin(c);
      const std::size_t n = ch.end(c) - ch.begin(c);
      for (std::size_t j = 0; j + 16 <= n; j += 16)
        for (std::size_t k = 0; k < 16; ++k) acc[k] += p[j + k];
      for (std::size_t k = 1; k < 16; ++k) acc[0] += acc[k];
      part[c] = acc[0];
    });
    benchmark::DoNotOptimize(part.data());
  }
  set_bytes(s, d.x.size() * sizeof(float));
}

// The backward's floor: read every logit once and write every gradient once (a copy of the same bytes).
template <class E>
void floor_copy(benchmark::State& s, E exec) {
  data& d = shared(static_cast<std::size_t>(s.range(0)));
  d.g.resize(d.x.size());
  for (auto _ : s) {
    bench::copy_floor(exec, d.x.data(), d.g.data(), d.x.size());
    benchmark::DoNotOptimize(d.g.data());
  }
  set_bytes(s, 2 * d.x.size() * sizeof(float));
}

// Runs a benchmark body with the kernels capped at the baseline (SSE2) version: what the AVX2 / AVX-512 versions
// gain on this machine.
template <class F>
void at_baseline(F&& body) {
  detail::max_cpu_isa = detail::cpu_isa::baseline;
  body();
  detail::max_cpu_isa = detail::cpu_isa::avx512;
}

template <class E>
void forward(benchmark::State& s, E exec) {
  data& d = shared(static_cast<std::size_t>(s.range(0)));
  for (auto _ : s) {
    token_logprobs_and_entropy(exec, d.view(), d.y, {d.lp, d.ent, d.lse});
    benchmark::DoNotOptimize(d.lp.data());
  }
  set_bytes(s, d.x.size() * sizeof(float));
}

template <class E>
void forward_bf16(benchmark::State& s, E exec) {
  data& d = shared(static_cast<std::size_t>(s.range(0)));
  if (d.xb.empty()) {
    d.xb.resize(d.x.size());
    for (std::size_t k = 0; k < d.x.size(); ++k) d.xb[k] = bfloat16::from_float(d.x[k]);
  }
  for (auto _ : s) {
    token_logprobs_and_entropy(exec, matrix_view<const bfloat16>(d.xb.data(), d.n, vocab), d.y, {d.lp, d.ent, d.lse});
    benchmark::DoNotOptimize(d.lp.data());
  }
  set_bytes(s, d.xb.size() * sizeof(bfloat16));
}

template <class E>
void backward(benchmark::State& s, E exec) {
  data& d = shared(static_cast<std::size_t>(s.range(0)));
  token_logprobs_and_entropy(exec, d.view(), d.y, {d.lp, d.ent, d.lse});
  d.g.resize(d.x.size());
  const std::vector<float> glp(d.n, 1.0f), gh(d.n, 0.1f);
  for (auto _ : s) {
    token_logprobs_and_entropy_backward(exec, d.view(), d.y, {d.lse, d.ent, glp, gh},
                                        matrix_view<float>(d.g.data(), d.n, vocab));
    benchmark::DoNotOptimize(d.g.data());
  }
  set_bytes(s, 2 * d.x.size() * sizeof(float)); // read the logits, write the gradient
}

constexpr std::int64_t rows = 1024;

void forward_seq_baseline(benchmark::State& s) {
  at_baseline([&] { forward(s, exec::seq); });
}
void backward_seq_baseline(benchmark::State& s) {
  at_baseline([&] { backward(s, exec::seq); });
}

BENCHMARK_CAPTURE(floor_read, seq, exec::seq)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(floor_read, par, exec::par)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(floor_copy, seq, exec::seq)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(floor_copy, par, exec::par)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(forward_seq_baseline)
    ->Name("forward/seq_baseline_isa")
    ->Arg(rows)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(backward_seq_baseline)
    ->Name("backward/seq_baseline_isa")
    ->Arg(rows)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(forward, seq, exec::seq)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(forward, par, exec::par)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(forward_bf16, seq, exec::seq)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(forward_bf16, par, exec::par)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(backward, seq, exec::seq)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(backward, par, exec::par)->Arg(rows)->Unit(benchmark::kMillisecond)->UseRealTime();

} // namespace

BENCHMARK_MAIN();
