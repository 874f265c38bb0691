// SPDX-License-Identifier: Apache-2.0
// Ranking metrics at the edges of their documented ranges.
#include <mmrag_rft/metrics/ranking.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstddef>
#include <vector>

using namespace mmrag_rft;

TEST_SUITE("metrics") {

TEST_CASE("ndcg_at_k: grades whose gain overflows a double still give a value in [0, 1]") {
  const std::vector<graded_relevance> rel{{0, 2000.0}, {1, 1.0}, {2, 1999.0}};
  const std::vector<std::size_t> ideal{0, 2, 1}, reversed{1, 2, 0};
  for (const auto gain : {ndcg_gain::exponential, ndcg_gain::linear}) {
    CHECK(ndcg_at_k(ideal, rel, 3, gain) == doctest::Approx(1.0));
    const double r = ndcg_at_k(reversed, rel, 3, gain);
    CHECK(std::isfinite(r));
    CHECK(r >= 0.0);
    CHECK(r < 1.0);
  }
  // Exponential: 2^1999 / log2(3) + 2^2000 / 2 over 2^2000 + 2^1999 / log2(3), the ones negligible.
  const double l3 = std::log2(3.0);
  CHECK(ndcg_at_k(reversed, rel, 3, ndcg_gain::exponential) == doctest::Approx((0.5 / l3 + 0.5) / (1 + 0.5 / l3)));
  // Linear gains that overflow when summed.
  const std::vector<graded_relevance> huge{{0, 1.5e308}, {1, 1.5e308}};
  const std::vector<std::size_t> both{0, 1}, one{5, 1};
  CHECK(ndcg_at_k(both, huge, 2) == doctest::Approx(1.0));
  CHECK(ndcg_at_k(one, huge, 2) == doctest::Approx((1 / l3) / (1 + 1 / l3)));
}

} // TEST_SUITE("metrics")
