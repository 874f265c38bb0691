// SPDX-License-Identifier: Apache-2.0
// GMPO, Clip-Cov and KL-Cov: hand-worked values, the float64 oracle, finite differences, seq/par, degenerate input.
#include <mmrag_rft/losses.hpp>

#include <support/generators.hpp>
#include <support/reference.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <vector>

using namespace mmrag_rft;
using test::seed_t;

namespace {

struct dense {
  std::size_t rows, cols;
  std::vector<double> lp, old, adv, ref, ent, iw;
  std::vector<std::uint8_t> mask;
  std::vector<double> grad, grad_ent;
  bool seq_adv = false;

  template <class E = exec::seq_t>
  policy_loss_result run(const policy_loss_options& o, E e = {}) {
    policy_loss_inputs<double> in;
    in.log_probs = {lp.data(), rows, cols};
    in.old_log_probs = {old.data(), rows, cols};
    if (seq_adv) in.sequence_advantages = adv;
    else in.advantages = {adv.data(), rows, cols};
    in.mask = {mask.data(), rows, cols};
    if (!ref.empty()) in.ref_log_probs = {ref.data(), rows, cols};
    if (!ent.empty()) in.entropy = {ent.data(), rows, cols};
    if (!iw.empty()) in.token_weights = {iw.data(), rows, cols};
    grad.assign(rows * cols, -777.0);
    grad_ent.assign(rows * cols, -777.0);
    return policy_loss(e, in, policy_loss_grads<double>{{grad.data(), rows, cols}, {grad_ent.data(), rows, cols}}, o);
  }
  test::reference_batch reference() const {
    test::reference_batch r;
    r.rows = rows, r.cols = cols, r.mask = mask, r.lp = lp, r.old = old, r.ref = ref, r.ent = ent, r.iw = iw;
    r.adv = adv, r.seq_adv = seq_adv;
    return r;
  }
};

dense random_dense(seed_t seed, std::size_t rows, std::size_t cols, bool seq_adv, bool weights) {
  const auto b = test::make_batch<double>(seed, rows, cols, 0.5, 0, 0.0);
  dense d{
      rows,      cols, b.log_probs, b.old_log_probs, seq_adv ? b.seq_advantages : b.token_advantages, b.ref_log_probs,
      b.entropy, {},   b.mask};
  d.seq_adv = seq_adv;
  if (weights) {
    d.iw.resize(rows * cols);
    for (std::size_t k = 0; k < d.iw.size(); ++k) d.iw[k] = 0.25 + 0.1 * static_cast<double>(k % 13);
  }
  return d;
}

policy_loss_options mode_options(policy_loss_mode m) {
  policy_loss_options o;
  o.mode = m;
  o.clip_cov_ratio = 1.0; // every candidate is cut: the oracle's choice
  o.clip_cov_lb = 0.3, o.clip_cov_ub = 3.0;
  o.kl_cov_ratio = 0.3;
  o.kl_cov_coef = 0.7;
  return o;
}

void check_fd(dense d, const policy_loss_options& o) {
  const auto res = d.run(o);
  test::reference_batch ref = d.reference();
  CHECK(res.loss == doctest::Approx(test::reference_batch_mode_loss(ref, o)).epsilon(1e-12));
  const double h = 1e-6;
  for (std::size_t k = 0; k < ref.lp.size(); ++k) {
    const double x = ref.lp[k];
    ref.lp[k] = x + h;
    const double up = test::reference_batch_mode_loss(ref, o);
    ref.lp[k] = x - h;
    const double down = test::reference_batch_mode_loss(ref, o);
    ref.lp[k] = x;
    INFO("token " << k << " mask " << int(ref.mask[k]));
    CHECK(d.grad[k] == doctest::Approx((up - down) / (2 * h)).epsilon(1e-6).scale(1e-3));
    if (!ref.mask[k]) CHECK(d.grad[k] == 0.0);
  }
}

} // namespace

