// SPDX-License-Identifier: Apache-2.0
// Property checks shared by the fuzz targets: a failed property aborts, which libFuzzer and ctest both report.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

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

} // namespace mmrag_rft::fuzz
