// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/rewards.hpp>

#include "support.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <string>

using namespace mmrag_rft;
using rewards_test::make_completion;
using rewards_test::make_sample;

namespace {
// Archetypes for the concept checks.
struct named_rule {
  [[nodiscard]] double operator()(const completion&, const sample&) const { return 0.25; }
  [[nodiscard]] std::string_view name() const { return "named"; }
};
struct explaining_rule {
  [[nodiscard]] double operator()(const completion&, const sample&) const { return 1.0; }
  void explain(const completion& c, const sample&, std::string& out) const { out += "saw " + c.text; }
};
struct non_const_rule {
  double operator()(const completion&, const sample&) { return 0.0; }
};
struct move_only_rule {
  std::unique_ptr<int> state;
  double operator()(const completion&, const sample&) const { return 0.0; }
};
struct wrong_arguments {
  double operator()(const sample&, const completion&) const { return 0.0; }
};
} // namespace

// example-begin reward-rule-concept
inline constexpr auto nonempty = [](const completion& c, const sample&) { return c.text.empty() ? 0.0 : 1.0; };
static_assert(RewardRule<decltype(nonempty)>);
// example-end reward-rule-concept
static_assert(RewardRule<named_rule>);
static_assert(RewardRule<explaining_rule>);
static_assert(RewardRule<decltype([](const completion&, const sample&) { return rule_score{0.5, "half"}; })>);
static_assert(RewardRule<decltype([](const auto&, const auto&) { return true; })>); // bool converts to double
static_assert(RewardRule<format_rule>);
static_assert(RewardRule<relevance_rule>);
static_assert(RewardRule<overlong_penalty>);
static_assert(RewardRule<composite<format_rule, named_rule>>); // composites nest

static_assert(!RewardRule<int>);
static_assert(!RewardRule<non_const_rule>); // must be callable from several threads at once
static_assert(!RewardRule<move_only_rule>); // composites hold rules by value
static_assert(!RewardRule<wrong_arguments>);
static_assert(!RewardRule<decltype([](const completion&, const sample&) { return std::string("1"); })>);
static_assert(!RewardRule<decltype([](const completion&, const sample&) {})>);
static_assert(!RewardRule<decltype([](const completion&) { return 1.0; })>);

TEST_SUITE("rewards") {

TEST_CASE("rule_name: member when present, \"rule\" otherwise") {
  CHECK(rule_name(named_rule{}) == "named");
  CHECK(rule_name(nonempty) == "rule");
  CHECK(rule_name(format_rule{}) == "format");
}

TEST_CASE("rule_value: doubles, bools and rule_score values alike") {
  const sample s = make_sample(1, {0});
  const completion c = make_completion("x");
  CHECK(rule_value(nonempty, c, s) == 1.0);
  CHECK(rule_value([](const completion&, const sample&) { return rule_score{0.5, "half"}; }, c, s) == 0.5);
  CHECK(rule_value([](const completion&, const sample&) { return false; }, c, s) == 0.0);
}

TEST_CASE("rule_explain: member, then rule_score text, then \"name value\"") {
  const sample s = make_sample(1, {0});
  const completion c = make_completion("abc");
  std::string out;
  rule_explain(explaining_rule{}, c, s, out);
  CHECK(out == "saw abc");
  out.clear();
  rule_explain([](const completion&, const sample&) { return rule_score{0.5, "half of it"}; }, c, s, out);
  CHECK(out == "half of it");
  out.clear();
  rule_explain([](const completion&, const sample&) { return rule_score{0.5, ""}; }, c, s, out, "mine");
  CHECK(out == "mine 0.50");
  out.clear();
  rule_explain(named_rule{}, c, s, out);
  CHECK(out == "named 0.25");
  out.clear();
  rule_explain(nonempty, c, s, out, "nonempty");
  CHECK(out == "nonempty 1.00");
}

} // TEST_SUITE("rewards")

namespace {
// A rule that uses the composite's shared parse when it gets one, and says which path it took.
struct context_aware_rule {
  [[nodiscard]] double operator()(const completion&, const sample&) const { return 1.0; }
  [[nodiscard]] double operator()(const completion&, const sample&, reward_context& ctx) const {
    return ctx.sections(tag_format{"think", "answer"}).well_formed() ? 2.0 : 3.0;
  }
};
} // namespace

TEST_SUITE("rewards") {

TEST_CASE("rule_value: passes the reward_context to rules that accept one") {
  const sample s = make_sample(1, {0});
  const completion c = make_completion("<think>a</think><answer>b</answer>");
  reward_context ctx(c.text);
  CHECK(rule_value(context_aware_rule{}, c, s) == 1.0);
  CHECK(rule_value(context_aware_rule{}, c, s, ctx) == 2.0);
  CHECK(rule_value(nonempty, c, s, ctx) == 1.0); // a plain rule ignores the context
  CHECK(composite{context_aware_rule{}}(c, s) == 2.0);
}

TEST_CASE("reward_context: one parse per tag configuration, equal configurations share it") {
  const std::string text = "<think>a</think><rank>1</rank><answer>b</answer>";
  reward_context ctx(text);
  const tag_format a{"think", "rank", "answer"}, b{"think", "rank", "answer"}, c{"think", "answer"}, d{"rank"};
  const tag_parse& pa = ctx.sections(a);
  CHECK(&ctx.sections(b) == &pa); // equal names and flags: the cached parse
  CHECK(pa.well_formed());
  CHECK_FALSE(ctx.sections(c).well_formed());
  CHECK(ctx.sections(d)[0].content == "1"); // beyond max_formats: parsed on request, still right
  ctx.reset("<think>x</think>");
  CHECK_FALSE(ctx.sections(a).well_formed());
  CHECK(ctx.text() == "<think>x</think>");
}

TEST_CASE("reward_context: built-in rules give the same scores with and without a shared parse") {
  const sample s = make_sample(4, {1, 2}, {"Seine"});
  for (const char* text : {"<think>a</think><rank>[2, 3]</rank><answer>the Seine</answer>", "<think>a</think>",
                           "<rank>[2, 2]</rank><answer>Seine</answer> trailing", ""}) {
    CAPTURE(text);
    const completion c = make_completion(text);
    reward_context ctx(c.text);
    CHECK(rule_value(stage2_format(), c, s, ctx) == rule_value(stage2_format(), c, s));
    CHECK(rule_value(ranking_rule(), c, s, ctx) == rule_value(ranking_rule(), c, s));
    CHECK(rule_value(answer_rule(), c, s, ctx) == rule_value(answer_rule(), c, s));
    CHECK(rule_value(relevance_rule({"think", "rank", "answer"}, {.section = "rank"}), c, s, ctx) ==
          rule_value(relevance_rule({"think", "rank", "answer"}, {.section = "rank"}), c, s));
  }
}

} // TEST_SUITE("rewards")
