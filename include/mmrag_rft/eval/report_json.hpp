// SPDX-License-Identifier: Apache-2.0
// An eval_report as JSON (nlohmann-json; a consumer links nlohmann_json::nlohmann_json).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/eval/report.hpp>

#include <nlohmann/json.hpp>

#include <vector>

namespace mmrag_rft {

namespace detail {
[[nodiscard]] inline nlohmann::json groups_json(const std::vector<answer_scores>& rows, bool webqa) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& g : rows) {
    nlohmann::json j{{"count", g.count}};
    if (webqa) j["qa_accuracy"] = g.accuracy;
    else j["em"] = g.em, j["f1"] = g.f1;
    out[g.name] = std::move(j);
  }
  return out;
}
} // namespace detail

/// The report as a JSON object: `benchmark`, counts, `overall`, the breakdowns keyed by group name, `retrieval` and
/// `ranking` when present, `unknown_ids`, and `questions` (per-question scores) when `with_questions`. Scales as in
/// `eval_report`: WebQA QA-Acc in [0, 1]; MultimodalQA corpus EM/F1 in [0, 100], per-question EM/F1 in [0, 1].
[[nodiscard]] inline nlohmann::json to_json(const eval_report& r, bool with_questions = false) {
  const bool webqa = r.kind == benchmark::webqa;
  nlohmann::json j;
  j["benchmark"] = webqa ? "webqa" : "mmqa";
  j["num_gold"] = r.num_gold;
  j["num_predicted"] = r.num_predicted;
  j["num_missing"] = r.num_gold - r.num_predicted;
  j["num_unannotated"] = r.num_unannotated;
  j["unknown_ids"] = r.unknown_ids;
  if (webqa) {
    j["overall"] = {{"count", r.overall.count}, {"qa_accuracy", r.overall.accuracy}};
    j["by_qcate"] = detail::groups_json(r.by_category, true);
  } else {
    j["overall"] = {{"count", r.overall.count}, {"em", r.overall.em}, {"f1", r.overall.f1}};
    j["by_question_type"] = detail::groups_json(r.by_category, false);
    j["by_answer_modality"] = detail::groups_json(r.by_modality, false);
    j["by_hop"] = detail::groups_json(r.by_hop, false);
  }
  if (r.retrieval)
    j["retrieval"] = {{"count", r.retrieval->count},
                      {"precision", r.retrieval->precision},
                      {"recall", r.retrieval->recall},
                      {"f1", r.retrieval->f1},
                      {"micro_precision", r.retrieval->micro_precision},
                      {"micro_recall", r.retrieval->micro_recall},
                      {"micro_f1", r.retrieval->micro_f1}};
  if (r.ranking)
    j["ranking"] = {{"count", r.ranking->count},
                    {"k", r.ranking->k},
                    {"ndcg", r.ranking->ndcg},
                    {"mrr", r.ranking->mrr},
                    {"recall", r.ranking->recall}};
  if (with_questions) {
    nlohmann::json qs = nlohmann::json::array();
    for (const auto& q : r.questions) {
      nlohmann::json x{{"id", q.id}, {"category", q.category}, {"predicted", q.predicted}};
      if (webqa) x["qa_accuracy"] = q.accuracy;
      else x["modality"] = q.modality, x["em"] = q.em, x["f1"] = q.f1;
      if (q.retrieval_f1) x["retrieval_f1"] = *q.retrieval_f1;
      if (q.ndcg) x["ndcg"] = *q.ndcg;
      if (q.reciprocal_rank) x["reciprocal_rank"] = *q.reciprocal_rank;
      qs.push_back(std::move(x));
    }
    j["questions"] = std::move(qs);
  }
  return j;
}

} // namespace mmrag_rft
