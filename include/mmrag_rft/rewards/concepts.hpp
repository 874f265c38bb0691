// SPDX-License-Identifier: Apache-2.0
// The RewardRule concept, the score a rule returns, and the customisation points through which a composite reaches a
// rule's optional abilities.
//
// Public customization points in this file:
//   rule_name(r)                 the rule's name in breakdowns: r.name() when present, else "rule"
//   rule_value(r, c, s[, ctx])   the rule's score of completion c for sample s, as a double; with a reward_context,
//                                r(c, s, ctx) when the rule accepts one (to share the tag parse), else r(c, s)
//   rule_explain(r, c, s, out)   appends a short phrase explaining that score: r.explain(c, s, out) when present, else
//                                the rule_score's explanation, else "<name> <value>"
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/rewards/context.hpp>

#include <concepts>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace mmrag_rft {

/// What a rule may return instead of a bare `double`: the score and, optionally, a short phrase explaining it
/// (empty when the rule has nothing to say; the composite then writes "<name> <value>").
struct rule_score {
  double value = 0.0;
  std::string explanation{};
};

namespace detail {
template <class R>
using rule_result_t = std::invoke_result_t<const R&, const completion&, const sample&>;

template <class T>
concept scores_with_explanation = std::convertible_to<T, rule_score>;
} // namespace detail

/// A type `R` is a reward rule if:
/// 1. it is copy-constructible (composites and batch scorers hold rules by value), and
/// 2. a `const R&` is callable on `(const completion&, const sample&)`, so one rule object can score from several
///    threads at once, and
/// 3. the result converts to `rule_score` or to `double`.
/// Everything else is optional and reached through the customisation points `rule_name`, `rule_explain` and
/// `rule_value` (a rule callable as `r(c, s, reward_context&)` shares the composite's tag parse); a
/// capture-less or capturing (non-`mutable`) lambda returning a number is a rule.
/// Example (tests/rewards/concepts_test.cpp): `[](const completion& c, const sample&) { return c.text.empty() ? 0.0 :
/// 1.0; }`.
template <class R>
concept RewardRule = std::copy_constructible<R> && std::invocable<const R&, const completion&, const sample&> &&
                     (std::convertible_to<detail::rule_result_t<R>, rule_score> ||
                      std::convertible_to<detail::rule_result_t<R>, double>);

/// Checks `RewardRule<R>` one requirement at a time, so that a failure reads as one sentence naming what is missing
/// (a non-`const` `operator()` above all: the plain concept check only says `invocable<const R&, ...>` is false).
/// Returns true; use as `static_assert(check_reward_rule<R>())`. `weighted`, `composite` and `score_batch` call it.
template <class R>
[[nodiscard]] consteval bool check_reward_rule() {
  static_assert(std::copy_constructible<R>,
                "mmrag_rft: this type is not a RewardRule because it is not copy-constructible (composites and "
                "score_batch hold rules by value)");
  static_assert(!std::invocable<R&, const completion&, const sample&> ||
                    std::invocable<const R&, const completion&, const sample&>,
                "mmrag_rft: this type is not a RewardRule because its operator()(const completion&, const sample&) "
                "is not const: one rule object scores from several threads at once, so mark the member const (or "
                "drop `mutable` from the lambda) and keep any state outside the rule");
  static_assert(std::invocable<R&, const completion&, const sample&>,
                "mmrag_rft: this type is not a RewardRule because it cannot be called as rule(const completion&, "
                "const sample&)");
  if constexpr (std::invocable<const R&, const completion&, const sample&>)
    static_assert(std::convertible_to<std::invoke_result_t<const R&, const completion&, const sample&>, rule_score> ||
                      std::convertible_to<std::invoke_result_t<const R&, const completion&, const sample&>, double>,
                  "mmrag_rft: this type is not a RewardRule because rule(completion, sample) returns something that "
                  "converts neither to double nor to rule_score");
  return RewardRule<R>;
}

