// SPDX-License-Identifier: Apache-2.0
// The batch breakdown of a stage-2 composite feeding GDPO, and REARANK's relative-improvement ranking reward.
#include <mmrag_rft/advantages/gdpo.hpp>
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

using namespace mmrag_rft;
using rewards_test::make_sample;
using rewards_test::stage2;

namespace {
// NDCG@k with binary gains, written out for the worked examples: positions are 1-based ranks of gold documents.
double ndcg_of(const std::vector<double>& gold_ranks, std::size_t num_gold, std::size_t k) {
  double dcg = 0, idcg = 0;
  for (double r : gold_ranks)
    if (r <= static_cast<double>(k)) dcg += 1.0 / std::log2(r + 1.0);
  for (std::size_t i = 1; i <= std::min(num_gold, k); ++i) idcg += 1.0 / std::log2(static_cast<double>(i) + 1.0);
  return dcg / idcg;
}

// The stage-2 composite: format (0.5), ranking NDCG@3 (1), answer (1).
auto stage2_reward() {
  return composite{weighted(stage2_format(), 0.5), weighted(ranking_rule({.k = 3}), 1.0), weighted(answer_rule(), 1.0)};
}

ranking_rule relative_ndcg(std::size_t k) {
  ranking_rule_options o;
  o.k = k;
  o.relative_to_initial = true;
  return ranking_rule(o);
}
} // namespace

