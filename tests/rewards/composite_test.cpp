// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

using namespace mmrag_rft;
using rewards_test::make_completion;
using rewards_test::make_sample;

TEST_SUITE("rewards") {

TEST_CASE("composite: total is the weighted sum of the rule scores in order") {
  const sample s = make_sample(1, {0});
  const completion c = make_completion("<think>t</think><answer>yes</answer>", 10);
  const auto brevity = [](const completion& x, const sample&) { return x.num_tokens < 100 ? 1.0 : 0.0; };
  // example-begin composite
  const composite reward{weighted(stage1_format(), 0.5), weighted(relevance_rule(), 2.0),
                         weighted(brevity, 0.25, "brevity")};
  const reward_breakdown b = reward.score(c, s, explain_mode::on);
  CHECK(b.total == 0.5 * 1.0 + 2.0 * 1.0 + 0.25 * 1.0);
  CHECK(b.explanation == "format ok; verdict relevant, gold relevant: correct; brevity 1.00; reward 2.75");
  // example-end composite
  CHECK(reward(c, s) == b.total);
  REQUIRE(b.scores.size() == 3);
  CHECK(b.names == std::vector<std::string>{"format", "relevance", "brevity"});
  CHECK(b.score("relevance") == 1.0);
  CHECK(std::isnan(b.score("nope")));
  CHECK(reward.name(2) == "brevity");
  CHECK(reward.weight(1) == 2.0);
}

TEST_CASE("composite: explanation is empty unless asked for") {
  const composite reward{stage1_format()};
  const auto b = reward.score(make_completion("garbage"), make_sample(1, {}));
  CHECK(b.explanation.empty());
  CHECK(b.total == 0.0);
}

TEST_CASE("composite: malformed completion gets the format failure value, never an exception") {
  const composite reward{weighted(stage1_format({.failure = -1.0}), 1.0), weighted(relevance_rule(), 1.0)};
  const sample s = make_sample(1, {0});
  for (const char* text :
       {"", "<think>", "\xff\xfe<think></answer>", "<think>a</think><answer>yes</answer><answer>no</answer>"}) {
    CAPTURE(text);
    const auto b = reward.score(make_completion(text), s, explain_mode::on);
    CHECK(b.scores[0] == -1.0);
    CHECK(b.scores[1] == 0.0);
    CHECK(b.total == -1.0);
    CHECK(b.explanation.find("format broken") == 0);
  }
  // Each rule reads its own section: an out-of-order output loses the format reward only.
  const auto b = reward.score(make_completion("<answer>yes</answer><think>x</think>"), s);
  CHECK(b.scores[0] == -1.0);
  CHECK(b.scores[1] == 1.0);
}

TEST_CASE("composite: zero weight keeps the rule in the breakdown without rewarding it") {
  const auto one = [](const completion&, const sample&) { return 1.0; };
  const composite reward{weighted(one, 0.0, "logged"), weighted(stage1_format(), 1.0)};
  const auto b = reward.score(make_completion("x"), make_sample(1, {}), explain_mode::on);
  CHECK(b.scores[0] == 1.0);
  CHECK(b.total == 0.0);
  CHECK(b.explanation == "logged 1.00; format broken (missing <think>); reward 0.00");
}

TEST_CASE("composite: nested composite contributes its total and its explanation") {
  const auto half = [](const completion&, const sample&) { return 0.5; };
  const composite inner{weighted(half, 2.0, "half")};
  const composite outer{weighted(inner, 3.0, "inner"), weighted(half, 1.0, "h")};
  const auto b = outer.score(make_completion("x"), make_sample(1, {}), explain_mode::on);
  CHECK(b.total == 3.0 * 1.0 + 0.5);
  CHECK(b.explanation == "half 0.50; reward 1.00; h 0.50; reward 3.50");
}

TEST_CASE("composite: negative weights are penalties (TRL reward_weights take any value)") {
  const auto one = [](const completion&, const sample&) { return 1.0; };
  const auto half = [](const completion&, const sample&) { return 0.5; };
  const composite reward{weighted(one, 2.0, "bonus"), weighted(half, -3.0, "penalty")};
  const auto b = reward.score(make_completion("x"), make_sample(1, {}), explain_mode::on);
  CHECK(b.total == 2.0 * 1.0 - 3.0 * 0.5);
  CHECK(b.score("penalty") == 0.5); // the breakdown keeps the unweighted score
  CHECK(reward.weight(1) == -3.0);
  CHECK(b.explanation == "bonus 1.00; penalty 0.50; reward 0.50");
}

TEST_CASE("composite: error at construction when a weight is not finite or a name repeats") {
  const auto one = [](const completion&, const sample&) { return 1.0; };
  CHECK_NOTHROW(composite(weighted(one, -0.1)));
  CHECK_THROWS_WITH_AS(composite(weighted(one, -std::numeric_limits<double>::infinity())),
                       doctest::Contains("weights[0] must be finite"), error);
  CHECK_THROWS_AS(composite(weighted(one, std::numeric_limits<double>::quiet_NaN())), error);
  CHECK_THROWS_AS(composite(weighted(one, std::numeric_limits<double>::infinity())), error);
  CHECK_THROWS_WITH_AS(composite(one, one), doctest::Contains("names[1] repeats"), error);
  CHECK_NOTHROW(composite(weighted(one, 1.0, "a"), weighted(one, 1.0, "b")));
  try {
    (void)composite(weighted(one, 1.0, "a"), weighted(one, std::numeric_limits<double>::quiet_NaN(), "b"));
    FAIL("no error");
  } catch (const error& e) {
    CHECK(e.function() == "composite");
    CHECK(e.argument() == "weights");
    CHECK(e.index() == 1);
  }
}

TEST_CASE("composite: NaN from a rule makes the total NaN") {
  const auto nan = [](const completion&, const sample&) { return std::numeric_limits<double>::quiet_NaN(); };
  const composite reward{nan};
  CHECK(std::isnan(reward(make_completion("x"), make_sample(1, {}))));
}

} // TEST_SUITE("rewards")
