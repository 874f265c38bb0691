// SPDX-License-Identifier: Apache-2.0
// rft_step and rft_loop with an explicit outcome estimator and execution backend.
#include "table_policy.hpp"

#include <mmrag_rft/pipeline.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

using namespace mmrag_rft;

namespace {
// A table policy that keeps every d loss / d log-prob it is given, so two runs can be compared gradient by gradient.
struct grad_recording_policy : test_support::table_policy {
  using table_policy::backward;
  using table_policy::table_policy;
  std::vector<float> grads;
  void backward(matrix_view<const float> g) {
    for (std::size_t i = 0; i < g.rows(); ++i)
      for (std::size_t j = 0; j < g.cols(); ++j) grads.push_back(g(i, j));
    table_policy::backward(g);
  }
};

// n one-prompt samples; their ids feed the reward, so groups differ from one another.
struct generic_batch {
  std::vector<sample> samples;
  prompt_batch prompts;
};
generic_batch numbered_batch(std::size_t n) {
  generic_batch b;
  for (std::size_t i = 0; i < n; ++i) {
    sample s;
    s.id = std::to_string(i);
    b.samples.push_back(s);
    b.prompts.push_back({"prompt " + std::to_string(i % 97), {}});
  }
  return b;
}
// Two rules with unequal, non-dyadic scores, so advantages and rule stds are not trivial.
reward_breakdown graded_reward(const completion& c, const sample& s) {
  const double base = c.text == "yes" ? 1.0 : c.text == "no" ? 0.3 : 0.55;
  const double bonus = static_cast<double>(std::stoul(s.id) % 5) * 0.1;
  return {base + bonus, {base, bonus}, {"choice", "bonus"}, {}};
}

bool same_bits(double a, double b) { return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b); }
bool same_bits(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}
// Every metric but the wall time, bit for bit.
void check_same_metrics(const step_metrics& a, const step_metrics& b) {
  CHECK(a.completions == b.completions);
  CHECK(same_bits(a.reward_mean, b.reward_mean));
  CHECK(same_bits(a.reward_std, b.reward_std));
  REQUIRE(a.rule_means.size() == b.rule_means.size());
  for (std::size_t j = 0; j < a.rule_means.size(); ++j) {
    CHECK(a.rule_means[j].name == b.rule_means[j].name);
    CHECK(same_bits(a.rule_means[j].value, b.rule_means[j].value));
    CHECK(same_bits(a.rule_stds[j].value, b.rule_stds[j].value));
  }
  CHECK(same_bits(a.loss, b.loss));
  CHECK(same_bits(a.pg_loss, b.pg_loss));
  CHECK(same_bits(a.kl, b.kl));
  CHECK(same_bits(a.clip_fraction, b.clip_fraction));
  CHECK(same_bits(a.ppo_kl, b.ppo_kl));
  CHECK(same_bits(a.entropy, b.entropy));
  CHECK(same_bits(a.response_length, b.response_length));
  CHECK(same_bits(a.truncated_fraction, b.truncated_fraction));
  CHECK(same_bits(a.degenerate_groups, b.degenerate_groups));
}
std::vector<float> float_totals(const std::vector<reward_breakdown>& rewards) {
  std::vector<float> out;
  for (const reward_breakdown& b : rewards) out.push_back(static_cast<float>(b.total));
  return out;
}

// Compile-time checks of the estimator concept; a type that fails it is refused by rft_step with the sentence of
// check_outcome_estimator.
[[maybe_unused]] constexpr auto seq_only_estimator = [](const exec::seq_t&, std::span<const float>, const group_layout&,
                                                        std::span<float>) { return advantage_summary{}; };
[[maybe_unused]] constexpr auto wrong_result_estimator = [](const auto&, std::span<const float>, const group_layout&,
                                                            std::span<float>) { return 0.0; };
static_assert(OutcomeEstimator<grpo_estimator, exec::seq_t> && OutcomeEstimator<rloo_estimator, exec::par_t>);
static_assert(OutcomeEstimator<const dr_grpo_estimator, exec::par_t>);
static_assert(OutcomeEstimator<decltype(seq_only_estimator)> &&
              !OutcomeEstimator<decltype(seq_only_estimator), exec::par_t>);
static_assert(!OutcomeEstimator<int> && !OutcomeEstimator<decltype(wrong_result_estimator)>);
static_assert(!OutcomeEstimator<grpo_estimator, int>); // not a backend
} // namespace

