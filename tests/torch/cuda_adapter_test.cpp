// SPDX-License-Identifier: Apache-2.0
// mmrag_rft::torch_cuda against the CPU path: every adapter call on CUDA copies of the same tensors (needs a GPU;
// without one every test case exits 77, reported as skipped). Outputs come from a caching allocator poisoned with
// NaN first, so an element a kernel leaves unwritten shows; inputs made on a side stream behind a sleep kernel check
// that the calls run on the current stream.
#include <mmrag_rft/torch.hpp>

#include <torch/torch.h>

#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

using namespace mmrag_rft;
namespace lt = mmrag_rft::libtorch;

namespace cuda_adapter_test {

/// Without a CUDA device the test case ends the program with 77, which ctest (SKIP_RETURN_CODE) reports as skipped.
void skip_without_gpu() {
  if (torch::cuda::is_available()) return;
  std::fputs("no CUDA device: skipped\n", stderr);
  std::exit(77);
}

const torch::Device gpu(torch::kCUDA, 0);

/// Fills blocks of the caching allocator with NaN and frees them: the next outputs of those sizes reuse them.
void poison_allocator() {
  for (const std::int64_t n : {1 << 10, 1 << 14, 1 << 18, 1 << 22})
    (void)torch::full({n}, std::numeric_limits<float>::quiet_NaN(), torch::TensorOptions().device(gpu));
}

/// The largest |a - b| relative to the largest |b| (0 for two empty tensors); NaN anywhere gives +inf.
double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor x = a.detach().cpu().to(torch::kDouble), y = b.detach().cpu().to(torch::kDouble);
  if (x.numel() == 0 && y.numel() == 0) return 0.0;
  if (!torch::isfinite(x).all().item<bool>()) return std::numeric_limits<double>::infinity();
  const double scale = std::max(1.0, y.abs().max().item<double>());
  return (x - y).abs().max().item<double>() / scale;
}

/// A copy of `t` on the GPU, written by a device-to-device copy enqueued on `stream` behind a sleep kernel: a call
/// reading it on another stream reads it before it is written (the caching allocator's poison, or garbage) and fails
/// the comparison. (The host-to-device copy comes first: LibTorch synchronises the stream after one from pageable
/// memory, which would wait for the sleep.)
torch::Tensor late_copy(const torch::Tensor& t, const c10::cuda::CUDAStream& stream) {
  const torch::Tensor on_device = t.to(gpu);
  const c10::cuda::CUDAStreamGuard on(stream);
  poison_allocator();
  at::cuda::sleep(50'000'000); // tens of milliseconds on current GPUs
  return on_device.clone();
}

torch::Tensor random_logits(std::int64_t seed, torch::IntArrayRef shape) {
  torch::manual_seed(static_cast<std::uint64_t>(seed));
  return torch::randn(shape, torch::kFloat) * 3.0;
}

} // namespace cuda_adapter_test

using namespace cuda_adapter_test;

TEST_CASE("libtorch::grpo_advantages on CUDA tensors: the CPU path's values and summary on the device") {
  skip_without_gpu();
  for (const auto dtype : {torch::kFloat, torch::kDouble}) {
    torch::manual_seed(7);
    torch::Tensor r = torch::rand({48}, torch::TensorOptions().dtype(dtype));
    r.narrow(0, 8, 4).fill_(0.5); // one degenerate group
    const auto cpu = lt::grpo_advantages(r, 4);
    poison_allocator();
    const auto dev = lt::grpo_advantages(r.to(gpu), 4);
    CHECK((dev.advantages.device() == gpu));
    CHECK((dev.advantages.scalar_type() == dtype));
    const double tol = dtype == torch::kDouble ? 1e-12 : 1e-5;
    CHECK(max_rel_diff(dev.advantages, cpu.advantages) <= tol);
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
  CHECK(max_rel_diff(dev.advantages, cpu.advantages) <= 1e-12);
  CHECK(dev.summary.singleton_groups == cpu.summary.singleton_groups);
}

TEST_CASE("libtorch::grpo_advantages on CUDA: runs on the current stream") {
  skip_without_gpu();
  torch::manual_seed(3);
  const torch::Tensor r = torch::rand({1 << 16}, torch::kFloat);
  const auto cpu = lt::grpo_advantages(r, 8);
  const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, 0);
  const c10::cuda::CUDAStreamGuard on(side);
  const auto dev = lt::grpo_advantages(late_copy(r, side), 8);
  CHECK(max_rel_diff(dev.advantages, cpu.advantages) <= 1e-5);
}

