// SPDX-License-Identifier: Apache-2.0
// KL controllers, masked reductions and the clipped value loss: hand-worked values, float64 recomputations, finite
// differences, degenerate inputs, errors, and exec::par bitwise equal to exec::seq.
#include <mmrag_rft/core/masked_reduce.hpp>
#include <mmrag_rft/losses/kl_controller.hpp>
#include <mmrag_rft/losses/rollout_correction.hpp>
#include <mmrag_rft/losses/value_loss.hpp>

#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace mmrag_rft;

namespace {

struct batch {
  std::size_t B, T;
  std::vector<double> a, b, c;
  std::vector<std::uint8_t> m;
};

batch random_batch(std::size_t B, std::size_t T, unsigned seed) {
  std::mt19937 g(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  std::uniform_int_distribution<std::size_t> len(0, T);
  batch x{B, T, {}, {}, {}, std::vector<std::uint8_t>(B * T, 0)};
  for (std::size_t i = 0; i < B * T; ++i) x.a.push_back(n(g)), x.b.push_back(n(g)), x.c.push_back(n(g));
  for (std::size_t i = 0; i < B; ++i) {
    const std::size_t l = len(g);
    for (std::size_t t = 0; t < l; ++t) x.m[i * T + t] = 1;
  }
  return x;
}

template <class T>
matrix_view<const T> cview(const std::vector<T>& v, std::size_t B, std::size_t L) {
  return {v.data(), B, L};
}
mask_view mview(const std::vector<std::uint8_t>& m, std::size_t B, std::size_t L) { return {m.data(), B, L}; }

template <class T>
bool bitwise_equal(const std::vector<T>& x, const std::vector<T>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0;
}

} // namespace

TEST_CASE("kl_controller: fixed keeps its value, adaptive follows verl's rule") {
  auto f = kl_controller::fixed(0.05);
  CHECK(f.update(3.0, 256) == 0.05);
  CHECK(f.value() == 0.05);
  // target 0.1, horizon 1000: kl 0.11 -> error 0.1, mult 1 + 0.1 * 100 / 1000 = 1.01.
  auto a = kl_controller::adaptive(0.2, 0.1, 1000);
  CHECK(a.update(0.11, 100) == doctest::Approx(0.202).epsilon(1e-15));
  // kl 1.0 -> error clipped to 0.2: mult 1.02; kl 0 -> -0.2 clipped: mult 0.98.
  CHECK(a.update(1.0, 100) == doctest::Approx(0.202 * 1.02).epsilon(1e-15));
  CHECK(a.update(0.0, 100) == doctest::Approx(0.202 * 1.02 * 0.98).epsilon(1e-15));
  // Independent recomputation over a sequence of steps.
  auto b = kl_controller::adaptive(0.001, 0.02, 500);
  double ref = 0.001;
  std::mt19937 g(7);
  std::uniform_real_distribution<double> u(0.0, 0.1);
  for (int s = 0; s < 200; ++s) {
    const double kl = u(g);
    double e = kl / 0.02 - 1;
    e = e < -0.2 ? -0.2 : (e > 0.2 ? 0.2 : e);
    ref *= 1 + e * 64 / 500;
    b.update(kl, 64);
  }
  CHECK(b.value() == doctest::Approx(ref).epsilon(1e-13));
  CHECK(kl_controller().value() == 0.001);
}

TEST_CASE("kl_controller: bad options and updates are located errors, never NaN") {
  CHECK_THROWS_WITH_AS((void)kl_controller::adaptive(0.1, 0.0, 100), "kl_controller: target_kl must be finite and > 0",
                       error);
  CHECK_THROWS_WITH_AS((void)kl_controller::adaptive(0.1, 0.1, 0.0), "kl_controller: horizon must be finite and > 0",
                       error);
  CHECK_THROWS_AS((void)kl_controller::fixed(std::nan("")), error);
  CHECK_THROWS_AS((void)kl_controller::fixed(-1.0), error);
  auto a = kl_controller::adaptive(0.1, 0.1, 100);
  CHECK_THROWS_WITH_AS(a.update(std::nan(""), 1), "kl_controller::update: current_kl must be finite", error);
  CHECK_THROWS_AS(a.update(0.1, -1), error);
  CHECK_THROWS_AS(a.update(0.1, 501), error);
  CHECK(a.update(1e308, 500) == doctest::Approx(0.2)); // error clipped: x (1 + 0.2 * 5)
  CHECK(a.update(0.0, 500) == 0.0);                    // 1 - 0.2 * 5 = 0: the bound where the factor stays >= 0
  CHECK(std::isfinite(a.value()));
  auto big = kl_controller::adaptive(1e308, 0.1, 100);
  CHECK_THROWS_WITH_AS(big.update(1.0, 500), "kl_controller::update: n_steps would make the coefficient overflow",
                       error);
  CHECK(big.value() == 1e308);
}

TEST_CASE("rollout_correction: float agrees with double") {
  const batch x = random_batch(20, 31, 9);
  std::vector<double> od(x.a.size()), rd(x.b.size());
  for (std::size_t k = 0; k < od.size(); ++k) rd[k] = -1.0 + 0.1 * x.b[k], od[k] = rd[k] + 0.3 * x.a[k];
  const std::vector<float> of(od.begin(), od.end()), rf(rd.begin(), rd.end());
  std::vector<double> wd(od.size());
  std::vector<float> wf(od.size());
  std::vector<std::uint8_t> m1(od.size()), m2(od.size());
  rollout_correction_options o;
  o.is_level = rollout_is_level::token;
  const auto sd =
      rollout_correction(cview(od, x.B, x.T), cview(rd, x.B, x.T), mview(x.m, x.B, x.T),
                         matrix_view<double>(wd.data(), x.B, x.T), matrix_view<std::uint8_t>(m1.data(), x.B, x.T), o);
  const auto sf =
      rollout_correction(cview(of, x.B, x.T), cview(rf, x.B, x.T), mview(x.m, x.B, x.T),
                         matrix_view<float>(wf.data(), x.B, x.T), matrix_view<std::uint8_t>(m2.data(), x.B, x.T), o);
  for (std::size_t k = 0; k < wd.size(); ++k) CHECK(double(wf[k]) == doctest::Approx(wd[k]).epsilon(1e-5));
  CHECK(sf.is_mean == doctest::Approx(sd.is_mean).epsilon(1e-5));
  CHECK(sf.is_eff_sample_size == doctest::Approx(sd.is_eff_sample_size).epsilon(1e-5));
}

TEST_CASE("masked_sum / masked_mean / masked_var: hand-worked values") {
  const std::vector<double> v{1, 2, 3, 100, 4, 5, std::nan(""), 7};
  const std::vector<std::uint8_t> m{1, 1, 1, 0, 1, 1, 0, 0};
  const auto V = cview(v, 2, 4);
  const auto M = mview(m, 2, 4);
  CHECK(masked_sum(V, M) == 15.0);
  CHECK(masked_mean(V, M) == doctest::Approx(15.0 / (5 + 1e-8)).epsilon(1e-15));
  CHECK(masked_mean(V, M, {0.0, true}) == 3.0);
  // values 1..5, mean 3, squares 4+1+0+1+4 = 10: biased 2, unbiased 2.5.
  CHECK(masked_var(V, M, {0.0, false}) == 2.0);
  CHECK(masked_var(V, M, {0.0, true}) == 2.5);
  std::vector<double> rs(2), rm(2), rv(2);
  masked_sum_rows(V, M, std::span<double>(rs));
  masked_mean_rows(V, M, std::span<double>(rm), {0.0, true});
  masked_var_rows(V, M, std::span<double>(rv), {0.0, true});
  CHECK(rs == std::vector<double>{6, 9});
  CHECK(rm == std::vector<double>{2, 4.5});
  CHECK(rv == std::vector<double>{1, 0.5});
}

TEST_CASE("masked reductions: degenerate inputs and errors") {
  const std::vector<double> v{1, 2, 3, 4};
  const std::vector<std::uint8_t> none{0, 0, 0, 0}, one{0, 1, 0, 0}, row1{1, 0, 1, 1};
  const auto V = cview(v, 2, 2);
  CHECK(masked_sum(V, mview(none, 2, 2)) == 0.0);
  CHECK(masked_mean(V, mview(none, 2, 2)) == 0.0);
  CHECK(masked_var(V, mview(none, 2, 2), {1e-8, false}) == 0.0);
  CHECK(masked_var(V, mview(one, 2, 2), {0.0, false}) == 0.0);
  CHECK(masked_var(V, mview(one, 2, 2), {1e-8, false}) < 1e-15); // (x - x / (1 + e))^2, as verl
  CHECK_THROWS_WITH_AS((void)masked_var(V, mview(one, 2, 2)),
                       "masked_var: mask must have at least 2 valid tokens for the unbiased variance", error);
  CHECK_THROWS_AS((void)masked_var(V, mview(none, 2, 2)), error);
  std::vector<double> out(2);
  CHECK_THROWS_WITH_AS(masked_var_rows(V, mview(row1, 2, 2), std::span<double>(out)),
                       "masked_var_rows: mask[0] has 1 valid token: the unbiased variance needs 2 (or none)", error);
  masked_var_rows(V, mview(none, 2, 2), std::span<double>(out));
  CHECK(out == std::vector<double>{0, 0});
  std::vector<double> short_out(1);
  CHECK_THROWS_WITH_AS(masked_mean_rows(V, mview(none, 2, 2), std::span<double>(short_out)),
                       "masked_mean_rows: out must have one element per row of values", error);
  CHECK_THROWS_AS((void)masked_sum(V, mview(none, 1, 4)), error);
  CHECK_THROWS_AS((void)masked_mean(V, mview(none, 2, 2), {0.1, true}), error);
  const matrix_view<const double> empty;
  CHECK(masked_sum(empty, mask_view{}) == 0.0);
}

TEST_CASE_TEMPLATE("masked reductions: float64 recomputation, par == seq bitwise", T, float, double) {
  const batch x = random_batch(300, 257, 11);
  std::vector<T> v(x.a.begin(), x.a.end());
  const auto V = cview(v, x.B, x.T);
  const auto M = mview(x.m, x.B, x.T);
  double s = 0;
  std::size_t n = 0;
  for (std::size_t i = 0; i < x.B * x.T; ++i)
    if (x.m[i]) s += static_cast<double>(v[i]), ++n;
  const double mean = s / (double(n) + 1e-8);
  double q = 0;
  for (std::size_t i = 0; i < x.B * x.T; ++i)
    if (x.m[i]) q += (static_cast<double>(v[i]) - mean) * (static_cast<double>(v[i]) - mean);
  CHECK(masked_sum(V, M) == doctest::Approx(s).epsilon(1e-12));
  CHECK(masked_mean(V, M) == doctest::Approx(mean).epsilon(1e-12));
  CHECK(masked_var(V, M) == doctest::Approx(q / (double(n) + 1e-8) * double(n) / (double(n) - 1.0)).epsilon(1e-12));
  const auto par = exec::par.with_threads(4);
  CHECK(masked_sum(par, V, M) == masked_sum(exec::seq, V, M));
  CHECK(masked_mean(par, V, M) == masked_mean(exec::seq, V, M));
  CHECK(masked_var(par, V, M) == masked_var(exec::seq, V, M));
  std::vector<T> a(x.B), b(x.B);
  masked_sum_rows(exec::seq, V, M, std::span<T>(a));
  masked_sum_rows(par, V, M, std::span<T>(b));
  CHECK(bitwise_equal(a, b));
  masked_mean_rows(exec::seq, V, M, std::span<T>(a));
  masked_mean_rows(par, V, M, std::span<T>(b));
  CHECK(bitwise_equal(a, b));
  masked_var_rows(exec::seq, V, M, std::span<T>(a), {1e-8, false});
  masked_var_rows(par, V, M, std::span<T>(b), {1e-8, false});
  CHECK(bitwise_equal(a, b));
}

namespace {

/// float64 recomputation of the clipped value loss, written independently of the header.
double value_loss_reference(const batch& x, double c, loss_aggregation agg) {
  double total = 0;
  std::size_t N = 0, S = 0;
  for (std::size_t i = 0; i < x.B; ++i) {
    std::size_t n = 0;
    for (std::size_t t = 0; t < x.T; ++t) n += x.m[i * x.T + t];
    N += n, S += n ? 1 : 0;
  }
  for (std::size_t i = 0; i < x.B; ++i) {
    double row = 0;
    std::size_t n = 0;
    for (std::size_t t = 0; t < x.T; ++t) {
      const std::size_t k = i * x.T + t;
      if (!x.m[k]) continue;
      const double v = x.a[k], R = x.b[k], old = x.c[k];
      const double vc = std::min(std::max(v, old - c), old + c);
      row += std::max((v - R) * (v - R), (vc - R) * (vc - R));
      ++n;
    }
    if (!n) continue;
    switch (agg) {
    case loss_aggregation::token_mean: total += row / double(N); break;
    case loss_aggregation::seq_mean_token_sum: total += row / double(S); break;
    case loss_aggregation::seq_mean_token_mean: total += row / (double(n) + 1e-8) / double(S); break;
    case loss_aggregation::seq_mean_token_sum_norm: total += row / (double(S) * double(x.T)); break;
    case loss_aggregation::token_sum: total += row; break;
    }
  }
  return 0.5 * total;
}

} // namespace

TEST_CASE("value_loss: hand-worked tokens") {
  // c = 0.5. Token 0: v 1, R 0, old 0 -> clipped 0.5: max(1, 0.25) = 1 (unclipped, grad 2 v = 2).
  // Token 1: v 0, R 2, old 1 -> vc 0.5: max(4, 2.25) = 4 (unclipped, grad -4).
  // Token 2: v 3, R 3, old 0 -> vc 0.5: max(0, 6.25) = 6.25 (clipped, grad 0).
  const std::vector<double> v{1, 0, 3}, R{0, 2, 3}, old{0, 1, 0};
  const std::vector<std::uint8_t> m{1, 1, 1};
  std::vector<double> g(3);
  const auto r =
      value_loss(cview(v, 1, 3), cview(R, 1, 3), cview(old, 1, 3), mview(m, 1, 3), matrix_view<double>(g.data(), 1, 3));
  CHECK(r.loss == doctest::Approx(0.5 * (1 + 4 + 6.25) / 3).epsilon(1e-15));
  CHECK(r.clipfrac == doctest::Approx(1.0 / 3).epsilon(1e-7));
  CHECK(g[0] == doctest::Approx(0.5 * 2 / 3).epsilon(1e-15));
  CHECK(g[1] == doctest::Approx(0.5 * -4 / 3).epsilon(1e-15));
  CHECK(g[2] == 0.0);
  CHECK(r.valid_tokens == 3);
}

TEST_CASE_TEMPLATE("value_loss: recomputation, finite differences, par == seq", T, float, double) {
  const batch x = random_batch(37, 19, 5);
  const std::vector<T> v(x.a.begin(), x.a.end()), R(x.b.begin(), x.b.end()), old(x.c.begin(), x.c.end());
  batch xd = x; // the reference reads the inputs at T's precision
  for (std::size_t k = 0; k < v.size(); ++k) xd.a[k] = v[k], xd.b[k] = R[k], xd.c[k] = old[k];
  for (auto agg :
       {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum, loss_aggregation::seq_mean_token_mean,
        loss_aggregation::seq_mean_token_sum_norm, loss_aggregation::token_sum}) {
    CAPTURE(to_string(agg));
    value_loss_options o;
    o.cliprange_value = 0.3;
    o.aggregation = agg;
    std::vector<T> g(v.size()), g2(v.size());
    const auto run = [&](const auto& e, const std::vector<T>& vp, std::vector<T>& grad) {
      return value_loss(e, cview(vp, x.B, x.T), cview(R, x.B, x.T), cview(old, x.B, x.T), mview(x.m, x.B, x.T),
                        matrix_view<T>(grad.data(), x.B, x.T), o);
    };
    const auto r = run(exec::seq, v, g);
    CHECK(r.loss == doctest::Approx(value_loss_reference(xd, 0.3, agg)).epsilon(1e-12));
    const auto rp = run(exec::par.with_threads(3), v, g2);
    CHECK(r.loss == rp.loss);
    CHECK(r.clipfrac == rp.clipfrac);
    CHECK(bitwise_equal(g, g2));
    if constexpr (std::is_same_v<T, double>) {
      // Central differences of the reference away from the kinks (|v - (old +- c)| > h).
      const double h = 1e-6;
      for (std::size_t k = 0; k < v.size(); k += 7) {
        if (!x.m[k] || std::fabs(std::fabs(v[k] - old[k]) - 0.3) < 1e-3) continue;
        batch p = xd, q = xd;
        p.a[k] += h, q.a[k] -= h;
        const double fd = (value_loss_reference(p, 0.3, agg) - value_loss_reference(q, 0.3, agg)) / (2 * h);
        CHECK(g[k] == doctest::Approx(fd).epsilon(1e-6).scale(1.0));
      }
    }
  }
}

TEST_CASE("value_loss: seq-mean-token-sum-norm divides by the sequences and C (verl 1dda039b) or C alone") {
  // vpred = old, so no clipping: l = (v - R)^2. Row 0: errors 1, 2 (sum 5); row 1: 3 (sum 9); row 2 empty. T = 3.
  const std::vector<double> v{1, 2, 0, 3, 0, 0, 0, 0, 0}, R(9, 0.0);
  const std::vector<std::uint8_t> m{1, 1, 0, 1, 0, 0, 0, 0, 0};
  std::vector<double> g(9);
  const auto run = [&](const value_loss_options& o) {
    return value_loss(cview(v, 3, 3), cview(R, 3, 3), cview(v, 3, 3), mview(m, 3, 3),
                      matrix_view<double>(g.data(), 3, 3), o);
  };
  value_loss_options o;
  o.aggregation = loss_aggregation::seq_mean_token_sum_norm;
  CHECK(run(o).loss == doctest::Approx(0.5 * 14.0 / (2 * 3)).epsilon(1e-15)); // 2 valid rows, C = T = 3
  CHECK(g[3] == doctest::Approx(0.5 * 2 * 3.0 / (2 * 3)).epsilon(1e-15));
  o.normalizer = 10.0, o.sum_norm_sequences = 4.0, o.loss_scale = 2.0; // verl's global batch: C, N_seqs, dp_size
  CHECK(run(o).loss == doctest::Approx(2 * 0.5 * 14.0 / (4 * 10)).epsilon(1e-15));
  value_loss_options old = value_loss_options::verl_2026_01();
  old.aggregation = loss_aggregation::seq_mean_token_sum_norm;
  CHECK(run(old).loss == doctest::Approx(0.5 * 14.0 / 3).epsilon(1e-15));
  old.sum_norm_sequences = 4.0; // read only with sum_norm_seq_mean
  CHECK(run(old).loss == doctest::Approx(0.5 * 14.0 / 3).epsilon(1e-15));
  o.sum_norm_sequences = 0.0;
  CHECK_THROWS_WITH_AS((void)run(o), "value_loss: options.sum_norm_sequences must be finite and > 0", error);
}

TEST_CASE("value_loss: degenerate inputs and errors") {
  const std::vector<double> v{1, std::nan(""), 2, 3}, R{0, 0, 0, 0}, old{0, 0, 0, 0};
  const std::vector<std::uint8_t> none{0, 0, 0, 0}, nan_valid{1, 1, 0, 0}, ok{1, 0, 1, 1};
  std::vector<double> g(4, 9.0);
  const auto G = matrix_view<double>(g.data(), 2, 2);
  auto r = value_loss(cview(v, 2, 2), cview(R, 2, 2), cview(old, 2, 2), mview(none, 2, 2), G);
  CHECK(r.loss == 0.0);
  CHECK(r.clipfrac == 0.0);
  CHECK(g == std::vector<double>{0, 0, 0, 0});
  r = value_loss(cview(v, 2, 2), cview(R, 2, 2), cview(old, 2, 2), mview(ok, 2, 2), G); // NaN masked: unread
  CHECK(std::isfinite(r.loss));
  CHECK_THROWS_WITH_AS(value_loss(cview(v, 2, 2), cview(R, 2, 2), cview(old, 2, 2), mview(nan_valid, 2, 2), G),
                       "value_loss: vpreds, returns or old_values[0] is NaN or infinite at a valid token", error);
  value_loss_options bad;
  bad.cliprange_value = 0;
  CHECK_THROWS_WITH_AS(value_loss(cview(v, 2, 2), cview(R, 2, 2), cview(old, 2, 2), mview(ok, 2, 2), G, bad),
                       "value_loss: options.cliprange_value must be finite and > 0", error);
  bad = {};
  bad.normalizer = 0.0;
  CHECK_THROWS_AS(value_loss(cview(v, 2, 2), cview(R, 2, 2), cview(old, 2, 2), mview(ok, 2, 2), G, bad), error);
  CHECK_THROWS_WITH_AS(value_loss(cview(v, 2, 2), cview(R, 1, 4), cview(old, 2, 2), mview(ok, 2, 2), G),
                       "value_loss: returns must have the shape of vpreds", error);
}

TEST_CASE("rollout_correction: hand-worked token and sequence weights, rejection") {
  // x = old - rollout: row 0: 0.1, ln 3, -ln 4; row 1: 0.2 and a padding token.
  const double l3 = std::log(3.0), l4 = std::log(4.0);
  const std::vector<double> old{0.1, l3, -l4, 0.2, 0}, roll{0, 0, 0, 0, 0};
  const std::vector<std::uint8_t> m{1, 1, 1, 1, 0};
  std::vector<double> w(5, 9);
  std::vector<std::uint8_t> mo(5, 9);
  const auto O = cview(old, 1, 5), R = cview(roll, 1, 5);
  const auto W = matrix_view<double>(w.data(), 1, 5);
  const auto MO = matrix_view<std::uint8_t>(mo.data(), 1, 5);
  auto s = rollout_correction(O, R, mview(m, 1, 5), W, MO);
  CHECK(w[0] == doctest::Approx(std::exp(0.1)).epsilon(1e-15));
  CHECK(w[1] == 2.0); // 3 truncated at 2
  CHECK(w[2] == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(w[4] == 0.0);
  // verl 1dda039b's statistics read the applied (truncated) weights; the fractions the untruncated ones.
  const double applied_sum = std::exp(0.1) + 2 + 0.25 + std::exp(0.2);
  CHECK(s.is_mean == doctest::Approx(applied_sum / (4 + 1e-8)).epsilon(1e-15));
  CHECK(s.is_max == 2.0);
  CHECK(s.is_min == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(s.is_ratio_fraction_high == doctest::Approx(0.25).epsilon(1e-7));
  CHECK(s.is_ratio_fraction_low == doctest::Approx(0.25).epsilon(1e-7));
  CHECK(s.is_oob_fraction == 0.0);
  CHECK(mo == std::vector<std::uint8_t>{1, 1, 1, 1, 0});
  CHECK(s.rs_masked_fraction == 0.0);
  // b178a3cd: the untruncated weights, the std's weights clamped to [1/2, 2] (0.25 -> 0.5); the weights are the same.
  auto s0 = rollout_correction(O, R, mview(m, 1, 5), W, MO, rollout_correction_options::verl_2026_01());
  CHECK(s0.is_mean == doctest::Approx((std::exp(0.1) + 3 + 0.25 + std::exp(0.2)) / (4 + 1e-8)).epsilon(1e-15));
  CHECK(s0.is_max == doctest::Approx(3.0).epsilon(1e-15));
  CHECK(w[1] == 2.0);
  {
    const double c[] = {std::exp(0.1), 2.0, 0.5, std::exp(0.2)};
    double m1 = 0, m2 = 0;
    for (double v : c) m1 += v, m2 += v * v;
    m1 /= 4 + 1e-8, m2 /= 4 + 1e-8;
    CHECK(s0.is_std == doctest::Approx(std::sqrt(m2 - m1 * m1)).epsilon(1e-14));
    const double a[] = {std::exp(0.1), 2.0, 0.25, std::exp(0.2)}; // 1dda039b: clamp(0, 2) of the applied ones
    m1 = 0, m2 = 0;
    for (double v : a) m1 += v, m2 += v * v;
    m1 /= 4 + 1e-8, m2 /= 4 + 1e-8;
    CHECK(s.is_std == doctest::Approx(std::sqrt(m2 - m1 * m1)).epsilon(1e-14));
  }
  // IcePop [0.5, 2]: 3 and 0.25 fall outside and become 0; the others are kept untruncated.
  rollout_correction_options ice;
  ice.is_threshold_lower = 0.5;
  s = rollout_correction(O, R, mview(m, 1, 5), W, MO, ice);
  CHECK(w[0] == doctest::Approx(std::exp(0.1)).epsilon(1e-15));
  CHECK(w[1] == 0.0);
  CHECK(w[2] == 0.0);
  CHECK(w[3] == doctest::Approx(std::exp(0.2)).epsilon(1e-15));
  CHECK(s.is_mean == doctest::Approx((std::exp(0.1) + std::exp(0.2)) / (4 + 1e-8)).epsilon(1e-15));
  CHECK(s.is_min == 0.0);
  CHECK(s.is_max == doctest::Approx(std::exp(0.2)).epsilon(1e-15));
  CHECK(s.is_oob_fraction == doctest::Approx(2 / (4 + 1e-8)).epsilon(1e-15));
  CHECK(s.is_ratio_fraction_low == doctest::Approx(1 / (4 + 1e-8)).epsilon(1e-15)); // 0.25 < 0.5
  ice.is_threshold_lower = 3.0;
  CHECK_THROWS_WITH_AS((void)rollout_correction(O, R, mview(m, 1, 5), W, MO, ice),
                       doctest::Contains("options.is_threshold_lower must be finite, > 0 and <= is_threshold"), error);
  ice = rollout_correction_options::verl_2026_01();
  ice.is_threshold_lower = 0.5;
  CHECK_THROWS_WITH_AS((void)rollout_correction(O, R, mview(m, 1, 5), W, MO, ice),
                       doctest::Contains("IcePop needs stats_of_applied_weights"), error);
  s = rollout_correction(O, R, mview(m, 1, 5), W, MO);
  // Sequence level: one row, sum 0.1 + ln 3 - ln 4 + 0.2 -> exp = 0.75 e^0.3 for each valid token.
  rollout_correction_options o;
  o.is_level = rollout_is_level::sequence;
  // token k1 in [log 0.5, log 2]: -x must be in [-ln 2, ln 2]: rejects ln 3 and -ln 4.
  const rollout_rs_criterion token_k1{rollout_rs_level::token, rollout_rs_estimator::k1, 2.0, 0.0};
  o.rejection = std::span<const rollout_rs_criterion>(&token_k1, 1);
  s = rollout_correction(O, R, mview(m, 1, 5), W, MO, o);
  CHECK(w[0] == doctest::Approx(0.75 * std::exp(0.3)).epsilon(1e-14));
  CHECK(w[3] == w[0]);
  CHECK(mo == std::vector<std::uint8_t>{1, 0, 0, 1, 0});
  CHECK(s.rejected_tokens == 2);
  CHECK(s.rs_masked_fraction == doctest::Approx(0.5).epsilon(1e-7));
  CHECK(s.rs_seq_masked_fraction == 1.0);
  // seq_mean k3 with a large bound keeps everything; seq_max k2 <= 0.5 rejects the row (0.5 ln^2 4 = 0.96).
  const rollout_rs_criterion seq_max{rollout_rs_level::seq_max, rollout_rs_estimator::k2, 0.5, 0.0};
  o.rejection = std::span<const rollout_rs_criterion>(&seq_max, 1);
  s = rollout_correction(O, R, mview(m, 1, 5), W, MO, o);
  CHECK(mo == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
  // Batch normalisation: token weights divided by their mean.
  o = {};
  o.is_batch_normalize = true;
  s = rollout_correction(O, R, mview(m, 1, 5), W, MO, o);
  const double mean = (std::exp(0.1) + 2 + 0.25 + std::exp(0.2)) / (4 + 1e-8);
  CHECK(s.is_batch_norm_factor == doctest::Approx(mean).epsilon(1e-15));
  CHECK(w[1] == doctest::Approx(2 / mean).epsilon(1e-15));
}

TEST_CASE_TEMPLATE("rollout_correction: par == seq bitwise, degenerate inputs, errors", T, float, double) {
  const batch x = random_batch(200, 173, 3);
  std::vector<T> old(x.a.begin(), x.a.end()), roll(x.b.begin(), x.b.end());
  for (auto& r : roll) r = static_cast<T>(r * 0.1);
  for (std::size_t k = 0; k < old.size(); ++k) old[k] = static_cast<T>(roll[k] + 0.05 * x.a[k]);
  const std::array<rollout_rs_criterion, 3> crit{{{rollout_rs_level::token, rollout_rs_estimator::k3, 0.01, 0},
                                                  {rollout_rs_level::seq_mean, rollout_rs_estimator::k1, 1.1, 0.95},
                                                  {rollout_rs_level::seq_sum, rollout_rs_estimator::k2, 0.1, 0}}};
  for (auto level : {rollout_is_level::token, rollout_is_level::sequence}) {
    rollout_correction_options o;
    o.is_level = level;
    o.is_batch_normalize = true;
    o.rejection = crit;
    std::vector<T> w1(old.size()), w2(old.size());
    std::vector<std::uint8_t> m1(old.size()), m2(old.size());
    const auto run = [&](const auto& e, std::vector<T>& w, std::vector<std::uint8_t>& mo) {
      return rollout_correction(e, cview(old, x.B, x.T), cview(roll, x.B, x.T), mview(x.m, x.B, x.T),
                                matrix_view<T>(w.data(), x.B, x.T), matrix_view<std::uint8_t>(mo.data(), x.B, x.T), o);
    };
    const auto a = run(exec::seq, w1, m1);
    const auto b = run(exec::par.with_threads(4), w2, m2);
    CHECK(bitwise_equal(w1, w2));
    CHECK(m1 == m2);
    CHECK(a.is_mean == b.is_mean);
    CHECK(a.is_eff_sample_size == b.is_eff_sample_size);
    CHECK(a.rejected_tokens == b.rejected_tokens);
    CHECK(a.rejected_tokens > 0);
    CHECK(a.rejected_tokens < a.valid_tokens);
    CHECK(std::isfinite(a.is_std));
  }
  // No valid tokens: zero weights, the mask copied, zero statistics.
  const std::vector<std::uint8_t> none(4, 0);
  std::vector<T> w(4, T(7));
  std::vector<std::uint8_t> mo(4, 7);
  const std::vector<T> z(4, T(0));
  const auto s = rollout_correction(cview(z, 2, 2), cview(z, 2, 2), mview(none, 2, 2), matrix_view<T>(w.data(), 2, 2),
                                    matrix_view<std::uint8_t>(mo.data(), 2, 2));
  CHECK(s.is_mean == 0.0);
  CHECK(w == std::vector<T>(4, T(0)));
  CHECK(mo == none);
  // Errors.
  const std::vector<T> bad{T(0), std::numeric_limits<T>::quiet_NaN(), T(0), T(0)};
  const std::vector<std::uint8_t> all(4, 1);
  CHECK_THROWS_WITH_AS(rollout_correction(cview(bad, 2, 2), cview(z, 2, 2), mview(all, 2, 2),
                                          matrix_view<T>(w.data(), 2, 2), matrix_view<std::uint8_t>(mo.data(), 2, 2)),
                       "rollout_correction: old_log_probs or rollout_log_probs[0] is NaN or infinite at a valid token",
                       error);
  rollout_correction_options o;
  o.is_threshold = 0;
  CHECK_THROWS_WITH_AS(rollout_correction(cview(z, 2, 2), cview(z, 2, 2), mview(all, 2, 2),
                                          matrix_view<T>(w.data(), 2, 2), matrix_view<std::uint8_t>(mo.data(), 2, 2),
                                          o),
                       "rollout_correction: options.is_threshold must be finite and > 0", error);
  const rollout_rs_criterion seq_max_k1{rollout_rs_level::seq_max, rollout_rs_estimator::k1, 2.0, 0};
  o = {};
  o.rejection = std::span<const rollout_rs_criterion>(&seq_max_k1, 1);
  CHECK_THROWS_WITH_AS(
      rollout_correction(cview(z, 2, 2), cview(z, 2, 2), mview(all, 2, 2), matrix_view<T>(w.data(), 2, 2),
                         matrix_view<std::uint8_t>(mo.data(), 2, 2), o),
      "rollout_correction: options.rejection[0] seq_max has no k1 (verl offers seq_max_k2 and seq_max_k3)", error);
  CHECK_THROWS_AS(rollout_correction(cview(z, 2, 2), cview(z, 1, 4), mview(all, 2, 2), matrix_view<T>(w.data(), 2, 2),
                                     matrix_view<std::uint8_t>(mo.data(), 2, 2)),
                  error);
}
