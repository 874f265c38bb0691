// SPDX-License-Identifier: Apache-2.0
// One system output to be scored: the answer(s), the selected sources and the ranking of the candidates.
#pragma once
#include <mmrag_rft/config.hpp>

#include <string>
#include <vector>

namespace mmrag_rft {

/// A prediction for one question, as `load_predictions` reads it or a caller builds it.
///
/// Ids in `sources` and `ranking` are document ids as in `document::id` (WebQA image ids as decimal text, snippet
/// ids, MultimodalQA doc ids). `has_sources` / `has_ranking` say whether the prediction carries them at all, so an
/// empty list (nothing selected, scored 0) differs from an absent one (that metric not reported).
struct prediction {
  std::string id;                   ///< WebQA Guid or MultimodalQA qid.
  std::vector<std::string> answers; ///< WebQA scores the first; MultimodalQA scores the list.
  std::vector<std::string> sources; ///< Sources the answer relies on (WebQA retrieval F1).
  std::vector<std::string> ranking; ///< Candidate ids, best first (NDCG@k, MRR, recall@k).
  bool has_sources = false;
  bool has_ranking = false;
};

} // namespace mmrag_rft
