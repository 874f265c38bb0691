// SPDX-License-Identifier: Apache-2.0
// MultimodalQA list answers: exact match and aligned F1 of the official (DROP-derived) evaluation.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/metrics/concepts.hpp>
#include <mmrag_rft/metrics/detail/assignment.hpp>
#include <mmrag_rft/metrics/detail/overlap.hpp>
#include <mmrag_rft/metrics/detail/python_text.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// MultimodalQA scores of one question: list exact match and list F1, each in [0, 1].
struct mmqa_scores {
  double em;
  double f1;
};

/// The MultimodalQA normalisation of one answer span. [allenai/multimodalqa baselines/evaluate.py, _normalize_answer]
///
/// The span is split on every ' ' and '-' (only those two; `re.split(" |-")`). Each piece is lower-cased; loses its
/// ASCII punctuation unless it parses as a Python float; is rewritten as `str(float(piece))` if it now parses as a
/// float ("5" -> "5.0", "1,000" -> "1000.0", "1e3" -> "1000.0") or as word2number's value otherwise ("seven" ->
/// "7.0", "five hundred" inside one piece -> "500.0", and word2number's quirk "point" -> "0.0"); loses the articles
/// a/an/the; has its whitespace collapsed. Empty pieces are dropped and the rest joined by single spaces.
/// Python 3's Unicode semantics: `str.lower()` lowers every cased letter ("FILIPÓW" -> "filipów"), `str.split()`
/// splits on Unicode whitespace (U+00A0 inside "3.98\u00a0°C" separates two words), and the article regex uses the
/// Unicode `\w`; digits are ASCII only. Bytes that are no valid UTF-8 pass through unchanged. Where word2number
/// itself would crash (IndexError on "thousand\tfive"), the piece is treated as no number. Complexity: linear in the span; allocates.
/// Example: "The Twenty-one Pilots!" gives "20.0 1.0 pilots" ("twenty" and "one" are separate pieces).
[[nodiscard]] inline std::string mmqa_normalize(std::string_view span) {
  std::string out;
  std::size_t b = 0;
  while (b <= span.size()) {
    std::size_t e = b;
    while (e < span.size() && span[e] != ' ' && span[e] != '-') ++e;
    std::string piece = detail::py_lower(span.substr(b, e - b));
    if (!detail::py_float(piece))
      std::erase_if(piece, [](char c) { return detail::is_punct(static_cast<unsigned char>(c)); });
    if (const auto v = detail::py_float(piece)) piece = detail::py_repr(*v);
    else if (const auto w = detail::word_to_num(piece)) piece = detail::py_repr(*w);
    piece = detail::remove_articles(piece);
    detail::for_each_word(piece, [&](std::string_view w) {
      if (!out.empty()) out.push_back(' ');
      out.append(w);
    });
    b = e + 1;
  }
  return out;
}

namespace detail {

// The set of words of a normalised span, sorted and distinct (Python `set(normalized.split())`).
[[nodiscard]] inline std::vector<std::string_view> mmqa_bag(std::string_view normalized) {
  std::vector<std::string_view> bag;
  for_each_word(normalized, [&](std::string_view w) { bag.push_back(w); });
  std::sort(bag.begin(), bag.end());
  bag.erase(std::unique(bag.begin(), bag.end()), bag.end());
  return bag;
}

// DROP _compute_f1 on two word sets; an empty set has precision (or recall) 1.
[[nodiscard]] inline double mmqa_bag_f1(const std::vector<std::string_view>& pred,
                                        const std::vector<std::string_view>& gold) {
  const std::size_t common = sorted_common(pred, gold);
  const double p = pred.empty() ? 1.0 : static_cast<double>(common) / static_cast<double>(pred.size());
  const double r = gold.empty() ? 1.0 : static_cast<double>(common) / static_cast<double>(gold.size());
  return (p == 0.0 && r == 0.0) ? 0.0 : 2 * p * r / (p + r);
}

// DROP _match_numbers_if_present: true when gold has no number or shares one with the prediction.
[[nodiscard]] inline bool mmqa_numbers_match(const std::vector<std::string_view>& gold,
                                             const std::vector<std::string_view>& pred) {
  bool gold_has = false;
  for (const auto g : gold) {
    if (!py_float(g)) continue;
    gold_has = true;
    if (std::binary_search(pred.begin(), pred.end(), g)) return true;
  }
  return !gold_has;
}

// numpy's round(x, 2), which evaluate.py reaches through `round(np.mean(...), 2)`: numpy scales, rounds half to
// even and scales back, `rint(x * 100) / 100`, so the decision is taken on the product x * 100 rounded to double,
// not on x's exact binary value as Python's float round() does (0.475 is 0.47499999999999997... in binary, which
// Python rounds to 0.47, but 0.475 * 100 is 47.5 in double, which numpy rounds to 48). [numpy/core/src/multiarray/
// calculation.c, PyArray_Round]
[[nodiscard]] inline double np_round2(double x) noexcept { return std::nearbyint(x * 100.0) / 100.0; }

[[nodiscard]] inline mmqa_scores mmqa_em_f1_views(std::span<const std::string_view> predicted,
                                                  std::span<const std::string_view> gold) {
  std::vector<std::string> pn, gn;
  pn.reserve(predicted.size());
  gn.reserve(gold.size());
  for (const auto s : predicted) pn.push_back(mmqa_normalize(s));
  for (const auto s : gold) gn.push_back(mmqa_normalize(s));

  // list_em: equal as sets of normalised spans and equal in number of spans.
  auto distinct = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  };
  const double em = (pn.size() == gn.size() && distinct(pn) == distinct(gn)) ? 1.0 : 0.0;

