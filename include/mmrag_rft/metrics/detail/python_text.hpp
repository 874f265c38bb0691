// SPDX-License-Identifier: Apache-2.0
// The pieces of Python the official evaluation scripts rely on, rewritten for UTF-8 byte strings: float() parsing,
// float repr(), word2number 1.1's word_to_num and the article regex. Whitespace and word characters are Python's
// Unicode ones (text/detail/unicode.hpp); digits are ASCII only, so non-ASCII digits are never numbers.
// IWYU pragma: private, include <mmrag_rft/metrics.hpp>
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/text/detail/chars.hpp>
#include <mmrag_rft/text/detail/unicode.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace mmrag_rft::detail {

// Python float(s): surrounding (Unicode) whitespace, a sign, then "inf", "infinity" or "nan" (any case), or decimal digits with
// an optional point and exponent, single underscores allowed between digits (PEP 515). Out-of-range values become
// +-inf or +-0 as in Python. nullopt where Python raises ValueError.
[[nodiscard]] inline std::optional<double> py_float(std::string_view s) {
  s = py_strip(s);
  bool neg = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) neg = s[0] == '-', s.remove_prefix(1);
  if (iequals(s, "inf") || iequals(s, "infinity"))
    return neg ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
  if (iequals(s, "nan")) return std::numeric_limits<double>::quiet_NaN();

  std::string clean; // the literal without underscores, for from_chars
  clean.reserve(s.size());
  std::size_t i = 0;
  // Reads digit (['_'] digit)*; returns the number of digits, 0 if the grammar is not met.
  auto digits = [&]() -> std::size_t {
    std::size_t n = 0;
    while (i < s.size()) {
      if (is_digit(static_cast<unsigned char>(s[i]))) {
        clean.push_back(s[i++]);
        ++n;
      } else if (s[i] == '_' && n > 0 && i + 1 < s.size() && is_digit(static_cast<unsigned char>(s[i + 1]))) {
        ++i;
      } else {
        break;
      }
    }
    return n;
  };
  const std::size_t int_digits = digits();
  std::size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    clean.push_back('.');
    ++i;
    frac_digits = digits();
  }
  if (int_digits + frac_digits == 0) return std::nullopt;
  long long exp10 = 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    clean.push_back('e');
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) clean.push_back(s[i++]);
    const std::size_t before = clean.size();
    if (digits() == 0) return std::nullopt;
    for (std::size_t d = before; d < clean.size() && exp10 < 100000; ++d) exp10 = exp10 * 10 + (clean[d] - '0');
    if (clean[before - 1] == '-') exp10 = -exp10;
  }
  if (i != s.size()) return std::nullopt;

  double v = 0;
  const auto r = std::from_chars(clean.data(), clean.data() + clean.size(), v);
  if (r.ec == std::errc::result_out_of_range) {
    // Magnitude of the leading non-zero digit decides between overflow (inf) and underflow (0).
    long long mag = 0;
    std::size_t p = 0, seen = 0;
    bool found = false;
    for (; p < clean.size() && clean[p] != 'e'; ++p) {
      if (clean[p] == '.') continue;
      ++seen;
      if (clean[p] != '0') {
        found = true;
        break;
      }
    }
    if (found) mag = static_cast<long long>(int_digits) - static_cast<long long>(seen) + exp10;
    v = (found && mag >= 0) ? std::numeric_limits<double>::infinity() : 0.0;
  } else if (r.ec != std::errc()) {
    return std::nullopt;
  }
  return neg ? -v : v;
}

