// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/model.hpp>

#include <doctest/doctest.h>

using namespace mmrag_rft;

namespace {
struct scorer_only {
  void log_probs(const prompt_batch&, const rollout_batch&, matrix_view<float>) {}
};
struct full_policy : scorer_only {
  rollout_batch generate(const prompt_batch&, const rollout_options&) { return {}; }
  void backward(matrix_view<const float>) {}
  void step() {}
};
struct no_step : scorer_only {
  rollout_batch generate(const prompt_batch&, const rollout_options&) { return {}; }
  void backward(matrix_view<const float>) {}
};
struct wrong_generate : scorer_only {
  int generate(const prompt_batch&, const rollout_options&) { return 0; }
  void backward(matrix_view<const float>) {}
  void step() {}
};
struct nothing {};
} // namespace

static_assert(LogProbModel<scorer_only> && ReferenceModel<scorer_only> && !Policy<scorer_only>);
static_assert(Policy<full_policy> && LogProbModel<full_policy>);
static_assert(!Policy<no_step> && !Policy<wrong_generate> && !LogProbModel<nothing>);
static_assert(ReferenceModel<no_reference> && check_policy<full_policy>() && check_reference_model<scorer_only>());

TEST_SUITE("model") {
TEST_CASE("Policy: archetypes satisfy the ladder when every member is present") {
  CHECK(Policy<full_policy>);
  CHECK_FALSE(Policy<no_step>);
  CHECK_FALSE(Policy<wrong_generate>);
  CHECK(ReferenceModel<scorer_only>);
}
} // TEST_SUITE("model")
