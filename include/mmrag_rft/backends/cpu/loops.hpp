// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The CPU backends' loops over the groups of a layout and the rows of a batch, in fixed chunks (so exec::par is
// bitwise exec::seq).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/detail/parallel.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mmrag_rft::detail {

/// Calls `fn(g, partial)` for every group, in fixed chunks of groups; returns the merged summary.
template <class E, class Fn>
[[nodiscard]] advantage_summary for_each_group(const E& exec, const group_layout& groups, Fn&& fn) {
  const chunking ch{groups.num_groups(), std::size_t{4096}};
  std::vector<advantage_summary> parts(ch.count());
  for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    for (std::size_t g = ch.begin(c); g < ch.end(c); ++g) fn(g, parts[c]);
  });
  advantage_summary s;
  s.groups = groups.num_groups();
  for (const auto& p : parts)
    s.degenerate_groups += p.degenerate_groups, s.singleton_groups += p.singleton_groups, s.masked_out += p.masked_out;
  return s;
}

/// The rows of a [rows, cols] batch in chunks of about 32k elements: a function of the shape only, so results do
/// not depend on the thread count.
[[nodiscard]] inline chunking row_chunks(std::size_t rows, std::size_t cols) noexcept {
  return {rows, std::max<std::size_t>(1, (std::size_t{1} << 15) / std::max<std::size_t>(1, cols))};
}

/// Calls `fn(i)` for every row of a [rows, cols] batch, in `row_chunks`; rows are independent.
template <class E, class Fn>
void for_each_row(const E& exec, std::size_t rows, std::size_t cols, Fn&& fn) {
  const chunking ch = row_chunks(rows, cols);
  for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) fn(i);
  });
}

/// Runs `ok(i)` for every row and throws `what` naming the first row where it returned false, whatever thread ran it.
template <class E, class Ok>
void for_each_row_checked(const E& exec, std::size_t rows, std::size_t cols, const char* fn, const char* arg,
                          const char* what, Ok&& ok) {
  std::vector<std::uint8_t> bad(rows);
  for_each_row(exec, rows, cols, [&](std::size_t i) { bad[i] = ok(i) ? 0 : 1; });
  for (std::size_t i = 0; i < rows; ++i) require(bad[i] == 0, fn, arg, what, i);
}

} // namespace mmrag_rft::detail
