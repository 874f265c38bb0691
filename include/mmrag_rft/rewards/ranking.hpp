// SPDX-License-Identifier: Apache-2.0
// Stage-2 list-wise ranking reward: the ranking in the completion scored against the gold positives.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/metrics/ranking.hpp>
#include <mmrag_rft/rewards/concepts.hpp>
#include <mmrag_rft/rewards/detail/explain.hpp>
#include <mmrag_rft/text/label_scheme.hpp>
#include <mmrag_rft/text/ranking.hpp>
#include <mmrag_rft/text/sections.hpp>

#include <algorithm>
#include <cmath>
#include <optional>
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// The score a `ranking_rule` gives a valid ranking.
enum class ranking_metric : std::uint8_t {
  ndcg,       ///< NDCG@k, binary gains, linear gain [trec_eval ndcg_cut; default]
  mrr,        ///< reciprocal rank of the first gold document within the first k [trec_eval recip_rank]
  recall,     ///< |gold in the first k| / |gold| [trec_eval recall]
  f1,         ///< set F1 of the first k ranked documents against the gold set [WebQA retrieval F1, unsmoothed]
  mm_r5,      ///< Σ_{gold p ranked at r_p} 1/r_p³ / Σ_{i=1..|gold|} 1/i³ over the whole list [MM-R5]
  reasonrank, ///< NDCG@k + 0.2·Recall@k + 0.1·RBO@k (p = 0.9) against the gold order [ReasonRank]
};

/// Options of `ranking_rule`.
struct ranking_rule_options {
  std::string section = "rank"; ///< the tag whose content holds the ranking
  ranking_metric metric = ranking_metric::ndcg;
  std::size_t k = 10; ///< cut-off [ReasonRank NDCG@10, Recall@10]; must be >= 1
  /// Score of a completion whose ranking cannot be used: no usable section, no label, or an issue outside
  /// `allowed` (a duplicate, an out-of-range or unknown label, more than `max_items` labels)
  /// [ReasonRank: 0 for duplicates or wrong ids].
  double invalid = 0.0;
  /// Issues tolerated: by default words around the labels ("Ranking: [3, 1]"); add `duplicate | out_of_range |
  /// unknown_label` to score what could be read instead of refusing it.
  ranking_issue allowed = ranking_issue::extra_text;
  /// How labels map to documents: `shared` (bare numbers or "Image 2", "Doc 3" in one 1-based numbering of
  /// `sample::documents`) or `bare` (numbers only). Per-prefix numbering needs the prompt's own layout: write a
  /// custom rule with `parse_ranking` and `label_scheme::per_prefix` for it.
  label_numbering numbering = label_numbering::shared;
  std::vector<std::string> prefixes = label_scheme::default_prefixes(); ///< for `shared`
  std::size_t max_items = 100; ///< labels read at most (bounds adversarial input)
  double rbo_p = 0.9;          ///< persistence of RBO for `reasonrank`, in (0, 1)
  /// Score the relative improvement over the candidates' given order instead of the metric itself [REARANK]:
  /// (M(σ) - M(initial)) / (M* - M(initial)), M(initial) the metric of the documents in prompt order, M* that of the
  /// ideal order (gold documents first, in `sample::gold` order; 1 for NDCG). When the given order is already ideal
  /// (M(initial) = M*, no headroom) the score is the plain metric M(σ): 1 for keeping an ideal order, less for
  /// breaking it, never a division by zero. Ranges over [-M(initial) / (M* - M(initial)), 1].
  bool relative_to_initial = false;
};

