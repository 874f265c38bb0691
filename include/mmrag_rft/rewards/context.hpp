// SPDX-License-Identifier: Apache-2.0
// Per-completion scratch that lets the rules of a composite share one parse of the completion's tag sections.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/text/sections.hpp>

#include <array>
#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>
#include <type_traits>

namespace mmrag_rft {

/// What the rules of one composite share while scoring one completion: the `tag_format::parse` of its text under
/// each tag configuration a rule asks for, computed on first request and reused by the other rules.
///
/// A rule opts in by also being callable as `rule(completion, sample, reward_context&)`; `rule_value(r, c, s, ctx)`
/// calls that form when present and the plain one otherwise, so a custom rule never has to know about contexts.
/// The composite and the batch scorer create one context per completion; with the three built-in stage-2 rules
/// the text is parsed once instead of three times (the parse is most of the cost of those rules).
/// Two configurations are the same when they list the same names with the same `required` flags (compared by value,
/// so a context may outlive the rules that used it). Up to `max_formats` configurations of up to 96 bytes of names
/// are cached; others are parsed on every request. Not thread-safe: one context per thread. Precondition: `text`
/// (the completion's) outlives the context's use. Complexity: one parse per configuration; no allocation.
class reward_context {
public:
  static constexpr std::size_t max_formats = 2;

  explicit reward_context(std::string_view text = {}) noexcept : text_(text) {}

  /// Starts over for another completion's text (cached parses are dropped).
  void reset(std::string_view text) noexcept {
    text_ = text;
    used_ = 0;
  }
  /// The text the parses refer to.
  [[nodiscard]] std::string_view text() const noexcept { return text_; }

  /// The parse of the text under `tags`, computed at most once per configuration.
  [[nodiscard]] const tag_parse& sections(const tag_format& tags) noexcept {
    const std::string_view sig = tags.signature();
    for (std::size_t i = 0; i < used_; ++i)
      if (cache_[i].key() == sig) return cache_[i].parse;
    tag_parse* slot = &overflow_;
    if (used_ < max_formats && sig.size() <= key_capacity) {
      entry& e = cache_[used_++];
      std::memcpy(e.key_bytes.data(), sig.data(), sig.size());
      e.key_size = sig.size();
      slot = &e.parse;
    }
    // Parsed in place: assigning the returned ~0.4 KB result cost as much as the rest of a cache hit.
    return *::new (slot) tag_parse(tags.parse(text_));
  }

private:
  // A configuration is identified by value (`tag_format::signature`), never by address: a rule (and its tag_format)
  // may die before the context does. Configurations longer than the key holds are not cached.
  static constexpr std::size_t key_capacity = 96;
  struct entry {
    std::array<char, key_capacity> key_bytes{};
    std::size_t key_size = 0;
    tag_parse parse;
    [[nodiscard]] std::string_view key() const noexcept { return {key_bytes.data(), key_size}; }
  };
  static_assert(std::is_trivially_destructible_v<tag_parse>, "sections() constructs parses over old ones");

  std::string_view text_;
  std::size_t used_ = 0;
  std::array<entry, max_formats> cache_{};
  tag_parse overflow_{};
};

} // namespace mmrag_rft
