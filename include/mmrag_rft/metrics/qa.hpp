// SPDX-License-Identifier: Apache-2.0
// SQuAD v1.1 exact match and token F1, maximised over the gold answers.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/metrics/concepts.hpp>
#include <mmrag_rft/metrics/detail/overlap.hpp>
#include <mmrag_rft/text/normalize.hpp>

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

namespace detail {
[[nodiscard]] inline double token_f1_normalized(std::string_view pred, std::string_view gold) {
  const bag_overlap o = bag_overlap_of(answer_tokens(pred), answer_tokens(gold));
  return o.common ? 2 * o.precision * o.recall / (o.precision + o.recall) : 0.0;
}

template <class Score, class R>
[[nodiscard]] double max_over_golds(std::string_view prediction, const R& golds, Score&& score) {
  const std::string p = normalize_answer(prediction);
  std::string g;
  double best = 0;
  for (const auto& gold : golds) {
    normalize_answer(std::string_view(gold), g);
    best = std::max(best, score(std::string_view(p), std::string_view(g)));
  }
  return best;
}
} // namespace detail

/// SQuAD v1.1 exact match: 1 when `normalize_answer(prediction) == normalize_answer(gold)`, else 0.
/// [SQuAD v1.1 evaluate-v1.1.py, exact_match_score]
///
/// Two answers that both normalise to "" match (EM 1), as in the official script. Total on any bytes.
/// Complexity: linear in the two lengths; allocates the two normalised strings.
[[nodiscard]] inline double exact_match(std::string_view prediction, std::string_view gold) {
  return normalize_answer(prediction) == normalize_answer(gold) ? 1.0 : 0.0;
}

/// SQuAD v1.1 exact match maximised over the gold answers. [SQuAD v1.1 metric_max_over_ground_truths]
///
/// No gold answers gives 0 (the official script would fail on `max([])`). Example: prediction "The Eiffel Tower",
/// golds {"eiffel tower", "Paris"} gives 1.
template <AnswerRange R>
[[nodiscard]] double exact_match(std::string_view prediction, const R& golds) {
  return detail::max_over_golds(prediction, golds,
                                [](std::string_view p, std::string_view g) { return p == g ? 1.0 : 0.0; });
}

/// Exact match against a braced list of gold answers; see the range overload.
[[nodiscard]] inline double exact_match(std::string_view prediction, std::initializer_list<std::string_view> golds) {
  return exact_match(prediction, std::vector<std::string_view>(golds));
}

/// SQuAD v1.1 token F1: with p and g the multisets of normalised tokens, F1 = 2PR / (P + R) where
/// P = |p ∩ g| / |p| and R = |p ∩ g| / |g|; 0 when the intersection is empty. [SQuAD v1.1 f1_score]
///
/// Two answers that both normalise to "" score 0 (v1.1; v2.0 would give 1). Total on any bytes.
/// Complexity: O(n log n) in the number of tokens; allocates the normalised strings and token lists.
/// Example: "the cat sat" vs "a cat sat down": P = 2/2, R = 2/3, F1 = 0.8.
[[nodiscard]] inline double token_f1(std::string_view prediction, std::string_view gold) {
  return detail::token_f1_normalized(normalize_answer(prediction), normalize_answer(gold));
}

/// SQuAD v1.1 token F1 maximised over the gold answers; no gold answers gives 0.
/// [SQuAD v1.1 metric_max_over_ground_truths]
template <AnswerRange R>
[[nodiscard]] double token_f1(std::string_view prediction, const R& golds) {
  return detail::max_over_golds(prediction, golds, &detail::token_f1_normalized);
}

/// Token F1 against a braced list of gold answers; see the range overload.
[[nodiscard]] inline double token_f1(std::string_view prediction, std::initializer_list<std::string_view> golds) {
  return token_f1(prediction, std::vector<std::string_view>(golds));
}

} // namespace mmrag_rft
