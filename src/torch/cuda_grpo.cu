// SPDX-License-Identifier: Apache-2.0
// nvcc side of mmrag_rft::torch_cuda: the CUDA backend's kernels on the pointers and stream the LibTorch side passes.
#include "cuda_grpo.hpp"

#include <mmrag_rft/backends/cuda/grpo.cuh>

namespace mmrag_rft::libtorch::detail::cuda_kernels {

template <class T>
std::size_t grpo_workspace_bytes(const group_layout& groups, const grpo_options& options) {
  return gpu::grpo_workspace_bytes<T>(groups, options);
}

template <class T>
advantage_summary grpo_advantages(void* stream, void* workspace, std::size_t workspace_bytes, const T* rewards,
                                  std::size_t n, const group_layout& groups, const std::int64_t* device_offsets,
                                  T* advantages, std::uint8_t* keep, const grpo_options& options) {
  const gpu::launch l{static_cast<cudaStream_t>(stream), workspace, workspace_bytes, true};
  return gpu::grpo_advantages<T>(l, std::span<const T>(rewards, n), groups, device_offsets, std::span<T>(advantages, n),
                                 options, std::span<std::uint8_t>(keep, n));
}

template std::size_t grpo_workspace_bytes<float>(const group_layout&, const grpo_options&);
template std::size_t grpo_workspace_bytes<double>(const group_layout&, const grpo_options&);
template advantage_summary grpo_advantages<float>(void*, void*, std::size_t, const float*, std::size_t,
                                                  const group_layout&, const std::int64_t*, float*, std::uint8_t*,
                                                  const grpo_options&);
template advantage_summary grpo_advantages<double>(void*, void*, std::size_t, const double*, std::size_t,
                                                   const group_layout&, const std::int64_t*, double*, std::uint8_t*,
                                                   const grpo_options&);

} // namespace mmrag_rft::libtorch::detail::cuda_kernels
