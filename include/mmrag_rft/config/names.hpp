// SPDX-License-Identifier: Apache-2.0
// The string names of the loss and advantage options, as the frameworks' config files spell them (verl
// loss_agg_mode / kl_loss_type / loss_mode, TRL scale_rewards): parse_* reads a name, to_name writes it back.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/losses/options.hpp>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

namespace mmrag_rft {

/// A KL estimator with verl's "+" suffix (value of the estimator, gradient of k2) resolved.
struct kl_choice {
  kl_estimator estimator = kl_estimator::none;
  bool straight_through = false;
  friend constexpr bool operator==(const kl_choice&, const kl_choice&) = default;
};

namespace detail {

/// The value named `name` in `table` (every spelling accepted), or an error naming the bad string and every
/// accepted one.
template <class E, std::size_t N>
[[nodiscard]] E parse_name(std::string_view name, const std::array<std::pair<std::string_view, E>, N>& table,
                           std::string_view function) {
  for (const auto& [n, v] : table)
    if (n == name) return v;
  std::string accepted;
  for (const auto& [n, v] : table) accepted.append(accepted.empty() ? "\"" : ", \"").append(n).append("\"");
  throw error(function, "name", "\"" + std::string(name) + "\" is not one of " + accepted);
}

/// The first (canonical) name of `value` in `table`.
template <class E, std::size_t N>
[[nodiscard]] constexpr std::string_view name_of(E value, const std::array<std::pair<std::string_view, E>, N>& table) {
  for (const auto& [n, v] : table)
    if (v == value) return n;
  return "unknown";
}

// The names of the aggregations are `to_string(loss_aggregation)`'s (losses/options.hpp), one source for both ways.
inline constexpr std::array<std::pair<std::string_view, loss_aggregation>, 5> aggregation_names{{
    {to_string(loss_aggregation::token_mean), loss_aggregation::token_mean},
    {to_string(loss_aggregation::seq_mean_token_sum), loss_aggregation::seq_mean_token_sum},
    {to_string(loss_aggregation::seq_mean_token_mean), loss_aggregation::seq_mean_token_mean},
    {to_string(loss_aggregation::seq_mean_token_sum_norm), loss_aggregation::seq_mean_token_sum_norm},
    {to_string(loss_aggregation::token_sum), loss_aggregation::token_sum},
}};

// verl's kl_penalty_forward names; "none" for no KL term. The canonical name of each estimator comes first.
inline constexpr std::array<std::pair<std::string_view, kl_estimator>, 8> kl_names{{
    {"none", kl_estimator::none},
    {"k1", kl_estimator::k1},
    {"kl", kl_estimator::k1},
    {"abs", kl_estimator::abs},
    {"k2", kl_estimator::k2},
    {"mse", kl_estimator::k2},
    {"k3", kl_estimator::k3},
    {"low_var_kl", kl_estimator::k3},
}};

// verl's policy_loss.loss_mode names (the registered names of its policy-loss functions).
inline constexpr std::array<std::pair<std::string_view, policy_loss_mode>, 10> mode_names{{
    {"vanilla", policy_loss_mode::ppo_clip},
    {"gspo", policy_loss_mode::gspo},
    {"cispo", policy_loss_mode::cispo},
    {"sapo", policy_loss_mode::sapo},
    {"gpg", policy_loss_mode::gpg},
    {"dppo_tv", policy_loss_mode::dppo_tv},
    {"dppo_kl", policy_loss_mode::dppo_kl},
    {"geo_mean", policy_loss_mode::gmpo},
    {"clip_cov", policy_loss_mode::clip_cov},
    {"kl_cov", policy_loss_mode::kl_cov},
}};

inline constexpr std::array<std::pair<std::string_view, kl_clamp>, 3> kl_clamp_names{{
    {"none", kl_clamp::none},
    {"verl", kl_clamp::verl},
    {"openrlhf", kl_clamp::openrlhf},
}};

inline constexpr std::array<std::pair<std::string_view, std_estimator>, 2> std_names{{
    {"unbiased", std_estimator::unbiased},
    {"biased", std_estimator::biased},
}};

inline constexpr std::array<std::pair<std::string_view, singleton_group>, 4> singleton_names{{
    {"unit_std", singleton_group::unit_std},
    {"unit_std_float32", singleton_group::unit_std_float32},
    {"zero", singleton_group::zero},
    {"error", singleton_group::error},
}};

} // namespace detail

/// verl's loss_agg_mode: "token-mean", "seq-mean-token-sum", "seq-mean-token-mean", "seq-mean-token-sum-norm",
/// "token-sum". Throws `error` naming the bad string and the accepted ones.
[[nodiscard]] inline loss_aggregation parse_loss_aggregation(std::string_view name) {
  return detail::parse_name(name, detail::aggregation_names, "parse_loss_aggregation");
}

/// verl's kl_loss_type / kl_penalty: "kl"/"k1", "abs", "mse"/"k2", "low_var_kl"/"k3", each optionally with the "+"
/// straight-through suffix ("k3+": k3's value, k2's gradient), or "none". "full" (the exact KL over the vocabulary)
/// needs whole distributions, which `policy_loss` does not take: it is refused with that reason.
[[nodiscard]] inline kl_choice parse_kl_estimator(std::string_view name) {
  constexpr const char* fn = "parse_kl_estimator";
  detail::require(name != "full" && name != "full+", fn, "name",
                  "\"full\" needs the whole vocabulary distributions; policy_loss takes per-token log-probs only");
  const bool plus = !name.empty() && name.back() == '+' && name != "+";
  const kl_estimator e = detail::parse_name(plus ? name.substr(0, name.size() - 1) : name, detail::kl_names, fn);
  detail::require(!(plus && e == kl_estimator::none), fn, "name", "\"none+\" is not a KL estimator");
  // verl: "mse+"/"k2+" are k2 itself (its gradient already is k2's).
  return {e, plus && e != kl_estimator::k2};
}

/// verl's actor loss_mode: "vanilla" (PPO clip), "gspo", "cispo", "sapo", "gpg", "dppo_tv", "dppo_kl".
[[nodiscard]] inline policy_loss_mode parse_policy_loss_mode(std::string_view name) {
  return detail::parse_name(name, detail::mode_names, "parse_policy_loss_mode");
}

/// "none", "verl", "openrlhf".
[[nodiscard]] inline kl_clamp parse_kl_clamp(std::string_view name) {
  return detail::parse_name(name, detail::kl_clamp_names, "parse_kl_clamp");
}

/// "unbiased" (torch.std's default), "biased".
[[nodiscard]] inline std_estimator parse_std_estimator(std::string_view name) {
  return detail::parse_name(name, detail::std_names, "parse_std_estimator");
}

/// "unit_std", "unit_std_float32", "zero", "error".
[[nodiscard]] inline singleton_group parse_singleton_group(std::string_view name) {
  return detail::parse_name(name, detail::singleton_names, "parse_singleton_group");
}

/// TRL's scale_rewards: "group" and "batch" set the std's scope, "none" (or "false") turns the std division off
/// (Dr. GRPO). Returns `base` with `scale` and `norm_adv_by_std_in_grpo` set.
[[nodiscard]] inline grpo_options parse_scale_rewards(std::string_view name, grpo_options base = {}) {
  constexpr std::array<std::pair<std::string_view, int>, 5> table{
      {{"group", 0}, {"batch", 1}, {"none", 2}, {"true", 0}, {"false", 2}}};
  const int v = detail::parse_name(name, table, "parse_scale_rewards");
  base.norm_adv_by_std_in_grpo = v != 2;
  if (v != 2) base.scale = v == 1 ? reward_scale::batch : reward_scale::group;
  return base;
}

/// The canonical names back (`parse_*(to_string(x)) == x`; `to_string(loss_aggregation)` is in losses/options.hpp).
[[nodiscard]] constexpr std::string_view to_string(policy_loss_mode m) {
  return detail::name_of(m, detail::mode_names);
}
[[nodiscard]] constexpr std::string_view to_string(kl_clamp c) { return detail::name_of(c, detail::kl_clamp_names); }
[[nodiscard]] constexpr std::string_view to_string(std_estimator s) { return detail::name_of(s, detail::std_names); }
[[nodiscard]] constexpr std::string_view to_string(singleton_group s) {
  return detail::name_of(s, detail::singleton_names);
}
/// "k3", "k3+", "none"... (the straight-through flag is written as verl's "+"; k2 never has it).
[[nodiscard]] inline std::string to_string(kl_choice k) {
  std::string s(detail::name_of(k.estimator, detail::kl_names));
  if (k.straight_through && k.estimator != kl_estimator::none && k.estimator != kl_estimator::k2) s += '+';
  return s;
}

} // namespace mmrag_rft
