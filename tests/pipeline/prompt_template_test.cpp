// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/pipeline/prompt_template.hpp>
#include <mmrag_rft/rewards/format.hpp>

#include <doctest/doctest.h>

#include <memory>
#include <string>

using namespace mmrag_rft;

namespace {
sample two_docs() {
  sample s;
  s.id = "q1";
  s.question = "What color is the zorb?";
  document img{"17", modality::image, "zorb of the park", "a photo", "", std::make_shared<image_data>()};
  document txt{"t3", modality::text, "zorb facts", "the zorb is old.", "", nullptr};
  s.documents = {img, txt};
  s.gold = {0};
  return s;
}
} // namespace

TEST_SUITE("pipeline") {
TEST_CASE("render_stage1: fills question and one document with an image placeholder when the doc has pixels") {
  prompt_templates t;
  t.stage1 = "Q: {question} D: {document}";
  t.document = "[{label}] ({kind}) {title}. {text}{image}";
  const prompt p = render_stage1(t, two_docs(), 0);
  CHECK(p.text == "Q: What color is the zorb? D: [1] (image) zorb of the park. a photo <image>");
  CHECK(p.images.size() == 1);
  const prompt q = render_stage1(t, two_docs(), 1);
  CHECK(q.text == "Q: What color is the zorb? D: [1] (text) zorb facts. the zorb is old.");
  CHECK(q.images.empty());
}
TEST_CASE("render_stage2: labels documents 1..n in order when rendering the list prompt") {
  prompt_templates t;
  t.stage2 = "{question}|{documents}|{{literal}}";
  t.document = "[{label}] {kind};";
  const prompt p = render_stage2(t, two_docs());
  CHECK(p.text == "What color is the zorb?|[1] image;[2] text;|{literal}");
  CHECK(p.images.empty()); // no {image} in the document template: the pixels are not passed
}
TEST_CASE("prompt_templates: unknown placeholders and stray braces are errors when rendering") {
  prompt_templates t;
  t.stage1 = "{question} {nope}";
  CHECK_THROWS_WITH_AS((void)render_stage1(t, two_docs(), 0), doctest::Contains("{nope}"), error);
  t.stage1 = "{question";
  CHECK_THROWS_AS((void)render_stage1(t, two_docs(), 0), error);
  t.stage1 = "question}";
  CHECK_THROWS_AS((void)render_stage1(t, two_docs(), 0), error);
  CHECK_THROWS_AS((void)render_stage1(prompt_templates{}, two_docs(), 2), error);
}
TEST_CASE("prompt_templates: defaults render both stages when used unchanged") {
  const prompt_templates t;
  CHECK(render_stage1(t, two_docs(), 0).text.find("Question: What color is the zorb?") == 0);
  CHECK(render_stage2(t, two_docs()).text.find("[2] (text) zorb facts.") != std::string::npos);
}
} // TEST_SUITE("pipeline")

TEST_CASE("prompt_templates: the default stage-2 prompt asks for the sections stage2_format checks") {
  const prompt_templates t;
  const std::string text = render_stage2(t, two_docs()).text;
  for (const char* tag : {"<think>", "</think>", "<rank>", "</rank>", "<answer>", "</answer>"}) {
    CAPTURE(tag);
    CHECK(text.find(tag) != std::string::npos);
  }
  // The example the prompt gives, after a <think> section, is well formed for the stage-2 rule; the old
  // "ranking inside <answer>" form is not.
  const std::size_t at = text.find("as <rank>");
  REQUIRE(at != std::string::npos);
  const std::string example = text.substr(at + 3, text.size() - at - 4); // without "as " and the final '.'
  CHECK(example == "<rank> [2, 1] </rank><answer> answer </answer>");
  CHECK(stage2_format()(completion{"<think> [2] shows it </think>" + example, 0, false}, two_docs()) == 1.0);
  CHECK(stage2_format()(completion{"<think> x </think><answer> [2, 1] ; answer </answer>", 0, false}, two_docs()) ==
        0.0);
}
