// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends/par.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace mmrag_rft;

namespace {
bool bitwise_equal(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}
} // namespace

TEST_SUITE("advantages") {

TEST_CASE("opo_advantages: hand-worked length-weighted baseline") {
  // Group 0: rewards 1, 0 with lengths 3, 1: baseline 3/4. Group 1: one completion, baseline 0.
  std::vector<double> r{1.0, 0.0, 2.0}, a(3);
  const std::vector<std::uint8_t> m{1, 1, 1, 1, 0, 0, 1, 1, 0};
  const mask_view mask(m.data(), 3, 3);
  const std::vector<std::int64_t> off{0, 2, 3};
  const auto s =
      opo_advantages(std::span<const double>(r), group_layout::from_offsets(off), mask, std::span<double>(a));
  CHECK(a[0] == 0.25);
  CHECK(a[1] == -0.75);
  CHECK(a[2] == 2.0);
  CHECK(s.singleton_groups == 1);
  // No valid token in the group: the plain mean.
  const std::vector<std::uint8_t> z(9, 0);
  (void)opo_advantages(std::span<const double>(r), group_layout::from_offsets(off), mask_view(z.data(), 3, 3),
                       std::span<double>(a));
  CHECK(a[0] == 0.5);
  CHECK(a[1] == -0.5);
  r[1] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(
      opo_advantages(std::span<const double>(r), group_layout::from_offsets(off), mask, std::span<double>(a)), error);
}

TEST_CASE("gpg_advantages: hand-worked alpha and group mean") {
  // B = 4, two non-zero rewards: alpha = 2. Group {1, 0}: mean 0.5; group {0, 3}: mean 1.5.
  std::vector<double> r{1.0, 0.0, 0.0, 3.0}, a(4);
  (void)gpg_advantages(std::span<const double>(r), group_layout::uniform(2, 2), std::span<double>(a));
  CHECK(a[0] == 1.0);
  CHECK(a[1] == -1.0);
  CHECK(a[2] == -3.0);
  CHECK(a[3] == 3.0);
  gpg_options o;
  o.f_norm = 2.0;
  o.scale_by_nonzero = false;
  (void)gpg_advantages(std::span<const double>(r), group_layout::uniform(4, 1), std::span<double>(a), o);
  CHECK(a[3] == 1.5); // singleton: mean 0
  std::vector<double> zeros(4, 0.0);
  (void)gpg_advantages(std::span<const double>(zeros), group_layout::uniform(2, 2), std::span<double>(a));
  for (double x : a) CHECK(x == 0.0);
  o.f_norm = 0.0;
  CHECK_THROWS_AS(gpg_advantages(std::span<const double>(r), group_layout::uniform(2, 2), std::span<double>(a), o),
                  error);
}

TEST_CASE("grpo_passk_advantages: only the best completion is credited") {
  std::vector<double> r{0.2, 0.9, 0.5, 0.5, 0.5}, a(5);
  const std::vector<std::int64_t> off{0, 3, 5};
  const auto s =
      grpo_passk_advantages(std::span<const double>(r), group_layout::from_offsets(off), std::span<double>(a));
  const double mean = 1.6 / 3,
               sd = std::sqrt(
                   ((0.2 - mean) * (0.2 - mean) + (0.9 - mean) * (0.9 - mean) + (0.5 - mean) * (0.5 - mean)) / 2.0);
  CHECK(a[0] == 0.0);
  CHECK(a[1] == doctest::Approx(0.4 / (sd + 1e-6)).epsilon(1e-14));
  CHECK(a[2] == 0.0);
  CHECK(a[3] == 0.0);
  CHECK(a[4] == 0.0);
  CHECK(s.degenerate_groups == 1);
  grpo_passk_options o;
  o.norm_adv_by_std_in_grpo = false;
  (void)grpo_passk_advantages(std::span<const double>(r), group_layout::from_offsets(off), std::span<double>(a), o);
  CHECK(a[1] == doctest::Approx(0.4).epsilon(1e-15));
  // A tie at the top: 0 for all.
  std::vector<double> tie{1.0, 0.0, 1.0}, t(3);
  (void)grpo_passk_advantages(std::span<const double>(tie), group_layout::uniform(1, 3), std::span<double>(t));
  for (double x : t) CHECK(x == 0.0);
  CHECK_THROWS_AS(grpo_passk_advantages(std::span<const double>(r), group_layout::uniform(5, 1), std::span<double>(a)),
                  error);
}

TEST_CASE("remax_advantages: reward minus the greedy reward, broadcast over the mask") {
  std::vector<double> r{1.0, 0.25}, b{0.5, 0.75}, a(2);
  remax_advantages(std::span<const double>(r), std::span<const double>(b), std::span<double>(a));
  CHECK(a[0] == 0.5);
  CHECK(a[1] == -0.5);
  b[1] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(remax_advantages(std::span<const double>(r), std::span<const double>(b), std::span<double>(a)),
                  error);
  std::vector<double> empty, e;
  remax_advantages(std::span<const double>(empty), std::span<const double>(empty), std::span<double>(e));
}

TEST_CASE("opo, gpg, grpo_passk, remax: par is bitwise seq; empty batch") {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> nd(0.0, 1.0);
  const std::size_t G = 20000, n = 4, B = G * n, T = 3;
  std::vector<double> r(B), base(B);
  for (auto& x : r) x = nd(rng);
  for (auto& x : base) x = nd(rng);
  std::vector<std::uint8_t> m(B * T);
  for (std::size_t i = 0; i < m.size(); ++i) m[i] = (rng() % 3) != 0;
  const mask_view mask(m.data(), B, T);
  const auto layout = group_layout::uniform(G, n);
  std::vector<double> s1(B), p1(B);
  (void)opo_advantages(exec::seq, std::span<const double>(r), layout, mask, std::span<double>(s1));
  (void)opo_advantages(exec::par, std::span<const double>(r), layout, mask, std::span<double>(p1));
  CHECK(bitwise_equal(s1, p1));
  (void)gpg_advantages(exec::seq, std::span<const double>(r), layout, std::span<double>(s1));
  (void)gpg_advantages(exec::par, std::span<const double>(r), layout, std::span<double>(p1));
  CHECK(bitwise_equal(s1, p1));
  (void)grpo_passk_advantages(exec::seq, std::span<const double>(r), layout, std::span<double>(s1));
  (void)grpo_passk_advantages(exec::par, std::span<const double>(r), layout, std::span<double>(p1));
  CHECK(bitwise_equal(s1, p1));
  remax_advantages(exec::seq, std::span<const double>(r), std::span<const double>(base), std::span<double>(s1));
  remax_advantages(exec::par, std::span<const double>(r), std::span<const double>(base), std::span<double>(p1));
  CHECK(bitwise_equal(s1, p1));
  std::vector<double> empty, out;
  const auto s = gpg_advantages(std::span<const double>(empty), group_layout::uniform(0, 4), std::span<double>(out));
  CHECK(s.groups == 0);
  (void)grpo_passk_advantages(std::span<const double>(empty), group_layout::uniform(0, 4), std::span<double>(out));
  (void)opo_advantages(std::span<const double>(empty), group_layout::uniform(0, 4), mask_view(nullptr, 0, 0),
                       std::span<double>(out));
}

} // TEST_SUITE("advantages")