namespace detail {
template <class R>
concept has_name_member = requires(const R& r) { r.name(); };
template <class R>
concept has_explain_member =
    requires(const R& r, const completion& c, const sample& s, std::string& out) { r.explain(c, s, out); };

/// Appends `value` with two decimals (the precision of every explanation; "%.2f", locale-independent for '.').
inline void append_fixed2(std::string& out, double value) {
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.2f", value);
  if (n > 0) out.append(buf, static_cast<std::size_t>(n < static_cast<int>(sizeof buf) ? n : sizeof buf - 1));
}

/// Converts a rule's result to its value; a result convertible to `rule_score` is taken as one.
template <class T>
[[nodiscard]] double result_value(T&& r) {
  if constexpr (scores_with_explanation<T>) return static_cast<rule_score>(std::forward<T>(r)).value;
  else return static_cast<double>(std::forward<T>(r));
}
} // namespace detail

/// The customisation-point type of `rule_name`.
struct rule_name_t {
  /// `r.name()` converted to a string when `R` has a `name()` member, else `"rule"`.
  template <RewardRule R>
  [[nodiscard]] std::string operator()(const R& r) const {
    if constexpr (detail::has_name_member<R>) {
      static_assert(std::convertible_to<decltype(r.name()), std::string_view>,
                    "RewardRule::name() must return something convertible to std::string_view");
      return std::string(std::string_view(r.name()));
    } else {
      return "rule";
    }
  }
};
/// The name a rule shows in breakdowns and explanations: `r.name()` when present, else "rule". A composite lets the
/// caller override it per entry (`weighted(rule, w, "name")`).
inline constexpr rule_name_t rule_name{};

/// The customisation-point type of `rule_value`.
struct rule_value_t {
  template <RewardRule R>
  [[nodiscard]] double operator()(const R& r, const completion& c, const sample& s) const {
    return detail::result_value(std::invoke(r, c, s));
  }
  template <RewardRule R>
  [[nodiscard]] double operator()(const R& r, const completion& c, const sample& s, reward_context& ctx) const {
    if constexpr (std::invocable<const R&, const completion&, const sample&, reward_context&>)
      return detail::result_value(std::invoke(r, c, s, ctx));
    else return detail::result_value(std::invoke(r, c, s));
  }
};
/// The score of completion `c` for sample `s` under rule `r`, as a double (a `rule_score`'s `value`). Given a
/// `reward_context` for `c.text`, a rule that accepts one gets it (the built-in rules parse the tags through it).
/// Complexity: one call of the rule.
inline constexpr rule_value_t rule_value{};

/// The customisation-point type of `rule_explain`.
struct rule_explain_t {
  /// Appends to `out` a short phrase explaining the score of `c` under `r` (no separator, no newline).
  /// `name` is the label to use when the rule has no explanation of its own.
  template <RewardRule R>
  void operator()(const R& r, const completion& c, const sample& s, std::string& out,
                  std::string_view name = {}) const {
    if constexpr (detail::has_explain_member<R>) {
      r.explain(c, s, out);
    } else if constexpr (detail::scores_with_explanation<detail::rule_result_t<R>>) {
      rule_score sc = std::invoke(r, c, s);
      if (!sc.explanation.empty()) out += sc.explanation;
      else append_default(out, name.empty() ? rule_name(r) : std::string(name), sc.value);
    } else {
      append_default(out, name.empty() ? rule_name(r) : std::string(name), rule_value(r, c, s));
    }
  }

private:
  static void append_default(std::string& out, std::string_view name, double value) {
    out.append(name).push_back(' ');
    detail::append_fixed2(out, value);
  }
};
/// Appends a phrase explaining why `r` gave completion `c` its score: `r.explain(c, s, out)` when the rule has such a
/// member; else the explanation of the `rule_score` it returns, when not empty; else "<name> <value>" with two
/// decimals. Evaluates the rule again (explanations are built only when asked for, off the hot path).
inline constexpr rule_explain_t rule_explain{};

} // namespace mmrag_rft
