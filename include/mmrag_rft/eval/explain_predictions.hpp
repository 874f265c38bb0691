// SPDX-License-Identifier: Apache-2.0
// Explanation records for a predictions file scored against gold: one record per gold question, its one stage
// ("prediction") holding the predicted answer, sources (as kept documents) and ranking, and the official per-question
// scores as its rules. What `mmrag-eval --html` renders.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/eval/explanation_record.hpp>
#include <mmrag_rft/eval/prediction.hpp>
#include <mmrag_rft/eval/report.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace mmrag_rft {

/// One record per question of `report.questions` (run the evaluation with `eval_options::keep_questions`), in that
/// order. Prediction ids that name no candidate document are left out of the ranking; a question without a
/// prediction gets an empty stage scored 0.
[[nodiscard]] inline std::vector<explanation_record>
explain_predictions(std::span<const sample> gold, std::span<const prediction> predictions, const eval_report& report) {
  std::map<std::string, const sample*> by_id;
  for (const auto& s : gold) by_id.emplace(s.id, &s);
  std::map<std::string, const prediction*> pred;
  for (const auto& p : predictions) pred.emplace(p.id, &p);
  const bool webqa = report.kind == benchmark::webqa;
  std::vector<explanation_record> out;
  for (const auto& q : report.questions) {
    const auto g = by_id.find(q.id);
    if (g == by_id.end()) continue;
    explanation_record r = explain_sample(*g->second);
    explained_stage st;
    st.name = "prediction";
    const auto p = pred.find(q.id);
    const auto index_of = [&](const std::string& id) {
      const auto& docs = g->second->documents;
      const auto it = std::find_if(docs.begin(), docs.end(), [&](const document& d) { return d.id == id; });
      return static_cast<std::size_t>(it - docs.begin());
    };
    if (p != pred.end()) {
      const prediction& pr = *p->second;
      for (std::size_t i = 0; i < pr.answers.size(); ++i) st.answer += (i ? " | " : "") + pr.answers[i];
      st.completion = st.answer;
      for (const auto& id : pr.ranking)
        if (const std::size_t k = index_of(id); k < r.documents.size()) st.ranking.push_back(k);
      if (pr.has_sources) {
        st.judgements.resize(r.documents.size());
        for (const auto& id : pr.sources)
          if (const std::size_t k = index_of(id); k < r.documents.size())
            st.judgements[k] = {"predicted source", 1.0, true};
      }
    }
    const auto add = [&](const char* name, double v) { st.rules.push_back({name, v, 1.0}); };
    if (webqa) add("qa_accuracy", q.accuracy);
    else add("em", q.em), add("f1", q.f1);
    if (q.retrieval_f1) add("retrieval_f1", *q.retrieval_f1);
    if (q.ndcg) add("ndcg", *q.ndcg);
    if (q.reciprocal_rank) add("reciprocal_rank", *q.reciprocal_rank);
    st.reward = st.answer_correct = webqa ? q.accuracy : q.em;
    for (const auto& u : st.rules) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%s%s %.2f", st.explanation.empty() ? "" : "; ", u.name.c_str(), u.score);
      st.explanation += buf;
    }
    if (p == pred.end()) st.explanation = "no prediction; " + st.explanation;
    r.stages.push_back(std::move(st));
    out.push_back(std::move(r));
  }
  return out;
}

/// The page's metrics table for a report: one column "prediction" with the overall answer scores, retrieval F1 and
/// the ranking metrics when present.
[[nodiscard]] inline nlohmann::json explained_summary(const eval_report& report) {
  nlohmann::json col;
  if (report.kind == benchmark::webqa) col["qa_accuracy"] = report.overall.accuracy;
  else col["em"] = report.overall.em, col["f1"] = report.overall.f1;
  if (report.retrieval) col["retrieval_f1"] = report.retrieval->f1;
  if (report.ranking)
    col["ndcg@" + std::to_string(report.ranking->k)] = report.ranking->ndcg, col["mrr"] = report.ranking->mrr;
  return {{"questions", report.num_gold}, {"prediction", col}};
}

} // namespace mmrag_rft
