#include <mmrag_rft/metrics/ranking.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

using namespace mmrag_rft;
using ids = std::vector<std::size_t>;

TEST_SUITE("metrics") {

TEST_CASE("ndcg_at_k: worked example with binary relevance") {
  const ids ranking{7, 3, 9}, relevant{3, 9};
  // DCG = 1/log2(3) + 1/log2(4); IDCG = 1 + 1/log2(3).
  CHECK(dcg_at_k(ranking, relevant, 3) == doctest::Approx(1.1309297535714575));
  CHECK(ndcg_at_k(ranking, relevant, 3) == doctest::Approx(0.6934264036172708));
  CHECK(ndcg_at_k(ranking, relevant, 3, ndcg_gain::exponential) == doctest::Approx(0.6934264036172708));
  CHECK(ndcg_at_k(ranking, relevant, 1) == 0.0);
  CHECK(ndcg_at_k(ids{3, 9, 7}, relevant, 3) == doctest::Approx(1.0));
}

TEST_CASE("ndcg_at_k: k larger than the ranking keeps the ideal list of all relevant documents") {
  const ids ranking{3}, relevant{3, 9};
  CHECK(ndcg_at_k(ranking, relevant, 5) == doctest::Approx(0.6131471927654584));
  CHECK(precision_at_k(ranking, relevant, 5) == doctest::Approx(0.2));
  CHECK(recall_at_k(ranking, relevant, 5) == doctest::Approx(0.5));
}

TEST_CASE("ranking metrics: zero when there are no relevant documents or no ranking") {
  const ids ranking{1, 2, 3}, none{}, empty{};
  CHECK(dcg_at_k(ranking, none, 3) == 0.0);
  CHECK(ndcg_at_k(ranking, none, 3) == 0.0);
  CHECK(reciprocal_rank(ranking, none) == 0.0);
  CHECK(precision_at_k(ranking, none, 3) == 0.0);
  CHECK(recall_at_k(ranking, none, 3) == 0.0);
  CHECK(average_precision(ranking, none) == 0.0);
  CHECK(ndcg_at_k(empty, ranking, 3) == 0.0);
  CHECK(average_precision(empty, ranking) == 0.0);
}

TEST_CASE("ranking metrics: k = 0 is an error") {
  const ids r{1}, rel{1};
  CHECK_THROWS_AS((void)dcg_at_k(r, rel, 0), mmrag_rft::error);
  CHECK_THROWS_AS((void)ndcg_at_k(r, rel, 0), mmrag_rft::error);
  CHECK_THROWS_AS((void)reciprocal_rank(r, rel, 0), mmrag_rft::error);
  CHECK_THROWS_AS((void)precision_at_k(r, rel, 0), mmrag_rft::error);
  CHECK_THROWS_AS((void)recall_at_k(r, rel, 0), mmrag_rft::error);
  CHECK_THROWS_AS((void)average_precision(r, rel, 0), mmrag_rft::error);
  try {
    (void)ndcg_at_k(r, rel, 0);
  } catch (const mmrag_rft::error& e) {
    CHECK(e.function() == "ndcg_at_k");
    CHECK(e.argument() == "k");
  }
}

TEST_CASE("ranking metrics: a duplicate keeps its slot but scores once") {
  const ids ranking{3, 3, 9}, relevant{3, 9};
  CHECK(dcg_at_k(ranking, relevant, 2) == doctest::Approx(1.0));
  CHECK(dcg_at_k(ranking, relevant, 3) == doctest::Approx(1.5));
  CHECK(precision_at_k(ranking, relevant, 2) == doctest::Approx(0.5));
  CHECK(recall_at_k(ranking, relevant, 2) == doctest::Approx(0.5));
  CHECK(precision_at_k(ids{3, 3, 3}, relevant, 3) == doctest::Approx(1.0 / 3));
  // AP = (1/1 + 2/3) / 2
  CHECK(average_precision(ranking, relevant) == doctest::Approx((1.0 + 2.0 / 3) / 2));
  // Duplicates in the relevant list count once too.
  CHECK(recall_at_k(ids{3}, ids{3, 3, 9}, 1) == doctest::Approx(0.5));
}

TEST_CASE("ndcg_at_k: graded relevance with linear and exponential gain") {
  const ids ranking{1, 2, 3};
  const std::vector<graded_relevance> rel{{1, 3}, {2, 0}, {3, 2}, {4, 1}};
  CHECK(dcg_at_k(ranking, rel, 3) == doctest::Approx(4.0));
  CHECK(dcg_at_k(ranking, rel, 3, ndcg_gain::exponential) == doctest::Approx(8.5));
  CHECK(ndcg_at_k(ranking, rel, 3) == doctest::Approx(0.8400079830158563));
  CHECK(ndcg_at_k(ranking, rel, 3, ndcg_gain::exponential) == doctest::Approx(0.9049495058460971));
  // A document judged twice keeps its highest grade.
  const std::vector<graded_relevance> twice{{1, 1}, {1, 3}};
  CHECK(dcg_at_k(ids{1}, twice, 1) == doctest::Approx(3.0));
  const std::vector<graded_relevance> zero{{1, 0}};
  CHECK(ndcg_at_k(ids{1}, zero, 1) == 0.0);
  const std::vector<graded_relevance> bad{{1, -1}};
  CHECK_THROWS_AS((void)ndcg_at_k(ids{1}, bad, 1, ndcg_gain::linear, negative_grades::reject), mmrag_rft::error);
  const std::vector<graded_relevance> nan{{1, std::numeric_limits<double>::quiet_NaN()}};
  CHECK_THROWS_AS((void)dcg_at_k(ids{1}, nan, 1), mmrag_rft::error);
}

TEST_CASE("ndcg_at_k: negative grades have gain 0 as in trec_eval unless rejected") {
  // trec_eval adds gain only for rel_level > 0 and builds the ideal list from those judgements, so a -1 or -2
  // document is judged non-relevant. Judgements {1: 2, 2: -1, 3: -2}, ranking {2, 1, 3}, k = 3:
  // DCG = 0 / 1 + 2 / log2(3) + 0 / 2 = 1.2618595, IDCG = 2 / 1 = 2, NDCG = 0.63092975.
  const std::vector<graded_relevance> rel{{1, 2}, {2, -1}, {3, -2}};
  const ids ranking{2, 1, 3};
  CHECK(dcg_at_k(ranking, rel, 3) == doctest::Approx(2.0 / std::log2(3.0)));
  CHECK(ndcg_at_k(ranking, rel, 3) == doctest::Approx(0.6309297535714575));
  CHECK(ndcg_at_k(ranking, rel, 3, ndcg_gain::linear, negative_grades::as_zero) == doctest::Approx(0.6309297535714575));
  // Exponential gain: 2^2 - 1 = 3 over ideal 3, same ratio; a negative grade does not give 2^-1 - 1 < 0.
  CHECK(ndcg_at_k(ranking, rel, 3, ndcg_gain::exponential) == doctest::Approx(0.6309297535714575));
  // Only negative grades: no relevant document, NDCG 0 (trec_eval: IDCG 0).
  const std::vector<graded_relevance> all_negative{{1, -1}, {2, -3}};
  CHECK(ndcg_at_k(ranking, all_negative, 3) == 0.0);
  // A document judged -1 and 1 keeps 1.
  const std::vector<graded_relevance> twice{{1, -1}, {1, 1}};
  CHECK(dcg_at_k(ids{1}, twice, 1) == doctest::Approx(1.0));
  try {
    (void)dcg_at_k(ranking, rel, 3, ndcg_gain::linear, negative_grades::reject);
    FAIL("a negative grade must throw under negative_grades::reject");
  } catch (const mmrag_rft::error& e) {
    CHECK(e.function() == "dcg_at_k");
    CHECK(std::string(e.what()).find("relevance[1]") != std::string::npos);
  }
}

TEST_CASE("reciprocal_rank: first relevant document, with and without cut-off") {
  const ids ranking{5, 6, 7, 8}, relevant{7, 8};
  CHECK(reciprocal_rank(ranking, relevant) == doctest::Approx(1.0 / 3));
  CHECK(reciprocal_rank(ranking, relevant, 3) == doctest::Approx(1.0 / 3));
  CHECK(reciprocal_rank(ranking, relevant, 2) == 0.0);
}

TEST_CASE("average_precision: divides by all relevant documents") {
  const ids ranking{4, 1, 8, 2}, relevant{1, 2, 5};
  CHECK(average_precision(ranking, relevant) == doctest::Approx((0.5 + 0.5) / 3));
  CHECK(average_precision(ranking, relevant, 2) == doctest::Approx(0.5 / 3));
  CHECK(recall_at_k(ranking, relevant, 4) == doctest::Approx(2.0 / 3));
  CHECK(precision_at_k(ranking, relevant, 4) == doctest::Approx(0.5));
}

TEST_CASE("set_precision_recall_f1: sets, duplicates once, empty sets score 0") {
  const ids pred{1, 2, 2, 3}, gold{2, 3, 4, 5}, empty{};
  const auto s = set_precision_recall_f1(pred, gold);
  CHECK(s.precision == doctest::Approx(2.0 / 3));
  CHECK(s.recall == doctest::Approx(0.5));
  CHECK(s.f1 == doctest::Approx(4.0 / 7));
  CHECK(set_precision_recall_f1(empty, gold).f1 == 0.0);
  CHECK(set_precision_recall_f1(pred, empty).f1 == 0.0);
  CHECK(set_precision_recall_f1(empty, empty).precision == 0.0);
  const std::vector<std::string> a{"x", "y"}, b{"y"};
  CHECK(set_precision_recall_f1(a, b).f1 == doctest::Approx(2.0 / 3));
}

TEST_CASE("ranking metrics: long lists (sorted path) agree with a direct computation") {
  // 300 positions with every id repeated once (ids 0..149 twice, interleaved); relevant = multiples of 3 up to 400.
  ids ranking, relevant;
  for (std::size_t i = 0; i < 150; ++i) ranking.push_back(i), ranking.push_back(149 - i);
  for (std::size_t i = 0; i <= 400; i += 3) relevant.push_back(i);
  double dcg = 0, ideal = 0, ap = 0;
  std::size_t hits = 0, first = 0;
  std::vector<char> seen(150, 0);
  for (std::size_t p = 0; p < ranking.size(); ++p) {
    const std::size_t id = ranking[p];
    if (seen[id]) continue;
    seen[id] = 1;
    if (id % 3 != 0) continue;
    ++hits;
    if (!first) first = p + 1;
    dcg += 1 / std::log2(static_cast<double>(p) + 2.0);
    ap += static_cast<double>(hits) / static_cast<double>(p + 1);
  }
  for (std::size_t p = 0; p < relevant.size(); ++p) ideal += 1 / std::log2(static_cast<double>(p) + 2.0);
  const std::size_t k = ranking.size();
  const auto dbl = [](std::size_t v) { return static_cast<double>(v); };
  CHECK(dcg_at_k(ranking, relevant, k) == doctest::Approx(dcg));
  CHECK(ndcg_at_k(ranking, relevant, 1000) == doctest::Approx(dcg / ideal));
  CHECK(average_precision(ranking, relevant) == doctest::Approx(ap / dbl(relevant.size())));
  CHECK(recall_at_k(ranking, relevant, k) == doctest::Approx(dbl(hits) / dbl(relevant.size())));
  CHECK(precision_at_k(ranking, relevant, k) == doctest::Approx(dbl(hits) / dbl(k)));
  CHECK(reciprocal_rank(ranking, relevant) == doctest::Approx(1.0 / dbl(first)));
}

TEST_CASE("ndcg_at_k: short lists (table path) are bitwise equal to the trec_eval loop") {
  // The loop the fast path replaces: first occurrences only, gain / log2(rank + 1), ideal over distinct relevant.
  const auto reference = [](const ids& ranking, const ids& relevant, std::size_t k, ndcg_gain gain) {
    const auto has = [](const ids& v, std::size_t end, std::size_t id) {
      for (std::size_t i = 0; i < end; ++i)
        if (v[i] == id) return true;
      return false;
    };
    const double g1 = gain == ndcg_gain::linear ? 1.0 : std::exp2(1.0) - 1.0;
    std::size_t distinct = 0;
    for (std::size_t i = 0; i < relevant.size(); ++i) distinct += !has(relevant, i, relevant[i]);
    double ideal = 0, dcg = 0;
    for (std::size_t p = 0; p < std::min(k, distinct); ++p) ideal += g1 / std::log2(static_cast<double>(p) + 2.0);
    for (std::size_t p = 0; p < std::min(k, ranking.size()); ++p)
      if (!has(ranking, p, ranking[p]) && has(relevant, relevant.size(), ranking[p]))
        dcg += g1 / std::log2(static_cast<double>(p) + 2.0);
    return ideal > 0 ? dcg / ideal : 0.0;
  };
  std::uint64_t x = 12345;
  const auto next = [&](std::size_t m) { // xorshift: deterministic and independent of the standard library
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return static_cast<std::size_t>(x % m);
  };
  for (int trial = 0; trial < 2000; ++trial) {
    ids ranking(next(70)), relevant(next(12));
    const std::size_t docs = 1 + next(80);
    for (auto& r : ranking) r = next(docs); // duplicates included
    for (auto& g : relevant) g = next(docs);
    const std::size_t k = 1 + next(72);
    for (const ndcg_gain gain : {ndcg_gain::linear, ndcg_gain::exponential})
      CHECK(ndcg_at_k(ranking, relevant, k, gain) == reference(ranking, relevant, k, gain));
  }
}

TEST_CASE("rank_by_scores: decreasing score, ties by decreasing id, NaN last") {
  const std::vector<double> scores{0.5, 0.9, 0.5, std::numeric_limits<double>::quiet_NaN(), 0.1};
  CHECK(rank_by_scores(scores) == ids{1, 2, 0, 4, 3});
  CHECK(rank_by_scores(std::vector<double>{}).empty());
}

} // TEST_SUITE("metrics")
