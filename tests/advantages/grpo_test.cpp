#include <mmrag_rft/advantages/grpo.hpp>
#include <doctest/doctest.h>
#include <vector>
using namespace mmrag_rft;
TEST_CASE("grpo smoke") {
  std::vector<float> r{1, 0, 0, 1}, a(4);
  auto s = grpo_advantages(r, group_layout::uniform(2, 2), a);
  CHECK(s.groups == 2);
  CHECK(a[0] == doctest::Approx(0.5 / (std::sqrt(0.5) + 1e-6)));
  dr_grpo_advantages(exec::par, r, group_layout::uniform(2, 2), a);
  CHECK(a[0] == doctest::Approx(0.5));
}
