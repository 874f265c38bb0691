// SPDX-License-Identifier: Apache-2.0
// grpo_advantages on a LibTorch rewards tensor: advantages as a tensor of the rewards' dtype and shape.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/torch/detail/tensor_view.hpp>
#include <mmrag_rft/torch/device.hpp>

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <type_traits>

namespace mmrag_rft::libtorch {

struct advantages_output;

namespace detail {
#ifdef MMRAG_RFT_TORCH_CUDA
/// The CUDA path (mmrag_rft::torch_cuda, src/torch/cuda_adapter.cpp): `mmrag_rft::gpu::grpo_advantages` on the rewards'
/// device memory, on the current stream of their device.
[[nodiscard]] advantages_output cuda_grpo_advantages(const torch::Tensor& rewards, const group_layout& groups,
                                                     const grpo_options& options);
#endif
} // namespace detail

/// What `grpo_advantages` returns: the advantages (the rewards' dtype and shape), `keep` (uint8, 1 where the
/// completion entered its group's statistics: 0 only for non-finite rewards under `nonfinite_rewards::mask_out`) and
/// the summary (degenerate and singleton groups, masked-out completions).
struct advantages_output {
  torch::Tensor advantages;
  torch::Tensor keep;
  advantage_summary summary;
};

/// `mmrag_rft::grpo_advantages` of a rewards tensor (float32 or float64, on the CPU or, with `mmrag_rft::torch_cuda`, on a CUDA device; one reward per completion, any shape:
/// read flat in row-major order) laid out by `groups`. Results, options, errors and degenerate cases are those of the
/// span version (bitwise); no gradient (advantages are constants of the loss). `exec::seq` or
/// `exec::par[.with_threads(n)]`; bitwise the same for either.
template <exec::ExecutionBackend E>
requires(std::is_same_v<E, exec::seq_t> || std::is_same_v<E, exec::par_t>)
[[nodiscard]] advantages_output grpo_advantages(const E& exec, const torch::Tensor& rewards, const group_layout& groups,
                                                const grpo_options& options = {}) {
  constexpr const char* fn = "libtorch::grpo_advantages";
  detail::require(rewards.defined(), fn, "rewards", "is an undefined tensor");
  detail::require(rewards.scalar_type() == torch::kFloat || rewards.scalar_type() == torch::kDouble, fn, "rewards",
                  "must be float32 or float64, not " + detail::describe(rewards));
  const backend_choice where = choose_backend(fn, {device_of("rewards", rewards)});
  if (where.kind == backend_kind::cuda) {
#ifdef MMRAG_RFT_TORCH_CUDA
    return detail::cuda_grpo_advantages(rewards, groups, options);
#else
    detail::throw_cuda_not_built(fn, "rewards", where.device);
#endif
  }
  advantages_output out;
  out.advantages = torch::empty(rewards.sizes(), rewards.options().memory_format(torch::MemoryFormat::Contiguous));
  out.keep = torch::empty(rewards.sizes(), rewards.options().dtype(torch::kUInt8));
  const auto run = [&](auto tag) {
    using T = decltype(tag);
    torch::Tensor keep_r;
    const auto r = detail::as_span<T>(rewards, keep_r, fn, "rewards");
    out.summary = mmrag_rft::grpo_advantages(exec, r, groups, detail::as_output_span<T>(out.advantages), options,
                                             detail::as_output_span<std::uint8_t>(out.keep));
  };
  if (rewards.scalar_type() == torch::kDouble) run(double{});
  else run(float{});
  return out;
}

/// Uniform groups of `group_size` consecutive completions (TRL's and OpenRLHF's `reshape(-1, G)`); the number of
/// rewards must be a multiple of it.
template <exec::ExecutionBackend E>
requires(std::is_same_v<E, exec::seq_t> || std::is_same_v<E, exec::par_t>)
[[nodiscard]] advantages_output grpo_advantages(const E& exec, const torch::Tensor& rewards, std::int64_t group_size,
                                                const grpo_options& options = {}) {
  constexpr const char* fn = "libtorch::grpo_advantages";
  detail::require(rewards.defined(), fn, "rewards", "is an undefined tensor");
  detail::require(group_size > 0 && rewards.numel() % group_size == 0, fn, "group_size",
                  "must be > 0 and divide the number of rewards (" + std::to_string(rewards.numel()) + "), not " +
                      std::to_string(group_size));
  const auto g = static_cast<std::size_t>(group_size);
  return grpo_advantages(exec, rewards, group_layout::uniform(static_cast<std::size_t>(rewards.numel()) / g, g),
                         options);
}

/// As above with `exec::par` (all hardware threads).
[[nodiscard]] inline advantages_output grpo_advantages(const torch::Tensor& rewards, std::int64_t group_size,
                                                       const grpo_options& options = {}) {
  return grpo_advantages(exec::par, rewards, group_size, options);
}
[[nodiscard]] inline advantages_output grpo_advantages(const torch::Tensor& rewards, const group_layout& groups,
                                                       const grpo_options& options = {}) {
  return grpo_advantages(exec::par, rewards, groups, options);
}

} // namespace mmrag_rft::libtorch
