// SPDX-License-Identifier: Apache-2.0
// Ranking metrics of one query: DCG/NDCG@k, reciprocal rank, precision/recall@k, average precision, set P/R/F1.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/metrics/detail/overlap.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <functional>
#include <limits>
#include <numeric>
#include <ranges>
#include <span>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// Gain applied to a relevance grade in DCG: `linear` is the grade itself (trec_eval `ndcg_cut`, ranx default),
/// `exponential` is 2^grade - 1 (Burges et al. 2005; ranx `ndcg_burges`). The two agree on binary relevance.
enum class ndcg_gain { linear, exponential };

/// What the graded metrics do with a negative relevance grade. `as_zero` is trec_eval's convention (qrels often mark
/// spam or harmful documents with -1 or -2): the document counts as judged non-relevant, gain 0, and is left out of
/// the ideal ranking. `reject` throws `mmrag_rft::error`, for callers whose grades can only be >= 0 and who want a
/// negative one reported as the bug it is. [trec_eval m_ndcg_cut.c: only rel_level > 0 adds gain]
enum class negative_grades { as_zero, reject };

/// One graded relevance judgement: document `id` has relevance `grade` (finite; 0 = judged non-relevant; a negative
/// grade as `negative_grades` says).
struct graded_relevance {
  std::size_t id;
  double grade;
};

/// Precision, recall and F1 of a predicted set against a gold set.
struct set_scores {
  double precision;
  double recall;
  double f1;
};

