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

/// Writes the response mask of padded generations: mask[i, t] = 1 for t before the first EOS of row i (and at it
/// when `include_eos`), 0 after it — padding after EOS never counts, whatever the pad id is. A row with no EOS is
/// truncated: all its generated positions count (or none, with `mask_truncated`). `lengths` (optional, one per row)
/// gives how many positions each row really generated; positions at or after it never count even without EOS, which
/// fixes the classic bug of counting padding as valid when a response hit the length limit and pad != EOS.
/// `truncated_rows` (optional) receives 1 for truncated rows. Complexity: one pass over the ids.
template <std::integral Id>
response_mask_summary build_response_mask(matrix_view<const Id> token_ids, Id eos_id, matrix_view<std::uint8_t> mask,
                                          const response_mask_options& opt = {},
                                          std::span<const std::int64_t> lengths = {},
                                          std::span<std::uint8_t> truncated_rows = {}) {
  constexpr const char* fn = "build_response_mask";
  detail::require(detail::same_shape(mask, token_ids), fn, "mask", "must have the shape of token_ids");
  detail::require(lengths.empty() || lengths.size() == token_ids.rows(), fn, "lengths",
                  "must be empty or have one element per row");
  detail::require(truncated_rows.empty() || truncated_rows.size() == token_ids.rows(), fn, "truncated_rows",
                  "must be empty or have one element per row");
  response_mask_summary s;
  const std::size_t cols = token_ids.cols();
  for (std::size_t i = 0; i < token_ids.rows(); ++i) {
    std::size_t len = cols;
    if (!lengths.empty()) {
      detail::require(lengths[i] >= 0 && static_cast<std::size_t>(lengths[i]) <= cols, fn, "lengths",
                      "must be in [0, cols]", i);
      len = static_cast<std::size_t>(lengths[i]);
    }
    std::size_t eos = len;
    for (std::size_t t = 0; t < len; ++t)
      if (token_ids(i, t) == eos_id) {
        eos = t;
        break;
      }
    const bool truncated = eos == len;
    std::size_t valid = truncated ? len : eos + (opt.include_eos ? 1 : 0);
    if (truncated && opt.mask_truncated) valid = 0;
    for (std::size_t t = 0; t < cols; ++t) mask(i, t) = t < valid ? 1 : 0;
    s.truncated += truncated;
    s.valid_tokens += valid;
    if (!truncated_rows.empty()) truncated_rows[i] = truncated ? 1 : 0;
  }
  return s;
}

} // namespace mmrag_rft
