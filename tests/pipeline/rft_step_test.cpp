// SPDX-License-Identifier: Apache-2.0
#include "table_policy.hpp"

#include <mmrag_rft/pipeline.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

using namespace mmrag_rft;
using test_support::yes_no;

namespace {
std::vector<sample> questions() {
  std::vector<sample> out;
  for (int q = 0; q < 4; ++q) {
    sample s;
    s.id = "q" + std::to_string(q);
    s.question = "question " + std::to_string(q);
    for (int d = 0; d < 3; ++d)
      s.documents.push_back({std::to_string(d), modality::text, "doc " + std::to_string(q * 3 + d), "", "", nullptr});
    s.gold = {static_cast<std::size_t>(q % 3)};
    out.push_back(s);
  }
  return out;
}
// Stage-1 rule: 1 for the correct yes/no verdict, 0 for a wrong one, a format part for "maybe".
reward_breakdown relevance(const completion& c, const sample& s) {
  const bool relevant = !s.gold.empty();
  const bool ok_format = c.text == "yes" || c.text == "no";
  const double correct = ok_format && ((c.text == "yes") == relevant) ? 1.0 : 0.0;
  return {correct, {ok_format ? 1.0 : 0.0, correct}, {"format", "relevance"}, {}};
}
prompt_templates tiny_templates() {
  prompt_templates t;
  t.stage1 = "{question}|{document}";
  t.document = "{title}";
  return t;
}
} // namespace