namespace detail {

// Up to this many ranked positions (or judgements) a quadratic scan beats sorting and needs no allocation.
inline constexpr std::size_t small_ranking = 64;

inline void require_k(std::size_t k, const char* fn) { require(k >= 1, fn, "k", "must be >= 1"); }

// Calls fn(position, id) for every position p < n whose id did not occur at an earlier position, in order.
// The first occurrence of a document is the one that counts; later copies keep their slot but score nothing.
template <class Fn>
void for_each_first_occurrence(std::span<const std::size_t> r, std::size_t n, Fn&& fn) {
  if (n <= small_ranking) {
    for (std::size_t p = 0; p < n; ++p) {
      bool seen = false;
      for (std::size_t q = 0; q < p && !seen; ++q) seen = r[q] == r[p];
      if (!seen) fn(p, r[p]);
    }
    return;
  }
  std::vector<std::pair<std::size_t, std::size_t>> by_id(n);
  for (std::size_t p = 0; p < n; ++p) by_id[p] = {r[p], p};
  std::sort(by_id.begin(), by_id.end());
  std::vector<char> first(n, 0);
  for (std::size_t i = 0; i < n; ++i)
    if (i == 0 || by_id[i].first != by_id[i - 1].first) first[by_id[i].second] = 1;
  for (std::size_t p = 0; p < n; ++p)
    if (first[p]) fn(p, r[p]);
}

// Membership in a binary relevant set: a linear scan when small, a sorted copy otherwise.
class binary_judgements {
public:
  explicit binary_judgements(std::span<const std::size_t> relevant) : ids_(relevant) {
    if (relevant.size() > small_ranking) {
      sorted_.assign(relevant.begin(), relevant.end());
      std::sort(sorted_.begin(), sorted_.end());
      sorted_.erase(std::unique(sorted_.begin(), sorted_.end()), sorted_.end());
      distinct_ = sorted_.size();
    } else {
      for (std::size_t i = 0; i < relevant.size(); ++i)
        if (std::find(relevant.begin(), relevant.begin() + static_cast<std::ptrdiff_t>(i), relevant[i]) ==
            relevant.begin() + static_cast<std::ptrdiff_t>(i))
          ++distinct_;
    }
  }
  [[nodiscard]] bool contains(std::size_t id) const {
    if (!sorted_.empty()) return std::binary_search(sorted_.begin(), sorted_.end(), id);
    return std::find(ids_.begin(), ids_.end(), id) != ids_.end();
  }
  [[nodiscard]] double grade(std::size_t id) const { return contains(id) ? 1.0 : 0.0; }
  [[nodiscard]] std::size_t num_relevant() const noexcept { return distinct_; }

private:
  std::span<const std::size_t> ids_;
  std::vector<std::size_t> sorted_;
  std::size_t distinct_ = 0;
};

// Graded judgements; a document judged twice keeps its highest grade.
class graded_judgements {
public:
  graded_judgements(std::span<const graded_relevance> j, const char* fn, negative_grades negative) {
    for (std::size_t i = 0; i < j.size(); ++i) {
      require(std::isfinite(j[i].grade), fn, "relevance", "grade must be finite", i);
      require(negative == negative_grades::as_zero || j[i].grade >= 0, fn, "relevance",
              "grade must be >= 0 (negative_grades::reject)", i);
    }
    sorted_.assign(j.begin(), j.end());
    for (auto& g : sorted_) g.grade = std::max(g.grade, 0.0);
    std::sort(sorted_.begin(), sorted_.end(), [](const graded_relevance& a, const graded_relevance& b) {
      return a.id != b.id ? a.id < b.id : a.grade > b.grade;
    });
    sorted_.erase(std::unique(sorted_.begin(), sorted_.end(),
                              [](const graded_relevance& a, const graded_relevance& b) { return a.id == b.id; }),
                  sorted_.end());
  }
  [[nodiscard]] double grade(std::size_t id) const {
    const auto it = std::lower_bound(sorted_.begin(), sorted_.end(), id,
                                     [](const graded_relevance& a, std::size_t v) { return a.id < v; });
    return (it != sorted_.end() && it->id == id) ? it->grade : 0.0;
  }
  // The positive grades, best first: the ideal ranking.
  [[nodiscard]] std::vector<double> ideal() const {
    std::vector<double> g;
    for (const auto& j : sorted_)
      if (j.grade > 0) g.push_back(j.grade);
    std::sort(g.begin(), g.end(), std::greater<>());
    return g;
  }

private:
  std::vector<graded_relevance> sorted_;
};

[[nodiscard]] inline double apply_gain(double grade, ndcg_gain gain) noexcept {
  return gain == ndcg_gain::linear ? grade : std::exp2(grade) - 1.0;
}

// log2(p + 2) for the first `small_ranking` positions, and the binary ideal DCG of the first m positions
// (sum of 1 / log2(p + 2), p < m, added in that order), computed once. The entries are the very values the formulas
// give when evaluated per call, so using them changes no bit (g++ 12 / glibc: constant-folded and run-time log2 of
// 2..65 agree); they save a libm call per position.
struct discount_table {
  std::array<double, small_ranking> log2{};
  std::array<double, small_ranking + 1> binary_ideal{};
};
[[nodiscard]] inline const discount_table& discounts() noexcept {
  static const discount_table t = [] {
    discount_table d;
    for (std::size_t p = 0; p < small_ranking; ++p) {
      d.log2[p] = std::log2(static_cast<double>(p) + 2.0);
      d.binary_ideal[p + 1] = d.binary_ideal[p] + 1.0 / d.log2[p];
    }
    return d;
  }();
  return t;
}

// log2(rank + 1) for the 0-based position p, i.e. the discount of rank p + 1.
[[nodiscard]] inline double discount(std::size_t p) noexcept {
  return p < small_ranking ? discounts().log2[p] : std::log2(static_cast<double>(p) + 2.0);
}

// DCG with the gain of a grade given by `gain_of`.
template <class J, class Gain>
[[nodiscard]] double dcg_with(std::span<const std::size_t> ranking, const J& judged, std::size_t k, Gain&& gain_of) {
  double s = 0;
  for_each_first_occurrence(ranking, std::min(k, ranking.size()), [&](std::size_t p, std::size_t id) {
    const double g = judged.grade(id);
    if (g > 0) s += gain_of(g) / discount(p);
  });
  return s;
}

template <class J>
[[nodiscard]] double dcg(std::span<const std::size_t> ranking, const J& judged, std::size_t k, ndcg_gain gain) {
  return dcg_with(ranking, judged, k, [gain](double g) { return apply_gain(g, gain); });
}

// The ideal DCG@k of the positive grades `best` (best first) under `gain_of`.
template <class Gain>
[[nodiscard]] double ideal_dcg(const std::vector<double>& best, std::size_t k, Gain&& gain_of) {
  double ideal = 0;
  for (std::size_t p = 0; p < std::min(k, best.size()); ++p) ideal += gain_of(best[p]) / discount(p);
  return ideal;
}

struct hit_counts {
  std::size_t hits = 0;       // distinct relevant documents in the first k positions
  std::size_t first_rank = 0; // 1-based rank of the first relevant document, 0 if none
  double precision_sum = 0;   // sum of precision at the rank of each hit (numerator of AP)
};

[[nodiscard]] inline hit_counts count_hits(std::span<const std::size_t> ranking, const binary_judgements& judged,
                                           std::size_t k) {
  hit_counts h;
  for_each_first_occurrence(ranking, std::min(k, ranking.size()), [&](std::size_t p, std::size_t id) {
    if (!judged.contains(id)) return;
    ++h.hits;
    if (h.first_rank == 0) h.first_rank = p + 1;
    h.precision_sum += static_cast<double>(h.hits) / static_cast<double>(p + 1);
  });
  return h;
}

} // namespace detail

