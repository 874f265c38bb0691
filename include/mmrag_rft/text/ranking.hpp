// SPDX-License-Identifier: Apache-2.0
// Stage-2 list-wise rankings in the forms models write: "[3, 1, 2]", "3 > 1 > 2", "Image 2 > Text 5", lists.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/text/detail/chars.hpp>
#include <mmrag_rft/text/label_scheme.hpp>

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// What can be wrong with a ranking; a bit set, combined with `|`.
enum class ranking_issue : std::uint8_t {
  none = 0,
  duplicate = 1 << 0,     ///< a document is ranked again (only its first place is kept)
  out_of_range = 1 << 1,  ///< a number outside the scheme ("7" of 5 documents, "Image 0")
  unknown_label = 1 << 2, ///< a prefix the scheme does not know ("Video 2"), a bare number a per-prefix scheme
                          ///< cannot place, or a non-integer ("1.5")
  truncated = 1 << 3,     ///< more labels than `ranking_options::max_items`; the rest was not read
  empty = 1 << 4,         ///< no label at all
  extra_text = 1 << 5,    ///< words that are not part of a label ("Ranking:", "because ...")
};

[[nodiscard]] constexpr ranking_issue operator|(ranking_issue a, ranking_issue b) noexcept {
  return static_cast<ranking_issue>(static_cast<std::uint8_t>(a) | static_cast<std::uint8_t>(b));
}
[[nodiscard]] constexpr ranking_issue operator&(ranking_issue a, ranking_issue b) noexcept {
  return static_cast<ranking_issue>(static_cast<std::uint8_t>(a) & static_cast<std::uint8_t>(b));
}
[[nodiscard]] constexpr ranking_issue operator~(ranking_issue a) noexcept {
  return static_cast<ranking_issue>(static_cast<std::uint8_t>(~static_cast<std::uint8_t>(a)));
}
constexpr ranking_issue& operator|=(ranking_issue& a, ranking_issue b) noexcept { return a = a | b; }
/// True when `set` contains any of the bits of `bits`.
[[nodiscard]] constexpr bool any(ranking_issue set, ranking_issue bits) noexcept {
  return (set & bits) != ranking_issue::none;
}

/// One problem found while reading a ranking.
struct ranking_diagnostic {
  ranking_issue kind = ranking_issue::none; ///< exactly one bit
  std::size_t position = 0;                 ///< 0-based ordinal of the label among all labels read (for extra_text:
                                            ///< the number of labels read before the word)
  std::size_t offset = 0;                   ///< byte offset of `text` in the parsed string
  std::string_view text{};                  ///< the label or word as written
};

/// Options of `parse_ranking`.
struct ranking_options {
  /// At most this many labels are read (and at most this many diagnostics kept): the bound on what adversarial
  /// input can make the parser allocate. Must be >= 1.
  std::size_t max_items = 100;
};

/// The result of `parse_ranking`. Reusing one object across calls reuses its memory.
struct ranking_parse {
  std::vector<std::size_t> order;              ///< 0-based document indices, best first, each at most once
  std::vector<ranking_diagnostic> diagnostics; ///< in text order, at most `max_items`
  ranking_issue issues = ranking_issue::none;  ///< union of all diagnostics' kinds (also those not kept)
  std::size_t labels = 0;                      ///< labels read, good or bad

  /// True when no issue other than those in `allowed` was found.
  [[nodiscard]] bool ok(ranking_issue allowed = ranking_issue::none) const noexcept {
    return (issues & ~allowed) == ranking_issue::none;
  }

  std::vector<std::uint64_t> seen_; ///< scratch: one bit per document
};

namespace detail {
constexpr bool is_label_glue(char c) noexcept { return c == ' ' || c == '\t' || c == '_' || c == '#' || c == '-'; }

// Digits at s[i..], saturating; returns one past them.
constexpr std::size_t parse_label_number(std::string_view s, std::size_t i, std::size_t& v) noexcept {
  constexpr std::size_t cap = std::numeric_limits<std::size_t>::max() / 10 - 10;
  v = 0;
  for (; i < s.size() && is_digit(static_cast<unsigned char>(s[i])); ++i) v = v > cap ? v : v * 10 + (s[i] - '0');
  return i;
}

// A numbered-list marker at a line start: digits, then '.', ')' or ':' not followed by a digit, then more digits
// later on the same line ("1. [2]", "2) Image 4"). Returns one past the marker, or `i` when there is none.
constexpr std::size_t skip_list_marker(std::string_view s, std::size_t i) noexcept {
  std::size_t j = i;
  while (j < s.size() && is_digit(static_cast<unsigned char>(s[j]))) ++j;
  if (j == i || j >= s.size() || (s[j] != '.' && s[j] != ')' && s[j] != ':')) return i;
  if (j + 1 < s.size() && is_digit(static_cast<unsigned char>(s[j + 1]))) return i;
  for (std::size_t k = j + 1; k < s.size() && s[k] != '\n'; ++k)
    if (is_digit(static_cast<unsigned char>(s[k]))) return j + 1;
  return i;
}
} // namespace detail

