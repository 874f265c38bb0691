// SPDX-License-Identifier: Apache-2.0
// GPU benchmarks, each next to the memory floor measured in the same run (a device-to-device copy moving
// the same number of bytes, read plus written):
// - the fused policy loss + gradient, verl's actor defaults with its KL loss (the CPU benchmark's options), 16.8M
//   float tokens (4096 x 4096), advantages per token (verl's [B, T]) or per sequence, on the very inputs of
//   bench/reference/policy_loss.py (bench/common.hpp's counter-based generator), so the losses can be compared;
//   with the local token count of token-mean (verl's mask.sum(), one extra read of the mask) and with a given
//   normaliser (the single fused pass);
// - GRPO for 1M completions in groups of 8, the rewards of bench/reference/grpo.py;
// - token_logprobs_and_entropy and its backward at N = 16k rows x V = 152k, bfloat16 and float logits (random normal
//   logits of std 2 made on the device).
// Times come from CUDA events around each call (UseManualTime). Inputs are never zeros (METHOD: zeros can hide
// unwritten outputs and run faster). bench/reference/gpu_report.py puts this program's JSON next to PyTorch's.
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends/cuda/all.cuh>
#include <mmrag_rft/backends/thrust.hpp>
#include <mmrag_rft/core/response_mask.hpp>
#include <mmrag_rft/logits/token_logprobs.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include "bench/common.hpp"
#include "bench/losses/setup.hpp"

#include <benchmark/benchmark.h>

#include <cstdint>
#include <set>
#include <span>
#include <type_traits>
#include <vector>

