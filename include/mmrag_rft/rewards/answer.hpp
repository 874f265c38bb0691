// SPDX-License-Identifier: Apache-2.0
// Stage-2 answer reward: the answer in the completion scored against the gold answers with a QA metric.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/metrics/mmqa.hpp>
#include <mmrag_rft/metrics/qa.hpp>
#include <mmrag_rft/metrics/webqa.hpp>
#include <mmrag_rft/rewards/concepts.hpp>
#include <mmrag_rft/rewards/detail/explain.hpp>
#include <mmrag_rft/text/detail/chars.hpp>
#include <mmrag_rft/text/sections.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// The QA metric of an `answer_rule`.
enum class answer_metric : std::uint8_t {
  exact_match,    ///< SQuAD v1.1 EM, max over `sample::answers` [evaluate-v1.1.py]
  token_f1,       ///< SQuAD v1.1 token F1, max over `sample::answers` [evaluate-v1.1.py; default]
  webqa_accuracy, ///< WebQA QA-Acc for `sample::category` against `sample::keywords` (or `answers` when there are
                  ///< none, as on val) [WebQA_Baseline eval_1022.py]
  mmqa_em,        ///< MultimodalQA list EM of the answers split at `list_separators` [allenai/multimodalqa]
  mmqa_f1,        ///< MultimodalQA list F1, the same split [allenai/multimodalqa]
};

/// Options of `answer_rule`.
struct answer_rule_options {
  std::string section = "answer"; ///< the tag whose content is the answer
  answer_metric metric = answer_metric::token_f1;
  double missing = 0.0; ///< score when there is no usable section (missing, unclosed, duplicated)
  /// Characters that separate the answers of a list answer, for the MultimodalQA metrics ("Paris; Rome"). Commas
  /// are not among them by default: they occur inside answers ("1,000", "Washington, D.C.").
  std::string list_separators = ";\n";
  webqa_options webqa{}; ///< the lemmatiser of the WebQA normalisation
};

/// Stage-2 answer reward: the content of the completion's `section` scored against the sample's gold answers with
/// `options.metric` (each in [0, 1]; see `answer_metric`). [paper-notes §2: the benchmark's own accuracy, or SQuAD
/// EM/F1]
///
/// The answer is the whole section content; leading and trailing whitespace does not matter to any metric. A sample
/// with no gold answers (no `answers`, and for `webqa_accuracy` no `keywords` either) scores 0, whatever the answer:
/// the MultimodalQA metrics' value for two empty lists (EM 1, F1 1) is no reward. No usable section scores `missing`: malformed output is never an exception.
/// For `webqa_accuracy`, `sample::category` is the WebQA `Qcate` (an unknown category is scored as "Others", as the
/// official script's fallback does).
/// Construction throws `mmrag_rft::error` when `section` is not a tag of `tags`, `missing` is not finite, or
/// `list_separators` is empty while an MMQA metric is chosen.
/// Complexity: a parse of the tags, then the metric (linear normalisation, O(n log n) token matching); allocates
/// the normalised strings.
/// Example (tests/rewards/answer_test.cpp): "<answer>the Seine river</answer>" against {"Seine"} gives F1 0.67.
class answer_rule {
public:
  /// The stage-2 tags (`think`, `rank`, `answer`) with these options: `answer_rule({.metric = answer_metric::exact_match})`-style calls.
  explicit answer_rule(answer_rule_options options)
      : answer_rule(tag_format{"think", "rank", "answer"}, std::move(options)) {}
  explicit answer_rule(tag_format tags = tag_format{"think", "rank", "answer"}, answer_rule_options options = {})
      : ref_(std::move(tags), options.section, "answer_rule"), opt_(std::move(options)) {
    detail::require(std::isfinite(opt_.missing), "answer_rule", "options.missing", "must be finite");
    detail::require(!opt_.list_separators.empty() ||
                        (opt_.metric != answer_metric::mmqa_em && opt_.metric != answer_metric::mmqa_f1),
                    "answer_rule", "options.list_separators", "must not be empty for the MultimodalQA metrics");
  }

  [[nodiscard]] double operator()(const completion& c, const sample& s) const {
    const auto a = ref_.content(c.text);
    return a ? score_answer(*a, s) : opt_.missing;
  }
  /// The same through a composite's shared parse (`ctx` holds `c.text`).
  [[nodiscard]] double operator()(const completion&, const sample& s, reward_context& ctx) const {
    const auto a = ref_.content(ctx);
    return a ? score_answer(*a, s) : opt_.missing;
  }
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "answer"; }
  /// "answer F1 0.67", "answer EM 1.00", "answer WebQA-acc 0.50", or "answer missing (no <answer>)".
  void explain(const completion& c, const sample& s, std::string& out) const {
    const auto a = ref_.content(c.text);
    if (!a) {
      detail::append_section_problem(out, "answer missing", ref_, c.text);
      return;
    }
    out += "answer ";
    out += metric_label();
    out += ' ';
    detail::append_fixed2(out, score_answer(*a, s));
  }

  /// The metric of `answer` (an answer text) for sample `s`; what `operator()` applies to the section content.
  [[nodiscard]] double score_answer(std::string_view answer, const sample& s) const {
    // No gold answers: nothing to reward. The MultimodalQA metrics alone would give an empty answer 1 (both lists
    // empty), which would pay a model for answering nothing.
    const bool webqa = opt_.metric == answer_metric::webqa_accuracy;
    if (s.answers.empty() && (!webqa || s.keywords.empty())) return 0.0;
    switch (opt_.metric) {
    case answer_metric::exact_match: return exact_match(answer, s.answers);
    case answer_metric::token_f1: return token_f1(answer, s.answers);
    case answer_metric::webqa_accuracy:
      return webqa_qa_accuracy(answer, s.keywords.empty() ? s.answers : s.keywords,
                               parse_webqa_category(s.category).value_or(webqa_category::others), opt_.webqa);
    case answer_metric::mmqa_em: return mmqa_em_f1(split_list(answer), s.answers).em;
    case answer_metric::mmqa_f1: return mmqa_em_f1(split_list(answer), s.answers).f1;
    }
    return 0.0;
  }
  [[nodiscard]] const answer_rule_options& options() const noexcept { return opt_; }

private:
  [[nodiscard]] std::vector<std::string_view> split_list(std::string_view text) const {
    std::vector<std::string_view> parts;
    std::size_t b = 0;
    for (std::size_t i = 0; i <= text.size(); ++i) {
      if (i < text.size() && opt_.list_separators.find(text[i]) == std::string::npos) continue;
      const std::string_view p = detail::trim(text.substr(b, i - b));
      if (!p.empty()) parts.push_back(p);
      b = i + 1;
    }
    return parts;
  }

  [[nodiscard]] std::string_view metric_label() const noexcept {
    switch (opt_.metric) {
    case answer_metric::exact_match: return "EM";
    case answer_metric::token_f1: return "F1";
    case answer_metric::webqa_accuracy: return "WebQA-acc";
    case answer_metric::mmqa_em: return "MMQA-EM";
    case answer_metric::mmqa_f1: return "MMQA-F1";
    }
    return "score";
  }

  detail::section_ref ref_;
  answer_rule_options opt_;
};

} // namespace mmrag_rft
