// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the reward rules of both stages and their composites on any completion text. The first byte picks the
// configuration (stage, graded format credit, ranking metric, answer metric, tolerated issues), the second the
// number of documents and which are gold; the rest is the completion. Properties: every rule's score lies in its
// documented range; the format rule's strict score says exactly whether the parse is well formed and the graded one
// is the documented credit; a composite's total is the weighted sum of its breakdown in composite order, bitwise,
// whichever entry point computes it; a rule scores the same with and without a shared context; the explanation ends
// with the total.
#include <mmrag_rft/rewards.hpp>

#include "fuzz_check.hpp"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mmrag_rft::fuzz::check;
namespace mr = mmrag_rft;

bool in(double x, double lo, double hi) { return std::isfinite(x) && x >= lo && x <= hi; }

mr::sample make_sample(std::uint8_t shape, bool stage2) {
  mr::sample s;
  s.id = "q";
  s.question = "Which river flows through Paris?";
  s.category = "Others";
  const std::size_t docs = stage2 ? shape % 7u : 1u; // 0..6 documents in stage 2, one in stage 1
  for (std::size_t k = 0; k < docs; ++k) {
    mr::document d;
    d.id = "d" + std::to_string(k);
    d.kind = k % 2 ? mr::modality::image : mr::modality::text;
    d.text = "snippet " + std::to_string(k);
    s.documents.push_back(d);
    if ((shape >> (3 + k % 5)) & 1u) s.gold.push_back(k);
  }
  if (shape & 0x80u) s.answers = {"the Seine", "Seine river"};
  if (shape & 0x02u) s.keywords = {"seine"};
  return s;
}

// Checks that hold for any composite: the total three ways, the breakdown, the explanation's tail.
template <class Composite>
void check_composite(const Composite& reward, const mr::completion& c, const mr::sample& s) {
  const double total = reward(c, s);
  const mr::reward_breakdown b = reward.score(c, s, mr::explain_mode::on);
  check(b.scores.size() == reward.size() && b.names.size() == reward.size(), "one breakdown score per rule");
  double sum = 0.0;
  for (std::size_t i = 0; i < reward.size(); ++i) sum += reward.weight(i) * b.scores[i];
  check(std::isfinite(total), "the composite total is finite");
  check(b.total == total && sum == total, "the total is the weighted sum in composite order, bitwise");
  check(reward.total_of(b.scores.data()) == total, "total_of gives the same total");
  check(reward(c, s) == total, "scoring is deterministic");
  std::string tail = "; reward ";
  char fixed[64];
  std::snprintf(fixed, sizeof fixed, "%.2f", total);
  tail += fixed;
  check(b.explanation.size() >= tail.size() &&
            std::string_view(b.explanation).substr(b.explanation.size() - tail.size()) == tail,
        "the explanation ends with the total to two decimals");
}

template <class Rule>
double checked_value(const Rule& r, const mr::completion& c, const mr::sample& s) {
  const double alone = mr::rule_value(r, c, s);
  mr::reward_context ctx(c.text);
  const double shared = mr::rule_value(r, c, s, ctx);
  check(alone == shared || (std::isnan(alone) && std::isnan(shared)), "a rule scores the same with a shared context");
  return alone;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t config = size > 0 ? data[0] : 0;
  const std::uint8_t shape = size > 1 ? data[1] : 0;
  const std::string_view text =
      size > 2 ? std::string_view(reinterpret_cast<const char*>(data + 2), size - 2) : std::string_view{};
  const bool stage2 = config & 1u, graded = config & 2u;
  const mr::section_issue allowed =
      config & 4u ? mr::section_issue::leading_text | mr::section_issue::trailing_text : mr::section_issue::none;
  mr::completion c;
  c.text = std::string(text);
  c.num_tokens = shape;
  c.truncated = config & 0x80u;
  const mr::sample s = make_sample(shape, stage2);

  const mr::format_options fo{.success = 1.0, .failure = -1.0, .allowed = allowed, .graded = graded};
  const mr::format_rule format = stage2 ? mr::stage2_format(fo) : mr::stage1_format(fo);
  const double f = checked_value(format, c, s);
  const mr::tag_parse parse = format.tags().parse(c.text);
  check(in(f, -1.0, 1.0), "the format score lies in [failure, success]");
  check((f == 1.0) == parse.well_formed(allowed), "the format score is success exactly when well formed");
  if (graded) check(f == -1.0 + 2.0 * parse.format_credit(allowed), "the graded score is the documented credit");
  else check(f == 1.0 || f == -1.0, "the strict format score is success or failure");

  const mr::overlong_penalty overlong({.max_length = 200, .buffer = 64, .penalty_factor = 0.5});
  check(in(checked_value(overlong, c, s), -0.5, 0.0), "the overlong penalty lies in [-factor, 0]");

  if (!stage2) {
    const mr::relevance_rule relevance(mr::tag_format{"think", "answer"},
                                       {.correct = 1.0, .wrong = -0.5, .unknown = 0.25});
    const double v = checked_value(relevance, c, s);
    check(v == 1.0 || v == -0.5 || v == 0.25, "the relevance score is correct, wrong or unknown");
    check_composite(
        mr::make_composite(mr::weighted(format, 0.5), mr::weighted(relevance, 1.0), mr::weighted(overlong, 1.0)), c, s);
    return 0;
  }

  static constexpr mr::ranking_metric metrics[] = {mr::ranking_metric::ndcg,   mr::ranking_metric::mrr,
                                                   mr::ranking_metric::recall, mr::ranking_metric::f1,
                                                   mr::ranking_metric::mm_r5,  mr::ranking_metric::reasonrank};
  const auto metric = metrics[(config >> 3) % 6];
  const bool relative = (config & 0x40u) && metric != mr::ranking_metric::reasonrank;
  mr::ranking_rule_options ro;
  ro.metric = metric;
  ro.k = 1 + shape % 5;
  ro.invalid = -0.25;
  ro.relative_to_initial = relative;
  if (config & 0x20u) ro.allowed = ro.allowed | mr::ranking_issue::duplicate | mr::ranking_issue::out_of_range;
  const mr::ranking_rule ranking(ro);
  const double r = checked_value(ranking, c, s);
  if (relative) check(std::isfinite(r) && r <= 1.0, "a relative ranking gain is finite and at most 1");
  else
    check(r == -0.25 || in(r, 0.0, metric == mr::ranking_metric::reasonrank ? 1.3 : 1.0),
          "the ranking score is invalid or within the metric's range");
  if (s.gold.empty() && !relative) check(r == -0.25 || r == 0.0, "no gold documents score 0 (or invalid)");

  static constexpr mr::answer_metric answers[] = {mr::answer_metric::exact_match, mr::answer_metric::token_f1,
                                                  mr::answer_metric::webqa_accuracy, mr::answer_metric::mmqa_em,
                                                  mr::answer_metric::mmqa_f1};
  const mr::answer_rule answer({.metric = answers[(config >> 4) % 5], .missing = -0.5});
  const double a = checked_value(answer, c, s);
  check(a == -0.5 || in(a, 0.0, 1.0), "the answer score is missing or in [0, 1]");
  if (s.answers.empty() && s.keywords.empty()) check(a == -0.5 || a == 0.0, "no gold answers score 0");

  check_composite(mr::make_composite(mr::weighted(format, 0.5), mr::weighted(ranking, 1.0), mr::weighted(answer, 1.0),
                                     mr::weighted(overlong, 1.0)),
                  c, s);
  return 0;
}
