// SPDX-License-Identifier: Apache-2.0
// Building response masks from token ids and the end-of-sequence id.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft {

/// Options of `build_response_mask`.
struct response_mask_options {
  bool include_eos = true; ///< the EOS token itself counts (the policy chose it)
  /// Rows that never produced EOS (cut at the length limit) get an all-zero mask, so they leave the loss.
  /// [TRL mask_truncated_completions]
  bool mask_truncated = false;
};

/// What `build_response_mask` found.
struct response_mask_summary {
  std::size_t truncated = 0;    ///< rows without EOS within their generated length
  std::size_t valid_tokens = 0; ///< ones written into the mask
};

namespace detail {

/// What one row of a response mask came to.
struct response_mask_row_result {
  std::size_t valid = 0; ///< ones written
  bool truncated = false;
};

/// One row of `build_response_mask`: `len` generated positions of `cols`; writes all `cols` mask elements. Shared by
/// every backend.
template <class Id>
MMRAG_RFT_HOST_DEVICE response_mask_row_result response_mask_row(const Id* ids, std::size_t cols, std::size_t len,
                                                                 Id eos_id, bool include_eos, bool mask_truncated,
                                                                 std::uint8_t* mask) noexcept {
  std::size_t eos = len;
  for (std::size_t t = 0; t < len; ++t)
    if (ids[t] == eos_id) {
      eos = t;
      break;
    }
  response_mask_row_result r;
  r.truncated = eos == len;
  r.valid = r.truncated ? (mask_truncated ? 0 : len) : eos + (include_eos ? 1 : 0);
  for (std::size_t t = 0; t < cols; ++t) mask[t] = t < r.valid ? 1 : 0;
  return r;
}

template <class Id>
void validate_response_mask(matrix_view<const Id> token_ids, matrix_view<std::uint8_t> mask,
                            std::span<const std::int64_t> lengths, std::span<std::uint8_t> truncated_rows) {
  constexpr const char* fn = "build_response_mask";
  require(same_shape(mask, token_ids), fn, "mask", "must have the shape of token_ids");
  require(lengths.empty() || lengths.size() == token_ids.rows(), fn, "lengths",
          "must be empty or have one element per row");
  require(truncated_rows.empty() || truncated_rows.size() == token_ids.rows(), fn, "truncated_rows",
          "must be empty or have one element per row");
}

} // namespace detail

/// Writes the response mask of padded generations: mask[i, t] = 1 for t before the first EOS of row i (and at it
/// when `include_eos`), 0 after it — padding after EOS never counts, whatever the pad id is. A row with no EOS is
/// truncated: all its generated positions count (or none, with `mask_truncated`). `lengths` (optional, one per row)
/// gives how many positions each row really generated; positions at or after it never count even without EOS, which
/// fixes the classic bug of counting padding as valid when a response hit the length limit and pad != EOS.
/// `truncated_rows` (optional) receives 1 for truncated rows. A length outside [0, cols] throws `mmrag_rft::error`
/// before anything is written. Complexity: one pass over the ids.
template <std::integral Id>
response_mask_summary build_response_mask(matrix_view<const Id> token_ids, Id eos_id, matrix_view<std::uint8_t> mask,
                                          const response_mask_options& opt = {},
                                          std::span<const std::int64_t> lengths = {},
                                          std::span<std::uint8_t> truncated_rows = {}) {
  detail::validate_response_mask(token_ids, matrix_view<std::uint8_t>(mask), lengths, truncated_rows);
  const std::size_t cols = token_ids.cols();
  // Every length before any row is written, so a bad one leaves the mask and the flags as they were.
  for (std::size_t i = 0; i < lengths.size(); ++i)
    detail::require(lengths[i] >= 0 && static_cast<std::uint64_t>(lengths[i]) <= cols, "build_response_mask", "lengths",
                    "must be in [0, cols]", i);
  response_mask_summary s;
  for (std::size_t i = 0; i < token_ids.rows(); ++i) {
    const std::size_t len = lengths.empty() ? cols : static_cast<std::size_t>(lengths[i]);
    const detail::response_mask_row_result r =
        detail::response_mask_row(token_ids.data() + i * token_ids.row_stride(), cols, len, eos_id, opt.include_eos,
                                  opt.mask_truncated, mask.data() + i * mask.row_stride());
    s.truncated += r.truncated;
    s.valid_tokens += r.valid;
    if (!truncated_rows.empty()) truncated_rows[i] = r.truncated ? 1 : 0;
  }
  return s;
}

} // namespace mmrag_rft