TEST_SUITE("rewards") {

TEST_CASE("batch_scores::matrix: the per-rule scores as an items x rules view, in composite order") {
  const auto reward = stage2_reward();
  const std::vector<sample> samples{make_sample(4, {1, 2}, {"the Seine"})};
  const std::vector<completion> c{stage2("[2, 3]", "the Seine"), stage2("[1, 4]", "the Seine"),
                                  stage2("[2, 3]", "the Thames"), stage2("[2, 4, 3]", "Seine")};
  const batch_scores b = score_batch(reward, c, samples, group_layout::uniform(1, 4));
  const matrix_view<const double> m = b.matrix();
  CHECK(m.rows() == 4);
  CHECK(m.cols() == 3);
  for (std::size_t i = 0; i < 4; ++i) {
    const reward_breakdown one = reward.score(c[i], samples[0]);
    for (std::size_t r = 0; r < 3; ++r) CHECK(m(i, r) == one.scores[r]);
    CHECK(b.totals[i] == one.total);
  }
}

TEST_CASE("stage-2 composite -> batch breakdown -> gdpo_advantages: ranking-only and answer-only no longer tie") {
  const auto reward = stage2_reward();
  const std::vector<sample> samples{make_sample(4, {1, 2}, {"the Seine"})};
  // Format ok everywhere; ranking {1, 0, 0, 0}; answer {0, 1, 1, 0}: totals 1.5, 1.5, 1.5, 0.5.
  const std::vector<completion> c{stage2("[2, 3]", "the Thames"), stage2("[1, 4]", "the Seine"),
                                  stage2("[4, 1]", "Seine"), stage2("[1, 4]", "Paris")};
  const auto groups = group_layout::uniform(1, 4);
  const batch_scores b = score_batch(reward, c, samples, groups);
  const matrix_view<const double> m = b.matrix();
  const std::vector<double> want{1, 1, 0, 1, 0, 1, 1, 0, 1, 1, 0, 0};
  for (std::size_t i = 0; i < 4; ++i)
    for (std::size_t r = 0; r < 3; ++r) CHECK(m(i, r) == want[i * 3 + r]);
  std::vector<double> grpo(4), gdpo(4);
  (void)grpo_advantages(b.totals, groups, grpo);
  CHECK(grpo[0] == grpo[1]); // GRPO of the total cannot tell the two apart
  gdpo_options o;
  o.component.epsilon = 0;
  o.batch_epsilon = 0;
  const auto s = gdpo_advantages(m, b.weights, groups, gdpo, o);
  CHECK(s.degenerate_groups == 0);
  // The format column is all-equal and adds 0; the rest is the hand-worked case of tests/advantages/gdpo_test.cpp.
  CHECK(gdpo[0] == doctest::Approx(0.6895512650714745).epsilon(1e-13));
  CHECK(gdpo[1] == doctest::Approx(0.3981126085090629).epsilon(1e-13));
  CHECK(gdpo[2] == doctest::Approx(0.3981126085090629).epsilon(1e-13));
  CHECK(gdpo[3] == doctest::Approx(-1.4857764820896002).epsilon(1e-13));
}

TEST_CASE("ranking_rule relative_to_initial: REARANK's relative NDCG improvement over the given order") {
  // Gold {1, 2} of 4, k = 3. Given order 0, 1, 2, 3: gold at ranks 2 and 3. [2, 4, 3]: gold at ranks 1 and 3.
  const sample s = make_sample(4, {1, 2});
  const ranking_rule r = relative_ndcg(3);
  const double initial = ndcg_of({2, 3}, 2, 3), got = ndcg_of({1, 3}, 2, 3);
  CHECK(r(stage2("[2, 4, 3]", "x"), s) == doctest::Approx((got - initial) / (1.0 - initial)).epsilon(1e-14));
  CHECK(r(stage2("[2, 3]", "x"), s) == doctest::Approx(1.0));                   // the ideal order: gain 1
  CHECK(r(stage2("[1, 2, 3]", "x"), s) == doctest::Approx(0.0).epsilon(1e-14)); // the given order: gain 0
  // Worse than the given order is negative: gold {1}, given rank 2; [3, 4] drops it out of the top 3.
  const sample one = make_sample(4, {1});
  const double init1 = 1.0 / std::log2(3.0);
  CHECK(r(stage2("[3, 4]", "x"), one) == doctest::Approx(-init1 / (1.0 - init1)).epsilon(1e-14));
  // Explanation: the plain metric, the given order's, and the gain.
  std::string out;
  r.explain(stage2("[2, 4, 3]", "x"), s, out);
  CHECK(out == "ranked 2 of 2 gold docs in top-3, NDCG@3 0.92 (given order 0.69), relative gain 0.74");
}

TEST_CASE("ranking_rule relative_to_initial: an already ideal given order scores the plain NDCG; no gold scores 0") {
  const sample s = make_sample(4, {0, 1}); // the given order is ideal: no headroom
  const ranking_rule r = relative_ndcg(3);
  CHECK(r(stage2("[2, 1]", "x"), s) == doctest::Approx(1.0));
  CHECK(r(stage2("[3, 4]", "x"), s) == 0.0);
  CHECK(r(stage2("[3, 1, 2]", "x"), s) == doctest::Approx(ndcg_of({2, 3}, 2, 3)).epsilon(1e-14));
  CHECK(r(stage2("[2, 1]", "x"), make_sample(4, {})) == 0.0);
  // Invalid rankings keep the `invalid` score, not a gain.
  CHECK(r(stage2("[2, 2]", "x"), s) == 0.0);
  // Property: never above 1, and 1 exactly for the orders with NDCG 1, over every order of 4 documents.
  const sample g = make_sample(4, {3, 1});
  std::vector<std::size_t> p{1, 2, 3, 4};
  do {
    std::string text = "[";
    for (std::size_t i = 0; i < p.size(); ++i) text += (i ? ", " : "") + std::to_string(p[i]);
    const double v = r(stage2(text + "]", "x"), g);
    const double plain = ranking_rule({.k = 3})(stage2(text + "]", "x"), g);
    CHECK(v <= 1.0 + 1e-15);
    CHECK((std::abs(v - 1.0) < 1e-12) == (std::abs(plain - 1.0) < 1e-12));
    CHECK(std::isfinite(v));
  } while (std::next_permutation(p.begin(), p.end()));
}

} // TEST_SUITE("rewards")
