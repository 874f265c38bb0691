// SPDX-License-Identifier: Apache-2.0
// Per-completion scratch that lets the rules of a composite share one parse of the completion's tag sections.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/text/sections.hpp>

#include <array>
#include <cstddef>
#include <string_view>

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
    key k;
    if (!make_key(tags, k)) {
      overflow_ = tags.parse(text_);
      return overflow_;
    }
    for (std::size_t i = 0; i < used_; ++i)
      if (cache_[i].k == k) return cache_[i].parse;
    if (used_ < max_formats) {
      entry& e = cache_[used_++];
      e.k = k;
      e.parse = tags.parse(text_);
      return e.parse;
    }
    overflow_ = tags.parse(text_);
    return overflow_;
  }

private:
  // A configuration is identified by value, never by address: a rule (and its tag_format) may die before the
  // context does. The key spells each tag as its required flag, its name and a NUL; longer configurations than the
  // key holds are not cached.
  struct key {
    std::array<char, 96> bytes{};
    std::size_t size = 0;
    [[nodiscard]] bool operator==(const key& o) const noexcept {
      return size == o.size && std::string_view(bytes.data(), size) == std::string_view(o.bytes.data(), o.size);
    }
  };
  struct entry {
    key k;
    tag_parse parse;
  };

  [[nodiscard]] static bool make_key(const tag_format& tags, key& k) noexcept {
    for (std::size_t i = 0; i < tags.size(); ++i) {
      const tag_spec& t = tags.spec(i);
      if (k.size + t.name.size() + 2 > k.bytes.size()) return false;
      k.bytes[k.size++] = t.required ? '+' : '-';
      for (const char c : t.name) k.bytes[k.size++] = c;
      k.bytes[k.size++] = '\0';
    }
    return true;
  }

  std::string_view text_;
  std::size_t used_ = 0;
  std::array<entry, max_formats> cache_{};
  tag_parse overflow_{};
};

} // namespace mmrag_rft
