// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/advantages.hpp>

#include <support/generators.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

using namespace mmrag_rft;
using test::seed_t;

namespace {
// Independent float64 recomputation, as torch would: mean, unbiased std, (r - mean) / (std + eps).
std::vector<double> reference_grpo(const std::vector<double>& r, const std::vector<std::int64_t>& off, double eps,
                                   bool norm) {
  std::vector<double> a(r.size());
  for (std::size_t g = 0; g + 1 < off.size(); ++g) {
    const auto b = static_cast<std::size_t>(off[g]), e = static_cast<std::size_t>(off[g + 1]);
    const double n = static_cast<double>(e - b);
    double mean = 0, var = 0;
    for (std::size_t j = b; j < e; ++j) mean += r[j] / n;
    for (std::size_t j = b; j < e; ++j) var += (r[j] - mean) * (r[j] - mean) / (n - 1);
    double sd = std::sqrt(var);
    if (e - b == 1) mean = 0, sd = 1;
    for (std::size_t j = b; j < e; ++j) a[j] = norm ? (r[j] - mean) / (sd + eps) : r[j] - mean;
  }
  return a;
}
} // namespace

TEST_SUITE("advantages") {

TEST_CASE("grpo_advantages: hand-worked group of four") {
  std::vector<double> r{1.0, 0.0, 0.5, 0.5}, a(4);
  const auto s = grpo_advantages(r, group_layout::uniform(1, 4), a);
  const double sd = std::sqrt(0.5 / 3.0); // unbiased: (0.25 + 0.25) / 3
  CHECK(a[0] == doctest::Approx(0.5 / (sd + 1e-6)).epsilon(1e-14));
  CHECK(a[1] == doctest::Approx(-0.5 / (sd + 1e-6)).epsilon(1e-14));
  CHECK(a[2] == 0.0);
  CHECK(s.groups == 1);
  CHECK(s.degenerate_groups == 0);
}

TEST_CASE("grpo_advantages: biased std option and batch scale") {
  std::vector<double> r{1.0, 0.0, 3.0, 1.0}, a(4);
  grpo_options o;
  o.std = std_estimator::biased;
  (void)grpo_advantages(r, group_layout::uniform(2, 2), a, o);
  CHECK(a[0] == doctest::Approx(0.5 / (0.5 + 1e-6)));
  o = grpo_options::trl();
  o.scale = reward_scale::
      batch; // group mean, batch std (unbiased over all 4): mean 1.25, var (0.0625+1.5625+3.0625+0.0625)/3
  (void)grpo_advantages(r, group_layout::uniform(2, 2), a, o);
  const double sd = std::sqrt((0.0625 + 1.5625 + 3.0625 + 0.0625) / 3.0);
  CHECK(a[0] == doctest::Approx(0.5 / (sd + 1e-4)));
  CHECK(a[2] == doctest::Approx(1.0 / (sd + 1e-4)));
}

TEST_CASE("grpo_advantages: matches an independent float64 recomputation on random variable-size groups") {
  for (std::uint64_t s = 0; s < 10; ++s) {
    const auto off = test::random_offsets(seed_t{s}, 50, 2, 9);
    const auto r = test::random_rewards<double>(seed_t{s + 99}, static_cast<std::size_t>(off.back()), s % 2 == 0);
    std::vector<double> a(r.size());
    (void)grpo_advantages(r, group_layout::from_offsets(off), a);
    const auto ref = reference_grpo(r, off, 1e-6, true);
    for (std::size_t j = 0; j < r.size(); ++j) CHECK(a[j] == doctest::Approx(ref[j]).epsilon(1e-12));
  }
}

TEST_CASE("grpo_advantages: advantages of a group sum to zero; Dr. GRPO is GRPO times (std + eps)") {
  const auto off = test::random_offsets(seed_t{7}, 40, 2, 12);
  const auto r = test::random_rewards<double>(seed_t{8}, static_cast<std::size_t>(off.back()), false);
  std::vector<double> a(r.size()), d(r.size());
  (void)grpo_advantages(r, group_layout::from_offsets(off), a);
  (void)dr_grpo_advantages(r, group_layout::from_offsets(off), d);
  for (std::size_t g = 0; g + 1 < off.size(); ++g) {
    double sum = 0, mean = 0, var = 0;
    const auto b = static_cast<std::size_t>(off[g]), e = static_cast<std::size_t>(off[g + 1]);
    for (std::size_t j = b; j < e; ++j) sum += a[j], mean += r[j] / double(e - b);
    for (std::size_t j = b; j < e; ++j) var += (r[j] - mean) * (r[j] - mean) / double(e - b - 1);
    CHECK(sum == doctest::Approx(0.0).scale(1.0).epsilon(1e-12));
    for (std::size_t j = b; j < e; ++j) CHECK(d[j] == doctest::Approx(a[j] * (std::sqrt(var) + 1e-6)).epsilon(1e-12));
  }
}

TEST_CASE("grpo_advantages: an all-equal group of non-dyadic float rewards gets exactly zero") {
  // E[x^2] - E[x]^2 in float leaves ~1e-8 variance here and the advantage explodes; the centred pass gives 0.
  std::vector<float> r(16, 0.35f), a(16, 123.0f);
  const auto s = grpo_advantages(r, group_layout::uniform(2, 8), a);
  for (float x : a) CHECK(x == 0.0f);
  CHECK(s.degenerate_groups == 2);
  std::vector<float> r2{0.1f, 0.1f, 0.1f, 0.7f, 0.7f, 0.7f}, a2(6, 5.0f);
  (void)grpo_advantages(r2, group_layout::uniform(2, 3), a2, grpo_options::trl());
  for (float x : a2) CHECK(x == 0.0f);
}

TEST_CASE("grpo_advantages: all-equal groups are exactly 0 and degenerate, for epsilon 0 and inexact means") {
  grpo_options o;
  o.epsilon = 0;                             // validates (>= 0): an all-equal group must not become 0 / 0
  for (const std::size_t g : {2u, 3u, 8u}) { // the fixed-size tree (2, 8) and the runtime-size loop (3)
    std::vector<double> r(2 * g, 0.25), a(2 * g, 9.0);
    for (std::size_t j = g; j < 2 * g; ++j) r[j] = j % 2 ? 1.0 : 0.0;
    const auto s = grpo_advantages(r, group_layout::uniform(2, g), a, o);
    for (std::size_t j = 0; j < g; ++j) CHECK(a[j] == 0.0);
    for (std::size_t j = g; j < 2 * g; ++j) CHECK(std::isfinite(a[j]));
    CHECK(s.degenerate_groups == 1);
  }
  // {0.1, 0.1, 0.1}: sum / 3 is 0.10000000000000002, which left -1.39e-11 advantages and no degenerate count.
  for (const double eps : {0.0, 1e-6}) {
    o.epsilon = eps;
    std::vector<double> r{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, a(8, 9.0);
    for (const std::size_t g : {2u, 4u, 8u}) {
      std::vector<double> rg(r.begin(), r.begin() + 8 / g * g);
      std::vector<double> ag(rg.size(), 9.0);
      const auto s = grpo_advantages(rg, group_layout::uniform(rg.size() / g, g), ag, o);
      for (double x : ag) CHECK(x == 0.0);
      CHECK(s.degenerate_groups == rg.size() / g);
    }
    std::vector<double> r3{0.1, 0.1, 0.1}, a3(3, 9.0);
    CHECK(grpo_advantages(r3, group_layout::uniform(1, 3), a3, o).degenerate_groups == 1);
    for (double x : a3) CHECK(x == 0.0);
    // The general rule (offsets layout, masked-out rewards) takes the same moments.
    std::vector<std::int64_t> off{0, 3};
    std::fill(a3.begin(), a3.end(), 9.0);
    CHECK(grpo_advantages(r3, group_layout::from_offsets(off), a3, o).degenerate_groups == 1);
    for (double x : a3) CHECK(x == 0.0);
    grpo_options m = o;
    m.nonfinite = nonfinite_rewards::mask_out;
    std::vector<double> r4{0.1, std::numeric_limits<double>::quiet_NaN(), 0.1, 0.1}, a4(4, 9.0);
    CHECK(grpo_advantages(r4, group_layout::uniform(1, 4), a4, m).degenerate_groups == 1);
    for (double x : a4) CHECK(x == 0.0);
  }
}

TEST_CASE("grpo_advantages: rewards near DBL_MAX overflow no sum: finite advantages, checked against scaled math") {
  const double big = 1.7e308;
  for (const std::size_t g : {2u, 3u, 4u}) {
    std::vector<double> eq(g, big), a(g, 9.0);
    const auto s = grpo_advantages(eq, group_layout::uniform(1, g), a);
    for (double x : a) CHECK(x == 0.0);
    CHECK(s.degenerate_groups == 1);
  }
  // {1.7e308, 1.6e308} overflows the sum, {1.7e308, -1.7e308} the deviation: the advantages are those of the
  // rewards divided by 1e300 (the same up to rounding: the scaled epsilon is negligible here, as in the reference).
  for (const auto& pair :
       {std::vector<double>{big, 1.6e308}, std::vector<double>{big, -big}, std::vector<double>{big, -big, 0.0, 1.0}}) {
    std::vector<double> small(pair.size()), want(pair.size()), a(pair.size()), a2(pair.size());
    for (std::size_t j = 0; j < pair.size(); ++j) small[j] = pair[j] / 1e300;
    grpo_options o;
    o.epsilon = 0;
    (void)grpo_advantages(small, group_layout::uniform(1, small.size()), want, o);
    (void)grpo_advantages(pair, group_layout::uniform(1, pair.size()), a);
    std::vector<std::int64_t> off{0, static_cast<std::int64_t>(pair.size())};
    (void)grpo_advantages(pair, group_layout::from_offsets(off), a2);
    for (std::size_t j = 0; j < pair.size(); ++j) {
      CHECK(a[j] == doctest::Approx(want[j]).epsilon(1e-12));
      CHECK(a2[j] == a[j]);
    }
    std::vector<double> d(pair.size());
    (void)dr_grpo_advantages(pair, group_layout::uniform(1, pair.size()), d);
    for (std::size_t j = 0; j < pair.size(); ++j) CHECK(!std::isnan(d[j]));
  }
}

TEST_CASE("grpo_advantages: a batch std over rewards near DBL_MAX (reward_scale::batch) is taken at a scale") {
  // The batch's centred squares overflow although no group's do ({1e308, 1e308} and {-1e308, -1e308} are each
  // all-equal), and {-1.7e308, 1.7e308} has a std beyond DBL_MAX: the advantages are those of the rewards divided by
  // 1e300 (up to rounding), never 0 for want of a finite std, never NaN.
  const double big = 1.7e308;
  grpo_options o = grpo_options::trl();
  o.scale = reward_scale::batch;
  for (const auto& r : {std::vector<double>{1e308, 1e308, -1e308, -1e308, 3.0, 5.0},
                        std::vector<double>{-big, big, big, -big}, std::vector<double>{1e308, -1e308, 0.5, 0.25}}) {
    const std::size_t n = r.size();
    std::vector<double> small(n), want(n), a(n, 9.0), b(n, 9.0), c(n, 9.0);
    for (std::size_t j = 0; j < n; ++j) small[j] = r[j] / 1e300;
    grpo_options o0 = o;
    o0.epsilon = 0; // the scaled epsilon is negligible beside these stds
    (void)grpo_advantages(small, group_layout::uniform(n / 2, 2), want, o0);
    (void)grpo_advantages(exec::seq, r, group_layout::uniform(n / 2, 2), a, o);
    (void)grpo_advantages(exec::par.with_threads(2), r, group_layout::uniform(n / 2, 2), b, o);
    std::vector<std::int64_t> off;
    for (std::size_t j = 0; j <= n; j += 2) off.push_back(static_cast<std::int64_t>(j));
    (void)grpo_advantages(r, group_layout::from_offsets(off), c, o);
    bool moved = false;
    for (std::size_t j = 0; j < n; ++j) {
      CHECK(std::isfinite(a[j]));
      CHECK(a[j] == doctest::Approx(want[j]).epsilon(1e-12));
      CHECK(b[j] == a[j]);
      CHECK(c[j] == a[j]);
      moved |= a[j] != 0.0;
    }
    CHECK(moved);
  }
}

TEST_CASE("grpo_advantages: a group of one follows the singleton policy of each framework") {
  std::vector<double> r{2.0, 1.0, 0.0}, a(3);
  std::vector<std::int64_t> off{0, 1, 3};
  const auto layout = group_layout::from_offsets(off);
  const auto s = grpo_advantages(r, layout, a); // verl: mean 0, std 1
  CHECK(a[0] == doctest::Approx(2.0 / (1.0 + 1e-6)));
  CHECK(s.singleton_groups == 1);
  (void)dr_grpo_advantages(r, layout, a);
  CHECK(a[0] == 2.0);
  (void)grpo_advantages(r, layout, a, grpo_options::trl());
  CHECK(a[0] == 0.0);
  CHECK_THROWS_WITH_AS((void)grpo_advantages(r, layout, a, grpo_options::openrlhf()), doctest::Contains("groups[0]"),
                       mmrag_rft::error);
}

TEST_CASE("grpo_advantages: NaN or Inf rewards are an error naming the index, or masked out on request") {
  std::vector<float> r{1.0f, 0.0f, std::numeric_limits<float>::quiet_NaN(), 1.0f, 0.0f, 0.5f}, a(6);
  CHECK_THROWS_WITH_AS((void)grpo_advantages(r, group_layout::uniform(2, 3), a), doctest::Contains("rewards[2] is NaN"),
                       mmrag_rft::error);
  r[2] = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS((void)grpo_advantages(r, group_layout::uniform(2, 3), a),
                       doctest::Contains("rewards[2] is infinite"), mmrag_rft::error);
  grpo_options o;
  o.nonfinite = nonfinite_rewards::mask_out;
  std::vector<std::uint8_t> keep(6);
  const auto s = grpo_advantages(std::span<const float>(r), group_layout::uniform(2, 3), std::span<float>(a), o,
                                 std::span<std::uint8_t>(keep));
  CHECK(s.masked_out == 1);
  CHECK(keep == std::vector<std::uint8_t>{1, 1, 0, 1, 1, 1});
  CHECK(a[2] == 0.0f);
  // The rest of the group is normalised among the finite members only: {1, 0} -> +-0.5 / (0.7071 + 1e-6).
  CHECK(a[0] == doctest::Approx(0.5 / (std::sqrt(0.5) + 1e-6)));
}

TEST_CASE("grpo_advantages: empty batch, empty groups and size mismatch") {
  std::vector<float> r, a;
  CHECK(grpo_advantages(r, group_layout::uniform(0, 8), a).groups == 0);
  std::vector<std::int64_t> off{0, 0, 2, 2};
  std::vector<float> r2{1.0f, 0.0f}, a2(2);
  CHECK(grpo_advantages(r2, group_layout::from_offsets(off), a2).groups == 3);
  CHECK(a2[0] > 0.0f);
  std::vector<float> bad(3);
  CHECK_THROWS_WITH_AS((void)grpo_advantages(r2, group_layout::uniform(1, 2), bad), doctest::Contains("advantages"),
                       mmrag_rft::error);
  CHECK_THROWS_AS((void)grpo_advantages(bad, group_layout::uniform(1, 2), bad), mmrag_rft::error);
}

TEST_CASE("grpo_advantages: keyed groups (verl uid) equal the contiguous computation, scattered back") {
  std::vector<int> uid{7, 3, 7, 3, 9, 7};
  std::vector<double> r{1.0, 0.0, 0.0, 1.0, 5.0, 0.5}, a(6);
  const auto keys = keyed_groups::from_keys<int>(uid);
  CHECK(keys.num_groups() == 3);
  (void)grpo_advantages(r, keys, a);
  std::vector<double> g7{1.0, 0.0, 0.5}, a7(3);
  (void)grpo_advantages(g7, group_layout::uniform(1, 3), a7);
  CHECK(a[0] == a7[0]);
  CHECK(a[2] == a7[1]);
  CHECK(a[5] == a7[2]);
  CHECK(a[4] == doctest::Approx(5.0 / (1 + 1e-6))); // singleton
  CHECK(a[1] == -a[3]);
}

TEST_CASE("grpo_advantages: adjacent keyed groups skip the gather and equal the uniform computation bitwise") {
  const auto r = test::random_rewards<float>(seed_t{5}, 64 * 8, true);
  std::vector<std::uint64_t> uid(r.size());
  for (std::size_t i = 0; i < uid.size(); ++i) uid[i] = 1000003ull * (i / 8);
  const auto keys = keyed_groups::from_keys<std::uint64_t>(uid);
  REQUIRE(keys.in_place());
  std::vector<float> a_keyed(r.size()), a_uniform(r.size());
  (void)grpo_advantages(std::span<const float>(r), keys, std::span<float>(a_keyed));
  (void)grpo_advantages(std::span<const float>(r), group_layout::uniform(64, 8), std::span<float>(a_uniform));
  CHECK(a_keyed == a_uniform);
}

TEST_CASE("grpo_advantages: the uniform-G fast path (every CPU version) matches the float64 recomputation") {
  const auto isas = {detail::cpu_isa::baseline, detail::cpu_isa::avx2, detail::cpu_isa::avx512};
  for (const auto isa : isas) {
    detail::max_cpu_isa = isa;
    for (const std::size_t g : {2u, 3u, 4u, 8u, 16u}) {
      const std::size_t groups = 1000, n = groups * g;
      std::vector<std::int64_t> off(groups + 1);
      for (std::size_t i = 0; i <= groups; ++i) off[i] = static_cast<std::int64_t>(i * g);
      for (const bool discrete : {true, false}) {
        INFO("isa " << int(isa) << " G " << g << " discrete " << discrete);
        const auto rd = test::random_rewards<double>(seed_t{g + discrete}, n, discrete);
        const std::vector<float> rf(rd.begin(), rd.end());
        const std::vector<double> rfd(rf.begin(), rf.end());
        for (const bool norm : {true, false}) {
          grpo_options o;
          o.norm_adv_by_std_in_grpo = norm;
          std::vector<double> ad(n), uniform_d(n);
          std::vector<float> af(n);
          std::vector<std::uint8_t> keep(n, 0);
          const auto s = grpo_advantages(rd, group_layout::uniform(groups, g), ad, o);
          // Every version computes the baseline's values (no contraction).
          detail::max_cpu_isa = detail::cpu_isa::baseline;
          (void)grpo_advantages(rd, group_layout::uniform(groups, g), uniform_d, o);
          detail::max_cpu_isa = isa;
          CHECK(uniform_d == ad);
          (void)grpo_advantages(rf, group_layout::uniform(groups, g), af, o, keep);
          const auto ref = reference_grpo(rd, off, o.epsilon, norm);
          const auto reff = reference_grpo(rfd, off, o.epsilon, norm);
          for (std::size_t j = 0; j < n; ++j) {
            CHECK(ad[j] == doctest::Approx(ref[j]).epsilon(1e-12)); // as the offsets test above
            CHECK(af[j] == doctest::Approx(reff[j]).epsilon(1e-6));
            CHECK(keep[j] == 1);
          }
          // Same degenerate-group count as the offsets path (which does not take the fast path).
          std::vector<double> ao(n);
          const auto so = grpo_advantages(rd, group_layout::from_offsets(off), ao, o);
          CHECK(s.degenerate_groups == so.degenerate_groups);
          CHECK(s.groups == so.groups);
        }
      }
    }
  }
  detail::max_cpu_isa = detail::cpu_isa::avx512;
}

TEST_CASE("grpo_advantages: seq and par agree bitwise") {
  const auto off = test::random_offsets(seed_t{1}, 20000, 1, 8);
  const auto r = test::random_rewards<float>(seed_t{2}, static_cast<std::size_t>(off.back()), false);
  std::vector<float> a(r.size()), b(r.size());
  (void)grpo_advantages(exec::seq, r, group_layout::from_offsets(off), a);
  (void)grpo_advantages(exec::par.with_threads(3), r, group_layout::from_offsets(off), b);
  CHECK(a == b);
}

TEST_CASE("rloo_advantages: leave-one-out baseline, hand-worked, sums to zero, singleton policies") {
  std::vector<double> r{1.0, 0.0, 0.5, 3.0}, a(4);
  std::vector<std::int64_t> off{0, 3, 4};
  (void)rloo_advantages(r, group_layout::from_offsets(off), a);
  CHECK(a[0] == doctest::Approx(1.0 - 0.25));
  CHECK(a[1] == doctest::Approx(0.0 - 0.75));
  CHECK(a[2] == doctest::Approx(0.5 - 0.5));
  CHECK(a[0] + a[1] + a[2] == doctest::Approx(0.0).scale(1));
  CHECK(a[3] == 3.0); // verl "rloo" keeps r
  rloo_options o;
  o.singleton = rloo_options::singleton_policy::zero;
  (void)rloo_advantages(r, group_layout::from_offsets(off), a, o);
  CHECK(a[3] == 0.0);
  o.singleton = rloo_options::singleton_policy::error;
  CHECK_THROWS_AS((void)rloo_advantages(r, group_layout::from_offsets(off), a, o), mmrag_rft::error);
}

TEST_CASE("reinforce_pp_advantages: discounted returns reset at masked positions, whitened over valid tokens") {
  // Row 0: rewards only at its last valid token (t = 2), gamma 0.5; row 1 has one valid token.
  std::vector<double> tr{0, 0, 1, 0, 2, 0, 0, 0}, ret(8), adv(8);
  std::vector<std::uint8_t> m{1, 1, 1, 0, 1, 0, 0, 0};
  const auto s = reinforce_pp_advantages(matrix_view<const double>(tr.data(), 2, 4), {m.data(), 2, 4}, 0.5,
                                         {ret.data(), 2, 4}, {adv.data(), 2, 4});
  CHECK(ret[2] == 1.0);
  CHECK(ret[1] == 0.5);
  CHECK(ret[0] == 0.25);
  CHECK(ret[4] == 2.0);
  const std::vector<double> valid{0.25, 0.5, 1.0, 2.0};
  const double mean = 3.75 / 4;
  double m2 = 0;
  for (double v : valid) m2 += (v - mean) * (v - mean);
  CHECK(s.mean == doctest::Approx(mean));
  CHECK(adv[0] == doctest::Approx((0.25 - mean) / std::sqrt(m2 / 3 + 1e-8)));
  CHECK(adv[3] == 0.0);
  CHECK(adv[5] == 0.0);
}

TEST_CASE("reinforce_pp_baseline_advantages: group mean subtracted then token-weighted batch whitening") {
  std::vector<double> r{1.0, 0.0, 2.0}, a(3);
  std::vector<std::int64_t> off{0, 2, 3};
  // lengths 2, 1, 1 -> token values {0.5, 0.5, -0.5, 0 (singleton: mean 0 -> 2)}
  std::vector<std::uint8_t> m{1, 1, 1, 0, 1, 0};
  (void)reinforce_pp_baseline_advantages(std::span<const double>(r), group_layout::from_offsets(off), {m.data(), 3, 2},
                                         a);
  const std::vector<double> tokens{0.5, 0.5, -0.5, 2.0};
  const double mean = 2.5 / 4;
  double m2 = 0;
  for (double v : tokens) m2 += (v - mean) * (v - mean);
  const double scale = 1.0 / std::sqrt(m2 / 3 + 1e-8);
  CHECK(a[0] == doctest::Approx((0.5 - mean) * scale));
  CHECK(a[1] == doctest::Approx((-0.5 - mean) * scale));
  CHECK(a[2] == doctest::Approx((2.0 - mean) * scale));
  // OpenRLHF whitening: biased variance, clamp instead of add.
  (void)reinforce_pp_baseline_advantages(std::span<const double>(r), group_layout::from_offsets(off), {m.data(), 3, 2},
                                         a, whitening_options::openrlhf());
  CHECK(a[0] == doctest::Approx((0.5 - mean) / std::sqrt(m2 / 4)));
}

TEST_CASE("gae_advantages: hand-worked two-step return with a skipped masked token, lambda and gamma") {
  // One row: tokens 0 and 2 valid, token 1 masked (an observation), reward at token 2.
  std::vector<double> r{0.0, 7.0, 1.0}, v{0.5, 9.0, 0.25}, adv(3), ret(3);
  std::vector<std::uint8_t> m{1, 0, 1};
  gae_options o;
  o.gamma = 0.9, o.lam = 0.8, o.whiten = false;
  (void)gae_advantages(matrix_view<const double>(r.data(), 1, 3), {v.data(), 1, 3}, {m.data(), 1, 3},
                       {adv.data(), 1, 3}, {ret.data(), 1, 3}, o);
  const double d2 = 1.0 - 0.25;             // next value 0 after the last token
  const double d0 = 0.0 + 0.9 * 0.25 - 0.5; // next *valid* value is token 2's
  CHECK(adv[2] == doctest::Approx(d2));
  CHECK(adv[0] == doctest::Approx(d0 + 0.9 * 0.8 * d2));
  CHECK(ret[0] == doctest::Approx(adv[0] + 0.5));
  CHECK(adv[1] == 0.0);
  o.whiten = true;
  const auto s = gae_advantages(matrix_view<const double>(r.data(), 1, 3), {v.data(), 1, 3}, {m.data(), 1, 3},
                                {adv.data(), 1, 3}, {ret.data(), 1, 3}, o);
  CHECK(s.count == 2);
  CHECK(adv[0] + adv[2] == doctest::Approx(0.0).scale(1));
  CHECK_THROWS_AS((void)gae_advantages(matrix_view<const double>(r.data(), 1, 3), {v.data(), 1, 3}, {m.data(), 1, 3},
                                       {adv.data(), 1, 3}, {ret.data(), 1, 3}, gae_options{.gamma = 2.0}),
                  mmrag_rft::error);
}

TEST_CASE("masked_whiten: no valid token gives zeros, one valid token gives 0") {
  std::vector<double> x{3.0, 4.0};
  std::vector<std::uint8_t> none{0, 0}, one{0, 1};
  (void)masked_whiten(matrix_view<double>(x.data(), 1, 2), {none.data(), 1, 2});
  CHECK(x == std::vector<double>{0.0, 0.0});
  x = {3.0, 4.0};
  (void)masked_whiten(matrix_view<double>(x.data(), 1, 2), {one.data(), 1, 2});
  CHECK(x == std::vector<double>{0.0, 0.0});
}

TEST_CASE("reinforce_pp_advantages: verl 1dda039b carries the return over a masked span, b178a3cd resets it") {
  // One row, mask 1 0 1, rewards 1, 5, 2, gamma 0.5. Carry: G_2 = 2, the masked t = 1 keeps it (its 5 dropped, return
  // 0), G_0 = 1 + 0.5 * 2 = 2. Reset: G_2 = 2, G_1 = 5 + 1 = 6 and then 0, G_0 = 1.
  const std::vector<double> tr{1, 5, 2};
  const std::vector<std::uint8_t> m{1, 0, 1};
  std::vector<double> ret(3), adv(3);
  (void)reinforce_pp_advantages(matrix_view<const double>(tr.data(), 1, 3), {m.data(), 1, 3},
                                reinforce_pp_discount::verl(0.5), {ret.data(), 1, 3}, {adv.data(), 1, 3},
                                whitening_options::verl());
  CHECK(ret == std::vector<double>{2.0, 0.0, 2.0});
  CHECK(adv[0] == adv[2]); // equal returns whiten to the same value
  CHECK(adv[1] == 0.0);
  (void)reinforce_pp_advantages(matrix_view<const double>(tr.data(), 1, 3), {m.data(), 1, 3}, 0.5, {ret.data(), 1, 3},
                                {adv.data(), 1, 3});
  CHECK(ret == std::vector<double>{1.0, 6.0, 2.0});
  CHECK(reinforce_pp_discount::verl_2026_01(0.5).masked == masked_returns::reset);
  CHECK(adv[0] == doctest::Approx(-0.5 / std::sqrt(0.5 + 1e-8)).epsilon(1e-14)); // mean 1.5, var 0.5
}

TEST_CASE("masked_whiten: verl's N + 1e-8 in the mean and the variance, exact counts otherwise") {
  // 1, 2, 4 (and a masked 9): exact mean 7/3, unbiased var 7/3; verl: mean 7 / (3 + e), var = sum (x - mean)^2 /
  // (3 + e) * 3/2, e = 1e-8, then rsqrt(var + 1e-8).
  const std::vector<std::uint8_t> m{1, 1, 0, 1};
  std::vector<double> x{1.0, 2.0, 9.0, 4.0};
  (void)masked_whiten(matrix_view<double>(x.data(), 1, 4), {m.data(), 1, 4});
  CHECK(x[0] == doctest::Approx((1.0 - 7.0 / 3) / std::sqrt(7.0 / 3 + 1e-8)).epsilon(1e-15));
  const double e = 1e-8, mean = 7.0 / (3 + e);
  double m2 = 0;
  for (double v : {1.0, 2.0, 4.0}) m2 += (v - mean) * (v - mean);
  const double var = m2 / (3 + e) * (3.0 / 2.0);
  x = {1.0, 2.0, 9.0, 4.0};
  const whitening_stats s =
      masked_whiten(matrix_view<double>(x.data(), 1, 4), {m.data(), 1, 4}, whitening_options::verl());
  CHECK(s.mean == mean);
  CHECK(x[3] == doctest::Approx((4.0 - mean) / std::sqrt(var + 1e-8)).epsilon(1e-15));
  CHECK(x[2] == 0.0);
  // The difference from the exact counts is of the order e / N, far above 1e-12 relative.
  CHECK(std::fabs(s.mean - 7.0 / 3) > 1e-9);
  whitening_options bad = whitening_options::verl();
  bad.count_epsilon = -1e-9;
  CHECK_THROWS_WITH_AS((void)masked_whiten(matrix_view<double>(x.data(), 1, 4), {m.data(), 1, 4}, bad),
                       doctest::Contains("options.count_epsilon"), mmrag_rft::error);
}

TEST_CASE("broadcast_advantages: one value per row over its valid tokens") {
  std::vector<float> a{2.0f, -1.0f}, out(6, 9.0f);
  std::vector<std::uint8_t> m{1, 1, 0, 1, 0, 0};
  broadcast_advantages(std::span<const float>(a), {m.data(), 2, 3}, {out.data(), 2, 3});
  CHECK(out == std::vector<float>{2, 2, 0, -1, 0, 0});
}

TEST_CASE("grpo_advantages: a Dr. GRPO advantage beyond the type's range is a located error, never inf") {
  // mean = -1.7e308 / 3, so r_0 - mean = 2.27e308 > DBL_MAX; in float 2e38 + 1.5e38 > FLT_MAX.
  const std::vector<double> r{1.7e308, -1.7e308, -1.7e308};
  std::vector<double> a(3);
  CHECK_THROWS_WITH_AS(grpo_advantages(std::span<const double>(r), group_layout::uniform(1, 3), std::span<double>(a),
                                       grpo_options::dr_grpo()),
                       doctest::Contains("beyond the range"), error);
  const std::vector<float> rf{2e38f, -2e38f, -2e38f, -2e38f, -2e38f, -2e38f, -2e38f, -2e38f};
  std::vector<float> af(8);
  CHECK_THROWS_AS(grpo_advantages(std::span<const float>(rf), group_layout::uniform(1, 8), std::span<float>(af),
                                  grpo_options::dr_grpo()),
                  error);
  // With the std division the same rewards are fine.
  CHECK_NOTHROW(grpo_advantages(std::span<const double>(r), group_layout::uniform(1, 3), std::span<double>(a)));
  for (const double x : a) CHECK(std::isfinite(x));
}

} // TEST_SUITE("advantages")