// The conventions shared by every function below (docs/metrics.md has them with worked examples):
// - `ranking` lists document ids best first; rank r is position r - 1.
// - A document that occurs again later in `ranking` keeps its slot (it still uses up one of the k positions) but
//   scores only at its first occurrence. trec_eval rejects such a run and ranx cannot represent it; counting it once
//   keeps every metric in its range and makes a duplicate a wasted slot, which is what a reward should say.
// - Ids in `relevant` that never appear in `ranking` still count as relevant (recall and AP divide by all of them).
// - A query with no relevant documents scores 0 on every metric (trec_eval), and k = 0 throws `mmrag_rft::error`.

/// Discounted cumulative gain of the first k positions: DCG@k = sum over ranks r <= min(k, n) of
/// gain(rel_r) / log2(r + 1), with gain = rel (linear) or 2^rel - 1 (exponential), binary rel in {0, 1}.
/// [trec_eval m_ndcg_cut.c; Jarvelin & Kekalainen 2002; ranx ndcg]
///
/// k larger than the ranking uses the whole ranking. An empty ranking or no relevant documents gives 0.
/// Throws `mmrag_rft::error` when k = 0. Complexity: O(k * (k + |relevant|)) for lists of up to 64, else
/// O((k + |relevant|) log), allocation only in the latter case.
[[nodiscard]] inline double dcg_at_k(std::span<const std::size_t> ranking, std::span<const std::size_t> relevant,
                                     std::size_t k, ndcg_gain gain = ndcg_gain::linear) {
  detail::require_k(k, "dcg_at_k");
  return detail::dcg(ranking, detail::binary_judgements(relevant), k, gain);
}

/// DCG@k with graded relevance: the gain of a document is gain(grade) from `relevance` (0 for unjudged documents).
/// [trec_eval m_ndcg_cut.c; ranx ndcg / ndcg_burges]
///
/// A document judged twice keeps its highest grade; a negative grade counts as 0 (trec_eval) unless `negative` is
/// `negative_grades::reject`. Throws `mmrag_rft::error` when k = 0, a grade is not finite, or a grade is negative
/// under `reject`. Complexity: O((k + |relevance|) log |relevance|); allocates a sorted copy of `relevance`.
[[nodiscard]] inline double dcg_at_k(std::span<const std::size_t> ranking, std::span<const graded_relevance> relevance,
                                     std::size_t k, ndcg_gain gain = ndcg_gain::linear,
                                     negative_grades negative = negative_grades::as_zero) {
  detail::require_k(k, "dcg_at_k");
  return detail::dcg(ranking, detail::graded_judgements(relevance, "dcg_at_k", negative), k, gain);
}

/// Normalised DCG: NDCG@k = DCG@k / IDCG@k, where IDCG@k is the DCG@k of the ideal ranking, all relevant documents
/// sorted by grade and cut at k. [trec_eval m_ndcg_cut.c; ranx ndcg]
///
/// In [0, 1]. No relevant documents (IDCG = 0) gives 0. Throws `mmrag_rft::error` when k = 0.
/// Complexity: as `dcg_at_k`. Example: ranking {7, 3, 9}, relevant {3, 9}, k = 3:
/// DCG = 1/log2(3) + 1/log2(4) = 1.1309, IDCG = 1 + 1/log2(3) = 1.6309, NDCG@3 = 0.6934.
[[nodiscard]] inline double ndcg_at_k(std::span<const std::size_t> ranking, std::span<const std::size_t> relevant,
                                      std::size_t k, ndcg_gain gain = ndcg_gain::linear) {
  detail::require_k(k, "ndcg_at_k");
  const std::size_t n = std::min(k, ranking.size());
  if (n <= detail::small_ranking && relevant.size() <= detail::small_ranking) {
    // The usual reward case (a few labels, a few gold documents): linear scans, the tables, nothing built.
    // A binary grade's gain is 1 under both gains, so the ideal DCG is the table's prefix sum.
    std::size_t distinct = 0;
    for (std::size_t i = 0; i < relevant.size(); ++i)
      distinct += std::find(relevant.begin(), relevant.begin() + static_cast<std::ptrdiff_t>(i), relevant[i]) ==
                  relevant.begin() + static_cast<std::ptrdiff_t>(i);
    const detail::discount_table& t = detail::discounts();
    const double ideal = t.binary_ideal[std::min({k, distinct, detail::small_ranking})];
    if (!(ideal > 0)) return 0.0;
    double s = 0;
    for (std::size_t p = 0; p < n; ++p) {
      const std::size_t id = ranking[p];
      if (std::find(relevant.begin(), relevant.end(), id) == relevant.end()) continue;
      if (std::find(ranking.begin(), ranking.begin() + static_cast<std::ptrdiff_t>(p), id) !=
          ranking.begin() + static_cast<std::ptrdiff_t>(p))
        continue; // a repeat scores nothing
      s += detail::apply_gain(1.0, gain) / t.log2[p];
    }
    return s / ideal;
  }
  const detail::binary_judgements judged(relevant);
  double ideal = 0;
  const std::size_t m = std::min(k, judged.num_relevant());
  for (std::size_t p = 0; p < m; ++p) ideal += detail::apply_gain(1.0, gain) / detail::discount(p);
  return ideal > 0 ? detail::dcg(ranking, judged, k, gain) / ideal : 0.0;
}

