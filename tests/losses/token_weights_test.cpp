// SPDX-License-Identifier: Apache-2.0
// policy_loss with per-token weights of the policy-gradient term (verl's rollout_is_weights): hand-worked values,
// an independent float64 recomputation, finite differences of the gradient in every mode, and bad input.
#include <mmrag_rft/losses.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace token_weights_tests {

using namespace mmrag_rft;

/// A B x T batch with ragged rows (one empty), log-ratios N(0, 0.3), per-token advantages, reference and weights.
struct weighted_batch {
  std::size_t rows, cols;
  std::vector<double> lp, old, adv, ref, weights;
  std::vector<std::uint8_t> mask;
  weighted_batch(std::size_t b, std::size_t t, std::uint32_t seed) : rows(b), cols(t) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> nrm(0.0, 1.0);
    const std::size_t n = b * t;
    lp.resize(n), old.resize(n), adv.resize(n), ref.resize(n), weights.resize(n), mask.resize(n);
    for (std::size_t i = 0; i < b; ++i) {
      const std::size_t len = i == 1 ? 0 : 1 + static_cast<std::size_t>(u(gen) * static_cast<double>(t));
      for (std::size_t k = 0; k < t; ++k) {
        const std::size_t j = i * t + k;
        old[j] = -3.0 * u(gen) - 0.05;
        lp[j] = old[j] + 0.3 * nrm(gen);
        adv[j] = nrm(gen);
        ref[j] = lp[j] + 0.5 * nrm(gen);
        weights[j] = 2.0 * u(gen);
        mask[j] = k < len ? 1 : 0;
      }
    }
  }
  policy_loss_inputs<double> inputs(const std::vector<double>& logp, bool weighted = true) const {
    policy_loss_inputs<double> in;
    in.log_probs = {logp.data(), rows, cols};
    in.old_log_probs = {old.data(), rows, cols};
    in.advantages = {adv.data(), rows, cols};
    in.mask = {mask.data(), rows, cols};
    in.ref_log_probs = {ref.data(), rows, cols};
    if (weighted) in.token_weights = {weights.data(), rows, cols};
    return in;
  }
  policy_loss_result run(const std::vector<double>& logp, std::vector<double>& grad, const policy_loss_options& o,
                         bool weighted = true) const {
    grad.assign(rows * cols, -777.0);
    return policy_loss(inputs(logp, weighted), policy_loss_grads<double>{{grad.data(), rows, cols}, {}}, o);
  }
};

