// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/data/mmqa.hpp>

#include <doctest/doctest.h>

#include "file_error_support.hpp"

#include <filesystem>
#include <fstream>
#include <string>

using namespace mmrag_rft;
using mmrag_rft::test::error_of;
using mmrag_rft::test::files;

namespace {

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path) << text;
  return path;
}

} // namespace

TEST_SUITE("data") {

TEST_CASE("load_mmqa: reads questions, answers, documents and gold when the files are well formed") {
  mmqa_load_options o;
  o.texts = files + "/mmqa_texts_small.jsonl";
  o.images = files + "/mmqa_images_small.jsonl";
  o.tables = files + "/mmqa_tables_small.jsonl";
  o.split = "dev";
  const auto d = load_mmqa(files + "/mmqa_small.jsonl", o);
  REQUIRE(d.samples.size() == 4); // the blank line is skipped
  REQUIRE(d.info.size() == 4);

  const sample& t = d.samples[0];
  CHECK(t.id == "q-table-1");
  CHECK(t.category == "TableQ");
  CHECK(t.split == "dev");
  CHECK(t.answers == std::vector<std::string>{"Grey Harbour"});
  REQUIRE(t.documents.size() == 4);
  CHECK(t.documents[0].id == "img-a");
  CHECK(t.documents[0].kind == modality::image);
  CHECK(t.documents[0].title == "Grey Harbour");
  CHECK(t.documents[1].kind == modality::text);
  CHECK(t.documents[1].text == "The film won 4 awards at the coast festival.");
  CHECK(t.documents[3].kind == modality::table);
  CHECK(t.documents[3].title == "Ada Vale");
  CHECK(t.documents[3].text == "Filmography\nYear | Title\n1995 | Salt Road\n1999 | Grey Harbour");
  CHECK(t.gold == std::vector<std::size_t>{3});
  CHECK(d.info[0].answer_modality == "table");
  CHECK(d.info[0].modalities == std::vector<std::string>{"table"});

  CHECK(d.samples[1].answers == std::vector<std::string>{"Grey Harbour", "Salt Road"});
  CHECK(d.samples[1].gold == std::vector<std::size_t>{0, 1});
  CHECK(d.info[1].answer_modality == "image");

  // A number answer is stored as Python's str(float), as the official script compares it.
  CHECK(d.samples[2].answers == std::vector<std::string>{"4.0"});
  CHECK(d.info[2].answer_types == std::vector<std::string>{"number"});
  CHECK(d.samples[2].gold == std::vector<std::size_t>{1, 0});
  CHECK(d.samples[3].category == "Compare(TableQ,Compose(TableQ,TextQ))");
}

TEST_CASE("load_mmqa: leaves documents bare when no context file is given") {
  const auto d = load_mmqa(files + "/mmqa_small.jsonl");
  CHECK(d.samples[0].documents[1].id == "txt-a");
  CHECK(d.samples[0].documents[1].text.empty());
  CHECK(d.samples[0].split.empty());
}

TEST_CASE("load_mmqa: accepts a test file without answers or supporting context") {
  const auto p = write_temp("mmrag_rft_mmqa_test.jsonl",
                            R"({"qid": "t1", "question": "q?", "metadata": {"type": "TextQ", "text_doc_ids": ["x"]}})");
  const auto d = load_mmqa(p);
  REQUIRE(d.samples.size() == 1);
  CHECK(d.samples[0].answers.empty());
  CHECK(d.samples[0].gold.empty());
  CHECK(d.info[0].answer_modality.empty());
  std::filesystem::remove(p);
}

TEST_CASE("load_mmqa: names file, line, qid and field when a question is malformed") {
  const auto p =
      write_temp("mmrag_rft_mmqa_bad.jsonl",
                 "{\"qid\": \"ok\", \"question\": \"q\"}\n"
                 "{\"qid\": \"a33985\", \"question\": \"q\", \"answers\": [{\"answer\": \"x\"}, {\"answer\": [1]}]}\n");
  auto e = error_of([&] { (void)load_mmqa(p); });
  CHECK(e.file() == p.string());
  CHECK(e.line() == 2);
  CHECK(e.record() == "a33985");
  CHECK(e.field() == "answers[1].answer");
  CHECK(e.message() == "expected string or number, got array");

  std::ofstream(p) << "{\"qid\": \"q1\"}\n";
  e = error_of([&] { (void)load_mmqa(p); });
  CHECK(e.field() == "question");
  CHECK(e.message() == "missing required field");

  std::ofstream(p) << "\n\n{\"qid\": \"q1\", \"question\": \"q\", \"metadata\": {\"image_doc_ids\": [3]}}\n";
  e = error_of([&] { (void)load_mmqa(p); });
  CHECK(e.line() == 3);
  CHECK(e.field() == "metadata.image_doc_ids[0]");
  CHECK(e.message() == "expected string, got integer");

  std::ofstream(p) << "{\"qid\": \"q1\", \"question\": \"q\",\n";
  e = error_of([&] { (void)load_mmqa(p); });
  CHECK(e.line() == 1);
  CHECK(e.message().rfind("invalid JSON", 0) == 0);

  std::ofstream(p) << "{\"qid\": \"q1\", \"question\": \"q\", \"supporting_context\": [{\"doc_part\": \"text\"}]}\n";
  e = error_of([&] { (void)load_mmqa(p); });
  CHECK(e.field() == "supporting_context[0].doc_id");
  std::filesystem::remove(p);
}

TEST_CASE("load_mmqa: names the context file and line when a context record is malformed") {
  const auto ctx = write_temp("mmrag_rft_mmqa_texts_bad.jsonl", "{\"id\": \"txt-a\", \"text\": 5}\n");
  mmqa_load_options o;
  o.texts = ctx;
  const auto e = error_of([&] { (void)load_mmqa(files + "/mmqa_small.jsonl", o); });
  CHECK(e.file() == ctx.string());
  CHECK(e.line() == 1);
  CHECK(e.record() == "txt-a");
  CHECK(e.field() == "text");
  std::filesystem::remove(ctx);
  CHECK_THROWS_AS((void)load_mmqa(files + "/missing.jsonl"), file_error);
}

TEST_CASE("load_mmqa: a damaged gzip stream is an error at a line of the content") {
  // The gzip magic and a header cut short: read as gzip (told from the content), then a read error.
  const auto path = write_temp("mmrag_rft_mmqa_damaged_gzip.jsonl", std::string("\x1f\x8b"
                                                                                "xyz",
                                                                                5));
  try {
    (void)load_mmqa(path);
    FAIL("no error");
  } catch (const file_error& e) {
    CHECK(e.function() == "load_mmqa");
    CHECK(e.file() == path.string());
    CHECK(e.line() == 1);
  }
  std::filesystem::remove(path);
}
} // TEST_SUITE("data")
