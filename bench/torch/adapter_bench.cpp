// SPDX-License-Identifier: Apache-2.0
// A LibTorch trainer's log-prob step two ways in one program, on the same threads: LibTorch's eager ops
// (log_softmax + gather + entropy, autograd backward) against <mmrag_rft/torch.hpp> (the library's fused forward and
// backward as an autograd function). N = 512 rows x V = 152064 (Qwen2.5's vocabulary), float32 and bfloat16.
#include <mmrag_rft/torch.hpp>

#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr std::int64_t rows = 512, vocab = 152064;

struct inputs {
  torch::Tensor x, y, u, w;
  explicit inputs(torch::Dtype dtype) {
    torch::manual_seed(7);
    x = (torch::randn({rows, vocab}) * 2.0).to(dtype);
    y = torch::randint(vocab, {rows}, torch::kLong);
    u = torch::randn({rows});
    w = torch::randn({rows});
  }
};

inputs& shared(torch::Dtype dtype) {
  static inputs f(torch::kFloat), b(torch::kBFloat16);
  return dtype == torch::kFloat ? f : b;
}

struct logp_entropy {
  torch::Tensor log_probs, entropy;
};

// What PyTorch trainers write (verl's entropy_from_logits, TRL's selective log-softmax without chunking).
logp_entropy eager(const torch::Tensor& x, const torch::Tensor& y) {
  const auto lsm = torch::log_softmax(x.to(torch::kFloat), -1);
  return {lsm.gather(-1, y.unsqueeze(-1)).squeeze(-1), -(lsm.exp() * lsm).sum(-1)};
}

logp_entropy adapter(const torch::Tensor& x, const torch::Tensor& y) {
  auto r = mmrag_rft::libtorch::token_logprobs_and_entropy(
      mmrag_rft::exec::par.with_threads(static_cast<std::size_t>(torch::get_num_threads())), x, y);
  return {r.log_probs, r.entropy};
}

template <logp_entropy (*Fn)(const torch::Tensor&, const torch::Tensor&)>
void forward(benchmark::State& s, torch::Dtype dtype) {
  inputs& in = shared(dtype);
  torch::NoGradGuard no_grad;
  for (auto _ : s) {
    auto r = Fn(in.x, in.y);
    benchmark::DoNotOptimize(r.log_probs.data_ptr());
  }
  s.SetBytesProcessed(s.iterations() * in.x.nbytes());
}

template <logp_entropy (*Fn)(const torch::Tensor&, const torch::Tensor&)>
void forward_backward(benchmark::State& s, torch::Dtype dtype) {
  inputs& in = shared(dtype);
  auto x = in.x.detach().clone().requires_grad_(true);
  for (auto _ : s) {
    auto r = Fn(x, in.y);
    ((r.log_probs * in.u).sum() + (r.entropy * in.w).sum()).backward();
    benchmark::DoNotOptimize(x.grad().data_ptr());
    x.mutable_grad() = torch::Tensor();
  }
  s.SetBytesProcessed(s.iterations() * 2 * in.x.nbytes());
}

// What any autograd backward pays before its first gradient: a fresh [N, V] tensor, written once (its pages are
// faulted in: LibTorch's CPU allocator returns big blocks to the system on free, so every step does it again).
void fresh_gradient(benchmark::State& s, torch::Dtype dtype) {
  inputs& in = shared(dtype);
  for (auto _ : s) {
    auto g = torch::empty_like(in.x);
    g.zero_();
    benchmark::DoNotOptimize(g.data_ptr());
  }
  s.SetBytesProcessed(s.iterations() * in.x.nbytes());
}

// The library's kernel on the same memory without the adapter (no tensors made, no autograd): the adapter's cost.
void forward_kernel(benchmark::State& s, torch::Dtype dtype) {
  inputs& in = shared(dtype);
  std::vector<float> lp(rows), ent(rows), lse(rows);
  const std::span<const std::int64_t> ids(in.y.data_ptr<std::int64_t>(), rows);
  const auto exec = mmrag_rft::exec::par.with_threads(static_cast<std::size_t>(torch::get_num_threads()));
  for (auto _ : s) {
    if (dtype == torch::kFloat)
      mmrag_rft::token_logprobs_and_entropy(exec, {in.x.data_ptr<float>(), rows, vocab}, ids, {lp, ent, lse});
    else
      mmrag_rft::token_logprobs_and_entropy(
          exec, {reinterpret_cast<const mmrag_rft::bfloat16*>(in.x.data_ptr<at::BFloat16>()), rows, vocab}, ids,
          {lp, ent, lse});
    benchmark::DoNotOptimize(lp.data());
  }
  s.SetBytesProcessed(s.iterations() * in.x.nbytes());
}

void forward_eager(benchmark::State& s, torch::Dtype d) { forward<eager>(s, d); }
void forward_adapter(benchmark::State& s, torch::Dtype d) { forward<adapter>(s, d); }
void forward_backward_eager(benchmark::State& s, torch::Dtype d) { forward_backward<eager>(s, d); }
void forward_backward_adapter(benchmark::State& s, torch::Dtype d) { forward_backward<adapter>(s, d); }

#define MMRAG_RFT_TORCH_BENCH(fn)                                                                                      \
  BENCHMARK_CAPTURE(fn, f32, torch::kFloat)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);               \
  BENCHMARK_CAPTURE(fn, bf16, torch::kBFloat16)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0)

MMRAG_RFT_TORCH_BENCH(fresh_gradient);
MMRAG_RFT_TORCH_BENCH(forward_kernel);
MMRAG_RFT_TORCH_BENCH(forward_eager);
MMRAG_RFT_TORCH_BENCH(forward_adapter);
MMRAG_RFT_TORCH_BENCH(forward_backward_eager);
MMRAG_RFT_TORCH_BENCH(forward_backward_adapter);

} // namespace

// LibTorch's default is one thread per physical core (1 on the 2-vCPU bench machine): both sides get every hardware
// thread, as the CPU benchmarks and the PyTorch references (--threads 2) do.
int main(int argc, char** argv) {
  torch::set_num_threads(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("torch_threads", std::to_string(torch::get_num_threads()));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
