// SPDX-License-Identifier: Apache-2.0
// The demo's reward composites, built from the library's rules, parsers and metrics.
#pragma once
#include <mmrag_rft/metrics/qa.hpp>
#include <mmrag_rft/metrics/ranking.hpp>
#include <mmrag_rft/rewards/composite.hpp>
#include <mmrag_rft/rewards/format.hpp>
#include <mmrag_rft/rewards/relevance.hpp>
#include <mmrag_rft/text/label_scheme.hpp>
#include <mmrag_rft/text/ranking.hpp>
#include <mmrag_rft/text/relevance.hpp>
#include <mmrag_rft/text/sections.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace demo {

inline const mmrag_rft::tag_format& stage2_tags() {
  static const mmrag_rft::tag_format t{"think", "rank", "answer"};
  return t;
}

// The ranking of a stage-2 completion as 0-based indices into the sample's documents (empty when unreadable).
inline std::vector<std::size_t> parse_stage2_ranking(std::string_view text, std::size_t num_docs) {
  const auto p = stage2_tags().parse(text);
  const auto& sec = p[1];
  if (!sec.found() || num_docs == 0) return {};
  return mmrag_rft::parse_ranking(sec.content, mmrag_rft::label_scheme::numbered(num_docs)).order;
}
inline std::string_view stage2_answer(std::string_view text) {
  const auto p = stage2_tags().parse(text);
  return p[2].found() ? p[2].content : std::string_view{};
}

// Stage-2 list-wise ranking rule: NDCG@3 of the <rank> list against the gold positives of the kept documents.
// [paper-notes §2: plain NDCG@k option; trec_eval ndcg_cut]
inline double ranking_reward(const mmrag_rft::completion& c, const mmrag_rft::sample& s) {
  const auto order = parse_stage2_ranking(c.text, s.documents.size());
  return s.gold.empty() ? (order.empty() ? 1.0 : 0.0) : mmrag_rft::ndcg_at_k(order, s.gold, 3);
}
// Stage-2 answer rule: SQuAD exact match of the <answer> section against the gold answers.
inline double answer_reward(const mmrag_rft::completion& c, const mmrag_rft::sample& s) {
  return mmrag_rft::exact_match(stage2_answer(c.text), s.answers);
}

inline auto stage1_reward() {
  return mmrag_rft::make_composite(mmrag_rft::weighted(mmrag_rft::stage1_format(), 0.5),
                                   mmrag_rft::weighted(mmrag_rft::relevance_rule(), 1.0));
}
inline auto stage2_reward(double answer_weight = 1.0) {
  return mmrag_rft::make_composite(mmrag_rft::weighted(mmrag_rft::stage2_format(), 0.5),
                                   mmrag_rft::weighted(&ranking_reward, 1.0, "ranking"),
                                   mmrag_rft::weighted(&answer_reward, answer_weight, "answer"));
}

// Stage-1 verdict for the coarse filter: the <answer> section read by parse_relevance (1 relevant, 0 not).
inline std::optional<double> stage1_verdict(std::string_view text) {
  static const mmrag_rft::tag_format tags{"think", "answer"};
  const auto p = tags.parse(text);
  if (!p[1].found()) return std::nullopt;
  const auto v = mmrag_rft::parse_relevance(p[1].content);
  if (v.verdict == mmrag_rft::relevance_verdict::unknown) return std::nullopt;
  return v.verdict == mmrag_rft::relevance_verdict::relevant ? 1.0 : 0.0;
}

} // namespace demo
