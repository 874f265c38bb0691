// SPDX-License-Identifier: Apache-2.0
// Scoring predictions against WebQA or MultimodalQA gold with the official rules, plus ranking metrics.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/data/mmqa_dataset.hpp>
#include <mmrag_rft/eval/prediction.hpp>
#include <mmrag_rft/eval/report.hpp>
#include <mmrag_rft/metrics/mmqa.hpp>
#include <mmrag_rft/metrics/ranking.hpp>
#include <mmrag_rft/metrics/webqa.hpp>

#include <algorithm>
#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace mmrag_rft {

/// Options of `evaluate_webqa` and `evaluate_mmqa`.
struct eval_options {
  /// Cut-off of NDCG@k and recall@k; must be >= 1.
  std::size_t k = 10;
  /// WebQA answer normalisation (the lemmatizer standing in for spaCy); see `webqa_options`.
  webqa_options webqa;
  /// Keep the per-question scores in `eval_report::questions`.
  bool keep_questions = true;
};

namespace detail {

/// Sums of one group, turned into means by `finish`.
struct group_sum {
  std::size_t count = 0;
  double accuracy = 0, em = 0, f1 = 0;
  void add(const question_scores& q) {
    ++count;
    accuracy += q.accuracy;
    em += q.em;
    f1 += q.f1;
  }
  [[nodiscard]] answer_scores finish(std::string name, double scale) const {
    const double n = count ? static_cast<double>(count) : 1.0;
    return {std::move(name), count, accuracy / n * scale, em / n * scale, f1 / n * scale};
  }
};

[[nodiscard]] inline std::vector<answer_scores> finish_groups(const std::map<std::string, group_sum>& groups,
                                                              double scale) {
  std::vector<answer_scores> out;
  for (const auto& [name, sum] : groups) out.push_back(sum.finish(name, scale));
  return out;
}

/// Prediction lookup by id; a repeated id is an error (which of the two to score would be a guess).
[[nodiscard]] inline std::unordered_map<std::string_view, const prediction*>
index_predictions(std::span<const prediction> predictions, std::string_view fn) {
  std::unordered_map<std::string_view, const prediction*> by_id;
  by_id.reserve(predictions.size());
  for (std::size_t i = 0; i < predictions.size(); ++i)
    require(by_id.emplace(predictions[i].id, &predictions[i]).second, fn, "predictions",
            "repeats the id \"" + predictions[i].id + "\"", i);
  return by_id;
}

/// Checks gold sample `i` before it is scored: its gold indices lie inside its documents (an index past them would
/// be read out of bounds), and its id is new (the official scripts key gold by id, so a repeat would be scored twice
/// against one prediction). `seen` maps the ids so far to their sample.
inline void check_gold_sample(const sample& s, std::size_t i, std::string_view fn,
                              std::unordered_map<std::string_view, std::size_t>& seen) {
  for (const auto g : s.gold)
    require(g < s.documents.size(), fn, "gold",
            "\"" + s.id + "\": gold index " + std::to_string(g) + " is not below its " +
                std::to_string(s.documents.size()) + " documents",
            i);
  const auto [it, fresh] = seen.emplace(s.id, i);
  require(fresh, fn, "gold", "repeats the id \"" + s.id + "\" of gold[" + std::to_string(it->second) + "]", i);
}

/// Fills the id, category and `predicted` of `q` and returns the question's prediction, or nullptr.
inline const prediction* start_question(const sample& s,
                                        const std::unordered_map<std::string_view, const prediction*>& by_id,
                                        question_scores& q) {
  const auto it = by_id.find(s.id);
  const prediction* p = it == by_id.end() ? nullptr : it->second;
  q.id = s.id;
  q.category = s.category;
  q.predicted = p != nullptr;
  return p;
}

/// Retrieval and ranking scores shared by both benchmarks, accumulated over questions with gold positives.
class document_scorer {
public:
  document_scorer(std::span<const prediction> predictions, std::size_t k, bool webqa_f1) : k_(k), webqa_f1_(webqa_f1) {
    for (const auto& p : predictions) {
      any_sources_ = any_sources_ || p.has_sources;
      any_ranking_ = any_ranking_ || p.has_ranking;
    }
  }

