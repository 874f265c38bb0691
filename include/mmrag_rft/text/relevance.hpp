// SPDX-License-Identifier: Apache-2.0
// Stage-1 point-wise relevance verdicts: yes/no, relevant/irrelevant, true/false, or a score, from noisy text.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/text/detail/chars.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mmrag_rft {

/// The judgement a stage-1 output gives about one (question, document) pair.
enum class relevance_verdict : std::uint8_t { relevant, irrelevant, unknown };

/// Why `parse_relevance` gave `relevance_verdict::unknown` (`none` when the verdict is known).
enum class relevance_failure : std::uint8_t {
  none,
  empty,              ///< the text is empty or whitespace/punctuation only
  no_verdict,         ///< no verdict word and no score was found
  ambiguous,          ///< both polarities were found (words, or a word and a score, or two different scores)
  score_out_of_range, ///< a score was found but does not lie in its scale (e.g. "Score: 1.5", "120%", "-1")
};

/// How a bare number (one without `%` or `/N`) is read.
enum class score_scale : std::uint8_t {
  automatic, ///< x in [0, 1] as is; x in (1, 10] as x/10; anything else out of range
  unit,      ///< x in [0, 1]
  ten,       ///< x in [0, 10], divided by 10
  percent,   ///< x in [0, 100], divided by 100
};

/// Options of `parse_relevance`.
struct relevance_options {
  score_scale scale = score_scale::automatic;
  /// A score s (normalised to [0, 1]) means relevant when s >= threshold. Must lie in [0, 1].
  double threshold = 0.5;
};

/// The result of `parse_relevance`; `evidence` views the parsed text.
struct relevance_parse {
  relevance_verdict verdict = relevance_verdict::unknown;
  relevance_failure failure = relevance_failure::none;
  std::optional<double> score{}; ///< the score found, normalised to [0, 1] (absent when none or out of range)
  std::uint32_t positive = 0;    ///< verdict words meaning relevant ("yes", "relevant", "true", "not irrelevant")
  std::uint32_t negative = 0;    ///< verdict words meaning irrelevant ("no", "irrelevant", "false", "not relevant")
  std::string_view evidence{};   ///< the first verdict word or score found, for explanations

  [[nodiscard]] constexpr bool ok() const noexcept { return verdict != relevance_verdict::unknown; }
};

