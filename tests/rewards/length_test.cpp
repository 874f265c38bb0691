// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace mmrag_rft;
using rewards_test::make_completion;
using rewards_test::make_sample;

TEST_SUITE("rewards") {

TEST_CASE("overlong_penalty: DAPO soft punishment worked examples") {
  // L_max = 20480, L_cache = 4096: no penalty up to 16384, linear to -1 at 20480, -1 beyond. [DAPO eq. 13]
  const overlong_penalty p;
  const sample s = make_sample(1, {});
  CHECK(p(make_completion("x", 1000), s) == 0.0);
  CHECK(p(make_completion("x", 16384), s) == 0.0);
  CHECK(p(make_completion("x", 18432), s) == doctest::Approx(-0.5));
  CHECK(p(make_completion("x", 20480), s) == doctest::Approx(-1.0));
  CHECK(p(make_completion("x", 20481), s) == -1.0);
  CHECK(p(make_completion("x", 100, true), s) == -1.0); // truncated: it hit the limit
}

TEST_CASE("overlong_penalty: factor, zero buffer and word count when tokens are unknown") {
  const sample s = make_sample(1, {});
  const overlong_penalty half({.max_length = 100, .buffer = 20, .penalty_factor = 0.5});
  CHECK(half(make_completion("x", 90), s) == doctest::Approx(-0.25));
  const overlong_penalty hard({.max_length = 100, .buffer = 0});
  CHECK(hard(make_completion("x", 100), s) == 0.0);
  CHECK(hard(make_completion("x", 101), s) == -1.0);
  const overlong_penalty words({.max_length = 4, .buffer = 2});
  CHECK(words(make_completion("one two three"), s) == doctest::Approx(-0.5)); // 3 words, num_tokens unknown
  CHECK(words(make_completion(""), s) == 0.0);
}

TEST_CASE("overlong_penalty: explanation") {
  const overlong_penalty p({.max_length = 100, .buffer = 20});
  const sample s = make_sample(1, {});
  std::string out;
  p.explain(make_completion("x", 50), s, out);
  CHECK(out == "length 50 ok");
  out.clear();
  p.explain(make_completion("x", 90), s, out);
  CHECK(out == "length 90 of 100, overlong penalty -0.50");
  out.clear();
  p.explain(make_completion("x", 100, true), s, out);
  CHECK(out == "truncated at 100 of 100, overlong penalty -1.00");
}

TEST_CASE("overlong_penalty: error at construction for max_length 0, buffer > max_length, bad factor") {
  CHECK_THROWS_AS(overlong_penalty({.max_length = 0, .buffer = 0}), error);
  CHECK_THROWS_AS(overlong_penalty({.max_length = 10, .buffer = 11}), error);
  CHECK_THROWS_AS(overlong_penalty({.penalty_factor = -1.0}), error);
}

} // TEST_SUITE("rewards")
