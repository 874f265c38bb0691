// SPDX-License-Identifier: Apache-2.0
// The format rules of both stages: the output must consist of the configured tag sections, in order, exactly once.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/rewards/concepts.hpp>
#include <mmrag_rft/rewards/detail/explain.hpp>
#include <mmrag_rft/text/sections.hpp>

#include <cmath>
#include <string>
#include <string_view>
#include <utility>

namespace mmrag_rft {

/// Options of `format_rule`.
struct format_options {
  double success = 1.0; ///< score of a well-formed output [R1 / Visual-RFT / MM-R5 format reward: 1]
  double failure = 0.0; ///< score of any other output [R1: 0; ReasonRank uses -1]
  /// Issues that do not count as failures, e.g. `section_issue::leading_text | section_issue::trailing_text` to accept
  /// chatter around the sections. Default: none, the strict `re.fullmatch` of the R1 format reward.
  section_issue allowed = section_issue::none;
  /// Graded credit instead of 0/1: `failure + (success - failure) * tag_parse::format_credit(allowed)`, i.e. one step
  /// of (success - failure) / (tags + 1) per sound section and one for no text outside them. From an untrained model
  /// the strict rule scores every completion `failure`, every group is all-equal and GRPO has no signal; the graded
  /// credit ranks near misses. A well-formed output still scores exactly `success`.
  bool graded = false;
};

/// Format reward: `success` when the completion is exactly the configured tag sections, each once, in order, with
/// only whitespace around and between them (minus the `allowed` issues), else `failure`, or with `graded` a value
/// between the two in steps of one sound section (see `format_options::graded`).
/// [DeepSeek-R1 format reward; Visual-RFT, Rank-R1, MM-R5: 1/0; ReasonRank: failure -1]
///
/// The stage presets are `stage1_format()` (`<think>…</think><answer>verdict</answer>`) and `stage2_format()`
/// (`<think>…</think><rank>ranking</rank><answer>answer</answer>`); any `tag_format` may be given. Empty, truncated
/// (unclosed), duplicated, out-of-order or tag-less text is malformed and scores `failure`; never an exception.
/// Construction throws `mmrag_rft::error` when `success` or `failure` is not finite (tag names are checked by
/// `tag_format`). Complexity: one linear pass over the text (`tag_format::parse`), no allocation.
/// Example (tests/rewards/format_test.cpp): `stage2_format()(completion{"<think>a</think><rank>[2, 1]</rank>"
/// "<answer>Paris</answer>"}, s) == 1.0`.
class format_rule {
public:
  explicit format_rule(tag_format tags = {}, format_options options = {}) : tags_(std::move(tags)), opt_(options) {
    detail::require(std::isfinite(opt_.success) && std::isfinite(opt_.failure), "format_rule", "options",
                    "success and failure must be finite");
  }

  /// Format rules of the R1 tags (`think`, `answer`) with these options: `format_rule({.graded = true})`.
  explicit format_rule(format_options options) : format_rule(tag_format{}, options) {}

  [[nodiscard]] double operator()(const completion& c, const sample&) const noexcept {
    return score(tags_.parse(c.text));
  }
  /// The same through a composite's shared parse (`ctx` holds `c.text`).
  [[nodiscard]] double operator()(const completion&, const sample&, reward_context& ctx) const noexcept {
    return score(ctx.sections(tags_));
  }
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "format"; }
  /// "format ok", or "format broken (…)" naming each issue and the first tag it concerns.
  void explain(const completion& c, const sample&, std::string& out) const {
    const tag_parse p = tags_.parse(c.text);
    if (p.well_formed(opt_.allowed)) {
      out += "format ok";
      return;
    }
    out += "format broken (";
    detail::append_section_issues(out, p, tags_, opt_.allowed);
    out += ')';
  }
  [[nodiscard]] const tag_format& tags() const noexcept { return tags_; }
  [[nodiscard]] const format_options& options() const noexcept { return opt_; }

private:
  [[nodiscard]] double score(const tag_parse& p) const noexcept {
    if (p.well_formed(opt_.allowed)) return opt_.success; // exact, whatever the rounding of the graded form
    if (!opt_.graded) return opt_.failure;
    return opt_.failure + (opt_.success - opt_.failure) * p.format_credit(opt_.allowed);
  }

  tag_format tags_;
  format_options opt_;
};

/// Stage-1 format: `<think>reasoning</think><answer>verdict</answer>`, the point-wise template of MM-R5 and the R1
/// rankers. [Visual-RFT / MM-R5 format reward]
[[nodiscard]] inline format_rule stage1_format(format_options options = {}) {
  return format_rule(tag_format{"think", "answer"}, options);
}

/// Stage-2 format: `<think>reasoning</think><rank>ranking</rank><answer>answer</answer>`. The paper's template is not
/// published; the separate `<rank>` section keeps ranking and answer apart so each rule parses only its own part.
[[nodiscard]] inline format_rule stage2_format(format_options options = {}) {
  return format_rule(tag_format{"think", "rank", "answer"}, options);
}

} // namespace mmrag_rft
