// SPDX-License-Identifier: Apache-2.0
// Fuzz target: parse_predictions on any bytes, then the evaluation of what it read against a fixed WebQA and
// MultimodalQA gold set. What parses must write back as JSONL and read again to the same predictions.
#include <mmrag_rft/eval.hpp>
#include <mmrag_rft/eval/load_predictions.hpp>

#include "fuzz_check.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace {

using mmrag_rft::fuzz::check;

mmrag_rft::sample gold_sample(std::string id, std::string category, std::vector<std::string> answers,
                              std::vector<std::string> docs, std::vector<std::size_t> gold) {
  mmrag_rft::sample s;
  s.id = std::move(id);
  s.category = std::move(category);
  s.answers = std::move(answers);
  for (auto& d : docs) s.documents.push_back({std::move(d), mmrag_rft::modality::image, {}, {}, {}, nullptr});
  s.gold = std::move(gold);
  return s;
}

// Ids the seeds use, a document listed twice, and a question without answers.
const std::vector<mmrag_rft::sample>& gold_set() {
  static const std::vector<mmrag_rft::sample> g{
      gold_sample("g1", "color", {"red"}, {"1", "2", "3"}, {0}),
      gold_sample("g2", "number", {"3"}, {"4", "5", "4"}, {2}),
      gold_sample("q1", "TextQ", {"Paris", "2.0"}, {"a", "b"}, {1}),
      gold_sample("q2", "YesNo", {}, {"c"}, {0}),
  };
  return g;
}

void check_scores(const mmrag_rft::eval_report& r, double top) {
  const auto in = [top](double x) { return std::isfinite(x) && x >= 0 && x <= top * (1 + 1e-12); };
  check(r.num_predicted <= r.num_gold, "predicted questions are gold questions");
  check(in(r.overall.accuracy) && in(r.overall.em) && in(r.overall.f1), "answer scores lie in range");
  for (const auto& c : r.by_category) check(in(c.accuracy) && in(c.em) && in(c.f1), "group scores lie in range");
  if (r.retrieval)
    check(in(r.retrieval->precision * top) && in(r.retrieval->recall * top) && in(r.retrieval->f1 * top),
          "retrieval scores lie in [0, 1]");
  if (r.ranking)
    check(in(r.ranking->ndcg * top) && in(r.ranking->mrr * top) && in(r.ranking->recall * top),
          "ranking scores lie in [0, 1]");
}

// A question whose prediction ranks a gold document's id first has reciprocal rank 1, whichever copy of a
// repeated candidate id is the gold one.
void check_first_hits(const mmrag_rft::eval_report& r, const std::vector<mmrag_rft::prediction>& ps) {
  for (const auto& q : r.questions) {
    const mmrag_rft::sample* s = nullptr;
    for (const auto& g : gold_set()) s = g.id == q.id ? &g : s;
    for (const auto& p : ps) {
      if (p.id != q.id || p.ranking.empty()) continue;
      bool hit = false;
      for (const auto g : s->gold) hit = hit || s->documents[g].id == p.ranking.front();
      if (hit) check(q.reciprocal_rank && *q.reciprocal_rank == 1.0, "a gold document ranked first has RR 1");
    }
  }
}

std::string to_jsonl(const std::vector<mmrag_rft::prediction>& ps) {
  std::string out;
  for (const auto& p : ps) {
    nlohmann::json j{{"id", p.id}, {"answers", p.answers}};
    if (p.has_sources) j["sources"] = p.sources;
    if (p.has_ranking) j["ranking"] = p.ranking;
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict) + "\n";
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::vector<mmrag_rft::prediction> ps;
  try {
    ps = mmrag_rft::parse_predictions(text, "fuzz.jsonl");
  } catch (const mmrag_rft::file_error& e) {
    check(e.function() == "parse_predictions" && e.file() == "fuzz.jsonl", "an error names the reader and the source");
    check(e.line() == mmrag_rft::file_error::unknown ||
              (e.line() >= 1 && e.line() <= mmrag_rft::fuzz::line_count(text)),
          "an error's line lies in the text");
    return 0;
  }
  bool named = true;
  std::unordered_set<std::string> ids;
  for (const auto& p : ps) {
    check(p.has_sources || p.sources.empty(), "no sources without has_sources");
    check(p.has_ranking || p.ranking.empty(), "no ranking without has_ranking");
    named = named && !p.id.empty();
    ids.insert(p.id);
  }
  if (named) {
    const auto back = mmrag_rft::parse_predictions(to_jsonl(ps), "round trip");
    check(back.size() == ps.size(), "a round trip keeps every prediction");
    for (std::size_t i = 0; i < ps.size(); ++i)
      check(back[i].id == ps[i].id && back[i].answers == ps[i].answers && back[i].sources == ps[i].sources &&
                back[i].ranking == ps[i].ranking && back[i].has_sources == ps[i].has_sources &&
                back[i].has_ranking == ps[i].has_ranking,
            "a round trip keeps each prediction");
  }

  mmrag_rft::mmqa_dataset mmqa;
  mmqa.samples = gold_set();
  mmqa.info.resize(mmqa.samples.size());
  mmrag_rft::eval_options o;
  o.k = 1 + size % 4;
  if (ids.size() != ps.size()) {
    bool threw = false;
    try {
      (void)mmrag_rft::evaluate_webqa(gold_set(), ps, o);
    } catch (const mmrag_rft::error&) {
      threw = true;
    }
    check(threw, "repeated prediction ids are an error");
    return 0;
  }
  const auto gold = gold_set();
  const bool none_match = !ps.empty() && std::none_of(ps.begin(), ps.end(), [&](const mmrag_rft::prediction& p) {
    return std::any_of(gold.begin(), gold.end(), [&](const auto& s) { return s.id == p.id; });
  });
  if (none_match) {
    // Predictions none of which names a gold question: the wrong gold file or split, an error, not all zeros.
    bool threw = false;
    try {
      (void)mmrag_rft::evaluate_webqa(gold, ps, o);
    } catch (const mmrag_rft::error&) {
      threw = true;
    }
    check(threw, "predictions that match no gold question are an error");
    return 0;
  }
  const auto webqa = mmrag_rft::evaluate_webqa(gold, ps, o);
  const auto mmqa_report = mmrag_rft::evaluate_mmqa(mmqa, ps, o);
  check_scores(webqa, 1.0);
  check_scores(mmqa_report, 100.0);
  check_first_hits(webqa, ps);
  check_first_hits(mmqa_report, ps);
  return 0;
}
