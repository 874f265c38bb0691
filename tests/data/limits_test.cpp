// SPDX-License-Identifier: Apache-2.0
// The loaders on hostile input: unreadable paths, deep nesting, numbers out of range, huge ids, overlong lines.
#include <mmrag_rft/data/mmqa.hpp>
#include <mmrag_rft/data/webqa.hpp>

#include <doctest/doctest.h>

#include "file_error_support.hpp"

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>

using namespace mmrag_rft;
using mmrag_rft::test::error_of;

namespace {

std::filesystem::path limits_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Open descriptors of this process, or 0 where /proc is not there.
std::size_t open_descriptors() {
  std::error_code ec;
  std::size_t n = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

} // namespace

TEST_SUITE("data") {

TEST_CASE("load_webqa: a directory gives a located read error and leaks no descriptor") {
  const auto dir = std::filesystem::temp_directory_path();
  const std::size_t before = open_descriptors();
  for (int i = 0; i < 50; ++i) {
    const auto e = error_of([&] { (void)load_webqa(dir); });
    CHECK(e.function() == "load_webqa");
    CHECK(e.file() == dir.string());
    CHECK(e.message().rfind("read error: ", 0) == 0);
  }
  CHECK(open_descriptors() == before);
}

TEST_CASE("load_mmqa: a directory gives a located read error") {
  const auto e = error_of([] { (void)load_mmqa(std::filesystem::temp_directory_path()); });
  CHECK(e.function() == "load_mmqa");
  CHECK(e.message().rfind("read error: ", 0) == 0);
}

TEST_CASE("parse_webqa: nesting deeper than max_depth is a located error, also inside a skipped field") {
  const std::size_t depth = 300;
  const std::string deep = std::string(depth, '[') + std::string(depth, ']');
  const std::string text = "{\"g1\": {\"Q\": \"q\", \"extra\": " + deep + "}}";
  webqa_load_options o;
  o.max_depth = 100;
  const auto e = error_of([&] { (void)parse_webqa(text, "deep.json", o); });
  CHECK(e.file() == "deep.json");
  CHECK(e.record() == "g1");
  CHECK(e.message() == "nesting deeper than 100 levels (webqa_load_options::max_depth)");
  o.max_depth = 400;
  CHECK(parse_webqa(text, "deep.json", o).size() == 1);
  CHECK(webqa_load_options{}.max_depth == 256);
}

TEST_CASE("parse_webqa: an image_id above INT64_MAX is read as its decimal text") {
  const auto s =
      parse_webqa(R"({"g1": {"Q": "q", "img_posFacts": [{"image_id": 18446744073709551615, "title": "t"}]}})");
  REQUIRE(s.size() == 1);
  REQUIRE(s[0].documents.size() == 1);
  CHECK(s[0].documents[0].id == "18446744073709551615");
}

TEST_CASE("parse_webqa: a number out of range is a located syntax error") {
  const auto e = error_of([] { (void)parse_webqa("{\"g1\": {\"Q\": \"q\",\n \"x\": 1e999}}", "big.json"); });
  CHECK(e.line() == 2);
  CHECK(e.message().find("number overflow") != std::string::npos);
}

TEST_CASE("load_mmqa: a number out of range names the file and line") {
  const auto path = limits_temp("mmrag_rft_limits_1e999.jsonl",
                                "{\"qid\": \"a\", \"question\": \"q\"}\n"
                                "{\"qid\": \"b\", \"question\": \"q\", \"answers\": [{\"answer\": 1e999}]}\n");
  const auto e = error_of([&] { (void)load_mmqa(path); });
  CHECK(e.file() == path.string());
  CHECK(e.line() == 2);
  CHECK(e.message().rfind("invalid JSON: number overflow", 0) == 0);
}

TEST_CASE("load_mmqa: an integer answer is written as Python writes an int, a float as Python writes a float") {
  const auto path =
      limits_temp("mmrag_rft_limits_int.jsonl",
                  "{\"qid\": \"a\", \"question\": \"q\", \"answers\": [{\"answer\": 3}, {\"answer\": 3.0}, "
                  "{\"answer\": 18446744073709551615}]}\n");
  const auto d = load_mmqa(path);
  REQUIRE(d.samples.size() == 1);
  CHECK(d.samples[0].answers == std::vector<std::string>{"3", "3.0", "18446744073709551615"});
}

TEST_CASE("load_mmqa: a line longer than max_line_bytes is a located error, not an allocation of the whole") {
  const std::string good = "{\"qid\": \"a\", \"question\": \"q\"}\n";
  const auto path = limits_temp("mmrag_rft_limits_long.jsonl",
                                good + "{\"qid\": \"" + std::string(500, 'x') + "\", \"question\": \"q\"}\n");
  mmqa_load_options o;
  o.max_line_bytes = 100;
  const auto e = error_of([&] { (void)load_mmqa(path, o); });
  CHECK(e.file() == path.string());
  CHECK(e.line() == 2);
  CHECK(e.message() == "line longer than 100 bytes (mmqa_load_options::max_line_bytes)");
  o.max_line_bytes = 1000;
  CHECK(load_mmqa(path, o).samples.size() == 2);
  CHECK(mmqa_load_options{}.max_line_bytes == std::size_t{64} << 20);
}

} // TEST_SUITE("data")
