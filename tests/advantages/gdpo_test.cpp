// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends/par.hpp>
#include <mmrag_rft/core/error.hpp>

#include <support/generators.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

using namespace mmrag_rft;
using test::seed_t;

namespace {
// Independent float64 recomputation of GDPO as the reference's torch code does it: per component, group mean and
// unbiased std, (r - mean) / (std + eps); the weighted sum; (s - mean) / (std + eps) over the batch (unbiased).
std::vector<double> reference_gdpo(const std::vector<double>& r, std::size_t k, const std::vector<double>& w,
                                   const std::vector<std::int64_t>& off, double eps, double batch_eps) {
  const std::size_t n = r.size() / k;
  std::vector<double> s(n, 0.0);
  for (std::size_t g = 0; g + 1 < off.size(); ++g) {
    const auto b = static_cast<std::size_t>(off[g]), e = static_cast<std::size_t>(off[g + 1]);
    const double m = static_cast<double>(e - b);
    for (std::size_t c = 0; c < k; ++c) {
      double mean = 0, var = 0;
      for (std::size_t j = b; j < e; ++j) mean += r[j * k + c] / m;
      for (std::size_t j = b; j < e; ++j) var += (r[j * k + c] - mean) * (r[j * k + c] - mean) / (m - 1);
      for (std::size_t j = b; j < e; ++j) s[j] += w[c] * (r[j * k + c] - mean) / (std::sqrt(var) + eps);
    }
  }
  double mean = 0, var = 0;
  for (double x : s) mean += x / static_cast<double>(n);
  for (double x : s) var += (x - mean) * (x - mean) / static_cast<double>(n - 1);
  std::vector<double> a(n);
  for (std::size_t j = 0; j < n; ++j) a[j] = (s[j] - mean) / (std::sqrt(var) + batch_eps);
  return a;
}

gdpo_options exact_gdpo() {
  gdpo_options o;
  o.component.epsilon = 0;
  o.batch_epsilon = 0;
  return o;
}
} // namespace

