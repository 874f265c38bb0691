// SPDX-License-Identifier: Apache-2.0
// Python's str.lower(), str.split(), str.strip() and the Unicode `\w` of `re`, on UTF-8 bytes, through utf8proc.
// IWYU pragma: private, include <mmrag_rft/text.hpp>
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/text/detail/chars.hpp>

#include <utf8proc.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace mmrag_rft::detail {

// One decoded character: its code point, or -1 for a byte that starts no valid UTF-8 sequence, and its length in
// bytes (at least 1, so a scan always advances). Invalid bytes are kept as opaque characters that are neither
// space, cased nor word characters: every function here stays total on any bytes and passes such bytes through.
struct code_point {
  std::int32_t value;
  std::size_t size;
};

[[nodiscard]] constexpr code_point decode_utf8(std::string_view s, std::size_t i) noexcept {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return {c, 1};
  utf8proc_int32_t cp = -1;
  const auto n = utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i),
                                  static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
  if (n < 1) return {-1, 1};
  return {cp, static_cast<std::size_t>(n)};
}

[[nodiscard]] inline utf8proc_category_t category_of(std::int32_t cp) noexcept {
  return cp < 0 ? UTF8PROC_CATEGORY_CN : utf8proc_category(cp);
}

// Python's str.isspace() / str.split() separators: category Zs or bidirectional class WS, B or S (CPython's
// _PyUnicode_IsWhitespace), so U+00A0, U+2009, U+3000, U+0085 and U+2028 separate words and U+200B does not.
[[nodiscard]] constexpr bool is_py_space(std::int32_t cp) noexcept {
  if (cp < 0x80) return cp >= 0 && is_space(static_cast<unsigned char>(cp));
  const utf8proc_property_t* p = utf8proc_get_property(cp);
  return p->category == UTF8PROC_CATEGORY_ZS || p->bidi_class == UTF8PROC_BIDI_CLASS_WS ||
         p->bidi_class == UTF8PROC_BIDI_CLASS_B || p->bidi_class == UTF8PROC_BIDI_CLASS_S;
}

// A character of `re`'s Unicode `\w`: letters (L*), numbers (N*) and '_' (CPython's str.isalnum() or '_'); marks
// are not word characters there either.
[[nodiscard]] inline bool is_py_word(std::int32_t cp) noexcept {
  if (cp < 0x80) return cp >= 0 && (is_alnum(static_cast<unsigned char>(cp)) || cp == '_');
  switch (category_of(cp)) {
  case UTF8PROC_CATEGORY_LU:
  case UTF8PROC_CATEGORY_LL:
  case UTF8PROC_CATEGORY_LT:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_LO:
  case UTF8PROC_CATEGORY_ND:
  case UTF8PROC_CATEGORY_NL:
  case UTF8PROC_CATEGORY_NO: return true;
  default: return false;
  }
}

// Unicode's Cased property as Final_Sigma needs it: characters that have a case or a case mapping.
[[nodiscard]] inline bool is_cased(std::int32_t cp) noexcept {
  if (cp < 0) return false;
  const auto c = category_of(cp);
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT ||
         utf8proc_tolower(cp) != cp || utf8proc_toupper(cp) != cp;
}

// Unicode's Case_Ignorable: marks, format characters, modifiers, and the apostrophes, periods and colons that
// Word_Break counts as inside a word (MidLetter, MidNumLet, Single_Quote), which no category names.
[[nodiscard]] inline bool is_case_ignorable(std::int32_t cp) noexcept {
  switch (cp) {
  case 0x27:
  case 0x2E:
  case 0x3A:
  case 0xB7:
  case 0x387:
  case 0x55F:
  case 0x5F4:
  case 0x2018:
  case 0x2019:
  case 0x2024:
  case 0x2027:
  case 0xFE13:
  case 0xFE52:
  case 0xFE55:
  case 0xFF07:
  case 0xFF0E:
  case 0xFF1A: return true;
  default: break;
  }
  switch (category_of(cp)) {
  case UTF8PROC_CATEGORY_MN:
  case UTF8PROC_CATEGORY_ME:
  case UTF8PROC_CATEGORY_CF:
  case UTF8PROC_CATEGORY_LM:
  case UTF8PROC_CATEGORY_SK: return true;
  default: return false;
  }
}