  void score(const sample& s, const prediction* p, question_scores& q) {
    if (s.gold.empty()) return;
    std::vector<std::string> gold_ids;
    for (const auto g : s.gold) gold_ids.push_back(s.documents[g].id);
    if (any_sources_) {
      static const std::vector<std::string> none;
      const auto& src = p && p->has_sources ? p->sources : none;
      const auto set = set_precision_recall_f1(src, gold_ids);
      const retrieval_counts counts = webqa_retrieval_counts(src, gold_ids);
      const double f1 = webqa_f1_ ? webqa_retrieval_f1(counts) : set.f1;
      pooled_ += counts;
      ++retrieval_.count;
      retrieval_.precision += set.precision;
      retrieval_.recall += set.recall;
      retrieval_.f1 += f1;
      q.retrieval_f1 = f1;
    }
    if (any_ranking_) {
      // Candidate ids become positions in s.documents; ids outside the candidates get fresh numbers (never relevant);
      // a repeated id keeps its first position, as a ranking cannot list a document twice. A document listed twice
      // among the candidates (one image as a negative and a positive fact) is one document: the gold positions
      // go through the same map, so its id is relevant whichever copy is gold.
      std::unordered_map<std::string_view, std::size_t> pos;
      for (std::size_t d = 0; d < s.documents.size(); ++d) pos.emplace(s.documents[d].id, d);
      std::vector<std::size_t> relevant;
      for (const auto g : s.gold) {
        const std::size_t x = pos.find(s.documents[g].id)->second;
        if (std::find(relevant.begin(), relevant.end(), x) == relevant.end()) relevant.push_back(x);
      }
      std::vector<std::size_t> ranking;
      std::unordered_set<std::size_t> seen;
      std::size_t fresh = s.documents.size();
      if (p && p->has_ranking)
        for (const auto& id : p->ranking) {
          const auto it = pos.find(id);
          const std::size_t x = it != pos.end() ? it->second : fresh++;
          if (seen.insert(x).second) ranking.push_back(x);
        }
      const double ndcg = ndcg_at_k(ranking, relevant, k_);
      const double rr = reciprocal_rank(ranking, relevant);
      ++ranking_.count;
      ranking_.ndcg += ndcg;
      ranking_.mrr += rr;
      ranking_.recall += recall_at_k(ranking, relevant, k_);
      q.ndcg = ndcg;
      q.reciprocal_rank = rr;
    }
  }

  void finish(eval_report& r) const {
    const auto mean = [](double x, std::size_t n) { return n ? x / static_cast<double>(n) : 0.0; };
    if (any_sources_) {
      const set_scores micro = micro_precision_recall_f1(pooled_);
      r.retrieval = retrieval_scores{retrieval_.count,
                                     mean(retrieval_.precision, retrieval_.count),
                                     mean(retrieval_.recall, retrieval_.count),
                                     mean(retrieval_.f1, retrieval_.count),
                                     micro.precision,
                                     micro.recall,
                                     micro.f1};
    }
    if (any_ranking_)
      r.ranking = ranking_scores{ranking_.count, k_, mean(ranking_.ndcg, ranking_.count),
                                 mean(ranking_.mrr, ranking_.count), mean(ranking_.recall, ranking_.count)};
  }

private:
  std::size_t k_;
  bool webqa_f1_;
  bool any_sources_ = false, any_ranking_ = false;
  retrieval_scores retrieval_;
  retrieval_counts pooled_;
  ranking_scores ranking_;
};

/// Lists the prediction ids that match no gold question. When there are predictions and not one matches, the gold
/// file, its split or the id field is the wrong one, and scoring every question 0 would hide it: an error.
inline void note_unknown(std::span<const prediction> predictions,
                         const std::unordered_map<std::string_view, std::size_t>& gold_ids, eval_report& r,
                         std::string_view fn) {
  for (const auto& p : predictions)
    if (!gold_ids.contains(p.id)) r.unknown_ids.push_back(p.id);
  if (predictions.empty() || r.unknown_ids.size() < predictions.size()) return;
  throw error(fn, "predictions",
              "not one of the " + std::to_string(predictions.size()) + " prediction ids matches one of the " +
                  std::to_string(gold_ids.size()) + " gold questions (e.g. \"" + predictions.front().id +
                  "\"): wrong gold file, split or id field?");
}

[[nodiscard]] inline bool mmqa_single_modal(std::string_view type) noexcept {
  // allenai/multimodalqa baselines/common_utils.py: the single-hop types of each modality.
  return type == "TextQ" || type == "TableQ" || type == "ImageQ" || type == "ImageListQ";
}

} // namespace detail