namespace cuda_adapter_test {

struct loss_batch {
  torch::Tensor lp, old, adv, seq_adv, mask, ref, ent;
  explicit loss_batch(torch::Dtype dtype, std::int64_t rows = 9, std::int64_t cols = 37) {
    torch::manual_seed(21);
    const auto o = torch::TensorOptions().dtype(dtype);
    lp = -torch::rand({rows, cols}, o) * 3.0;
    old = lp + torch::randn({rows, cols}, o) * 0.3;
    ref = lp + torch::randn({rows, cols}, o) * 0.2;
    adv = torch::randn({rows, cols}, o);
    seq_adv = torch::randn({rows}, o);
    ent = torch::rand({rows, cols}, o) * 2.0;
    mask = torch::rand({rows, cols}) > 0.3;
    mask[2].zero_(); // a row without a valid token
  }
};

policy_loss_options verl_k3() {
  policy_loss_options o = policy_loss_options::verl();
  o.kl = kl_estimator::k3;
  o.kl_coef = 0.2;
  o.entropy_coeff = 0.05;
  return o;
}

} // namespace cuda_adapter_test

TEST_CASE("libtorch::policy_loss on CUDA tensors: the CPU path's loss with statistics and gradients") {
  skip_without_gpu();
  for (const auto dtype : {torch::kDouble, torch::kFloat, torch::kBFloat16}) {
    CAPTURE(c10::toString(dtype));
    const loss_batch b(dtype);
    for (const bool token_adv : {true, false}) {
      CAPTURE(token_adv);
      const auto run = [&](const torch::Device& d) {
        auto lp = b.lp.to(d).requires_grad_(true), ent = b.ent.to(d).requires_grad_(true);
        lt::policy_loss_tensors t{.log_probs = lp,
                                  .old_log_probs = b.old.to(d),
                                  .mask = b.mask.to(d),
                                  .ref_log_probs = b.ref.to(d),
                                  .entropy = ent};
        if (token_adv) t.advantages = b.adv.to(d);
        else t.sequence_advantages = b.seq_adv.to(d);
        if (d.is_cuda()) poison_allocator();
        auto out = lt::policy_loss(t, verl_k3());
        (out.loss * 3.0).backward();
        return std::tuple{out, lp.grad(), ent.grad()};
      };
      const auto [cpu, cpu_g, cpu_ge] = run(torch::kCPU);
      const auto [dev, dev_g, dev_ge] = run(gpu);
      CHECK((dev.loss.device() == gpu));
      CHECK((dev.loss.scalar_type() == cpu.loss.scalar_type()));
      CHECK((dev_g.device() == gpu));
      CHECK((dev_g.scalar_type() == dtype));
      // The GPU reduction is tree-ordered: docs/gpu.md's bounds (float 1e-5 relative, float64 1e-12); bfloat16
      // gradients are rounded to bfloat16 on both paths, so one bfloat16 ulp apart at most.
      const double tol = dtype == torch::kDouble ? 1e-12 : 1e-5;
      const double grad_tol = dtype == torch::kBFloat16 ? 1.0 / 128 : tol;
      CHECK(max_rel_diff(dev.loss, cpu.loss) <= tol);
      CHECK(std::abs(dev.result.pg_loss - cpu.result.pg_loss) <= tol * std::max(1.0, std::abs(cpu.result.pg_loss)));
      CHECK(dev.result.stats.valid_tokens == cpu.result.stats.valid_tokens);
      CHECK(std::abs(dev.result.stats.pg_clipfrac - cpu.result.stats.pg_clipfrac) <= 1e-6);
      CHECK(max_rel_diff(dev_g, cpu_g) <= grad_tol);
      CHECK(max_rel_diff(dev_ge, cpu_ge) <= grad_tol);
      // Masked tokens get exactly 0 on the device too.
      CHECK(dev_g.cpu().masked_select(b.mask.logical_not()).abs().max().item<double>() == 0.0);
    }
  }
}

