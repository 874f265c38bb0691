// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/data/webqa.hpp>

#include <doctest/doctest.h>

#include "file_error_support.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

using namespace mmrag_rft;
using mmrag_rft::test::error_of;
using mmrag_rft::test::files;

TEST_SUITE("data") {

TEST_CASE("load_webqa: reads records, facts, gold and answers when the file is well formed") {
  const auto s = load_webqa(files + "/webqa_small.json");
  REQUIRE(s.size() == 3);

  const sample& a = s[0];
  CHECK(a.id == "g-img-1");
  CHECK(a.question == "What color is the roof of the Blue Mill in Lindhaven?"); // literal quotes stripped
  REQUIRE(a.answers.size() == 1);
  CHECK(a.answers[0] == "The roof of the Blue Mill is red.");
  CHECK(a.keywords.empty());
  CHECK(a.category == "color");
  CHECK(a.split == "val");
  REQUIRE(a.documents.size() == 3);
  CHECK(a.documents[0].id == "101");
  CHECK(a.documents[0].kind == modality::image);
  CHECK(a.documents[0].title == "Blue Mill");
  CHECK(a.documents[0].text == "The Blue Mill seen from the river, red roof.");
  CHECK(a.documents[0].url == "https://example.org/wiki/Blue_Mill");
  CHECK(a.documents[1].id == "102");
  CHECK(a.documents[1].url.empty()); // null optional field
  CHECK(a.documents[2].id == "s-9");
  CHECK(a.documents[2].kind == modality::text);
  CHECK(a.documents[2].text == "Lindhaven is a small town on the river Ol.");
  CHECK(a.gold == std::vector<std::size_t>{0});

  const sample& b = s[1];
  CHECK(b.answers.size() == 2);
  CHECK(b.keywords == std::vector<std::string>{"three"});
  CHECK(b.category == "text");
  REQUIRE(b.documents.size() == 4);
  CHECK(b.documents[0].id == "103");
  CHECK(b.gold == std::vector<std::size_t>{1, 2});
  CHECK(b.documents[1].id == "s-1");
  CHECK(b.documents[2].id == "s-2");

  const sample& t = s[2]; // test record: unlabelled img_Facts / txt_Facts, no answers
  CHECK(t.answers.empty());
  CHECK(t.gold.empty());
  REQUIRE(t.documents.size() == 2);
  CHECK(t.documents[0].id == "104");
  CHECK(t.documents[1].id == "s-4");
}

TEST_CASE("load_webqa: filters by split and drops negatives when asked") {
  webqa_load_options o;
  o.split = "train";
  o.include_negatives = false;
  const auto s = load_webqa(files + "/webqa_small.json", o);
  REQUIRE(s.size() == 1);
  CHECK(s[0].id == "g-txt-1");
  REQUIRE(s[0].documents.size() == 2);
  CHECK(s[0].gold == std::vector<std::size_t>{0, 1});
}

TEST_CASE("load_webqa: keeps literal quotes when strip_quotes is off") {
  webqa_load_options o;
  o.strip_quotes = false;
  const auto s = load_webqa(files + "/webqa_small.json", o);
  CHECK(s[0].question.front() == '"');
  CHECK(s[0].answers[0] == "\"The roof of the Blue Mill is red.\"");
}

TEST_CASE("load_webqa: shuffles reproducibly and keeps gold pointing at the same documents when seeded") {
  webqa_load_options o;
  o.shuffle_seed = 7;
  const auto a = load_webqa(files + "/webqa_small.json", o);
  const auto b = load_webqa(files + "/webqa_small.json", o);
  const auto plain = load_webqa(files + "/webqa_small.json");
  for (std::size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].documents.size() == plain[i].documents.size());
    std::vector<std::string> ga, gp;
    for (auto g : a[i].gold) ga.push_back(a[i].documents[g].id);
    for (auto g : plain[i].gold) gp.push_back(plain[i].documents[g].id);
    std::sort(ga.begin(), ga.end());
    CHECK(ga == gp);
    for (std::size_t d = 0; d < a[i].documents.size(); ++d) CHECK(a[i].documents[d].id == b[i].documents[d].id);
  }
}

TEST_CASE("load_webqa: attach_image hook fills image documents only") {
  webqa_load_options o;
  int calls = 0;
  o.attach_image = [&](const document& d) {
    ++calls;
    auto img = std::make_shared<image_data>();
    img->features = {static_cast<float>(std::stoi(d.id))};
    return std::shared_ptr<const image_data>(img);
  };
  const auto s = load_webqa(files + "/webqa_small.json", o);
  CHECK(calls == 4);
  REQUIRE(s[0].documents[0].image);
  CHECK(s[0].documents[0].image->features[0] == 101.0f);
  CHECK_FALSE(s[0].documents[2].image);
}

TEST_CASE("parse_webqa: names record, field path, line and byte when a field has the wrong type") {
  const std::string text =
      "{\n \"d5bbc0\": {\"Q\": \"q\",\n  \"img_posFacts\": [{\"image_id\": 1}, {\"image_id\": 2},\n"
      "   {\"image_id\": \"3\"}]}}";
  const auto e = error_of([&] { (void)parse_webqa(text, "val.json"); });
  CHECK(e.file() == "val.json");
  CHECK(e.record() == "d5bbc0");
  CHECK(e.field() == "img_posFacts[2].image_id");
  CHECK(e.message() == "expected integer, got string");
  CHECK(e.line() == 4);
  CHECK(text.substr(e.byte_offset(), 1) == "\""); // the closing quote of "3"
  CHECK(std::string(e.what()) == "parse_webqa: val.json:4 (byte " + std::to_string(e.byte_offset()) +
                                     "): \"d5bbc0\": img_posFacts[2].image_id: expected integer, got string");
}

