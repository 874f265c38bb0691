// SPDX-License-Identifier: Apache-2.0
// The pipeline's view of an advantage estimator: one reward per completion in, one advantage per completion out,
// on the step's execution backend; and the ready-made GRPO, Dr. GRPO and RLOO estimators.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/advantages/rloo.hpp>
#include <mmrag_rft/backends/concepts.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/core/group_layout.hpp>

#include <concepts>
#include <span>
#include <type_traits>

namespace mmrag_rft {

namespace detail {
// The call an outcome estimator must accept, split from the result check so that a failure names which is missing.
template <class E, class B>
concept estimator_callable_on =
    std::invocable<E&, const B&, std::span<const float>, const group_layout&, std::span<float>>;
} // namespace detail

/// An outcome-reward advantage estimator, as `rft_step` calls it. A type E is an `OutcomeEstimator<E, B>` for an
/// execution backend B if, for `E& e` and `const B& backend`:
/// 1. `e(backend, rewards, groups, advantages)` is valid, with `std::span<const float> rewards` (one reward per
///    completion, laid out by `groups`), `const group_layout& groups` and `std::span<float> advantages` of the same
///    size, which the call fills with one advantage per completion;
/// 2. it returns something convertible to `advantage_summary` (its `degenerate_groups` becomes the step metric).
/// The backend is the step's: an estimator that has no use for it may ignore it. `grpo_estimator`,
/// `dr_grpo_estimator` and `rloo_estimator` wrap the library's estimators; a lambda of that signature qualifies.
template <class E, class B = exec::seq_t>
concept OutcomeEstimator =
    exec::ExecutionBackend<B> && detail::estimator_callable_on<E, B> &&
    std::convertible_to<
        std::invoke_result_t<E&, const B&, std::span<const float>, const group_layout&, std::span<float>>,
        advantage_summary>;

/// Checks `OutcomeEstimator<E, B>` one requirement at a time, so that a failure reads as a sentence naming what is
/// missing. Returns true; use as `static_assert(check_outcome_estimator<E, B>())`. `rft_step` and `rft_loop` call it.
template <class E, class B = exec::seq_t>
[[nodiscard]] consteval bool check_outcome_estimator() {
  static_assert(exec::ExecutionBackend<B>,
                "mmrag_rft: the backend is not an execution backend (pass exec::seq, exec::par, or a type deriving "
                "from exec::backend_base)");
  static_assert(detail::estimator_callable_on<E, B>,
                "mmrag_rft: this type is not an OutcomeEstimator because it cannot be called as estimator(backend, "
                "std::span<const float> rewards, const group_layout& groups, std::span<float> advantages); use "
                "grpo_estimator, dr_grpo_estimator, rloo_estimator or a callable of that signature");
  if constexpr (detail::estimator_callable_on<E, B>)
    static_assert(std::convertible_to<
                      std::invoke_result_t<E&, const B&, std::span<const float>, const group_layout&, std::span<float>>,
                      advantage_summary>,
                  "mmrag_rft: this type is not an OutcomeEstimator because estimator(backend, rewards, groups, "
                  "advantages) does not return an advantage_summary");
  return OutcomeEstimator<E, B>;
}

/// GRPO advantages (`grpo_advantages` with `options`) on the step's backend. `rft_step` without an estimator uses
/// `grpo_estimator{options.advantages}`.
struct grpo_estimator {
  grpo_options options = grpo_options::verl();

  template <exec::ExecutionBackend B>
  [[nodiscard]] advantage_summary operator()(const B& backend, std::span<const float> rewards,
                                             const group_layout& groups, std::span<float> advantages) const {
    return grpo_advantages(backend, rewards, groups, advantages, options);
  }
};

/// Dr. GRPO advantages: GRPO without the std division (`grpo_advantages` with `grpo_options::dr_grpo()`). `options`
/// sets the rest (singleton groups, non-finite rewards); its `norm_adv_by_std_in_grpo` is always taken as false, so
/// this estimator never divides by the std whatever preset it was built from.
struct dr_grpo_estimator {
  grpo_options options = grpo_options::dr_grpo();

  template <exec::ExecutionBackend B>
  [[nodiscard]] advantage_summary operator()(const B& backend, std::span<const float> rewards,
                                             const group_layout& groups, std::span<float> advantages) const {
    grpo_options o = options;
    o.norm_adv_by_std_in_grpo = false;
    return grpo_advantages(backend, rewards, groups, advantages, o);
  }
};

/// RLOO advantages (`rloo_advantages` with `options`): each reward minus the mean of the rest of its group.
struct rloo_estimator {
  rloo_options options{};

  template <exec::ExecutionBackend B>
  [[nodiscard]] advantage_summary operator()(const B& backend, std::span<const float> rewards,
                                             const group_layout& groups, std::span<float> advantages) const {
    return rloo_advantages(backend, rewards, groups, advantages, options);
  }
};

static_assert(OutcomeEstimator<grpo_estimator> && OutcomeEstimator<grpo_estimator, exec::par_t>);
static_assert(OutcomeEstimator<dr_grpo_estimator> && OutcomeEstimator<rloo_estimator, exec::par_t>);

} // namespace mmrag_rft