  // list_f1: one-to-one alignment maximising the summed bag F1, averaged over max(#gold, #pred) slots.
  const std::size_t slots = std::max(pn.size(), gn.size());
  if (slots == 0) return {em, 1.0};
  std::vector<std::vector<std::string_view>> pb, gb;
  for (const auto& s : pn) pb.push_back(mmqa_bag(s));
  for (const auto& s : gn) gb.push_back(mmqa_bag(s));
  std::vector<double> scores(gb.size() * pb.size(), 0.0);
  for (std::size_t g = 0; g < gb.size(); ++g)
    for (std::size_t p = 0; p < pb.size(); ++p)
      if (mmqa_numbers_match(gb[g], pb[p])) scores[g * pb.size() + p] = mmqa_bag_f1(pb[p], gb[g]);
  const double total =
      max_assignment(gb.size(), pb.size(), [&](std::size_t g, std::size_t p) { return scores[g * pb.size() + p]; });
  return {em, np_round2(total / static_cast<double>(slots))};
}

} // namespace detail

/// MultimodalQA list exact match and list F1 of one question. [allenai/multimodalqa baselines/evaluate.py, list_em
/// and list_f1, derived from the DROP evaluation]
///
/// Every span is normalised by `mmqa_normalize`. EM = 1 when the normalised predicted spans equal the normalised gold
/// spans as sets and the two lists have the same length, else 0. F1: each span becomes the set of its words; a
/// (gold, predicted) pair scores the set F1 of their words, or 0 when the gold span contains numbers none of which
/// the predicted span contains; the pairs are aligned one to one so that the total score is maximal (Hungarian
/// algorithm); F1 = total / max(#gold, #predicted), rounded to 2 decimals as numpy rounds (the official script
/// rounds a numpy float: `rint(x * 100) / 100`, half to even on the scaled value, so 0.475 gives 0.48 and 0.025
/// gives 0.02 where Python's float `round` would give 0.47 and 0.03).
/// Where the official script has no value, both lists empty, we return EM 1 and F1 1 (it computes the mean of an
/// empty array, NaN). For several reference lists take the maximum of each score, as metric_max_over_ground_truths.
/// Corpus scores are the means times 100, with 0 for a missing prediction.
/// Complexity: O(n^2 m) for the alignment with n, m the list lengths (a handful), plus linear normalisation.
/// Example: predicted {"Paris", "5 apples"}, gold {"five apples", "paris", "Rome"}: EM 0, F1 = (1 + 1 + 0) / 3 =
/// 0.67.
template <AnswerRange P, AnswerRange G>
[[nodiscard]] mmqa_scores mmqa_em_f1(const P& predicted_answers, const G& gold_answers) {
  std::vector<std::string_view> p, g;
  for (const auto& s : predicted_answers) p.emplace_back(s);
  for (const auto& s : gold_answers) g.emplace_back(s);
  return detail::mmqa_em_f1_views(p, g);
}

/// MultimodalQA EM/F1 of braced lists of answers; see the range overload.
[[nodiscard]] inline mmqa_scores mmqa_em_f1(std::initializer_list<std::string_view> predicted_answers,
                                            std::initializer_list<std::string_view> gold_answers) {
  using views = std::span<const std::string_view>;
  return detail::mmqa_em_f1_views(views(predicted_answers.begin(), predicted_answers.size()),
                                  views(gold_answers.begin(), gold_answers.size()));
}

} // namespace mmrag_rft
