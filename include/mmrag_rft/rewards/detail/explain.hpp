// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/rewards.hpp>
// What the built-in rules share: finding their section of the output, and phrasing explanations.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/rewards/context.hpp>
#include <mmrag_rft/text/sections.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mmrag_rft::detail {

// A rule's view of one configured section: the tag set and the index of its own tag in it.
struct section_ref {
  tag_format tags;
  std::size_t index = 0;

  section_ref(tag_format t, std::string_view name, const char* rule) : tags(std::move(t)) {
    const auto i = tags.find(name);
    if (!i) require(false, rule, "options.section", tags.unknown_tag_message(name) + " of the rule's tag_format");
    index = *i;
  }

  // The content of the section when it is usable: opened once and closed. A duplicated section is refused rather than
  // guessed (a model could otherwise offer two answers), an unclosed one is truncated output.
  [[nodiscard]] std::optional<std::string_view> content(const tag_parse& p) const noexcept {
    const tag_section& s = p[index];
    if (!s.found() || any(s.issues, section_issue::unclosed | section_issue::duplicated)) return std::nullopt;
    return s.content;
  }
  [[nodiscard]] std::optional<std::string_view> content(std::string_view text) const noexcept {
    return content(tags.parse(text));
  }
  [[nodiscard]] std::optional<std::string_view> content(reward_context& ctx) const noexcept {
    return content(ctx.sections(tags));
  }
  [[nodiscard]] const std::string& name() const { return tags.spec(index).name; }
};

// Why a section could not be used, after `what`: "<what> (no <rank>)", "(duplicated <rank>)", "(unclosed <rank>)".
inline void append_section_problem(std::string& out, std::string_view what, const section_ref& ref,
                                   std::string_view text) {
  const tag_parse p = ref.tags.parse(text);
  const tag_section& s = p[ref.index];
  out += what;
  out += !s.found() ? " (no <" : any(s.issues, section_issue::duplicated) ? " (duplicated <" : " (unclosed <";
  out += ref.name();
  out += ">)";
}

// Comma-separated issue names of a parse, each with the first tag it concerns, leaving out `allowed`.
inline void append_section_issues(std::string& out, const tag_parse& p, const tag_format& tags, section_issue allowed) {
  struct named {
    section_issue bit;
    const char* text;
  };
  static constexpr named names[] = {
      {section_issue::missing, "missing"},
      {section_issue::duplicated, "duplicated"},
      {section_issue::unclosed, "unclosed"},
      {section_issue::stray_close, "stray closing tag"},
      {section_issue::nested, "nested"},
      {section_issue::out_of_order, "out of order"},
      {section_issue::leading_text, "text before"},
      {section_issue::trailing_text, "text after"},
      {section_issue::text_between, "text between"},
  };
  bool first = true;
  for (const named& n : names) {
    if (!any(p.issues, n.bit) || any(allowed, n.bit)) continue;
    if (!first) out += ", ";
    first = false;
    out += n.text;
    for (std::size_t t = 0; t < p.count; ++t)
      if (any(p[t].issues, n.bit)) {
        out += " <";
        out += tags.spec(t).name;
        out += '>';
        break;
      }
  }
}

} // namespace mmrag_rft::detail
