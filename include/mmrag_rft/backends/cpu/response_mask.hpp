// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/core.hpp>
// `build_response_mask` on the CPU backends: the plan's row function, rows in fixed chunks.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/core/response_mask_plan.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/detail/parallel.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mmrag_rft::exec {

template <CpuBackend E, std::integral Id>
response_mask_summary implement(const build_response_mask_fn&, const E& exec, matrix_view<const Id> token_ids,
                                Id eos_id, matrix_view<std::uint8_t> mask, const response_mask_options& opt = {},
                                std::span<const std::int64_t> lengths = {},
                                std::span<std::uint8_t> truncated_rows = {}) {
  namespace md = mmrag_rft::detail;
  md::validate_response_mask(token_ids, mask, lengths, truncated_rows);
  const std::size_t rows = token_ids.rows(), cols = token_ids.cols();
  // Every length is checked before any row is written, so a bad one leaves the mask as it was.
  for (std::size_t i = 0; i < lengths.size(); ++i)
    md::require(lengths[i] >= 0 && static_cast<std::size_t>(lengths[i]) <= cols, "build_response_mask", "lengths",
                "must be in [0, cols]", i);
  const md::chunking ch = md::row_chunks(rows, cols);
  std::vector<response_mask_summary> parts(ch.count());
  md::for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) {
      const std::size_t len = lengths.empty() ? cols : static_cast<std::size_t>(lengths[i]);
      const md::response_mask_row_result r =
          md::response_mask_row(token_ids.data() + i * token_ids.row_stride(), cols, len, eos_id, opt.include_eos,
                                opt.mask_truncated, mask.data() + i * mask.row_stride());
      parts[c].truncated += r.truncated;
      parts[c].valid_tokens += r.valid;
      if (!truncated_rows.empty()) truncated_rows[i] = r.truncated ? 1 : 0;
    }
  });
  response_mask_summary s;
  for (const auto& p : parts) s.truncated += p.truncated, s.valid_tokens += p.valid_tokens;
  return s;
}

} // namespace mmrag_rft::exec