// Whether the capital sigma at byte `i` of `s` ends a word (Final_Sigma: a cased letter before it and none after
// it, case-ignorable characters skipped), so that it lowers to U+03C2 as in Python.
[[nodiscard]] inline bool final_sigma(std::string_view s, std::size_t i, std::size_t size) noexcept {
  bool before = false;
  for (std::size_t j = i; j > 0;) {
    std::size_t b = j - 1;
    while (b > 0 && (static_cast<unsigned char>(s[b]) & 0xC0) == 0x80 && j - b < 4) --b;
    const code_point c = decode_utf8(s, b);
    if (b + c.size != j) break;
    if (!is_case_ignorable(c.value)) {
      before = is_cased(c.value);
      break;
    }
    j = b;
  }
  if (!before) return false;
  for (std::size_t j = i + size; j < s.size();) {
    const code_point c = decode_utf8(s, j);
    if (!is_case_ignorable(c.value)) return !is_cased(c.value);
    j += c.size;
  }
  return true;
}

inline void append_utf8(std::int32_t cp, std::string& out) {
  utf8proc_uint8_t buf[4];
  const auto n = utf8proc_encode_char(cp, buf);
  out.append(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
}

// Appends the lower case of the character `c` found at byte `i` of `s` (context for Final_Sigma), as Python's
// str.lower(): utf8proc's simple mapping, plus the two SpecialCasing rules that are not one-to-one, U+0130 to
// "i" + U+0307 and the final sigma. Invalid bytes are copied.
inline void append_py_lower(std::string_view s, std::size_t i, code_point c, std::string& out) {
  if (c.value < 0) out.push_back(s[i]);
  else if (c.value < 0x80) out.push_back(to_lower(static_cast<char>(c.value)));
  else if (c.value == 0x130) out.append("i\xCC\x87");
  else if (c.value == 0x3A3) out.append(final_sigma(s, i, c.size) ? "\xCF\x82" : "\xCF\x83");
  else append_utf8(utf8proc_tolower(c.value), out);
}

// Python's s.lower(); ASCII text is lowered byte by byte without decoding.
[[nodiscard]] inline std::string py_lower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const code_point c = decode_utf8(s, i);
    append_py_lower(s, i, c, out);
    i += c.size;
  }
  return out;
}

// Calls fn(word) for each word of Python's s.split() in a run of text that has no ASCII whitespace: the run is
// split at the non-ASCII whitespace characters (U+00A0, U+2009, ...).
template <class Fn>
constexpr void split_at_unicode_space(std::string_view run, Fn& fn) {
  std::size_t b = 0, i = 0;
  while (i < run.size()) {
    const code_point c = decode_utf8(run, i);
    if (is_py_space(c.value)) {
      if (i > b) fn(run.substr(b, i - b));
      b = i + c.size;
    }
    i += c.size;
  }
  if (i > b) fn(run.substr(b, i - b));
}

// Calls fn(word) for each word of Python's s.split(): maximal runs of characters that are not whitespace. The scan
// is the ASCII one (byte compares), noting whether a run had a non-ASCII byte; only such a run is decoded, to split
// it at Unicode whitespace, so ASCII text costs one OR a byte more than an ASCII-only split.
template <class Fn>
constexpr void for_each_word(std::string_view s, Fn&& fn) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    while (i < n && is_space(static_cast<unsigned char>(s[i]))) ++i;
    const std::size_t b = i;
    unsigned high = 0;
    for (unsigned char c; i < n && !is_space(c = static_cast<unsigned char>(s[i])); ++i) high |= c;
    if (i == b) continue;
    if (high < 0x80) fn(s.substr(b, i - b));
    else split_at_unicode_space(s.substr(b, i - b), fn);
  }
}

// Python's s.strip(): `s` without leading and trailing Unicode whitespace.
[[nodiscard]] inline std::string_view py_strip(std::string_view s) noexcept {
  std::size_t b = 0, e = 0;
  bool any = false;
  for_each_word(s, [&](std::string_view w) {
    if (!any) b = static_cast<std::size_t>(w.data() - s.data());
    e = static_cast<std::size_t>(w.data() - s.data()) + w.size();
    any = true;
  });
  return any ? s.substr(b, e - b) : s.substr(0, 0);
}

} // namespace mmrag_rft::detail