TEST_SUITE("advantages") {

TEST_CASE("gdpo_advantages: hand-worked group of four, (1, 0) and (0, 1) no longer tie") {
  // Component 0 {1, 0, 0, 0}: mean 1/4, std 1/2, advantages (3/2, -1/2, -1/2, -1/2).
  // Component 1 {0, 1, 1, 0}: mean 1/2, std 1/sqrt(3), advantages sqrt(3)/2 * (-1, 1, 1, -1).
  const std::vector<double> r{1, 0, 0, 1, 0, 1, 0, 0};
  std::vector<double> a(4);
  gdpo_options o = exact_gdpo();
  o.whiten = false;
  const auto s = gdpo_advantages(matrix_view<const double>(r.data(), 4, 2), {}, group_layout::uniform(1, 4), a, o);
  const double h = std::sqrt(3.0) / 2;
  CHECK(a[0] == doctest::Approx(1.5 - h).epsilon(1e-14));
  CHECK(a[1] == doctest::Approx(-0.5 + h).epsilon(1e-14));
  CHECK(a[2] == doctest::Approx(-0.5 + h).epsilon(1e-14));
  CHECK(a[3] == doctest::Approx(-0.5 - h).epsilon(1e-14));
  CHECK(a[0] != doctest::Approx(a[1])); // GRPO of the summed reward {1, 1, 1, 0} gives rows 0 and 1 the same value
  CHECK(s.groups == 1);
  CHECK(s.degenerate_groups == 0);
  // Whitened: the sums have mean 0 and unbiased std sqrt((2 + 2 h^2 ... ) / 3) = 0.919401...; torch gives these.
  o.whiten = true;
  (void)gdpo_advantages(matrix_view<const double>(r.data(), 4, 2), {}, group_layout::uniform(1, 4), a, o);
  CHECK(a[0] == doctest::Approx(0.6895512650714745).epsilon(1e-13));
  CHECK(a[1] == doctest::Approx(0.3981126085090629).epsilon(1e-13));
  CHECK(a[3] == doctest::Approx(-1.4857764820896002).epsilon(1e-13));
  // Weights: component 1 counted twice.
  const std::vector<double> w{1.0, 2.0};
  o.whiten = false;
  (void)gdpo_advantages(matrix_view<const double>(r.data(), 4, 2), w, group_layout::uniform(1, 4), a, o);
  CHECK(a[0] == doctest::Approx(1.5 - 2 * h).epsilon(1e-14));
  CHECK(a[1] == doctest::Approx(-0.5 + 2 * h).epsilon(1e-14));
}

TEST_CASE("gdpo_advantages: matches an independent float64 recomputation on random groups, float and strided rows") {
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    const std::size_t k = 1 + seed % 3;
    const auto off = test::random_offsets(seed_t{seed}, 40, 2, 9);
    const auto n = static_cast<std::size_t>(off.back());
    const auto r = test::random_rewards<double>(seed_t{seed + 50}, n * k, seed % 2 == 0);
    const auto wr = test::random_rewards<double>(seed_t{seed + 70}, k, false);
    const std::vector<double> w(wr.begin(), wr.end());
    // Give every group some spread in every component, so the reference (no degenerate-group rule) applies.
    std::vector<double> rr = r;
    for (std::size_t g = 0; g + 1 < off.size(); ++g)
      for (std::size_t c = 0; c < k; ++c) rr[static_cast<std::size_t>(off[g]) * k + c] += 3.0;
    const auto ref = reference_gdpo(rr, k, w, off, 1e-4, 1e-4);
    std::vector<double> a(n);
    (void)gdpo_advantages(matrix_view<const double>(rr.data(), n, k), w, group_layout::from_offsets(off), a);
    for (std::size_t j = 0; j < n; ++j) CHECK(a[j] == doctest::Approx(ref[j]).epsilon(1e-12));
    // Float rewards in a strided matrix (one junk column of NaN that must never be read).
    std::vector<float> f(n * (k + 1), std::numeric_limits<float>::quiet_NaN());
    std::vector<double> rf(n * k);
    for (std::size_t j = 0; j < n; ++j)
      for (std::size_t c = 0; c < k; ++c) rf[j * k + c] = f[j * (k + 1) + c] = static_cast<float>(rr[j * k + c]);
    const auto ref_f = reference_gdpo(rf, k, w, off, 1e-4, 1e-4);
    std::vector<float> af(n);
    (void)gdpo_advantages(matrix_view<const float>(f.data(), n, k, k + 1), w, group_layout::from_offsets(off), af);
    for (std::size_t j = 0; j < n; ++j) CHECK(af[j] == doctest::Approx(ref_f[j]).epsilon(1e-5));
  }
}

TEST_CASE("gdpo_advantages: one component is GRPO followed by batch whitening") {
  const auto off = test::random_offsets(seed_t{3}, 30, 1, 8);
  const auto n = static_cast<std::size_t>(off.back());
  const auto r = test::random_rewards<double>(seed_t{4}, n, true);
  for (const grpo_options& c : {grpo_options::verl(), grpo_options::trl(), grpo_options::dr_grpo()}) {
    gdpo_options o;
    o.component = c;
    o.batch_epsilon = 0;
    std::vector<double> a(n), g(n);
    (void)gdpo_advantages(matrix_view<const double>(r.data(), n, 1), {}, group_layout::from_offsets(off), a, o);
    (void)grpo_advantages(r, group_layout::from_offsets(off), g, c);
    const std::vector<std::uint8_t> ones(n, 1);
    whitening_options wo;
    wo.epsilon = 0; // masked_whiten: (x - mean) / sqrt(var + 0), the same as / (std + 0)
    (void)masked_whiten(matrix_view<double>(g.data(), 1, n), mask_view(ones.data(), 1, n), wo);
    for (std::size_t j = 0; j < n; ++j) CHECK(a[j] == doctest::Approx(g[j]).epsilon(1e-12));
  }
}

