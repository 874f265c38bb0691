// SPDX-License-Identifier: Apache-2.0
// The seam for build_response_mask between the LibTorch side of mmrag_rft::torch_cuda and its nvcc side: views of
// device memory and a stream.
#pragma once
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/core/response_mask_plan.hpp>

#include <cstdint>
#include <span>

namespace mmrag_rft::libtorch::detail::cuda_kernels {

/// `mmrag_rft::build_response_mask` with `exec::thrust` on `stream` (a cudaStream_t), every pointer device memory;
/// the summary is synchronised back, and a length outside [0, cols] throws before anything is written.
template <class Id>
response_mask_summary build_response_mask(void* stream, matrix_view<const Id> token_ids, Id eos_id,
                                          matrix_view<std::uint8_t> mask, const response_mask_options& options,
                                          std::span<const std::int64_t> lengths,
                                          std::span<std::uint8_t> truncated_rows);

} // namespace mmrag_rft::libtorch::detail::cuda_kernels
