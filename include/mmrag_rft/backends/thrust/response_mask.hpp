// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/thrust.hpp>
// `build_response_mask` on the Thrust backend: one device thread per row runs the CPU path's row function
// (core/response_mask_plan.hpp), so the mask is bitwise the same; token ids, lengths, mask and truncation flags are device
// memory.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/thrust/backend.hpp>
#include <mmrag_rft/core/response_mask_plan.hpp>

#include <thrust/device_vector.h>
#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/reduce.h>
#include <thrust/transform_reduce.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft::detail {

/// A row's outcome on the device: ones written, truncated.
struct mask_row_status {
  unsigned long long valid = 0, truncated = 0;
};
struct mask_row_status_plus {
  MMRAG_RFT_HOST_DEVICE mask_row_status operator()(const mask_row_status& a, const mask_row_status& b) const noexcept {
    return {a.valid + b.valid, a.truncated + b.truncated};
  }
};
/// A generated length outside [0, cols].
struct mask_length_is_bad {
  std::size_t cols;
  MMRAG_RFT_HOST_DEVICE bool operator()(std::int64_t len) const noexcept {
    return len < 0 || static_cast<std::size_t>(len) > cols;
  }
};

template <class Id>
struct response_mask_row_fn {
  device_matrix<const Id> ids;
  device_matrix<std::uint8_t> mask;
  std::size_t cols;
  Id eos;
  bool include_eos, mask_truncated;
  const std::int64_t* lengths; // null: every row generated `cols` positions
  std::uint8_t* truncated_rows;
  mask_row_status* status;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    // The lengths were checked before this pass.
    const std::size_t len = lengths ? static_cast<std::size_t>(lengths[i]) : cols;
    // No row pointer when cols == 0 (the views may be null); the row function then touches nothing.
    const response_mask_row_result r = response_mask_row(cols ? &ids(i, 0) : nullptr, cols, len, eos, include_eos,
                                                         mask_truncated, cols ? &mask(i, 0) : nullptr);
    if (truncated_rows) truncated_rows[i] = r.truncated ? 1 : 0;
    status[i] = {r.valid, r.truncated ? 1ull : 0ull};
  }
};

} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

/// `build_response_mask` with Thrust: every pointer (ids, mask, `lengths`, `truncated_rows`) is device memory; the
/// summary comes back to the host. A length outside [0, cols] throws as on the CPU, naming the first such row, before
/// anything is written (one search over the lengths comes first).
template <std::integral Id>
response_mask_summary implement(const build_response_mask_fn&, const thrust_t& exec, matrix_view<const Id> token_ids,
                                Id eos_id, matrix_view<std::uint8_t> mask, const response_mask_options& opt = {},
                                std::span<const std::int64_t> lengths = {},
                                std::span<std::uint8_t> truncated_rows = {}) {
  mmrag_rft::detail::validate_response_mask(token_ids, mask, lengths, truncated_rows);
  const std::size_t rows = token_ids.rows(), cols = token_ids.cols();
  response_mask_summary s;
  if (rows == 0) return s;
  const auto policy = mmrag_rft::detail::thrust_policy(exec);
  if (!lengths.empty()) {
    const std::int64_t* first = lengths.data();
    const std::int64_t* bad =
        ::thrust::find_if(policy, first, first + rows, mmrag_rft::detail::mask_length_is_bad{cols});
    if (bad != first + rows)
      throw mmrag_rft::error("build_response_mask", "lengths", "must be in [0, cols]",
                             static_cast<std::size_t>(bad - first));
  }
  ::thrust::device_vector<mmrag_rft::detail::mask_row_status> status(rows);
  mmrag_rft::detail::mask_row_status* st = ::thrust::raw_pointer_cast(status.data());
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), rows,
                       mmrag_rft::detail::response_mask_row_fn<Id>{
                           mmrag_rft::detail::to_device_matrix(token_ids), mmrag_rft::detail::to_device_matrix(mask),
                           cols, eos_id, opt.include_eos, opt.mask_truncated,
                           lengths.empty() ? nullptr : lengths.data(),
                           truncated_rows.empty() ? nullptr : truncated_rows.data(), st});
  const mmrag_rft::detail::mask_row_status total = ::thrust::reduce(
      policy, st, st + rows, mmrag_rft::detail::mask_row_status{}, mmrag_rft::detail::mask_row_status_plus{});
  s.truncated = static_cast<std::size_t>(total.truncated);
  s.valid_tokens = static_cast<std::size_t>(total.valid);
  return s;
}

} // namespace mmrag_rft::exec
