// SPDX-License-Identifier: Apache-2.0
// Building response masks from token ids and the end-of-sequence id.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu/response_mask.hpp>
#include <mmrag_rft/backends/dispatch.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>
#include <mmrag_rft/core/response_mask_plan.hpp>

namespace mmrag_rft {

/// Writes the response mask of padded generations: mask[i, t] = 1 for t before the first EOS of row i (and at it
/// when `include_eos`), 0 after it — padding after EOS never counts, whatever the pad id is. A row with no EOS is
/// truncated: all its generated positions count (or none, with `mask_truncated`). `lengths` (optional, one per row)
/// gives how many positions each row really generated; positions at or after it never count even without EOS, which
/// fixes the classic bug of counting padding as valid when a response hit the length limit and pad != EOS.
/// `truncated_rows` (optional) receives 1 for truncated rows. Complexity: one pass over the ids.
/// Call: `build_response_mask([backend,] token_ids, eos_id, mask, options = {}, lengths = {}, truncated_rows = {})`.
struct build_response_mask_fn {
  template <exec::ExecutionBackend E, std::integral Id>
  requires exec::implements<E, build_response_mask_fn, matrix_view<const Id>, Id, matrix_view<std::uint8_t>,
                            const response_mask_options&, std::span<const std::int64_t>, std::span<std::uint8_t>>
  response_mask_summary operator()(const E& exec, matrix_view<const Id> token_ids, std::type_identity_t<Id> eos_id,
                                   matrix_view<std::uint8_t> mask, const response_mask_options& opt = {},
                                   std::span<const std::int64_t> lengths = {},
                                   std::span<std::uint8_t> truncated_rows = {}) const {
    return exec::run(*this, exec.derived(), token_ids, eos_id, mask, opt, lengths, truncated_rows);
  }
  template <std::integral Id>
  response_mask_summary operator()(matrix_view<const Id> token_ids, std::type_identity_t<Id> eos_id,
                                   matrix_view<std::uint8_t> mask, const response_mask_options& opt = {},
                                   std::span<const std::int64_t> lengths = {},
                                   std::span<std::uint8_t> truncated_rows = {}) const {
    return exec::run(*this, exec::seq, token_ids, eos_id, mask, opt, lengths, truncated_rows);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED(
      (exec::implements<Backend, build_response_mask_fn, matrix_view<const std::int64_t>, std::int64_t,
                        matrix_view<std::uint8_t>, const response_mask_options&, std::span<const std::int64_t>,
                        std::span<std::uint8_t>> ||
       exec::implements<Backend, build_response_mask_fn, matrix_view<const std::int32_t>, std::int32_t,
                        matrix_view<std::uint8_t>, const response_mask_options&, std::span<const std::int64_t>,
                        std::span<std::uint8_t>>));
};
inline constexpr build_response_mask_fn build_response_mask{};

} // namespace mmrag_rft