TEST_CASE("libtorch::policy_loss on CUDA: the current stream and a NaN at a valid token named") {
  skip_without_gpu();
  const loss_batch b(torch::kFloat, 64, 512);
  const auto cpu = lt::policy_loss({.log_probs = b.lp, .old_log_probs = b.old, .advantages = b.adv, .mask = b.mask});
  {
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, 0);
    const c10::cuda::CUDAStreamGuard on(side);
    const auto dev = lt::policy_loss({.log_probs = late_copy(b.lp, side),
                                      .old_log_probs = late_copy(b.old, side),
                                      .advantages = late_copy(b.adv, side),
                                      .mask = late_copy(b.mask, side)});
    CHECK(max_rel_diff(dev.loss, cpu.loss) <= 1e-5);
  }
  torch::Tensor old = b.old.clone();
  const auto valid = b.mask.nonzero();
  const std::int64_t i = valid[5][0].item<std::int64_t>(), k = valid[5][1].item<std::int64_t>();
  old[i][k] = std::numeric_limits<float>::quiet_NaN();
  const std::string where = "old_log_probs holds NaN at valid token [" + std::to_string(i) + ", " + std::to_string(k);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss({.log_probs = b.lp.to(gpu),
                                              .old_log_probs = old.to(gpu),
                                              .advantages = b.adv.to(gpu),
                                              .mask = b.mask.to(gpu)}),
                       doctest::Contains(where.c_str()), error);
}

TEST_CASE("libtorch::token_logprobs_and_entropy on CUDA tensors: the CPU path's values and backward") {
  skip_without_gpu();
  for (const auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
    CAPTURE(c10::toString(dtype));
    const torch::Tensor logits = random_logits(1, {3, 5, 1003}).to(dtype);
    torch::manual_seed(2);
    const torch::Tensor tokens = torch::randint(1003, {3, 5}, torch::kLong);
    const torch::Tensor u = torch::randn({3, 5}), w = torch::randn({3, 5});
    const auto run = [&](const torch::Device& d, const torch::Tensor& ids) {
      auto x = logits.to(d).requires_grad_(true);
      if (d.is_cuda()) poison_allocator();
      const auto r = lt::token_logprobs_and_entropy(x, ids.to(d), {0.8});
      ((r.log_probs * u.to(d)).sum() + (r.entropy * w.to(d)).sum()).backward();
      return std::tuple{r, x.grad()};
    };
    for (const auto& ids : {tokens, tokens.to(torch::kInt)}) {
      const auto [cpu, cpu_g] = run(torch::kCPU, ids);
      const auto [dev, dev_g] = run(gpu, ids);
      CHECK((dev.log_probs.device() == gpu));
      CHECK((dev.log_probs.sizes() == cpu.log_probs.sizes()));
      CHECK((dev_g.scalar_type() == dtype));
      // docs/gpu.md: log-probs and entropy within 1e-5, dL/dlogits within 1e-4 of its largest element (bfloat16 and
      // float16 gradients: one ulp of their type).
      CHECK(max_rel_diff(dev.log_probs, cpu.log_probs) <= 1e-5);
      CHECK(max_rel_diff(dev.entropy, cpu.entropy) <= 1e-5);
      CHECK(max_rel_diff(dev_g, cpu_g) <= (dtype == torch::kFloat ? 1e-4 : 1.0 / 128));
    }
  }
  // Only the log-probs in the loss: the entropy's gradient is absent in the backward.
  const torch::Tensor logits = random_logits(4, {6, 257});
  const torch::Tensor tokens = torch::randint(257, {6}, torch::kLong);
  auto xc = logits.clone().requires_grad_(true), xg = logits.to(gpu).requires_grad_(true);
  lt::token_logprobs_and_entropy(xc, tokens).log_probs.sum().backward();
  lt::token_logprobs_and_entropy(xg, tokens.to(gpu)).log_probs.sum().backward();
  CHECK(max_rel_diff(xg.grad(), xc.grad()) <= 1e-4);
}

