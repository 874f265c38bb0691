// SPDX-License-Identifier: Apache-2.0
// The pipeline's view of a reward: any callable on (completion, sample) scored into a `reward_breakdown`.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/rewards/composite.hpp>

#include <concepts>
#include <string>
#include <type_traits>

namespace mmrag_rft {

/// One named number of a metrics summary (a rule's mean reward, say).
struct named_score {
  std::string name;
  double value = 0;
};

/// True for a callable usable as a pipeline reward: `(const completion&, const sample&)` returning a number or a
/// `reward_breakdown`; a `composite` of `RewardRule`s qualifies and reports its per-rule scores.
template <class R>
concept PipelineReward = std::invocable<R&, const completion&, const sample&>;

/// Scores `c` for `s` with `reward` as a `reward_breakdown`: a composite's `score` (per-rule scores and, when
/// `explain`, the explanation); a `reward_breakdown` as returned; a number as a total with one rule named "reward".
template <class R>
[[nodiscard]] reward_breakdown score_reward(R& reward, const completion& c, const sample& s, bool explain = false) {
  if constexpr (requires {
                  { reward.score(c, s, explain_mode::off) } -> std::convertible_to<reward_breakdown>;
                }) {
    return reward.score(c, s, explain ? explain_mode::on : explain_mode::off);
  } else {
    static_assert(PipelineReward<R>,
                  "mmrag_rft: a pipeline reward must be callable as reward(const completion&, const sample&)");
    using T = std::remove_cvref_t<std::invoke_result_t<R&, const completion&, const sample&>>;
    if constexpr (std::is_same_v<T, reward_breakdown>) {
      return reward(c, s);
    } else {
      static_assert(std::is_convertible_v<T, double>,
                    "mmrag_rft: a pipeline reward must return a number or a reward_breakdown");
      const double v = static_cast<double>(reward(c, s));
      return {v, {v}, {"reward"}, {}};
    }
  }
}

} // namespace mmrag_rft
