// SPDX-License-Identifier: Apache-2.0
// The seam for token_logprobs_and_entropy (forward and backward) between the LibTorch side of mmrag_rft::torch_cuda
// and its nvcc side: views of device memory and a stream.
#pragma once
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>
#include <mmrag_rft/logits/token_logprobs_plan.hpp>

#include <cstdint>
#include <span>

namespace mmrag_rft::libtorch::detail::cuda_kernels {

/// `mmrag_rft::gpu::token_logprobs_and_entropy` on `stream` (asynchronous); `bad_row` as there (device memory).
template <class L>
void token_logprobs_and_entropy(void* stream, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                                const token_logprobs_outputs& out, const token_logprobs_options& options,
                                unsigned long long* bad_row);

/// `mmrag_rft::gpu::token_logprobs_and_entropy_backward` on `stream` (asynchronous); the gradient has the logits'
/// element type.
template <class L>
void token_logprobs_and_entropy_backward(void* stream, matrix_view<const L> logits,
                                         std::span<const std::int64_t> tokens, const token_logprobs_grads& in,
                                         matrix_view<L> grad_logits, const token_logprobs_options& options);

} // namespace mmrag_rft::libtorch::detail::cuda_kernels