// Python repr(float): the shortest digits that round-trip, in fixed notation when the decimal exponent is in
// [-4, 16), else as d.ddde+XX; "1.0", "0.0001", "1e-05", "1e+16", "-0.0", "inf", "nan".
[[nodiscard]] inline std::string py_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::array<char, 64> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v, std::chars_format::scientific);
  const std::string_view sci(buf.data(), static_cast<std::size_t>(r.ptr - buf.data()));
  const std::size_t e = sci.find('e');
  std::string_view mant = sci.substr(0, e);
  int exp10 = 0;
  std::from_chars(sci.data() + e + 1 + (sci[e + 1] == '+'), sci.data() + sci.size(), exp10);
  std::string out;
  if (!mant.empty() && mant[0] == '-') out.push_back('-'), mant.remove_prefix(1);
  std::string dig;
  for (const char c : mant)
    if (c != '.') dig.push_back(c);
  if (exp10 >= -4 && exp10 < 16) {
    if (exp10 >= 0) {
      const auto ip = static_cast<std::size_t>(exp10) + 1;
      if (dig.size() <= ip) {
        out += dig;
        out.append(ip - dig.size(), '0');
        out += ".0";
      } else {
        out.append(dig, 0, ip);
        out.push_back('.');
        out.append(dig, ip);
      }
    } else {
      out += "0.";
      out.append(static_cast<std::size_t>(-exp10 - 1), '0');
      out += dig;
    }
    return out;
  }
  out.push_back(dig[0]);
  if (dig.size() > 1) out.push_back('.'), out.append(dig, 1);
  out.push_back('e');
  out.push_back(exp10 < 0 ? '-' : '+');
  const int a = exp10 < 0 ? -exp10 : exp10;
  if (a < 10) out.push_back('0');
  out += std::to_string(a);
  return out;
}

// word2number 1.1 american_number_system; "point" (the decimal point) is index 32.
inline constexpr std::array<std::string_view, 33> w2n_words{
    "zero",     "one",      "two",      "three",   "four",     "five",     "six",     "seven",   "eight",
    "nine",     "ten",      "eleven",   "twelve",  "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen", "twenty",   "thirty",  "forty",    "fifty",    "sixty",   "seventy", "eighty",
    "ninety",   "hundred",  "thousand", "million", "billion",  "point"};
inline constexpr std::array<std::int64_t, 32> w2n_values{0,  1,  2,  3,  4,  5,  6,   7,    8,       9,         10,
                                                         11, 12, 13, 14, 15, 16, 17,  18,   19,      20,        30,
                                                         40, 50, 60, 70, 80, 90, 100, 1000, 1000000, 1000000000};
inline constexpr int w2n_point = 32, w2n_thousand = 29, w2n_million = 30, w2n_billion = 31;

[[nodiscard]] constexpr int w2n_index(std::string_view w) noexcept {
  for (std::size_t i = 0; i < w2n_words.size(); ++i)
    if (w2n_words[i] == w) return static_cast<int>(i);
  return -1;
}

// number_formation(): the value of a short run of number words; nullopt for an empty run (Python IndexError).
[[nodiscard]] inline std::optional<std::int64_t> w2n_formation(std::span<const int> w) {
  if (w.empty()) return std::nullopt;
  auto v = [&](std::size_t i) { return w2n_values[static_cast<std::size_t>(w[i])]; };
  switch (w.size()) {
  case 4: return v(0) * v(1) + v(2) + v(3);
  case 3: return v(0) * v(1) + v(2);
  case 2: return (v(0) == 100 || v(1) == 100) ? v(0) * v(1) : v(0) + v(1);
  default: return v(0);
  }
}

