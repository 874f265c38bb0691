// SPDX-License-Identifier: Apache-2.0
// nvcc side of mmrag_rft::torch_cuda for policy_loss: the CUDA backend's fused loss kernel.
#include "cuda_policy_loss.hpp"

#include <mmrag_rft/backends/cuda/policy_loss.cuh>

namespace mmrag_rft::libtorch::detail::cuda_kernels {

std::size_t policy_loss_workspace_bytes(std::size_t rows) { return gpu::policy_loss_workspace_bytes(rows); }

template <class T>
policy_loss_result policy_loss(void* stream, void* workspace, std::size_t workspace_bytes,
                               const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                               const policy_loss_options& options) {
  const gpu::launch l{static_cast<cudaStream_t>(stream), workspace, workspace_bytes, true};
  return gpu::policy_loss<T>(l, in, out, options);
}

template policy_loss_result policy_loss<float>(void*, void*, std::size_t, const policy_loss_inputs<float>&,
                                               const policy_loss_grads<float>&, const policy_loss_options&);
template policy_loss_result policy_loss<double>(void*, void*, std::size_t, const policy_loss_inputs<double>&,
                                                const policy_loss_grads<double>&, const policy_loss_options&);

} // namespace mmrag_rft::libtorch::detail::cuda_kernels
