// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/core.hpp>
// The plan of `build_response_mask`, written once for every backend: options, validation and one row.
// Host/device safe: no Eigen, no range-v3, no Thrust.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft {

struct build_response_mask_fn;

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
} // namespace mmrag_rft
