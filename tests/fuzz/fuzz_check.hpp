// SPDX-License-Identifier: Apache-2.0
// Property checks shared by the fuzz targets: a failed property aborts, which libFuzzer and ctest both report.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace mmrag_rft::fuzz {

inline void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

// True when `part` is a view into `whole` (a default-constructed view counts as inside).
[[nodiscard]] inline bool inside(std::string_view part, std::string_view whole) {
  if (part.data() == nullptr) return part.empty();
  const auto b = reinterpret_cast<std::uintptr_t>(whole.data());
  const auto p = reinterpret_cast<std::uintptr_t>(part.data());
  return p >= b && p + part.size() <= b + whole.size();
}

// Strict UTF-8 validity (no overlongs, no surrogates, at most U+10FFFF).
[[nodiscard]] inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1FU;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0FU;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07U;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0U) != 0x80U) return false;
      cp = (cp << 6) | (d & 0x3FU);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    i += len;
  }
  return true;
}

// The pieces of `s` between the `sep` bytes (n separators give n + 1 pieces, empty ones included).
[[nodiscard]] inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = s.find(sep, start);
    parts.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// The input without its first byte, which the targets read as their options.
[[nodiscard]] inline std::string_view after_first(const std::uint8_t* data, std::size_t size) {
  return size > 0 ? std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1) : std::string_view{};
}

// 1-based lines of `s` (a text without a newline has one).
[[nodiscard]] inline std::size_t line_count(std::string_view s) {
  std::size_t n = 1;
  for (const char c : s) n += c == '\n';
  return n;
}

} // namespace mmrag_rft::fuzz
