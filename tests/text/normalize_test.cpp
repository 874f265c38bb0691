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
  CHECK(normalize_answer("Eiffel-Tower") == "eiffeltower");  // punctuation is deleted, not replaced by a space
  CHECK(normalize_answer("t.h.e end") == "end");             // articles are found after punctuation is gone
  CHECK(normalize_answer("theater anthem") == "theater anthem"); // articles only as whole words
  CHECK(normalize_answer("1,000 km/h") == "1000 kmh");
  CHECK(normalize_answer("tab\tand\nnewline") == "tab and newline");
  CHECK(normalize_answer("\x1f" "a\x1c" "b") == "b"); // Python's str.split() separators 0x1c..0x1f
}

TEST_CASE("normalize_answer: empty result when input is empty, punctuation or articles only") {
  CHECK(normalize_answer("") == "");
  CHECK(normalize_answer("   \t ") == "");
  CHECK(normalize_answer("?!...") == "");
  CHECK(normalize_answer("A. An; the!") == "");
}

TEST_CASE("normalize_answer: non-ASCII bytes pass through unchanged when input is UTF-8") {
  CHECK(normalize_answer("Café  Müller") == "café müller");
  CHECK(normalize_answer("ÉCOLE") == "École");                 // only ASCII letters are lower-cased
  CHECK(normalize_answer("the北京the") == "the北京the");       // a non-ASCII byte is a word character
  CHECK(normalize_answer("the 北京, a 東京") == "北京 東京");
  CHECK(normalize_answer("\xE2\x80\x94the") == "\xE2\x80\x94the"); // documented divergence from Python's Unicode \w
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

} // TEST_SUITE