TEST_SUITE("losses") {

TEST_CASE("policy_loss: hand-worked GMPO with positive and negative advantages") {
  // Row 0: A = 1, log-ratios 0.1 and 0.5 -> 0.5 clipped to 0.2: r = e^0.15, gradient -r / 2 at the kept token only.
  // Row 1: A = -1, log-ratios -0.5 and 0.1 -> -0.5 clipped to -0.2: r = e^-0.05, gradient +r / 2 at token 1.
  dense d{2, 2, {-1.0, -1.0, -1.0, -1.0}, {-1.1, -1.5, -0.5, -1.1}, {1.0, -1.0}, {}, {}, {}, {1, 1, 1, 1}};
  d.seq_adv = true;
  policy_loss_options o;
  o.mode = policy_loss_mode::gmpo;
  const auto r = d.run(o);
  const double r0 = std::exp(0.15), r1 = std::exp(-0.05);
  CHECK(r.loss == doctest::Approx((-r0 + r1) / 2).epsilon(1e-14));
  CHECK(d.grad[0] == doctest::Approx(-r0 / 4).epsilon(1e-14));
  CHECK(d.grad[1] == 0.0);
  CHECK(d.grad[2] == 0.0);
  CHECK(d.grad[3] == doctest::Approx(r1 / 4).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac == doctest::Approx(0.25));
  CHECK(r.stats.pg_clipfrac_lower == doctest::Approx(0.25));
  CHECK(r.stats.ppo_kl == doctest::Approx(-(0.1 + 0.5 - 0.5 + 0.1) / 4));
}

TEST_CASE("policy_loss: hand-worked Clip-Cov cuts the covariance window, and the seed decides among more") {
  // lp = -1, -2, -3, ratio 1, A = 2, 1, 0: mean A = 1, mean lp = -2, cov = 1, 0, 1; window (0.5, 5): tokens 0, 2.
  dense d{1, 3, {-1.0, -2.0, -3.0}, {-1.0, -2.0, -3.0}, {2.0, 1.0, 0.0}, {}, {}, {}, {1, 1, 1}};
  policy_loss_options o;
  o.mode = policy_loss_mode::clip_cov;
  o.clip_cov_lb = 0.5, o.clip_cov_ub = 5.0, o.clip_cov_ratio = 1.0;
  auto r = d.run(o);
  CHECK(r.loss == doctest::Approx(-1.0 / 3));
  CHECK(d.grad == std::vector<double>{0.0, -1.0 / 3, 0.0});
  CHECK(r.stats.pg_clipfrac == doctest::Approx(2.0 / 3));
  // One cut (floor(1e-4 * 3) -> 1): token 0 (loss (-1 + 0) / 3) or token 2 (loss (-2 - 1) / 3), fixed by the seed.
  o.clip_cov_ratio = 1e-4;
  bool saw0 = false, saw2 = false;
  for (std::uint64_t seed = 0; seed < 16; ++seed) {
    o.cov_selection_seed = seed;
    const double first = d.run(o).loss;
    const std::vector<double> g = d.grad;
    CHECK(d.run(o).loss == first);
    CHECK(d.grad == g);
    const bool cut0 = std::fabs(first + 1.0 / 3) < 1e-15, cut2 = std::fabs(first + 1.0) < 1e-15;
    CHECK((cut0 || cut2));
    saw0 |= cut0, saw2 |= cut2;
  }
  CHECK((saw0 && saw2));
  // An empty window cuts nothing: plain PPO clip without dual clip.
  o.clip_cov_lb = 10, o.clip_cov_ub = 20;
  r = d.run(o);
  CHECK(r.loss == doctest::Approx(-1.0));
  CHECK(r.stats.pg_clipfrac == 0.0);
}

TEST_CASE("policy_loss: hand-worked KL-Cov penalises the largest covariance, ties by index") {
  // cov = 1, 0, 1 as above (tie of tokens 0 and 2: token 0 first); log-ratios 0.1, 0, -0.2.
  dense d{1, 3, {-1.0, -2.0, -3.0}, {-1.1, -2.0, -2.8}, {2.0, 1.0, 0.0}, {}, {}, {}, {1, 1, 1}};
  policy_loss_options o;
  o.mode = policy_loss_mode::kl_cov;
  o.kl_cov_ratio = 1e-4, o.kl_cov_coef = 0.5;
  const auto r = d.run(o);
  const double e = std::exp(0.1);
  CHECK(r.loss == doctest::Approx((-2 * e + 0.5 * 0.1 - 1.0) / 3).epsilon(1e-14));
  CHECK(d.grad[0] == doctest::Approx((-2 * e + 0.5) / 3).epsilon(1e-14));
  CHECK(d.grad[1] == doctest::Approx(-1.0 / 3).epsilon(1e-14));
  CHECK(d.grad[2] == 0.0);
  CHECK(r.stats.pg_clipfrac == doctest::Approx(1.0 / 3));
  CHECK(r.stats.ppo_kl == doctest::Approx((0.1 + 0.0 + 0.2) / 3).epsilon(1e-14)); // verl: mean |logp - old|
}

TEST_CASE("policy_loss: GMPO under the verl preset: log(w + 1e-10) in the weights' geometric mean, no dp_size") {
  // One row, A = 1, log-ratios 0: r = 1; token weights 0 and 1. Exact: the geometric mean is 0, and so the loss.
  dense d{1, 2, {-1.0, -1.0}, {-1.0, -1.0}, {1.0}, {}, {}, {0.0, 1.0}, {1, 1}};
  d.seq_adv = true;
  policy_loss_options o;
  o.mode = policy_loss_mode::gmpo;
  CHECK(d.run(o).loss == 0.0);
  o = policy_loss_options::verl();
  o.mode = policy_loss_mode::gmpo;
  // verl: w = exp((log(1e-10) + log(1 + 1e-10)) / (2 + 1e-8)), about 1e-5; the mean advantage is 2 / (2 + 1e-8);
  // loss -(2 / (2 + 1e-8)) w, and each kept token's gradient loss / (2 + 1e-8).
  const double n = 2 + 1e-8, w = std::exp((std::log(1e-10) + std::log(1.0 + 1e-10)) / n);
  CHECK(d.run(o).loss == doctest::Approx(-(2 / n) * w).epsilon(1e-14));
  CHECK(d.grad[0] == doctest::Approx(-(2 / n) * w / n).epsilon(1e-14));
  CHECK(d.grad[1] == d.grad[0]);
  // verl's geo_mean reads no global batch information: dp_size does not scale it (every other mode it does).
  const verl_batch_info info{4.0, 10.0, 3.0, 100.0};
  CHECK(with_verl_batch_info(o, info).loss_scale == 1.0);
  CHECK(d.run(with_verl_batch_info(o, info)).loss == d.run(o).loss);
  o.mode = policy_loss_mode::kl_cov;
  CHECK(with_verl_batch_info(o, info).loss_scale == 4.0);
  o.mode = policy_loss_mode::gmpo;
  o.gmpo_log_weight_epsilon = 2e-3;
  CHECK_THROWS_WITH_AS((void)d.run(o), doctest::Contains("options.gmpo_log_weight_epsilon"), error);
}

TEST_CASE("policy_loss: GMPO, Clip-Cov and KL-Cov match the float64 oracle and its finite differences") {
  std::uint64_t s = 901;
  for (const policy_loss_mode m : {policy_loss_mode::gmpo, policy_loss_mode::clip_cov, policy_loss_mode::kl_cov})
    for (const loss_aggregation agg : {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_mean,
                                       loss_aggregation::seq_mean_token_sum_norm})
      for (const bool seq_adv : {false, true})
        for (const bool weights : {false, true}) {
          policy_loss_options o = mode_options(m);
          o.aggregation = agg;
          o.kl = kl_estimator::k3, o.kl_coef = 0.1, o.entropy_coeff = 0.01, o.count_epsilon = 1e-8;
          o.loss_scale = 2.0;
          INFO("mode " << int(m) << " agg " << int(agg) << " seq_adv " << seq_adv << " weights " << weights);
          check_fd(random_dense(seed_t{s++}, 5, 7, seq_adv, weights), o);
        }
}

TEST_CASE("policy_loss: GMPO, Clip-Cov and KL-Cov in float agree with float64, seq and par bitwise") {
  for (const policy_loss_mode m : {policy_loss_mode::gmpo, policy_loss_mode::clip_cov, policy_loss_mode::kl_cov}) {
    const auto b = test::make_batch<float>(seed_t{77}, 9, 33, 0.5, 0);
    const auto bd = test::make_batch<double>(seed_t{77}, 9, 33, 0.5, 0, 0.0);
    policy_loss_options o = mode_options(m);
    std::vector<float> g(b.rows * b.cols), g2(b.rows * b.cols);
    policy_loss_inputs<float> in;
    in.log_probs = {b.log_probs.data(), b.rows, b.cols};
    in.old_log_probs = {b.old_log_probs.data(), b.rows, b.cols};
    in.advantages = {b.token_advantages.data(), b.rows, b.cols};
    in.mask = {b.mask.data(), b.rows, b.cols};
    const auto rs = policy_loss(exec::seq, in, policy_loss_grads<float>{{g.data(), b.rows, b.cols}, {}}, o);
    const auto rp = policy_loss(exec::par, in, policy_loss_grads<float>{{g2.data(), b.rows, b.cols}, {}}, o);
    CHECK(rs.loss == rp.loss);
    CHECK(g == g2);
    dense d{b.rows, b.cols, bd.log_probs, bd.old_log_probs, bd.token_advantages, {}, {}, {}, bd.mask};
    const auto r64 = d.run(o);
    CHECK(rs.loss == doctest::Approx(r64.loss).epsilon(1e-5));
    for (std::size_t k = 0; k < g.size(); ++k) CHECK(g[k] == doctest::Approx(d.grad[k]).epsilon(1e-4).scale(1e-6));
  }
}

TEST_CASE("policy_loss: batch modes on degenerate input: masked rows, all masked, ratio 1, +-25 log-ratios") {
  for (const policy_loss_mode m : {policy_loss_mode::gmpo, policy_loss_mode::clip_cov, policy_loss_mode::kl_cov}) {
    INFO("mode " << int(m));
    dense d = random_dense(seed_t{5}, 4, 6, false, false);
    for (std::size_t t = 0; t < 6; ++t) d.mask[6 + t] = 0; // row 1 fully masked
    check_fd(d, mode_options(m));
    // Ratio exactly 1.
    dense one = d;
    one.old = one.lp;
    check_fd(one, mode_options(m));
    // +-25 log-ratios: finite, no NaN.
    dense far = d;
    for (std::size_t k = 0; k < far.lp.size(); ++k) far.old[k] = far.lp[k] + (k % 2 ? 25.0 : -25.0);
    const auto r = far.run(mode_options(m));
    CHECK(std::isfinite(r.loss));
    for (const double g : far.grad) CHECK(std::isfinite(g));
    // Every token masked: zero loss, zero gradient.
    dense none = d;
    std::fill(none.mask.begin(), none.mask.end(), std::uint8_t{0});
    const auto z = none.run(mode_options(m));
    CHECK(z.loss == 0.0);
    for (const double g : none.grad) CHECK(g == 0.0);
  }
}

TEST_CASE("policy_loss: GMPO counts a fully masked row in verl's mean over rows") {
  dense d{2, 1, {-1.0, -1.0}, {-1.0, -1.0}, {2.0, 0.0}, {}, {}, {}, {1, 0}};
  policy_loss_options o;
  o.mode = policy_loss_mode::gmpo;
  CHECK(d.run(o).loss == doctest::Approx(-1.0)); // -2 * 1 over B = 2 rows
}

TEST_CASE("policy_loss: batch-mode options are validated with their names; other backends name the mode") {
  dense d{1, 3, {-1.0, -2.0, -3.0}, {-1.0, -2.0, -3.0}, {2.0, 1.0, 0.0}, {}, {}, {}, {1, 1, 1}};
  policy_loss_options o;
  o.mode = policy_loss_mode::clip_cov;
  o.clip_cov_ratio = 0;
  CHECK_THROWS_WITH_AS(d.run(o), doctest::Contains("options.clip_cov_ratio"), error);
  o.clip_cov_ratio = 0.1, o.clip_cov_lb = 2, o.clip_cov_ub = 1;
  CHECK_THROWS_WITH_AS(d.run(o), doctest::Contains("options.clip_cov_lb"), error);
  o = {};
  o.mode = policy_loss_mode::kl_cov;
  o.kl_cov_ratio = std::nan("");
  CHECK_THROWS_WITH_AS(d.run(o), doctest::Contains("options.kl_cov_ratio"), error);
  o.kl_cov_ratio = 0.1, o.kl_cov_coef = INFINITY;
  CHECK_THROWS_WITH_AS(d.run(o), doctest::Contains("options.kl_cov_coef"), error);
  o = {};
  o.mode = policy_loss_mode::gmpo;
  d.iw = {1.0, -1.0, 1.0};
  CHECK_THROWS_WITH_AS(d.run(o), doctest::Contains("[0, 1]"), error);
  d.iw.clear();
  d.lp[2] = std::nan("");
  CHECK_THROWS_WITH_AS(d.run(o), doctest::Contains("[0, 2]"), error);
  CHECK_THROWS_WITH_AS(detail::refuse_batch_mode(policy_loss_mode::kl_cov, "exec::thrust"), doctest::Contains("kl_cov"),
                       error);
  CHECK_THROWS_WITH_AS(detail::refuse_batch_mode(policy_loss_mode::gmpo, "exec::cuda"), doctest::Contains("exec::cuda"),
                       error);
  CHECK_NOTHROW(detail::refuse_batch_mode(policy_loss_mode::gspo, "exec::cuda"));
}

} // TEST_SUITE("losses")
