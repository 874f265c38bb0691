#include <mmrag_rft/metrics/qa.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace mmrag_rft;

TEST_SUITE("metrics") {

TEST_CASE("exact_match: SQuAD normalisation ignores case, punctuation, articles and extra whitespace") {
  CHECK(exact_match("The Eiffel Tower!", "eiffel   tower") == 1.0);
  CHECK(exact_match("  Paris,   France ", "paris france") == 1.0);
  CHECK(exact_match("Paris", "Paris, France") == 0.0);
  CHECK(exact_match("The Eiffel Tower", {"Paris", "eiffel tower"}) == 1.0);
  CHECK(exact_match("Rome", {"Paris", "eiffel tower"}) == 0.0);
}

TEST_CASE("exact_match: both empty after normalisation match; no golds score 0") {
  CHECK(exact_match("", "the") == 1.0);
  CHECK(exact_match("a", "!!") == 1.0);
  CHECK(exact_match("x", std::vector<std::string>{}) == 0.0);
}

TEST_CASE("token_f1: worked examples") {
  // pred {cat, sat}, gold {cat, sat, down}: P = 1, R = 2/3.
  CHECK(token_f1("the cat sat", "a cat sat down") == doctest::Approx(0.8));
  // Multisets: pred {b, b, c}, gold {b, c, c}: common 2, P = R = 2/3.
  CHECK(token_f1("b b c", "b c c") == doctest::Approx(2.0 / 3));
  CHECK(token_f1("dog", "cat") == 0.0);
  const std::vector<std::string> golds{"cat", "a cat sat"};
  CHECK(token_f1("cat sat", golds) == doctest::Approx(1.0));
  CHECK(token_f1("cat sat", {"cat"}) == doctest::Approx(2.0 / 3));
}

TEST_CASE("token_f1: both empty give 0 as SQuAD v1.1") {
  CHECK(token_f1("", "") == 0.0);
  CHECK(token_f1("the", "an") == 0.0);
  CHECK(token_f1("x", std::vector<std::string_view>{}) == 0.0);
}

TEST_CASE("token_f1: UTF-8 words are compared whole") {
  CHECK(token_f1("Café crème", "café") == doctest::Approx(2.0 / 3));
  CHECK(exact_match("\xC3\xA9t\xC3\xA9", "\xC3\xA9t\xC3\xA9.") == 1.0);
}

} // TEST_SUITE
