// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/model.hpp>

#include <doctest/doctest.h>

#include <limits>

using namespace mmrag_rft;

TEST_SUITE("model") {
TEST_CASE("rollout_batch: zeros gives consistent views when shaped P x G x T") {
  const auto b = rollout_batch::zeros(3, 4, 5);
  CHECK(b.rows() == 12);
  CHECK(b.token_view().rows() == 12);
  CHECK(b.token_view().cols() == 5);
  CHECK(b.layout().num_groups() == 3);
  CHECK(b.layout().size(2) == 4);
  CHECK_FALSE(b.entropy_view().empty());
  CHECK_NOTHROW(b.validate("test"));
}
TEST_CASE("rollout_batch: validate names the array when sizes disagree") {
  auto b = rollout_batch::zeros(2, 2, 3, false);
  CHECK(b.entropy_view().empty());
  b.mask.pop_back();
  CHECK_THROWS_WITH_AS(b.validate("rft_step"), doctest::Contains("rollout.mask"), error);
  b = rollout_batch::zeros(2, 2, 3);
  b.completions.pop_back();
  CHECK_THROWS_AS(b.validate("rft_step"), error);
  b = rollout_batch::zeros(2, 2, 3);
  for (double t : {0.0, -1.0, std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    b.temperature = t;
    CHECK_THROWS_WITH_AS(b.validate("rft_step"), doctest::Contains("rollout.temperature"), error);
  }
  b.temperature = 0.7;
  CHECK_NOTHROW(b.validate("rft_step"));
  CHECK(rollout_options{.temperature = 0}.log_prob_temperature() == 1.0);
  CHECK(rollout_options{.temperature = 0.7}.log_prob_temperature() == 0.7);
}
} // TEST_SUITE("model")