/// Scores WebQA predictions against gold samples (as `load_webqa` reads them) with the official rules.
/// [WebQnA/WebQA_Baseline vlp/eval_1022.py; WebQnA/WebQA eval_webqa.md; metrics: `webqa_qa_accuracy`,
/// `webqa_retrieval_f1`, `ndcg_at_k`, `reciprocal_rank`, `recall_at_k`]
///
/// QA-Acc of a question = `webqa_qa_accuracy(first predicted answer, golds, Qcate)` where golds are the sample's
/// `keywords` (Keywords_A) or, when it has none, its `answers`, the approximation eval_webqa.md
/// describes. Overall and per-Qcate means over the gold questions that have keywords or answers; a missing
/// prediction or an empty answer scores 0; gold without either is counted in `num_unannotated` and skipped.
/// Retrieval (when some prediction has `sources`): per question with gold positives, `webqa_retrieval_f1` of the
/// source ids against the gold positives' ids (the leaderboard's smoothed F1) plus set precision and recall,
/// averaged over those questions (macro), and the same precision, recall and F1 from the counts pooled over them
/// (micro, `micro_precision_recall_f1`). Ranking (when some prediction has a `ranking`): NDCG@k, MRR and recall@k of the
/// ranked ids against the gold positives. QA-FL (BARTScore) is not computed: it needs a neural model.
///
/// Throws `mmrag_rft::error` when k = 0, two predictions or two gold samples share an id, a gold index is not a
/// document of its sample, or there are predictions and not one of their ids is a gold question's (scoring every
/// question 0 would hide a wrong gold file or split). Candidates that share an id count as one document (relevant
/// when any copy is gold). Prediction ids with no gold question are listed in `unknown_ids`. Complexity: linear in
/// the gold and predictions (hash lookups) plus the metric costs.
[[nodiscard]] inline eval_report evaluate_webqa(std::span<const sample> gold, std::span<const prediction> predictions,
                                                const eval_options& options = {}) {
  constexpr std::string_view fn = "evaluate_webqa";
  detail::require(options.k >= 1, fn, "options.k", "must be >= 1");
  const auto by_id = detail::index_predictions(predictions, fn);
  eval_report r;
  r.kind = benchmark::webqa;
  detail::document_scorer docs(predictions, options.k, true);
  detail::group_sum all;
  std::map<std::string, detail::group_sum> cats;
  std::unordered_map<std::string_view, std::size_t> gold_ids;
  for (std::size_t i = 0; i < gold.size(); ++i) {
    const sample& s = gold[i];
    detail::check_gold_sample(s, i, fn, gold_ids);
    const auto& golds = s.keywords.empty() ? s.answers : s.keywords;
    if (golds.empty()) {
      ++r.num_unannotated;
      continue;
    }
    question_scores q;
    const prediction* p = detail::start_question(s, by_id, q);
    if (p && !p->answers.empty())
      q.accuracy = webqa_qa_accuracy(p->answers.front(), golds,
                                     parse_webqa_category(s.category).value_or(webqa_category::others), options.webqa);
    docs.score(s, p, q);
    ++r.num_gold;
    r.num_predicted += q.predicted;
    all.add(q);
    cats[s.category.empty() ? "(none)" : s.category].add(q);
    if (options.keep_questions) r.questions.push_back(std::move(q));
  }
  r.overall = all.finish("all", 1.0);
  r.by_category = detail::finish_groups(cats, 1.0);
  docs.finish(r);
  detail::note_unknown(predictions, gold_ids, r, fn);
  return r;
}

