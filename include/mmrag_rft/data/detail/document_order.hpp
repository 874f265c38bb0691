// SPDX-License-Identifier: Apache-2.0
// Internals of the loaders: the seeded, platform-independent shuffle of a sample's candidate documents.
// IWYU pragma: private, include <mmrag_rft/data.hpp>
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/detail/splitmix64.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace mmrag_rft::detail {

[[nodiscard]] constexpr std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
  return h;
}

/// Permutes `s.documents` with Fisher-Yates driven by splitmix64 seeded from (seed, sample id), and remaps `s.gold`.
/// std::shuffle is not used because its draws are implementation-defined; this order is the same on every platform
/// and does not depend on the order in which samples are loaded.
inline void shuffle_documents(sample& s, std::uint64_t seed) {
  const std::size_t n = s.documents.size();
  if (n < 2) return;
  std::vector<std::size_t> where(n); // where[old] = new position
  for (std::size_t i = 0; i < n; ++i) where[i] = i;
  std::vector<std::size_t> at(where); // at[new] = old
  std::uint64_t state = seed ^ fnv1a(s.id);
  for (std::size_t i = n - 1; i > 0; --i) {
    const std::size_t j = static_cast<std::size_t>(splitmix64(state) % (i + 1));
    std::swap(at[i], at[j]);
  }
  std::vector<document> docs(n);
  for (std::size_t k = 0; k < n; ++k) {
    where[at[k]] = k;
    docs[k] = std::move(s.documents[at[k]]);
  }
  s.documents = std::move(docs);
  for (auto& g : s.gold) g = where[g];
}

} // namespace mmrag_rft::detail
