// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/text/sections.hpp>

#include <doctest/doctest.h>

#include <string_view>

using namespace mmrag_rft;
using si = section_issue;

TEST_SUITE("text") {

TEST_CASE("tag_format: R1 output is well formed when think precedes answer with whitespace around") {
  const tag_format r1;
  const std::string_view out = "  <think>2 of 3 images show it</think>\n<answer>Paris</answer>\n";
  const tag_parse p = r1.parse(out);
  CHECK(p.well_formed());
  CHECK(p.issues == si::none);
  CHECK(p[0].content == "2 of 3 images show it");
  CHECK(p[1].content == "Paris");
  CHECK(p[1].whole == "<answer>Paris</answer>");
  CHECK(p.leading == "  ");
  CHECK(p.trailing == "\n");
  CHECK(is_r1_format(out));
  CHECK(is_r1_format("<think></think><answer></answer>"));
}

TEST_CASE("tag_format: missing when a required tag is never opened") {
  const tag_parse p = tag_format{}.parse("<think>hmm</think> Paris");
  CHECK(p.issues == (si::missing | si::trailing_text));
  CHECK(p[1].issues == si::missing);
  CHECK_FALSE(p[1].found());
  CHECK(p[1].content.empty());
  CHECK(p.trailing == " Paris");
  const tag_parse e = tag_format{}.parse("");
  CHECK(e.issues == si::missing);
  CHECK(e[0].issues == si::missing);
}

TEST_CASE("tag_format: duplicated when a tag appears twice, first section kept") {
  const tag_parse p = tag_format{}.parse("<think>a</think><answer>x</answer><answer>y</answer>");
  CHECK(p.issues == si::duplicated);
  CHECK(p[1].opens == 2);
  CHECK(p[1].closes == 2);
  CHECK(p[1].content == "x");
  CHECK_FALSE(is_r1_format("<think>a</think><answer>x</answer><answer>y</answer>"));
}

TEST_CASE("tag_format: unclosed when the output is truncated inside a section") {
  const tag_parse p = tag_format{}.parse("<think>a</think><answer>Par");
  CHECK(p.issues == si::unclosed);
  CHECK(p[1].found());
  CHECK(p[1].content == "Par");
  CHECK(p[1].whole == "<answer>Par");
  CHECK(p.trailing.empty());
  const tag_parse q = tag_format{}.parse("<think>still thinking");
  CHECK(q.issues == (si::unclosed | si::missing));
}

TEST_CASE("tag_format: out_of_order when answer precedes think") {
  const tag_parse p = tag_format{}.parse("<answer>x</answer><think>a</think>");
  CHECK(p.issues == si::out_of_order);
  CHECK(p[1].issues == si::out_of_order); // the section that opens before one configured ahead of it
  CHECK(p[0].issues == si::none);
  CHECK(p[0].content == "a");
  CHECK(p[1].content == "x");
}

TEST_CASE("tag_format: leading, between and trailing text reported distinctly") {
  CHECK(tag_format{}.parse("Sure! <think>a</think><answer>x</answer>").issues == si::leading_text);
  CHECK(tag_format{}.parse("<think>a</think> so <answer>x</answer>").issues == si::text_between);
  CHECK(tag_format{}.parse("<think>a</think><answer>x</answer> Hope it helps").issues == si::trailing_text);
  const tag_parse p = tag_format{}.parse("Sure! <think>a</think><answer>x</answer>");
  CHECK(p.leading == "Sure! ");
}

TEST_CASE("tag_format: stray_close and nested when tags are misplaced") {
  const tag_parse s = tag_format{}.parse("</think><think>a</think><answer>x</answer>");
  CHECK(any(s.issues, si::stray_close));
  CHECK(s[0].content == "a");
  const tag_parse n = tag_format{}.parse("<think>a<answer>x</answer></think>");
  CHECK(n.issues == si::nested);
  CHECK(n[0].content == "a<answer>x</answer>");
  CHECK(n[1].content == "x");
  const tag_parse o = tag_format{}.parse("<think>a<answer>x</think></answer>");
  CHECK(any(o.issues, si::nested));
  const tag_parse self = tag_format{}.parse("<think><think>a</think></think><answer>x</answer>");
  CHECK(any(self.issues, si::nested));
  CHECK(any(self.issues, si::duplicated));
}

TEST_CASE("tag_format: stage-2 template with a rank tag and an optional tag") {
  const tag_format f(std::vector<tag_spec>{{"think", true}, {"rank", true}, {"answer", true}, {"note", false}});
  const tag_parse p = f.parse("<think>t</think><rank>[2, 1]</rank><answer>a</answer>");
  CHECK(p.well_formed());
  CHECK(p[f.index("rank")].content == "[2, 1]");
  CHECK_FALSE(p[3].found());
  // Nesting can be allowed explicitly by a template that puts the ranking inside the answer.
  const tag_format g{"think", "answer", "rank"};
  const tag_parse q = g.parse("<think>t</think><answer><rank>[2, 1]</rank> Paris</answer>");
  CHECK(q.issues == si::nested);
  CHECK(q.well_formed(si::nested));
  CHECK(q[2].content == "[2, 1]");
}

TEST_CASE("tag_format: text that only looks like a tag is plain text") {
  const tag_parse p = tag_format{}.parse("<think>a<b and </thinking> <Answer></think><answer>x</answer><");
  CHECK(p.well_formed(si::trailing_text));
  CHECK(p[0].content == "a<b and </thinking> <Answer>");
  CHECK(p.trailing == "<");
  CHECK(tag_format{}.parse("<").issues == si::missing);
  CHECK(tag_format{}.parse("</").issues == si::missing);
  CHECK(tag_format{}.parse("<think").issues == si::missing);
}

TEST_CASE("tag_format: throws error when the configuration is invalid") {
  CHECK_THROWS_AS(tag_format({}), error);
  CHECK_THROWS_AS(tag_format({"think", ""}), error);
  CHECK_THROWS_AS(tag_format({"think", "an swer"}), error);
  CHECK_THROWS_AS(tag_format({"<think>"}), error);
  CHECK_THROWS_AS(tag_format({"a/b"}), error);
  CHECK_THROWS_AS(tag_format({"think", "think"}), error);
  CHECK_THROWS_AS(tag_format({"a", "b", "c", "d", "e", "f", "g", "h", "i"}), error);
  CHECK_THROWS_WITH_AS((void)tag_format{}.index("rank"),
                       doctest::Contains("\"rank\" is not one of the configured tags (think, answer)"), error);
  CHECK_NOTHROW(tag_format({"a", "b", "c", "d", "e", "f", "g", "h"}));
}

TEST_CASE("tag_parse::format_credit: one step per sound section and one for no outside text") {
  const tag_format f{"think", "rank", "answer"}; // K = 3: steps of 1/4
  CHECK(f.parse("<think>a</think><rank>[1]</rank><answer>x</answer>").format_credit() == 1.0);
  CHECK(f.parse("").format_credit() == 0.25);                                          // nothing outside, no section
  CHECK(f.parse("Paris").format_credit() == 0.0);                                      // all of it is outside text
  CHECK(f.parse("<think>a</think>").format_credit() == 0.5);                           // think sound, nothing outside
  CHECK(f.parse("<think>a</think><answer>x</answer>").format_credit() == 0.75);        // rank missing
  CHECK(f.parse("<think>a</think><rank>[1]</rank><answer>x").format_credit() == 0.75); // answer unclosed
  CHECK(f.parse("Sure. <think>a</think><rank>[1]</rank><answer>x</answer>").format_credit() == 0.75);
  CHECK(
      f.parse("Sure. <think>a</think><rank>[1]</rank><answer>x</answer>").format_credit(section_issue::leading_text) ==
      1.0);
  // Out of order: <rank> opens after <answer>, so <answer> is the section out of order.
  CHECK(f.parse("<think>a</think><answer>x</answer><rank>[1]</rank>").format_credit() == 0.75);
  CHECK(f.parse("<think>a</think><think>b</think><rank>[1]</rank><answer>x</answer>").format_credit() == 0.75);
  // An absent optional tag is sound: the credit is 1 exactly when the parse is well formed.
  const tag_format opt(std::vector<tag_spec>{{"think", false}, {"answer", true}});
  CHECK(opt.parse("<answer>x</answer>").format_credit() == 1.0);
  CHECK(opt.parse("<answer>x</answer>").well_formed());
}

TEST_CASE("tag_parse::format_credit: 1 exactly when well formed, and always in [0, 1]") {
  const tag_format f{"think", "rank", "answer"};
  const char* pieces[] = {"<think>", "</think>", "<rank>", "</rank>", "<answer>", "</answer>", "x", " "};
  // Every text of up to 4 pieces: exhaustive over 8^4 + ... combinations.
  std::string text;
  std::size_t checked = 0;
  const auto visit = [&](auto&& self, int depth) -> void {
    const tag_parse p = f.parse(text);
    const double c = p.format_credit();
    CHECK_MESSAGE((c >= 0.0 && c <= 1.0), text);
    CHECK_MESSAGE(((c == 1.0) == p.well_formed()), text);
    ++checked;
    if (depth == 0) return;
    for (const char* piece : pieces) {
      const std::size_t at = text.size();
      text += piece;
      self(self, depth - 1);
      text.resize(at);
    }
  };
  visit(visit, 4);
  CHECK(checked == 1 + 8 + 64 + 512 + 4096);
}

} // TEST_SUITE("text")
