// SPDX-License-Identifier: Apache-2.0
// SQuAD v1.1 answer normalisation and whitespace tokenisation, UTF-8 safe and linear time.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/text/detail/chars.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

namespace detail {
// Per byte: its lower-case form and whether SQuAD normalisation keeps it (0 for `string.punctuation`).
struct squad_tables {
  std::array<unsigned char, 256> lower{};
  std::array<unsigned char, 256> keep{};
};
inline constexpr squad_tables squad_table = [] {
  squad_tables t;
  for (std::size_t c = 0; c < 256; ++c) {
    t.lower[c] = static_cast<unsigned char>(to_lower(static_cast<char>(c)));
    t.keep[c] = is_punct(static_cast<unsigned char>(c)) ? 0 : 1;
  }
  return t;
}();
} // namespace detail

/// Calls `fn(token)` for every maximal run of non-whitespace bytes of `text`, in order; `token` is a view into `text`.
///
/// Whitespace is Python's `str.split()` set restricted to ASCII (space, `\t \n \v \f \r`, 0x1c to 0x1f)
/// [SQuAD v1.1 evaluate-v1.1.py, white_space_fix]. Non-ASCII bytes are never separators, so a UTF-8 character is
/// never split. Empty or all-whitespace text calls `fn` zero times.
/// Complexity: one pass, no allocation.
template <class Fn>
constexpr void for_each_token(std::string_view text, Fn&& fn) {
  std::size_t i = 0;
  const std::size_t n = text.size();
  while (i < n) {
    while (i < n && detail::is_space(static_cast<unsigned char>(text[i]))) ++i;
    const std::size_t b = i;
    while (i < n && !detail::is_space(static_cast<unsigned char>(text[i]))) ++i;
    if (i > b) fn(text.substr(b, i - b));
  }
}

/// Writes the whitespace-separated tokens of `normalized` into `out` (replacing its contents), as views into
/// `normalized`; no allocation once `out` has the capacity. See the returning overload.
inline void answer_tokens(std::string_view normalized, std::vector<std::string_view>& out) {
  out.clear();
  for_each_token(normalized, [&](std::string_view t) { out.push_back(t); });
}

/// The whitespace-separated tokens of `normalized` (usually the output of `normalize_answer`), as views into it;
/// the bag of words of SQuAD token F1 [SQuAD v1.1 evaluate-v1.1.py, f1_score: `normalize_answer(s).split()`].
///
/// Empty or all-whitespace input gives an empty vector. Complexity: one pass; allocates the vector only.
[[nodiscard]] inline std::vector<std::string_view> answer_tokens(std::string_view normalized) {
  std::vector<std::string_view> tokens;
  answer_tokens(normalized, tokens);
  return tokens;
}

/// Writes the SQuAD v1.1 normalisation of `text` into `out` (replacing its contents): lower-case, remove
/// punctuation, remove the words "a", "an", "the", collapse whitespace to single spaces and trim.
///
/// Follows `normalize_answer` of evaluate-v1.1.py step by step [SQuAD v1.1]: punctuation (Python's
/// `string.punctuation`, all 32 ASCII symbols) is deleted, not replaced, so "don't" becomes "dont" and "t.h.e" an
/// article; an article must be a whole word (`\b(a|an|the)\b`) of the punctuation-free text. Differences from
/// Python, all on non-ASCII input: only ASCII letters are lower-cased, and every non-ASCII byte is treated as a
/// word character (Python's `\w` is Unicode-aware, so e.g. "the—end" keeps its "the" here), so non-ASCII bytes pass
/// through unchanged and, when `text` is valid UTF-8, so is the result. Empty input gives "".
/// Precondition: `text` does not view the buffer of `out`.
/// Complexity: two linear passes in place over `out`; no allocation when `out.capacity() >= text.size()`.
/// Example: `"The  Eiffel-Tower!"` gives `"eiffeltower"`; `"A cat's   toy"` gives `"cats toy"`.
inline void normalize_answer(std::string_view text, std::string& out) {
  // Pass 1: lower-case and drop punctuation, branch-free: every byte is written, only kept ones advance the index.
  // The result is never longer than the input, so it fits in place.
  out.resize(text.size());
  char* const buf = out.data();
  const detail::squad_tables& tab = detail::squad_table;
  std::size_t n = 0;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    buf[n] = static_cast<char>(tab.lower[u]);
    n += tab.keep[u];
  }

  // Pass 2, in place (the write index never passes the read index): articles become separators and whitespace runs
  // collapse. Word runs are taken whole, so a run start is always a word boundary.
  std::size_t w = 0, r = 0;
  bool pending_space = false;
  while (r < n) {
    const auto c = static_cast<unsigned char>(buf[r]);
    if (detail::is_space(c)) {
      pending_space = true;
      ++r;
      continue;
    }
    std::size_t e = r + 1;
    if (detail::is_word(c)) {
      while (e < n && detail::is_word(static_cast<unsigned char>(buf[e]))) ++e;
      const std::size_t len = e - r;
      // "a", "an", "the" (the bytes are already lower case).
      if ((len == 1 && c == 'a') || (len == 2 && c == 'a' && buf[r + 1] == 'n') ||
          (len == 3 && c == 't' && buf[r + 1] == 'h' && buf[r + 2] == 'e')) {
        pending_space = true;
        r = e;
        continue;
      }
    }
    if (pending_space && w > 0) buf[w++] = ' ';
    pending_space = false;
    for (; r < e; ++r) buf[w++] = buf[r];
  }
  out.resize(w);
}

/// The SQuAD v1.1 normalisation of `text` as a new string; see the overload writing into a caller's string.
[[nodiscard]] inline std::string normalize_answer(std::string_view text) {
  std::string out;
  normalize_answer(text, out);
  return out;
}

} // namespace mmrag_rft
