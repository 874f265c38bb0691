// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/data.hpp>

#include <doctest/doctest.h>

#include "file_error_support.hpp"
#include "gzip_support.hpp"

#include <filesystem>
#include <string>
#include <vector>

using namespace mmrag_rft;
using mmrag_rft::test::error_of;

TEST_SUITE("data") {

TEST_CASE("load_mmqa: reads a gzip file as its content, whatever its name") {
  const std::string plain = test::files + "/mmqa_small.jsonl";
  const auto text = test::read_bytes(plain);
  const mmqa_dataset want = load_mmqa(plain);
  // As distributed (MMQA_dev.jsonl.gz), and renamed so that the name says nothing.
  for (const auto* name : {"mmrag_rft_gz_MMQA_dev.jsonl.gz", "mmrag_rft_gz_gold.json"}) {
    const mmqa_dataset got = load_mmqa(test::write_gzip(name, {text}));
    REQUIRE(got.samples.size() == want.samples.size());
    for (std::size_t i = 0; i < got.samples.size(); ++i) {
      CHECK(got.samples[i].id == want.samples[i].id);
      CHECK(got.samples[i].answers == want.samples[i].answers);
      CHECK(got.samples[i].gold == want.samples[i].gold);
    }
  }
  // Two members, split inside a line (as `cat a.gz b.gz` makes): one stream, the same questions and line numbers.
  const std::size_t cut = text.size() / 2;
  const mmqa_dataset two =
      load_mmqa(test::write_gzip("mmrag_rft_gz_two.jsonl.gz", {text.substr(0, cut), text.substr(cut)}));
  CHECK(two.samples.size() == want.samples.size());
}

TEST_CASE("load_webqa: reads a gzip file as its content, and a plain one named .gz as it is") {
  const std::string plain = test::files + "/webqa_small.json";
  const auto text = test::read_bytes(plain);
  const auto want = load_webqa(plain);
  const auto got = load_webqa(test::write_gzip("mmrag_rft_gz_webqa.dat", {text}));
  REQUIRE(got.size() == want.size());
  CHECK(got.front().id == want.front().id);
  CHECK(got.back().answers == want.back().answers);
  CHECK(load_webqa(test::write_plain("mmrag_rft_plain_webqa.json.gz", text)).size() == want.size());
}

TEST_CASE("load_mmqa: a truncated gzip file is a located read error, and errors keep their line numbers") {
  const auto whole = test::read_bytes(
      test::write_gzip("mmrag_rft_gz_full.jsonl.gz", {test::read_bytes(test::files + "/mmqa_small.jsonl")}));
  const auto cut = test::write_plain("mmrag_rft_gz_cut.jsonl.gz", whole.substr(0, whole.size() - 12));
  auto e = error_of([&] { (void)load_mmqa(cut); });
  CHECK(e.file() == cut.string());
  CHECK(e.message().rfind("read error", 0) == 0);
  // A malformed second line inside a gzip file: the same located error as in the plain file.
  const auto bad =
      test::write_gzip("mmrag_rft_gz_bad.jsonl.gz", {"{\"qid\": \"q1\", \"question\": \"q\"}\n{\"qid\": 5}\n"});
  e = error_of([&] { (void)load_mmqa(bad); });
  CHECK(e.line() == 2);
  CHECK(e.field() == "qid");
}

TEST_CASE("detect_gold_format: from the first member of the content, compressed or not") {
  const auto mmqa_text = test::read_bytes(test::files + "/mmqa_small.jsonl");
  const auto webqa_text = test::read_bytes(test::files + "/webqa_small.json");
  CHECK(detect_gold_format(test::files + "/mmqa_small.jsonl") == gold_format::mmqa);
  CHECK(detect_gold_format(test::files + "/webqa_small.json") == gold_format::webqa);
  // Names that say the opposite of the content, or nothing.
  CHECK(detect_gold_format(test::write_gzip("mmrag_rft_fmt_a.json", {mmqa_text})) == gold_format::mmqa);
  CHECK(detect_gold_format(test::write_gzip("mmrag_rft_fmt_b.jsonl.gz", {webqa_text})) == gold_format::webqa);
  CHECK(detect_gold_format(test::write_plain("mmrag_rft_fmt_c", webqa_text)) == gold_format::webqa);
  // The first member decides: any MultimodalQA question field, or a key mapping to an object.
  CHECK(detail::gold_format_of("\xEF\xBB\xBF {\"metadata\": {\"type\": \"TextQ\"}, \"qid\": \"q\"}") ==
        gold_format::mmqa);
  CHECK(detail::gold_format_of("{\n  \"d5bbc1\": {\"Q\": \"x\"}}") == gold_format::webqa);
  CHECK_FALSE(detail::gold_format_of("{\"d5bbc1\": 3}"));
  CHECK_FALSE(detail::gold_format_of("[{\"qid\": \"q\"}]"));
  CHECK_FALSE(detail::gold_format_of("{\"unterminated"));
  CHECK_FALSE(detail::gold_format_of(""));
  const auto other = test::write_plain("mmrag_rft_fmt_d.json", "[1, 2]\n");
  const auto e = error_of([&] { (void)detect_gold_format(other); });
  CHECK(e.file() == other.string());
  CHECK(e.line() == 1);
  CHECK_THROWS_AS((void)detect_gold_format("/nonexistent/gold.json"), file_error);
}

} // TEST_SUITE("data")
