#include <mmrag_rft/metrics/qa.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
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

TEST_CASE("token_f1: bitwise equal to the sort-and-merge formulation, short and long predictions") {
  // The SQuAD f1_score as the library computed it before the bit-mask matching: sorted bags, merged.
  const auto reference = [](std::string_view pred, std::string_view gold) {
    const std::string pn = normalize_answer(pred), gn = normalize_answer(gold);
    std::vector<std::string_view> p = answer_tokens(pn), g = answer_tokens(gn);
    std::sort(p.begin(), p.end());
    std::sort(g.begin(), g.end());
    std::size_t common = 0;
    for (std::size_t i = 0, j = 0; i < p.size() && j < g.size();) {
      if (p[i] < g[j]) ++i;
      else if (g[j] < p[i]) ++j;
      else ++common, ++i, ++j;
    }
    if (common == 0) return 0.0;
    const double precision = static_cast<double>(common) / static_cast<double>(p.size());
    const double recall = static_cast<double>(common) / static_cast<double>(g.size());
    return 2 * precision * recall / (precision + recall);
  };
  const char* words[] = {"cat", "sat", "the", "a", "Dog", "dog.", "mat", "on", "x", "café"};
  std::uint64_t x = 987654321;
  const auto next = [&](std::size_t m) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return static_cast<std::size_t>(x % m);
  };
  const auto sentence = [&](std::size_t n) {
    std::string s;
    for (std::size_t i = 0; i < n; ++i) (s += words[next(10)]) += ' ';
    return s;
  };
  for (int trial = 0; trial < 1000; ++trial) {
    // Up to 150 words, so predictions above 64 tokens take the sorted path.
    const std::string pred = sentence(next(trial % 4 == 0 ? 150 : 8));
    const std::vector<std::string> golds{sentence(next(6)), sentence(next(90))};
    CHECK(token_f1(pred, golds[0]) == reference(pred, golds[0]));
    CHECK(token_f1(pred, golds) == std::max(reference(pred, golds[0]), reference(pred, golds[1])));
  }
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

} // TEST_SUITE("metrics")
