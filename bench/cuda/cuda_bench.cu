// SPDX-License-Identifier: Apache-2.0
// GPU benchmarks of issue 5, each against the memory floor measured in the same run (a device-to-device copy of the
// same number of bytes): the fused policy loss + gradient for 16.7M float tokens, GRPO for 1M completions, and
// token_logprobs_and_entropy (+ backward) for N = 16k rows x V = 152k. Times come from CUDA events (UseManualTime).
// The PyTorch side of the comparison is bench/logits/token_logprobs_reference.py --device cuda.
#include <mmrag_rft/backends/cuda/all.cuh>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

namespace {

using namespace mmrag_rft;
namespace mc = mmrag_rft::gpu;

void check(cudaError_t e) { mc::detail::check_cuda(e, "bench"); }

struct buffer {
  void* p = nullptr;
  explicit buffer(std::size_t bytes) { check(cudaMalloc(&p, bytes > 0 ? bytes : 1)); }
  ~buffer() { cudaFree(p); }
  template <class T>
  [[nodiscard]] T* as() const { return static_cast<T*>(p); }
};

template <class Fn>
void timed(benchmark::State& s, Fn&& fn, std::size_t bytes) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a));
  check(cudaEventCreate(&b));
  fn(); // warm-up
  for (auto _ : s) {
    check(cudaEventRecord(a));
    fn();
    check(cudaEventRecord(b));
    check(cudaEventSynchronize(b));
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b));
    s.SetIterationTime(ms / 1e3);
  }
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations() * bytes));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

// The floor: copying `bytes` reads and writes them, so bytes_moved = 2 x bytes.
void copy_floor(benchmark::State& s) {
  const auto bytes = static_cast<std::size_t>(s.range(0));
  buffer src(bytes), dst(bytes);
  timed(s, [&] { check(cudaMemcpyAsync(dst.p, src.p, bytes, cudaMemcpyDeviceToDevice)); }, 2 * bytes);
}

// 16.7M tokens = 4096 sequences x 4096 tokens; reads logp, old, adv (per token), mask; writes grad.
void fused_policy_loss(benchmark::State& s) {
  const std::size_t b = 4096, t = 4096, n = b * t;
  buffer lp(n * 4), old(n * 4), adv(n * 4), g(n * 4), m(n);
  check(cudaMemset(lp.p, 0, n * 4));
  check(cudaMemset(old.p, 0, n * 4));
  check(cudaMemset(adv.p, 0, n * 4));
  check(cudaMemset(m.p, 1, n));
  const std::size_t wsb = mc::policy_loss_workspace_bytes(b);
  buffer ws(wsb);
  policy_loss_inputs<float> in;
  in.log_probs = {lp.as<float>(), b, t};
  in.old_log_probs = {old.as<float>(), b, t};
  in.advantages = {adv.as<float>(), b, t};
  in.mask = mask_view(m.as<std::uint8_t>(), b, t);
  const policy_loss_grads<float> out{{g.as<float>(), b, t}, {}};
  policy_loss_options o;
  o.normalizer = static_cast<double>(n); // global normaliser: no counting pre-pass
  const mc::launch l{nullptr, ws.p, wsb, false};
  timed(s, [&] { (void)mc::policy_loss(l, in, out, o); }, n * (4 * 4 + 1));
}

void grpo_1m(benchmark::State& s) {
  const std::size_t n = 1 << 20;
  buffer r(n * 4), a(n * 4);
  check(cudaMemset(r.p, 0, n * 4));
  const group_layout g = group_layout::uniform(n / 16, 16);
  grpo_options o;
  o.nonfinite = nonfinite_rewards::mask_out;
  const std::size_t wsb = mc::grpo_workspace_bytes<float>(g, o);
  buffer ws(wsb);
  const mc::launch l{nullptr, ws.p, wsb, false};
  timed(s, [&] {
    (void)mc::grpo_advantages(l, std::span<const float>(r.as<float>(), n), g, nullptr, std::span<float>(a.as<float>(), n), o);
  }, n * 8);
}

constexpr std::size_t rows = 16384, vocab = 152064;

void logits_forward(benchmark::State& s) {
  buffer x(rows * vocab * 2), y(rows * 8), lp(rows * 4), ent(rows * 4), lse(rows * 4);
  check(cudaMemset(x.p, 0, rows * vocab * 2));
  check(cudaMemset(y.p, 0, rows * 8));
  const matrix_view<const bfloat16> v(x.as<const bfloat16>(), rows, vocab);
  timed(s, [&] {
    mc::token_logprobs_and_entropy(mc::launch{}, v, std::span<const std::int64_t>(y.as<std::int64_t>(), rows),
                                   {{lp.as<float>(), rows}, {ent.as<float>(), rows}, {lse.as<float>(), rows}});
  }, rows * vocab * 2);
}

void logits_backward(benchmark::State& s) {
  buffer x(rows * vocab * 2), gx(rows * vocab * 2), y(rows * 8), lse(rows * 4), ent(rows * 4), glp(rows * 4);
  check(cudaMemset(x.p, 0, rows * vocab * 2));
  check(cudaMemset(y.p, 0, rows * 8));
  check(cudaMemset(lse.p, 0, rows * 4));
  check(cudaMemset(ent.p, 0, rows * 4));
  check(cudaMemset(glp.p, 0, rows * 4));
  const matrix_view<const bfloat16> v(x.as<const bfloat16>(), rows, vocab);
  timed(s, [&] {
    mc::token_logprobs_and_entropy_backward(
        mc::launch{}, v, std::span<const std::int64_t>(y.as<std::int64_t>(), rows),
        {{lse.as<float>(), rows}, {ent.as<float>(), rows}, {glp.as<float>(), rows}, {}},
        matrix_view<bfloat16>(gx.as<bfloat16>(), rows, vocab));
  }, 2 * rows * vocab * 2);
}

BENCHMARK(copy_floor)->Arg(std::int64_t{1} << 28)->Arg(std::int64_t{rows * vocab * 2})->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(fused_policy_loss)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(grpo_1m)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(logits_forward)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(logits_backward)->UseManualTime()->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
