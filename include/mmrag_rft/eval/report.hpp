// SPDX-License-Identifier: Apache-2.0
// The result of scoring predictions against a benchmark's gold: overall scores, breakdowns, per-question scores.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace mmrag_rft {

/// Which benchmark's official rules produced a report.
enum class benchmark { webqa, mmqa };

/// Answer scores of a group of questions (all, one WebQA Qcate, one MultimodalQA modality / type / hop class).
/// WebQA fills `accuracy` (QA-Acc, in [0, 1] as eval_1022.py prints it); MultimodalQA fills `em` and `f1` (in
/// [0, 100] as evaluate.py prints them). Missing predictions count as 0.
struct answer_scores {
  std::string name;
  std::size_t count = 0;
  double accuracy = 0;
  double em = 0;
  double f1 = 0;
};

/// Source selection scores over the questions that have gold positives (a missing prediction scores 0), in the two
/// conventions papers report. Macro: `precision`, `recall` and `f1` are means of the per-question values, set
/// precision / recall, and for `f1` the benchmark's per-question figure: WebQA's smoothed retrieval F1
/// (`webqa_retrieval_f1`, ε = 1e-5 as the baseline and RAMQA score it), MultimodalQA's set F1. Micro: `micro_*` are
/// computed once from the counts pooled over the questions (`micro_precision_recall_f1`, no smoothing, as RagVL
/// reports WebQA retrieval), so questions with many sources weigh more.
struct retrieval_scores {
  std::size_t count = 0;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
  double micro_precision = 0;
  double micro_recall = 0;
  double micro_f1 = 0;
};

/// Ranking scores of the predicted candidate orders, means over the questions that have gold positives (a missing
/// ranking scores 0): NDCG@k (linear gain), MRR (no cut-off), recall@k.
struct ranking_scores {
  std::size_t count = 0;
  std::size_t k = 0;
  double ndcg = 0;
  double mrr = 0;
  double recall = 0;
};

/// Scores of one gold question.
struct question_scores {
  std::string id;
  std::string category;   ///< WebQA Qcate or MultimodalQA question type.
  std::string modality;   ///< MultimodalQA answer modality; empty for WebQA.
  bool predicted = false; ///< A prediction with this id was given.
  double accuracy = 0;    ///< WebQA QA-Acc in [0, 1].
  double em = 0;          ///< MultimodalQA list EM in [0, 1].
  double f1 = 0;          ///< MultimodalQA list F1 in [0, 1].
  std::optional<double> retrieval_f1;
  std::optional<double> ndcg;
  std::optional<double> reciprocal_rank;
};

/// Everything `evaluate_webqa` / `evaluate_mmqa` compute.
struct eval_report {
  benchmark kind = benchmark::webqa;
  std::size_t num_gold = 0;             ///< Gold questions scored (those with answers or keywords).
  std::size_t num_predicted = 0;        ///< Of those, how many have a prediction.
  std::size_t num_unannotated = 0;      ///< Gold questions skipped for lack of answers (e.g. a test file).
  std::vector<std::string> unknown_ids; ///< Prediction ids that match no gold question (ignored).
  answer_scores overall;
  std::vector<answer_scores> by_category;    ///< WebQA Qcate, or MultimodalQA question type; sorted by name.
  std::vector<answer_scores> by_modality;    ///< MultimodalQA answer modality; sorted by name.
  std::vector<answer_scores> by_hop;         ///< MultimodalQA "Multi-modal" / "Single-modal".
  std::optional<retrieval_scores> retrieval; ///< Present when some prediction has sources.
  std::optional<ranking_scores> ranking;     ///< Present when some prediction has a ranking.
  std::vector<question_scores> questions;    ///< In gold order.
};

} // namespace mmrag_rft
