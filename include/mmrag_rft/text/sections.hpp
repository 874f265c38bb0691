// SPDX-License-Identifier: Apache-2.0
// Tag sections of reasoning output (<think>…</think><answer>…</answer> and configurable further tags).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/text/detail/chars.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// What can be wrong with the tag sections of an output; a bit set, combined with `|`.
enum class section_issue : std::uint16_t {
  none = 0,
  missing = 1 << 0,       ///< a required tag is never opened
  duplicated = 1 << 1,    ///< a tag is opened or closed more than once
  unclosed = 1 << 2,      ///< an opening tag has no closing tag after it (typical of truncated output)
  stray_close = 1 << 3,   ///< a closing tag with no open section of that tag before it
  nested = 1 << 4,        ///< a configured tag appears inside another section (or inside itself), or sections overlap
  out_of_order = 1 << 5,  ///< sections appear in another order than the configured one
  leading_text = 1 << 6,  ///< non-whitespace text before the first tag
  trailing_text = 1 << 7, ///< non-whitespace text after the last tag
  text_between = 1 << 8,  ///< non-whitespace text between two top-level sections
};

[[nodiscard]] constexpr section_issue operator|(section_issue a, section_issue b) noexcept {
  return static_cast<section_issue>(static_cast<std::uint16_t>(a) | static_cast<std::uint16_t>(b));
}
[[nodiscard]] constexpr section_issue operator&(section_issue a, section_issue b) noexcept {
  return static_cast<section_issue>(static_cast<std::uint16_t>(a) & static_cast<std::uint16_t>(b));
}
[[nodiscard]] constexpr section_issue operator~(section_issue a) noexcept {
  return static_cast<section_issue>(static_cast<std::uint16_t>(~static_cast<std::uint16_t>(a)));
}
constexpr section_issue& operator|=(section_issue& a, section_issue b) noexcept { return a = a | b; }

/// True when `set` contains any of the bits of `bits`.
[[nodiscard]] constexpr bool any(section_issue set, section_issue bits) noexcept {
  return (set & bits) != section_issue::none;
}

/// One tag's section as found in an output; all views point into the parsed text.
struct tag_section {
  /// Text between the first opening tag and the first closing tag after it; up to the end of the text when
  /// `unclosed`; empty (null data) when the tag was never opened.
  std::string_view content{};
  /// `content` together with its opening tag and, when present, its closing tag.
  std::string_view whole{};
  std::uint32_t opens = 0;                    ///< how many opening tags of this name appear
  std::uint32_t closes = 0;                   ///< how many closing tags of this name appear
  section_issue issues = section_issue::none; ///< the issues that concern this section

  /// True when the tag was opened at least once (the section has a `content`, perhaps unclosed).
  [[nodiscard]] constexpr bool found() const noexcept { return opens > 0; }
};

/// The result of `tag_format::parse`: one `tag_section` per configured tag, in configuration order, and the union of
/// all issues. Fixed size, so parsing never allocates.
struct tag_parse {
  static constexpr std::size_t max_tags = 8;

  std::array<tag_section, max_tags> sections{};
  std::size_t count = 0;                      ///< number of configured tags; `sections[count..]` are unused
  section_issue issues = section_issue::none; ///< union of the sections' issues and the text-outside issues
  std::string_view leading{};                 ///< text before the first tag (whitespace included)
  std::string_view trailing{};                ///< text after the last tag when no section is left open

  /// True when no issue other than those in `allowed` was found; `well_formed()` is the strict R1 check.
  [[nodiscard]] constexpr bool well_formed(section_issue allowed = section_issue::none) const noexcept {
    return (issues & ~allowed) == section_issue::none;
  }
  [[nodiscard]] constexpr const tag_section& operator[](std::size_t i) const noexcept { return sections[i]; }

  /// Graded format credit in [0, 1]: (g + o) / (count + 1), where g counts the configured tags whose section is
  /// sound (opened exactly once, closed, in order, not nested, no stray close; an absent optional tag is sound) and
  /// o is 1 when no text lies outside the sections (no leading, trailing or in-between text; non-blank text
  /// without any configured tag is all outside text), issues in `allowed`
  /// ignored throughout. It is 1 exactly when `well_formed(allowed)`; each further sound section adds one step, so
  /// an untrained model's near misses are told apart where the strict 0/1 check scores all of them 0.
  [[nodiscard]] constexpr double format_credit(section_issue allowed = section_issue::none) const noexcept {
    constexpr section_issue outside =
        section_issue::leading_text | section_issue::trailing_text | section_issue::text_between;
    const section_issue counted = ~allowed;
    std::size_t g = 0;
    for (std::size_t t = 0; t < count; ++t)
      if (!any(sections[t].issues & counted, ~outside)) ++g;
    // Tag-less text raises no outside issue (there is no tag to be outside of), yet it is all outside text.
    bool tagless = true;
    for (std::size_t t = 0; t < count; ++t) tagless = tagless && !sections[t].found();
    bool blank = true;
    for (const char c : leading) blank = blank && detail::is_space(static_cast<unsigned char>(c));
    const bool outside_ok = !any(issues & counted, outside) && (!tagless || blank);
    const std::size_t o = outside_ok ? 1 : 0;
    return static_cast<double>(g + o) / static_cast<double>(count + 1);
  }
};

