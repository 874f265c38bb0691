// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/eval/explanation_record.hpp>
#include <mmrag_rft/eval/report_html.hpp>

#include <doctest/doctest.h>

#include <zlib.h>

#include <cstdio>
#include <string>
#include <vector>

using namespace mmrag_rft;

namespace {

explanation_record two_stage_record() {
  explanation_record r{
      "q1",
      "what color is the tusk ?",
      "color",
      {{"d1", "image", "tusk", "", 2, 1, 3, {255, 0, 0, 0, 255, 0}}, {"d2", "text", "tusk", "old", 0, 0, 0, {}}},
      {0},
      {"red"},
      {}};
  r.stages.push_back({"warm",
                      {{"<think> a </think>", 1.0, true}, {"no", 0.0, false}},
                      "<answer> blue </answer>",
                      {0},
                      "blue",
                      {{"answer", 0.0, 2.0}},
                      0.5,
                      "format ok; answer 0.00",
                      0.0});
  r.stages.push_back({"rl",
                      {{"yes", 1.0, true}, {"yes", 1.0, true}},
                      "<answer> red </answer>",
                      {1, 0},
                      "red",
                      {{"answer", 1.0, 2.0}},
                      2.5,
                      "format ok; answer 1.00",
                      1.0});
  return r;
}

std::string error_of(const nlohmann::json& j, std::size_t line) {
  try {
    (void)explanation_record_from_json(j, line);
  } catch (const error& e) {
    return e.what();
  }
  return "";
}

} // namespace

TEST_SUITE("report") {

TEST_CASE("explanation records: JSON round trip keeps every field") {
  const auto r = two_stage_record();
  const auto j = to_json(r);
  CHECK(j["documents"][0]["image"]["pixels"].size() == 6);
  CHECK_FALSE(j["documents"][1].contains("image"));
  const auto back = explanation_record_from_json(j, 1);
  CHECK(to_json(back) == j);
  CHECK(back.stages[1].ranking == std::vector<std::size_t>{1, 0});
  CHECK(back.stages[0].judgements[0].reasoning == "<think> a </think>");
  CHECK(back.stages[1].rules[0].weight == 2.0);
}

TEST_CASE("explanation records: bad input gets an error naming the line and the field") {
  auto j = to_json(two_stage_record());
  auto bad = j;
  bad["gold"] = {2};
  CHECK(error_of(bad, 7).find("gold") != std::string::npos);
  CHECK(error_of(bad, 7).find("7") != std::string::npos);
  bad = j;
  bad["stages"][1]["ranking"] = {0, 5};
  CHECK(error_of(bad, 1).find("ranking") != std::string::npos);
  bad = j;
  bad["stages"][0]["judgements"].erase(1);
  CHECK(error_of(bad, 1).find("one per document") != std::string::npos);
  bad = j;
  bad["documents"][0]["image"]["pixels"].erase(0);
  CHECK(error_of(bad, 1).find("image.pixels") != std::string::npos);
  bad = j;
  bad["question"] = 3;
  CHECK(error_of(bad, 1).find("wrong type") != std::string::npos);
  bad = j;
  bad.erase("id");
  CHECK(error_of(bad, 1).find("missing field") != std::string::npos);
  bad = j;
  bad["stages"][0]["reward"] = "x";
  CHECK_FALSE(error_of(bad, 1).empty());
  CHECK_FALSE(error_of(nlohmann::json::array(), 1).empty());
}

TEST_CASE("explanation records: writer and reader agree; a non-JSON line is located") {
  const std::string path = "report_test_records.jsonl";
  {
    explanation_writer w(path);
    w.write(two_stage_record());
    w.write(two_stage_record());
  }
  const auto rs = read_explanation_records(path);
  REQUIRE(rs.size() == 2);
  CHECK(to_json(rs[1]) == to_json(two_stage_record()));
  {
    std::FILE* f = std::fopen(path.c_str(), "a");
    std::fputs("\n{not json\n", f);
    std::fclose(f);
  }
  CHECK_THROWS_AS((void)read_explanation_records(path), error);
  std::remove(path.c_str());
  CHECK_THROWS_AS((void)read_explanation_records("no/such/file.jsonl"), error);
}

TEST_CASE("explain_sample: a library sample becomes a record with its pixels") {
  sample s;
  s.id = "g", s.question = "q ?", s.category = "color", s.gold = {0}, s.answers = {"red"};
  auto im = std::make_shared<image_data>();
  im->width = 1, im->height = 1, im->channels = 3, im->pixels = {1, 2, 3};
  s.documents.push_back({"i1", modality::image, "t", "", "", im});
  s.documents.push_back({"s1", modality::text, "t2", "fact", "", nullptr});
  const auto r = explain_sample(s);
  CHECK(r.documents[0].kind == "image");
  CHECK(r.documents[0].pixels == std::vector<std::uint8_t>{1, 2, 3});
  CHECK(r.documents[1].pixels.empty());
  CHECK(r.gold == s.gold);
}

TEST_CASE("encode_png: a valid PNG whose IDAT inflates to the filtered rows") {
  const std::vector<std::uint8_t> px{10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120};
  const std::string png = detail::encode_png(2, 2, 3, px);
  REQUIRE(png.size() > 33);
  CHECK(png.substr(0, 8) == std::string("\x89PNG\r\n\x1a\n", 8));
  CHECK(png.substr(12, 4) == "IHDR");
  const auto u32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(png[at])) << 24) | (std::uint32_t(std::uint8_t(png[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(png[at + 2])) << 8) | std::uint32_t(std::uint8_t(png[at + 3]));
  };
  CHECK(u32(16) == 2);
  CHECK(u32(20) == 2);
  const std::size_t idat = 8 + 12 + 13;
  CHECK(png.substr(idat + 4, 4) == "IDAT");
  const std::uint32_t n = u32(idat);
  std::vector<unsigned char> raw(64);
  uLongf len = raw.size();
  REQUIRE(uncompress(raw.data(), &len, reinterpret_cast<const Bytef*>(png.data() + idat + 8), n) == Z_OK);
  const std::vector<unsigned char> want{0, 10, 20, 30, 40, 50, 60, 0, 70, 80, 90, 100, 110, 120};
  CHECK(std::vector<unsigned char>(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(len)) == want);
  CHECK(u32(idat + 8 + n) == crc32(0L, reinterpret_cast<const Bytef*>(png.data() + idat + 4), n + 4));
  CHECK_THROWS_AS((void)detail::encode_png(2, 2, 2, px), error);
  CHECK_THROWS_AS((void)detail::encode_png(3, 2, 3, px), error);
}