TEST_CASE("libtorch::token_logprobs_and_entropy on CUDA: the current stream and a token outside the vocabulary named") {
  skip_without_gpu();
  const torch::Tensor logits = random_logits(5, {4096, 512});
  const torch::Tensor tokens = torch::randint(512, {4096}, torch::kLong);
  const auto cpu = lt::token_logprobs_and_entropy(logits, tokens);
  {
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, 0);
    const c10::cuda::CUDAStreamGuard on(side);
    const auto dev = lt::token_logprobs_and_entropy(late_copy(logits, side), late_copy(tokens, side));
    CHECK(max_rel_diff(dev.log_probs, cpu.log_probs) <= 1e-5);
  }
  torch::Tensor bad = tokens.clone();
  bad[7] = 512;
  bad[9] = -1;
  CHECK_THROWS_WITH_AS((void)lt::token_logprobs_and_entropy(logits.to(gpu), bad.to(gpu)),
                       doctest::Contains("tokens[7] is 512, outside the vocabulary [0, 512)"), error);
}

namespace cuda_adapter_test {

/// The bytes of a bool tensor on the host: an element left unwritten (the allocator's poison) differs from 0 and 1.
torch::Tensor bool_bytes(const torch::Tensor& t) { return t.cpu().contiguous().view(torch::kUInt8); }

/// `[B, T]` ids in [3, 40) with EOS (2) in most rows (first, inside, or beyond the row's length) and lengths in [0, T].
std::tuple<torch::Tensor, torch::Tensor> mask_batch(std::int64_t B, std::int64_t T) {
  torch::manual_seed(13);
  torch::Tensor ids = torch::randint(3, 40, {B, T}, torch::kLong);
  const torch::Tensor at = torch::randint(T, {B}, torch::kLong);
  for (std::int64_t i = 0; i < B; ++i)
    if (i % 3 != 0) ids[i][at[i].item<std::int64_t>()] = 2;
  ids[4][0] = 2;
  torch::Tensor lengths = torch::randint(T + 1, {B}, torch::kLong);
  lengths[5] = 0;
  lengths[6] = T;
  return {ids, lengths};
}

} // namespace cuda_adapter_test

TEST_CASE("libtorch::build_response_mask on CUDA tensors: the CPU path's mask, flags and counts, bitwise") {
  skip_without_gpu();
  const auto [ids, lengths] = mask_batch(37, 29);
  // A column slice: rows 29 apart with 21 columns, read in place on both paths.
  const torch::Tensor slice = ids.narrow(1, 3, 21);
  const torch::Tensor slice_len = lengths.clamp_max(21);
  for (const auto dtype : {torch::kLong, torch::kInt})
    for (const bool include_eos : {true, false})
      for (const bool mask_truncated : {false, true})
        for (const int with_lengths : {0, 1, 2}) { // none, int64, int32
          CAPTURE(c10::toString(dtype));
          CAPTURE(include_eos);
          CAPTURE(mask_truncated);
          CAPTURE(with_lengths);
          const response_mask_options o{include_eos, mask_truncated};
          const torch::Tensor x = slice.to(dtype);
          const torch::Tensor len = with_lengths == 0   ? torch::Tensor()
                                    : with_lengths == 1 ? slice_len
                                                        : slice_len.to(torch::kInt);
          const auto cpu = lt::build_response_mask(x, 2, o, len);
          poison_allocator();
          const auto dev = lt::build_response_mask(x.to(gpu), 2, o, len.defined() ? len.to(gpu) : len);
          CHECK((dev.mask.device() == gpu));
          CHECK((dev.truncated.device() == gpu));
          CHECK((dev.mask.scalar_type() == torch::kBool));
          CHECK((dev.truncated.scalar_type() == torch::kBool));
          CHECK((dev.mask.sizes() == cpu.mask.sizes()));
          CHECK(torch::equal(bool_bytes(dev.mask), bool_bytes(cpu.mask)));
          CHECK(torch::equal(bool_bytes(dev.truncated), bool_bytes(cpu.truncated)));
          CHECK(dev.summary.truncated == cpu.summary.truncated);
          CHECK(dev.summary.valid_tokens == cpu.summary.valid_tokens);
          CHECK(dev.summary.valid_tokens == static_cast<std::size_t>(cpu.mask.sum().item<std::int64_t>()));
        }
  // Empty batches: no rows, and rows of no positions.
  const auto none = lt::build_response_mask(torch::zeros({0, 5}, torch::kLong).to(gpu), 2);
  CHECK(none.summary.valid_tokens == 0);
  CHECK((none.mask.sizes() == torch::IntArrayRef{0, 5}));
  const auto flat = lt::build_response_mask(torch::zeros({3, 0}, torch::kInt).to(gpu), 2, {},
                                            torch::zeros({3}, torch::kLong).to(gpu));
  CHECK(flat.summary.truncated == 3);
  CHECK(torch::equal(bool_bytes(flat.truncated), torch::ones({3}, torch::kUInt8)));
}