// word2number 1.1 word_to_num(sentence) for a lower-case sentence: digits-only input is returned as is, otherwise the
// known number words (others ignored) are combined. nullopt where word_to_num raises (no number word, a repeated
// scale word, scales out of order) and where it would crash with IndexError (e.g. "thousand five").
[[nodiscard]] inline std::optional<double> word_to_num(std::string_view sentence) {
  bool all_digits = !sentence.empty();
  for (const char c : sentence) all_digits = all_digits && is_digit(static_cast<unsigned char>(c));
  if (all_digits) {
    double v = 0;
    for (const char c : sentence) v = v * 10 + (c - '0');
    return v;
  }
  // word_to_num replaces '-' by ' ' before splitting.
  std::string spaced(sentence);
  std::replace(spaced.begin(), spaced.end(), '-', ' ');
  std::vector<int> clean;
  for_each_word(spaced, [&](std::string_view w) {
    const int idx = w2n_index(w);
    if (idx >= 0) clean.push_back(idx);
  });
  if (clean.empty()) return std::nullopt;
  auto count = [&](int idx) { return std::count(clean.begin(), clean.end(), idx); };
  if (count(w2n_thousand) > 1 || count(w2n_million) > 1 || count(w2n_billion) > 1 || count(w2n_point) > 1)
    return std::nullopt;
  std::vector<int> decimals;
  if (const auto p = std::find(clean.begin(), clean.end(), w2n_point); p != clean.end()) {
    decimals.assign(p + 1, clean.end());
    clean.erase(p, clean.end());
  }
  auto index_of = [&](int idx) -> long {
    const auto it = std::find(clean.begin(), clean.end(), idx);
    return it == clean.end() ? -1 : static_cast<long>(it - clean.begin());
  };
  const long bi = index_of(w2n_billion), mi = index_of(w2n_million), ti = index_of(w2n_thousand);
  if ((ti > -1 && (ti < mi || ti < bi)) || (mi > -1 && mi < bi)) return std::nullopt;
  const std::span<const int> all(clean);
  auto slice = [&](long b, long e) {
    b = std::max(b, 0L), e = std::min(e, static_cast<long>(all.size()));
    return b < e ? all.subspan(static_cast<std::size_t>(b), static_cast<std::size_t>(e - b)) : all.subspan(0, 0);
  };
  const long n = static_cast<long>(clean.size());
  std::int64_t total = 0;
  if (n == 1) {
    total = w2n_values[static_cast<std::size_t>(clean[0])];
  } else if (n > 1) {
    if (bi > -1) {
      const auto m = w2n_formation(slice(0, bi));
      if (!m) return std::nullopt;
      total += *m * 1000000000;
    }
    if (mi > -1) {
      const auto m = w2n_formation(bi > -1 ? slice(bi + 1, mi) : slice(0, mi));
      if (!m) return std::nullopt;
      total += *m * 1000000;
    }
    if (ti > -1) {
      const auto m = w2n_formation(mi > -1 ? slice(mi + 1, ti) : bi > -1 ? slice(bi + 1, ti) : slice(0, ti));
      if (!m) return std::nullopt;
      total += *m * 1000;
    }
    std::optional<std::int64_t> hundreds = 0;
    if (ti > -1 && ti != n - 1) hundreds = w2n_formation(slice(ti + 1, n));
    else if (mi > -1 && mi != n - 1 && ti != n - 1) hundreds = w2n_formation(slice(mi + 1, n));
    else if (bi > -1 && bi != n - 1) hundreds = w2n_formation(slice(bi + 1, n));
    else if (ti == -1 && mi == -1 && bi == -1) hundreds = w2n_formation(all);
    if (!hundreds) return std::nullopt;
    total += *hundreds;
  }
  double value = static_cast<double>(total);
  if (!decimals.empty()) {
    // get_decimal_sum(): "0." followed by one digit per word, or 0 when a word is not zero..nine.
    std::string lit = "0.";
    bool ok = true;
    for (const int d : decimals) {
      ok = ok && d <= 9;
      lit.push_back(static_cast<char>('0' + d));
    }
    double frac = 0;
    if (ok) std::from_chars(lit.data(), lit.data() + lit.size(), frac);
    value += frac;
  }
  return value;
}

// Python re.sub(r"\b(a|an|the)\b", " ", s) with the Unicode `\w` of Python 3 (letters, numbers, '_'), so "the—end"
// loses its article and "thé" keeps its letters; bytes that are no valid UTF-8 are non-word characters.
[[nodiscard]] inline std::string remove_articles(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    code_point c = decode_utf8(s, i);
    if (!is_py_word(c.value)) {
      out.append(s.substr(i, c.size));
      i += c.size;
      continue;
    }
    const std::size_t b = i;
    while (i < s.size() && is_py_word((c = decode_utf8(s, i)).value)) i += c.size;
    const std::string_view w = s.substr(b, i - b);
    if (w == "a" || w == "an" || w == "the") out.push_back(' ');
    else out.append(w);
  }
  return out;
}

} // namespace mmrag_rft::detail