/// A configured list of tags, in the order they must appear, each required or optional.
struct tag_spec {
  std::string name;
  bool required = true;
};

/// Finds the sections `<name>…</name>` of a list of configured tags in model output and reports, distinctly, every
/// way the output departs from "each tag exactly once, in the configured order, nothing but whitespace around".
///
/// The default is the R1 format: `<think>…</think>` then `<answer>…</answer>` [DeepSeek-R1 format reward;
/// Visual-RFT, Rank-R1, ReasonRank, MM-R5]; add e.g. `{"think", "relevance", "answer"}` for a stage-1 template or
/// `{"think", "rank", "answer"}` for stage 2. Tag names are matched exactly (case-sensitive, no attributes, no
/// spaces inside the brackets); a `<` that does not start a configured tag is plain text.
/// Construction throws `mmrag_rft::error` for an empty list, more than `tag_parse::max_tags` tags, an empty name,
/// a name with `<`, `>`, `/` or whitespace, or a duplicate name. Parsing is total and `noexcept`.
class tag_format {
public:
  /// Tags in expected order, all required.
  tag_format(std::initializer_list<std::string_view> names) {
    for (const auto n : names) specs_.push_back({std::string(n), true});
    validate();
  }
  /// Tags in expected order, each required or optional.
  explicit tag_format(std::vector<tag_spec> specs) : specs_(std::move(specs)) { validate(); }
  /// The R1 format: `think` then `answer`, both required.
  tag_format() : tag_format({"think", "answer"}) {}

  [[nodiscard]] std::size_t size() const noexcept { return specs_.size(); }
  [[nodiscard]] const tag_spec& spec(std::size_t i) const { return specs_.at(i); }
  /// Index of the tag called `name`, or nullopt.
  [[nodiscard]] std::optional<std::size_t> find(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < specs_.size(); ++i)
      if (specs_[i].name == name) return i;
    return std::nullopt;
  }
  /// Index of the tag called `name`; throws `mmrag_rft::error` naming it and the configured tags when there is none.
  [[nodiscard]] std::size_t index(std::string_view name) const {
    const auto i = find(name);
    if (!i) detail::require(false, "tag_format::index", "name", unknown_tag_message(name));
    return *i;
  }
  /// The configured names, comma-separated in order: "think, rank, answer".
  [[nodiscard]] std::string names() const {
    std::string s;
    for (const tag_spec& t : specs_) s.append(s.empty() ? "" : ", ").append(t.name);
    return s;
  }
  /// "\"<name>\" is not one of the configured tags (think, answer)": the message of every unknown-tag error.
  [[nodiscard]] std::string unknown_tag_message(std::string_view name) const {
    return std::string("\"").append(name).append("\" is not one of the configured tags (").append(names()).append(")");
  }

  /// The configuration spelled as bytes (per tag: `+` or `-` for required or optional, the name, a NUL): two formats
  /// have equal signatures exactly when they list the same names with the same flags in the same order. Lets a cache
  /// recognise a configuration by value (`reward_context`) without rebuilding a key per lookup.
  [[nodiscard]] std::string_view signature() const noexcept { return signature_; }

  /// Parses `text`: total, no allocation, one pass over the text plus, at each `<`, a comparison with the configured
  /// names (O(n * total name length) at worst, linear in n for a fixed configuration). Empty text gives every
  /// required tag `missing` and nothing else.
  [[nodiscard]] tag_parse parse(std::string_view text) const noexcept;

private:
  // Checks the names, then spells the configuration into `signature_`.
  void validate() {
    constexpr const char* fn = "tag_format";
    detail::require(!specs_.empty(), fn, "tags", "must name at least one tag");
    detail::require(specs_.size() <= tag_parse::max_tags, fn, "tags", "has more than tag_parse::max_tags (8) tags");
    for (std::size_t i = 0; i < specs_.size(); ++i) {
      const std::string& n = specs_[i].name;
      detail::require(!n.empty(), fn, "tags", "has an empty name", i);
      for (const char c : n)
        detail::require(c != '<' && c != '>' && c != '/' && !detail::is_space(static_cast<unsigned char>(c)), fn,
                        "tags", "has a name with '<', '>', '/' or whitespace", i);
      for (std::size_t j = 0; j < i; ++j) detail::require(specs_[j].name != n, fn, "tags", "repeats a name", i);
    }
    signature_.clear();
    for (const tag_spec& t : specs_) {
      signature_ += t.required ? '+' : '-';
      signature_ += t.name;
      signature_ += '\0';
    }
  }

  std::vector<tag_spec> specs_;
  std::string signature_;
};