TEST_SUITE("pipeline") {
TEST_CASE("rft_step: reward mean rises and the loss stays finite when a table policy learns stage 1") {
  test_support::table_policy pol({"yes", "no", "maybe"});
  std::vector<sample> s1;
  for (const sample& q : questions())
    for (sample& s : make_stage1_samples(q)) s1.push_back(std::move(s));
  const prompt_templates t = tiny_templates();
  rft_options o;
  o.rollout.group_size = 8;
  o.rollout.max_new_tokens = 1;
  double first = 0, last = 0;
  for (std::size_t step = 0; step < 40; ++step) {
    prompt_batch prompts;
    for (const sample& s : s1) prompts.push_back(render_stage1(t, s, 0));
    o.rollout.seed = step;
    const rft_step_result r = rft_step(pol, std::span<const sample>(s1), prompts, relevance, o);
    CHECK(std::isfinite(r.metrics.loss));
    REQUIRE(r.metrics.rule_means.size() == 2);
    CHECK(r.metrics.rule_means[0].name == "format");
    if (step == 0) first = r.metrics.reward_mean;
    last = r.metrics.reward_mean;
  }
  CHECK(first < 0.6);
  CHECK(last > 0.9);
  // The trained policy now filters each question down to its gold document.
  const auto qs = questions();
  const auto d = coarse_filter(pol, std::span<const sample>(qs), t, yes_no);
  for (std::size_t i = 0; i < qs.size(); ++i) CHECK(d[i].kept == qs[i].gold);
}

TEST_CASE("rft_step: is deterministic when seeds are equal") {
  auto run = [] {
    test_support::table_policy pol({"yes", "no"});
    const auto qs = questions();
    const auto s1 = make_stage1_samples(qs[0]);
    prompt_batch prompts;
    for (const sample& s : s1) prompts.push_back(render_stage1(tiny_templates(), s, 0));
    rft_options o;
    o.rollout.seed = 7;
    return rft_step(pol, std::span<const sample>(s1), prompts, relevance, o).metrics.loss;
  };
  CHECK(run() == run());
}

TEST_CASE("rft_step: a KL term needs a reference model when options.loss.kl is set") {
  test_support::table_policy pol({"yes", "no"}), ref({"yes", "no"});
  const auto s1 = make_stage1_samples(questions()[0]);
  prompt_batch prompts;
  for (const sample& s : s1) prompts.push_back(render_stage1(tiny_templates(), s, 0));
  rft_options o;
  o.loss.kl = kl_estimator::k3;
  o.loss.kl_coef = 0.1;
  CHECK_THROWS_AS((void)rft_step(pol, std::span<const sample>(s1), prompts, relevance, o), error);
  const auto r = rft_step(pol, std::span<const sample>(s1), prompts, relevance, o, ref);
  CHECK(r.metrics.kl == doctest::Approx(0.0)); // policy == reference before the first update
  prompts.pop_back();
  CHECK_THROWS_AS((void)rft_step(pol, std::span<const sample>(s1), prompts, relevance, o, ref), error);
}

TEST_CASE("rft_step: numbers are accepted as rewards when the callable returns double") {
  test_support::table_policy pol({"yes", "no"});
  const auto s1 = make_stage1_samples(questions()[1]);
  prompt_batch prompts;
  for (const sample& s : s1) prompts.push_back(render_stage1(tiny_templates(), s, 0));
  const auto r = rft_step(
      pol, std::span<const sample>(s1), prompts,
      [](const completion& c, const sample&) { return c.text == "yes" ? 1.0 : 0.0; }, rft_options{});
  REQUIRE(r.metrics.rule_means.size() == 1);
  CHECK(r.metrics.rule_means[0].name == "reward");
  CHECK(r.rewards.size() == s1.size() * 8);
}

TEST_CASE("rft_step: a rollout sampled at T = 0.5 is recomputed at T = 0.5; a rollout that misstates T is refused") {
  const auto s1 = make_stage1_samples(questions()[2]);
  prompt_batch prompts;
  for (const sample& s : s1) prompts.push_back(render_stage1(tiny_templates(), s, 0));
  rft_options o;
  o.rollout.temperature = 0.5;
  test_support::table_policy pol({"yes", "no", "maybe"});
  for (std::uint64_t step = 0; step < 3; ++step) { // after the first update the three choices are no longer uniform
    o.rollout.seed = step;
    const auto r = rft_step(pol, std::span<const sample>(s1), prompts, relevance, o);
    CHECK(r.rollout.temperature == 0.5);
    CHECK(r.metrics.ppo_kl == 0.0); // on-policy: the recomputed log-probs are the sampler's, bit for bit
    CHECK(r.metrics.clip_fraction == 0.0);
  }
  // A policy that samples at 0.5 but leaves rollout_batch::temperature at 1.
  struct forgetful : test_support::table_policy {
    using table_policy::table_policy;
    mmrag_rft::rollout_batch generate(const prompt_batch& p, const rollout_options& ro) {
      auto b = table_policy::generate(p, ro);
      b.temperature = 1.0;
      return b;
    }
  } bad({"yes", "no"});
  CHECK_THROWS_WITH_AS((void)rft_step(bad, std::span<const sample>(s1), prompts, relevance, o),
                       doctest::Contains("rollout_batch::temperature"), error);
  // Greedy rollouts state T = 1.
  o.rollout.temperature = 0;
  CHECK(rft_step(pol, std::span<const sample>(s1), prompts, relevance, o).rollout.temperature == 1.0);
}

TEST_CASE("rft_step: the entropy bonus trains an EntropyPolicy's entropy; other policies are refused") {
  const auto s1 = make_stage1_samples(questions()[0]);
  prompt_batch prompts;
  for (const sample& s : s1) prompts.push_back(render_stage1(tiny_templates(), s, 0));
  // The same table, seen as a plain Policy (no entropy members).
  struct plain {
    test_support::table_policy t{{"yes", "no"}};
    rollout_batch generate(const prompt_batch& p, const rollout_options& o) { return t.generate(p, o); }
    void log_probs(const prompt_batch& p, const rollout_batch& r, matrix_view<float> out) { t.log_probs(p, r, out); }
    void backward(matrix_view<const float> g) { t.backward(g); }
    void step() { t.step(); }
  };
  static_assert(EntropyPolicy<test_support::table_policy>);
  static_assert(Policy<plain> && !EntropyPolicy<plain>);
  rft_options o;
  o.loss.entropy_coeff = 0.5;
  plain p;
  CHECK_THROWS_WITH_AS((void)rft_step(p, std::span<const sample>(s1), prompts, relevance, o),
                       doctest::Contains("EntropyPolicy"), error);

  // d loss / d entropy reaches the policy: -coeff / N for each of the N valid tokens (token-mean).
  struct recording : test_support::table_policy {
    using table_policy::backward;
    using table_policy::table_policy;
    std::vector<float> seen;
    void backward(matrix_view<const float> g, matrix_view<const float> ge) {
      for (std::size_t i = 0; i < ge.rows(); ++i) seen.push_back(ge(i, 0));
      table_policy::backward(g, ge);
    }
  } rec({"yes", "no", "maybe"});
  (void)rft_step(rec, std::span<const sample>(s1), prompts, relevance, o);
  REQUIRE(rec.seen.size() == s1.size() * o.rollout.group_size);
  for (float g : rec.seen) CHECK(g == doctest::Approx(-0.5 / static_cast<double>(rec.seen.size())));

  // Sharpen the policy with the relevance reward, then train on the bonus alone (a constant reward: every group is
  // degenerate, every advantage 0): the entropy climbs back, step after step.
  test_support::table_policy pol({"yes", "no", "maybe"});
  rft_options sharpen;
  for (std::uint64_t step = 0; step < 10; ++step) {
    sharpen.rollout.seed = step;
    (void)rft_step(pol, std::span<const sample>(s1), prompts, relevance, sharpen);
  }
  const auto entropy = [&] {
    double h = 0;
    for (const prompt& q : prompts) h += test_support::table_policy::entropy_of(pol.probs(q.text));
    return h / static_cast<double>(prompts.size());
  };
  const double sharp = entropy();
  CHECK(sharp < 0.5 * std::log(3.0));
  o.loss.entropy_coeff = 1.0;
  double before = sharp;
  for (std::uint64_t step = 0; step < 10; ++step) {
    o.rollout.seed = 100 + step;
    const auto r =
        rft_step(pol, std::span<const sample>(s1), prompts, [](const completion&, const sample&) { return 0.0; }, o);
    CHECK(r.metrics.entropy == doctest::Approx(before).epsilon(1e-5)); // the current policy's entropy, before the step
    const double after = entropy();
    CHECK(after > before);
    before = after;
  }
  CHECK(before > sharp + 0.2);
}

TEST_CASE("rft_loop: runs the steps, writes JSONL and CSV and calls on_step when given a table policy") {
  test_support::table_policy pol({"yes", "no", "maybe"});
  std::vector<sample> s1;
  for (const sample& q : questions())
    for (sample& s : make_stage1_samples(q)) s1.push_back(std::move(s));
  const auto dir = std::filesystem::temp_directory_path() / "mmrag_rft_pipeline_test";
  std::filesystem::create_directories(dir);
  const std::string prefix = (dir / "metrics").string();
  std::size_t calls = 0;
  {
    metrics_log log(prefix);
    loop_options lo;
    lo.stage = "stage1";
    lo.steps = 5;
    lo.prompts_per_step = 4;
    lo.progress = false;
    no_reference none;
    const auto t = tiny_templates();
    const auto m = rft_loop(
        pol, std::span<const sample>(s1), [&](const sample& s) { return render_stage1(t, s, 0); }, relevance, lo, none,
        &log, [&](std::size_t, const rft_step_result&) { ++calls; });
    CHECK(m.size() == 5);
  }
  CHECK(calls == 5);
  std::ifstream jl(prefix + ".jsonl"), csv(prefix + ".csv");
  std::string line;
  std::size_t n = 0;
  while (std::getline(jl, line)) {
    CHECK(line.find("\"stage\":\"stage1\"") != std::string::npos);
    CHECK(line.find("\"reward/relevance/mean\":") != std::string::npos);
    ++n;
  }
  CHECK(n == 5);
  std::getline(csv, line);
  CHECK(line.rfind("stage,step,reward/mean", 0) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("batch_indices: every sample appears once per epoch when batches tile the data") {
  std::vector<int> seen(10, 0);
  for (std::size_t step = 0; step < 5; ++step)
    for (std::size_t i : detail::batch_indices(10, 2, step, 3)) ++seen[i];
  for (int c : seen) CHECK(c == 1);
}
} // TEST_SUITE("pipeline")
