// SPDX-License-Identifier: Apache-2.0
// A readable, fixed-width text rendering of an eval_report.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/eval/report.hpp>

#include <cstddef>
#include <cstdio>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

namespace detail {
[[nodiscard]] inline std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
[[nodiscard]] inline std::string pad(std::string_view s, std::size_t width) {
  std::string out(s);
  if (out.size() < width) out.append(width - out.size(), ' ');
  return out;
}
[[nodiscard]] inline std::string lpad(std::string_view s, std::size_t width) {
  std::string out;
  if (s.size() < width) out.append(width - s.size(), ' ');
  return out.append(s);
}
inline void print_groups(std::ostream& os, std::string_view title, const std::vector<answer_scores>& rows, bool webqa) {
  if (rows.empty()) return;
  std::size_t w = title.size();
  for (const auto& r : rows) w = std::max(w, r.name.size());
  os << '\n' << pad(title, w) << lpad("count", 8);
  if (webqa) os << lpad("QA-Acc", 10) << '\n';
  else os << lpad("EM", 9) << lpad("F1", 9) << '\n';
  for (const auto& r : rows) {
    os << pad(r.name, w) << lpad(std::to_string(r.count), 8);
    if (webqa) os << lpad(fixed(r.accuracy, 4), 10) << '\n';
    else os << lpad(fixed(r.em, 2), 9) << lpad(fixed(r.f1, 2), 9) << '\n';
  }
}
} // namespace detail

/// Writes `r` as text tables: a summary (benchmark, counts, overall answer scores, retrieval, ranking), then the
/// breakdowns. WebQA QA-Acc is printed in [0, 1] with 4 decimals, MultimodalQA EM/F1 in [0, 100] with 2, matching
/// the official scripts' scales. O(rows).
inline void print_report(std::ostream& os, const eval_report& r) {
  const bool webqa = r.kind == benchmark::webqa;
  os << (webqa ? "WebQA" : "MultimodalQA") << ": " << r.num_gold << " gold questions, " << r.num_predicted
     << " predicted, " << (r.num_gold - r.num_predicted) << " missing (scored 0)";
  if (r.num_unannotated) os << ", " << r.num_unannotated << " without answers skipped";
  if (!r.unknown_ids.empty()) os << ", " << r.unknown_ids.size() << " predictions with unknown ids ignored";
  os << "\n\n";
  if (webqa) os << "QA-Acc            " << detail::fixed(r.overall.accuracy, 4) << '\n';
  else
    os << "EM                " << detail::fixed(r.overall.em, 2) << "\nF1                "
       << detail::fixed(r.overall.f1, 2) << '\n';
  if (r.retrieval)
    os << "Retrieval         P " << detail::fixed(r.retrieval->precision, 4) << "  R "
       << detail::fixed(r.retrieval->recall, 4) << "  F1 " << detail::fixed(r.retrieval->f1, 4) << "  ("
       << r.retrieval->count << " questions, macro)\n"
       << "Retrieval micro   P " << detail::fixed(r.retrieval->micro_precision, 4) << "  R "
       << detail::fixed(r.retrieval->micro_recall, 4) << "  F1 " << detail::fixed(r.retrieval->micro_f1, 4)
       << "  (pooled counts)\n";
  if (r.ranking)
    os << "Ranking           NDCG@" << r.ranking->k << ' ' << detail::fixed(r.ranking->ndcg, 4) << "  MRR "
       << detail::fixed(r.ranking->mrr, 4) << "  Recall@" << r.ranking->k << ' ' << detail::fixed(r.ranking->recall, 4)
       << "  (" << r.ranking->count << " questions)\n";
  detail::print_groups(os, webqa ? "Qcate" : "question type", r.by_category, webqa);
  detail::print_groups(os, "answer modality", r.by_modality, webqa);
  detail::print_groups(os, "hop", r.by_hop, webqa);
}

} // namespace mmrag_rft
