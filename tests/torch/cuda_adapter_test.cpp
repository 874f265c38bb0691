// SPDX-License-Identifier: Apache-2.0
// mmrag_rft::torch_cuda against the CPU path: the same calls on CUDA copies of the tensors (needs a GPU).
#include <mmrag_rft/torch.hpp>

#include <torch/torch.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace mmrag_rft;
namespace lt = mmrag_rft::libtorch;

namespace {

/// Without a CUDA device the test case ends the program with 77, which ctest (SKIP_RETURN_CODE) reports as skipped.
void skip_without_gpu() {
  if (torch::cuda::is_available()) return;
  std::fputs("no CUDA device: skipped\n", stderr);
  std::exit(77);
}

} // namespace

TEST_CASE("libtorch::grpo_advantages on CUDA tensors: the CPU path's values, the summary, on the device") {
  skip_without_gpu();
  const torch::Device gpu(torch::kCUDA, 0);
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    torch::manual_seed(7);
    torch::Tensor r = torch::rand({48}, torch::TensorOptions().dtype(dtype));
    r.narrow(0, 8, 4).fill_(0.5); // one degenerate group
    const auto cpu = lt::grpo_advantages(r, 4);
    const auto dev = lt::grpo_advantages(r.to(gpu), 4);
    CHECK((dev.advantages.device() == gpu));
    CHECK((dev.advantages.scalar_type() == dtype));
    const double tol = dtype == torch::kDouble ? 1e-12 : 1e-5;
    CHECK((dev.advantages.cpu() - cpu.advantages).abs().max().item<double>() <= tol);
    CHECK(torch::equal(dev.keep.cpu(), cpu.keep));
    CHECK(dev.summary.groups == cpu.summary.groups);
    CHECK(dev.summary.degenerate_groups == cpu.summary.degenerate_groups);
    CHECK(dev.summary.degenerate_groups == 1);
  }
  const std::vector<std::int64_t> offsets{0, 3, 4, 9};
  const torch::Tensor r = torch::rand({9}, torch::kDouble);
  const auto groups = group_layout::from_offsets(offsets);
  const auto cpu = lt::grpo_advantages(r, groups);
  const auto dev = lt::grpo_advantages(r.to(gpu), groups);
  CHECK((dev.advantages.cpu() - cpu.advantages).abs().max().item<double>() <= 1e-12);
  CHECK(dev.summary.singleton_groups == cpu.summary.singleton_groups);
}

TEST_CASE("libtorch adapter on CUDA: mixed devices and calls without a CUDA path are located errors") {
  skip_without_gpu();
  const torch::Device gpu(torch::kCUDA, 0);
  const torch::Tensor lp = torch::zeros({2, 3}).to(gpu);
  const torch::Tensor mask = torch::ones({2, 3}, torch::kBool);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss({.log_probs = lp, .mask = mask}),
                       doctest::Contains("mask is on cpu but log_probs is on cuda:0"), error);
}
