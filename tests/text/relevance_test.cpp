// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/text/relevance.hpp>

#include <doctest/doctest.h>

#include <string_view>

using namespace mmrag_rft;
using rv = relevance_verdict;
using rf = relevance_failure;

namespace {
rv verdict(std::string_view s, relevance_options o = {}) { return parse_relevance(s, o).verdict; }
rf failure(std::string_view s, relevance_options o = {}) { return parse_relevance(s, o).failure; }
double score(std::string_view s, relevance_options o = {}) { return parse_relevance(s, o).score.value_or(-1); }
} // namespace

TEST_SUITE("text") {

TEST_CASE("parse_relevance: yes/no words with case, whitespace and markdown noise") {
  for (const auto s : {"Yes", "yes", "**Yes**", "Yes.", " RELEVANT ", "relevant", "True", "\"yes\"", "Answer: Yes"})
    CHECK_MESSAGE(verdict(s) == rv::relevant, s);
  for (const auto s : {"No", "no.", "**NO**", "Irrelevant", "not relevant", "Not Relevant.", "non-relevant", "False",
                       "No, not relevant."})
    CHECK_MESSAGE(verdict(s) == rv::irrelevant, s);
  const relevance_parse p = parse_relevance("  **Yes**, it is relevant.");
  CHECK(p.ok());
  CHECK(p.positive == 2);
  CHECK(p.negative == 0);
  CHECK(p.evidence == "Yes");
  CHECK(p.failure == rf::none);
  CHECK_FALSE(p.score.has_value());
}

TEST_CASE("parse_relevance: words are whole words only") {
  CHECK(failure("yesterday, nobody knew") == rf::no_verdict);
  CHECK(failure("the relevance is unclear") == rf::no_verdict);
  CHECK(verdict("not irrelevant") == rv::relevant); // negation flips either polarity
}

TEST_CASE("parse_relevance: ambiguous when both polarities appear") {
  CHECK(failure("yes and no") == rf::ambiguous);
  CHECK(verdict("yes and no") == rv::unknown);
  CHECK(failure("Relevant? No.") == rf::ambiguous);
  CHECK(failure("Yes. Score: 0.2") == rf::ambiguous);             // the word and the score disagree
  CHECK(failure("score: 0.9, confidence: 0.3") == rf::ambiguous); // two different scores
  CHECK(verdict("Yes, score 0.9 (score: 0.9)") == rv::relevant);  // the same score twice is fine
}

TEST_CASE("parse_relevance: scores in [0,1], 0-10 and percent") {
  CHECK(score("Score: 0.8") == doctest::Approx(0.8));
  CHECK(verdict("Score: 0.8") == rv::relevant);
  CHECK(verdict("Score: 0.3") == rv::irrelevant);
  CHECK(score("relevance score = 7/10") == doctest::Approx(0.7));
  CHECK(score("Relevance: 7 out of 10") == doctest::Approx(0.7));
  CHECK(score("Confidence: 85%") == doctest::Approx(0.85));
  CHECK(score("0.35") == doctest::Approx(0.35));
  CHECK(score(" **.9** ") == doctest::Approx(0.9));
  CHECK(score("8") == doctest::Approx(0.8)); // automatic: (1, 10] read as 0-10
  CHECK(score("1") == doctest::Approx(1.0)); // automatic: [0, 1] read as is
  CHECK(score("1", {score_scale::ten, 0.5}) == doctest::Approx(0.1));
  CHECK(score("85", {score_scale::percent, 0.5}) == doctest::Approx(0.85));
  CHECK(verdict("score is 0.5") == rv::relevant); // threshold is inclusive
  CHECK(verdict("score is 0.5", {score_scale::automatic, 0.6}) == rv::irrelevant);
}

TEST_CASE("parse_relevance: numbers that are not scores are ignored") {
  CHECK(verdict("Document 3 is relevant") == rv::relevant);
  CHECK_FALSE(parse_relevance("Document 3 is relevant").score.has_value());
  CHECK(failure("Image 2") == rf::no_verdict);
  CHECK(failure("1. see above") == rf::no_verdict);
}

TEST_CASE("parse_relevance: score_out_of_range when the score leaves its scale") {
  CHECK(failure("Score: 10.5") == rf::score_out_of_range);
  CHECK(failure("Score: 1.5", {score_scale::unit, 0.5}) == rf::score_out_of_range);
  CHECK(score("Score: 1.5") == doctest::Approx(0.15)); // automatic: (1, 10] is the 0-10 scale
  CHECK(failure("Score: 15") == rf::score_out_of_range);
  CHECK(failure("120%") == rf::score_out_of_range);
  CHECK(failure("Score: -1") == rf::score_out_of_range);
  CHECK(failure("score 3/0") == rf::score_out_of_range);
  CHECK_FALSE(parse_relevance("Yes. Score: 11").score.has_value());
}

TEST_CASE("parse_relevance: empty when nothing alphanumeric") {
  CHECK(failure("") == rf::empty);
  CHECK(failure("  \n") == rf::empty);
  CHECK(failure("**.**") == rf::empty);
  CHECK(failure("Maybe") == rf::no_verdict);
  CHECK(failure("\xC3\xA9\xFF") == rf::empty); // non-ASCII bytes are neither words nor numbers
}

TEST_CASE("parse_relevance: throws error when the threshold is outside [0, 1]") {
  CHECK_THROWS_AS((void)parse_relevance("yes", {score_scale::automatic, 1.5}), error);
  CHECK_THROWS_AS((void)parse_relevance("yes", {score_scale::automatic, -0.1}), error);
}

} // TEST_SUITE("text")
