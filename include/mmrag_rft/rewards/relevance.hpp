// SPDX-License-Identifier: Apache-2.0
// Stage-1 point-wise relevance reward: is the model's verdict about the one document the gold one?
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/rewards/concepts.hpp>
#include <mmrag_rft/rewards/detail/explain.hpp>
#include <mmrag_rft/text/relevance.hpp>
#include <mmrag_rft/text/sections.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace mmrag_rft {

/// Options of `relevance_rule`.
struct relevance_rule_options {
  std::string section = "answer"; ///< the tag whose content holds the verdict
  double correct = 1.0;           ///< score of the gold verdict [RagVL, MM-R5 point-wise: 1]
  double wrong = 0.0;             ///< score of the other verdict [RagVL, MM-R5: 0]
  double unknown = 0.0;           ///< score when no usable section or no clear verdict (missing, ambiguous, …)
  relevance_options parse{};      ///< how scores ("Score: 0.8", "7/10") turn into verdicts
};

/// Stage-1 point-wise relevance reward: `correct` when the verdict in the completion's `section` equals the gold
/// one, `wrong` when it is the opposite, `unknown` when none can be read. [paper-notes §2: RagVL / MM-R5 point-wise
/// Yes/No reward, 1 for the correct verdict, 0 otherwise]
///
/// The sample is a stage-1 prompt: one (question, document) pair, `documents[0]` being the judged document; it is
/// gold-relevant when `sample::gold` contains 0. The verdict is read by `parse_relevance` (yes/no,
/// relevant/irrelevant, true/false, scores against `parse.threshold`); ambiguous text ("yes and no") is not guessed.
/// A missing, unclosed or duplicated section scores `unknown`; never an exception.
/// Construction throws `mmrag_rft::error` when `section` is not a tag of `tags`, a score is not finite, or
/// `parse.threshold` is outside [0, 1]. Complexity: one parse of the tags and one of the section; no allocation.
/// Example (tests/rewards/relevance_test.cpp): "<think>…</think><answer>Yes</answer>" for a gold-relevant document
/// scores 1.
class relevance_rule {
public:
  explicit relevance_rule(tag_format tags = tag_format{"think", "answer"}, relevance_rule_options options = {})
      : ref_(std::move(tags), options.section, "relevance_rule"), opt_(std::move(options)) {
    constexpr const char* fn = "relevance_rule";
    detail::require(std::isfinite(opt_.correct) && std::isfinite(opt_.wrong) && std::isfinite(opt_.unknown), fn,
                    "options", "correct, wrong and unknown must be finite");
    detail::require(opt_.parse.threshold >= 0 && opt_.parse.threshold <= 1, fn, "options.parse.threshold",
                    "must lie in [0, 1]");
  }

  [[nodiscard]] double operator()(const completion& c, const sample& s) const {
    return score_of(ref_.content(c.text), s);
  }
  /// The same through a composite's shared parse (`ctx` holds `c.text`).
  [[nodiscard]] double operator()(const completion&, const sample& s, reward_context& ctx) const {
    return score_of(ref_.content(ctx), s);
  }
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "relevance"; }
  /// "verdict relevant, gold relevant: correct", "verdict unknown (ambiguous)", "verdict unknown (no <answer>)".
  void explain(const completion& c, const sample& s, std::string& out) const {
    const auto section = ref_.content(c.text);
    if (!section) {
      detail::append_section_problem(out, "verdict unknown", ref_, c.text);
      return;
    }
    const relevance_parse v = parse_relevance(*section, opt_.parse);
    if (v.verdict == relevance_verdict::unknown) {
      out += "verdict unknown (";
      out += failure_text(v.failure);
      out += ')';
      return;
    }
    const bool rel = v.verdict == relevance_verdict::relevant, gold = gold_relevant(s);
    out += rel ? "verdict relevant" : "verdict irrelevant";
    out += gold ? ", gold relevant: " : ", gold irrelevant: ";
    out += rel == gold ? "correct" : "wrong";
  }

  /// The parsed verdict of `c` (`unknown` with `no_verdict` when the section is unusable).
  [[nodiscard]] relevance_parse verdict(const completion& c) const {
    const auto section = ref_.content(c.text);
    if (!section) {
      relevance_parse r;
      r.failure = relevance_failure::no_verdict;
      return r;
    }
    return parse_relevance(*section, opt_.parse);
  }
  [[nodiscard]] static bool gold_relevant(const sample& s) noexcept {
    return std::find(s.gold.begin(), s.gold.end(), std::size_t{0}) != s.gold.end();
  }
  [[nodiscard]] const relevance_rule_options& options() const noexcept { return opt_; }

private:
  [[nodiscard]] double score_of(std::optional<std::string_view> section, const sample& s) const {
    if (!section) return opt_.unknown;
    const relevance_parse v = parse_relevance(*section, opt_.parse);
    if (v.verdict == relevance_verdict::unknown) return opt_.unknown;
    return (v.verdict == relevance_verdict::relevant) == gold_relevant(s) ? opt_.correct : opt_.wrong;
  }

  [[nodiscard]] static std::string_view failure_text(relevance_failure f) noexcept {
    switch (f) {
    case relevance_failure::empty: return "empty";
    case relevance_failure::ambiguous: return "ambiguous";
    case relevance_failure::score_out_of_range: return "score out of range";
    case relevance_failure::no_verdict:
    case relevance_failure::none: break;
    }
    return "no verdict";
  }

  detail::section_ref ref_;
  relevance_rule_options opt_;
};

} // namespace mmrag_rft
