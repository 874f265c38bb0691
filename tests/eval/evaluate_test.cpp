// SPDX-License-Identifier: Apache-2.0
// Expected scores are worked out by hand from the official definitions (WebQnA/WebQA_Baseline vlp/eval_1022.py and
// WebQA eval_webqa.md; allenai/multimodalqa baselines/evaluate.py); each is derived in the comment next to it.
#include <mmrag_rft/data/mmqa.hpp>
#include <mmrag_rft/data/webqa.hpp>
#include <mmrag_rft/eval.hpp>

#include <doctest/doctest.h>

#include "gzip_support.hpp"

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

using namespace mmrag_rft;

namespace {
const std::string eval_files = MMRAG_RFT_EVAL_FILES;
const std::string data_files = MMRAG_RFT_DATA_FILES;

const answer_scores& group(const std::vector<answer_scores>& g, const std::string& name) {
  for (const auto& x : g)
    if (x.name == name) return x;
  FAIL("no group " << name);
  return g.front();
}
} // namespace

TEST_SUITE("eval") {

TEST_CASE("evaluate_webqa: matches hand-worked QA-Acc, retrieval and ranking scores on the test files") {
  const auto gold = load_webqa(eval_files + "/webqa_gold.json");
  const auto preds = load_predictions(eval_files + "/webqa_pred.jsonl");
  const auto r = evaluate_webqa(gold, preds);

  CHECK(r.kind == benchmark::webqa);
  CHECK(r.num_gold == 7);
  CHECK(r.num_unannotated == 1); // w8 has no answers (test split)
  CHECK(r.num_predicted == 6);   // w5 missing
  CHECK(r.unknown_ids == std::vector<std::string>{"zzz"});

  // color w1: pred bag {it, be, red, and, white} ∩ colors = {red, white}; gold "the roof is red" ∩ colors = {red};
  //   P = 1/2, R = 1, acc = 2PR / (P + R + 1e-5) = 1 / 1.50001.
  CHECK(group(r.by_category, "color").accuracy == doctest::Approx(1 / 1.50001).epsilon(1e-12));
  // number w2: "3 bridges" -> integers {3}; "There are three bridges." -> "three" -> 3 -> {3}; acc = 2 / 2.00001.
  CHECK(group(r.by_category, "number").accuracy == doctest::Approx(2 / 2.00001).epsilon(1e-12));
  // YesNo w3: empty prediction -> 0.
  CHECK(group(r.by_category, "YesNo").accuracy == 0.0);
  // Others w4: recall; vs answer 1 {tall, stone, tower, with, clock}: 2/5; vs answer 2 {clock, tower}: 1 -> max 1.
  CHECK(group(r.by_category, "Others").accuracy == doctest::Approx(1.0));
  // choose w5: no prediction -> 0.
  CHECK(group(r.by_category, "choose").accuracy == 0.0);
  // text w6: Keywords_A "Lindhaven" takes precedence over A; recall 1/1.
  CHECK(group(r.by_category, "text").accuracy == doctest::Approx(1.0));
  // shape w7: "  ROUND!!  " is one word -> "round"; gold {it, be, round} ∩ shapes = {round}; acc = 2 / 2.00001.
  CHECK(group(r.by_category, "shape").accuracy == doctest::Approx(2 / 2.00001).epsilon(1e-12));
  const double acc_sum = 1 / 1.50001 + 2 * (2 / 2.00001) + 1.0 + 1.0;
  CHECK(r.overall.accuracy == doctest::Approx(acc_sum / 7).epsilon(1e-12));
  CHECK(r.overall.count == 7);

  // Retrieval F1 (smoothed): one right of one, p = 1 / 1.00001, F1 = 2p^2 / (2p + 1e-5) for w1, w6 (duplicates count
  // once) and w7; w2: one of two right of two, q = 1 / 2.00001, F1 = 2q^2 / (2q + 1e-5); w3 empty, w4 absent, w5
  // missing: 0.
  REQUIRE(r.retrieval);
  const double p = 1 / 1.00001, q = 1 / 2.00001;
  const double f1a = 2 * p * p / (2 * p + 1e-5), f1b = 2 * q * q / (2 * q + 1e-5);
  CHECK(r.retrieval->count == 7);
  CHECK(r.retrieval->f1 == doctest::Approx((3 * f1a + f1b) / 7).epsilon(1e-12));
  CHECK(r.retrieval->precision == doctest::Approx((1 + 0.5 + 1 + 1) / 7.0)); // set precision
  CHECK(r.retrieval->recall == doctest::Approx((1 + 0.5 + 1 + 1) / 7.0));
  // Micro (pooled counts): shared 1 + 1 + 1 + 1 = 4 (w1, w2, w6, w7), predicted 1 + 2 + 1 + 1 = 5, gold positives
  // 1 + 2 + 1 + 1 + 2 + 1 + 1 = 9: P = 4/5, R = 4/9, F1 = 2 (16/45) / (56/45) = 4/7, no smoothing.
  CHECK(r.retrieval->micro_precision == doctest::Approx(0.8));
  CHECK(r.retrieval->micro_recall == doctest::Approx(4.0 / 9));
  CHECK(r.retrieval->micro_f1 == doctest::Approx(4.0 / 7));

  // Ranking @10: w1 gold at rank 2 -> NDCG 1/log2(3), RR 1/2; w2 gold at ranks 1 and 3 of 2 gold -> NDCG
  // (1 + 1/2) / (1 + 1/log2(3)), RR 1; w4 gold at rank 2 after an unknown id; w6, w7 gold first; w3, w5 none.
  REQUIRE(r.ranking);
  CHECK(r.ranking->k == 10);
  const double l3 = 1 / std::log2(3.0);
  CHECK(r.ranking->ndcg == doctest::Approx((2 * l3 + 1.5 / (1 + l3) + 2) / 7).epsilon(1e-12));
  CHECK(r.ranking->mrr == doctest::Approx(4.0 / 7));
  CHECK(r.ranking->recall == doctest::Approx(5.0 / 7));

  REQUIRE(r.questions.size() == 7);
  CHECK(r.questions[4].id == "w5");
  CHECK_FALSE(r.questions[4].predicted);
}

TEST_CASE("evaluate_mmqa: matches hand-worked EM/F1 overall and by modality, type and hop on the test files") {
  const auto gold = load_mmqa(data_files + "/mmqa_small.jsonl");
  const auto preds = load_predictions(eval_files + "/mmqa_pred.jsonl");
  const auto r = evaluate_mmqa(gold, preds);
  CHECK(r.kind == benchmark::mmqa);
  CHECK(r.num_gold == 4);
  CHECK(r.num_predicted == 3);
  // q-table-1: "grey harbour." -> "grey harbour" = gold: EM 1, F1 1.
  // q-img-2: ["Salt Road"] vs ["Grey Harbour", "Salt Road"]: EM 0 (2 spans vs 1); F1 = (1 + 0) / 2 = 0.5.
  // q-text-3: "four" -> "4.0", gold 4.0 (a float in the file) -> "4.0": EM 1, F1 1.
  // q-yesno-4: no prediction: 0, 0.
  CHECK(r.overall.em == doctest::Approx(50.0));
  CHECK(r.overall.f1 == doctest::Approx(62.5));
  CHECK(group(r.by_modality, "table").em == doctest::Approx(100.0));
  CHECK(group(r.by_modality, "image").em == doctest::Approx(0.0));
  CHECK(group(r.by_modality, "image").f1 == doctest::Approx(50.0));
  CHECK(group(r.by_modality, "text").count == 2);
  CHECK(group(r.by_modality, "text").em == doctest::Approx(50.0));
  CHECK(group(r.by_modality, "text").f1 == doctest::Approx(50.0));
  CHECK(group(r.by_category, "ImageListQ").f1 == doctest::Approx(50.0));
  CHECK(group(r.by_category, "Compare(TableQ,Compose(TableQ,TextQ))").f1 == doctest::Approx(0.0));
  CHECK(group(r.by_hop, "Single-modal").em == doctest::Approx(50.0));
  CHECK(group(r.by_hop, "Single-modal").f1 == doctest::Approx(75.0));
  CHECK(group(r.by_hop, "Multi-modal").em == doctest::Approx(50.0));
  CHECK(group(r.by_hop, "Multi-modal").f1 == doctest::Approx(50.0));
  // Sources: only q-img-2 has some: {img-a} vs {img-a, img-b}: P 1, R 1/2, F1 2/3; the other three score 0.
  REQUIRE(r.retrieval);
  CHECK(r.retrieval->precision == doctest::Approx(0.25));
  CHECK(r.retrieval->recall == doctest::Approx(0.125));
  CHECK(r.retrieval->f1 == doctest::Approx((2.0 / 3) / 4));
  // Micro: shared 1, predicted 1, gold positives 1 + 2 + 2 + 1 = 6: P = 1, R = 1/6, F1 = 2 (1/6) / (7/6) = 2/7.
  CHECK(r.retrieval->micro_precision == doctest::Approx(1.0));
  CHECK(r.retrieval->micro_recall == doctest::Approx(1.0 / 6));
  CHECK(r.retrieval->micro_f1 == doctest::Approx(2.0 / 7));
  // Ranking: q-table-1 ranks its gold table first (NDCG 1, RR 1, recall 1); the others have no ranking.
  REQUIRE(r.ranking);
  CHECK(r.ranking->ndcg == doctest::Approx(0.25));
  CHECK(r.ranking->mrr == doctest::Approx(0.25));
  CHECK(r.ranking->recall == doctest::Approx(0.25));
}

TEST_CASE("evaluate_mmqa: scores the official predictions map, list answers and number words") {
  const auto gold = load_mmqa(data_files + "/mmqa_small.jsonl");
  const auto preds = parse_predictions(
      R"({"q-table-1": "Grey  Harbour", "q-img-2": ["salt road", "grey harbour"], "q-text-3": "4", "q-yesno-4": "No."})");
  const auto r = evaluate_mmqa(gold, preds);
  // Every answer matches after normalisation (order of list answers is free; "4" -> "4.0"; "No." -> "no").
  CHECK(r.overall.em == doctest::Approx(100.0));
  CHECK(r.overall.f1 == doctest::Approx(100.0));
  CHECK_FALSE(r.retrieval);
  CHECK_FALSE(r.ranking);
}

TEST_CASE("evaluate_webqa: scores nothing but zeros when there are no predictions") {
  const auto gold = load_webqa(eval_files + "/webqa_gold.json");
  const auto r = evaluate_webqa(gold, {});
  CHECK(r.num_gold == 7);
  CHECK(r.num_predicted == 0);
  CHECK(r.overall.accuracy == 0.0);
  CHECK_FALSE(r.retrieval);
}

TEST_CASE("evaluate_webqa: rejects repeated prediction ids and k = 0") {
  const auto gold = load_webqa(eval_files + "/webqa_gold.json");
  const std::vector<prediction> twice{{"w1", {"red"}, {}, {}, false, false}, {"w1", {"blue"}, {}, {}, false, false}};
  CHECK_THROWS_AS((void)evaluate_webqa(gold, twice), error);
  eval_options o;
  o.k = 0;
  CHECK_THROWS_AS((void)evaluate_webqa(gold, {}, o), error);
}

TEST_CASE("print_report and to_json: show the overall scores and breakdowns") {
  const auto gold = load_mmqa(data_files + "/mmqa_small.jsonl");
  const auto r = evaluate_mmqa(gold, load_predictions(eval_files + "/mmqa_pred.jsonl"));
  std::ostringstream os;
  print_report(os, r);
  const std::string t = os.str();
  CHECK(t.find("MultimodalQA: 4 gold questions, 3 predicted, 1 missing") != std::string::npos);
  CHECK(t.find("EM                50.00") != std::string::npos);
  CHECK(t.find("Single-modal") != std::string::npos);
  const auto j = to_json(r, true);
  CHECK(j["benchmark"] == "mmqa");
  CHECK(j["overall"]["f1"].get<double>() == doctest::Approx(62.5));
  CHECK(j["by_hop"]["Multi-modal"]["count"] == 2);
  CHECK(j["questions"].size() == 4);
  CHECK(j["ranking"]["k"] == 10);
}

TEST_CASE("evaluate_webqa and evaluate_mmqa: predictions that match no gold id are an error, not a score of 0") {
  const auto webqa_gold = load_webqa(eval_files + "/webqa_gold.json");
  const std::vector<prediction> strangers{{.id = "x1", .answers = {"red"}}, {.id = "x2", .answers = {"blue"}}};
  try {
    (void)evaluate_webqa(webqa_gold, strangers);
    FAIL("no error");
  } catch (const mmrag_rft::error& e) {
    CHECK(e.function() == "evaluate_webqa");
    CHECK(e.argument() == "predictions");
    CHECK(std::string(e.what()).find("not one of the 2 prediction ids matches one of the 8 gold questions") !=
          std::string::npos);
  }
  const auto mmqa_gold = load_mmqa(data_files + "/mmqa_small.jsonl");
  CHECK_THROWS_AS((void)evaluate_mmqa(mmqa_gold, strangers), mmrag_rft::error);
  // One match is enough; the others are listed as unknown. No predictions at all score 0 (nothing to match).
  std::vector<prediction> one_known = strangers;
  one_known.push_back({.id = "w1", .answers = {"red"}});
  CHECK(evaluate_webqa(webqa_gold, one_known).unknown_ids.size() == 2);
  CHECK(evaluate_webqa(webqa_gold, std::vector<prediction>{}).num_predicted == 0);
}

TEST_CASE("evaluate_webqa: reads the WebQA baselines' \"predicted answers\" and gzip predictions") {
  const auto gold = load_webqa(eval_files + "/webqa_gold.json");
  // The baselines' keys, in the id-keyed form: w1 as in webqa_pred.jsonl, so its accuracy is 1 / 1.50001.
  const auto preds =
      parse_predictions(R"({"w1": {"predicted answers": "It is red and white.", "predicted sources": [11]}})");
  const auto r = evaluate_webqa(gold, preds);
  CHECK(r.num_predicted == 1);
  CHECK(r.overall.accuracy == doctest::Approx(1 / 1.50001 / 7).epsilon(1e-12));
  REQUIRE(r.retrieval);
  CHECK(r.retrieval->micro_precision == 1.0);
  // The JSONL test predictions, gzip-compressed under a misleading name, score as the plain file.
  const auto plain = evaluate_webqa(gold, load_predictions(eval_files + "/webqa_pred.jsonl"));
  const auto gz = test::write_gzip("mmrag_rft_eval_pred.json", {test::read_bytes(eval_files + "/webqa_pred.jsonl")});
  const auto packed = evaluate_webqa(gold, load_predictions(gz));
  CHECK(packed.overall.accuracy == plain.overall.accuracy);
  CHECK(packed.retrieval->f1 == plain.retrieval->f1);
}

} // TEST_SUITE("eval")
