// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/text/normalize.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace mmrag_rft;
using namespace std::string_view_literals;

TEST_SUITE("text") {

TEST_CASE("normalize_answer: SQuAD v1.1 worked examples") {
  // Each expected value is what evaluate-v1.1.py's normalize_answer returns for the same input.
  CHECK(normalize_answer("The Eiffel Tower") == "eiffel tower");
  CHECK(normalize_answer("  A cat's   toy. ") == "cats toy");
  CHECK(normalize_answer("Denver Broncos!") == "denver broncos");
  CHECK(normalize_answer("the the THE") == "");
  CHECK(normalize_answer("an apple, a day") == "apple day");
  CHECK(normalize_answer("Eiffel-Tower") == "eiffeltower");      // punctuation is deleted, not replaced by a space
  CHECK(normalize_answer("t.h.e end") == "end");                 // articles are found after punctuation is gone
  CHECK(normalize_answer("theater anthem") == "theater anthem"); // articles only as whole words
  CHECK(normalize_answer("1,000 km/h") == "1000 kmh");
  CHECK(normalize_answer("tab\tand\nnewline") == "tab and newline");
  CHECK(normalize_answer("\x1f"
                         "a\x1c"
                         "b") == "b"); // Python's str.split() separators 0x1c..0x1f
}

TEST_CASE("normalize_answer: empty result when input is empty, punctuation or articles only") {
  CHECK(normalize_answer("") == "");
  CHECK(normalize_answer("   \t ") == "");
  CHECK(normalize_answer("?!...") == "");
  CHECK(normalize_answer("A. An; the!") == "");
}

TEST_CASE("normalize_answer: Python's str.lower() on non-ASCII letters") {
  // Expected values: evaluate-v1.1.py's normalize_answer run under Python 3 on the same strings.
  CHECK(normalize_answer("Café  Müller") == "café müller");
  CHECK(normalize_answer("ÉCOLE") == "école");
  CHECK(normalize_answer("FILIPÓW") == normalize_answer("Filipów")); // both "filipów"
  CHECK(normalize_answer("\u023A") == "\u2C65");                     // lower case is one byte longer in UTF-8
  CHECK(normalize_answer("\u0130stanbul") == "i\u0307stanbul");      // SpecialCasing: dotted capital I
  CHECK(normalize_answer("ΟΔΟΣ") == "οδος");                         // final sigma
  CHECK(normalize_answer("ΣΑΣ. Σ") == "σας σ"); // final after a case-ignorable '.', not after a space
}

TEST_CASE("normalize_answer: Python's Unicode whitespace and word characters") {
  CHECK(normalize_answer("The\u00A0Eiffel\u00A0Tower") == "eiffel tower");
  CHECK(normalize_answer("3.98\u00A0°C (39.16\u00A0°F)") == "398 °c 3916 °f");
  CHECK(normalize_answer("one\u2009two\u3000three\u200Bfour") == "one two three\u200Bfour"); // U+200B: no space
  CHECK(normalize_answer("x\u0085the\u2028y") == "x y");
  CHECK(normalize_answer("the北京the") == "the北京the"); // CJK letters are word characters
  CHECK(normalize_answer("the 北京, a 東京") == "北京 東京");
  CHECK(normalize_answer("\u2014the") == "\u2014"); // an em dash is no word character, so "the" is a word
}

TEST_CASE("normalize_answer: total on invalid UTF-8") {
  // Bytes that start no valid sequence are copied and split nothing.
  CHECK(normalize_answer("A\xFF B") == "\xFF b");
  CHECK(normalize_answer("\xC3") == "\xC3");
  CHECK(normalize_answer("\xE2\x80 The") == "\xE2\x80");
}

TEST_CASE("normalize_answer: idempotent when applied twice") {
  for (const auto s : {"The  Eiffel-Tower!"sv, " a b c "sv, "x\x01the\x01y"sv, "Ünïcode the a"sv}) {
    const std::string once = normalize_answer(s);
    CHECK(normalize_answer(once) == once);
  }
}

TEST_CASE("normalize_answer: control characters are kept when they are neither space nor punctuation") {
  CHECK(normalize_answer("x\x01the\x01y") == "x\x01 \x01y"); // Python: \x01 is \W, so "the" is a word
}

TEST_CASE("normalize_answer: no allocation when caller string has capacity") {
  std::string out;
  out.reserve(64);
  const char* data = out.data();
  normalize_answer("The quick brown fox", out);
  CHECK(out == "quick brown fox");
  CHECK(out.data() == data);
  normalize_answer("", out);
  CHECK(out.empty());
  CHECK(out.data() == data);
}

TEST_CASE("answer_tokens: whitespace split when text is normalised") {
  CHECK(answer_tokens("") == std::vector<std::string_view>{});
  CHECK(answer_tokens("   ") == std::vector<std::string_view>{});
  CHECK(answer_tokens("eiffel tower") == std::vector<std::string_view>{"eiffel", "tower"});
  CHECK(answer_tokens("\tcafé  müller\n") == std::vector<std::string_view>{"café", "müller"});
  CHECK(answer_tokens("a\u00A0b\u2009c") == std::vector<std::string_view>{"a", "b", "c"}); // str.split()
  const std::string n = normalize_answer("The Broncos beat the Panthers");
  CHECK(answer_tokens(n) == std::vector<std::string_view>{"broncos", "beat", "panthers"});
}

TEST_CASE("for_each_token: views into the input when called without allocation") {
  const std::string_view s = " one  two three ";
  std::size_t count = 0;
  for_each_token(s, [&](std::string_view t) {
    CHECK(t.data() >= s.data());
    CHECK(t.data() + t.size() <= s.data() + s.size());
    ++count;
  });
  CHECK(count == 3);
}

TEST_CASE("for_each_token: usable in constant expressions") {
  constexpr auto count = [](std::string_view s) {
    int n = 0;
    for_each_token(s, [&](std::string_view) { ++n; });
    return n;
  };
  static_assert(count("a b  c") == 3);
  static_assert(count("") == 0);
}

} // TEST_SUITE("text")
