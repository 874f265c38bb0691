#include <mmrag_rft/metrics/webqa.hpp>

#include <doctest/doctest.h>

#include <span>
#include <string>
#include <string_view>
#include <vector>

using namespace mmrag_rft;
using words = std::vector<std::string>;

namespace {
constexpr double f1_one = 2.0 / (2.0 + 1e-5); // F1 of a perfect match with the official 1e-5 smoothing
}

TEST_SUITE("metrics") {

TEST_CASE("webqa_normalize: the three cases of the official normalize_text") {
  CHECK(webqa_normalize("The THREE red apples.") == words{"3", "red", "apple"});
  // One character: only lower case and number conversion.
  CHECK(webqa_normalize(" A ") == words{"a"});
  CHECK(webqa_normalize("7") == words{"7"});
  CHECK(webqa_normalize("?") == words{"?"});
  // One word: punctuation goes, articles stay.
  CHECK(webqa_normalize("The") == words{"the"});
  CHECK(webqa_normalize("\"Seven!\"") == words{"7"});
  // '.' survives only before a digit.
  CHECK(webqa_normalize("about 3.5 meters.") == words{"about", "3.5", "meter"});
  CHECK(webqa_normalize("007 and twenty") == words{"7", "and", "20"});
  CHECK(webqa_normalize("point five") == words{"point", "5"});
  CHECK(webqa_normalize("").empty());
  CHECK(webqa_normalize("  !!  ").empty());
  CHECK(webqa_normalize("It is").size() == 2);
}

TEST_CASE("webqa_default_lemma: plurals and be/have/do, vocabulary words untouched") {
  CHECK(webqa_default_lemma("circles") == "circle");
  CHECK(webqa_default_lemma("cherries") == "cherry");
  CHECK(webqa_default_lemma("crosses") == "cross");
  CHECK(webqa_default_lemma("arches") == "arch");
  CHECK(webqa_default_lemma("is") == "be");
  CHECK(webqa_default_lemma("has") == "have");
  CHECK(webqa_default_lemma("yes") == "yes");
  CHECK(webqa_default_lemma("xs") == "xs");
  CHECK(webqa_default_lemma("glass") == "glass");
  CHECK(webqa_default_lemma("red") == "red");
  CHECK(webqa_default_lemma("3s") == "3s");
  CHECK(webqa_default_lemma("bus") == "bus");
}

TEST_CASE("webqa_qa_accuracy: color uses F1 over the color vocabulary") {
  // pred {red, white}, gold {red}: P = 1/2, R = 1, F1 = 1 / (1.5 + 1e-5).
  CHECK(webqa_qa_accuracy("It is red and white.", "red", webqa_category::color) ==
        doctest::Approx(1.0 / 1.50001).epsilon(1e-12));
  CHECK(webqa_qa_accuracy("Red, red and RED", "red", webqa_category::color) == doctest::Approx(f1_one).epsilon(1e-12));
  CHECK(webqa_qa_accuracy("blue", "red", webqa_category::color) == 0.0);
  CHECK(webqa_qa_accuracy("It is red and white.", "red", "color") == doctest::Approx(1.0 / 1.50001));
}

TEST_CASE("webqa_qa_accuracy: shape and YesNo vocabularies") {
  CHECK(webqa_qa_accuracy("There are two circles.", "circle", webqa_category::shape) == doctest::Approx(f1_one));
  CHECK(webqa_qa_accuracy("Yes, it is.", "yes", webqa_category::yesno) == doctest::Approx(f1_one));
  CHECK(webqa_qa_accuracy("No.", "yes", webqa_category::yesno) == 0.0);
  CHECK(webqa_qa_accuracy("Yes and no", "yes", "YesNo") == doctest::Approx(1.0 / 1.50001));
}

TEST_CASE("webqa_qa_accuracy: number keeps integer words and reads number words") {
  CHECK(webqa_qa_accuracy("There are three dogs.", "3", webqa_category::number) == doctest::Approx(f1_one));
  CHECK(webqa_qa_accuracy("twenty", "20", webqa_category::number) == doctest::Approx(f1_one));
  CHECK(webqa_qa_accuracy("about 3.5", "3", webqa_category::number) == 0.0);
  // pred {2, 3}, gold {3}: F1 = 1 / (1.5 + 1e-5).
  CHECK(webqa_qa_accuracy("2 or 3 cats", "three", webqa_category::number) == doctest::Approx(1.0 / 1.50001));
}

TEST_CASE("webqa_qa_accuracy: choose, Others and text use recall of the gold words") {
  // pred {eiffel, tower, be, in, paris}, gold {eiffel, tower, paris, france}: recall 3/4.
  CHECK(webqa_qa_accuracy("The Eiffel Tower is in Paris.", "Eiffel Tower, Paris, France", webqa_category::text) ==
        doctest::Approx(0.75));
  CHECK(webqa_qa_accuracy("The left one", "left", webqa_category::choose) == doctest::Approx(1.0));
  CHECK(webqa_qa_accuracy("The left one", "left", "not-a-category") == doctest::Approx(1.0));
  CHECK(!parse_webqa_category("not-a-category"));
  CHECK(parse_webqa_category("YesNo") == webqa_category::yesno);
  CHECK(parse_webqa_category("Others") == webqa_category::others);
}

TEST_CASE("webqa_qa_accuracy: empty prediction or keywords score 0 and several golds take the maximum") {
  CHECK(webqa_qa_accuracy("", "red", webqa_category::color) == 0.0);
  CHECK(webqa_qa_accuracy("red", "", webqa_category::color) == 0.0);
  CHECK(webqa_qa_accuracy("", "", webqa_category::text) == 0.0);
  CHECK(webqa_qa_accuracy("a blue car", {"red", "blue"}, webqa_category::color) == doctest::Approx(f1_one));
  CHECK(webqa_qa_accuracy("a blue car", std::vector<std::string>{}, webqa_category::color) == 0.0);
}

TEST_CASE("webqa_qa_accuracy: a plugged lemmatizer replaces the default one") {
  webqa_options opt;
  opt.lemmatizer = [](std::string_view w) { return w == "crimson" ? std::string("red") : std::string(w); };
  CHECK(webqa_qa_accuracy("crimson", "red", webqa_category::color, opt) == doctest::Approx(f1_one));
  CHECK(webqa_qa_accuracy("crimson", "red", webqa_category::color) == 0.0);
}

TEST_CASE("webqa_retrieval_f1: set F1 with the baseline's 1e-5 smoothing") {
  const std::vector<std::string> gold{"img1"};
  CHECK(webqa_retrieval_f1(std::vector<std::string>{"img1"}, gold) == doctest::Approx(0.999985000124999));
  CHECK(webqa_retrieval_f1(std::vector<std::string>{"img1", "d5", "img1"}, gold) ==
        doctest::Approx(0.6666577778296295));
  CHECK(webqa_retrieval_f1(std::vector<std::string>{}, gold) == 0.0);
  CHECK(webqa_retrieval_f1(std::vector<std::string>{"x"}, gold) == 0.0);
  CHECK(webqa_retrieval_f1(std::vector<int>{3, 4}, std::vector<int>{}) == 0.0);
}

TEST_CASE("webqa_normalize: Python's Unicode lower, split and strip") {
  // eval_1022.py works on Python str: U+2009 separates words, non-ASCII capitals lower.
  CHECK(webqa_normalize("red\u2009and\u2009white") == words{"red", "and", "white"});
  CHECK(webqa_normalize("ÉTÉ") == words{"été"});
  CHECK(webqa_normalize("\u00A0X\u3000") == words{"x"}); // one character once stripped: case (1)
  // text questions score recall: gold {le, café}, prediction {le, café}: 2 / 2.
  CHECK(webqa_qa_accuracy("LE CAFÉ", "le\u2009café", webqa_category::text) == 1.0);
  // Recall of gold "one two three" (3 words) with U+2009 in the prediction "one\u2009two": 2 / 3.
  CHECK(webqa_qa_accuracy("one\u2009two", "one two three", webqa_category::text) == doctest::Approx(2.0 / 3));
}

TEST_CASE("webqa retrieval F1: macro per question with 1e-5, micro over pooled counts") {
  // Question A: predicted {1}, gold {1}: c = 1. Question B: predicted {2, 3, 4}, gold {5}: c = 0.
  const std::vector<int> pa{1}, ga{1}, pb{2, 3, 4}, gb{5};
  const retrieval_counts a = webqa_retrieval_counts(pa, ga), b = webqa_retrieval_counts(pb, gb);
  CHECK(a.predicted == 1);
  CHECK(a.common == 1);
  CHECK(b.predicted == 3);
  CHECK(b.common == 0);
  // Macro: A gives p = r = 1 / 1.00001, F1 = 2p^2 / (2p + 1e-5) = 0.999985..., B gives 0; mean = A / 2.
  const double p = 1 / 1.00001;
  const double fa = 2 * p * p / (2 * p + 1e-5);
  CHECK(webqa_retrieval_f1(pa, ga) == doctest::Approx(fa).epsilon(1e-12));
  CHECK(webqa_retrieval_f1(a) == webqa_retrieval_f1(pa, ga));
  CHECK((webqa_retrieval_f1(a) + webqa_retrieval_f1(b)) / 2 == doctest::Approx(0.4999925).epsilon(1e-9));
  // Micro: pooled c = 1, |P| = 4, |G| = 2: P = 1/4, R = 1/2, F1 = 2 (1/8) / (3/4) = 1/3, no smoothing.
  retrieval_counts total = a;
  total += b;
  const set_scores m = micro_precision_recall_f1(total);
  CHECK(m.precision == 0.25);
  CHECK(m.recall == 0.5);
  CHECK(m.f1 == doctest::Approx(1.0 / 3));
  // Nothing shared (or nothing at all): 0, never a division by zero.
  CHECK(micro_precision_recall_f1(b).f1 == 0.0);
  CHECK(micro_precision_recall_f1(retrieval_counts{}).precision == 0.0);
}

TEST_CASE("webqa_qa_scores: fluency is optional and clipped to 1") {
  const std::vector<std::string_view> refs{"The car is red."};
  const auto none = webqa_qa_scores("It is red.", "red", refs, webqa_category::color);
  CHECK(none.accuracy == doctest::Approx(f1_one));
  CHECK(!none.fluency);
  CHECK(!none.qa);
  auto half = [](std::string_view, std::span<const std::string_view>) { return 0.5; };
  const auto r = webqa_qa_scores("It is red.", "red", refs, webqa_category::color, half);
  CHECK(*r.fluency == 0.5);
  CHECK(*r.qa == doctest::Approx(0.5 * f1_one));
  auto big = [](std::string_view, std::span<const std::string_view>) { return 1.7; };
  CHECK(*webqa_qa_scores("It is red.", "red", refs, webqa_category::color, big).fluency == 1.0);
  auto bad = [](std::string_view, std::span<const std::string_view>) { return -1.0; };
  CHECK_THROWS_AS((void)webqa_qa_scores("x", "red", refs, webqa_category::color, bad), mmrag_rft::error);
  static_assert(FluencyScorer<decltype(half)>);
  static_assert(!FluencyScorer<no_fluency>);
}

} // TEST_SUITE("metrics")