inline tag_parse tag_format::parse(std::string_view text) const noexcept {
  tag_parse r;
  r.count = specs_.size();
  const std::size_t n = text.size();
  // Per tag: open depth (to spot nesting and stray closes), where its first section starts, whether it closed.
  std::array<std::uint32_t, tag_parse::max_tags> depth{};
  std::array<std::size_t, tag_parse::max_tags> open_at{}, content_at{};
  std::array<bool, tag_parse::max_tags> closed{};
  std::uint32_t total_depth = 0;
  bool any_event = false;
  std::size_t top_level_from = 0; // start of the current stretch of text outside every section
  const auto add = [&](std::size_t t, section_issue i) {
    r.sections[t].issues |= i;
    r.issues |= i;
  };
  const auto blank = [&](std::size_t b, std::size_t e) {
    for (; b < e; ++b)
      if (!detail::is_space(static_cast<unsigned char>(text[b]))) return false;
    return true;
  };

  // find() is memchr: the text between tags (most of a completion) is skipped at memory speed.
  for (std::size_t i = text.find('<'); i < n; i = text.find('<', i + 1)) {
    const bool closing = i + 1 < n && text[i + 1] == '/';
    const std::size_t name_at = i + 1 + (closing ? 1 : 0);
    std::size_t t = specs_.size();
    for (std::size_t k = 0; k < specs_.size(); ++k) {
      const std::string& nm = specs_[k].name;
      // First byte before the full comparison: most names differ there, and the full one is a memcmp call.
      if (name_at + nm.size() < n && text[name_at] == nm[0] && text[name_at + nm.size()] == '>' &&
          std::char_traits<char>::compare(text.data() + name_at, nm.data(), nm.size()) == 0) {
        t = k;
        break;
      }
    }
    if (t == specs_.size()) continue;
    const std::size_t end = name_at + specs_[t].name.size() + 1;
    tag_section& s = r.sections[t];

    if (!any_event) {
      r.leading = text.substr(0, i);
      if (!blank(0, i)) add(t, section_issue::leading_text);
    } else if (total_depth == 0 && !closing && !blank(top_level_from, i)) {
      add(t, section_issue::text_between);
    }
    any_event = true;

    if (!closing) {
      if (total_depth > 0) add(t, section_issue::nested);
      if (++s.opens == 2) add(t, section_issue::duplicated);
      if (s.opens == 1) open_at[t] = i, content_at[t] = end;
      ++depth[t];
      ++total_depth;
    } else {
      if (++s.closes == 2) add(t, section_issue::duplicated);
      if (depth[t] == 0) {
        add(t, section_issue::stray_close);
      } else {
        if (total_depth > depth[t]) add(t, section_issue::nested); // another tag is open inside this one
        if (s.opens >= 1 && !closed[t]) {
          closed[t] = true;
          s.content = text.substr(content_at[t], i - content_at[t]);
          s.whole = text.substr(open_at[t], end - open_at[t]);
        }
        --depth[t];
        --total_depth;
      }
      if (total_depth == 0) top_level_from = end;
    }
    i = end - 1;
  }

  std::size_t last_first_open = 0;
  bool seen = false;
  for (std::size_t t = 0; t < specs_.size(); ++t) {
    tag_section& s = r.sections[t];
    if (s.opens == 0 && specs_[t].required) add(t, section_issue::missing);
    if (s.opens > 0 && !closed[t]) {
      s.content = text.substr(content_at[t]);
      s.whole = text.substr(open_at[t]);
    }
    if (depth[t] > 0) add(t, section_issue::unclosed);
    if (s.opens > 0) {
      if (seen && open_at[t] < last_first_open) add(t, section_issue::out_of_order);
      last_first_open = open_at[t] > last_first_open ? open_at[t] : last_first_open;
      seen = true;
    }
  }
  if (any_event && total_depth == 0) {
    r.trailing = text.substr(top_level_from);
    if (!blank(top_level_from, n)) r.issues |= section_issue::trailing_text;
  }
  if (!any_event) r.leading = text;
  return r;
}

/// True when `text` has exactly the R1 shape: optional whitespace, `<think>…</think>`, optional whitespace,
/// `<answer>…</answer>`, optional whitespace, with no other `<think>`/`<answer>` tag anywhere
/// [DeepSeek-R1 / Visual-RFT format reward, `re.fullmatch` with whitespace allowed around the sections].
/// Total, linear, no allocation.
[[nodiscard]] inline bool is_r1_format(std::string_view text) noexcept {
  static const tag_format r1;
  return r1.parse(text).well_formed();
}

} // namespace mmrag_rft
