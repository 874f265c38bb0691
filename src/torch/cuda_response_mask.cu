// SPDX-License-Identifier: Apache-2.0
// nvcc side of mmrag_rft::torch_cuda for build_response_mask: the Thrust backend on the CUDA system (one device
// thread per row running the CPU path's row function, so the mask is bitwise the CPU path's).
#include "cuda_response_mask.hpp"

#include <mmrag_rft/backends/thrust.hpp>
#include <mmrag_rft/core/response_mask.hpp>

namespace mmrag_rft::libtorch::detail::cuda_kernels {

template <class Id>
response_mask_summary build_response_mask(void* stream, matrix_view<const Id> token_ids, Id eos_id,
                                          matrix_view<std::uint8_t> mask, const response_mask_options& options,
                                          std::span<const std::int64_t> lengths,
                                          std::span<std::uint8_t> truncated_rows) {
  return mmrag_rft::build_response_mask(exec::thrust.on(stream), token_ids, eos_id, mask, options, lengths,
                                        truncated_rows);
}

template response_mask_summary
build_response_mask<std::int32_t>(void*, matrix_view<const std::int32_t>, std::int32_t, matrix_view<std::uint8_t>,
                                  const response_mask_options&, std::span<const std::int64_t>, std::span<std::uint8_t>);
template response_mask_summary
build_response_mask<std::int64_t>(void*, matrix_view<const std::int64_t>, std::int64_t, matrix_view<std::uint8_t>,
                                  const response_mask_options&, std::span<const std::int64_t>, std::span<std::uint8_t>);

} // namespace mmrag_rft::libtorch::detail::cuda_kernels
