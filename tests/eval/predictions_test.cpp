// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/eval/load_predictions.hpp>

#include <doctest/doctest.h>

#include "file_error_support.hpp"

#include <string>

using namespace mmrag_rft;
using mmrag_rft::test::error_of;

TEST_SUITE("eval") {

TEST_CASE("parse_predictions: reads JSONL with ids, answers, sources and rankings") {
  const auto p = parse_predictions("{\"id\": \"a\", \"answer\": \"x\", \"sources\": [3, \"s1\"]}\n\n"
                                   "{\"qid\": \"b\", \"answers\": [\"y\", 2.5], \"ranking\": []}\n");
  REQUIRE(p.size() == 2);
  CHECK(p[0].id == "a");
  CHECK(p[0].answers == std::vector<std::string>{"x"});
  CHECK(p[0].sources == std::vector<std::string>{"3", "s1"});
  CHECK(p[0].has_sources);
  CHECK_FALSE(p[0].has_ranking);
  CHECK(p[1].answers == std::vector<std::string>{"y", "2.5"});
  CHECK(p[1].has_ranking);
  CHECK(p[1].ranking.empty());
}

TEST_CASE("parse_predictions: reads the official WebQA submission object") {
  const auto p =
      parse_predictions(R"({"g1": {"sources": [30001, 30002], "answer": "red"}, "g2": {"answer": ["blue"]}})");
  REQUIRE(p.size() == 2);
  CHECK(p[0].id == "g1");
  CHECK(p[0].sources == std::vector<std::string>{"30001", "30002"});
  CHECK(p[0].answers == std::vector<std::string>{"red"});
  CHECK(p[1].answers == std::vector<std::string>{"blue"});
  CHECK_FALSE(p[1].has_sources);
}

TEST_CASE("parse_predictions: names line, id and field when a prediction is malformed") {
  auto e = error_of(
      [] { (void)parse_predictions("{\"id\": \"a\"}\n{\"id\": \"g7\", \"sources\": [1, [2]]}\n", "p.jsonl"); });
  CHECK(e.file() == "p.jsonl");
  CHECK(e.line() == 2);
  CHECK(e.record() == "g7");
  CHECK(e.field() == "sources[1]");
  CHECK(e.message() == "expected string or integer, got array");
  e = error_of([] { (void)parse_predictions("{\"id\": \"a\"}\n{\"answer\": \"x\"}\n"); });
  CHECK(e.line() == 2);
  CHECK(e.field() == "id");
  e = error_of([] { (void)parse_predictions("{\"id\": \"a\"}\n{\"id\": \"b\", \n"); });
  CHECK(e.line() == 2);
  CHECK(e.message().rfind("invalid JSON", 0) == 0);
  e = error_of([] { (void)parse_predictions(R"({"g1": {"answer": {"text": "x"}}})"); });
  CHECK(e.record() == "g1");
  CHECK(e.field() == "answer");
  CHECK_THROWS_AS((void)load_predictions("/nonexistent/p.jsonl"), file_error);
}

TEST_CASE("parse_predictions: reads the WebQA baselines' \"predicted answers\" and \"predicted sources\"") {
  // JSONL and id-keyed map, as the baselines' validation outputs carry them.
  auto p = parse_predictions("{\"Guid\": \"g1\", \"predicted answers\": \"red\", \"predicted sources\": [30001]}\n");
  REQUIRE(p.size() == 1);
  CHECK(p[0].answers == std::vector<std::string>{"red"});
  CHECK(p[0].sources == std::vector<std::string>{"30001"});
  CHECK(p[0].has_sources);
  p = parse_predictions(
      R"({"g1": {"predicted answers": ["blue"], "predicted sources": ["s1", 2]}, "g2": {"answer": "x"}})");
  REQUIRE(p.size() == 2);
  CHECK(p[0].answers == std::vector<std::string>{"blue"});
  CHECK(p[0].sources == std::vector<std::string>{"s1", "2"});
  // Other members next to an answer are ignored.
  p = parse_predictions("{\"id\": \"a\", \"answer\": \"x\", \"score\": 0.5}\n");
  CHECK(p[0].answers == std::vector<std::string>{"x"});
}

TEST_CASE("parse_predictions: no recognised answer field is a located error") {
  // An entry with an unknown member and no answer, sources or ranking: line, id and the member named.
  auto e = error_of([] {
    (void)parse_predictions("{\"id\": \"a\", \"answer\": \"x\"}\n{\"id\": \"b\", \"prediction\": \"y\"}\n", "p.jsonl");
  });
  CHECK(e.file() == "p.jsonl");
  CHECK(e.line() == 2);
  CHECK(e.record() == "b");
  CHECK(e.field() == "prediction");
  CHECK(e.message().find("unknown field") == 0);
  e = error_of([] { (void)parse_predictions(R"({"g1": {"predicted_answer": "red"}})", "sub.json"); });
  CHECK(e.record() == "g1");
  CHECK(e.field() == "predicted_answer");
  // A file whose entries carry ids only: every question would score 0. Located at the first entry.
  e = error_of([] { (void)parse_predictions("\n{\"id\": \"a\"}\n{\"id\": \"b\"}\n", "ids.jsonl"); });
  CHECK(e.file() == "ids.jsonl");
  CHECK(e.line() == 2);
  CHECK(e.message().find("no prediction has an answer") == 0);
  e = error_of([] { (void)parse_predictions(R"({"q1": null, "q2": null})", "mmqa.json"); });
  CHECK(e.message().find("no prediction has an answer") == 0);
  // One entry with an answer is enough for the file; an entry with only an id is an empty answer (scored 0).
  CHECK(parse_predictions("{\"id\": \"a\"}\n{\"id\": \"b\", \"answer\": \"x\"}\n").size() == 2);
  // Sources alone (a retrieval-only run) are a prediction too.
  CHECK(parse_predictions("{\"id\": \"a\", \"sources\": [1]}\n").front().has_sources);
  // A file without predictions: empty, blank lines only, or an empty map.
  for (const auto* text : {"", "\n  \n", "{}"}) {
    e = error_of([&] { (void)parse_predictions(text, "empty.jsonl"); });
    CHECK(e.file() == "empty.jsonl");
    CHECK(e.message() == "contains no predictions");
  }
}

} // TEST_SUITE("eval")
