// SPDX-License-Identifier: Apache-2.0
// rft_step's updates per rollout (ppo_epochs, mini_batches with the global normaliser), DAPO's dynamic sampling and
// TRL's top_entropy_quantile.
#include "table_policy.hpp"

#include <mmrag_rft/pipeline.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

using namespace mmrag_rft;

namespace updates_test {
// A table policy that records every d loss / d log-prob, row by row, and can give its rows spread entropies.
struct recording_policy : test_support::table_policy {
  using table_policy::backward;
  using table_policy::table_policy;
  std::vector<float> grads;
  std::size_t steps = 0;
  bool spread_entropy = false, no_entropy = false;
  rollout_batch generate(const prompt_batch& p, const rollout_options& o) {
    rollout_batch b = table_policy::generate(p, o);
    if (spread_entropy)
      for (std::size_t i = 0; i < b.entropy.size(); ++i) b.entropy[i] = 0.25f * static_cast<float>((i * 5) % 8);
    if (no_entropy) b.entropy.clear();
    return b;
  }
  void backward(matrix_view<const float> g) {
    for (std::size_t i = 0; i < g.rows(); ++i)
      for (std::size_t j = 0; j < g.cols(); ++j) grads.push_back(g(i, j));
    table_policy::backward(g);
  }
  void step() {
    ++steps;
    table_policy::step();
  }
};

struct batch {
  std::vector<sample> samples;
  prompt_batch prompts;
};
batch numbered(std::size_t n) {
  batch b;
  for (std::size_t i = 0; i < n; ++i) {
    sample s;
    s.id = std::to_string(i);
    b.samples.push_back(s);
    b.prompts.push_back({"prompt " + std::to_string(i), {}});
  }
  return b;
}
// Unequal rewards per choice, shifted by the sample, so groups are rarely all equal.
double graded(const completion& c, const sample& s) {
  const double base = c.text == "yes" ? 1.0 : c.text == "no" ? 0.3 : 0.55;
  return base + static_cast<double>(std::stoul(s.id) % 5) * 0.1;
}
// Even samples: a constant reward (degenerate groups); odd ones: 1 for "yes".
double half_flat(const completion& c, const sample& s) {
  return std::stoul(s.id) % 2 == 0 ? 0.5 : (c.text == "yes" ? 1.0 : 0.0);
}
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}
rft_options base_options() {
  rft_options o;
  o.rollout.group_size = 4;
  o.rollout.seed = 17;
  return o;
}
} // namespace updates_test

using namespace updates_test;