TEST_CASE("libtorch::build_response_mask on CUDA: the current stream, and the CPU path's errors") {
  skip_without_gpu();
  const auto [ids, lengths] = mask_batch(4096, 256);
  const auto cpu = lt::build_response_mask(ids, 2, {}, lengths);
  {
    const c10::cuda::CUDAStream side = c10::cuda::getStreamFromPool(false, 0);
    const c10::cuda::CUDAStreamGuard on(side);
    const auto dev = lt::build_response_mask(late_copy(ids, side), 2, {}, late_copy(lengths, side));
    CHECK(torch::equal(bool_bytes(dev.mask), bool_bytes(cpu.mask)));
    CHECK(dev.summary.valid_tokens == cpu.summary.valid_tokens);
    CHECK(dev.summary.truncated == cpu.summary.truncated);
  }
  const torch::Tensor small = ids.narrow(0, 0, 2).narrow(1, 0, 3);
  const auto same_error = [&](const torch::Tensor& x, std::int64_t eos, const torch::Tensor& len) {
    const auto message = [](auto&& call) {
      try {
        (void)call();
      } catch (const error& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    };
    const std::string on_cpu = message([&] { return lt::build_response_mask(x, eos, {}, len); });
    std::string on_gpu =
        message([&] { return lt::build_response_mask(x.to(gpu), eos, {}, len.defined() ? len.to(gpu) : len); });
    // The messages describe tensors with their device; apart from that they are the CPU path's.
    for (std::size_t at = on_gpu.find("cuda:0"); at != std::string::npos; at = on_gpu.find("cuda:0", at))
      on_gpu.replace(at, 6, "cpu");
    CHECK(on_gpu == on_cpu);
    return on_gpu;
  };
  CHECK(same_error(small, 2, torch::tensor({3, 4}, torch::kLong)).find("lengths[1] must be in [0, cols]") !=
        std::string::npos);
  CHECK(same_error(small, 2, torch::tensor({-1, 2}, torch::kInt)).find("lengths[0] must be in [0, cols]") !=
        std::string::npos);
  CHECK(same_error(small, 2, torch::tensor({3}, torch::kLong)).find("lengths must be 1-D [B] with B = 2") !=
        std::string::npos);
  CHECK(same_error(small, 2, torch::tensor({3.0, 1.0})).find("lengths must be int64 or int32") != std::string::npos);
  CHECK(same_error(small.to(torch::kInt), std::int64_t{1} << 40, {}).find("does not fit the int32 ids") !=
        std::string::npos);
  CHECK(same_error(small.to(torch::kFloat), 2, {}).find("token_ids must be int64 or int32") != std::string::npos);
  CHECK(same_error(small.reshape({6}), 2, {}).find("token_ids must be 2-D [B, T]") != std::string::npos);
  // Mixed devices name both tensors.
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(small.to(gpu), 2, {}, torch::tensor({1, 2}, torch::kLong)),
                       doctest::Contains("lengths is on cpu but token_ids is on cuda:0"), error);
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(small, 2, {}, torch::tensor({1, 2}, torch::kLong).to(gpu)),
                       doctest::Contains("lengths is on cuda:0 but token_ids is on cpu"), error);
}

TEST_CASE("libtorch adapter on CUDA: mixed devices are located errors") {
  skip_without_gpu();
  const torch::Tensor lp = torch::zeros({2, 3}).to(gpu);
  const torch::Tensor mask = torch::ones({2, 3}, torch::kBool);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss({.log_probs = lp, .mask = mask}),
                       doctest::Contains("mask is on cpu but log_probs is on cuda:0"), error);
  CHECK_THROWS_WITH_AS((void)lt::token_logprobs_and_entropy(lp, torch::zeros({2}, torch::kLong)),
                       doctest::Contains("tokens is on cpu but logits is on cuda:0"), error);
  // rewards → tensor: the device the rewards go to.
  const std::vector<double> values{0.5, 1.0, -2.0};
  const torch::Tensor r = lt::to_tensor(values, torch::kFloat, gpu);
  CHECK((r.device() == gpu));
  CHECK(torch::equal(r.cpu(), lt::to_tensor(values)));
}