/// Stage-2 list-wise ranking reward: reads the ranking in the completion's `section` with `parse_ranking` (labels
/// are 1-based positions in `sample::documents`, the stage-2 prompt's kept documents in prompt order) and scores it
/// against the gold positives `sample::gold` with `options.metric`; see `ranking_metric` for each formula.
/// [paper-notes §2: ReasonRank, MM-R5, NDCG@k/MRR/recall]
///
/// Every metric lies in [0, 1] except `reasonrank` (in [0, 1.3]). A sample without gold documents scores 0 on every
/// metric (trec_eval). A ranking that cannot be used scores `invalid` (see the options): malformed output is never
/// an exception. RBO, for `reasonrank`, compares the ranking with the gold list in `sample::gold` order:
/// RBO@k = (1 - p) Σ_{d=1..k} p^{d-1} |A_{1:d} ∩ G_{1:d}| / d.
/// Construction throws `mmrag_rft::error` when `section` is not a tag of `tags`, `k == 0`, `max_items == 0`,
/// `invalid` is not finite, `rbo_p` is outside (0, 1), or a prefix is invalid.
/// Complexity: a parse of the tags and one of the section, then O(k · (k + |gold|)) for the metric; no allocation in
/// steady state (the parse buffers are per thread and reused).
/// Example (tests/rewards/ranking_test.cpp): "<rank>[2, 4, 3]</rank>" with gold {1, 2} of 4 documents gives
/// NDCG@3 = (1 + 1/log2 4) / (1 + 1/log2 3) = 0.9197.
class ranking_rule {
public:
  /// The stage-2 tags (`think`, `rank`, `answer`) with these options: `ranking_rule({.k = 3})`-style calls.
  explicit ranking_rule(ranking_rule_options options)
      : ranking_rule(tag_format{"think", "rank", "answer"}, std::move(options)) {}
  explicit ranking_rule(tag_format tags = tag_format{"think", "rank", "answer"}, ranking_rule_options options = {})
      : ref_(std::move(tags), options.section, "ranking_rule"), opt_(std::move(options)) {
    constexpr const char* fn = "ranking_rule";
    detail::require(opt_.k >= 1, fn, "options.k", "must be >= 1");
    detail::require(opt_.max_items >= 1, fn, "options.max_items", "must be >= 1");
    detail::require(std::isfinite(opt_.invalid), fn, "options.invalid", "must be finite");
    detail::require(opt_.rbo_p > 0 && opt_.rbo_p < 1, fn, "options.rbo_p", "must lie in (0, 1)");
    detail::require(opt_.numbering != label_numbering::per_prefix, fn, "options.numbering",
                    "per_prefix needs the prompt's layout; use shared or bare, or a custom rule");
    // Schemes for the usual numbers of kept documents are built once; larger prompts build theirs per call.
    for (std::size_t n = 0; n <= cached_schemes; ++n) schemes_.push_back(make_scheme(n));
  }

  [[nodiscard]] double operator()(const completion& c, const sample& s) const {
    return evaluate(ref_.content(c.text), s, false).score;
  }
  /// The same through a composite's shared parse (`ctx` holds `c.text`).
  [[nodiscard]] double operator()(const completion&, const sample& s, reward_context& ctx) const {
    return evaluate(ref_.content(ctx), s, false).score;
  }
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "ranking"; }

  /// "ranked 2 of 3 gold docs in top-3, NDCG@3 0.78" (with `relative_to_initial`: "..., NDCG@3 0.78 (given order
  /// 0.50), relative gain 0.56"), or why the ranking was refused: "ranking invalid (duplicate
  /// "3" at position 3)", "ranking invalid (no <rank>)".
  void explain(const completion& c, const sample& s, std::string& out) const {
    const result r = evaluate(ref_.content(c.text), s, true);
    if (r.problem == problem_kind::section) {
      detail::append_section_problem(out, "ranking invalid", ref_, c.text);
      return;
    }
    if (r.problem == problem_kind::parse) {
      out += "ranking invalid (";
      append_parse_problem(out, scratch());
      out += ')';
      return;
    }
    out += "ranked ";
    out += std::to_string(r.hits);
    out += " of ";
    out += std::to_string(distinct_gold(s));
    out += " gold docs in top-";
    out += std::to_string(opt_.k);
    out += ", ";
    out += metric_label();
    out += ' ';
    if (!opt_.relative_to_initial) {
      detail::append_fixed2(out, r.score);
      return;
    }
    detail::append_fixed2(out, r.plain);
    out += " (given order ";
    detail::append_fixed2(out, r.initial);
    out += "), relative gain ";
    detail::append_fixed2(out, r.score);
  }

  [[nodiscard]] const ranking_rule_options& options() const noexcept { return opt_; }

  /// The metric of a valid ranking (0-based indices, best first) against `gold`; what `operator()` applies after
  /// parsing, exposed for tests and custom rules.
  [[nodiscard]] double score_ranking(std::span<const std::size_t> ranking, std::span<const std::size_t> gold) const {
    const std::size_t k = opt_.k;
    switch (opt_.metric) {
    case ranking_metric::ndcg: return ndcg_at_k(ranking, gold, k);
    case ranking_metric::mrr: return reciprocal_rank(ranking, gold, k);
    case ranking_metric::recall: return recall_at_k(ranking, gold, k);
    case ranking_metric::f1: return set_precision_recall_f1(ranking.first(std::min(k, ranking.size())), gold).f1;
    case ranking_metric::mm_r5: return mm_r5(ranking, gold);
    case ranking_metric::reasonrank:
      return ndcg_at_k(ranking, gold, k) + 0.2 * recall_at_k(ranking, gold, k) + 0.1 * rbo(ranking, gold);
    }
    return 0.0;
  }