/// NDCG@k with graded relevance; the ideal ranking sorts the positive grades, best first.
/// [trec_eval m_ndcg_cut.c; ranx ndcg / ndcg_burges]
///
/// In [0, 1] for every finite grade, also where the gains themselves overflow a double (exponential gain of a grade
/// from 1024 on): then each gain is divided by the best grade's first. No positive grade gives 0. Negative grades as
/// in `dcg_at_k`: gain 0 and not in the ideal ranking by default (trec_eval), an error under
/// `negative_grades::reject`. Throws `mmrag_rft::error` when k = 0 or a grade is not finite. Example: judgements
/// {1: 2, 2: -1}, ranking {2, 1}, k = 2: DCG = 0 + 2 / log2(3), IDCG = 2, NDCG = 0.6309.
[[nodiscard]] inline double ndcg_at_k(std::span<const std::size_t> ranking, std::span<const graded_relevance> relevance,
                                      std::size_t k, ndcg_gain gain = ndcg_gain::linear,
                                      negative_grades negative = negative_grades::as_zero) {
  detail::require_k(k, "ndcg_at_k");
  const detail::graded_judgements judged(relevance, "ndcg_at_k", negative);
  const std::vector<double> best = judged.ideal();
  const auto plain = [gain](double g) { return detail::apply_gain(g, gain); };
  double ideal = detail::ideal_dcg(best, k, plain);
  double found = ideal > 0 ? detail::dcg_with(ranking, judged, k, plain) : 0.0;
  if (!std::isfinite(ideal) || !std::isfinite(found)) {
    // The gains overflow a double (2^grade - 1 from grade 1024 on, or linear grades near the largest double), and
    // inf / inf is NaN. NDCG is a ratio, so divide every gain by the best grade's: each lies in [0, 1] then.
    const double top = best.front();
    const auto scaled = [gain, top](double g) {
      return gain == ndcg_gain::linear ? g / top : std::exp2(g - top) - std::exp2(-top);
    };
    ideal = detail::ideal_dcg(best, k, scaled);
    found = detail::dcg_with(ranking, judged, k, scaled);
  }
  return ideal > 0 ? found / ideal : 0.0;
}

/// Reciprocal rank: 1 / rank of the first relevant document among the first k positions, 0 if there is none;
/// MRR is its mean over queries. [trec_eval m_recip_rank.c; ranx mrr]
///
/// Throws `mmrag_rft::error` when k = 0. Complexity: as `dcg_at_k`.
[[nodiscard]] inline double reciprocal_rank(std::span<const std::size_t> ranking, std::span<const std::size_t> relevant,
                                            std::size_t k) {
  detail::require_k(k, "reciprocal_rank");
  const auto h = detail::count_hits(ranking, detail::binary_judgements(relevant), k);
  return h.first_rank ? 1.0 / static_cast<double>(h.first_rank) : 0.0;
}

/// Reciprocal rank over the whole ranking (no cut-off), as trec_eval's `recip_rank`.
[[nodiscard]] inline double reciprocal_rank(std::span<const std::size_t> ranking,
                                            std::span<const std::size_t> relevant) {
  return reciprocal_rank(ranking, relevant, std::numeric_limits<std::size_t>::max());
}

