// SPDX-License-Identifier: Apache-2.0
// The backend choice from the tensors' devices, on CPU tensors and on fabricated device descriptions (no GPU needed).
#include <mmrag_rft/torch.hpp>

#include <torch/torch.h>

#include <doctest/doctest.h>

#include <cstdint>

using namespace mmrag_rft;
namespace lt = mmrag_rft::libtorch;

namespace {
const c10::Device cpu{c10::kCPU};
const c10::Device cuda0{c10::kCUDA, 0};
const c10::Device cuda1{c10::kCUDA, 1};
} // namespace

TEST_CASE("libtorch::choose_backend: all CPU is the CPU backend, absent tensors take no part") {
  const auto c = lt::choose_backend("f", {{"a", cpu}, {"b", cpu}, {"c", cuda0, false}});
  CHECK(c.kind == lt::backend_kind::cpu);
  CHECK(c.device == cpu);
  CHECK(lt::choose_backend("f", {}).kind == lt::backend_kind::cpu);
  CHECK(lt::choose_backend("f", {{"a", cuda0, false}}).kind == lt::backend_kind::cpu);
  const torch::Tensor x = torch::zeros({3}), none;
  CHECK(lt::choose_backend("f", {lt::device_of("x", x), lt::device_of("none", none)}).kind == lt::backend_kind::cpu);
  CHECK_FALSE(lt::device_of("none", none).present);
}

TEST_CASE("libtorch::choose_backend: all on one CUDA device is the CUDA path on that device") {
  const auto c = lt::choose_backend("f", {{"a", cuda1}, {"b", cpu, false}, {"c", cuda1}});
  CHECK(c.kind == lt::backend_kind::cuda);
  CHECK(c.device == cuda1);
  CHECK(lt::choose_backend("f", {{"a", cuda0}}).device.index() == 0);
}

TEST_CASE("libtorch::choose_backend: mixed devices name both tensors and their devices") {
  CHECK_THROWS_WITH_AS((void)lt::choose_backend("libtorch::policy_loss", {{"log_probs", cuda0}, {"mask", cpu}}),
                       "libtorch::policy_loss: mask is on cpu but log_probs is on cuda:0 (every tensor of one call "
                       "must be on the same device: all on the CPU or all on one CUDA device)",
                       error);
  CHECK_THROWS_WITH_AS((void)lt::choose_backend("f", {{"a", cpu}, {"b", cpu}, {"c", cuda1}}),
                       doctest::Contains("c is on cuda:1 but a is on cpu"), error);
  CHECK_THROWS_WITH_AS((void)lt::choose_backend("f", {{"a", cuda0}, {"b", cuda1}}),
                       doctest::Contains("b is on cuda:1 but a is on cuda:0"), error);
}

TEST_CASE("libtorch::choose_backend: a device that is neither CPU nor CUDA is named") {
  CHECK_THROWS_WITH_AS((void)lt::choose_backend("f", {{"a", cpu}, {"b", c10::Device(c10::kMeta)}}),
                       "f: b is on meta; the LibTorch adapter runs on CPU or CUDA tensors", error);
  const torch::Tensor meta = torch::empty({4}, torch::TensorOptions().device(c10::kMeta));
  CHECK_THROWS_WITH_AS((void)lt::grpo_advantages(meta, 2), doctest::Contains("rewards is on meta"), error);
  const torch::Tensor ids = torch::zeros({2, 3}, torch::kLong);
  CHECK_THROWS_WITH_AS(
      (void)lt::build_response_mask(ids, 0, {},
                                    torch::zeros({2}, torch::TensorOptions().dtype(torch::kLong).device(c10::kMeta))),
      doctest::Contains("lengths is on meta"), error);
}

TEST_CASE("libtorch adapter: the CUDA path's absence is a located error") {
  if constexpr (!lt::detail::torch_cuda_built) {
    CHECK_THROWS_WITH_AS(lt::detail::throw_cuda_not_built("libtorch::grpo_advantages", "rewards", cuda0),
                         doctest::Contains("libtorch::grpo_advantages: rewards is on cuda:0, but the CUDA adapter is "
                                           "not built"),
                         error);
  }
  // CPU tensors keep the CPU path.
  const auto out = lt::grpo_advantages(torch::tensor({1.0, 0.0, 1.0, 1.0}, torch::kDouble), 2);
  CHECK(out.advantages.device().is_cpu());
  CHECK(out.advantages[0].item<double>() > 0.0);
  CHECK(out.advantages[2].item<double>() == 0.0);
}
