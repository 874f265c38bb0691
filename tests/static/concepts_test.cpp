// SPDX-License-Identifier: Apache-2.0
// Concept checks against small archetypes: what is and what is not an execution backend; views' const rules.
#include <mmrag_rft/mmrag_rft.hpp>

#include <type_traits>

namespace {
struct looks_like_a_backend {
  std::size_t num_threads = 0;
};
struct my_backend : mmrag_rft::exec::backend_base<my_backend> {};
} // namespace

using namespace mmrag_rft;
static_assert(exec::ExecutionBackend<exec::seq_t>);
static_assert(exec::ExecutionBackend<exec::par_t>);
static_assert(exec::ExecutionBackend<my_backend>, "deriving from backend_base is the opt-in");
static_assert(!exec::ExecutionBackend<looks_like_a_backend>, "same members without the opt-in are not a backend");
static_assert(!exec::ExecutionBackend<int>);
static_assert(std::is_convertible_v<matrix_view<float>, matrix_view<const float>>);
static_assert(!std::is_convertible_v<matrix_view<const float>, matrix_view<float>>,
              "a const view never becomes mutable");
static_assert(!std::is_convertible_v<matrix_view<double>, matrix_view<const float>>);
static_assert(detail::clamp(5.0, 0.0, 1.0) == 1.0 && detail::clamp(-5.0, 0.0, 1.0) == 0.0);
static_assert(detail::grpo_advantage(1.0, 0.5, 0.5, 0.0, true) == 1.0);
static_assert(detail::rloo_advantage(1.0, 1.5, 3.0) == 0.75);
static_assert(group_layout::uniform(2, 3).num_items() == 6);
static_assert(to_string(loss_aggregation::seq_mean_token_sum_norm) == "seq-mean-token-sum-norm");
static_assert(std::is_invocable_v<decltype(grpo_advantages), std::span<const float>, group_layout, std::span<float>>);
static_assert(!std::is_invocable_v<decltype(grpo_advantages), std::span<const float>, group_layout, std::span<double>>,
              "rewards and advantages must have the same floating type");
static_assert(!std::is_invocable_v<decltype(grpo_advantages), looks_like_a_backend, std::span<const float>,
                                   group_layout, std::span<float>>);