/// Precision at k: P@k = |relevant documents in the first k positions| / k. [trec_eval m_P.c]
///
/// Divides by k even when fewer than k documents are ranked (trec_eval), so a short list cannot score higher by
/// being short. Throws `mmrag_rft::error` when k = 0. Complexity: as `dcg_at_k`.
[[nodiscard]] inline double precision_at_k(std::span<const std::size_t> ranking, std::span<const std::size_t> relevant,
                                           std::size_t k) {
  detail::require_k(k, "precision_at_k");
  const auto h = detail::count_hits(ranking, detail::binary_judgements(relevant), k);
  return static_cast<double>(h.hits) / static_cast<double>(k);
}

/// Recall at k: |relevant documents in the first k positions| / |relevant|. [trec_eval m_recall.c]
///
/// No relevant documents gives 0. Throws `mmrag_rft::error` when k = 0. Complexity: as `dcg_at_k`.
[[nodiscard]] inline double recall_at_k(std::span<const std::size_t> ranking, std::span<const std::size_t> relevant,
                                        std::size_t k) {
  detail::require_k(k, "recall_at_k");
  const detail::binary_judgements judged(relevant);
  if (judged.num_relevant() == 0) return 0.0;
  const auto h = detail::count_hits(ranking, judged, k);
  return static_cast<double>(h.hits) / static_cast<double>(judged.num_relevant());
}

/// Average precision of the first k positions: AP@k = (sum over relevant documents at rank r <= k of P@r) /
/// |relevant|. [trec_eval m_map.c (k = infinity) and m_map_cut.c]
///
/// Divides by all relevant documents, retrieved or not, so unretrieved ones count as precision 0. No relevant
/// documents gives 0. Throws `mmrag_rft::error` when k = 0. Complexity: as `dcg_at_k`.
/// Example: ranking {4, 1, 8, 2}, relevant {1, 2, 5}: AP = (1/2 + 2/4) / 3 = 0.3333.
[[nodiscard]] inline double average_precision(std::span<const std::size_t> ranking,
                                              std::span<const std::size_t> relevant, std::size_t k) {
  detail::require_k(k, "average_precision");
  const detail::binary_judgements judged(relevant);
  if (judged.num_relevant() == 0) return 0.0;
  const auto h = detail::count_hits(ranking, judged, k);
  return h.precision_sum / static_cast<double>(judged.num_relevant());
}

/// Average precision over the whole ranking, as trec_eval's `map` for one query.
[[nodiscard]] inline double average_precision(std::span<const std::size_t> ranking,
                                              std::span<const std::size_t> relevant) {
  return average_precision(ranking, relevant, std::numeric_limits<std::size_t>::max());
}

/// Set precision, recall and F1 of `predicted` against `gold`, both taken as sets (duplicates count once):
/// P = |P ∩ G| / |P|, R = |P ∩ G| / |G|, F1 = 2PR / (P + R). [trec_eval set_P, set_recall, set_F]
///
/// An empty `predicted` gives P = 0, an empty `gold` gives R = 0, and P = R = 0 gives F1 = 0 (so two empty sets
/// score 0, as a query with no relevant documents does). Works on any two ranges whose values compare with == and <
/// (ids, strings). Complexity: O(n log n); allocates sorted copies.
template <std::ranges::input_range P, std::ranges::input_range G>
requires std::totally_ordered_with<std::ranges::range_value_t<P>, std::ranges::range_value_t<G>>
[[nodiscard]] set_scores set_precision_recall_f1(const P& predicted, const G& gold) {
  const auto c = detail::distinct_overlap(predicted, gold);
  const double p = c.predicted ? static_cast<double>(c.common) / static_cast<double>(c.predicted) : 0.0;
  const double r = c.gold ? static_cast<double>(c.common) / static_cast<double>(c.gold) : 0.0;
  return {p, r, (p + r) > 0 ? 2 * p * r / (p + r) : 0.0};
}

/// The ids of `scores` (positions 0..n-1) ranked by decreasing score, ties broken by decreasing id as trec_eval
/// breaks them (it compares docno strings; here the ids are numbers). NaN scores rank last.
/// [trec_eval form_res_rels.c, comp_sim_docno]
///
/// Use it to turn stage-1 point-wise relevance scores into a ranking. Complexity: O(n log n); allocates the result.
[[nodiscard]] inline std::vector<std::size_t> rank_by_scores(std::span<const double> scores) {
  std::vector<std::size_t> ids(scores.size());
  std::iota(ids.begin(), ids.end(), std::size_t{0});
  std::sort(ids.begin(), ids.end(), [&](std::size_t a, std::size_t b) {
    const bool na = std::isnan(scores[a]), nb = std::isnan(scores[b]);
    if (na != nb) return nb;
    if (!na && scores[a] != scores[b]) return scores[a] > scores[b];
    return a > b;
  });
  return ids;
}

} // namespace mmrag_rft