namespace detail {

enum class verdict_word : std::uint8_t { other, positive, negative, negation, score_key, filler };

[[nodiscard]] constexpr verdict_word classify_verdict_word(std::string_view w) noexcept {
  if (iequals(w, "yes") || iequals(w, "relevant") || iequals(w, "true")) return verdict_word::positive;
  if (iequals(w, "no") || iequals(w, "irrelevant") || iequals(w, "false")) return verdict_word::negative;
  if (iequals(w, "not") || iequals(w, "non")) return verdict_word::negation;
  if (iequals(w, "score") || iequals(w, "relevance") || iequals(w, "confidence") || iequals(w, "probability") ||
      iequals(w, "rating"))
    return verdict_word::score_key;
  if (iequals(w, "is") || iequals(w, "of")) return verdict_word::filler;
  return verdict_word::other;
}

// A number at text[i] (digits with at most one '.'), with an optional '%' or "/ N" or "out of N" after it.
struct score_token {
  double value = 0;    // normalised when valid
  bool valid = false;  // lies in its scale
  std::size_t end = 0; // one past the whole expression
};

[[nodiscard]] constexpr std::size_t parse_unsigned_decimal(std::string_view s, std::size_t i, double& v) noexcept {
  v = 0;
  for (; i < s.size() && is_digit(static_cast<unsigned char>(s[i])); ++i) v = v * 10 + (s[i] - '0');
  if (i < s.size() && s[i] == '.') {
    double scale = 0.1;
    for (++i; i < s.size() && is_digit(static_cast<unsigned char>(s[i])); ++i, scale /= 10) v += (s[i] - '0') * scale;
  }
  return i;
}

[[nodiscard]] constexpr std::size_t skip_spaces(std::string_view s, std::size_t i) noexcept {
  while (i < s.size() && is_space(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}

[[nodiscard]] constexpr score_token parse_score(std::string_view s, std::size_t i, bool negative,
                                                score_scale scale) noexcept {
  score_token t;
  double x = 0;
  i = parse_unsigned_decimal(s, i, x);
  t.end = i;
  double den = 0; // 0: bare number
  std::size_t j = skip_spaces(s, i);
  if (j < s.size() && s[j] == '%') {
    den = 100;
    t.end = j + 1;
  } else {
    std::size_t k = j;
    if (k < s.size() && s[k] == '/') {
      k = skip_spaces(s, k + 1);
    } else if (k + 2 <= s.size() && iequals(s.substr(k, 3), "out") && k + 3 < s.size() &&
               is_space(static_cast<unsigned char>(s[k + 3]))) {
      k = skip_spaces(s, k + 3);
      k = (k + 2 <= s.size() && iequals(s.substr(k, 2), "of")) ? skip_spaces(s, k + 2) : s.size();
    } else {
      k = s.size();
    }
    if (k < s.size() && is_digit(static_cast<unsigned char>(s[k]))) {
      t.end = parse_unsigned_decimal(s, k, den);
      if (den <= 0) den = -1; // "3/0": no scale
    }
  }
  if (negative) return t;
  if (den > 0) {
    t.value = x / den;
  } else if (den < 0) {
    return t;
  } else {
    switch (scale) {
    case score_scale::unit: t.value = x; break;
    case score_scale::ten: t.value = x / 10; break;
    case score_scale::percent: t.value = x / 100; break;
    case score_scale::automatic: t.value = x <= 1 ? x : x / 10; break;
    }
  }
  t.valid = std::isfinite(t.value) && t.value >= 0 && t.value <= 1;
  return t;
}

} // namespace detail

/// Reads a point-wise relevance verdict from stage-1 output (usually the content of its `<answer>` or `<relevance>`
/// section) in the forms models write: "Yes", "**No**", " RELEVANT ", "Not relevant.", "irrelevant", "True",
/// "Score: 0.8", "relevance score = 7/10", "80%", "0.35" [paper-notes: point-wise Yes/No as in RagVL and MM-R5].
///
/// Words are maximal runs of ASCII letters, matched case-insensitively: yes/relevant/true count as positive,
/// no/irrelevant/false as negative, and "not"/"non" directly before one of them flips it ("not relevant",
/// "non-relevant"). A score is a number after score/relevance/confidence/probability/rating (optionally with "is",
/// "of" and punctuation between), or a number that is the only thing in the text; it may carry `%`, `/ N` or
/// "out of N", else `options.scale` says how to read it. The verdict is never guessed: words of both polarities, a
/// score disagreeing with the words (score >= threshold means relevant), or two different scores give `unknown`
/// with `ambiguous`; a score outside its scale gives `unknown` with `score_out_of_range`.
/// Throws `mmrag_rft::error` only for bad `options` (threshold not in [0, 1]); total on any text.
/// Complexity: one pass, no allocation.
/// Example: "**Yes**" is relevant; "No, not relevant." irrelevant; "Score: 0.8" relevant with score 0.8;
/// "yes and no" unknown (ambiguous).
[[nodiscard]] inline relevance_parse parse_relevance(std::string_view text, const relevance_options& options = {}) {
  detail::require(options.threshold >= 0 && options.threshold <= 1, "parse_relevance", "options.threshold",
                  "must lie in [0, 1]");
  relevance_parse r;
  const std::size_t n = text.size();
  const auto note = [&](std::string_view ev) {
    if (r.evidence.data() == nullptr) r.evidence = ev;
  };

  bool any_alnum = false, negate_next = false, expect_score = false;
  bool conflicting_scores = false, out_of_range = false;
  for (std::size_t i = 0; i < n;) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (detail::is_alpha(c)) {
      std::size_t e = i;
      while (e < n && detail::is_alpha(static_cast<unsigned char>(text[e]))) ++e;
      any_alnum = true;
      const std::string_view w = text.substr(i, e - i);
      const detail::verdict_word k = detail::classify_verdict_word(w);
      if (k == detail::verdict_word::positive || k == detail::verdict_word::negative) {
        const bool pos = (k == detail::verdict_word::positive) != negate_next;
        ++(pos ? r.positive : r.negative);
        note(w);
      }
      negate_next = k == detail::verdict_word::negation;
      if (k == detail::verdict_word::score_key) expect_score = true;
      else if (k != detail::verdict_word::filler) expect_score = false;
      i = e;
      continue;
    }
    if (detail::is_digit(c) || (c == '.' && i + 1 < n && detail::is_digit(static_cast<unsigned char>(text[i + 1])))) {
      const bool first = !any_alnum;
      any_alnum = true;
      const bool minus = i > 0 && text[i - 1] == '-';
      const detail::score_token t = detail::parse_score(text, i, minus, options.scale);
      bool standalone = false;
      if (first && !expect_score) {
        standalone = true;
        for (std::size_t j = t.end; j < n && standalone; ++j)
          standalone = !detail::is_alnum(static_cast<unsigned char>(text[j]));
      }
      if (expect_score || standalone) {
        note(text.substr(i, t.end - i));
        if (!t.valid) out_of_range = true;
        else if (r.score && *r.score != t.value) conflicting_scores = true;
        else r.score = t.value;
      }
      expect_score = false;
      negate_next = false;
      i = t.end > i ? t.end : i + 1;
      continue;
    }
    ++i;
  }

  if (!any_alnum) {
    r.failure = relevance_failure::empty;
    return r;
  }
  if (out_of_range) {
    r.score.reset();
    r.failure = relevance_failure::score_out_of_range;
    return r;
  }
  const bool by_words = r.positive + r.negative > 0;
  if ((r.positive > 0 && r.negative > 0) || conflicting_scores) {
    r.failure = relevance_failure::ambiguous;
    return r;
  }
  const relevance_verdict word_verdict = r.positive > 0 ? relevance_verdict::relevant : relevance_verdict::irrelevant;
  if (r.score) {
    const relevance_verdict score_verdict =
        *r.score >= options.threshold ? relevance_verdict::relevant : relevance_verdict::irrelevant;
    if (by_words && score_verdict != word_verdict) {
      r.failure = relevance_failure::ambiguous;
      return r;
    }
    r.verdict = score_verdict;
    return r;
  }
  if (!by_words) {
    r.failure = relevance_failure::no_verdict;
    return r;
  }
  r.verdict = word_verdict;
  return r;
}

} // namespace mmrag_rft
