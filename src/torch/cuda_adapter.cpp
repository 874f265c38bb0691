// SPDX-License-Identifier: Apache-2.0
// LibTorch side of mmrag_rft::torch_cuda: CUDA tensors' device memory handed to the CUDA backend on the current
// stream of their device, outputs and workspace allocated by LibTorch's caching allocator on that device.
#include "cuda_grpo.hpp"
#include "cuda_policy_loss.hpp"
#include "cuda_response_mask.hpp"
#include "cuda_token_logprobs.hpp"

#include <mmrag_rft/torch/advantages.hpp>
#include <mmrag_rft/torch/policy_loss.hpp>
#include <mmrag_rft/torch/response_mask.hpp>
#include <mmrag_rft/torch/token_logprobs.hpp>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdint>
#include <span>
#include <string>
#include <utility>

namespace mmrag_rft::libtorch::detail {

namespace {

/// The current CUDA stream of `device` (the one LibTorch's own kernels on it run on), as a cudaStream_t.
void* current_stream(const c10::Device& device) { return c10::cuda::getCurrentCUDAStream(device.index()).stream(); }

} // namespace

advantages_output cuda_grpo_advantages(const torch::Tensor& rewards, const group_layout& groups,
                                       const grpo_options& options) {
  const c10::cuda::CUDAGuard guard(rewards.device());
  void* stream = current_stream(rewards.device());
  const torch::Tensor r = rewards.contiguous(); // on the device: no host copy
  advantages_output out;
  out.advantages = torch::empty(r.sizes(), r.options());
  out.keep = torch::empty(r.sizes(), r.options().dtype(torch::kUInt8));
  torch::Tensor offsets;
  if (!groups.is_uniform()) {
    // The layout is host metadata (validated there); the kernels read its offsets from device memory.
    const auto o = groups.offsets();
    offsets = torch::from_blob(const_cast<std::int64_t*>(o.data()), {static_cast<std::int64_t>(o.size())}, torch::kLong)
                  .to(r.device());
  }
  const auto run = [&](auto tag) {
    using T = decltype(tag);
    const std::size_t bytes = cuda_kernels::grpo_workspace_bytes<T>(groups, options);
    torch::Tensor workspace = torch::empty({static_cast<std::int64_t>(bytes)}, r.options().dtype(torch::kUInt8));
    out.summary = cuda_kernels::grpo_advantages<T>(
        stream, workspace.data_ptr(), bytes, static_cast<const T*>(r.data_ptr()), static_cast<std::size_t>(r.numel()),
        groups, offsets.defined() ? offsets.data_ptr<std::int64_t>() : nullptr,
        static_cast<T*>(out.advantages.data_ptr()), out.keep.data_ptr<std::uint8_t>(), options);
  };
  if (r.scalar_type() == torch::kDouble) run(double{});
  else run(float{});
  return out;
}

torch::Tensor cuda_policy_loss(const policy_loss_tensors& t, const policy_loss_options& options,
                               policy_loss_result& result, torch::Tensor& grad_log_probs, torch::Tensor& grad_entropy) {
  const torch::Tensor& lp = t.log_probs;
  const c10::cuda::CUDAGuard guard(lp.device());
  void* stream = current_stream(lp.device());
  const auto run = [&](auto tag) {
    using T = decltype(tag);
    const loss_views<T> v(t, /*on_device=*/true);
    grad_log_probs = torch::empty({lp.size(0), lp.size(1)}, lp.options().dtype(dtype_of<T>()));
    policy_loss_grads<T> out{as_output<T>(grad_log_probs), {}};
    if (t.entropy.defined()) {
      grad_entropy = torch::empty_like(grad_log_probs, torch::MemoryFormat::Contiguous);
      out.entropy = as_output<T>(grad_entropy);
    }
    // As on the CPU: the kernel counts non-finite inputs, and the lookup below names the tensor and the token.
    policy_loss_options o = options;
    if (o.nonfinite == nonfinite_policy::error) o.nonfinite = nonfinite_policy::propagate;
    const std::size_t bytes = cuda_kernels::policy_loss_workspace_bytes(static_cast<std::size_t>(lp.size(0)));
    torch::Tensor workspace = torch::empty({static_cast<std::int64_t>(bytes)}, lp.options().dtype(torch::kUInt8));
    result = cuda_kernels::policy_loss<T>(stream, workspace.data_ptr(), bytes, v.in, out, o);
    if (options.nonfinite == nonfinite_policy::error && result.stats.nonfinite_tokens > 0) {
      // Off the hot path (the call fails): host copies of the inputs to find the first bad token.
      const auto host = [](const torch::Tensor& x) { return x.defined() ? x.cpu() : x; };
      const policy_loss_tensors h{
          host(t.log_probs), host(t.old_log_probs), host(t.advantages), host(t.sequence_advantages),
          host(t.mask),      host(t.ref_log_probs), host(t.entropy)};
      const loss_views<T> hv(h);
      throw_nonfinite(hv.in, o);
    }
    return torch::scalar_tensor(result.loss, lp.options().dtype(dtype_of<T>()));
  };
  if (lp.scalar_type() == torch::kDouble) return run(double{});
  return run(float{});
}

response_mask_output cuda_build_response_mask(const torch::Tensor& token_ids, std::int64_t eos_id,
                                              const response_mask_options& options, const torch::Tensor& lengths) {
  constexpr const char* fn = "libtorch::build_response_mask";
  const c10::cuda::CUDAGuard guard(token_ids.device());
  void* stream = current_stream(token_ids.device());
  // int32 lengths are widened on the device (the row pass reads int64): the lengths, like the ids, stay there.
  torch::Tensor len_keep;
  std::span<const std::int64_t> lens;
  if (lengths.defined()) lens = as_device_span<std::int64_t>(lengths.to(torch::kLong), len_keep, fn, "lengths");
  response_mask_buffers b = make_response_mask_buffers(token_ids);
  const auto run = [&](auto tag) {
    using Id = decltype(tag);
    torch::Tensor keep;
    const auto ids = as_device_matrix<Id>(token_ids, keep, fn, "token_ids");
    b.out.summary = cuda_kernels::build_response_mask<Id>(stream, ids, static_cast<Id>(eos_id),
                                                          as_output<std::uint8_t>(b.mask_bytes), options, lens,
                                                          as_output_span<std::uint8_t>(b.truncated_bytes));
  };
  if (token_ids.scalar_type() == torch::kInt) run(std::int32_t{});
  else run(std::int64_t{});
  return std::move(b.out);
}

void cuda_token_logprobs(const torch::Tensor& rows, const torch::Tensor& ids, torch::Tensor& log_probs,
                         torch::Tensor& entropy, torch::Tensor& lse, double temperature) {
  const c10::cuda::CUDAGuard guard(rows.device());
  void* stream = current_stream(rows.device());
  // The kernel writes the smallest row whose token is outside [0, V) here; all ones (ULLONG_MAX) means none.
  torch::Tensor bad_row = torch::full({1}, std::int64_t{-1}, rows.options().dtype(torch::kLong));
  torch::Tensor tok_keep;
  const auto tokens = as_device_span<std::int64_t>(ids, tok_keep, adapter_logprobs_name, "tokens");
  with_logit_type(rows, [&](auto tag) {
    using L = decltype(tag);
    torch::Tensor keep;
    const auto view = as_device_matrix<L>(rows, keep, adapter_logprobs_name, "logits");
    cuda_kernels::token_logprobs_and_entropy<L>(
        stream, view, tokens,
        {as_output_span<float>(log_probs), as_output_span<float>(entropy), as_output_span<float>(lse)}, {temperature},
        reinterpret_cast<unsigned long long*>(bad_row.data_ptr<std::int64_t>()));
  });
  if (rows.size(0) == 0) return;
  const std::int64_t row = bad_row.item<std::int64_t>();
  if (row == -1) return;
  const std::int64_t id = ids[row].item<std::int64_t>();
  throw error(mmrag_rft::detail::token_logprobs_fn_name, "tokens",
              "is " + std::to_string(id) + ", outside the vocabulary [0, " + std::to_string(rows.size(1)) + ")",
              static_cast<std::size_t>(row));
}

void cuda_token_logprobs_backward(const torch::Tensor& rows, const torch::Tensor& ids, const torch::Tensor& lse,
                                  const torch::Tensor& entropy, const torch::Tensor& grad_log_probs,
                                  const torch::Tensor& grad_entropy, torch::Tensor& grad_rows, double temperature) {
  const c10::cuda::CUDAGuard guard(rows.device());
  void* stream = current_stream(rows.device());
  constexpr const char* fn = adapter_logprobs_name;
  torch::Tensor tok_keep, lse_keep, ent_keep, glp_keep, gh_keep;
  token_logprobs_grads in{as_device_span<float>(lse, lse_keep, fn, "lse"), {}, {}, {}};
  if (grad_log_probs.defined()) in.grad_log_probs = as_device_span<float>(grad_log_probs, glp_keep, fn, "grad");
  if (grad_entropy.defined()) {
    in.grad_entropy = as_device_span<float>(grad_entropy, gh_keep, fn, "grad");
    in.entropy = as_device_span<float>(entropy, ent_keep, fn, "entropy");
  }
  const auto tokens = as_device_span<std::int64_t>(ids, tok_keep, fn, "tokens");
  with_logit_type(rows, [&](auto tag) {
    using L = decltype(tag);
    torch::Tensor keep;
    const auto view = as_device_matrix<L>(rows, keep, fn, "logits");
    cuda_kernels::token_logprobs_and_entropy_backward<L>(stream, view, tokens, in, as_output<L>(grad_rows),
                                                         {temperature});
  });
}

} // namespace mmrag_rft::libtorch::detail