namespace {

using namespace mmrag_rft;
namespace mc = mmrag_rft::gpu;

void check(cudaError_t e) { mc::detail::check_cuda(e, "bench"); }

struct buffer {
  void* p = nullptr;
  explicit buffer(std::size_t bytes) { check(cudaMalloc(&p, bytes > 0 ? bytes : 1)); }
  template <class T>
  explicit buffer(const std::vector<T>& v) : buffer(v.size() * sizeof(T)) {
    check(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~buffer() { cudaFree(p); }
  buffer(const buffer&) = delete;
  buffer& operator=(const buffer&) = delete;
};

// A free function, so that it needs no `template` keyword in the dependent code below.
template <class T>
[[nodiscard]] T* as(const buffer& b) {
  return static_cast<T*>(b.p);
}

template <class Fn>
void timed(benchmark::State& s, Fn&& fn, std::size_t bytes_moved) {
  cudaEvent_t a, b;
  check(cudaEventCreate(&a));
  check(cudaEventCreate(&b));
  fn(); // warm-up: module load, first-touch
  check(cudaDeviceSynchronize());
  for (auto _ : s) {
    check(cudaEventRecord(a));
    fn();
    check(cudaEventRecord(b));
    check(cudaEventSynchronize(b));
    float ms = 0;
    check(cudaEventElapsedTime(&ms, a, b));
    s.SetIterationTime(ms / 1e3);
  }
  check(cudaGetLastError());
  s.SetBytesProcessed(static_cast<std::int64_t>(s.iterations()) * static_cast<std::int64_t>(bytes_moved));
  s.counters["bytes_moved"] = static_cast<double>(bytes_moved);
  cudaEventDestroy(a);
  cudaEventDestroy(b);
}

// The floor: a device-to-device copy of bytes_moved / 2 reads and writes bytes_moved. Its argument is the byte
// count of the kernel it is the floor of (gpu_report.py pairs them by that number).
void copy_floor(benchmark::State& s) {
  const auto moved = static_cast<std::size_t>(s.range(0));
  const std::size_t half = moved / 2;
  buffer src(half), dst(half);
  check(cudaMemset(src.p, 0x3c, half));
  timed(s, [&] { check(cudaMemcpyAsync(dst.p, src.p, half, cudaMemcpyDeviceToDevice)); }, moved);
}

constexpr std::size_t loss_rows = 4096, loss_cols = 4096;

// verl's loss on the 16.8M-token batch of the CPU benchmark. range(0): advantages per token; range(1): normaliser
// given (one fused pass) instead of counted from the mask (a read of the mask first, as verl's mask.sum()).
void policy_loss_verl(benchmark::State& s) {
  const bool token_adv = s.range(0) != 0, given_normalizer = s.range(1) != 0;
  const auto max_blocks = static_cast<std::size_t>(s.range(2));
  const auto min_blocks = s.range(3);
  const std::size_t b = loss_rows, t = loss_cols, n = b * t;
  const auto& host = bench::cached_batch(b, t);
  buffer lp(host.log_probs), old(host.old_log_probs), ref(host.ref_log_probs), m(host.mask), g(n * 4);
  buffer adv(token_adv ? host.token_advantages : host.sequence_advantages);
  policy_loss_inputs<float> in;
  in.log_probs = {as<float>(lp), b, t};
  in.old_log_probs = {as<float>(old), b, t};
  in.ref_log_probs = {as<float>(ref), b, t};
  in.mask = mask_view(as<std::uint8_t>(m), b, t);
  if (token_adv) in.advantages = {as<float>(adv), b, t};
  else in.sequence_advantages = {as<float>(adv), b};
  const policy_loss_grads<float> out{{as<float>(g), b, t}, {}};
  policy_loss_options o = bench::verl_with_kl();
  if (given_normalizer) o.normalizer = static_cast<double>(host.valid_tokens);
  const std::size_t wsb = mc::policy_loss_workspace_bytes(b);
  buffer ws(wsb);
  const mc::launch l{nullptr, ws.p, wsb, false};
  const auto call = [&] {
    if (min_blocks == 3) (void)mc::detail::policy_loss_with_grid<float, 3>(l, in, out, o, max_blocks);
    else if (min_blocks == 4) (void)mc::detail::policy_loss_with_grid<float, 4>(l, in, out, o, max_blocks);
    else (void)mc::detail::policy_loss_with_grid<float, 1>(l, in, out, o, max_blocks);
  };
  timed(s, call, bench::loss_bytes(b, t, token_adv));
  const policy_loss_result r = mc::read_policy_loss_result(l, t, o);
  s.counters["loss"] = r.loss;
  s.counters["pg_clipfrac"] = r.stats.pg_clipfrac;
  s.counters["valid_tokens"] = static_cast<double>(r.stats.valid_tokens);
}

void grpo_1m(benchmark::State& s) {
  const auto n = static_cast<std::size_t>(bench::outcome_completions);
  const auto gs = static_cast<std::size_t>(bench::outcome_group_size);
  buffer r(bench::group_rewards(n, gs)), a(n * 4);
  const group_layout g = group_layout::uniform(n / gs, gs);
  grpo_options o; // verl's, but NaN rewards masked out: the error policy needs a host round trip (sync_result)
  o.nonfinite = nonfinite_rewards::mask_out;
  const std::size_t wsb = mc::grpo_workspace_bytes<float>(g, o);
  buffer ws(wsb);
  const mc::launch l{nullptr, ws.p, wsb, false};
  timed(
      s,
      [&] {
        (void)mc::grpo_advantages(l, std::span<const float>(as<float>(r), n), g, nullptr,
                                  std::span<float>(as<float>(a), n), o);
      },
      n * 8);
}

// The other estimators on the CUDA system through exec::thrust (one device thread per group or per row; Thrust
// allocates its small temporaries in each call, which these times include).
void thrust_rloo_1m(benchmark::State& s) {
  const auto n = static_cast<std::size_t>(bench::outcome_completions);
  const auto gs = static_cast<std::size_t>(bench::outcome_group_size);
  buffer r(bench::group_rewards(n, gs)), a(n * 4);
  const group_layout g = group_layout::uniform(n / gs, gs);
  timed(
      s,
      [&] {
        (void)rloo_advantages(exec::thrust, std::span<const float>(as<float>(r), n), g,
                              std::span<float>(as<float>(a), n));
      },
      n * 8);
}

// REINFORCE++ and GAE on the loss benchmark's 16.8M-token batch: token rewards = its per-token advantages, values =
// its old log-probs. Bytes: rewards (+ values) and the mask read, returns and advantages written.
void thrust_token_scans(benchmark::State& s) {
  const bool is_gae = s.range(0) != 0;
  const std::size_t b = loss_rows, t = loss_cols, n = b * t;
  const auto& host = bench::cached_batch(b, t);
  buffer r(host.token_advantages), v(host.old_log_probs), m(host.mask), ret(n * 4), adv(n * 4);
  const matrix_view<const float> rv(as<float>(r), b, t), vv(as<float>(v), b, t);
  const mask_view mv(as<std::uint8_t>(m), b, t);
  const matrix_view<float> retv(as<float>(ret), b, t), advv(as<float>(adv), b, t);
  gae_options o;
  o.gamma = 0.99, o.lam = 0.95;
  timed(
      s,
      [&] {
        if (is_gae) (void)gae_advantages(exec::thrust, rv, vv, mv, advv, retv, o);
        else (void)reinforce_pp_advantages(exec::thrust, rv, mv, 0.99, retv, advv);
      },
      n * (is_gae ? 17 : 13));
}

constexpr std::size_t logit_rows = 16384, vocab = 152064;

// Normal logits of std 2 (a sum of four hashed uniforms: bounded, mean 0), a function of the index only.
template <class L>
__global__ void fill_logits(L* x, std::size_t n, std::uint64_t seed) {
  for (std::size_t k = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; k < n;
       k += std::size_t{gridDim.x} * blockDim.x) {
    float u = 0;
    for (std::uint64_t j = 0; j < 4; ++j) u += static_cast<float>(bench::mix(seed + 4 * k + j) >> 40) * 0x1p-24f;
    const float z = (u - 2.0f) * 3.4641016f; // std 1 for the sum of 4 uniforms: sqrt(12 / 4) = 1.732, times 2
    if constexpr (std::is_same_v<L, float>) x[k] = z;
    else x[k] = bfloat16::from_float(z);
  }
}

__global__ void fill_tokens(std::int64_t* y, std::size_t n, std::size_t vocab_size) {
  for (std::size_t k = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; k < n;
       k += std::size_t{gridDim.x} * blockDim.x)
    y[k] = static_cast<std::int64_t>(bench::mix(k) % vocab_size);
}

template <class L>
struct logit_problem {
  buffer x{logit_rows * vocab * sizeof(L)}, y{logit_rows * 8}, lp{logit_rows * 4}, ent{logit_rows * 4},
      lse{logit_rows * 4}, glp{logit_rows * 4}, gh{logit_rows * 4};
  logit_problem() {
    fill_logits<<<1024, 256>>>(as<L>(x), logit_rows * vocab, 7);
    fill_tokens<<<64, 256>>>(as<std::int64_t>(y), logit_rows, vocab);
    check(cudaGetLastError());
    std::vector<float> ones(logit_rows, 1.0f), small(logit_rows, 0.1f);
    check(cudaMemcpy(glp.p, ones.data(), logit_rows * 4, cudaMemcpyHostToDevice));
    check(cudaMemcpy(gh.p, small.data(), logit_rows * 4, cudaMemcpyHostToDevice));
    forward();
    check(cudaDeviceSynchronize());
  }
  [[nodiscard]] matrix_view<const L> view() const { return {as<const L>(x), logit_rows, vocab}; }
  [[nodiscard]] std::span<const std::int64_t> tokens() const { return {as<std::int64_t>(y), logit_rows}; }
  template <bool Vector = true>
  void forward() const {
    mc::detail::launch_token_logprobs<Vector>(
        mc::launch{}, view(), tokens(),
        {{as<float>(lp), logit_rows}, {as<float>(ent), logit_rows}, {as<float>(lse), logit_rows}}, {}, nullptr);
  }
};

// Vector: 16-byte loads (the library's kernels); otherwise one element per load (the kernels before, kept to show
// what the wide accesses gained on the card).
template <class L, bool Vector>
void logits_forward(benchmark::State& s) {
  const logit_problem<L> p;
  timed(s, [&] { p.template forward<Vector>(); }, logit_rows * vocab * sizeof(L));
  float first = 0;
  check(cudaMemcpy(&first, p.lp.p, 4, cudaMemcpyDeviceToHost));
  s.counters["logp_row0"] = first;
}

template <class L, bool Vector>
void logits_backward(benchmark::State& s) {
  const logit_problem<L> p;
  buffer gx(logit_rows * vocab * sizeof(L));
  const token_logprobs_grads in{{as<float>(p.lse), logit_rows},
                                {as<float>(p.ent), logit_rows},
                                {as<float>(p.glp), logit_rows},
                                {as<float>(p.gh), logit_rows}};
  timed(
      s,
      [&] {
        mc::detail::launch_token_logprobs_backward<Vector>(mc::launch{}, p.view(), p.tokens(), in,
                                                           matrix_view<L>(as<L>(gx), logit_rows, vocab), {});
      },
      2 * logit_rows * vocab * sizeof(L));
}

void floors(benchmark::internal::Benchmark* b) {
  std::set<std::int64_t> moved;
  for (const bool tok : {false, true})
    moved.insert(static_cast<std::int64_t>(bench::loss_bytes(loss_rows, loss_cols, tok)));
  moved.insert(bench::outcome_completions * 8);
  for (const std::int64_t per_token : {13, 17})
    moved.insert(static_cast<std::int64_t>(loss_rows * loss_cols) * per_token);
  for (const std::size_t e : {std::size_t{2}, std::size_t{4}}) {
    moved.insert(static_cast<std::int64_t>(logit_rows * vocab * e));     // a forward reads the logits
    moved.insert(static_cast<std::int64_t>(2 * logit_rows * vocab * e)); // a backward reads them, writes the gradient
  }
  for (const std::int64_t m : moved) b->Arg(m);
}

BENCHMARK(copy_floor)->Apply(floors)->UseManualTime()->Unit(benchmark::kMillisecond);
// The library's grid cap (tuning::loss_max_blocks: one row per block at B = 4096) and two smaller ones (8 and 4 blocks
// per multiprocessor of an H100/H200), which pay the block reduction for several rows at once; and the kernel compiled
// for 1 (the library's tuning::loss_min_blocks), 3 or 4 resident blocks per multiprocessor (fewer registers).
void loss_configs(benchmark::internal::Benchmark* b) {
  b->ArgNames({"token_adv", "given_normalizer", "max_blocks", "min_blocks"});
  const auto grid = static_cast<std::int64_t>(mc::tuning::loss_max_blocks);
  for (const std::int64_t tok : {1, 0})
    for (const std::int64_t given : {0, 1}) b->Args({tok, given, grid, 1});
  for (const std::int64_t blocks : {1056, 528}) b->Args({1, 0, blocks, 1});
  for (const std::int64_t min_blocks : {3, 4})
    for (const std::int64_t blocks : {grid, std::int64_t{1056}}) b->Args({1, 0, blocks, min_blocks});
}

BENCHMARK(policy_loss_verl)->Apply(loss_configs)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(grpo_1m)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(thrust_rloo_1m)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(thrust_token_scans)->ArgName("gae")->Arg(0)->Arg(1)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(logits_forward, bfloat16, true)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(logits_forward, float, true)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(logits_backward, bfloat16, true)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(logits_backward, float, true)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(logits_forward, bfloat16, false)->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(logits_backward, bfloat16, false)->UseManualTime()->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
