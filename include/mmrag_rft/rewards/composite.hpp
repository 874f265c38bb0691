// SPDX-License-Identifier: Apache-2.0
// A weighted sum of reward rules with a per-rule breakdown and a one-line explanation built on request.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/rewards/concepts.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// A rule with its weight and its name in breakdowns. Implicitly made from a bare rule (weight 1, `rule_name(r)`), so
/// a composite accepts rules and `weighted(...)` entries alike.
template <class R>
struct weighted_rule {
  static_assert(check_reward_rule<R>());
  R rule;
  double weight = 1.0;
  std::string name{};

  weighted_rule(R r) : rule(std::move(r)), name(rule_name(rule)) {} // NOLINT(google-explicit-constructor)
  weighted_rule(R r, double w, std::string n) : rule(std::move(r)), weight(w), name(std::move(n)) {
    if (name.empty()) name = rule_name(rule);
  }
};

/// `rule` with weight `weight` and, when `name` is not empty, that name instead of `rule_name(rule)`.
/// The weight is checked when the composite is built (finite; negative weights penalise, as TRL's `reward_weights`).
template <class R>
[[nodiscard]] weighted_rule<std::remove_cvref_t<R>> weighted(R&& rule, double weight, std::string name = {}) {
  static_assert(check_reward_rule<std::remove_cvref_t<R>>());
  return weighted_rule<std::remove_cvref_t<R>>(std::forward<R>(rule), weight, std::move(name));
}

/// The score of one completion under a composite: the weighted total, each rule's unweighted score in composite
/// order, the rules' names, and the one-line explanation (empty unless asked for).
struct reward_breakdown {
  double total = 0.0;
  std::vector<double> scores{};
  std::vector<std::string> names{};
  std::string explanation{};

  /// The unweighted score of the rule called `name`; NaN when there is none.
  [[nodiscard]] double score(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < names.size(); ++i)
      if (names[i] == name) return scores[i];
    return std::nan("");
  }
};

/// Whether `composite::score` builds the explanation.
enum class explain_mode : bool { off = false, on = true };

namespace detail {
template <class T>
struct weighted_rule_of {
  using type = T;
};
template <class R>
struct weighted_rule_of<weighted_rule<R>> {
  using type = R;
};
template <class T>
using weighted_rule_of_t = typename weighted_rule_of<std::remove_cvref_t<T>>::type;

template <std::size_t N, class Fn>
void for_each_index(Fn&& fn) {
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    (fn(std::integral_constant<std::size_t, I>{}), ...);
  }(std::make_index_sequence<N>{});
}
} // namespace detail

/// The weighted sum of reward rules: total(c, s) = Σ_i w_i · rule_i(c, s), summed in composite order so that a total
/// is bitwise reproducible [the weighted reward sum of verl `reward_manager` and TRL `reward_weights`].
///
/// A composite is itself a `RewardRule` (its value is the total, its name "composite", its explanation the one-line
/// breakdown), so composites nest. Rules of weight 0 are still evaluated: they appear in breakdowns and explanations
/// and are how one logs a metric without rewarding it. A rule that returns NaN makes the total NaN (the advantage
/// estimators' `nonfinite` option decides what happens next); a rule that throws propagates its exception.
/// Weights may have any sign: a negative weight turns a rule into a penalty (TRL's `reward_weights`), e.g.
/// `weighted(length_rule, -0.1)`. Construction throws `mmrag_rft::error` when a weight is not finite, or two rules
/// share a name (name entries with `weighted(rule, w, "name")`).
/// Complexity: one call of each rule per completion; `score` allocates the breakdown's vectors, `operator()` nothing
/// beyond what the rules allocate.
/// Example (tests/rewards/composite_test.cpp):
/// `composite reward{weighted(format, 0.5), weighted(ranking, 1.0), weighted(my_lambda, 0.2, "brevity")};`
template <class... Rs>
class composite {
  static_assert((check_reward_rule<Rs>() && ...));

public:
  static constexpr std::size_t num_rules = sizeof...(Rs);
  static_assert(num_rules > 0, "a composite needs at least one reward rule");

  explicit composite(weighted_rule<Rs>... entries) : entries_(std::move(entries)...) { validate(); }

