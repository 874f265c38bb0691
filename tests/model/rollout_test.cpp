// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/model.hpp>

#include <doctest/doctest.h>

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
}
}
