// SPDX-License-Identifier: Apache-2.0
// The seam between the LibTorch side of mmrag_rft::torch_cuda (host compiler, LibTorch headers) and its nvcc side
// (the CUDA backend, no LibTorch): device pointers, a stream and a workspace.
#pragma once
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/group_layout.hpp>

#include <cstddef>
#include <cstdint>

namespace mmrag_rft::libtorch::detail::cuda_kernels {

template <class T>
[[nodiscard]] std::size_t grpo_workspace_bytes(const group_layout& groups, const grpo_options& options);

/// `mmrag_rft::gpu::grpo_advantages` on `stream` (a cudaStream_t), the summary synchronised back.
template <class T>
advantage_summary grpo_advantages(void* stream, void* workspace, std::size_t workspace_bytes, const T* rewards,
                                  std::size_t n, const group_layout& groups, const std::int64_t* device_offsets,
                                  T* advantages, std::uint8_t* keep, const grpo_options& options);

} // namespace mmrag_rft::libtorch::detail::cuda_kernels