/// Reads a list-wise ranking into 0-based document indices, best first, through a caller-given `label_scheme`.
///
/// Accepts the forms models write [paper-notes; MM-R5 `[i1, i2, …]`; RankGPT `[2] > [1]`]: `[3, 1, 2]`,
/// `3 > 1 > 2`, `[2] > [1] > [3]`, `Image 2 > Text 5`, `[Doc 3], [Doc 1]`, `1, 3`, one label per line, and
/// numbered lists (`1. [2]`, `2) Image 4`: a number followed by `.`, `)` or `:` at the start of a line that holds
/// another number is a list marker, not a label). A label is a bare number or a word directly followed by a number,
/// with only spaces, `_`, `#` or `-` between ("Image 2", "image_2", "Doc#3", "Text-5"). Everything else separates
/// labels; words that are not part of a label set `extra_text`. Nothing is guessed: a duplicate keeps its first
/// place and is reported, out-of-range numbers and unknown labels are reported and left out, each diagnostic with
/// its label's position and offset. No label gives `empty`.
/// Throws `mmrag_rft::error` only when `options.max_items` is 0; total on any text.
/// Complexity: one pass, plus clearing one bit per document; at most `max_items` labels are read. No allocation when `out` was used before with as many
/// documents and items (vectors keep their capacity).
/// Example: "Image 2 > Text 5" with `shared(6)` gives {1, 4}; "[3, 1, 3, 9]" with `numbered(5)` gives {2, 0}, a
/// `duplicate` at position 2 and an `out_of_range` at position 3.
inline void parse_ranking(std::string_view text, const label_scheme& scheme, ranking_parse& out,
                          const ranking_options& options = {}) {
  detail::require(options.max_items >= 1, "parse_ranking", "options.max_items", "must be >= 1");
  out.order.clear();
  out.diagnostics.clear();
  out.issues = ranking_issue::none;
  out.labels = 0;
  out.seen_.assign((scheme.num_documents() + 63) / 64, 0);

  const std::size_t n = text.size();
  const auto report = [&](ranking_issue kind, std::size_t at, std::size_t end) {
    out.issues |= kind;
    if (out.diagnostics.size() < options.max_items)
      out.diagnostics.push_back(
          {kind, kind == ranking_issue::extra_text ? out.labels : out.labels - 1, at, text.substr(at, end - at)});
  };
  // Reads the label whose number starts at num_at; returns where scanning resumes (n once the budget is spent).
  const auto label = [&](std::string_view prefix, std::size_t at, std::size_t num_at) -> std::size_t {
    std::size_t number = 0;
    std::size_t end = detail::parse_label_number(text, num_at, number);
    bool integer = true;
    if (end + 1 < n && text[end] == '.' && detail::is_digit(static_cast<unsigned char>(text[end + 1]))) {
      integer = false;
      std::size_t ignored = 0;
      end = detail::parse_label_number(text, end + 1, ignored);
    }
    if (out.labels == options.max_items) {
      out.issues |= ranking_issue::truncated;
      return n; // stop reading
    }
    ++out.labels;
    const label_lookup l = integer ? scheme.lookup(prefix, number) : label_lookup{};
    if (l.status == label_status::unknown) {
      report(ranking_issue::unknown_label, at, end);
    } else if (l.status == label_status::out_of_range) {
      report(ranking_issue::out_of_range, at, end);
    } else if ((out.seen_[l.index / 64] >> (l.index % 64)) & 1U) {
      report(ranking_issue::duplicate, at, end);
    } else {
      out.seen_[l.index / 64] |= std::uint64_t{1} << (l.index % 64);
      out.order.push_back(l.index);
    }
    return end;
  };

  bool line_start = true;
  for (std::size_t i = 0; i < n;) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      line_start = true;
      ++i;
      continue;
    }
    if (detail::is_space(c)) {
      ++i;
      continue;
    }
    if (line_start) {
      line_start = false;
      const std::size_t m = detail::skip_list_marker(text, i);
      if (m != i) {
        i = m;
        continue;
      }
    }
    if (detail::is_digit(c)) {
      i = label({}, i, i);
    } else if (detail::is_alpha(c)) {
      std::size_t e = i;
      while (e < n && detail::is_alpha(static_cast<unsigned char>(text[e]))) ++e;
      std::size_t k = e;
      while (k < n && k - e < 4 && detail::is_label_glue(text[k])) ++k;
      if (k < n && detail::is_digit(static_cast<unsigned char>(text[k]))) {
        i = label(text.substr(i, e - i), i, k);
      } else {
        report(ranking_issue::extra_text, i, e);
        i = e;
      }
    } else {
      ++i;
    }
  }
  if (out.labels == 0) out.issues |= ranking_issue::empty;
}

/// `parse_ranking` into a new result; see the overload that reuses a caller's `ranking_parse`.
[[nodiscard]] inline ranking_parse parse_ranking(std::string_view text, const label_scheme& scheme,
                                                 const ranking_options& options = {}) {
  ranking_parse out;
  parse_ranking(text, scheme, out, options);
  return out;
}

} // namespace mmrag_rft