TEST_CASE("base64: RFC 4648 test vectors") {
  CHECK(detail::base64("") == "");
  CHECK(detail::base64("f") == "Zg==");
  CHECK(detail::base64("fo") == "Zm8=");
  CHECK(detail::base64("foo") == "Zm9v");
  CHECK(detail::base64("foobar") == "Zm9vYmFy");
}

TEST_CASE("render_report_html: summary, categories, fixed/broke; record text cannot end the script") {
  auto r = two_stage_record();
  r.answers = {"red </script><b>"};
  report_options o;
  o.summary = nlohmann::json::parse(R"({"seed": 1, "warm": {"answer_em": 0.0}, "rl": {"answer_em": 0.6666666}})");
  const std::string h = render_report_html({two_stage_record(), r}, o);
  CHECK(h.find("data-stage=\"rl\" data-metric=\"answer_em\">0.667</td>") != std::string::npos);
  CHECK(h.find("id=\"fixed\" data-count=\"2\"") != std::string::npos);
  CHECK(h.find("id=\"broke\" data-count=\"0\"") != std::string::npos);
  // One </script> per script element: the records' own is escaped.
  std::size_t closes = 0;
  for (std::size_t p = 0; (p = h.find("</script>", p)) != std::string::npos; ++p) ++closes;
  CHECK(closes == 2);
  CHECK(h.find("data:image/png;base64,") != std::string::npos);
  CHECK(h.find("http") == h.find("http://www.w3.org/2000/svg")); // nothing fetched from the network
  o.page_size = 0;
  CHECK_THROWS_AS((void)render_report_html({}, o), error);
  CHECK_NOTHROW((void)render_report_html({}, {}));
}

TEST_CASE("the browser test's fixture reads") {
  const auto rs = read_explanation_records(MMRAG_RFT_REPORT_FILES "/records.jsonl");
  CHECK(rs.size() == 8);
}

} // TEST_SUITE("report")