TEST_SUITE("pipeline") {

TEST_CASE("rft_step: mini-batch gradients at one set of parameters add up to the whole batch's (global normaliser)") {
  const batch b = numbered(7);
  for (const auto agg : {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum,
                         loss_aggregation::seq_mean_token_mean, loss_aggregation::seq_mean_token_sum_norm}) {
    CAPTURE(static_cast<int>(agg));
    rft_options o = base_options();
    o.loss.aggregation = agg;
    recording_policy whole({"yes", "no", "maybe"}, /*lr=*/0.0);
    const auto full = rft_step(whole, b.samples, b.prompts, graded, o);
    for (std::size_t m : {2u, 3u, 7u}) {
      CAPTURE(m);
      recording_policy parts({"yes", "no", "maybe"}, 0.0);
      o.mini_batches = m;
      o.ppo_epochs = 2;
      const auto r = rft_step(parts, b.samples, b.prompts, graded, o);
      CHECK(r.metrics.updates == 2 * m);
      CHECK(parts.steps == 2 * m);
      // lr = 0: both epochs see the rollout's parameters; each epoch's mini-batch rows are the whole batch's rows.
      REQUIRE(parts.grads.size() == 2 * whole.grads.size());
      CHECK(same_bits(std::vector<float>(parts.grads.begin(), parts.grads.begin() + 28), whole.grads));
      CHECK(same_bits(std::vector<float>(parts.grads.begin() + 28, parts.grads.end()), whole.grads));
      CHECK(r.metrics.loss == doctest::Approx(full.metrics.loss).epsilon(1e-12));
      CHECK(r.metrics.pg_loss == doctest::Approx(full.metrics.pg_loss).epsilon(1e-12));
      CHECK(r.metrics.clip_fraction == 0.0);
    }
    o.mini_batches = 1, o.ppo_epochs = 1;
  }
}

TEST_CASE("rft_step: later epochs see the updated policy (ratios move, the clip acts); option errors") {
  const batch b = numbered(6);
  rft_options o = base_options();
  recording_policy one({"yes", "no", "maybe"}, 20.0), three({"yes", "no", "maybe"}, 20.0);
  const auto a = rft_step(one, b.samples, b.prompts, graded, o);
  CHECK(a.metrics.updates == 1);
  CHECK(a.metrics.clip_fraction == 0.0);
  o.ppo_epochs = 3, o.mini_batches = 2;
  const auto c = rft_step(three, b.samples, b.prompts, graded, o);
  CHECK(c.metrics.updates == 6);
  CHECK(c.metrics.clip_fraction > 0.0); // the epochs after the first are off-policy
  CHECK(c.metrics.ppo_kl != 0.0);
  // The first mini-batch of the first epoch is on-policy and normalised by all 24 rows: its gradients are the
  // single update's for those rows, bit for bit.
  CHECK(same_bits(std::vector<float>(three.grads.begin(), three.grads.begin() + 12),
                  std::vector<float>(one.grads.begin(), one.grads.begin() + 12)));
  o.mini_batches = 7;
  recording_policy p({"yes", "no"});
  CHECK_THROWS_WITH_AS((void)rft_step(p, b.samples, b.prompts, graded, o),
                       doctest::Contains("options.mini_batches must not exceed the number of groups trained on (6)"),
                       error);
  o.mini_batches = 0;
  CHECK_THROWS_WITH_AS((void)rft_step(p, b.samples, b.prompts, graded, o), doctest::Contains("options.mini_batches"),
                       error);
  o.mini_batches = 1, o.ppo_epochs = 0;
  CHECK_THROWS_WITH_AS((void)rft_step(p, b.samples, b.prompts, graded, o), doctest::Contains("options.ppo_epochs"),
                       error);
}

TEST_CASE("rft_step: dynamic sampling drops the groups whose rewards are all equal") {
  const batch b = numbered(6);
  rft_options o = base_options();
  recording_policy keep({"yes", "no"}, 0.0), drop({"yes", "no"}, 0.0);
  const auto k = rft_step(keep, b.samples, b.prompts, half_flat, o);
  o.dynamic_sampling.policy = degenerate_group_policy::drop;
  const auto d = rft_step(drop, b.samples, b.prompts, half_flat, o);
  const std::size_t flat_odd = static_cast<std::size_t>(k.metrics.degenerate_groups * 6 + 0.5) - 3; // odd all-equal
  CHECK(d.metrics.dropped_groups == 3 + flat_odd);
  CHECK(d.metrics.refilled_groups == 0);
  CHECK(d.rollout.num_prompts == 6 - d.metrics.dropped_groups);
  CHECK(d.rewards.size() == d.rollout.rows());
  CHECK(d.metrics.degenerate_groups == 0.0);
  CHECK(drop.grads.size() == d.rollout.rows());
  // The kept rows are the keep run's rows of the odd groups, with the same rewards.
  std::size_t row = 0;
  for (std::size_t g = 0; g < 6; ++g) {
    const bool flat = [&] {
      for (std::size_t j = 1; j < 4; ++j)
        if (k.rewards[g * 4 + j].total != k.rewards[g * 4].total) return false;
      return true;
    }();
    if (flat) continue;
    for (std::size_t j = 0; j < 4; ++j, ++row) {
      CHECK(d.rollout.completions[row].text == k.rollout.completions[g * 4 + j].text);
      CHECK(d.rewards[row].total == k.rewards[g * 4 + j].total);
    }
  }
  CHECK(row == d.rollout.rows());
  // Nothing left: no update, zero metrics, the counts kept.
  const auto flat_only = [](const completion&, const sample&) { return 1.0; };
  recording_policy none({"yes", "no"});
  const auto z = rft_step(none, b.samples, b.prompts, flat_only, o);
  CHECK(z.metrics.dropped_groups == 6);
  CHECK(z.metrics.updates == 0);
  CHECK(none.steps == 0);
  CHECK(z.rollout.rows() == 0);
}

TEST_CASE("rft_step: dynamic sampling refills degenerate groups by sampling their prompts again") {
  const batch b = numbered(8);
  rft_options o = base_options();
  o.rollout.group_size = 2; // two uniform choices: a group is all-equal with probability 1/2
  const auto yes = [](const completion& c, const sample&) { return c.text == "yes" ? 1.0 : 0.0; };
  recording_policy keep({"yes", "no"}, 0.0);
  const auto k = rft_step(keep, b.samples, b.prompts, yes, o);
  const auto flat_first = static_cast<std::size_t>(k.metrics.degenerate_groups * 8 + 0.5);
  REQUIRE(flat_first > 0);
  for (std::size_t rounds : {0u, 1u, 6u}) {
    CAPTURE(rounds);
    o.dynamic_sampling = {degenerate_group_policy::refill, rounds};
    recording_policy refill({"yes", "no"}, 0.0);
    const auto r = rft_step(refill, b.samples, b.prompts, yes, o);
    CHECK(r.metrics.refilled_groups + r.metrics.dropped_groups == flat_first);
    CHECK(r.metrics.refill_rounds <= rounds);
    CHECK(r.rollout.num_prompts == 8 - r.metrics.dropped_groups);
    for (std::size_t g = 0; g < r.rollout.num_prompts; ++g) CHECK(r.rewards[2 * g].total != r.rewards[2 * g + 1].total);
    if (rounds == 0) CHECK(r.metrics.refilled_groups == 0);
    if (rounds == 6) CHECK(r.metrics.refilled_groups > 0);
  }
}

TEST_CASE("rft_step: top_entropy_quantile keeps the policy gradient of the high-entropy tokens only, as TRL") {
  const batch b = numbered(4);
  rft_options o = base_options();
  recording_policy all({"yes", "no", "maybe"}, 0.0), top({"yes", "no", "maybe"}, 0.0);
  all.spread_entropy = top.spread_entropy = true;
  const auto a = rft_step(all, b.samples, b.prompts, graded, o);
  o.top_entropy_quantile = 0.5;
  const auto t = rft_step(top, b.samples, b.prompts, graded, o);
  // 16 rows, entropies 0.25 * ((5 i) mod 8): each of 0, 0.25, ..., 1.75 twice. torch.quantile at q = 0.5: position
  // 7.5 between 0.75 and 1.0, threshold 0.875: the 8 rows with entropy >= 1.0 keep their gradient.
  CHECK(t.metrics.entropy_masked_tokens == 8);
  REQUIRE(top.grads.size() == 16);
  for (std::size_t i = 0; i < 16; ++i) {
    CAPTURE(i);
    const bool high = 0.25f * static_cast<float>((i * 5) % 8) >= 0.875f;
    CHECK(std::bit_cast<std::uint32_t>(top.grads[i]) == std::bit_cast<std::uint32_t>(high ? all.grads[i] : 0.0f));
  }
  CHECK(a.metrics.entropy_masked_tokens == 0);
  recording_policy bare({"yes", "no"});
  bare.no_entropy = true;
  CHECK_THROWS_WITH_AS((void)rft_step(bare, b.samples, b.prompts, graded, o),
                       doctest::Contains("options.top_entropy_quantile needs the rollout's per-token entropy"), error);
  o.top_entropy_quantile = 0.0;
  CHECK_THROWS_WITH_AS((void)rft_step(bare, b.samples, b.prompts, graded, o), doctest::Contains("(0, 1]"), error);
}

TEST_CASE("top_entropy_threshold: TRL's worked example and torch.quantile's interpolation") {
  // As TRL's own test: 10 valid tokens of 12, the top 20 % (quantile 0.8): the 2 highest entropies stay.
  const std::vector<float> h{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 0.0f, 0.0f};
  const std::vector<std::uint8_t> m{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  float t = 0;
  REQUIRE(detail::top_entropy_threshold({h.data(), 3, 4}, {m.data(), 3, 4}, 0.2, t));
  std::size_t kept = 0;
  for (std::size_t i = 0; i < h.size(); ++i) kept += m[i] && h[i] >= t;
  CHECK(kept == 2);
  CHECK(t > 0.8f);
  CHECK(t < 0.9f);
  REQUIRE(detail::top_entropy_threshold({h.data(), 3, 4}, {m.data(), 3, 4}, 1.0, t));
  CHECK(t == 0.1f); // the minimum: every token stays
  const std::vector<std::uint8_t> none(12, 0);
  CHECK(!detail::top_entropy_threshold({h.data(), 3, 4}, {none.data(), 3, 4}, 0.5, t));
}

} // TEST_SUITE("pipeline")
