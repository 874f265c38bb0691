// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace mmrag_rft;
using rewards_test::make_completion;
using rewards_test::make_sample;

namespace {
completion answer(const std::string& verdict) {
  return make_completion("<think>The caption mentions the bridge.</think><answer>" + verdict + "</answer>");
}
std::string explain_of(const relevance_rule& r, const completion& c, const sample& s) {
  std::string out;
  r.explain(c, s, out);
  return out;
}
} // namespace

TEST_SUITE("rewards") {

TEST_CASE("relevance_rule: 1 for the gold verdict, 0 for the other") {
  const relevance_rule r;
  const sample relevant = make_sample(1, {0}), irrelevant = make_sample(1, {});
  CHECK(r(answer("Yes"), relevant) == 1.0);
  CHECK(r(answer("**Yes**"), irrelevant) == 0.0);
  CHECK(r(answer(" No. "), irrelevant) == 1.0);
  CHECK(r(answer("Not relevant"), relevant) == 0.0);
  CHECK(r(answer("Score: 0.8"), relevant) == 1.0);
  CHECK(r(answer("Score: 0.3"), relevant) == 0.0);
}

TEST_CASE("relevance_rule: unknown value when the verdict cannot be read") {
  const relevance_rule r({"think", "answer"}, {.unknown = -0.5});
  const sample s = make_sample(1, {0});
  CHECK(r(answer("yes and no"), s) == -0.5);                                       // ambiguous, not guessed
  CHECK(r(answer("maybe"), s) == -0.5);                                            // no verdict
  CHECK(r(make_completion("<think>x</think>"), s) == -0.5);                        // no <answer>
  CHECK(r(make_completion("<think>x</think><answer>Yes"), s) == -0.5);             // truncated
  CHECK(r(make_completion("<answer>Yes</answer><answer>No</answer>"), s) == -0.5); // duplicated
  CHECK(r(make_completion(""), s) == -0.5);
}

TEST_CASE("relevance_rule: configurable section and threshold") {
  const relevance_rule r({"think", "relevance", "answer"}, {.section = "relevance", .parse = {.threshold = 0.9}});
  const sample s = make_sample(1, {0});
  CHECK(r(make_completion("<think>x</think><relevance>Score: 0.95</relevance><answer>a</answer>"), s) == 1.0);
  CHECK(r(make_completion("<think>x</think><relevance>Score: 0.8</relevance><answer>a</answer>"), s) == 0.0);
}

TEST_CASE("relevance_rule: explanation") {
  const relevance_rule r;
  const sample s = make_sample(1, {0});
  CHECK(explain_of(r, answer("Yes"), s) == "verdict relevant, gold relevant: correct");
  CHECK(explain_of(r, answer("No"), s) == "verdict irrelevant, gold relevant: wrong");
  CHECK(explain_of(r, answer("yes and no"), s) == "verdict unknown (ambiguous)");
  CHECK(explain_of(r, make_completion("<think>x</think>"), s) == "verdict unknown (no <answer>)");
  CHECK(explain_of(r, make_completion("<answer>Yes"), s) == "verdict unknown (unclosed <answer>)");
}

TEST_CASE("relevance_rule: error at construction for an unknown section or bad options") {
  CHECK_THROWS_AS(relevance_rule({"think", "answer"}, {.section = "verdict"}), error);
  CHECK_THROWS_AS(relevance_rule({"think", "answer"}, {.parse = {.threshold = 1.5}}), error);
  CHECK_THROWS_AS(relevance_rule({"think", "answer", "answer"}), error);
}

} // TEST_SUITE("rewards")
