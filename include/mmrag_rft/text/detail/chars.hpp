// SPDX-License-Identifier: Apache-2.0
// Byte classes shared by the text parsers: ASCII only, locale-independent, constexpr.
// IWYU pragma: private, include <mmrag_rft/text.hpp>
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <string_view>

namespace mmrag_rft::detail {

// Python's str.split() separators that are ASCII: " \t\n\v\f\r" plus the information separators 0x1c..0x1f, so
// that tokenising agrees with `' '.join(text.split())` of the SQuAD script on ASCII input.
[[nodiscard]] constexpr bool is_space(unsigned char c) noexcept {
  return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

// Python's string.punctuation: every printable ASCII character that is neither a letter, a digit nor a space.
[[nodiscard]] constexpr bool is_punct(unsigned char c) noexcept {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

[[nodiscard]] constexpr bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }
[[nodiscard]] constexpr bool is_alpha(unsigned char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
[[nodiscard]] constexpr bool is_alnum(unsigned char c) noexcept { return is_digit(c) || is_alpha(c); }

[[nodiscard]] constexpr char to_lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// Case-insensitive ASCII comparison of `s` with a lower-case literal `lit`.
[[nodiscard]] constexpr bool iequals(std::string_view s, std::string_view lit) noexcept {
  if (s.size() != lit.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (to_lower(s[i]) != lit[i]) return false;
  return true;
}

// `s` without leading and trailing ASCII whitespace.
[[nodiscard]] constexpr std::string_view trim(std::string_view s) noexcept {
  std::size_t b = 0, e = s.size();
  while (b < e && is_space(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && is_space(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

} // namespace mmrag_rft::detail
