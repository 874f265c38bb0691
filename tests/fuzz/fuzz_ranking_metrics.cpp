// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the ranking metrics (NDCG@k binary and graded with both gains, reciprocal rank, P@k, recall@k, AP,
// set P/R/F1). Byte 0 is k, byte 1 the ranking length; then the ranked ids, then the judgements as (id, grade
// code) pairs, where a grade code spans 0 to 1.7e308 so that gains overflow.
#include <mmrag_rft/metrics/ranking.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace {

using mmrag_rft::fuzz::check;

bool unit(double x) { return std::isfinite(x) && x >= 0 && x <= 1 + 1e-12; }
bool near(double a, double b) { return std::fabs(a - b) <= 1e-9 * std::max(1.0, std::fabs(b)); }

// 0..15 as small integers, 16..255 spread over [2^-8, 1.9 * 2^1023] so that exp2 and sums overflow.
double grade_of(std::uint8_t code) {
  if (code < 16) return code;
  return std::ldexp(1.0 + (code & 7) / 8.0, ((code >> 3) - 2) * 1031 / 29 - 8);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t k = 1 + data[0] % 80; // up to 80: both the table path (<= 64) and the sorted one
  const std::size_t n = std::min<std::size_t>(data[1], size - 2);
  std::vector<std::size_t> ranking(data + 2, data + 2 + n);
  std::vector<std::size_t> relevant;
  std::vector<mmrag_rft::graded_relevance> graded, ones;
  for (std::size_t i = 2 + n; i + 1 < size; i += 2) {
    relevant.push_back(data[i]);
    graded.push_back({data[i], grade_of(data[i + 1])});
    ones.push_back({data[i], 1.0});
  }

  const double ndcg = mmrag_rft::ndcg_at_k(ranking, relevant, k);
  const double ndcg_exp = mmrag_rft::ndcg_at_k(ranking, relevant, k, mmrag_rft::ndcg_gain::exponential);
  const double rr = mmrag_rft::reciprocal_rank(ranking, relevant, k);
  const double p = mmrag_rft::precision_at_k(ranking, relevant, k);
  const double rec = mmrag_rft::recall_at_k(ranking, relevant, k);
  const double ap = mmrag_rft::average_precision(ranking, relevant, k);
  check(unit(ndcg) && unit(rr) && unit(p) && unit(rec) && unit(ap), "binary metrics lie in [0, 1]");
  check(ndcg == ndcg_exp, "the two gains agree on binary relevance");
  check(near(ndcg, mmrag_rft::ndcg_at_k(ranking, ones, k)), "binary NDCG equals graded NDCG with grades 1");
  check(ap <= rec + 1e-12, "AP is at most recall");
  check((rr == 0) == (rec == 0), "a reciprocal rank iff some relevant document is ranked");
  if (rr > 0) check(std::fabs(1 / rr - std::round(1 / rr)) < 1e-9, "a reciprocal rank is 1 / rank");
  check(rec <= mmrag_rft::recall_at_k(ranking, relevant, k + 1), "recall@k grows with k");

  // Irrelevant ids appended after the ranking change nothing, and push the lists past 64 (the sorted path).
  std::vector<std::size_t> longer = ranking;
  for (std::size_t id = 1000; longer.size() < 70; ++id) longer.push_back(id);
  const std::size_t big = longer.size();
  check(near(mmrag_rft::ndcg_at_k(ranking, relevant, big), mmrag_rft::ndcg_at_k(longer, relevant, big)),
        "NDCG's table path and sorted path agree");
  check(mmrag_rft::recall_at_k(ranking, relevant, big) == mmrag_rft::recall_at_k(longer, relevant, big),
        "recall ignores trailing irrelevant ids");

  for (const auto gain : {mmrag_rft::ndcg_gain::linear, mmrag_rft::ndcg_gain::exponential}) {
    const double g = mmrag_rft::ndcg_at_k(ranking, graded, k, gain);
    check(unit(g), "graded NDCG lies in [0, 1], whatever the grades");
    // The ideal ranking: ids by decreasing grade (each id's highest grade).
    std::vector<mmrag_rft::graded_relevance> best = graded;
    std::sort(best.begin(), best.end(), [](const auto& a, const auto& b) { return a.grade > b.grade; });
    std::vector<std::size_t> ideal;
    for (const auto& j : best)
      if (j.grade > 0 && std::find(ideal.begin(), ideal.end(), j.id) == ideal.end()) ideal.push_back(j.id);
    if (!ideal.empty()) check(near(mmrag_rft::ndcg_at_k(ideal, graded, k, gain), 1.0), "the ideal ranking has NDCG 1");
  }

  const auto s = mmrag_rft::set_precision_recall_f1(ranking, relevant);
  const auto t = mmrag_rft::set_precision_recall_f1(relevant, ranking);
  check(unit(s.precision) && unit(s.recall) && unit(s.f1), "set scores lie in [0, 1]");
  check(s.precision == t.recall && s.recall == t.precision && s.f1 == t.f1, "set P and R swap with the arguments");
  return 0;
}
