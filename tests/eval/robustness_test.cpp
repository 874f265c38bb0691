// SPDX-License-Identifier: Apache-2.0
// Predictions and evaluation on hostile or ambiguous input: every case either scores right or names what is wrong.
#include <mmrag_rft/eval.hpp>
#include <mmrag_rft/eval/load_predictions.hpp>

#include <doctest/doctest.h>

#include "file_error_support.hpp"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

using namespace mmrag_rft;
using mmrag_rft::test::error_of;

namespace {

sample gold_sample(std::string id, std::vector<document> docs, std::vector<std::size_t> gold) {
  sample s;
  s.id = std::move(id);
  s.question = "q";
  s.answers = {"3"};
  s.category = "number";
  s.documents = std::move(docs);
  s.gold = std::move(gold);
  return s;
}

document doc(std::string id) { return document{std::move(id), modality::image, {}, {}, {}, nullptr}; }

} // namespace

TEST_SUITE("eval") {

TEST_CASE("evaluate: a gold index outside the documents is an error naming the sample") {
  const std::vector<sample> gold{gold_sample("g1", {doc("7")}, {3})};
  prediction p;
  p.id = "g1";
  p.has_ranking = true;
  p.ranking = {"7"};
  const std::vector<prediction> preds{p};
  CHECK_THROWS_WITH_AS((void)evaluate_webqa(gold, preds),
                       "evaluate_webqa: gold[0] \"g1\": gold index 3 is not below its 1 documents", error);
  mmqa_dataset d;
  d.samples = gold;
  d.info.resize(1);
  CHECK_THROWS_AS((void)evaluate_mmqa(d, preds), error);
}

TEST_CASE("evaluate: a document id listed twice (negative and positive) still ranks the gold document first") {
  // The same image as a negative and as a positive fact: the ranked id is the gold one.
  const std::vector<sample> gold{gold_sample("g1", {doc("7"), doc("8"), doc("7")}, {2})};
  prediction p;
  p.id = "g1";
  p.answers = {"3"};
  p.has_ranking = true;
  p.ranking = {"7", "8"};
  p.has_sources = true;
  p.sources = {"7"};
  const std::vector<prediction> preds{p};
  const auto r = evaluate_webqa(gold, preds);
  REQUIRE(r.ranking);
  CHECK(r.ranking->ndcg == doctest::Approx(1.0));
  CHECK(r.ranking->mrr == doctest::Approx(1.0));
  CHECK(r.ranking->recall == doctest::Approx(1.0));
  REQUIRE(r.retrieval);
  CHECK(r.retrieval->recall == doctest::Approx(1.0));
}

TEST_CASE("evaluate: a gold id repeated in the gold data is an error") {
  const std::vector<sample> gold{gold_sample("g1", {doc("7")}, {0}), gold_sample("g2", {doc("7")}, {0}),
                                 gold_sample("g1", {doc("7")}, {0})};
  CHECK_THROWS_WITH_AS((void)evaluate_webqa(gold, {}), "evaluate_webqa: gold[2] repeats the id \"g1\" of gold[0]",
                       error);
  mmqa_dataset d;
  d.samples = gold;
  d.info.resize(3);
  CHECK_THROWS_WITH_AS((void)evaluate_mmqa(d, {}), "evaluate_mmqa: gold[2] repeats the id \"g1\" of gold[0]", error);
}

TEST_CASE("parse_predictions: an integer answer is its decimal text and scores in the number category") {
  const auto p = parse_predictions("{\"id\": \"g1\", \"answer\": 3}\n{\"id\": \"g2\", \"answer\": [2.5, -4]}\n");
  REQUIRE(p.size() == 2);
  CHECK(p[0].answers == std::vector<std::string>{"3"});
  CHECK(p[1].answers == std::vector<std::string>{"2.5", "-4"});
  const std::vector<sample> gold{gold_sample("g1", {doc("7")}, {0})};
  CHECK(evaluate_webqa(gold, p).overall.accuracy == doctest::Approx(1.0).epsilon(1e-4));
}

TEST_CASE("parse_predictions: ids above INT64_MAX keep their value") {
  const auto p = parse_predictions("{\"id\": 18446744073709551615, \"sources\": [9223372036854775808]}\n");
  REQUIRE(p.size() == 1);
  CHECK(p[0].id == "18446744073709551615");
  CHECK(p[0].sources == std::vector<std::string>{"9223372036854775808"});
}

TEST_CASE("parse_predictions: a one-line JSONL prediction without an id is an error, not a submission map") {
  const auto e = error_of([] { (void)parse_predictions("{\"answer\": \"red\"}\n", "p.jsonl"); });
  CHECK(e.line() == 1);
  CHECK(e.field() == "id");
  // The official MultimodalQA object still reads, whatever its ids look like.
  const auto p = parse_predictions(R"({"q1": "red", "q2": ["a", 2]})");
  REQUIRE(p.size() == 2);
  CHECK(p[1].answers == std::vector<std::string>{"a", "2"});
}

TEST_CASE("parse_predictions: a syntax error in a pretty-printed submission object is reported at its line") {
  const std::string text = "{\n"
                           "  \"g1\": {\n"
                           "    \"answer\": \"red\",\n"
                           "    \"sources\": [1, 2]\n"
                           "  },\n"
                           "  \"g2\": {\n"
                           "    \"answer\": \"blue\",\n"
                           "    \"sources\": [3]\n"
                           "    \"oops\": 1\n"
                           "  }\n"
                           "}\n";
  const auto e = error_of([&] { (void)parse_predictions(text, "sub.json"); });
  CHECK(e.file() == "sub.json");
  CHECK(e.line() == 9);
  CHECK(e.message().rfind("invalid JSON: ", 0) == 0);
}

TEST_CASE("parse_predictions: a number out of range names the line") {
  auto e =
      error_of([] { (void)parse_predictions("{\"id\": \"a\"}\n{\"id\": \"b\", \"answer\": 1e999}\n", "p.jsonl"); });
  CHECK(e.line() == 2);
  CHECK(e.message().rfind("invalid JSON: number overflow", 0) == 0);
  e = error_of([] { (void)parse_predictions("{\n \"g1\": {\"answer\": 1e999}\n}\n", "p.json"); });
  CHECK(e.line() == 2);
}

TEST_CASE("parse_predictions: answer and answers together are an error") {
  const auto e =
      error_of([] { (void)parse_predictions("{\"id\": \"a\", \"answer\": \"x\", \"answers\": [\"y\"]}\n"); });
  CHECK(e.record() == "a");
  CHECK(e.field() == "answers");
  CHECK(e.message() == "given together with answer (give one of them)");
}

TEST_CASE("load_predictions: a directory is a located read error, not a stream exception") {
  const auto dir = std::filesystem::temp_directory_path();
  const auto e = error_of([&] { (void)load_predictions(dir); });
  CHECK(e.function() == "load_predictions");
  CHECK(e.file() == dir.string());
  CHECK(e.message().rfind("read error: ", 0) == 0);
}

TEST_CASE("load_predictions: a file larger than max_bytes is a located error") {
  const auto path = std::filesystem::temp_directory_path() / "mmrag_rft_predictions_cap.jsonl";
  std::ofstream(path, std::ios::binary) << "{\"id\": \"a\", \"answer\": \"" << std::string(300, 'x') << "\"}\n";
  prediction_load_options o;
  o.max_bytes = 100;
  const auto e = error_of([&] { (void)load_predictions(path, o); });
  CHECK(e.file() == path.string());
  CHECK(e.message() == "file larger than 100 bytes (prediction_load_options::max_bytes)");
  o.max_bytes = 1000;
  CHECK(load_predictions(path, o).size() == 1);
  CHECK(prediction_load_options{}.max_bytes == std::size_t{1} << 30);
}

} // TEST_SUITE("eval")
