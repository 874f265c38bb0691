// SPDX-License-Identifier: Apache-2.0
// Maximum-weight one-to-one assignment (Hungarian algorithm with potentials) for small dense score matrices.
// IWYU pragma: private, include <mmrag_rft/metrics.hpp>
#pragma once
#include <mmrag_rft/config.hpp>

#include <algorithm>
#include <cstddef>
#include <limits>
#include <vector>

namespace mmrag_rft::detail {

// The largest total of scores(r, c) over one-to-one matchings of the rows and columns of a rows x cols matrix
// (scipy.optimize.linear_sum_assignment(-scores) then summing the matched entries). Every row or every column is
// matched, whichever is fewer; with non-negative scores this is the maximum over all partial matchings too.
// `score(r, c)` is any callable. O(n^2 m) time for n = min(rows, cols), m = max(rows, cols); O(n + m) memory.
template <class Score>
[[nodiscard]] double max_assignment(std::size_t rows, std::size_t cols, Score&& score) {
  if (rows == 0 || cols == 0) return 0.0;
  const bool transpose = rows > cols;
  const std::size_t n = transpose ? cols : rows, m = transpose ? rows : cols;
  // cost(i, j) on the n <= m orientation, minimised: the negated score.
  auto cost = [&](std::size_t i, std::size_t j) { return transpose ? -score(j, i) : -score(i, j); };
  constexpr double inf = std::numeric_limits<double>::infinity();
  // 1-based arrays; column 0 is the virtual start of each augmenting path.
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0), minv(m + 1);
  std::vector<std::size_t> match(m + 1, 0), way(m + 1, 0);
  std::vector<char> used(m + 1);
  for (std::size_t i = 1; i <= n; ++i) {
    match[0] = i;
    std::size_t j0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const std::size_t i0 = match[j0];
      double delta = inf;
      std::size_t j1 = 0;
      for (std::size_t j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) minv[j] = cur, way[j] = j0;
        if (minv[j] < delta) delta = minv[j], j1 = j;
      }
      for (std::size_t j = 0; j <= m; ++j) {
        if (used[j]) u[match[j]] += delta, v[j] -= delta;
        else minv[j] -= delta;
      }
      j0 = j1;
    } while (match[j0] != 0);
    do {
      const std::size_t j1 = way[j0];
      match[j0] = match[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  double total = 0;
  for (std::size_t j = 1; j <= m; ++j)
    if (match[j] != 0) total -= cost(match[j] - 1, j - 1);
  return total;
}

} // namespace mmrag_rft::detail