  [[nodiscard]] static constexpr std::size_t size() noexcept { return num_rules; }
  /// The name of the composite itself, when it is nested in another one.
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "composite"; }
  /// The name of rule `i` (composite order).
  [[nodiscard]] const std::string& name(std::size_t i) const { return names_.at(i); }
  /// The weight of rule `i`.
  [[nodiscard]] double weight(std::size_t i) const { return weights_.at(i); }
  [[nodiscard]] const std::vector<std::string>& names() const noexcept { return names_; }
  [[nodiscard]] const std::vector<double>& weights() const noexcept { return weights_; }
  /// Entry `I` (its rule, weight and name).
  template <std::size_t I>
  [[nodiscard]] const auto& entry() const noexcept {
    return std::get<I>(entries_);
  }

  /// The weighted total of `c` for `s`; the rules share one parse of the tags (a `reward_context`).
  [[nodiscard]] double operator()(const completion& c, const sample& s) const {
    reward_context ctx(c.text);
    return (*this)(c, s, ctx);
  }
  /// The weighted total, sharing the caller's context (a nested composite shares its parent's).
  [[nodiscard]] double operator()(const completion& c, const sample& s, reward_context& ctx) const {
    double total = 0.0;
    detail::for_each_index<num_rules>([&](auto i) {
      const auto& e = std::get<i>(entries_);
      total += e.weight * rule_value(e.rule, c, s, ctx);
    });
    return total;
  }

  /// Total, per-rule scores and, when `want == explain_mode::on`, the explanation.
  [[nodiscard]] reward_breakdown score(const completion& c, const sample& s,
                                       explain_mode want = explain_mode::off) const {
    reward_breakdown b;
    b.scores.resize(num_rules);
    b.names = names_;
    reward_context ctx(c.text);
    detail::for_each_index<num_rules>([&](auto i) { b.scores[i] = rule_value(std::get<i>(entries_).rule, c, s, ctx); });
    b.total = total_of(b.scores.data());
    if (want == explain_mode::on) explain_into(c, s, b.total, b.explanation);
    return b;
  }

  /// Appends the one-line explanation of `c`: each rule's phrase in composite order, joined by "; ", then
  /// "; reward <total>" (two decimals), e.g. "format ok; ranked 2 of 3 gold docs in top-3, NDCG@3 0.78; answer F1
  /// 0.67; reward 2.15". Evaluates every rule again.
  void explain(const completion& c, const sample& s, std::string& out) const { explain_into(c, s, (*this)(c, s), out); }

  /// The weighted sum of per-rule scores laid out in composite order (`scores[i]` for rule i), summed in that order.
  [[nodiscard]] double total_of(const double* scores) const noexcept {
    double total = 0.0;
    for (std::size_t i = 0; i < num_rules; ++i) total += weights_[i] * scores[i];
    return total;
  }

  /// Appends the explanation of `c` given its already computed `total` (what `score` and the batch scorer use).
  void explain_into(const completion& c, const sample& s, double total, std::string& out) const {
    detail::for_each_index<num_rules>([&](auto i) {
      const auto& e = std::get<i>(entries_);
      if (i > 0) out += "; ";
      rule_explain(e.rule, c, s, out, e.name);
    });
    out += "; reward ";
    detail::append_fixed2(out, total);
  }

private:
  void validate() {
    detail::for_each_index<num_rules>([&](auto i) {
      const auto& e = std::get<i>(entries_);
      // Any finite weight: a negative one makes a rule a penalty (TRL's reward_weights take any value); weight 0
      // keeps a rule in the breakdown without rewarding it.
      detail::require(
          std::isfinite(e.weight), "composite", "weights",
          "must be finite (any sign: a negative weight makes the rule a penalty), not " + std::to_string(e.weight), i);
      for (std::size_t j = 0; j < names_.size(); ++j)
        detail::require(names_[j] != e.name, "composite", "names",
                        "repeats the name of an earlier rule (name it with weighted(rule, weight, \"name\"))", i);
      names_.push_back(e.name);
      weights_.push_back(e.weight);
    });
  }

  std::tuple<weighted_rule<Rs>...> entries_;
  std::vector<std::string> names_;
  std::vector<double> weights_;
};

template <class... Ts>
composite(Ts&&...) -> composite<detail::weighted_rule_of_t<Ts>...>;

namespace detail {
template <class T>
inline constexpr bool is_composite_v = false;
template <class... Rs>
inline constexpr bool is_composite_v<composite<Rs...>> = true;
/// True for a `composite` (whatever its rules): what `score_batch` scores rule by rule.
template <class T>
concept is_composite = is_composite_v<std::remove_cvref_t<T>>;
} // namespace detail

/// Builds a composite from rules and `weighted(...)` entries; the same as `composite{entries...}`.
template <class... Ts>
[[nodiscard]] auto make_composite(Ts&&... entries) {
  return composite<detail::weighted_rule_of_t<Ts>...>(std::forward<Ts>(entries)...);
}

} // namespace mmrag_rft
