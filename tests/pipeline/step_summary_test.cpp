// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/pipeline/step_summary.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <vector>

using namespace mmrag_rft;

namespace {
// Two groups of two completions, three token columns. Rows (response tokens, sampling log-probs, truncated):
//   0: 3 tokens, -1, -0.5, -0.5, truncated      1: 1 token, -2
//   2: 2 tokens, -1, -1                          3: no token
// Padding holds a log-prob of -100 that must not count.
rollout_batch hand_rollout() {
  rollout_batch r = rollout_batch::zeros(2, 2, 3);
  const float lp[12] = {-1.0f, -0.5f, -0.5f, -2.0f, -100.0f, -100.0f, -1.0f, -1.0f, -100.0f, -100.0f, -100.0f, -100.0f};
  const std::uint8_t mask[12] = {1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0};
  for (std::size_t i = 0; i < 12; ++i) r.log_probs[i] = lp[i], r.mask[i] = mask[i];
  r.completions = {{"a b c", 3, true}, {"d", 1, false}, {"e f", 2, false}, {"", 0, false}};
  return r;
}
// Totals 1, 0, 0.5, 0.5; rule "format" 1, 1, 1, 0; rule "answer" 1, 0, 0, 1.
std::vector<reward_breakdown> hand_rewards() {
  return {{1.0, {1.0, 1.0}, {"format", "answer"}, {}},
          {0.0, {1.0, 0.0}, {"format", "answer"}, {}},
          {0.5, {1.0, 0.0}, {"format", "answer"}, {}},
          {0.5, {0.0, 1.0}, {"format", "answer"}, {}}};
}
policy_loss_result hand_loss() {
  policy_loss_result l;
  l.loss = 0.3, l.pg_loss = 0.25;
  l.stats.kl_mean = 0.05, l.stats.pg_clipfrac = 0.125, l.stats.ppo_kl = -0.01, l.stats.entropy_mean = 0.7;
  return l;
}
} // namespace

TEST_SUITE("pipeline") {
TEST_CASE("summarise_step: gives the hand-worked metrics of a two-group step") {
  const rollout_batch r = hand_rollout();
  const std::vector<reward_breakdown> rewards = hand_rewards();
  advantage_summary adv;
  adv.groups = 2, adv.degenerate_groups = 1;
  const step_metrics m = summarise_step(r, rewards, adv, hand_loss());
  CHECK(m.completions == 4);
  // Totals: mean 0.5; squared deviations 0.25 + 0.25 + 0 + 0 = 0.5, over n - 1 = 3: std sqrt(1/6).
  CHECK(m.reward_mean == 0.5);
  CHECK(m.reward_std == std::sqrt(1.0 / 6.0));
  REQUIRE(m.rule_means.size() == 2);
  REQUIRE(m.rule_stds.size() == 2);
  CHECK(m.rule_means[0].name == "format");
  CHECK(m.rule_stds[1].name == "answer");
  // format: mean 0.75; 3 * 0.0625 + 0.5625 = 0.75, over 3: std 0.5. answer: mean 0.5; 4 * 0.25 = 1, over 3.
  CHECK(m.rule_means[0].value == 0.75);
  CHECK(m.rule_stds[0].value == 0.5);
  CHECK(m.rule_means[1].value == 0.5);
  CHECK(m.rule_stds[1].value == doctest::Approx(std::sqrt(1.0 / 3.0)));
  CHECK(m.loss == 0.3);
  CHECK(m.pg_loss == 0.25);
  CHECK(m.kl == 0.05);
  CHECK(m.clip_fraction == 0.125);
  CHECK(m.ppo_kl == -0.01);
  // No policy entropy given: minus the mean sampling log-prob of the 6 response tokens, (1 + .5 + .5 + 2 + 1 + 1) / 6.
  CHECK(m.entropy == 1.0);
  CHECK(m.response_length == 1.5); // (3 + 1 + 2 + 0) / 4
  CHECK(m.truncated_fraction == 0.25);
  CHECK(m.degenerate_groups == 0.5); // 1 of 2 groups
  CHECK(m.seconds == 0.0);
  // With the policy's entropy (the loss's), that is reported instead.
  CHECK(summarise_step(r, rewards, adv, hand_loss(), hand_loss().stats.entropy_mean).entropy == 0.7);
}

TEST_CASE("summarise_step: takes the totals as the float rewards the estimator saw and gives one completion std 0") {
  rollout_batch r = rollout_batch::zeros(1, 1, 1);
  r.mask[0] = 1, r.log_probs[0] = -0.25f;
  r.completions[0] = {"x", 1, false};
  const std::vector<reward_breakdown> one = {{0.1, {0.1}, {"reward"}, {}}};
  const step_metrics m = summarise_step(r, one, advantage_summary{}, policy_loss_result{});
  CHECK(m.reward_mean == static_cast<double>(0.1f));
  CHECK(m.reward_std == 0.0);
  CHECK(m.rule_means[0].value == 0.1); // the rule scores stay double
  CHECK(m.rule_stds[0].value == 0.0);
  CHECK(m.entropy == 0.25);
}

TEST_CASE("summarise_step: refuses rewards that do not match the rollout and gives zero metrics for an empty rollout") {
  const rollout_batch r = hand_rollout();
  std::vector<reward_breakdown> rewards = hand_rewards();
  rewards.pop_back();
  CHECK_THROWS_WITH_AS((void)summarise_step(r, rewards, advantage_summary{}, policy_loss_result{}),
                       doctest::Contains("one reward_breakdown per rollout row"), error);
  rewards = hand_rewards();
  rewards[2].scores.pop_back();
  CHECK_THROWS_WITH_AS((void)summarise_step(r, rewards, advantage_summary{}, policy_loss_result{}),
                       doctest::Contains("same rules"), error);
  const step_metrics none = summarise_step(rollout_batch{}, {}, advantage_summary{}, policy_loss_result{});
  CHECK(none.completions == 0);
  CHECK(none.reward_mean == 0.0);
  CHECK(none.rule_means.empty());
}
} // TEST_SUITE("pipeline")
