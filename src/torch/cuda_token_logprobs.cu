// SPDX-License-Identifier: Apache-2.0
// nvcc side of mmrag_rft::torch_cuda for token_logprobs_and_entropy: the CUDA backend's row kernels.
#include "cuda_token_logprobs.hpp"

#include <mmrag_rft/backends/cuda/token_logprobs.cuh>

namespace mmrag_rft::libtorch::detail::cuda_kernels {

template <class L>
void token_logprobs_and_entropy(void* stream, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                                const token_logprobs_outputs& out, const token_logprobs_options& options,
                                unsigned long long* bad_row) {
  const gpu::launch l{static_cast<cudaStream_t>(stream), nullptr, 0, false};
  gpu::token_logprobs_and_entropy<L>(l, logits, tokens, out, options, bad_row);
}

template <class L>
void token_logprobs_and_entropy_backward(void* stream, matrix_view<const L> logits,
                                         std::span<const std::int64_t> tokens, const token_logprobs_grads& in,
                                         matrix_view<L> grad_logits, const token_logprobs_options& options) {
  const gpu::launch l{static_cast<cudaStream_t>(stream), nullptr, 0, false};
  gpu::token_logprobs_and_entropy_backward<L, L>(l, logits, tokens, in, grad_logits, options);
}

template void token_logprobs_and_entropy<float>(void*, matrix_view<const float>, std::span<const std::int64_t>,
                                                const token_logprobs_outputs&, const token_logprobs_options&,
                                                unsigned long long*);
template void token_logprobs_and_entropy<bfloat16>(void*, matrix_view<const bfloat16>, std::span<const std::int64_t>,
                                                   const token_logprobs_outputs&, const token_logprobs_options&,
                                                   unsigned long long*);
template void token_logprobs_and_entropy_backward<float>(void*, matrix_view<const float>, std::span<const std::int64_t>,
                                                         const token_logprobs_grads&, matrix_view<float>,
                                                         const token_logprobs_options&);
template void token_logprobs_and_entropy_backward<bfloat16>(void*, matrix_view<const bfloat16>,
                                                            std::span<const std::int64_t>, const token_logprobs_grads&,
                                                            matrix_view<bfloat16>, const token_logprobs_options&);

} // namespace mmrag_rft::libtorch::detail::cuda_kernels
