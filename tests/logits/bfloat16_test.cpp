// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/logits/bfloat16.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using mmrag_rft::bfloat16;

TEST_SUITE("logits") {
TEST_CASE("bfloat16: round trip is exact when the float has 8 significant bits") {
  for (float f : {0.0f, -0.0f, 1.0f, -2.5f, 0.15625f, 3.0e38f, 1.0e-38f})
    CHECK(bfloat16::from_float(bfloat16::from_float(f).to_float()).to_float() == bfloat16::from_float(f).to_float());
  CHECK(bfloat16::from_float(1.0f).bits == 0x3f80);
  CHECK(bfloat16::from_float(-2.0f).bits == 0xc000);
}
TEST_CASE("bfloat16: rounds to nearest with ties to even") {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
  CHECK(bfloat16::from_float(1.0f + 0.00390625f).to_float() == 1.0f);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties go to 1 + 2^-6.
  CHECK(bfloat16::from_float(1.0f + 3 * 0.00390625f).to_float() == 1.0f + 0.015625f);
  CHECK(bfloat16::from_float(1.0f + 0.005f).to_float() == 1.0f + 0.0078125f);
}
TEST_CASE("bfloat16: keeps infinities and NaN when converting") {
  CHECK(std::isinf(bfloat16::from_float(std::numeric_limits<float>::infinity()).to_float()));
  CHECK(std::isnan(bfloat16::from_float(std::numeric_limits<float>::quiet_NaN()).to_float()));
  CHECK(std::isinf(bfloat16::from_float(std::numeric_limits<float>::max()).to_float())); // rounds up to inf
}
} // TEST_SUITE("logits")
