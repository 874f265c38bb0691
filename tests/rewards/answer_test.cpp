// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace mmrag_rft;
using rewards_test::make_completion;
using rewards_test::make_sample;
using rewards_test::stage2;

namespace {
answer_rule with(answer_metric m) {
  answer_rule_options o;
  o.metric = m;
  return answer_rule(tag_format{"think", "rank", "answer"}, o);
}
} // namespace

TEST_SUITE("rewards") {

TEST_CASE("answer_rule: SQuAD token F1 and exact match, max over gold answers") {
  const sample s = make_sample(2, {0}, {"Seine", "the river Seine"});
  // "the Seine river" -> {seine, river}; against "river seine" F1 = 1, against "seine" 2/3.
  CHECK(answer_rule()(stage2("[1]", "the Seine river"), s) == doctest::Approx(1.0));
  CHECK(answer_rule()(stage2("[1]", "Seine, France"), s) == doctest::Approx(2.0 / 3.0));
  CHECK(with(answer_metric::exact_match)(stage2("[1]", " The SEINE. "), s) == 1.0);
  CHECK(with(answer_metric::exact_match)(stage2("[1]", "Seine river"), s) == 0.0);
  CHECK(answer_rule()(stage2("[1]", "Loire"), s) == 0.0);
  CHECK(answer_rule()(stage2("[1]", "Seine"), make_sample(2, {0})) == 0.0); // no gold answers
}

TEST_CASE("answer_rule: WebQA accuracy by category, keywords before answers") {
  sample s = make_sample(2, {0}, {"The flag is red."});
  s.category = "color";
  s.keywords = {"red"};
  // color: F1 over the colour vocabulary, pred {red, white} vs gold {red}: 2 * 0.5 * 1 / (1.5 + 1e-5).
  CHECK(with(answer_metric::webqa_accuracy)(stage2("[1]", "It is red and white."), s) ==
        doctest::Approx(1.0 / 1.50001));
  s.category = "Others"; // recall of the gold words
  CHECK(with(answer_metric::webqa_accuracy)(stage2("[1]", "red"), s) == doctest::Approx(1.0));
}

TEST_CASE("answer_rule: MultimodalQA list answers split at ';'") {
  const sample s = make_sample(2, {0}, {"five apples", "paris", "Rome"});
  CHECK(with(answer_metric::mmqa_f1)(stage2("[1]", "Paris; 5 apples"), s) == doctest::Approx(0.67));
  CHECK(with(answer_metric::mmqa_em)(stage2("[1]", "Paris; 5 apples"), s) == 0.0);
  CHECK(with(answer_metric::mmqa_em)(stage2("[1]", "rome;Paris;\nfive apples"), s) == 1.0);
}

TEST_CASE("answer_rule: a sample without gold answers scores 0 with every metric, an empty answer included") {
  const sample s = make_sample(2, {0});
  for (const answer_metric m : {answer_metric::exact_match, answer_metric::token_f1, answer_metric::webqa_accuracy,
                                answer_metric::mmqa_em, answer_metric::mmqa_f1}) {
    CAPTURE(static_cast<int>(m));
    CHECK(with(m)(stage2("[1]", ""), s) == 0.0);    // MultimodalQA: both lists empty would be EM 1, F1 1
    CHECK(with(m)(stage2("[1]", " ; "), s) == 0.0); // only separators: an empty list too
    CHECK(with(m)(stage2("[1]", "Seine"), s) == 0.0);
  }
}

TEST_CASE("answer_rule: missing value when there is no usable answer section") {
  answer_rule_options o;
  o.missing = -1.0;
  const answer_rule r(tag_format{"think", "rank", "answer"}, o);
  const sample s = make_sample(2, {0}, {"Seine"});
  CHECK(r(make_completion("<think>a</think><rank>[1]</rank>"), s) == -1.0);
  CHECK(r(make_completion("<think>a</think><rank>[1]</rank><answer>Seine"), s) == -1.0);
  CHECK(r(make_completion("<answer>Seine</answer><answer>Loire</answer>"), s) == -1.0);
  std::string out;
  r.explain(make_completion("<think>a</think>"), s, out);
  CHECK(out == "answer missing (no <answer>)");
  out.clear();
  r.explain(stage2("[1]", "Seine"), s, out);
  CHECK(out == "answer F1 1.00");
}

TEST_CASE("answer_rule: error at construction for an unknown section or bad options") {
  answer_rule_options o;
  o.section = "final";
  CHECK_THROWS_AS(answer_rule(tag_format{"think", "answer"}, o), error);
  answer_rule_options p;
  p.metric = answer_metric::mmqa_f1;
  p.list_separators.clear();
  CHECK_THROWS_AS(answer_rule(tag_format{"think", "answer"}, p), error);
}

} // TEST_SUITE("rewards")
