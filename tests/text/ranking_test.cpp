// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/text/ranking.hpp>

#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

using namespace mmrag_rft;
using ri = ranking_issue;
using order_t = std::vector<std::size_t>;

TEST_SUITE("text") {

TEST_CASE("parse_ranking: the forms models write when labels are plain numbers") {
  const label_scheme s = label_scheme::numbered(5);
  for (const auto text : {"[3, 1, 2]", "3 > 1 > 2", "[3] > [1] > [2]", "3\n1\n2\n", "3,1,2", " 3 ,\t1 , 2 ",
                          "1. [3]\n2. [1]\n3. [2]", "1) 3\n2) 1\n3) 2", "[3],[1],[2]"}) {
    const ranking_parse p = parse_ranking(text, s);
    CHECK_MESSAGE((p.order == order_t{2, 0, 1}), text);
    CHECK_MESSAGE(p.ok(), text);
    CHECK(p.labels == 3);
  }
  CHECK(parse_ranking("1, 3", s).order == order_t{0, 2});
}

TEST_CASE("parse_ranking: a bare number on its own line is a label, not a list marker") {
  const label_scheme s = label_scheme::numbered(5);
  CHECK(parse_ranking("1.\n3.\n2.", s).order == order_t{0, 2, 1});
  CHECK(parse_ranking("1.5", s).issues == ri::unknown_label);
}

TEST_CASE("parse_ranking: prefixed labels with the shared default scheme") {
  const label_scheme s = label_scheme::shared(6);
  CHECK(parse_ranking("Image 2 > Text 5", s).order == order_t{1, 4});
  CHECK(parse_ranking("[Doc 3], [Doc 1]", s).order == order_t{2, 0});
  CHECK(parse_ranking("image_2 > TEXT#5 > doc-1 > img6", s).order == order_t{1, 4, 0, 5});
  CHECK(parse_ranking("1. Image 2\n2. Text 5", s).order == order_t{1, 4});
  const ranking_parse p = parse_ranking("Video 2 > Image 3", s);
  CHECK(p.order == order_t{2});
  CHECK(p.issues == ri::unknown_label);
  REQUIRE(p.diagnostics.size() == 1);
  CHECK(p.diagnostics[0].text == "Video 2");
  CHECK(p.diagnostics[0].position == 0);
  CHECK(p.diagnostics[0].offset == 0);
}

TEST_CASE("parse_ranking: per-prefix numbering maps each prefix to its own documents") {
  const label_scheme s = label_scheme::per_prefix({{"image", 2}, {"text", 3}});
  CHECK(s.num_documents() == 5);
  CHECK(parse_ranking("Text 1 > Image 2 > Text 3 > Image 1", s).order == order_t{2, 1, 4, 0});
  const ranking_parse p = parse_ranking("Image 3 > 2 > Doc 1", s);
  CHECK(p.order.empty());
  REQUIRE(p.diagnostics.size() == 3);
  CHECK(p.diagnostics[0].kind == ri::out_of_range);  // only two images
  CHECK(p.diagnostics[1].kind == ri::unknown_label); // a bare number is not placeable with two prefixes
  CHECK(p.diagnostics[2].kind == ri::unknown_label); // "doc" is not a prefix of this scheme
  const label_scheme one = label_scheme::per_prefix({{"passage", 4}});
  CHECK(parse_ranking("4 > passage 1", one).order == order_t{3, 0});
}

TEST_CASE("parse_ranking: duplicates and out-of-range ids reported with their positions, not guessed") {
  const ranking_parse p = parse_ranking("[3, 1, 3, 9, 0]", label_scheme::numbered(5));
  CHECK(p.order == order_t{2, 0});
  CHECK(p.issues == (ri::duplicate | ri::out_of_range));
  REQUIRE(p.diagnostics.size() == 3);
  CHECK(p.diagnostics[0].kind == ri::duplicate);
  CHECK(p.diagnostics[0].position == 2);
  CHECK(p.diagnostics[0].offset == 7);
  CHECK(p.diagnostics[0].text == "3");
  CHECK(p.diagnostics[1].kind == ri::out_of_range);
  CHECK(p.diagnostics[1].position == 3);
  CHECK(p.diagnostics[2].text == "0");
  CHECK(parse_ranking("99999999999999999999999999", label_scheme::numbered(5)).issues == ri::out_of_range);
}

TEST_CASE("parse_ranking: bare scheme rejects prefixed labels") {
  const ranking_parse p = parse_ranking("Image 1 > 2", label_scheme::numbered(3));
  CHECK(p.order == order_t{1});
  CHECK(p.issues == ri::unknown_label);
}

TEST_CASE("parse_ranking: extra_text when words surround the list") {
  const ranking_parse p = parse_ranking("Ranking: [2] > [1] because it shows the tower", label_scheme::numbered(3));
  CHECK(p.order == order_t{1, 0});
  CHECK(p.issues == ri::extra_text);
  CHECK(p.ok(ri::extra_text));
  CHECK(p.diagnostics[0].text == "Ranking");
  CHECK(p.diagnostics[0].position == 0);
  CHECK(p.diagnostics[1].position == 2); // "because" comes after two labels
}

TEST_CASE("parse_ranking: empty when there is no label") {
  CHECK(parse_ranking("", label_scheme::numbered(3)).issues == ri::empty);
  CHECK(parse_ranking("[ ] > ,", label_scheme::numbered(3)).issues == ri::empty);
  CHECK(parse_ranking("none", label_scheme::numbered(3)).issues == (ri::empty | ri::extra_text));
  CHECK(parse_ranking("[1]", label_scheme::numbered(0)).issues == ri::out_of_range);
}

TEST_CASE("parse_ranking: truncated when more labels than max_items") {
  std::string many;
  for (int i = 0; i < 1000; ++i) many += "1 ";
  const ranking_parse p = parse_ranking(many, label_scheme::numbered(3), {10});
  CHECK(p.labels == 10);
  CHECK(p.order == order_t{0});
  CHECK(p.diagnostics.size() == 9);
  CHECK(p.issues == (ri::duplicate | ri::truncated));
  CHECK_THROWS_AS((void)parse_ranking("1", label_scheme::numbered(3), {0}), error);
}

TEST_CASE("parse_ranking: no allocation when the result object is reused") {
  const label_scheme s = label_scheme::numbered(200);
  ranking_parse out;
  parse_ranking("[5, 4, 3, 2, 1, 1, 150]", s, out);
  const auto* order = out.order.data();
  const auto* diags = out.diagnostics.data();
  parse_ranking("[150, 1, 2, 3, 3]", s, out);
  CHECK(out.order == order_t{149, 0, 1, 2});
  CHECK(out.order.data() == order);
  CHECK(out.diagnostics.data() == diags);
  CHECK(out.issues == ri::duplicate); // the bits of the previous call were cleared
}

TEST_CASE("label_scheme: throws error when prefixes are invalid") {
  CHECK_THROWS_AS((void)label_scheme::shared(3, {"image", ""}), error);
  CHECK_THROWS_AS((void)label_scheme::shared(3, {"image 1"}), error);
  CHECK_THROWS_AS((void)label_scheme::shared(3, {"Image", "image"}), error);
  CHECK_THROWS_AS((void)label_scheme::per_prefix({}), error);
  CHECK_THROWS_AS((void)label_scheme::per_prefix({{"doc", 1}, {"d0c", 1}}), error);
  const label_scheme s = label_scheme::shared(3, {"Image"});
  CHECK(s.prefixes() == std::vector<std::string>{"image"});
  CHECK(s.lookup("IMAGE", 3).index == 2);
  CHECK(s.lookup("image", 4).status == label_status::out_of_range);
  CHECK(s.lookup("text", 1).status == label_status::unknown);
}

} // TEST_SUITE("text")
