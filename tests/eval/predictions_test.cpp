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
  const auto p = parse_predictions(R"({"g1": {"sources": [30001, 30002], "answer": "red"}, "g2": {"answer": ["blue"]}})");
  REQUIRE(p.size() == 2);
  CHECK(p[0].id == "g1");
  CHECK(p[0].sources == std::vector<std::string>{"30001", "30002"});
  CHECK(p[0].answers == std::vector<std::string>{"red"});
  CHECK(p[1].answers == std::vector<std::string>{"blue"});
  CHECK_FALSE(p[1].has_sources);
}

TEST_CASE("parse_predictions: names line, id and field when a prediction is malformed") {
  auto e = error_of([] { (void)parse_predictions("{\"id\": \"a\"}\n{\"id\": \"g7\", \"sources\": [1, [2]]}\n", "p.jsonl"); });
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

} // TEST_SUITE
