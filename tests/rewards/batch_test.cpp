// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace mmrag_rft;
using rewards_test::make_completion;
using rewards_test::make_sample;

namespace {
// A deterministic mix of well-formed, malformed and truncated stage-1 outputs.
std::vector<completion> mixed_completions(std::size_t n) {
  static const char* const texts[] = {
      "<think>the caption names the bridge</think><answer>Yes</answer>",
      "<think>unrelated</think><answer>No</answer>",
      "<think>hmm</think><answer>yes and no</answer>",
      "<think>long reasoning that never ends",
      "Yes",
      "<think>a</think> <answer>Score: 0.8</answer> trailing",
      "",
  };
  std::vector<completion> c;
  for (std::size_t i = 0; i < n; ++i) c.push_back(make_completion(texts[(i * 7 + i / 3) % 7], 100 + 37 * (i % 50)));
  return c;
}

bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
}
} // namespace

TEST_SUITE("rewards") {

TEST_CASE("score_batch: seq and par give bitwise identical results for any thread count") {
  const std::size_t groups = 37, g = 5;
  std::vector<sample> samples;
  for (std::size_t i = 0; i < groups; ++i)
    samples.push_back(make_sample(1, i % 3 == 0 ? std::vector<std::size_t>{} : std::vector<std::size_t>{0}));
  const auto completions = mixed_completions(groups * g);
  const auto third = [](const completion& c, const sample&) { return static_cast<double>(c.text.size()) / 3.0; };
  const composite reward{weighted(stage1_format(), 0.3), weighted(relevance_rule(), 1.0),
                         weighted(overlong_penalty({.max_length = 1800, .buffer = 600}), 1.0),
                         weighted(third, 0.1, "third")};
  const auto layout = group_layout::uniform(groups, g);
  const batch_options opt{.explain = true, .grain = 4};
  // example-begin score-batch
  const batch_scores ref = score_batch(exec::seq, reward, completions, samples, layout, opt);
  // example-end score-batch
  REQUIRE(ref.size() == completions.size());
  for (std::size_t threads : {1u, 2u, 3u}) {
    CAPTURE(threads);
    const batch_scores p = score_batch(exec::par.with_threads(threads), reward, completions, samples, layout, opt);
    CHECK(bitwise_equal(p.totals, ref.totals));
    CHECK(bitwise_equal(p.scores, ref.scores));
    CHECK(p.explanations == ref.explanations);
  }
  // Each row agrees with scoring the completion alone.
  for (std::size_t i = 0; i < completions.size(); i += 11) {
    const auto b = reward.score(completions[i], samples[i / g], explain_mode::on);
    CHECK(b.total == ref.totals[i]);
    CHECK(b.explanation == ref.explanations[i]);
    for (std::size_t r = 0; r < reward.size(); ++r) CHECK(b.scores[r] == ref.score(i, r));
  }
  CHECK(ref.rule_seconds.size() == 4);
  for (const double t : ref.rule_seconds) CHECK(t >= 0.0);
  CHECK(ref.wall_seconds >= 0.0);
  CHECK(ref.names == reward.names());
}

TEST_CASE("score_batch: one sample per completion, offsets layout, and the seq overload agree") {
  std::vector<sample> samples = {make_sample(1, {0}), make_sample(1, {}), make_sample(1, {0})};
  const auto completions = mixed_completions(6);
  const composite reward{relevance_rule()};
  const std::vector<std::int64_t> offsets = {0, 1, 4, 6};
  const auto by_groups = score_batch(reward, completions, samples, group_layout::from_offsets(offsets));
  std::vector<sample> expanded = {samples[0], samples[1], samples[1], samples[1], samples[2], samples[2]};
  const auto one_to_one = score_batch(exec::par.with_threads(2), reward, completions, expanded);
  CHECK(bitwise_equal(by_groups.totals, one_to_one.totals));
  CHECK(by_groups.explanations.empty());
  CHECK(by_groups.explain_seconds == 0.0);
  CHECK(by_groups.mean(0) == doctest::Approx(one_to_one.mean(0)));
}

TEST_CASE("score_batch: results do not depend on the grain, also beyond one context block") {
  const auto completions = mixed_completions(600);
  std::vector<sample> samples;
  for (std::size_t i = 0; i < completions.size(); ++i) samples.push_back(make_sample(1, {i % 2}));
  const composite reward{stage1_format(), relevance_rule()};
  const auto small = score_batch(exec::par.with_threads(2), reward, completions, samples, {.grain = 7});
  const auto large = score_batch(reward, completions, samples, {.grain = 1000});
  CHECK(bitwise_equal(small.totals, large.totals));
  CHECK(bitwise_equal(small.scores, large.scores));
}

TEST_CASE("score_batch: empty batch gives empty results") {
  const composite reward{stage1_format()};
  const auto r = score_batch(exec::par, reward, std::span<const completion>{}, std::span<const sample>{});
  CHECK(r.size() == 0);
  CHECK(r.mean(0) == 0.0);
  CHECK(r.rule_seconds == std::vector<double>{0.0});
}

TEST_CASE("score_batch: error before scoring when sizes disagree or grain is 0") {
  const composite reward{stage1_format()};
  const auto completions = mixed_completions(4);
  std::vector<sample> samples = {make_sample(1, {0})};
  CHECK_THROWS_AS((void)score_batch(reward, completions, samples), error);
  CHECK_THROWS_AS((void)score_batch(reward, completions, samples, group_layout::uniform(2, 2)), error);
  CHECK_NOTHROW((void)score_batch(reward, completions, samples, group_layout::uniform(1, 4)));
  CHECK_THROWS_AS((void)score_batch(reward, completions, samples, group_layout::uniform(1, 4), {.grain = 0}), error);
}

TEST_CASE("score_batch: an exception thrown by a rule reaches the caller") {
  const auto throws = [](const completion& c, const sample&) -> double {
    if (c.text.empty()) throw std::runtime_error("custom rule failed");
    return 1.0;
  };
  const composite reward{throws};
  const auto completions = mixed_completions(50);
  std::vector<sample> samples(50, make_sample(1, {}));
  CHECK_THROWS_AS((void)score_batch(exec::par.with_threads(2), reward, completions, samples, {.grain = 3}),
                  std::runtime_error);
}

TEST_CASE("score_batch: any single rule, scored as a one-rule composite of weight 1") {
  const std::vector<sample> samples{make_sample(1, {0}), make_sample(1, {})};
  const auto completions = mixed_completions(6);
  const auto length = [](const completion& c, const sample&) { return static_cast<double>(c.text.size()); };
  const auto layout = group_layout::uniform(2, 3);
  const batch_scores lambda = score_batch(exec::par.with_threads(2), length, completions, samples, layout);
  REQUIRE(lambda.size() == 6);
  CHECK(lambda.num_rules == 1);
  CHECK(lambda.names == std::vector<std::string>{"rule"});
  CHECK(lambda.weights == std::vector<double>{1.0});
  for (std::size_t i = 0; i < 6; ++i) {
    CHECK(lambda.totals[i] == static_cast<double>(completions[i].text.size()));
    CHECK(lambda.score(i, 0) == lambda.totals[i]);
  }
  // A built-in rule alone gives what the one-rule composite gives, on the calling thread and with a sample per row.
  const std::vector<sample> per_row(6, make_sample(1, {0}));
  const batch_scores fmt = score_batch(stage1_format(), completions, per_row);
  const batch_scores ref = score_batch(composite{stage1_format()}, completions, per_row);
  CHECK(bitwise_equal(fmt.totals, ref.totals));
  CHECK(fmt.names == ref.names);
  CHECK(score_batch(exec::seq, relevance_rule(), completions, samples, layout).totals ==
        score_batch(composite{relevance_rule()}, completions, samples, layout).totals);
  CHECK_THROWS_WITH_AS((void)score_batch(length, completions, samples), doctest::Contains("samples"), error);
}

} // TEST_SUITE("rewards")