private:
  static constexpr std::size_t cached_schemes = 64;
  enum class problem_kind : std::uint8_t { none, section, parse };
  struct result {
    double score = 0.0;
    double plain = 0.0, initial = 0.0; ///< with `relative_to_initial`: the metric of σ and of the given order
    problem_kind problem = problem_kind::none;
    std::size_t hits = 0;
  };

  // One parse buffer per thread: the rule is shared by the batch scorer's workers and must stay const.
  static ranking_parse& scratch() {
    thread_local ranking_parse p;
    return p;
  }

  [[nodiscard]] label_scheme make_scheme(std::size_t n) const {
    return opt_.numbering == label_numbering::bare ? label_scheme::numbered(n) : label_scheme::shared(n, opt_.prefixes);
  }

  // `count_hits`: also count the gold documents in the first k (only explanations print them).
  [[nodiscard]] result evaluate(std::optional<std::string_view> section, const sample& s, bool count_hits) const {
    result r;
    if (!section) {
      r.score = opt_.invalid;
      r.problem = problem_kind::section;
      return r;
    }
    ranking_parse& p = scratch();
    const std::size_t n = s.documents.size();
    if (n <= cached_schemes) parse_ranking(*section, schemes_[n], p, {.max_items = opt_.max_items});
    else parse_ranking(*section, make_scheme(n), p, {.max_items = opt_.max_items});
    if (!p.ok(opt_.allowed) || p.order.empty()) {
      r.score = opt_.invalid;
      r.problem = problem_kind::parse;
      return r;
    }
    const std::span<const std::size_t> order(p.order), gold(s.gold);
    r.score = score_ranking(order, gold);
    if (opt_.relative_to_initial) {
      r.initial = score_ranking(identity_order(n), gold);
      r.plain = r.score;
      r.score = relative_gain(r.score, r.initial, score_ranking(ideal_order(n, gold), gold));
    }
    if (!count_hits) return r;
    for (std::size_t i = 0; i < std::min(opt_.k, order.size()); ++i)
      r.hits += std::find(gold.begin(), gold.end(), order[i]) != gold.end();
    return r;
  }

  /// (m - initial) / (ideal - initial); the plain metric `m` where the given order has no headroom.
  [[nodiscard]] static double relative_gain(double m, double initial, double ideal) noexcept {
    return ideal > initial ? (m - initial) / (ideal - initial) : m;
  }

  // The candidates' given order 0, 1, ..., n - 1 (per thread, reused).
  [[nodiscard]] static std::span<const std::size_t> identity_order(std::size_t n) {
    thread_local std::vector<std::size_t> v;
    if (v.size() != n) {
      v.resize(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = i;
    }
    return v;
  }

  // The ideal order: the distinct gold documents in `gold` order, then the others in prompt order (per thread).
  [[nodiscard]] static std::span<const std::size_t> ideal_order(std::size_t n, std::span<const std::size_t> gold) {
    thread_local std::vector<std::size_t> v;
    v.clear();
    for (std::size_t g : gold)
      if (std::find(v.begin(), v.end(), g) == v.end()) v.push_back(g);
    const std::size_t head = v.size();
    for (std::size_t i = 0; i < n; ++i)
      if (std::find(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(head), i) ==
          v.begin() + static_cast<std::ptrdiff_t>(head))
        v.push_back(i);
    return v;
  }

  [[nodiscard]] static double mm_r5(std::span<const std::size_t> ranking, std::span<const std::size_t> gold) {
    double got = 0.0, best = 0.0;
    std::size_t g = 0;
    for (std::size_t r = 0; r < ranking.size(); ++r)
      if (std::find(gold.begin(), gold.end(), ranking[r]) != gold.end()) got += 1.0 / std::pow(double(r + 1), 3.0);
    for (std::size_t i = 0; i < gold.size(); ++i)
      if (std::find(gold.begin(), gold.begin() + static_cast<std::ptrdiff_t>(i), gold[i]) ==
          gold.begin() + static_cast<std::ptrdiff_t>(i))
        best += 1.0 / std::pow(double(++g), 3.0);
    return best > 0 ? got / best : 0.0;
  }

  [[nodiscard]] double rbo(std::span<const std::size_t> ranking, std::span<const std::size_t> gold) const {
    if (gold.empty()) return 0.0;
    double sum = 0.0, weight = 1.0;
    std::size_t overlap = 0;
    for (std::size_t d = 1; d <= opt_.k; ++d) {
      // Items entering at depth d: ranking[d-1] counts if it is among the first d gold; gold[d-1] if among the first d
      // of the ranking (and is not the same document, counted once).
      const auto in = [](std::span<const std::size_t> list, std::size_t depth, std::size_t id) {
        const std::size_t m = std::min(depth, list.size());
        return std::find(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(m), id) !=
               list.begin() + static_cast<std::ptrdiff_t>(m);
      };
      const bool a = d <= ranking.size(), b = d <= gold.size();
      if (a && b && ranking[d - 1] == gold[d - 1]) ++overlap;
      else {
        if (a && in(gold, d - 1, ranking[d - 1])) ++overlap;
        if (b && in(ranking, d - 1, gold[d - 1])) ++overlap;
      }
      sum += weight * static_cast<double>(overlap) / static_cast<double>(d);
      weight *= opt_.rbo_p;
    }
    return (1.0 - opt_.rbo_p) * sum;
  }

  [[nodiscard]] static std::size_t distinct_gold(const sample& s) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < s.gold.size(); ++i)
      n += std::find(s.gold.begin(), s.gold.begin() + static_cast<std::ptrdiff_t>(i), s.gold[i]) ==
           s.gold.begin() + static_cast<std::ptrdiff_t>(i);
    return n;
  }

  [[nodiscard]] std::string metric_label() const {
    const std::string k = std::to_string(opt_.k);
    switch (opt_.metric) {
    case ranking_metric::ndcg: return "NDCG@" + k;
    case ranking_metric::mrr: return "MRR@" + k;
    case ranking_metric::recall: return "recall@" + k;
    case ranking_metric::f1: return "F1@" + k;
    case ranking_metric::mm_r5: return "MM-R5";
    case ranking_metric::reasonrank: return "ReasonRank@" + k;
    }
    return "ranking";
  }

  void append_parse_problem(std::string& out, const ranking_parse& p) const {
    if (p.order.empty() && !any(p.issues & ~opt_.allowed, ~ranking_issue::empty)) {
      out += "no label";
      return;
    }
    for (const ranking_diagnostic& d : p.diagnostics) {
      if (any(opt_.allowed, d.kind)) continue;
      out += d.kind == ranking_issue::duplicate      ? "duplicate \""
             : d.kind == ranking_issue::out_of_range ? "out-of-range \""
             : d.kind == ranking_issue::truncated    ? "too many labels at \""
                                                     : "unknown label \"";
      out.append(d.text.substr(0, 24));
      out += "\" at position ";
      out += std::to_string(d.position + 1);
      return;
    }
    out += any(p.issues, ranking_issue::truncated) ? "too many labels" : "no valid label";
  }

  detail::section_ref ref_;
  ranking_rule_options opt_;
  std::vector<label_scheme> schemes_;
};

} // namespace mmrag_rft
