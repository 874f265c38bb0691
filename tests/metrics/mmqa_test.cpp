#include <mmrag_rft/metrics/mmqa.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

using namespace mmrag_rft;

TEST_SUITE("metrics") {

TEST_CASE("mmqa_normalize: split on spaces and hyphens, numbers in Python float form") {
  CHECK(mmqa_normalize("The Twenty-one Pilots!") == "20.0 1.0 pilots");
  CHECK(mmqa_normalize("1,000") == "1000.0");
  CHECK(mmqa_normalize("1e3") == "1000.0");
  CHECK(mmqa_normalize("3.50") == "3.5");
  CHECK(mmqa_normalize("-5") == "5.0");
  CHECK(mmqa_normalize("1e16") == "1e+16");
  CHECK(mmqa_normalize("0.00001") == "1e-05");
  CHECK(mmqa_normalize("point") == "0.0"); // word2number's quirk, kept
  CHECK(mmqa_normalize("an apple a day") == "apple day");
  CHECK(mmqa_normalize("  ") == "");
  CHECK(mmqa_normalize("") == "");
  CHECK(mmqa_normalize("Caf\xC3\xA9 au lait") == "caf\xC3\xA9 au lait");
}

TEST_CASE("mmqa_em_f1: exact match compares sets of spans and their number") {
  CHECK(mmqa_em_f1({"Paris"}, {"paris."}).em == 1.0);
  CHECK(mmqa_em_f1({"x", "x", "y"}, {"x", "y", "y"}).em == 1.0);
  CHECK(mmqa_em_f1({"x", "y"}, {"x", "y", "y"}).em == 0.0);
  CHECK(mmqa_em_f1({"Barack Obama"}, {"Obama"}).em == 0.0);
  CHECK(mmqa_em_f1({"five"}, {"5"}).em == 1.0);
}

TEST_CASE("mmqa_em_f1: list F1 aligns spans one to one and averages over the longer list") {
  const auto s = mmqa_em_f1({"Paris", "5 apples"}, {"five apples", "paris", "Rome"});
  CHECK(s.em == 0.0);
  CHECK(s.f1 == 0.67); // (1 + 1 + 0) / 3, rounded to 2 decimals
  // pred {new, york, city}, gold {new, york}: P = 2/3, R = 1, F1 = 0.8.
  CHECK(mmqa_em_f1({"New York City"}, {"new york"}).f1 == 0.8);
  // Two predictions of the same gold: only one can be aligned.
  CHECK(mmqa_em_f1({"paris", "paris"}, {"paris"}).f1 == 0.5);
}

TEST_CASE("mmqa_em_f1: a gold number missing from the prediction zeroes the pair") {
  CHECK(mmqa_em_f1({"6 apples"}, {"5 apples"}).f1 == 0.0);
  CHECK(mmqa_em_f1({"apples"}, {"5 apples"}).f1 == 0.0);
  CHECK(mmqa_em_f1({"5 pears"}, {"five apples"}).f1 == 0.5);
  // A number only in the prediction does not zero the pair: P = 1/2, R = 1.
  CHECK(mmqa_em_f1({"5 apples"}, {"apples"}).f1 == 0.67);
}

TEST_CASE("mmqa_em_f1: empty lists") {
  const std::vector<std::string> none, gold{"x"};
  CHECK(mmqa_em_f1(none, gold).em == 0.0);
  CHECK(mmqa_em_f1(none, gold).f1 == 0.0);
  CHECK(mmqa_em_f1(none, none).em == 1.0);
  CHECK(mmqa_em_f1(none, none).f1 == 1.0);
  // A span that normalises to nothing is an empty bag: F1 0 against a non-empty gold, 1 against an empty one.
  CHECK(mmqa_em_f1({"the"}, {"x"}).f1 == 0.0);
  CHECK(mmqa_em_f1({"the"}, {"a"}).f1 == 1.0);
}

TEST_CASE("mmqa detail: Python float parsing and repr") {
  using detail::py_float;
  using detail::py_repr;
  CHECK(py_float("1_000") == 1000.0);
  CHECK(!py_float("1__0"));
  CHECK(!py_float("_1"));
  CHECK(!py_float("1_"));
  CHECK(py_float(" 5 ") == 5.0);
  CHECK(py_float(".5") == 0.5);
  CHECK(py_float("5.") == 5.0);
  CHECK(!py_float("."));
  CHECK(!py_float("e5"));
  CHECK(!py_float("1e"));
  CHECK(!py_float(""));
  CHECK(!py_float("1,000"));
  CHECK(std::isinf(*py_float("-Infinity")));
  CHECK(std::isnan(*py_float("nan")));
  CHECK(*py_float("1e400") == std::numeric_limits<double>::infinity());
  CHECK(*py_float("-1e-400") == 0.0);
  CHECK(py_repr(1.0) == "1.0");
  CHECK(py_repr(0.1) == "0.1");
  CHECK(py_repr(123.456) == "123.456");
  CHECK(py_repr(1e16) == "1e+16");
  CHECK(py_repr(1234567890123456.0) == "1234567890123456.0");
  CHECK(py_repr(1e-5) == "1e-05");
  CHECK(py_repr(0.0001) == "0.0001");
  CHECK(py_repr(-0.0) == "-0.0");
  CHECK(py_repr(1.5e300) == "1.5e+300");
  CHECK(py_repr(std::numeric_limits<double>::infinity()) == "inf");
}

TEST_CASE("mmqa detail: word2number 1.1 word_to_num") {
  using detail::word_to_num;
  CHECK(word_to_num("seven") == 7.0);
  CHECK(word_to_num("twenty one") == 21.0);
  CHECK(word_to_num("two hundred") == 200.0);
  CHECK(word_to_num("one thousand two hundred") == 1200.0);
  CHECK(word_to_num("two million three thousand and forty nine") == 2003049.0);
  CHECK(word_to_num("one point five") == 1.5);
  CHECK(word_to_num("point five") == 0.5);
  CHECK(word_to_num("point") == 0.0);
  CHECK(word_to_num("042") == 42.0);
  CHECK(!word_to_num("thousand five")); // IndexError in word2number
  CHECK(!word_to_num("one thousand thousand"));
  CHECK(!word_to_num("hello"));
  CHECK(!word_to_num(""));
}

TEST_CASE("mmqa detail: round to 2 decimals as numpy rounds") {
  // numpy: rint(x * 100) / 100. Python's round(float, 2) differs where x * 100 rounds to a tie in double.
  CHECK(detail::np_round2(0.475) == 0.48); // Python round: 0.47
  CHECK(detail::np_round2(0.025) == 0.02); // Python round: 0.03
  CHECK(detail::np_round2(0.015) == 0.02); // Python round: 0.01
  CHECK(detail::np_round2(0.125) == 0.12); // an exact tie: half to even
  CHECK(detail::np_round2(0.375) == 0.38);
  CHECK(detail::np_round2(0.675) == 0.68);
  CHECK(detail::np_round2(2.0 / 3) == 0.67);
  CHECK(detail::np_round2(0.0) == 0.0);
  CHECK(detail::np_round2(1.0) == 1.0);
}

TEST_CASE("mmqa_em_f1: list F1 of 0.475 and 0.025 rounded as the official numpy mean is") {
  // Gold: an 11-word span, "paris", "rome", "oslo"; predicted: 9 of the 11 words, "paris". Bag F1 of the long pair:
  // P = 1, R = 9/11, F1 = 0.9; with paris/paris 1: total 1.9 over max(4, 2) = 4 slots = 0.475 -> 0.48.
  const std::vector<std::string> gold{"alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo", "paris",
                                      "rome", "oslo"};
  const std::vector<std::string> pred{"alpha bravo charlie delta echo foxtrot golf hotel india", "Paris"};
  CHECK(mmqa_em_f1(pred, gold).f1 == 0.48);
  // Gold: a 39-word span and "other"; predicted: one of its words. F1 = 2 (1)(1/39) / (1 + 1/39) = 0.05 over 2
  // slots = 0.025 -> 0.02.
  std::string long_span;
  for (int i = 0; i < 39; ++i) long_span += (i ? " w" : "w") + std::to_string(i);
  CHECK(mmqa_em_f1(std::vector<std::string>{"w7"}, std::vector<std::string>{long_span, "other"}).f1 == 0.02);
}

TEST_CASE("mmqa_normalize: Python's Unicode lower and split") {
  // evaluate.py lowers with str.lower() and collapses with str.split(): non-ASCII capitals and U+00A0 count.
  CHECK(mmqa_normalize("FILIPÓW") == "filipów");
  CHECK(mmqa_normalize("Jean\u00A0Valjean") == "jean valjean");
  CHECK(mmqa_normalize("ΟΔΟΣ-ΣΑ") == "οδος σα"); // split on '-' first, so the first sigma ends its piece
  const auto case_only = mmqa_em_f1({"FILIPÓW"}, {"Filipów"});
  CHECK(case_only.em == 1.0);
  CHECK(case_only.f1 == 1.0);
  const auto nbsp = mmqa_em_f1({"jean valjean"}, {"Jean\u00A0Valjean"});
  CHECK(nbsp.em == 1.0);
  CHECK(nbsp.f1 == 1.0);
  // U+200B is no whitespace for Python: one word, no overlap with "jean valjean".
  CHECK(mmqa_em_f1({"jean valjean"}, {"jean\u200Bvaljean"}).f1 == 0.0);
  // Invalid UTF-8 passes through.
  CHECK(mmqa_normalize("B\xFF") == "b\xFF");
}

TEST_CASE("mmqa detail: max_assignment finds the optimum where greedy fails") {
  const double m[2][2] = {{0.9, 0.8}, {0.8, 0.1}};
  CHECK(detail::max_assignment(2, 2, [&](std::size_t r, std::size_t c) { return m[r][c]; }) == doctest::Approx(1.6));
  // Rectangular, both orientations, against brute force over permutations.
  const double w[3][5] = {{0.1, 0.7, 0.3, 0.0, 0.5}, {0.6, 0.6, 0.2, 0.9, 0.1}, {0.4, 0.8, 0.75, 0.2, 0.3}};
  std::vector<std::size_t> cols(5);
  std::iota(cols.begin(), cols.end(), std::size_t{0});
  double best = 0;
  do {
    best = std::max(best, w[0][cols[0]] + w[1][cols[1]] + w[2][cols[2]]);
  } while (std::next_permutation(cols.begin(), cols.end()));
  CHECK(detail::max_assignment(3, 5, [&](std::size_t r, std::size_t c) { return w[r][c]; }) == doctest::Approx(best));
  CHECK(detail::max_assignment(5, 3, [&](std::size_t r, std::size_t c) { return w[c][r]; }) == doctest::Approx(best));
  CHECK(detail::max_assignment(0, 3, [&](std::size_t, std::size_t) { return 1.0; }) == 0.0);
}

} // TEST_SUITE("metrics")