TEST_CASE("parse_webqa: reports missing required fields and accepts missing optional ones") {
  CHECK_NOTHROW((void)parse_webqa(R"({"g": {"Q": "only a question"}})"));
  auto e = error_of([] { (void)parse_webqa(R"({"g1": {"A": ["x"]}})"); });
  CHECK(e.record() == "g1");
  CHECK(e.message() == "missing required field Q");
  e = error_of([] { (void)parse_webqa(R"({"g2": {"Q": "q", "txt_negFacts": [{"fact": "f"}]}})"); });
  CHECK(e.field() == "txt_negFacts[0]");
  CHECK(e.message() == "missing required field snippet_id");
  e = error_of([] { (void)parse_webqa(R"({"g3": {"Q": "q", "img_negFacts": [{"title": "t"}]}})"); });
  CHECK(e.message() == "missing required field image_id");
}

TEST_CASE("parse_webqa: rejects wrong shapes with the field path") {
  auto e = error_of([] { (void)parse_webqa(R"({"g": {"Q": 5}})"); });
  CHECK(e.field() == "Q");
  CHECK(e.message() == "expected string, got integer");
  e = error_of([] { (void)parse_webqa(R"({"g": {"Q": "q", "A": [1]}})"); });
  CHECK(e.field() == "A[0]");
  CHECK(e.message() == "expected string, got integer");
  e = error_of([] { (void)parse_webqa(R"({"g": {"Q": "q", "img_posFacts": {"image_id": 1}}})"); });
  CHECK(e.field() == "img_posFacts");
  CHECK(e.message() == "expected array, got object");
  e = error_of([] { (void)parse_webqa(R"({"g": {"Q": "q", "txt_posFacts": [{"snippet_id": 12}]}})"); });
  CHECK(e.field() == "txt_posFacts[0].snippet_id");
  e = error_of([] { (void)parse_webqa(R"({"g": {"Q": "q", "img_posFacts": [{"image_id": 1.5}]}})"); });
  CHECK(e.message() == "expected integer, got number");
  e = error_of([] { (void)parse_webqa(R"([{"Q": "q"}])"); });
  CHECK(e.record().empty());
  CHECK(e.message() == "expected an object keyed by Guid at the top level, got array");
  e = error_of([] { (void)parse_webqa(R"({"g": "not a record"})"); });
  CHECK(e.message() == "expected object, got string");
}

TEST_CASE("parse_webqa: reports invalid JSON with its line and byte") {
  const std::string text = "{\"g\": {\"Q\": \"q\",\n \"A\": [\"a\" \"b\"]}}";
  const auto e = error_of([&] { (void)parse_webqa(text, "bad.json"); });
  CHECK(e.line() == 2);
  CHECK(e.record() == "g");
  CHECK(e.message().rfind("invalid JSON: ", 0) == 0);
  CHECK(e.byte_offset() == text.find("\"b\"") + 2); // the last byte of the token the parser could not accept
  CHECK_THROWS_AS((void)parse_webqa(""), file_error);
  CHECK_THROWS_AS((void)parse_webqa(R"({"g": {"Q": "q"}} trailing)"), file_error);
}

TEST_CASE("load_webqa: names the file when it cannot be opened or is malformed on disk") {
  const auto e = error_of([] { (void)load_webqa(files + "/no_such_file.json"); });
  CHECK(e.file() == files + "/no_such_file.json");
  CHECK(e.message().rfind("cannot be opened", 0) == 0);

  const auto path = std::filesystem::temp_directory_path() / "mmrag_rft_webqa_bad.json";
  {
    std::ofstream f(path);
    f << "{\n\"g\": {\"Q\": \"q\",\n\"img_negFacts\": [{\"image_id\": true}]}}\n";
  }
  const auto e2 = error_of([&] { (void)load_webqa(path); });
  CHECK(e2.line() == 3);
  CHECK(e2.field() == "img_negFacts[0].image_id");
  CHECK(e2.message() == "expected integer, got boolean");
  std::filesystem::remove(path);
}

TEST_CASE("load_webqa: reads a file larger than one chunk with correct lines") {
  const auto path = std::filesystem::temp_directory_path() / "mmrag_rft_webqa_big.json";
  constexpr int n = 3000; // ~1.5 MiB: crosses the 1 MiB chunk boundary
  {
    std::ofstream f(path);
    f << "{\n";
    for (int i = 0; i < n; ++i) {
      f << "\"g" << i << "\": {\"Q\": \"question " << i << " " << std::string(400, 'x')
        << "\", \"img_posFacts\": [{\"image_id\": " << i << "}]},\n";
    }
    f << "\"last\": {\"Q\": \"q\", \"img_posFacts\": [{\"image_id\": \"oops\"}]}\n}\n";
  }
  const auto e = error_of([&] { (void)load_webqa(path); });
  CHECK(e.record() == "last");
  CHECK(e.line() == n + 2);
  {
    std::ofstream f(path);
    f << "{";
    for (int i = 0; i < n; ++i) f << (i ? "," : "") << "\"g" << i << "\": {\"Q\": \"" << std::string(400, 'y') << "\"}";
    f << "}";
  }
  const auto s = load_webqa(path);
  CHECK(s.size() == n);
  CHECK(s.back().id == "g" + std::to_string(n - 1));
  std::filesystem::remove(path);
}

} // TEST_SUITE("data")
