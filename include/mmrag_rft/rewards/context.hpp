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
/// Two configurations are the same when they list the same names with the same `required` flags. Up to
/// `max_formats` configurations are cached; further ones are parsed on every request. Not thread-safe: one context
/// per thread. Complexity: one parse per configuration; no allocation.
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
    for (std::size_t i = 0; i < used_; ++i)
      if (same(*cache_[i].tags, tags)) return cache_[i].parse;
    if (used_ < max_formats) {
      entry& e = cache_[used_++];
      e.tags = &tags;
      e.parse = tags.parse(text_);
      return e.parse;
    }
    overflow_ = tags.parse(text_);
    return overflow_;
  }

private:
  struct entry {
    const tag_format* tags = nullptr;
    tag_parse parse;
  };

  [[nodiscard]] static bool same(const tag_format& a, const tag_format& b) noexcept {
    if (&a == &b) return true;
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      const tag_spec &x = a.spec(i), &y = b.spec(i);
      if (x.required != y.required || x.name != y.name) return false;
    }
    return true;
  }

  std::string_view text_;
  std::size_t used_ = 0;
  std::array<entry, max_formats> cache_{};
  tag_parse overflow_{};
};

} // namespace mmrag_rft
