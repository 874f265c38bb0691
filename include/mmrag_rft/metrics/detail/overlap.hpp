// SPDX-License-Identifier: Apache-2.0
// Intersection sizes of sorted lists, shared by the set and bag-of-words metrics.
// IWYU pragma: private, include <mmrag_rft/metrics.hpp>
#pragma once
#include <mmrag_rft/config.hpp>

#include <algorithm>
#include <cstddef>
#include <ranges>
#include <vector>

namespace mmrag_rft::detail {

// Size of the intersection of two sorted ranges, each element matching at most one of the other: the multiset
// intersection (Python `sum((Counter(a) & Counter(b)).values())`), or the set intersection when both are distinct.
template <class A, class B>
[[nodiscard]] std::size_t sorted_common(const A& a, const B& b) {
  auto i = std::ranges::begin(a);
  auto j = std::ranges::begin(b);
  std::size_t n = 0;
  while (i != std::ranges::end(a) && j != std::ranges::end(b)) {
    if (*i < *j) ++i;
    else if (*j < *i) ++j;
    else ++n, ++i, ++j;
  }
  return n;
}

// Multiset overlap of a predicted and a gold bag of words: common = size of the multiset intersection,
// precision = common / |pred|, recall = common / |gold|, both 0 when nothing is shared.
struct bag_overlap {
  std::size_t common = 0;
  double precision = 0, recall = 0;
};

template <class T>
[[nodiscard]] bag_overlap bag_overlap_of(std::vector<T> pred, std::vector<T> gold) {
  std::sort(pred.begin(), pred.end());
  std::sort(gold.begin(), gold.end());
  bag_overlap o;
  o.common = sorted_common(pred, gold);
  if (o.common == 0) return o;
  o.precision = static_cast<double>(o.common) / static_cast<double>(pred.size());
  o.recall = static_cast<double>(o.common) / static_cast<double>(gold.size());
  return o;
}

// Distinct sizes of two sets and of their intersection; values are compared with == and <.
struct overlap_counts {
  std::size_t predicted = 0, gold = 0, common = 0;
};

template <std::ranges::input_range P, std::ranges::input_range G>
[[nodiscard]] overlap_counts distinct_overlap(const P& predicted, const G& gold) {
  std::vector<std::ranges::range_value_t<P>> p(std::ranges::begin(predicted), std::ranges::end(predicted));
  std::vector<std::ranges::range_value_t<G>> g(std::ranges::begin(gold), std::ranges::end(gold));
  std::sort(p.begin(), p.end());
  std::sort(g.begin(), g.end());
  p.erase(std::unique(p.begin(), p.end()), p.end());
  g.erase(std::unique(g.begin(), g.end()), g.end());
  return {p.size(), g.size(), sorted_common(p, g)};
}

} // namespace mmrag_rft::detail