/// Scores MultimodalQA predictions against gold questions (as `load_mmqa` reads them) with the official rules.
/// [allenai/multimodalqa baselines/evaluate.py, evaluate_prediction_file; metric: `mmqa_em_f1`]
///
/// EM and F1 of a question = `mmqa_em_f1(predicted answers, gold answers)`; the corpus scores are means times 100
/// over the gold questions with answers (a missing prediction scores 0; questions without answers are skipped and
/// counted in `num_unannotated`, where the current official script stops with KeyError 'answers'), overall and
/// broken down, as the official script prints them, by answer modality, by question type and by hop class
/// ("Single-modal" for TextQ, TableQ, ImageQ, ImageListQ, else "Multi-modal": an earlier script's names; the
/// current one prints "Single-hop" / "Multi-hop" for the same partition of its 16 types). Retrieval (set P/R/F1 of
/// `sources` against `supporting_context`, macro and micro) and ranking metrics as in `evaluate_webqa` are our
/// additions.
///
/// Throws `mmrag_rft::error` when k = 0, two predictions or two gold questions share an id, a gold index is not a
/// document of its question, there are predictions and none matches a gold question, or `gold.info` and
/// `gold.samples` differ in size. Complexity: linear in the gold and predictions plus the metric costs.
[[nodiscard]] inline eval_report evaluate_mmqa(const mmqa_dataset& gold, std::span<const prediction> predictions,
                                               const eval_options& options = {}) {
  constexpr std::string_view fn = "evaluate_mmqa";
  detail::require(options.k >= 1, fn, "options.k", "must be >= 1");
  detail::require(gold.info.size() == gold.samples.size(), fn, "gold.info", "must have one entry per sample");
  const auto by_id = detail::index_predictions(predictions, fn);
  eval_report r;
  r.kind = benchmark::mmqa;
  detail::document_scorer docs(predictions, options.k, false);
  detail::group_sum all;
  std::map<std::string, detail::group_sum> types, modalities, hops;
  std::unordered_map<std::string_view, std::size_t> gold_ids;
  for (std::size_t i = 0; i < gold.samples.size(); ++i) {
    const sample& s = gold.samples[i];
    detail::check_gold_sample(s, i, fn, gold_ids);
    if (s.answers.empty()) {
      ++r.num_unannotated;
      continue;
    }
    question_scores q;
    const prediction* p = detail::start_question(s, by_id, q);
    q.modality = gold.info[i].answer_modality;
    if (p) {
      const auto sc = mmqa_em_f1(p->answers, s.answers);
      q.em = sc.em;
      q.f1 = sc.f1;
    }
    docs.score(s, p, q);
    ++r.num_gold;
    r.num_predicted += q.predicted;
    all.add(q);
    types[s.category].add(q);
    modalities[q.modality].add(q);
    hops[detail::mmqa_single_modal(s.category) ? "Single-modal" : "Multi-modal"].add(q);
    if (options.keep_questions) r.questions.push_back(std::move(q));
  }
  r.overall = all.finish("all", 100.0);
  r.by_category = detail::finish_groups(types, 100.0);
  r.by_modality = detail::finish_groups(modalities, 100.0);
  r.by_hop = detail::finish_groups(hops, 100.0);
  docs.finish(r);
  detail::note_unknown(predictions, gold_ids, r, fn);
  return r;
}

} // namespace mmrag_rft
