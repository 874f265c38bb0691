// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <string>

using namespace mmrag_rft;
using rewards_test::make_completion;
using rewards_test::make_sample;
using rewards_test::stage2;

namespace {
ranking_rule with(ranking_metric m, std::size_t k = 10) {
  ranking_rule_options o;
  o.metric = m;
  o.k = k;
  return ranking_rule(tag_format{"think", "rank", "answer"}, o);
}
std::string explain_of(const ranking_rule& r, const completion& c, const sample& s) {
  std::string out;
  r.explain(c, s, out);
  return out;
}
} // namespace

TEST_SUITE("rewards") {

TEST_CASE("ranking_rule: NDCG@k worked example") {
  const sample s = make_sample(4, {1, 2});
  // [2, 4, 3] -> documents {1, 3, 2}: DCG@3 = 1/log2(2) + 1/log2(4) = 1.5, IDCG@3 = 1 + 1/log2(3) = 1.63093.
  const ranking_rule r = with(ranking_metric::ndcg, 3);
  CHECK(r(stage2("[2, 4, 3]", "x"), s) == doctest::Approx(1.5 / (1.0 + 1.0 / std::log2(3.0))));
  CHECK(r(stage2("[2, 3]", "x"), s) == doctest::Approx(1.0));
  CHECK(r(stage2("[1, 4]", "x"), s) == 0.0);
  CHECK(explain_of(r, stage2("[2, 4, 3]", "x"), s) == "ranked 2 of 2 gold docs in top-3, NDCG@3 0.92");
  CHECK(ranking_rule()(stage2("[2, 4, 3]", "x"), s) == doctest::Approx(0.91972)); // default k = 10
}

TEST_CASE("ranking_rule: the forms models write map to the same documents") {
  const sample s = make_sample(4, {1, 3});
  const ranking_rule r = with(ranking_metric::ndcg, 2);
  for (const char* form : {"[2, 4]", "2 > 4", "Image 2 > Text 4", "[Doc 2], [Doc 4]", "2, 4", "2\n4", "Ranking: [2, 4]",
                           "1. [2]\n2. [4]"}) {
    CAPTURE(form);
    CHECK(r(stage2(form, "x"), s) == doctest::Approx(1.0));
  }
}

TEST_CASE("ranking_rule: MRR, recall, F1, MM-R5 and ReasonRank variants") {
  const sample s = make_sample(4, {1, 2});
  CHECK(with(ranking_metric::mrr)(stage2("[4, 3, 2]", "x"), s) == doctest::Approx(0.5));
  CHECK(with(ranking_metric::recall, 2)(stage2("[4, 3, 2]", "x"), s) == doctest::Approx(0.5));
  CHECK(with(ranking_metric::f1)(stage2("[2, 4]", "x"), s) == doctest::Approx(0.5));
  // MM-R5: gold at ranks 2 and 3 -> (1/8 + 1/27) / (1 + 1/8).
  CHECK(with(ranking_metric::mm_r5)(stage2("[4, 2, 3]", "x"), s) == doctest::Approx((1.0 / 8 + 1.0 / 27) / 1.125));
  CHECK(with(ranking_metric::mm_r5)(stage2("[2, 3]", "x"), s) == doctest::Approx(1.0));
  // ReasonRank@3: NDCG 1 + 0.2 * recall 1 + 0.1 * RBO, RBO = 0.1 * (1/1 + 0.9 * 2/2 + 0.81 * 2/3) = 0.244.
  CHECK(with(ranking_metric::reasonrank, 3)(stage2("[2, 3, 1]", "x"), s) == doctest::Approx(1.2244));
  CHECK(explain_of(with(ranking_metric::mrr, 3), stage2("[4, 3, 2]", "x"), s) ==
        "ranked 2 of 2 gold docs in top-3, MRR@3 0.50");
}

TEST_CASE("ranking_rule: invalid value for duplicates, bad labels, empty or missing rankings") {
  ranking_rule_options o;
  o.invalid = -0.5;
  const ranking_rule r(tag_format{"think", "rank", "answer"}, o);
  const sample s = make_sample(4, {1});
  CHECK(r(stage2("[2, 2, 1]", "x"), s) == -0.5);
  CHECK(r(stage2("[5, 2]", "x"), s) == -0.5);
  CHECK(r(stage2("Video 2 > Image 1", "x"), s) == -0.5);
  CHECK(r(stage2("", "x"), s) == -0.5);
  CHECK(r(stage2("none of them", "x"), s) == -0.5);
  CHECK(r(make_completion("<think>a</think><rank>[2, 1"), s) == -0.5);
  CHECK(r(make_completion("<think>a</think><answer>x</answer>"), s) == -0.5);
  CHECK(explain_of(r, stage2("[2, 2, 1]", "x"), s) == "ranking invalid (duplicate \"2\" at position 2)");
  CHECK(explain_of(r, stage2("[5, 2]", "x"), s) == "ranking invalid (out-of-range \"5\" at position 1)");
  CHECK(explain_of(r, stage2("", "x"), s) == "ranking invalid (no label)");
  CHECK(explain_of(r, make_completion("<think>a</think>"), s) == "ranking invalid (no <rank>)");
}

TEST_CASE("ranking_rule: lenient options score what could be read") {
  ranking_rule_options o;
  o.k = 2;
  o.allowed = ranking_issue::extra_text | ranking_issue::duplicate | ranking_issue::out_of_range;
  const ranking_rule r(tag_format{"think", "rank", "answer"}, o);
  const sample s = make_sample(4, {1});
  CHECK(r(stage2("[2, 2, 9, 1]", "x"), s) == doctest::Approx(1.0)); // read as {1, 0}
  ranking_rule_options bare;
  bare.numbering = label_numbering::bare;
  CHECK(ranking_rule(tag_format{"think", "rank", "answer"}, bare)(stage2("Image 2", "x"), s) == 0.0);
}

TEST_CASE("ranking_rule: no gold documents scores 0; many documents use an uncached scheme") {
  CHECK(ranking_rule()(stage2("[1, 2]", "x"), make_sample(3, {})) == 0.0);
  const sample big = make_sample(100, {79});
  CHECK(with(ranking_metric::mrr)(stage2("[80, 1]", "x"), big) == 1.0);
}

TEST_CASE("ranking_rule: error at construction for k = 0, unknown section and bad options") {
  ranking_rule_options o;
  o.k = 0;
  CHECK_THROWS_AS(ranking_rule(tag_format{"think", "rank", "answer"}, o), error);
  CHECK_THROWS_AS(ranking_rule(tag_format{"think", "answer"}), error); // no <rank> tag
  ranking_rule_options p;
  p.prefixes = {"image 1"};
  CHECK_THROWS_AS(ranking_rule(tag_format{"think", "rank", "answer"}, p), error);
  ranking_rule_options q;
  q.rbo_p = 1.0;
  CHECK_THROWS_AS(ranking_rule(tag_format{"think", "rank", "answer"}, q), error);
  ranking_rule_options per;
  per.numbering = label_numbering::per_prefix;
  CHECK_THROWS_AS(ranking_rule(tag_format{"think", "rank", "answer"}, per), error);
}

} // TEST_SUITE("rewards")
