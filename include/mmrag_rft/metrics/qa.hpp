// SPDX-License-Identifier: Apache-2.0
// SQuAD v1.1 exact match and token F1, maximised over the gold answers.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/metrics/concepts.hpp>
#include <mmrag_rft/metrics/detail/overlap.hpp>
#include <mmrag_rft/text/normalize.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

namespace detail {
// Per-thread buffers of the SQuAD metrics: the normalised texts and their tokens. With them a call allocates nothing
// once the buffers have grown to the largest answer seen on the thread (they keep that capacity).
struct qa_scratch {
  std::string prediction, gold;
  std::vector<std::string_view> prediction_tokens, gold_tokens;
};
[[nodiscard]] inline qa_scratch& qa_buffers() {
  thread_local qa_scratch s;
  return s;
}

// Size of the multiset intersection of two bags of tokens (Python `sum((Counter(p) & Counter(g)).values())`).
// Answers are a few tokens long, so up to 64 predicted tokens each gold token claims the first unclaimed equal one
// (a bit mask, no sorting); longer predictions sort both lists and merge (`pred` then arrives sorted: the caller
// sorts it once for all golds).
[[nodiscard]] inline std::size_t common_tokens(std::span<const std::string_view> pred,
                                               std::vector<std::string_view>& gold) {
  if (pred.size() <= 64) {
    std::uint64_t claimed = 0;
    std::size_t n = 0;
    for (const std::string_view g : gold)
      for (std::size_t i = 0; i < pred.size(); ++i)
        if (!((claimed >> i) & 1U) && pred[i] == g) {
          claimed |= std::uint64_t{1} << i;
          ++n;
          break;
        }
    return n;
  }
  std::sort(gold.begin(), gold.end());
  return sorted_common(pred, gold);
}

// F1 of a bag of predicted tokens (sorted when there are more than 64) against the gold answer `gold`, normalised.
[[nodiscard]] inline double token_f1_tokens(std::span<const std::string_view> pred, std::string_view gold,
                                            std::vector<std::string_view>& gold_tokens) {
  answer_tokens(gold, gold_tokens);
  const std::size_t common = common_tokens(pred, gold_tokens);
  if (common == 0) return 0.0;
  const double precision = static_cast<double>(common) / static_cast<double>(pred.size());
  const double recall = static_cast<double>(common) / static_cast<double>(gold_tokens.size());
  return 2 * precision * recall / (precision + recall);
}

inline void prepare_prediction_tokens(qa_scratch& b) {
  answer_tokens(b.prediction, b.prediction_tokens);
  if (b.prediction_tokens.size() > 64) std::sort(b.prediction_tokens.begin(), b.prediction_tokens.end());
}
} // namespace detail

/// SQuAD v1.1 exact match maximised over the gold answers. [SQuAD v1.1 metric_max_over_ground_truths]
///
/// No gold answers gives 0 (the official script would fail on `max([])`). Example: prediction "The Eiffel Tower",
/// golds {"eiffel tower", "Paris"} gives 1.
template <AnswerRange R>
[[nodiscard]] double exact_match(std::string_view prediction, const R& golds) {
  detail::qa_scratch& b = detail::qa_buffers();
  normalize_answer(prediction, b.prediction);
  for (const auto& gold : golds) {
    normalize_answer(std::string_view(gold), b.gold);
    if (b.prediction == b.gold) return 1.0;
  }
  return 0.0;
}

/// SQuAD v1.1 exact match: 1 when `normalize_answer(prediction) == normalize_answer(gold)`, else 0.
/// [SQuAD v1.1 evaluate-v1.1.py, exact_match_score]
///
/// Two answers that both normalise to "" match (EM 1), as in the official script. Total on any bytes.
/// Complexity: linear in the two lengths; no allocation once the thread's buffers have grown to the inputs' size.
[[nodiscard]] inline double exact_match(std::string_view prediction, std::string_view gold) {
  return exact_match(prediction, std::span<const std::string_view>(&gold, 1));
}

/// Exact match against a braced list of gold answers; see the range overload.
[[nodiscard]] inline double exact_match(std::string_view prediction, std::initializer_list<std::string_view> golds) {
  return exact_match(prediction, std::span<const std::string_view>(golds.begin(), golds.size()));
}

/// SQuAD v1.1 token F1 maximised over the gold answers; no gold answers gives 0.
/// [SQuAD v1.1 metric_max_over_ground_truths]
template <AnswerRange R>
[[nodiscard]] double token_f1(std::string_view prediction, const R& golds) {
  detail::qa_scratch& b = detail::qa_buffers();
  normalize_answer(prediction, b.prediction);
  detail::prepare_prediction_tokens(b);
  double best = 0;
  for (const auto& gold : golds) {
    normalize_answer(std::string_view(gold), b.gold);
    best = std::max(best, detail::token_f1_tokens(b.prediction_tokens, b.gold, b.gold_tokens));
  }
  return best;
}

/// SQuAD v1.1 token F1: with p and g the multisets of normalised tokens, F1 = 2PR / (P + R) where
/// P = |p ∩ g| / |p| and R = |p ∩ g| / |g|; 0 when the intersection is empty. [SQuAD v1.1 f1_score]
///
/// Two answers that both normalise to "" score 0 (v1.1; v2.0 would give 1). Total on any bytes.
/// Complexity: linear normalisation, then O(|p| |g|) token matching when the prediction has at most 64 tokens
/// (answers are short), O(n log n) otherwise. Uses per-thread buffers for the normalised strings and token lists,
/// so there is no allocation once they have grown to the largest inputs seen on the thread.
/// Example: "the cat sat" vs "a cat sat down": P = 2/2, R = 2/3, F1 = 0.8.
[[nodiscard]] inline double token_f1(std::string_view prediction, std::string_view gold) {
  return token_f1(prediction, std::span<const std::string_view>(&gold, 1));
}

/// Token F1 against a braced list of gold answers; see the range overload.
[[nodiscard]] inline double token_f1(std::string_view prediction, std::initializer_list<std::string_view> golds) {
  return token_f1(prediction, std::span<const std::string_view>(golds.begin(), golds.size()));
}

} // namespace mmrag_rft