TEST_CASE("token weights: hand-worked PPO values, the KL term unweighted") {
  // One row, two tokens, ratio 1 (lp = old), A = 2, weights 0.5 and 3, token-mean over 2 tokens:
  // pg = (0.5 (-2) + 3 (-2)) / 2 = -3.5; k1 with ref = lp - 1 gives x = 1 per token, kl_loss = 1, loss = -3.4;
  // d/dlogp = iw (-A) r / 2 + kl_coef x' / 2 = -0.5 + 0.05 and -3 + 0.05.
  const std::vector<double> lp{-1.0, -2.0}, ref{-2.0, -3.0}, w{0.5, 3.0}, adv{2.0};
  const std::vector<std::uint8_t> m{1, 1};
  std::vector<double> g(2, -777.0);
  policy_loss_inputs<double> in;
  in.log_probs = {lp.data(), 1, 2};
  in.old_log_probs = {lp.data(), 1, 2};
  in.sequence_advantages = adv;
  in.mask = {m.data(), 1, 2};
  in.ref_log_probs = {ref.data(), 1, 2};
  in.token_weights = {w.data(), 1, 2};
  policy_loss_options o;
  o.kl = kl_estimator::k1, o.kl_coef = 0.1;
  const policy_loss_result r = policy_loss(in, policy_loss_grads<double>{{g.data(), 1, 2}, {}}, o);
  CHECK(r.pg_loss == doctest::Approx(-3.5).epsilon(1e-15));
  CHECK(r.kl_loss == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(r.loss == doctest::Approx(-3.4).epsilon(1e-15));
  CHECK(g[0] == doctest::Approx(-0.45).epsilon(1e-15));
  CHECK(g[1] == doctest::Approx(-2.95).epsilon(1e-15));
  // The statistics are not weighted.
  CHECK(r.stats.advantage_mean == doctest::Approx(2.0));
  CHECK(r.stats.ratio_mean == doctest::Approx(1.0));
}

TEST_CASE("token weights: PPO clip with dual clip equals an independent float64 recomputation") {
  const weighted_batch b(5, 9, 7);
  std::vector<double> g;
  policy_loss_options o; // PPO 0.2, dual clip 3, token-mean
  const policy_loss_result r = b.run(b.lp, g, o);
  double sum = 0, n = 0;
  std::vector<double> want(b.lp.size(), 0.0);
  for (std::size_t j = 0; j < b.lp.size(); ++j) n += b.mask[j] != 0;
  for (std::size_t j = 0; j < b.lp.size(); ++j) {
    if (b.mask[j] == 0) continue;
    const double ratio = std::exp(b.lp[j] - b.old[j]), a = b.adv[j];
    const double clipped = std::fmin(std::fmax(ratio, 0.8), 1.2);
    const double l1 = -a * ratio, l2 = -a * clipped, c1 = std::fmax(l1, l2);
    double l = c1, d = l2 > l1 ? (clipped == ratio ? -a : 0.0) : -a;
    if (a < 0 && c1 > -a * 3.0) l = -a * 3.0, d = 0.0;
    sum += b.weights[j] * l;
    want[j] = b.weights[j] * d * ratio / n;
  }
  CHECK(r.pg_loss == doctest::Approx(sum / n).epsilon(1e-13));
  for (std::size_t j = 0; j < g.size(); ++j) CHECK(g[j] == doctest::Approx(want[j]).epsilon(1e-13));
}

TEST_CASE("token weights: the gradient matches central finite differences in every mode and aggregation") {
  const weighted_batch b(4, 7, 11);
  std::vector<policy_loss_options> opts;
  // CISPO and verl's GSPO (stop-gradient) define their gradient through a stopped ratio, not as the derivative of
  // the loss value: their own test below.
  for (const policy_loss_mode mode : {policy_loss_mode::ppo_clip, policy_loss_mode::sapo, policy_loss_mode::gpg})
    for (const loss_aggregation agg : {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_mean,
                                       loss_aggregation::seq_mean_token_sum_norm}) {
      policy_loss_options o = policy_loss_options::verl();
      o.mode = mode, o.aggregation = agg, o.kl = kl_estimator::k3, o.kl_coef = 0.05;
      opts.push_back(o);
    }
  policy_loss_options seq_grad = policy_loss_options::trl();
  seq_grad.mode = policy_loss_mode::gspo;
  opts.push_back(seq_grad);
  policy_loss_options ic;
  ic.kl = kl_estimator::k3, ic.kl_importance_corrected = true, ic.kl_coef = 0.1;
  opts.push_back(ic);
  for (const policy_loss_options& o : opts) {
    CAPTURE(static_cast<int>(o.mode));
    CAPTURE(static_cast<int>(o.aggregation));
    std::vector<double> g, scratch;
    (void)b.run(b.lp, g, o);
    constexpr double h = 1e-6;
    for (std::size_t j = 0; j < b.lp.size(); ++j) {
      std::vector<double> up = b.lp, down = b.lp;
      up[j] += h, down[j] -= h;
      const double fd = (b.run(up, scratch, o).loss - b.run(down, scratch, o).loss) / (2 * h);
      CHECK(g[j] == doctest::Approx(fd).epsilon(1e-6).scale(1e-3));
    }
  }
}

TEST_CASE("token weights: CISPO and stop-gradient GSPO scale each token's pg gradient by its weight") {
  // Both gradients are token-local in the pg term (CISPO: -sg(clip(r)) A; GSPO: r_i times the token's own term), so
  // without KL the weighted gradient is the weight times the unweighted one.
  const weighted_batch b(4, 7, 13);
  for (const policy_loss_mode mode : {policy_loss_mode::cispo, policy_loss_mode::gspo}) {
    policy_loss_options o = policy_loss_options::verl();
    o.mode = mode;
    std::vector<double> gw, gu;
    const policy_loss_result rw = b.run(b.lp, gw, o), ru = b.run(b.lp, gu, o, false);
    for (std::size_t j = 0; j < gw.size(); ++j) CHECK(gw[j] == doctest::Approx(b.weights[j] * gu[j]).epsilon(1e-14));
    CHECK(rw.stats.pg_clipfrac == ru.stats.pg_clipfrac);
  }
}

TEST_CASE("token weights: all ones give the unweighted result; zero weights drop the pg term but keep the counts") {
  const weighted_batch b(6, 11, 3);
  for (const policy_loss_mode mode : {policy_loss_mode::ppo_clip, policy_loss_mode::gspo, policy_loss_mode::sapo}) {
    policy_loss_options o = policy_loss_options::verl();
    o.mode = mode, o.kl = kl_estimator::k3;
    weighted_batch ones = b;
    std::fill(ones.weights.begin(), ones.weights.end(), 1.0);
    std::vector<double> g1, g2;
    const policy_loss_result a = b.run(b.lp, g1, o, false), w = ones.run(ones.lp, g2, o);
    CHECK(w.loss == doctest::Approx(a.loss).epsilon(1e-14));
    for (std::size_t j = 0; j < g1.size(); ++j) CHECK(g2[j] == doctest::Approx(g1[j]).epsilon(1e-14));
    weighted_batch zeros = b;
    std::fill(zeros.weights.begin(), zeros.weights.end(), 0.0);
    const policy_loss_result z = zeros.run(zeros.lp, g2, o);
    CHECK(z.pg_loss == 0.0);
    CHECK(z.kl_loss == doctest::Approx(a.kl_loss).epsilon(1e-14));
    CHECK(z.stats.valid_tokens == a.stats.valid_tokens);
  }
}

TEST_CASE("token weights: float, seq and par agree with double") {
  const weighted_batch b(9, 70, 5);
  std::vector<float> lp(b.lp.begin(), b.lp.end()), old(b.old.begin(), b.old.end()), adv(b.adv.begin(), b.adv.end());
  std::vector<float> ref(b.ref.begin(), b.ref.end()), w(b.weights.begin(), b.weights.end());
  policy_loss_inputs<float> in;
  in.log_probs = {lp.data(), b.rows, b.cols};
  in.old_log_probs = {old.data(), b.rows, b.cols};
  in.advantages = {adv.data(), b.rows, b.cols};
  in.mask = {b.mask.data(), b.rows, b.cols};
  in.ref_log_probs = {ref.data(), b.rows, b.cols};
  in.token_weights = {w.data(), b.rows, b.cols};
  policy_loss_options o = policy_loss_options::verl();
  o.kl = kl_estimator::k3;
  std::vector<float> gs(lp.size()), gp(lp.size());
  std::vector<double> gd;
  const auto rs = policy_loss(exec::seq, in, policy_loss_grads<float>{{gs.data(), b.rows, b.cols}, {}}, o);
  const auto rp =
      policy_loss(exec::par.with_threads(3), in, policy_loss_grads<float>{{gp.data(), b.rows, b.cols}, {}}, o);
  const auto rd = b.run(b.lp, gd, o);
  CHECK(rs.loss == rp.loss);
  CHECK(gs == gp);
  CHECK(rs.loss == doctest::Approx(rd.loss).epsilon(1e-5));
  for (std::size_t j = 0; j < gd.size(); ++j) CHECK(gs[j] == doctest::Approx(gd[j]).epsilon(1e-4).scale(1e-6));
}

TEST_CASE("token weights: bad shapes and non-finite weights at valid tokens are located errors") {
  weighted_batch b(3, 4, 9);
  std::vector<double> g(b.lp.size());
  const policy_loss_grads<double> out{{g.data(), b.rows, b.cols}, {}};
  policy_loss_inputs<double> in = b.inputs(b.lp);
  in.token_weights = {b.weights.data(), b.rows, b.cols - 1};
  CHECK_THROWS_WITH_AS((void)policy_loss(in, out), doctest::Contains("inputs.token_weights"), mmrag_rft::error);
  // A NaN weight at a masked token is never read into the result; at a valid token it is an error naming the token.
  b.weights[1 * 4 + 2] = std::nan(""); // row 1 is empty
  std::vector<double> g2;
  CHECK(std::isfinite(b.run(b.lp, g2, {}).loss));
  b.weights[0] = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH_AS((void)b.run(b.lp, g2, {}), doctest::Contains("[0, 0]"), mmrag_rft::error);
  policy_loss_options propagate;
  propagate.nonfinite = nonfinite_policy::propagate;
  CHECK(b.run(b.lp, g2, propagate).stats.nonfinite_tokens == 1);
}

} // namespace token_weights_tests