TEST_CASE("reinforce_pp_baseline_advantages: keyed groups") {
  // Keys p0 p1 p0 p1: the group form on the gathered batch, scattered back, and bitwise the layout form in place.
  std::vector<double> r{1.0, 4.0, 3.0, 0.0}, a(4), b(4);
  const std::vector<std::uint8_t> m{1, 1, 1, 0, 1, 1, 1, 1};
  const mask_view mask(m.data(), 4, 2);
  const std::vector<std::int64_t> keys{7, 9, 7, 9};
  (void)reinforce_pp_baseline_advantages(std::span<const double>(r),
                                         keyed_groups::from_keys(std::span<const std::int64_t>(keys)), mask,
                                         std::span<double>(a));
  // Centred: -1, 2, 1, -2 with lengths 2, 1, 2, 2: token mean (−2 + 2 + 2 − 4)/7 = −2/7.
  std::vector<double> centred{-1.0, 2.0, 1.0, -2.0}, len{2, 1, 2, 2};
  double mean = 0, var = 0;
  for (int i = 0; i < 4; ++i) mean += len[i] * centred[i] / 7.0;
  for (int i = 0; i < 4; ++i) var += len[i] * (centred[i] - mean) * (centred[i] - mean) / 6.0; // unbiased
  for (int i = 0; i < 4; ++i)
    CHECK(a[i] == doctest::Approx((centred[i] - mean) / std::sqrt(var + 1e-8)).epsilon(1e-12));
  const std::vector<std::int64_t> adjacent{7, 7, 9, 9};
  std::vector<double> r2{1.0, 3.0, 4.0, 0.0};
  (void)reinforce_pp_baseline_advantages(std::span<const double>(r2),
                                         keyed_groups::from_keys(std::span<const std::int64_t>(adjacent)), mask,
                                         std::span<double>(a));
  (void)reinforce_pp_baseline_advantages(std::span<const double>(r2), group_layout::uniform(2, 2), mask,
                                         std::span<double>(b));
  CHECK(bitwise_equal(a, b));
  r[0] = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(reinforce_pp_baseline_advantages(std::span<const double>(r),
                                                   keyed_groups::from_keys(std::span<const std::int64_t>(keys)), mask,
                                                   std::span<double>(a)),
                  error);
}