TEST_CASE("gdpo_advantages: weights scale out of the whitened result; a split component equals the whole") {
  const auto off = test::random_offsets(seed_t{8}, 20, 2, 6);
  const auto n = static_cast<std::size_t>(off.back());
  const auto r = test::random_rewards<double>(seed_t{9}, n * 2, false);
  const auto layout = group_layout::from_offsets(off);
  std::vector<double> a(n), b(n);
  const std::vector<double> w1{0.5, 2.0}, w3{1.5, 6.0};
  (void)gdpo_advantages(matrix_view<const double>(r.data(), n, 2), w1, layout, a, exact_gdpo());
  (void)gdpo_advantages(matrix_view<const double>(r.data(), n, 2), w3, layout, b, exact_gdpo());
  for (std::size_t j = 0; j < n; ++j) CHECK(a[j] == doctest::Approx(b[j]).epsilon(1e-12));
  // Component 1 given twice with half the weight each: the same weighted sum.
  std::vector<double> r3(n * 3);
  for (std::size_t j = 0; j < n; ++j) r3[j * 3] = r[j * 2], r3[j * 3 + 1] = r3[j * 3 + 2] = r[j * 2 + 1];
  const std::vector<double> w2{0.5, 1.0, 1.0};
  gdpo_options o = exact_gdpo();
  o.whiten = false;
  (void)gdpo_advantages(matrix_view<const double>(r.data(), n, 2), w1, layout, a, o);
  (void)gdpo_advantages(matrix_view<const double>(r3.data(), n, 3), w2, layout, b, o);
  for (std::size_t j = 0; j < n; ++j) CHECK(a[j] == doctest::Approx(b[j]).epsilon(1e-12));
}

