// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/config/names.hpp>

#include <doctest/doctest.h>

#include <string>

using namespace mmrag_rft;

TEST_CASE("names: loss aggregations round-trip and bad names are located") {
  for (auto a :
       {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum, loss_aggregation::seq_mean_token_mean,
        loss_aggregation::seq_mean_token_sum_norm, loss_aggregation::token_sum})
    CHECK(parse_loss_aggregation(to_string(a)) == a);
  CHECK(parse_loss_aggregation("seq-mean-token-sum-norm") == loss_aggregation::seq_mean_token_sum_norm);
  CHECK(parse_loss_aggregation("token-sum") == loss_aggregation::token_sum);
  CHECK_THROWS_WITH_AS((void)parse_loss_aggregation("token_mean"),
                       "parse_loss_aggregation: name \"token_mean\" is not one of \"token-mean\", "
                       "\"seq-mean-token-sum\", \"seq-mean-token-mean\", \"seq-mean-token-sum-norm\", \"token-sum\"",
                       error);
  CHECK_THROWS_AS((void)parse_loss_aggregation(""), error);
}

TEST_CASE("names: KL estimators with verl's aliases and the straight-through suffix") {
  CHECK(parse_kl_estimator("kl") == kl_choice{kl_estimator::k1, false});
  CHECK(parse_kl_estimator("k1") == kl_choice{kl_estimator::k1, false});
  CHECK(parse_kl_estimator("abs") == kl_choice{kl_estimator::abs, false});
  CHECK(parse_kl_estimator("mse") == kl_choice{kl_estimator::k2, false});
  CHECK(parse_kl_estimator("k2") == kl_choice{kl_estimator::k2, false});
  CHECK(parse_kl_estimator("low_var_kl") == kl_choice{kl_estimator::k3, false});
  CHECK(parse_kl_estimator("k3") == kl_choice{kl_estimator::k3, false});
  CHECK(parse_kl_estimator("none") == kl_choice{kl_estimator::none, false});
  CHECK(parse_kl_estimator("k3+") == kl_choice{kl_estimator::k3, true});
  CHECK(parse_kl_estimator("low_var_kl+") == kl_choice{kl_estimator::k3, true});
  CHECK(parse_kl_estimator("abs+") == kl_choice{kl_estimator::abs, true});
  CHECK(parse_kl_estimator("k2+") == kl_choice{kl_estimator::k2, false}); // k2's gradient already is k2's
  for (const char* n : {"k1", "abs", "k2", "k3", "none", "k1+", "abs+", "k3+"})
    CHECK(to_string(parse_kl_estimator(n)) == n);
  CHECK(to_string(parse_kl_estimator("low_var_kl+")) == "k3+");
  CHECK_THROWS_WITH_AS((void)parse_kl_estimator("full"), doctest::Contains("vocabulary"), error);
  CHECK_THROWS_WITH_AS((void)parse_kl_estimator("k4"),
                       doctest::Contains("\"k4\" is not one of \"none\", \"k1\", \"kl\""), error);
  CHECK_THROWS_AS((void)parse_kl_estimator("none+"), error);
  CHECK_THROWS_AS((void)parse_kl_estimator("+"), error);
  CHECK_THROWS_AS((void)parse_kl_estimator("k3++"), error);
}

TEST_CASE("names: policy-loss modes, KL clamps, GRPO std, singletons and TRL's scale_rewards") {
  for (auto m : {policy_loss_mode::ppo_clip, policy_loss_mode::gspo, policy_loss_mode::cispo, policy_loss_mode::sapo,
                 policy_loss_mode::gpg, policy_loss_mode::gmpo, policy_loss_mode::clip_cov, policy_loss_mode::kl_cov,
                 policy_loss_mode::dppo_tv, policy_loss_mode::dppo_kl})
    CHECK(parse_policy_loss_mode(to_string(m)) == m);
  CHECK(parse_policy_loss_mode("vanilla") == policy_loss_mode::ppo_clip);
  CHECK(parse_policy_loss_mode("geo_mean") == policy_loss_mode::gmpo);
  CHECK(parse_policy_loss_mode("clip_cov") == policy_loss_mode::clip_cov);
  CHECK(parse_policy_loss_mode("kl_cov") == policy_loss_mode::kl_cov);
  CHECK(to_string(policy_loss_mode::gmpo) == "geo_mean");
  CHECK_THROWS_WITH_AS((void)parse_policy_loss_mode("gmpo"),
                       doctest::Contains("\"geo_mean\", \"clip_cov\", \"kl_cov\""), error);
  CHECK_THROWS_WITH_AS((void)parse_policy_loss_mode("ppo"), doctest::Contains("\"ppo\" is not one of \"vanilla\""),
                       error);
  for (auto c : {kl_clamp::none, kl_clamp::verl, kl_clamp::openrlhf}) CHECK(parse_kl_clamp(to_string(c)) == c);
  for (auto s : {std_estimator::unbiased, std_estimator::biased}) CHECK(parse_std_estimator(to_string(s)) == s);
  for (auto s :
       {singleton_group::unit_std, singleton_group::unit_std_float32, singleton_group::zero, singleton_group::error})
    CHECK(parse_singleton_group(to_string(s)) == s);
  CHECK_THROWS_AS((void)parse_std_estimator("population"), error);

  const grpo_options g = parse_scale_rewards("batch", grpo_options::trl());
  CHECK(g.scale == reward_scale::batch);
  CHECK(g.norm_adv_by_std_in_grpo);
  CHECK(g.epsilon == 1e-4); // the base's other fields are kept
  CHECK(parse_scale_rewards("group").scale == reward_scale::group);
  CHECK_FALSE(parse_scale_rewards("none").norm_adv_by_std_in_grpo);
  CHECK_FALSE(parse_scale_rewards("false").norm_adv_by_std_in_grpo);
  CHECK_THROWS_WITH_AS((void)parse_scale_rewards("sequence"),
                       doctest::Contains("parse_scale_rewards: name \"sequence\""), error);
}
