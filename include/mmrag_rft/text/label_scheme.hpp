// SPDX-License-Identifier: Apache-2.0
// How the labels a model writes in a ranking ("3", "Image 2", "Doc 5") map to 0-based document indices.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/text/detail/chars.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// How label numbers relate to document indices.
enum class label_numbering : std::uint8_t {
  bare,       ///< plain 1-based numbers only ("3" is document 2); any prefixed label is unknown
  shared,     ///< one 1-based numbering over all documents; a known prefix is decoration ("Text 5" is document 4)
  per_prefix, ///< each prefix numbers its own documents from 1; documents are ordered prefix by prefix
};

/// The outcome of looking a label up.
enum class label_status : std::uint8_t { ok, out_of_range, unknown };

/// A label looked up: its status and, when `ok`, its 0-based document index.
struct label_lookup {
  label_status status = label_status::unknown;
  std::size_t index = 0;
};

/// A caller-given mapping from ranking labels to document indices.
///
/// Three schemes, by factory: `numbered(n)` (bare 1-based numbers), `shared(n, prefixes)` (the default of
/// `parse_ranking`: bare numbers or any known prefix followed by the shared 1-based number, prefixes
/// `default_prefixes`), and `per_prefix({{"image", 3}, {"text", 5}})` (Image 1..3 are documents 0..2, Text 1..5
/// documents 3..7; a bare number is accepted only when there is a single prefix). Prefixes are ASCII letters,
/// matched case-insensitively. Factories throw `mmrag_rft::error` for an empty prefix, a prefix with a non-letter,
/// a repeated prefix, or an empty `per_prefix` list. Lookup is total and `noexcept`.
class label_scheme {
public:
  /// The prefixes `shared` accepts unless told otherwise.
  static std::vector<std::string> default_prefixes() {
    return {"doc", "document", "image", "img", "text", "table", "passage", "candidate", "id"};
  }

  /// Bare 1-based numbers over `num_documents` documents.
  [[nodiscard]] static label_scheme numbered(std::size_t num_documents) {
    return label_scheme(label_numbering::bare, num_documents, {}, {});
  }
  /// Bare numbers or `prefix N`, N the shared 1-based document number, over `num_documents` documents.
  [[nodiscard]] static label_scheme shared(std::size_t num_documents,
                                           std::vector<std::string> prefixes = default_prefixes()) {
    return label_scheme(label_numbering::shared, num_documents, std::move(prefixes), {});
  }
  /// `prefix N` numbered per prefix; `groups` lists (prefix, number of documents) in document order.
  [[nodiscard]] static label_scheme per_prefix(const std::vector<std::pair<std::string, std::size_t>>& groups) {
    detail::require(!groups.empty(), "label_scheme::per_prefix", "groups", "must not be empty");
    std::vector<std::string> names;
    std::vector<std::size_t> offsets{0};
    for (const auto& [name, count] : groups) {
      names.push_back(name);
      offsets.push_back(offsets.back() + count);
    }
    const std::size_t n = offsets.back();
    return label_scheme(label_numbering::per_prefix, n, std::move(names), std::move(offsets));
  }

  [[nodiscard]] label_numbering numbering() const noexcept { return numbering_; }
  [[nodiscard]] std::size_t num_documents() const noexcept { return num_documents_; }
  [[nodiscard]] const std::vector<std::string>& prefixes() const noexcept { return prefixes_; }

  /// Looks up the label `prefix number`; an empty `prefix` is a bare number. `number` is as written (1-based).
  [[nodiscard]] label_lookup lookup(std::string_view prefix, std::size_t number) const noexcept {
    std::size_t p = prefixes_.size();
    if (!prefix.empty()) {
      for (std::size_t i = 0; i < prefixes_.size() && p == prefixes_.size(); ++i)
        if (detail::iequals(prefix, prefixes_[i])) p = i;
      if (p == prefixes_.size()) return {};
    }
    std::size_t first = 0, count = num_documents_;
    if (numbering_ == label_numbering::per_prefix) {
      if (prefix.empty()) {
        if (prefixes_.size() != 1) return {};
        p = 0;
      }
      first = offsets_[p];
      count = offsets_[p + 1] - offsets_[p];
    }
    if (number < 1 || number > count) return {label_status::out_of_range, 0};
    return {label_status::ok, first + number - 1};
  }

private:
  label_scheme(label_numbering k, std::size_t n, std::vector<std::string> prefixes, std::vector<std::size_t> offsets)
      : numbering_(k), num_documents_(n), prefixes_(std::move(prefixes)), offsets_(std::move(offsets)) {
    constexpr const char* fn = "label_scheme";
    for (std::size_t i = 0; i < prefixes_.size(); ++i) {
      std::string& s = prefixes_[i];
      detail::require(!s.empty(), fn, "prefixes", "has an empty prefix", i);
      for (char& c : s) {
        detail::require(detail::is_alpha(static_cast<unsigned char>(c)), fn, "prefixes",
                        "has a prefix with a character that is not an ASCII letter", i);
        c = detail::to_lower(c);
      }
      for (std::size_t j = 0; j < i; ++j) detail::require(prefixes_[j] != s, fn, "prefixes", "repeats a prefix", i);
    }
  }

  label_numbering numbering_;
  std::size_t num_documents_;
  std::vector<std::string> prefixes_; // lower case
  std::vector<std::size_t> offsets_;  // per_prefix: first document of each prefix, then the total
};

} // namespace mmrag_rft
