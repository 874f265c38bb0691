// SPDX-License-Identifier: Apache-2.0
// LibTorch side of mmrag_rft::torch_cuda: CUDA tensors' device memory handed to the CUDA backend on the current
// stream of their device, outputs and workspace allocated by LibTorch's caching allocator on that device.
#include "cuda_grpo.hpp"

#include <mmrag_rft/torch/advantages.hpp>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace mmrag_rft::libtorch::detail {

advantages_output cuda_grpo_advantages(const torch::Tensor& rewards, const group_layout& groups,
                                       const grpo_options& options) {
  const c10::cuda::CUDAGuard guard(rewards.device());
  void* stream = c10::cuda::getCurrentCUDAStream(rewards.device().index()).stream();
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

} // namespace mmrag_rft::libtorch::detail
