// SPDX-License-Identifier: Apache-2.0
// The seam for policy_loss between the LibTorch side of mmrag_rft::torch_cuda and its nvcc side: views of device
// memory, a stream and a workspace.
#pragma once
#include <mmrag_rft/losses/options.hpp>
#include <mmrag_rft/losses/policy_loss_types.hpp>

#include <cstddef>

namespace mmrag_rft::libtorch::detail::cuda_kernels {

/// `mmrag_rft::gpu::policy_loss_workspace_bytes`.
[[nodiscard]] std::size_t policy_loss_workspace_bytes(std::size_t rows);

/// `mmrag_rft::gpu::policy_loss` on `stream` (a cudaStream_t), the loss and statistics synchronised back.
template <class T>
policy_loss_result policy_loss(void* stream, void* workspace, std::size_t workspace_bytes,
                               const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                               const policy_loss_options& options);

} // namespace mmrag_rft::libtorch::detail::cuda_kernels
