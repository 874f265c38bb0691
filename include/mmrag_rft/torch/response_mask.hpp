// SPDX-License-Identifier: Apache-2.0
// build_response_mask on LibTorch token-id tensors: the mask of the generated tokens as a bool tensor.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/core/response_mask.hpp>
#include <mmrag_rft/torch/detail/tensor_view.hpp>
#include <mmrag_rft/torch/device.hpp>

#include <torch/torch.h>

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

namespace mmrag_rft::libtorch {

struct response_mask_output;

namespace detail {
#ifdef MMRAG_RFT_TORCH_CUDA
/// The CUDA path (mmrag_rft::torch_cuda, src/torch/cuda_adapter.cpp): the Thrust backend's `build_response_mask` on
/// the ids' device memory, on the current stream of their device; the arguments are validated by the caller.
[[nodiscard]] response_mask_output cuda_build_response_mask(const torch::Tensor& token_ids, std::int64_t eos_id,
                                                            const response_mask_options& options,
                                                            const torch::Tensor& lengths);
#endif
} // namespace detail

/// What `build_response_mask` returns: the `[B, T]` mask (bool: what `libtorch::policy_loss` takes as it is), one
/// truncated flag per row (bool `[B]`: no EOS within the row's generated length) and the counts. On the device of
/// the token ids.
struct response_mask_output {
  torch::Tensor mask;
  torch::Tensor truncated;
  response_mask_summary summary;
};

namespace detail {
/// The outputs of `build_response_mask`, allocated on the ids' device, and the byte views the backends write into:
/// torch.bool is one byte holding 0 or 1, the layout of the mask and the flags.
struct response_mask_buffers {
  response_mask_output out;
  torch::Tensor mask_bytes, truncated_bytes;
};
[[nodiscard]] inline response_mask_buffers make_response_mask_buffers(const torch::Tensor& token_ids) {
  response_mask_buffers b;
  const auto bool_options = token_ids.options().dtype(torch::kBool);
  b.out.mask = torch::empty({token_ids.size(0), token_ids.size(1)}, bool_options);
  b.out.truncated = torch::empty({token_ids.size(0)}, bool_options);
  b.mask_bytes = b.out.mask.view(torch::kUInt8);
  b.truncated_bytes = b.out.truncated.view(torch::kUInt8);
  return b;
}
} // namespace detail

/// `mmrag_rft::build_response_mask` of a `[B, T]` tensor of generated token ids (int64 or int32; a slice with a row
/// stride is read in place), on the CPU or, with `mmrag_rft::torch_cuda`, on a CUDA device: 1 up to the first
/// `eos_id` of each row (and at it, `options.include_eos`), 0 after it, whatever the pad id. `lengths` (optional: an
/// undefined tensor means every row generated T tokens) is a `[B]` int64 or int32 tensor of generated lengths on the
/// ids' device; positions at or after a row's length never count. Results are those of the span version (bitwise,
/// any backend; on CUDA the Thrust backend on the ids' current stream, the summary read back). Throws
/// `mmrag_rft::error` naming the tensor and its shape for a wrong dtype, rank, shape or device, for an `eos_id` that
/// the ids' dtype cannot hold, or a length outside [0, T] (naming its row, before anything is written). `exec` picks
/// the CPU backend and takes no part on CUDA.
template <exec::ExecutionBackend E>
requires(std::is_same_v<E, exec::seq_t> || std::is_same_v<E, exec::par_t>)
[[nodiscard]] response_mask_output build_response_mask(const E& exec, const torch::Tensor& token_ids,
                                                       std::int64_t eos_id, const response_mask_options& options = {},
                                                       const torch::Tensor& lengths = {}) {
  constexpr const char* fn = "libtorch::build_response_mask";
  namespace d = detail;
  d::require(token_ids.defined(), fn, "token_ids", "is an undefined tensor");
  const backend_choice where = choose_backend(fn, {device_of("token_ids", token_ids), device_of("lengths", lengths)});
  d::require(token_ids.dim() == 2, fn, "token_ids", "must be 2-D [B, T], not " + d::describe(token_ids));
  const bool i32 = token_ids.scalar_type() == torch::kInt;
  d::require(i32 || token_ids.scalar_type() == torch::kLong, fn, "token_ids",
             "must be int64 or int32, not " + d::describe(token_ids));
  d::require(!i32 || (eos_id >= std::numeric_limits<std::int32_t>::min() &&
                      eos_id <= std::numeric_limits<std::int32_t>::max()),
             fn, "eos_id", std::to_string(eos_id) + " does not fit the int32 ids of " + d::describe(token_ids));
  const std::int64_t B = token_ids.size(0);
  if (lengths.defined()) {
    d::require(lengths.dim() == 1 && lengths.size(0) == B, fn, "lengths",
               "must be 1-D [B] with B = " + std::to_string(B) + " (the rows of token_ids " + d::describe(token_ids) +
                   "), not " + d::describe(lengths));
    d::require(lengths.scalar_type() == torch::kLong || lengths.scalar_type() == torch::kInt, fn, "lengths",
               "must be int64 or int32, not " + d::describe(lengths));
  }
  if (where.kind == backend_kind::cuda) {
#ifdef MMRAG_RFT_TORCH_CUDA
    return d::cuda_build_response_mask(token_ids, eos_id, options, lengths);
#else
    d::throw_cuda_not_built(fn, "token_ids", where.device);
#endif
  }
  torch::Tensor len_keep;
  std::span<const std::int64_t> lens;
  if (lengths.defined()) lens = d::as_span<std::int64_t>(lengths.to(torch::kLong), len_keep, fn, "lengths");
  d::response_mask_buffers b = d::make_response_mask_buffers(token_ids);
  const auto run = [&](auto tag) {
    using Id = decltype(tag);
    torch::Tensor keep;
    const auto ids = d::as_matrix<Id>(token_ids, keep, fn, "token_ids");
    b.out.summary =
        mmrag_rft::build_response_mask(exec, ids, static_cast<Id>(eos_id), d::as_output<std::uint8_t>(b.mask_bytes),
                                       options, lens, d::as_output_span<std::uint8_t>(b.truncated_bytes));
  };
  if (i32) run(std::int32_t{});
  else run(std::int64_t{});
  return std::move(b.out);
}

/// As above with `exec::seq` (one pass over the ids; a mask is cheap next to a forward pass).
[[nodiscard]] inline response_mask_output build_response_mask(const torch::Tensor& token_ids, std::int64_t eos_id,
                                                              const response_mask_options& options = {},
                                                              const torch::Tensor& lengths = {}) {
  return build_response_mask(exec::seq, token_ids, eos_id, options, lengths);
}

} // namespace mmrag_rft::libtorch
