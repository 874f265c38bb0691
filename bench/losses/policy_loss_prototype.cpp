// SPDX-License-Identifier: Apache-2.0
// The vectorisable restructuring proposed in docs/performance.md (prototype.hpp), against the library's kernel
// compiled in the same translation unit with the same flags (-fno-trapping-math, set in CMakeLists.txt), so the
// difference is the code, not the flags. Before timing, the prototype's loss and gradient are compared with the
// library's: `loss_rel_diff` and `grad_max_diff` report the gap.
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include "bench/common.hpp"
#include "bench/losses/prototype.hpp"
#include "bench/losses/setup.hpp"

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace {
using namespace mmrag_rft;

template <class E>
void library(benchmark::State& state) {
  const bench::loss_shape s(state);
  const auto& b = bench::cached_batch(s.rows, s.cols);
  std::vector<float> grad(s.rows * s.cols);
  const policy_loss_inputs<float> in = bench::loss_inputs(b, s.token_adv);
  for (auto _ : state) {
    auto r = policy_loss(E{}, in, policy_loss_grads<float>{.log_probs = {grad.data(), s.rows, s.cols}},
                         bench::verl_with_kl());
    benchmark::DoNotOptimize(r);
    bench::keep_writes(grad.data());
  }
  bench::set_throughput(state, bench::loss_bytes(s.rows, s.cols, s.token_adv), s.rows * s.cols);
}

template <class E>
void prototype(benchmark::State& state) {
  const bench::loss_shape s(state);
  const auto& b = bench::cached_batch(s.rows, s.cols);
  std::vector<float> grad(s.rows * s.cols), lib_grad(s.rows * s.cols);
  const policy_loss_result lib =
      policy_loss(E{}, bench::loss_inputs(b, s.token_adv),
                  policy_loss_grads<float>{.log_probs = {lib_grad.data(), s.rows, s.cols}}, bench::verl_with_kl());
  const float* tok = s.token_adv ? b.token_advantages.data() : nullptr;
  bench::prototype::sums stats;
  double value = 0;
  for (auto _ : state) {
    value =
        bench::prototype::loss(E{}, b.log_probs.data(), b.old_log_probs.data(), b.ref_log_probs.data(), b.mask.data(),
                               tok, b.sequence_advantages.data(), s.rows, s.cols, grad.data(), stats);
    bench::keep_writes(grad.data());
  }
  double diff = 0;
  for (std::size_t k = 0; k < grad.size(); ++k)
    diff = std::max(diff, static_cast<double>(std::fabs(grad[k] - lib_grad[k])));
  bench::set_throughput(state, bench::loss_bytes(s.rows, s.cols, s.token_adv), s.rows * s.cols);
  state.counters["loss"] = value;
  state.counters["loss_rel_diff"] = std::fabs(value - lib.loss) / std::fabs(lib.loss);
  state.counters["grad_max_diff"] = diff;
  state.counters["clipfrac_diff"] =
      std::fabs(stats.clipped / static_cast<double>(lib.stats.valid_tokens) - lib.stats.pg_clipfrac);
}
} // namespace

BENCHMARK_TEMPLATE(library, exec::seq_t)->Name("policy_loss_same_flags/seq")->Apply(bench::loss_shapes);
BENCHMARK_TEMPLATE(prototype, exec::seq_t)->Name("policy_loss_prototype/seq")->Apply(bench::loss_shapes);
BENCHMARK_TEMPLATE(prototype, exec::par_t)->Name("policy_loss_prototype/par")->Apply(bench::loss_shapes);