TEST_CASE("gdpo_advantages: all-equal components add exactly 0; an all-degenerate batch gives 0 everywhere") {
  // Non-dyadic all-equal float rewards: the centred second pass keeps their std exactly 0.
  const std::vector<float> r{0.1f, 0.7f, 0.1f, 0.3f, 0.1f, 0.7f, 0.2f, 0.2f, 0.2f, 0.2f, 0.2f, 0.2f};
  std::vector<float> a(6);
  const auto s = gdpo_advantages(matrix_view<const float>(r.data(), 6, 2), {}, group_layout::uniform(2, 3), a);
  CHECK(s.degenerate_groups == 1); // group 1: both components all-equal; group 0: component 0 only
  // Group-centred sums have batch mean 0 (up to rounding), so the degenerate group stays at 0 after whitening ...
  for (std::size_t j = 3; j < 6; ++j) CHECK(a[j] == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(a[0] != doctest::Approx(0.0));
  CHECK(a[3] == a[4]);
  CHECK(a[4] == a[5]);
  const std::vector<float> flat(12, 0.3f);
  (void)gdpo_advantages(matrix_view<const float>(flat.data(), 6, 2), {}, group_layout::uniform(2, 3), a);
  for (float x : a) CHECK(x == 0.0f); // ... but with no spread at all every advantage is 0, never NaN
  gdpo_options o = exact_gdpo();      // both epsilons 0: all-equal components are skipped, never 0 / 0
  (void)gdpo_advantages(matrix_view<const float>(flat.data(), 6, 2), {}, group_layout::uniform(2, 3), a, o);
  for (float x : a) CHECK(x == 0.0f);
  (void)gdpo_advantages(matrix_view<const float>(r.data(), 6, 2), {}, group_layout::uniform(2, 3), a, o);
  for (float x : a) CHECK(std::isfinite(x));
}

TEST_CASE("gdpo_advantages: a group of one follows the component singleton policy") {
  const std::vector<double> r{0.5, 1.0, 1.0, 0.0, 0.0, 1.0};
  std::vector<double> a(3);
  const std::vector<std::int64_t> off{0, 1, 3};
  gdpo_options o = exact_gdpo();
  o.whiten = false;
  o.component.singleton = singleton_group::unit_std; // verl: mean 0, std 1, so a = r per component
  auto s = gdpo_advantages(matrix_view<const double>(r.data(), 3, 2), {}, group_layout::from_offsets(off), a, o);
  CHECK(s.singleton_groups == 1);
  CHECK(a[0] == doctest::Approx(1.5));
  o.component.singleton = singleton_group::zero;
  (void)gdpo_advantages(matrix_view<const double>(r.data(), 3, 2), {}, group_layout::from_offsets(off), a, o);
  CHECK(a[0] == 0.0);
  o.component.singleton = singleton_group::error;
  CHECK_THROWS_AS(
      (void)gdpo_advantages(matrix_view<const double>(r.data(), 3, 2), {}, group_layout::from_offsets(off), a, o),
      mmrag_rft::error);
}

TEST_CASE("gdpo_advantages: a NaN component is an error naming the completion, or masks the whole completion") {
  std::vector<double> r{1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 1};
  r[2 * 2 + 1] = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> a(6);
  std::vector<std::uint8_t> keep(6, 9);
  try {
    (void)gdpo_advantages(matrix_view<const double>(r.data(), 6, 2), {}, group_layout::uniform(2, 3), a);
    FAIL("no error");
  } catch (const mmrag_rft::error& e) {
    CHECK(std::string(e.what()).find("[2]") != std::string::npos);
  }
  gdpo_options o;
  o.component.nonfinite = nonfinite_rewards::mask_out;
  const auto s =
      gdpo_advantages(matrix_view<const double>(r.data(), 6, 2), {}, group_layout::uniform(2, 3), a, o, keep);
  CHECK(s.masked_out == 1);
  CHECK(keep == std::vector<std::uint8_t>{1, 1, 0, 1, 1, 1});
  CHECK(a[2] == 0.0);
  // The same as the batch without that completion.
  std::vector<double> r5(r.begin(), r.begin() + 4);
  r5.insert(r5.end(), r.begin() + 6, r.end());
  std::vector<double> b(5);
  (void)gdpo_advantages(matrix_view<const double>(r5.data(), 5, 2), {},
                        group_layout::from_offsets(std::vector<std::int64_t>{0, 2, 5}), b, o);
  const std::vector<double> kept{a[0], a[1], a[3], a[4], a[5]};
  for (std::size_t j = 0; j < 5; ++j) CHECK(kept[j] == doctest::Approx(b[j]).epsilon(1e-14));
  for (double x : a) CHECK(std::isfinite(x));
}

TEST_CASE("gdpo_advantages: bad arguments are located errors; an empty batch does nothing") {
  const std::vector<double> r(8, 0.5);
  std::vector<double> a(4), small(3);
  const matrix_view<const double> m(r.data(), 4, 2);
  const auto g = group_layout::uniform(1, 4);
  CHECK_THROWS_AS((void)gdpo_advantages(m, {}, group_layout::uniform(1, 3), small), mmrag_rft::error);
  CHECK_THROWS_AS((void)gdpo_advantages(m, {}, g, small), mmrag_rft::error);
  const std::vector<double> w1{1.0}, wnan{1.0, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THROWS_AS((void)gdpo_advantages(m, w1, g, a), mmrag_rft::error);
  CHECK_THROWS_AS((void)gdpo_advantages(m, wnan, g, a), mmrag_rft::error);
  gdpo_options o;
  o.component.scale = reward_scale::batch;
  CHECK_THROWS_AS((void)gdpo_advantages(m, {}, g, a, o), mmrag_rft::error);
  o = {};
  o.batch_epsilon = -1;
  CHECK_THROWS_AS((void)gdpo_advantages(m, {}, g, a, o), mmrag_rft::error);
  CHECK_THROWS_AS((void)gdpo_advantages(matrix_view<const double>(r.data(), 4, 0), {}, g, a), mmrag_rft::error);
  std::vector<double> none;
  const auto s = gdpo_advantages(matrix_view<const double>(), {}, group_layout::uniform(0, 4), std::span<double>(none));
  CHECK(s.groups == 0);
}

TEST_CASE("gdpo_advantages: seq and par agree bitwise") {
  const auto off = test::random_offsets(seed_t{21}, 9000, 1, 9);
  const auto n = static_cast<std::size_t>(off.back());
  const auto r = test::random_rewards<float>(seed_t{22}, n * 3, true);
  const std::vector<double> w{1.0, 0.5, 2.0};
  std::vector<float> a(n), b(n);
  (void)gdpo_advantages(exec::seq, matrix_view<const float>(r.data(), n, 3), w, group_layout::from_offsets(off), a);
  (void)gdpo_advantages(exec::par, matrix_view<const float>(r.data(), n, 3), w, group_layout::from_offsets(off), b);
  CHECK(a == b);
}

} // TEST_SUITE("advantages")
