// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <limits>
#include <string>

using namespace mmrag_rft;
using rewards_test::make_completion;
using rewards_test::make_sample;

namespace {
std::string explain_of(const format_rule& r, const std::string& text) {
  std::string out;
  r.explain(make_completion(text), make_sample(1, {}), out);
  return out;
}
} // namespace

TEST_SUITE("rewards") {

TEST_CASE("format_rule: stage 1 scores 1 for exactly <think> then <answer>, 0 otherwise") {
  const format_rule f = stage1_format();
  const sample s = make_sample(1, {0});
  CHECK(f(make_completion("<think>The caption names it.</think><answer>Yes</answer>"), s) == 1.0);
  CHECK(f(make_completion("  \n<think>a</think>\n\n<answer>No</answer>\n"), s) == 1.0); // whitespace around is fine
  CHECK(f(make_completion("<answer>No</answer>"), s) == 0.0);                           // missing think
  CHECK(f(make_completion("<answer>No</answer><think>a</think>"), s) == 0.0);           // out of order
  CHECK(f(make_completion("<think>a</think><answer>No"), s) == 0.0);                    // truncated
  CHECK(f(make_completion("Sure! <think>a</think><answer>No</answer>"), s) == 0.0);     // text before
  CHECK(f(make_completion("<think>a</think><answer>No</answer> Hope this helps"), s) == 0.0);
  CHECK(f(make_completion("<think>a</think><answer>No</answer><answer>Yes</answer>"), s) == 0.0);
  CHECK(f(make_completion(""), s) == 0.0);
}

TEST_CASE("format_rule: stage 2 needs <think>, <rank> and <answer> in that order") {
  const format_rule f = stage2_format();
  const sample s = make_sample(3, {1});
  // example-begin stage2-format
  CHECK(stage2_format()(make_completion("<think>a</think><rank>[2, 1]</rank><answer>Paris</answer>"), s) == 1.0);
  // example-end stage2-format
  CHECK(f(make_completion("<think>a</think><answer>Paris</answer>"), s) == 0.0);
  CHECK(f(make_completion("<think>a</think><answer>Paris</answer><rank>[2]</rank>"), s) == 0.0);
  CHECK(f(make_completion("<think>a<rank>[2]</rank></think><answer>Paris</answer>"), s) == 0.0);
}

TEST_CASE("format_rule: failure value and allowed issues are options") {
  const format_rule reason_rank = stage1_format({.failure = -1.0});
  const format_rule lenient = stage1_format({.allowed = section_issue::leading_text | section_issue::trailing_text});
  const sample s = make_sample(1, {});
  CHECK(reason_rank(make_completion("nothing"), s) == -1.0);
  CHECK(lenient(make_completion("Sure! <think>a</think><answer>No</answer> Bye"), s) == 1.0);
  CHECK(lenient(make_completion("<think>a</think>"), s) == 0.0);
}

TEST_CASE("format_rule: explanation names each issue and its tag") {
  const format_rule f = stage2_format();
  CHECK(explain_of(f, "<think>a</think><rank>1</rank><answer>b</answer>") == "format ok");
  CHECK(explain_of(f, "<think>a</think><answer>b") == "format broken (missing <rank>, unclosed <answer>)");
  CHECK(explain_of(f, "<think>a</think><rank>1</rank><answer>b</answer> ok?") == "format broken (text after)");
}

TEST_CASE("format_rule: error at construction for unknown tag names or non-finite values") {
  CHECK_THROWS_AS(format_rule(tag_format{"think", ""}), error);
  CHECK_THROWS_AS(format_rule(tag_format{"think", "think"}), error);
  CHECK_THROWS_AS(format_rule(tag_format{"a b"}), error);
  CHECK_THROWS_AS(stage1_format({.failure = std::numeric_limits<double>::infinity()}), error);
}

TEST_CASE("format_rule: graded credit ranks the near misses of an untrained model") {
  const format_rule g = stage2_format({.success = 1.0, .failure = -1.0, .graded = true});
  const sample s = make_sample(1, {0});
  // failure + (success - failure) * (sound sections + no outside text) / (3 + 1): steps of 0.5.
  CHECK(g(make_completion("<think>a</think><rank>[1]</rank><answer>x</answer>"), s) == 1.0);
  CHECK(g(make_completion("<think>a</think><rank>[1]</rank><answer>x"), s) == 0.5);
  CHECK(g(make_completion("<think>a</think> then <answer>x</answer>"), s) == 0.0); // rank missing, text between
  CHECK(g(make_completion("The answer is Paris."), s) == -1.0);
  CHECK(g(make_completion(""), s) == -0.5);
  // A group the strict rule scores all-equal is no longer all-equal.
  const format_rule strict = stage2_format();
  CHECK(strict(make_completion("<think>a</think>"), s) == strict(make_completion("Paris"), s));
  CHECK(g(make_completion("<think>a</think>"), s) > g(make_completion("Paris"), s));
  // The shared parse of a composite gives the same score.
  reward_context ctx;
  const completion c = make_completion("<think>a</think><answer>x</answer>");
  ctx.reset(c.text);
  CHECK(g(c, s, ctx) == g(c, s));
}

TEST_CASE("format_rule, ranking_rule, answer_rule: options alone keep the stage's default tags") {
  const format_rule f({.graded = true});
  CHECK(f.tags().names() == "think, answer");
  CHECK(f.options().graded);
  const ranking_rule r({.k = 3});
  CHECK(r.options().k == 3);
  const sample s = make_sample(4, {0, 1});
  CHECK(r(make_completion("<think>a</think><rank>[1, 2]</rank><answer>x</answer>"), s) ==
        ranking_rule(tag_format{"think", "rank", "answer"},
                     {.k = 3})(make_completion("<think>a</think><rank>[1, 2]</rank><answer>x</answer>"), s));
  const answer_rule a({.metric = answer_metric::exact_match});
  CHECK(a.options().metric == answer_metric::exact_match);
  CHECK_THROWS_WITH_AS(ranking_rule({.section = "ranking"}),
                       doctest::Contains("\"ranking\" is not one of the configured tags (think, rank, answer)"), error);
  CHECK_THROWS_WITH_AS(answer_rule({.section = "final"}), doctest::Contains("options.section"), error);
}

} // TEST_SUITE("rewards")