TEST_SUITE("pipeline") {
TEST_CASE("rft_step: the default call is bitwise an explicit grpo_estimator{options.advantages} on exec::seq") {
  const generic_batch b = numbered_batch(24);
  rft_options o;
  o.rollout.group_size = 4;
  o.advantages = grpo_options::trl(); // not the estimator's default: the default call must read options.advantages
  grad_recording_policy implicit({"yes", "no", "maybe"}), explicit_seq({"yes", "no", "maybe"});
  for (std::uint64_t step = 0; step < 3; ++step) {
    o.rollout.seed = step;
    const auto a = rft_step(implicit, std::span<const sample>(b.samples), b.prompts, graded_reward, o);
    const auto e = rft_step(exec::seq, explicit_seq, std::span<const sample>(b.samples), b.prompts, graded_reward,
                            grpo_estimator{o.advantages}, o);
    check_same_metrics(a.metrics, e.metrics);
    CHECK(same_bits(a.advantages, e.advantages));
    // And those advantages are GRPO's with options.advantages on the step's rewards.
    const std::vector<float> r = float_totals(a.rewards);
    std::vector<float> grpo(r.size());
    (void)grpo_advantages(std::span<const float>(r), a.rollout.layout(), std::span<float>(grpo), o.advantages);
    CHECK(same_bits(a.advantages, grpo));
  }
  CHECK(same_bits(implicit.grads, explicit_seq.grads));
  CHECK(implicit.probs("prompt 3") == explicit_seq.probs("prompt 3"));
}

TEST_CASE("rft_step: exec::par gives bitwise the metrics and gradients of exec::seq with a KL term") {
  // 4200 groups of 8: more than one chunk of groups (4096) and of loss rows (32768 at one column) per step.
  const generic_batch b = numbered_batch(4200);
  rft_options o;
  o.rollout.group_size = 8;
  o.loss.kl = kl_estimator::k3;
  o.loss.kl_coef = 0.05;
  grad_recording_policy seq_pol({"yes", "no", "maybe"}), par_pol({"yes", "no", "maybe"});
  test_support::table_policy ref({"yes", "no", "maybe"});
  for (std::uint64_t step = 0; step < 2; ++step) {
    o.rollout.seed = 11 + step;
    const auto s = rft_step(seq_pol, std::span<const sample>(b.samples), b.prompts, graded_reward, o, ref);
    const auto p = rft_step(exec::par.with_threads(4), par_pol, std::span<const sample>(b.samples), b.prompts,
                            graded_reward, o, ref);
    check_same_metrics(s.metrics, p.metrics);
    CHECK(same_bits(s.advantages, p.advantages));
    if (step == 1) CHECK(s.metrics.kl != 0.0); // the first step moved the policy away from the reference
  }
  REQUIRE(seq_pol.grads.size() == 2 * 4200 * 8);
  CHECK(same_bits(seq_pol.grads, par_pol.grads));
}

TEST_CASE("rft_step: rloo_estimator and dr_grpo_estimator give the advantages of rloo_advantages and Dr. GRPO") {
  const generic_batch b = numbered_batch(12);
  rft_options o;
  o.rollout.group_size = 4;
  o.rollout.seed = 5;
  SUBCASE("RLOO") {
    test_support::table_policy pol({"yes", "no", "maybe"});
    const auto r =
        rft_step(exec::par, pol, std::span<const sample>(b.samples), b.prompts, graded_reward, rloo_estimator{}, o);
    const std::vector<float> rewards = float_totals(r.rewards);
    std::vector<float> want(rewards.size()), grpo(rewards.size());
    (void)rloo_advantages(std::span<const float>(rewards), r.rollout.layout(), std::span<float>(want));
    (void)grpo_advantages(std::span<const float>(rewards), r.rollout.layout(), std::span<float>(grpo));
    CHECK(same_bits(r.advantages, want));
    CHECK(!same_bits(r.advantages, grpo)); // the estimator was used, not options.advantages
  }
  SUBCASE("Dr. GRPO") {
    test_support::table_policy pol({"yes", "no", "maybe"});
    const auto r = rft_step(pol, std::span<const sample>(b.samples), b.prompts, graded_reward, dr_grpo_estimator{}, o);
    const std::vector<float> rewards = float_totals(r.rewards);
    std::vector<float> want(rewards.size()), grpo(rewards.size());
    (void)grpo_advantages(std::span<const float>(rewards), r.rollout.layout(), std::span<float>(want),
                          grpo_options::dr_grpo());
    (void)grpo_advantages(std::span<const float>(rewards), r.rollout.layout(), std::span<float>(grpo));
    CHECK(same_bits(r.advantages, want));
    CHECK(!same_bits(r.advantages, grpo));
  }
  SUBCASE("Dr. GRPO built from another preset still skips the std division") {
    test_support::table_policy pol({"yes", "no", "maybe"});
    const auto r = rft_step(pol, std::span<const sample>(b.samples), b.prompts, graded_reward,
                            dr_grpo_estimator{grpo_options::trl()}, o);
    const std::vector<float> rewards = float_totals(r.rewards);
    grpo_options trl_dr = grpo_options::trl();
    trl_dr.norm_adv_by_std_in_grpo = false;
    std::vector<float> want(rewards.size());
    (void)grpo_advantages(std::span<const float>(rewards), r.rollout.layout(), std::span<float>(want), trl_dr);
    CHECK(same_bits(r.advantages, want));
  }
}

TEST_CASE("rft_step: a user-defined estimator lambda is called once on the step's backend and its output trained on") {
  const generic_batch b = numbered_batch(6);
  rft_options o;
  o.rollout.group_size = 4;
  std::size_t calls = 0;
  bool saw_par = false;
  // A fixed baseline of 0.5, every group reported degenerate: both must show up in the result.
  auto baseline = [&](const auto& backend, std::span<const float> rewards, const group_layout& groups,
                      std::span<float> advantages) {
    ++calls;
    saw_par = std::is_same_v<std::remove_cvref_t<decltype(backend)>, exec::par_t>;
    for (std::size_t i = 0; i < rewards.size(); ++i) advantages[i] = rewards[i] - 0.5f;
    advantage_summary s;
    s.groups = s.degenerate_groups = groups.num_groups();
    return s;
  };
  static_assert(OutcomeEstimator<decltype(baseline), exec::par_t>);
  grad_recording_policy pol({"yes", "no", "maybe"});
  const auto r = rft_step(exec::par, pol, std::span<const sample>(b.samples), b.prompts, graded_reward, baseline, o);
  CHECK(calls == 1);
  CHECK(saw_par);
  REQUIRE(r.advantages.size() == 24);
  for (std::size_t i = 0; i < r.advantages.size(); ++i)
    CHECK(r.advantages[i] == static_cast<float>(r.rewards[i].total) - 0.5f);
  CHECK(r.metrics.degenerate_groups == 1.0);
  // On-policy token-mean PPO: d loss / d log-prob = -A / N for each of the N tokens.
  REQUIRE(pol.grads.size() == 24);
  for (std::size_t i = 0; i < 24; ++i) CHECK(pol.grads[i] == doctest::Approx(-r.advantages[i] / 24.0));

  // A mutable estimator object is called as an lvalue, so its state persists across the calls rft_step makes.
  struct counting_rloo {
    std::size_t calls = 0;
    advantage_summary operator()(const exec::seq_t& e, std::span<const float> r2, const group_layout& g,
                                 std::span<float> a) {
      ++calls;
      return rloo_advantages(e, r2, g, a);
    }
  } counter;
  for (std::uint64_t step = 0; step < 3; ++step) {
    o.rollout.seed = step;
    (void)rft_step(pol, std::span<const sample>(b.samples), b.prompts, graded_reward, counter, o);
  }
  CHECK(counter.calls == 3);
}

TEST_CASE("rft_loop: passes the estimator and the backend to every step and defaults to GRPO on exec::seq") {
  const generic_batch b = numbered_batch(16);
  loop_options lo;
  lo.steps = 3;
  lo.prompts_per_step = 8;
  lo.progress = false;
  lo.step.rollout.group_size = 4;
  lo.step.advantages = grpo_options::openrlhf();
  no_reference none;
  const auto prompt_of = [&](const sample& s) { return b.prompts[std::stoul(s.id)]; };

  grad_recording_policy implicit({"yes", "no", "maybe"}), explicit_seq({"yes", "no", "maybe"});
  const auto a = rft_loop(implicit, std::span<const sample>(b.samples), prompt_of, graded_reward, lo, none, nullptr,
                          [](std::size_t, const rft_step_result&) {});
  const auto e =
      rft_loop(exec::seq, explicit_seq, std::span<const sample>(b.samples), prompt_of, graded_reward,
               grpo_estimator{lo.step.advantages}, lo, none, nullptr, [](std::size_t, const rft_step_result&) {});
  REQUIRE(a.size() == 3);
  REQUIRE(e.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) check_same_metrics(a[i], e[i]);
  CHECK(same_bits(implicit.grads, explicit_seq.grads));

  // RLOO on exec::par: every step's advantages are rloo_advantages of its rewards, and match RLOO on exec::seq.
  std::size_t rloo_steps = 0;
  std::vector<float> par_adv, seq_adv;
  test_support::table_policy par_pol({"yes", "no", "maybe"}), seq_pol({"yes", "no", "maybe"});
  (void)rft_loop(exec::par, par_pol, std::span<const sample>(b.samples), prompt_of, graded_reward, rloo_estimator{}, lo,
                 none, nullptr, [&](std::size_t, const rft_step_result& r) {
                   const std::vector<float> rewards = float_totals(r.rewards);
                   std::vector<float> want(rewards.size());
                   (void)rloo_advantages(std::span<const float>(rewards), r.rollout.layout(), std::span<float>(want));
                   CHECK(same_bits(r.advantages, want));
                   par_adv.insert(par_adv.end(), r.advantages.begin(), r.advantages.end());
                   ++rloo_steps;
                 });
  (void)rft_loop(seq_pol, std::span<const sample>(b.samples), prompt_of, graded_reward, rloo_estimator{}, lo, none,
                 nullptr, [&](std::size_t, const rft_step_result& r) {
                   seq_adv.insert(seq_adv.end(), r.advantages.begin(), r.advantages.end());
                 });
  CHECK(rloo_steps == 3);
  CHECK(same_bits(par_adv, seq_adv));
}
} // TEST_SUITE("pipeline")
