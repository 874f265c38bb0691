// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/losses.hpp>

#include <support/generators.hpp>
#include <support/reference.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

using namespace mmrag_rft;
using test::seed_t;

namespace {

template <class T>
struct call {
  test::random_batch<T> b;
  std::vector<T> grad, grad_ent;
  bool token_adv = false;

  policy_loss_inputs<T> inputs() const {
    policy_loss_inputs<T> in;
    in.log_probs = {b.log_probs.data(), b.rows, b.cols};
    in.old_log_probs = {b.old_log_probs.data(), b.rows, b.cols};
    if (token_adv) in.advantages = {b.token_advantages.data(), b.rows, b.cols};
    else in.sequence_advantages = b.seq_advantages;
    in.mask = {b.mask.data(), b.rows, b.cols};
    in.ref_log_probs = {b.ref_log_probs.data(), b.rows, b.cols};
    in.entropy = {b.entropy.data(), b.rows, b.cols};
    return in;
  }
  template <class E = exec::seq_t>
  policy_loss_result run(const policy_loss_options& o, E e = {}) {
    grad.assign(b.rows * b.cols, T(-777));
    grad_ent.assign(b.rows * b.cols, T(-777));
    return policy_loss(e, inputs(),
                       policy_loss_grads<T>{{grad.data(), b.rows, b.cols}, {grad_ent.data(), b.rows, b.cols}}, o);
  }
};

test::reference_batch to_reference(const test::random_batch<double>& b, bool token_adv) {
  test::reference_batch r;
  r.rows = b.rows, r.cols = b.cols, r.mask = b.mask;
  r.lp = b.log_probs, r.old = b.old_log_probs, r.ref = b.ref_log_probs, r.ent = b.entropy;
  r.seq_adv = !token_adv;
  r.adv = token_adv ? b.token_advantages : b.seq_advantages;
  return r;
}

policy_loss_options base_options(loss_aggregation agg, kl_estimator kl) {
  policy_loss_options o = policy_loss_options::verl();
  o.aggregation = agg;
  o.kl = kl;
  o.kl_coef = 0.1;
  o.entropy_coeff = 0.01;
  return o;
}

// Central finite differences of the float64 oracle against the library's analytic gradient.
void check_gradient(const policy_loss_options& o, bool token_adv, seed_t seed) {
  call<double> c;
  c.b = test::make_batch<double>(seed, 5, 7, 0.5, 0, 0.0);
  c.token_adv = token_adv;
  const auto res = c.run(o);
  test::reference_batch ref = to_reference(c.b, token_adv);
  CHECK(res.loss == doctest::Approx(test::reference_loss(ref, o)).epsilon(1e-12));
  ref.lp_sg = ref.lp; // CISPO's stop-gradient weight stays at the base point
  const double h = 1e-6;
  for (std::size_t k = 0; k < ref.lp.size(); ++k) {
    const double x = ref.lp[k];
    ref.lp[k] = x + h;
    const double up = test::reference_loss(ref, o);
    ref.lp[k] = x - h;
    const double down = test::reference_loss(ref, o);
    ref.lp[k] = x;
    const double fd = (up - down) / (2 * h);
    INFO("token " << k << " mask " << int(ref.mask[k]));
    CHECK(c.grad[k] == doctest::Approx(fd).epsilon(1e-6).scale(1e-3));
    const double e = ref.ent[k];
    ref.ent[k] = e + h;
    const double eu = test::reference_loss(ref, o);
    ref.ent[k] = e - h;
    const double ed = test::reference_loss(ref, o);
    ref.ent[k] = e;
    CHECK(c.grad_ent[k] == doctest::Approx((eu - ed) / (2 * h)).epsilon(1e-6).scale(1e-3));
  }
}

} // namespace

TEST_SUITE("losses") {

TEST_CASE("policy_loss: hand-worked PPO clip with positive and negative advantages") {
  // One row, two tokens, A = +1: token 0 has r = e^0.5 (clipped at 1.2, gradient 0), token 1 r = e^-0.1 (unclipped).
  std::vector<double> lp{-1.0, -2.0}, old{-1.5, -1.9}, g(2);
  std::vector<std::uint8_t> m{1, 1};
  std::vector<double> adv{1.0};
  policy_loss_inputs<double> in{.log_probs = {lp.data(), 1, 2},
                                .old_log_probs = {old.data(), 1, 2},
                                .sequence_advantages = adv,
                                .mask = {m.data(), 1, 2}};
  auto r = policy_loss(in, {.log_probs = {g.data(), 1, 2}});
  CHECK(r.loss == doctest::Approx((-1.2 - std::exp(-0.1)) / 2).epsilon(1e-14));
  CHECK(g[0] == 0.0);
  CHECK(g[1] == doctest::Approx(-std::exp(-0.1) / 2).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac == 0.5);
  CHECK(r.stats.clip_ratio_high == 0.5);
  CHECK(r.stats.ppo_kl == doctest::Approx((-0.5 + 0.1) / 2));
  // A = -1: token 0 unclipped (max picks -A r = e^0.5), dual clip c = 3 not reached.
  adv[0] = -1.0;
  r = policy_loss(in, {.log_probs = {g.data(), 1, 2}});
  CHECK(r.loss == doctest::Approx((std::exp(0.5) + std::exp(-0.1)) / 2).epsilon(1e-14));
  CHECK(g[0] == doctest::Approx(std::exp(0.5) / 2).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac == 0.0);
  CHECK(r.stats.pg_clipfrac_lower == 0.0);
}

TEST_CASE("policy_loss: dual clip caps the loss of a negative advantage at -A c with zero gradient") {
  std::vector<double> lp{-0.5}, old{-2.0}, g(1), adv{-2.0};
  std::vector<std::uint8_t> m{1};
  policy_loss_inputs<double> in{.log_probs = {lp.data(), 1, 1},
                                .old_log_probs = {old.data(), 1, 1},
                                .sequence_advantages = adv,
                                .mask = {m.data(), 1, 1}};
  auto r = policy_loss(in, {.log_probs = {g.data(), 1, 1}}); // r = e^1.5 = 4.48 > 3
  CHECK(r.loss == doctest::Approx(6.0));
  CHECK(g[0] == 0.0);
  CHECK(r.stats.pg_clipfrac_lower == 1.0);
  policy_loss_options no_dual;
  no_dual.clip_ratio_c.reset();
  r = policy_loss(in, {.log_probs = {g.data(), 1, 1}}, no_dual);
  CHECK(r.loss == doctest::Approx(2.0 * std::exp(1.5)));
  CHECK(g[0] == doctest::Approx(2.0 * std::exp(1.5)));
}

TEST_CASE("policy_loss: clip-higher bounds differ below and above") {
  std::vector<double> lp{0.25, -0.25}, old{0.0, 0.0}, g(2), adv{1.0};
  std::vector<std::uint8_t> m{1, 1};
  policy_loss_options o;
  o.clip_ratio_low = 0.2, o.clip_ratio_high = 0.28;
  policy_loss_inputs<double> in{.log_probs = {lp.data(), 1, 2},
                                .old_log_probs = {old.data(), 1, 2},
                                .sequence_advantages = adv,
                                .mask = {m.data(), 1, 2}};
  auto r = policy_loss(in, {.log_probs = {g.data(), 1, 2}}, o);
  // e^0.25 = 1.284 > 1.28 -> clipped at 1.28; e^-0.25 = 0.7788 < 0.8 but A > 0 -> max picks -A r (unclipped).
  CHECK(r.loss == doctest::Approx((-1.28 - std::exp(-0.25)) / 2));
  CHECK(g[0] == 0.0);
  CHECK(g[1] == doctest::Approx(-std::exp(-0.25) / 2));
}

TEST_CASE("policy_loss: TRL delta caps the unclipped ratio for negative advantages") {
  std::vector<double> lp{1.0}, old{0.0}, g(1), adv{-1.0};
  std::vector<std::uint8_t> m{1};
  policy_loss_options o = policy_loss_options::trl();
  o.delta = 2.0;
  policy_loss_inputs<double> in{.log_probs = {lp.data(), 1, 1},
                                .old_log_probs = {old.data(), 1, 1},
                                .sequence_advantages = adv,
                                .mask = {m.data(), 1, 1}};
  auto r = policy_loss(in, {.log_probs = {g.data(), 1, 1}}, o);
  CHECK(r.loss == doctest::Approx(2.0));
  CHECK(g[0] == 0.0);
}

TEST_CASE("policy_loss: ratio of one makes clipped and unclipped surrogates equal, loss = -mean A") {
  auto b = test::make_batch<double>(seed_t{3}, 6, 9, 0.4, 1, 0.0);
  call<double> c;
  c.b = b;
  c.b.old_log_probs = c.b.log_probs;
  c.token_adv = true;
  policy_loss_options o;
  const auto r = c.run(o);
  double sum = 0, n = 0;
  for (std::size_t k = 0; k < b.mask.size(); ++k)
    if (b.mask[k]) sum += b.token_advantages[k], n += 1;
  CHECK(r.loss == doctest::Approx(-sum / n).epsilon(1e-12));
  CHECK(r.stats.pg_clipfrac == 0.0);
  CHECK(r.stats.ratio_min == 1.0);
  CHECK(r.stats.ratio_max == 1.0);
}

TEST_CASE("policy_loss: analytic gradients match finite differences for every aggregation x KL estimator") {
  const loss_aggregation aggs[] = {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum,
                                   loss_aggregation::seq_mean_token_mean, loss_aggregation::seq_mean_token_sum_norm};
  const kl_estimator kls[] = {kl_estimator::none, kl_estimator::k1, kl_estimator::abs, kl_estimator::k2,
                              kl_estimator::k3};
  const kl_clamp clamps[] = {kl_clamp::verl, kl_clamp::none, kl_clamp::openrlhf};
  std::uint64_t seed = 100;
  for (auto agg : aggs)
    for (auto kl : kls)
      for (auto cl : clamps)
        for (bool token_adv : {false, true}) {
          policy_loss_options o = base_options(agg, kl);
          o.kl_clamps = cl;
          CAPTURE(to_string(agg));
          CAPTURE(static_cast<int>(kl));
          CAPTURE(static_cast<int>(cl));
          CAPTURE(token_adv);
          check_gradient(o, token_adv, seed_t{seed++});
        }
}

TEST_CASE(
    "policy_loss: finite differences for presets, delta, global normaliser, loss scale, importance-corrected KL") {
  std::uint64_t seed = 900;
  for (auto preset : {policy_loss_options::verl(), policy_loss_options::trl(), policy_loss_options::openrlhf()}) {
    for (bool ic : {false, true}) {
      policy_loss_options o = preset;
      o.kl = kl_estimator::k3;
      o.kl_coef = 0.05;
      o.kl_importance_corrected = ic;
      o.entropy_coeff = 0.02;
      check_gradient(o, true, seed_t{seed++});
      o.delta = 1.5;
      o.normalizer = 17.0;
      o.loss_scale = 0.25;
      check_gradient(o, false, seed_t{seed++});
    }
  }
}

TEST_CASE("policy_loss: GSPO sequence gradient matches finite differences; stop-gradient form agrees for sequence "
          "advantages") {
  std::uint64_t seed = 500;
  for (auto agg : {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_mean,
                   loss_aggregation::seq_mean_token_sum_norm}) {
    policy_loss_options o = base_options(agg, kl_estimator::k2);
    o.mode = policy_loss_mode::gspo;
    o.gspo_grad = gspo_gradient::sequence;
    o.clip_ratio_low = 0.0003, o.clip_ratio_high = 0.0004;
    check_gradient(o, true, seed_t{seed++});
    o.clip_ratio_low = o.clip_ratio_high = 0.2;
    for (bool ic : {false, true}) {
      o.kl_importance_corrected = ic;
      check_gradient(o, true, seed_t{seed++});
      check_gradient(o, false, seed_t{seed++});
    }
    // With one advantage per sequence, verl's stop-gradient form gives the same gradient as the true one.
    call<double> c;
    c.b = test::make_batch<double>(seed_t{seed++}, 4, 6, 0.3, 1, 0.0);
    o.kl_importance_corrected = false;
    c.run(o);
    const auto sequence_grad = c.grad;
    o.gspo_grad = gspo_gradient::stop_gradient;
    c.run(o);
    for (std::size_t k = 0; k < c.grad.size(); ++k)
      CHECK(c.grad[k] == doctest::Approx(sequence_grad[k]).epsilon(1e-12));
  }
}

TEST_CASE("policy_loss: masked tokens get zero gradient and never leak NaN into the result") {
  call<float> c;
  c.b = test::make_batch<float>(seed_t{11}, 8, 16, 0.4, 0); // masked positions hold NaN
  c.token_adv = true;
  policy_loss_options o = base_options(loss_aggregation::seq_mean_token_mean, kl_estimator::k3);
  const auto r = c.run(o);
  CHECK(std::isfinite(r.loss));
  for (std::size_t k = 0; k < c.grad.size(); ++k)
    if (!c.b.mask[k]) {
      CHECK(c.grad[k] == 0.0f);
      CHECK(c.grad_ent[k] == 0.0f);
    }
}

TEST_CASE("policy_loss: float results agree with the float64 oracle to 1e-5 relative") {
  for (std::uint64_t s = 0; s < 8; ++s) {
    auto bd = test::make_batch<double>(seed_t{s}, 16, 33, 0.6, 0, 0.0);
    call<float> c;
    c.b.rows = bd.rows, c.b.cols = bd.cols, c.b.mask = bd.mask;
    auto to_f = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
    c.b.log_probs = to_f(bd.log_probs), c.b.old_log_probs = to_f(bd.old_log_probs);
    c.b.ref_log_probs = to_f(bd.ref_log_probs), c.b.entropy = to_f(bd.entropy);
    c.b.token_advantages = to_f(bd.token_advantages), c.b.seq_advantages = to_f(bd.seq_advantages);
    // The oracle sees exactly the float inputs.
    for (std::size_t k = 0; k < bd.log_probs.size(); ++k) {
      bd.log_probs[k] = c.b.log_probs[k], bd.old_log_probs[k] = c.b.old_log_probs[k];
      bd.ref_log_probs[k] = c.b.ref_log_probs[k], bd.entropy[k] = c.b.entropy[k];
    }
    for (std::size_t i = 0; i < bd.rows; ++i) bd.seq_advantages[i] = c.b.seq_advantages[i];
    policy_loss_options o = base_options(loss_aggregation::token_mean, kl_estimator::k3);
    const auto r = c.run(o);
    CHECK(r.loss == doctest::Approx(test::reference_loss(to_reference(bd, false), o)).epsilon(1e-5));
  }
}

TEST_CASE("policy_loss: wide rows (vector blocks, tile edges, holes, padded tails) agree with float64") {
  // Rows of 16 tokens and more take the vectorised blocks (and on x86-64 the AVX2/AVX-512 versions), 256-token tiles
  // fold the lanes; the other tests mostly see short rows. Holes and fully masked 16-token blocks in the middle check
  // the block skipping.
  // Every version of the row kernel this CPU runs (baseline, AVX2, AVX-512 on x86-64) is checked.
  const auto isas = {detail::cpu_isa::baseline, detail::cpu_isa::avx2, detail::cpu_isa::avx512};
  const auto kls = {std::pair{kl_estimator::k3, kl_clamp::verl}, std::pair{kl_estimator::none, kl_clamp::none},
                    std::pair{kl_estimator::k3, kl_clamp::none}, std::pair{kl_estimator::k2, kl_clamp::openrlhf}};
  for (const auto isa : isas) {
    for (const std::size_t cols : {16u, 64u, 200u, 300u, 1100u}) {
      for (const bool token_adv : {false, true}) {
        for (const auto& [kl, clamps] : kls) {
          auto bd = test::make_batch<double>(seed_t{cols + token_adv}, 12, cols, 0.6, 0, 0.0);
          for (std::size_t i = 0; i < bd.rows; ++i)
            for (std::size_t t = 0; t < cols; ++t) {
              const std::size_t k = i * cols + t;
              if ((k * 2654435761u) % 5 == 0 || (i % 3 == 1 && t >= 64 && t < 128)) bd.mask[k] = 0;
            }
          call<float> c;
          call<double> d;
          c.token_adv = d.token_adv = token_adv;
          c.b.rows = bd.rows, c.b.cols = bd.cols, c.b.mask = bd.mask;
          auto to_f = [](const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); };
          c.b.log_probs = to_f(bd.log_probs), c.b.old_log_probs = to_f(bd.old_log_probs);
          c.b.ref_log_probs = to_f(bd.ref_log_probs), c.b.entropy = to_f(bd.entropy);
          c.b.token_advantages = to_f(bd.token_advantages), c.b.seq_advantages = to_f(bd.seq_advantages);
          d.b = bd;
          d.b.log_probs.assign(c.b.log_probs.begin(), c.b.log_probs.end());
          d.b.old_log_probs.assign(c.b.old_log_probs.begin(), c.b.old_log_probs.end());
          d.b.ref_log_probs.assign(c.b.ref_log_probs.begin(), c.b.ref_log_probs.end());
          d.b.entropy.assign(c.b.entropy.begin(), c.b.entropy.end());
          d.b.token_advantages.assign(c.b.token_advantages.begin(), c.b.token_advantages.end());
          d.b.seq_advantages.assign(c.b.seq_advantages.begin(), c.b.seq_advantages.end());
          policy_loss_options o = base_options(loss_aggregation::token_mean, kl);
          o.kl_clamps = clamps;
          detail::max_cpu_isa = detail::cpu_isa::baseline;
          const auto rb = c.run(o);
          const auto gb = c.grad;
          detail::max_cpu_isa = isa;
          const auto rf = c.run(o);
#if defined(MMRAG_RFT_ISA_BITWISE)
          // Every version computes the baseline's values (no contraction): bitwise the same results on any CPU.
          CHECK(rf.loss == rb.loss);
          CHECK(rf.stats.ratio_min == rb.stats.ratio_min);
          CHECK(rf.stats.ratio_max == rb.stats.ratio_max);
          CHECK(rf.stats.kl_mean == rb.stats.kl_mean);
          CHECK(rf.stats.pg_clipfrac == rb.stats.pg_clipfrac);
          CHECK(c.grad == gb);
#else
          // The AVX2 / AVX-512 versions use fused multiply-adds: rounding apart from the baseline, no more.
          CHECK(rf.loss == doctest::Approx(rb.loss).epsilon(1e-6));
          CHECK(rf.stats.ratio_min == doctest::Approx(rb.stats.ratio_min).epsilon(1e-6));
          CHECK(rf.stats.ratio_max == doctest::Approx(rb.stats.ratio_max).epsilon(1e-6));
          CHECK(rf.stats.kl_mean == doctest::Approx(rb.stats.kl_mean).epsilon(1e-6));
          CHECK(rf.stats.pg_clipfrac == rb.stats.pg_clipfrac);
          double gscale = 0, gdiff = 0;
          for (std::size_t k = 0; k < gb.size(); ++k) {
            gscale = std::max(gscale, static_cast<double>(std::abs(gb[k])));
            gdiff = std::max(gdiff, static_cast<double>(std::abs(c.grad[k] - gb[k])));
          }
          CHECK(gdiff <= 1e-6 * gscale);
#endif
          const auto rd = d.run(o);
          // Copies: clang before 16 cannot capture structured bindings in INFO's lambda.
          const int kl_id = int(kl), clamps_id = int(clamps);
          INFO("isa " << int(isa) << " cols " << cols << " token_adv " << token_adv << " kl " << kl_id << " clamps "
                      << clamps_id);
          CHECK(rf.loss == doctest::Approx(test::reference_loss(to_reference(d.b, token_adv), o)).epsilon(1e-5));
          CHECK(rd.loss == doctest::Approx(test::reference_loss(to_reference(d.b, token_adv), o)).epsilon(1e-12));
          double gmax = 0, diff = 0;
          for (std::size_t k = 0; k < c.grad.size(); ++k) {
            gmax = std::max(gmax, std::abs(d.grad[k]));
            diff = std::max(diff, std::abs(static_cast<double>(c.grad[k]) - d.grad[k]));
            if (!bd.mask[k]) CHECK(c.grad[k] == 0.0f);
          }
          CHECK(diff <= 1e-5 * gmax);
          const auto& sf = rf.stats;
          const auto& sd = rd.stats;
          const double tok = 1.0 / static_cast<double>(sd.valid_tokens);
          CHECK(sf.valid_tokens == sd.valid_tokens);
          CHECK(sf.valid_sequences == sd.valid_sequences);
          CHECK(sf.pg_clipfrac == doctest::Approx(sd.pg_clipfrac).epsilon(2 * tok));
          CHECK(sf.pg_clipfrac_lower == doctest::Approx(sd.pg_clipfrac_lower).epsilon(2 * tok));
          CHECK(sf.clip_ratio_low == doctest::Approx(sd.clip_ratio_low).epsilon(2 * tok));
          CHECK(sf.clip_ratio_high == doctest::Approx(sd.clip_ratio_high).epsilon(2 * tok));
          CHECK(sf.clip_ratio_region == doctest::Approx(sd.clip_ratio_low + sd.clip_ratio_high).epsilon(2 * tok));
          CHECK(sf.ppo_kl == doctest::Approx(sd.ppo_kl).epsilon(1e-5));
          CHECK(sf.kl_mean == doctest::Approx(sd.kl_mean).epsilon(1e-5));
          CHECK(sf.entropy_mean == doctest::Approx(sd.entropy_mean).epsilon(1e-5));
          CHECK(sf.advantage_mean == doctest::Approx(sd.advantage_mean).epsilon(1e-5));
          CHECK(sf.advantage_min == sd.advantage_min);
          CHECK(sf.advantage_max == sd.advantage_max);
          CHECK(sf.ratio_mean == doctest::Approx(sd.ratio_mean).epsilon(1e-5));
          CHECK(sf.ratio_min == doctest::Approx(sd.ratio_min).epsilon(1e-5));
          CHECK(sf.ratio_max == doctest::Approx(sd.ratio_max).epsilon(1e-5));
          CHECK(sf.pg_clipfrac > 0);
        }
      }
    }
  }
  detail::max_cpu_isa = detail::cpu_isa::avx512;
}

TEST_CASE("policy_loss: a NaN deep in a wide row is found, named, and counted once") {
  call<float> c;
  c.b = test::make_batch<float>(seed_t{5}, 4, 1100, 0.5, 1100);
  c.b.old_log_probs[2 * 1100 + 1030] = std::numeric_limits<float>::quiet_NaN();
  c.b.token_advantages[3 * 1100 + 70] = std::numeric_limits<float>::infinity();
  c.token_adv = true;
  policy_loss_options o = base_options(loss_aggregation::token_mean, kl_estimator::k3);
  CHECK_THROWS_WITH_AS(c.run(o), doctest::Contains("[2, 1030]"), mmrag_rft::error);
  o.nonfinite = nonfinite_policy::propagate;
  const auto r = c.run(o);
  CHECK(r.stats.nonfinite_tokens == 2);
  CHECK(std::isnan(r.loss));
}

TEST_CASE("policy_loss: an infinity or NaN in any input is found at every ISA, also behind the log-ratio clamp") {
  // +inf in logp, for one, is hidden from the loss by the clamps of the log-ratio and of the k3 argument, and must
  // still be found; a reference log-prob only matters with a KL term.
  constexpr float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  enum field { logp, old, ref, token_adv, seq_adv };
  for (const auto isa : {detail::cpu_isa::baseline, detail::cpu_isa::avx2, detail::cpu_isa::avx512}) {
    detail::max_cpu_isa = isa;
    for (const kl_estimator kl : {kl_estimator::none, kl_estimator::k3})
      for (const field f : {logp, old, ref, token_adv, seq_adv})
        for (const float bad : {inf, -inf, nan}) {
          call<float> c;
          c.b = test::make_batch<float>(seed_t{9}, 3, 40, 0.4, 40); // every token valid
          c.token_adv = f == token_adv;
          const std::size_t row = 1, col = 37, k = row * 40 + col;
          switch (f) {
          case logp: c.b.log_probs[k] = bad; break;
          case old: c.b.old_log_probs[k] = bad; break;
          case ref: c.b.ref_log_probs[k] = bad; break;
          case token_adv: c.b.token_advantages[k] = bad; break;
          case seq_adv: c.b.seq_advantages[row] = bad; break;
          }
          policy_loss_options o = base_options(loss_aggregation::token_mean, kl);
          o.entropy_coeff = 0;
          o.nonfinite = nonfinite_policy::propagate;
          INFO("isa " << int(isa) << " kl " << int(kl) << " field " << int(f) << " value " << bad);
          const auto r = c.run(o);
          // A bad sequence advantage spoils its whole row.
          const std::size_t want = f == ref && kl == kl_estimator::none ? 0 : f == seq_adv ? 40 : 1;
          CHECK(r.stats.nonfinite_tokens == want);
          o.nonfinite = nonfinite_policy::error;
          if (want > 0)
            CHECK_THROWS_WITH_AS(c.run(o), doctest::Contains(f == seq_adv ? "[1, 0]" : "[1, 37]"), mmrag_rft::error);
          else CHECK_NOTHROW(c.run(o));
        }
  }
  detail::max_cpu_isa = detail::cpu_isa::avx512;
}

TEST_CASE("policy_loss: seq and par give bitwise identical results for any thread count") {
  call<float> c;
  c.b = test::make_batch<float>(seed_t{21}, 300, 257, 0.5, 0);
  policy_loss_options o = base_options(loss_aggregation::seq_mean_token_mean, kl_estimator::k3);
  const auto a = c.run(o, exec::seq);
  const auto ga = c.grad;
  for (std::size_t threads : {1u, 2u, 3u, 8u}) {
    const auto b = c.run(o, exec::par.with_threads(threads));
    CHECK(a.loss == b.loss);
    CHECK(a.stats.pg_clipfrac == b.stats.pg_clipfrac);
    CHECK(a.stats.kl_mean == b.stats.kl_mean);
    CHECK(ga == c.grad);
  }
}

TEST_CASE("policy_loss: empty batch and all-masked batch give zero loss, zero gradient, zero stats") {
  policy_loss_inputs<float> empty;
  const auto r = policy_loss(empty, policy_loss_grads<float>{});
  CHECK(r.loss == 0.0);
  CHECK(r.stats.valid_tokens == 0);
  call<float> c;
  c.b = test::make_batch<float>(seed_t{5}, 3, 4, 0.4, 0);
  std::fill(c.b.mask.begin(), c.b.mask.end(), 0);
  const auto z = c.run(base_options(loss_aggregation::token_mean, kl_estimator::k3));
  CHECK(z.loss == 0.0);
  CHECK(z.stats.valid_sequences == 0);
  for (float g : c.grad) CHECK(g == 0.0f);
}

TEST_CASE("policy_loss: zero-length responses do not count as sequences") {
  std::vector<double> lp{-1, -1, -1, -1}, g(4), adv{1.0, 5.0};
  std::vector<std::uint8_t> m{1, 1, 0, 0};
  policy_loss_options o;
  o.aggregation = loss_aggregation::seq_mean_token_sum;
  policy_loss_inputs<double> in{.log_probs = {lp.data(), 2, 2}, .sequence_advantages = adv, .mask = {m.data(), 2, 2}};
  const auto r = policy_loss(in, {.log_probs = {g.data(), 2, 2}}, o);
  CHECK(r.stats.valid_sequences == 1);
  CHECK(r.loss == doctest::Approx(-2.0)); // on-policy: ratio 1, loss = -(1 + 1) / 1 sequence
}

TEST_CASE("policy_loss: NaN at a valid token is an error naming the token, or propagates on request") {
  call<float> c;
  c.b = test::make_batch<float>(seed_t{8}, 3, 5, 0.4, 5);
  c.b.log_probs[1 * 5 + 2] = std::numeric_limits<float>::quiet_NaN();
  policy_loss_options o;
  CHECK_THROWS_WITH_AS(c.run(o), doctest::Contains("[1, 2]"), mmrag_rft::error);
  o.nonfinite = nonfinite_policy::propagate;
  const auto r = c.run(o);
  CHECK(std::isnan(r.loss));
  CHECK(r.stats.nonfinite_tokens == 1);
}

TEST_CASE("policy_loss: bad shapes and options are rejected with the argument's name") {
  call<float> c;
  c.b = test::make_batch<float>(seed_t{8}, 3, 5);
  auto in = c.inputs();
  std::vector<float> g(15);
  in.mask = {c.b.mask.data(), 3, 4};
  CHECK_THROWS_WITH_AS(policy_loss(in, {.log_probs = {g.data(), 3, 5}}), doctest::Contains("inputs.mask"),
                       mmrag_rft::error);
  in = c.inputs();
  in.advantages = {c.b.token_advantages.data(), 3, 5};
  CHECK_THROWS_WITH_AS(policy_loss(in, {.log_probs = {g.data(), 3, 5}}), doctest::Contains("both given"),
                       mmrag_rft::error);
  in = c.inputs();
  policy_loss_options o;
  o.clip_ratio_c = 0.5;
  CHECK_THROWS_WITH_AS(policy_loss(in, {.log_probs = {g.data(), 3, 5}}, o), doctest::Contains("clip_ratio_c"),
                       mmrag_rft::error);
  o = {};
  o.kl = kl_estimator::k3;
  in.ref_log_probs = {};
  CHECK_THROWS_WITH_AS(policy_loss(in, {.log_probs = {g.data(), 3, 5}}, o), doctest::Contains("ref_log_probs"),
                       mmrag_rft::error);
  o = {};
  o.normalizer = 0.0;
  CHECK_THROWS_AS(policy_loss(c.inputs(), {.log_probs = {g.data(), 3, 5}}, o), mmrag_rft::error);
}

TEST_CASE("policy_loss: options that would give NaN or overlapping rows are refused, the limits themselves pass") {
  call<float> c;
  c.b = test::make_batch<float>(seed_t{8}, 3, 5);
  std::vector<float> g(15);
  auto refused = [&](const policy_loss_options& o, const char* what) {
    CHECK_THROWS_WITH_AS(policy_loss(c.inputs(), {.log_probs = {g.data(), 3, 5}}, o), doctest::Contains(what),
                         mmrag_rft::error);
  };
  auto finite_run = [&](const policy_loss_options& o) {
    const auto r = policy_loss(c.inputs(), {.log_probs = {g.data(), 3, 5}}, o);
    CHECK(std::isfinite(r.loss));
    for (float x : g) CHECK(std::isfinite(x));
  };
  policy_loss_options o;
  o.normalizer = 1e-300; // 1 / 1e-300 is not a float
  refused(o, "token weights would overflow");
  o = {};
  o.loss_scale = 1e39;
  refused(o, "token weights would overflow");
  o.loss_scale = 1e18; // within 2^-64 of FLT_MAX
  finite_run(o);
  o = {};
  o.kl = kl_estimator::k3;
  o.kl_coef = 1e10;
  o.normalizer = 1e-10; // the weight 1e10 is fine, times kl_coef it is not
  refused(o, "token weights would overflow");
  o = {};
  o.mode = policy_loss_mode::gspo;
  o.gspo_log_ratio_max = std::numeric_limits<double>::quiet_NaN();
  refused(o, "gspo_log_ratio_max");
  o.gspo_log_ratio_max = std::numeric_limits<double>::infinity(); // no clamp, as nullopt
  finite_run(o);
  o = {};
  o.aggregation = static_cast<loss_aggregation>(200);
  refused(o, "options.aggregation");
  o = {};
  o.mode = static_cast<policy_loss_mode>(77);
  refused(o, "options.mode");
  o = {};
  o.kl = static_cast<kl_estimator>(9);
  refused(o, "options.kl");
  o = {};
  o.kl_clamps = static_cast<kl_clamp>(9);
  refused(o, "options.kl_clamps");
  o = {};
  o.gspo_grad = static_cast<gspo_gradient>(9);
  refused(o, "options.gspo_grad");
  o = {};
  o.nonfinite = static_cast<nonfinite_policy>(9);
  refused(o, "options.nonfinite");
  // A gradient view whose rows overlap: row k + 1 would overwrite row k.
  CHECK_THROWS_WITH_AS(policy_loss(c.inputs(), {.log_probs = {g.data(), 3, 5, 4}}), doctest::Contains("grads"),
                       mmrag_rft::error);
  auto in = c.inputs();
  in.log_probs = {c.b.log_probs.data(), 3, 5, 2};
  CHECK_THROWS_WITH_AS(policy_loss(in, {.log_probs = {g.data(), 3, 5}}), doctest::Contains("row_stride < cols"),
                       mmrag_rft::error);
}

TEST_CASE("policy_loss: finite log-probs near -FLT_MAX are finite, not reported as NaN") {
  call<float> c;
  c.b = test::make_batch<float>(seed_t{9}, 2, 4);
  for (auto& x : c.b.log_probs) x = -2e38f;
  for (auto& x : c.b.old_log_probs) x = -2e38f;
  for (auto& x : c.b.ref_log_probs) x = -2e38f;
  const auto r = c.run(policy_loss_options{}); // the row sums of the inputs overflow in float; the inputs do not
  CHECK(r.stats.nonfinite_tokens == 0);
  CHECK(std::isfinite(r.loss));
}

TEST_CASE("policy_loss: a global normaliser splits a batch into micro-batches whose losses add up") {
  call<double> whole;
  whole.b = test::make_batch<double>(seed_t{31}, 8, 10, 0.4, 0, 0.0);
  policy_loss_options o = base_options(loss_aggregation::token_mean, kl_estimator::k3);
  const auto full = whole.run(o);
  double tokens = 0;
  for (auto m : whole.b.mask) tokens += m;
  o.normalizer = tokens;
  double sum = 0;
  std::vector<double> grads;
  for (std::size_t half = 0; half < 2; ++half) {
    const std::size_t off = half * 4 * 10;
    policy_loss_inputs<double> in;
    in.log_probs = {whole.b.log_probs.data() + off, 4, 10};
    in.old_log_probs = {whole.b.old_log_probs.data() + off, 4, 10};
    in.sequence_advantages = std::span<const double>(whole.b.seq_advantages).subspan(half * 4, 4);
    in.mask = {whole.b.mask.data() + off, 4, 10};
    in.ref_log_probs = {whole.b.ref_log_probs.data() + off, 4, 10};
    in.entropy = {whole.b.entropy.data() + off, 4, 10};
    std::vector<double> g(40), ge(40);
    sum += policy_loss(in, {{g.data(), 4, 10}, {ge.data(), 4, 10}}, o).loss;
    grads.insert(grads.end(), g.begin(), g.end());
  }
  CHECK(sum == doctest::Approx(full.loss).epsilon(1e-13));
  for (std::size_t k = 0; k < grads.size(); ++k) CHECK(grads[k] == doctest::Approx(whole.grad[k]).epsilon(1e-13));
}

TEST_CASE("kl_penalty: hand-worked k3 and the mean of per-sequence means") {
  std::vector<double> lp{-1.0, -1.0, -2.0, 0.0}, ref{-1.5, -1.0, -2.0, 0.0}, out(4);
  std::vector<std::uint8_t> m{1, 1, 1, 0};
  const double mean = kl_penalty<double>({lp.data(), 2, 2}, {ref.data(), 2, 2}, {m.data(), 2, 2}, kl_estimator::k3,
                                         kl_clamp::verl, {out.data(), 2, 2});
  const double k = std::exp(-0.5) + 0.5 - 1.0;
  CHECK(out[0] == doctest::Approx(k));
  CHECK(out[1] == 0.0);
  CHECK(out[3] == 0.0);
  CHECK(mean == doctest::Approx((k / 2 + 0.0) / 2));
}

TEST_CASE("kl_penalty: verl clamps k3 at 10, OpenRLHF clamps every estimator, TRL none") {
  std::vector<double> lp{-20.0}, ref{0.0}, out(1);
  std::vector<std::uint8_t> m{1};
  auto run = [&](kl_estimator e, kl_clamp c) {
    (void)kl_penalty<double>({lp.data(), 1, 1}, {ref.data(), 1, 1}, {m.data(), 1, 1}, e, c, {out.data(), 1, 1});
    return out[0];
  };
  CHECK(run(kl_estimator::k3, kl_clamp::verl) == 10.0);
  CHECK(run(kl_estimator::k3, kl_clamp::none) == doctest::Approx(std::exp(20.0) - 21.0));
  CHECK(run(kl_estimator::k2, kl_clamp::verl) == 200.0);
  CHECK(run(kl_estimator::k2, kl_clamp::openrlhf) == 10.0);
  CHECK(run(kl_estimator::k1, kl_clamp::openrlhf) == -10.0);
}

TEST_CASE("policy_loss: straight-through KL has k3's value and k2's gradient") {
  std::vector<double> lp{-1.0}, ref{-1.5}, g(1), adv{0.0};
  std::vector<std::uint8_t> m{1};
  policy_loss_options o;
  o.kl = kl_estimator::k3;
  o.kl_coef = 1.0;
  o.kl_straight_through = true;
  policy_loss_inputs<double> in{.log_probs = {lp.data(), 1, 1},
                                .sequence_advantages = adv,
                                .mask = {m.data(), 1, 1},
                                .ref_log_probs = {ref.data(), 1, 1}};
  const auto r = policy_loss(in, {.log_probs = {g.data(), 1, 1}}, o);
  CHECK(r.kl_loss == doctest::Approx(std::exp(-0.5) + 0.5 - 1.0));
  CHECK(g[0] == doctest::Approx(0.5));
}

// CISPO, SAPO and GPG against verl's own functions (verl/trainer/ppo/core_algos.py at commit
// b178a3cd56f58b2d502255daba591e92833930a7, compute_policy_loss_cispo / _sapo / _gpg with agg_loss, run in float64 on
// this batch with clip_ratio_low 0.2, clip_ratio_high 0.28, tau_pos 1.0, tau_neg 1.05): loss and d loss / d logp.
namespace {
struct verl_batch {
  std::vector<double> lp{-1.0, -1.1, -1.6, -0.25, -1.3, -1.45, -0.1, -1.1};
  std::vector<double> old{-1.2, -0.7, -2.0, -0.3, -0.9, -1.5, -0.4, -1.1};
  std::vector<std::uint8_t> m{1, 1, 1, 0, 1, 0, 1, 1};
  std::vector<double> adv{0.8, -1.3};
  std::vector<double> g = std::vector<double>(8, -777.0);
  policy_loss_result run(policy_loss_mode mode, loss_aggregation agg) {
    policy_loss_options o;
    o.mode = mode, o.aggregation = agg, o.clip_ratio_high = 0.28;
    policy_loss_inputs<double> in{.log_probs = {lp.data(), 2, 4},
                                  .old_log_probs = {old.data(), 2, 4},
                                  .sequence_advantages = adv,
                                  .mask = {m.data(), 2, 4}};
    return policy_loss(in, {.log_probs = {g.data(), 2, 4}}, o);
  }
  void check_grad(const std::vector<double>& want, double eps) const {
    for (std::size_t k = 0; k < want.size(); ++k) {
      CAPTURE(k);
      CHECK(g[k] == doctest::Approx(want[k]).epsilon(eps));
    }
  }
};
} // namespace

TEST_CASE("policy_loss: CISPO, SAPO and GPG reproduce verl's loss and gradient") {
  verl_batch b;
  auto r = b.run(policy_loss_mode::cispo, loss_aggregation::token_mean);
  CHECK(r.loss == doctest::Approx(0.061853701088022649).epsilon(1e-13));
  b.check_grad({-0.16285370108802266, -0.10666666666666669, -0.17066666666666666, 0, 0.17333333333333334, 0,
                0.27733333333333332, 0.21666666666666667},
               1e-13);
  CHECK(r.stats.pg_clipfrac == doctest::Approx(4.0 / 6.0));
  CHECK(r.stats.ppo_kl == doctest::Approx(-0.1 / 6.0));
  // verl's seq-mean-token-mean divides by |o_i| + 1e-8: agreement to ~1e-8 relative.
  r = b.run(policy_loss_mode::sapo, loss_aggregation::seq_mean_token_mean);
  CHECK(r.loss == doctest::Approx(0.39220820168531079).epsilon(1e-8));
  b.check_grad({-0.16087415418065373, -0.086990786230048966, -0.18735012921367722, 0, 0.14097056227753152, 0,
                0.28282016901374674, 0.21666666594444445},
               1e-8);
  CHECK(r.stats.pg_clipfrac == 0.0);
  r = b.run(policy_loss_mode::gpg, loss_aggregation::token_mean);
  CHECK(r.loss == doctest::Approx(-0.048333333333333305).epsilon(1e-13));
  b.check_grad({-0.13333333333333333, -0.13333333333333333, -0.13333333333333333, 0, 0.21666666666666667, 0,
                0.21666666666666667, 0.21666666666666667},
               1e-13);
}

TEST_CASE("policy_loss: hand-worked CISPO, SAPO and GPG on one token") {
  // lp = -1, old = -1.5: r = e^0.5 = 1.6487 > 1.2, A = 2.
  std::vector<double> lp{-1.0}, old{-1.5}, g(1), adv{2.0};
  std::vector<std::uint8_t> m{1};
  policy_loss_inputs<double> in{.log_probs = {lp.data(), 1, 1},
                                .old_log_probs = {old.data(), 1, 1},
                                .sequence_advantages = adv,
                                .mask = {m.data(), 1, 1}};
  policy_loss_options o;
  o.mode = policy_loss_mode::cispo; // -sg(1.2) * 2 * (-1) = 2.4; the clipped token keeps gradient -1.2 * 2
  auto r = policy_loss(in, {.log_probs = {g.data(), 1, 1}}, o);
  CHECK(r.loss == doctest::Approx(2.4).epsilon(1e-14));
  CHECK(g[0] == doctest::Approx(-2.4).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac == 1.0);
  CHECK(r.stats.clip_ratio_high == 1.0);
  o.mode = policy_loss_mode::sapo; // tau = 1: -2 * 4 s, s = sigmoid(r - 1); d/dlogp = -2 * 4 s (1 - s) r
  r = policy_loss(in, {.log_probs = {g.data(), 1, 1}}, o);
  const double s = 1.0 / (1.0 + std::exp(-(std::exp(0.5) - 1.0)));
  CHECK(r.loss == doctest::Approx(-8.0 * s).epsilon(1e-14));
  CHECK(g[0] == doctest::Approx(-8.0 * s * (1.0 - s) * std::exp(0.5)).epsilon(1e-13));
  o.mode = policy_loss_mode::gpg; // -(-1) * 2 = 2, gradient -A
  r = policy_loss(in, {.log_probs = {g.data(), 1, 1}}, o);
  CHECK(r.loss == doctest::Approx(2.0).epsilon(1e-14));
  CHECK(g[0] == -2.0);
}

TEST_CASE("policy_loss: CISPO, SAPO and GPG at ratio 1") {
  // r = 1: CISPO = GPG = -A logp with gradient -A; SAPO = -A (4 / tau) / 2 with gradient -A (PPO's at r = 1).
  auto b = test::make_batch<double>(seed_t{31}, 4, 9, 0.4, 1, 0.0);
  call<double> c;
  c.b = b;
  c.b.old_log_probs = c.b.log_probs;
  c.token_adv = true;
  double sum_a = 0, sum_alp = 0, sum_a_over_tau = 0, n = 0;
  policy_loss_options o;
  o.sapo_tau_pos = 2.0, o.sapo_tau_neg = 0.5;
  for (std::size_t k = 0; k < b.mask.size(); ++k)
    if (b.mask[k]) {
      const double a = b.token_advantages[k];
      sum_a += a, sum_alp += a * b.log_probs[k], n += 1;
      sum_a_over_tau += a / (a > 0 ? o.sapo_tau_pos : o.sapo_tau_neg);
    }
  for (auto mode : {policy_loss_mode::cispo, policy_loss_mode::sapo, policy_loss_mode::gpg}) {
    CAPTURE(static_cast<int>(mode));
    o.mode = mode;
    const auto r = c.run(o);
    CHECK(r.loss ==
          doctest::Approx(mode == policy_loss_mode::sapo ? -2.0 * sum_a_over_tau / n : -sum_alp / n).epsilon(1e-12));
    CHECK(r.stats.pg_clipfrac == 0.0);
    for (std::size_t k = 0; k < b.mask.size(); ++k)
      CHECK(c.grad[k] == doctest::Approx(b.mask[k] ? -b.token_advantages[k] / n : 0.0).epsilon(1e-12));
  }
}

TEST_CASE("policy_loss: CISPO, SAPO and GPG gradients match finite differences of the oracle") {
  std::uint64_t seed = 700;
  for (auto mode : {policy_loss_mode::cispo, policy_loss_mode::sapo, policy_loss_mode::gpg})
    for (auto agg : {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_mean,
                     loss_aggregation::seq_mean_token_sum_norm})
      for (auto kl : {kl_estimator::none, kl_estimator::k3})
        for (bool token_adv : {false, true}) {
          policy_loss_options o = base_options(agg, kl);
          o.mode = mode;
          o.sapo_tau_pos = 1.5, o.sapo_tau_neg = 2.5;
          CAPTURE(static_cast<int>(mode));
          CAPTURE(to_string(agg));
          CAPTURE(static_cast<int>(kl));
          CAPTURE(token_adv);
          check_gradient(o, token_adv, seed_t{seed++});
          o.kl_importance_corrected = kl != kl_estimator::none; // the KL weighted by the (differentiable) ratio
          o.log_ratio_clamp = 0.3;                              // and a clamp that acts on the ratio
          check_gradient(o, token_adv, seed_t{seed++});
        }
}

TEST_CASE("policy_loss: CISPO, SAPO and GPG in float agree with the float64 oracle") {
  for (auto mode : {policy_loss_mode::cispo, policy_loss_mode::sapo, policy_loss_mode::gpg})
    for (bool token_adv : {false, true}) {
      CAPTURE(static_cast<int>(mode));
      policy_loss_options o = base_options(loss_aggregation::token_mean, kl_estimator::k3);
      o.mode = mode;
      call<float> cf;
      cf.b = test::make_batch<float>(seed_t{77}, 6, 40, 0.5);
      cf.token_adv = token_adv;
      const auto rf = cf.run(o);
      call<double> cd;
      cd.b = test::make_batch<double>(seed_t{77}, 6, 40, 0.5);
      cd.token_adv = token_adv;
      const auto rd = cd.run(o);
      CHECK(rf.loss == doctest::Approx(rd.loss).epsilon(1e-5).scale(1e-3));
      for (std::size_t k = 0; k < cd.grad.size(); ++k)
        CHECK(static_cast<double>(cf.grad[k]) == doctest::Approx(cd.grad[k]).epsilon(1e-4).scale(1e-5));
      CHECK(rd.loss == doctest::Approx(test::reference_loss(to_reference(cd.b, token_adv), o)).epsilon(1e-12));
    }
}

TEST_CASE("policy_loss: SAPO temperatures are validated, and extreme valid ones or ratios give no NaN") {
  call<float> c;
  c.b = test::make_batch<float>(seed_t{9}, 3, 5, 30.0); // log-ratios far beyond the clamp
  policy_loss_options o;
  o.mode = policy_loss_mode::sapo;
  for (double bad :
       {0.0, -1.0, 1e-4, 2e3, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    o.sapo_tau_pos = bad;
    CHECK_THROWS_WITH_AS(c.run(o), doctest::Contains("sapo_tau_pos"), mmrag_rft::error);
    o.sapo_tau_pos = 1.0, o.sapo_tau_neg = bad;
    CHECK_THROWS_WITH_AS(c.run(o), doctest::Contains("sapo_tau_neg"), mmrag_rft::error);
    o.sapo_tau_neg = 1.05;
  }
  for (double tau : {1e-3, 1e3})
    for (bool clamp : {true, false}) {
      o.sapo_tau_pos = o.sapo_tau_neg = tau;
      if (clamp) o.log_ratio_clamp = 20.0;
      else o.log_ratio_clamp.reset();
      for (auto mode : {policy_loss_mode::cispo, policy_loss_mode::sapo, policy_loss_mode::gpg}) {
        o.mode = mode;
        const auto r = c.run(o);
        CHECK(std::isfinite(r.loss));
        for (float x : c.grad) CHECK(std::isfinite(x));
      }
    }
}

namespace {
/// One row of three tokens with r = e^0.5, e^0.8, e^-2.5 and p - p_old = +0.145, +0.451, -0.557 (Bernoulli KL
/// 0.0486, 0.495, 1.169): the hand-worked batch of the DPPO tests, with advantage `a` for the whole row.
struct dppo_row {
  std::vector<double> lp{-1.0, -0.2, -3.0}, old{-1.5, -1.0, -0.5}, adv{0.0}, g = std::vector<double>(3, -777.0);
  std::vector<std::uint8_t> m{1, 1, 1};
  policy_loss_result run(policy_loss_mode mode, double a, double eps_low, double eps_high, double c) {
    adv[0] = a;
    policy_loss_options o;
    o.mode = mode, o.clip_ratio_low = eps_low, o.clip_ratio_high = eps_high, o.clip_ratio_c = c;
    policy_loss_inputs<double> in{.log_probs = {lp.data(), 1, 3},
                                  .old_log_probs = {old.data(), 1, 3},
                                  .sequence_advantages = adv,
                                  .mask = {m.data(), 1, 3}};
    return policy_loss(in, {.log_probs = {g.data(), 1, 3}}, o);
  }
};
} // namespace

TEST_CASE("policy_loss: hand-worked DPPO-TV and DPPO-KL") {
  dppo_row b;
  const double e25 = std::exp(-2.5);
  // TV, A = 2, eps 0.2, c = 1.5: token 1 moved p up by 0.451 > 0.2 (masked out); token 0 is kept with its ratio
  // e^0.5 truncated to 1.5 (loss -2 * 1.5 * -1 = 3); token 2 kept (p fell), loss -2 e^-2.5 * -3. Token-mean over 3.
  auto r = b.run(policy_loss_mode::dppo_tv, 2.0, 0.2, 0.2, 1.5);
  CHECK(r.loss == doctest::Approx(1.0 + 2.0 * e25).epsilon(1e-14));
  CHECK(b.g[0] == doctest::Approx(-1.0).epsilon(1e-14));
  CHECK(b.g[1] == 0.0);
  CHECK(b.g[2] == doctest::Approx(-2.0 * e25 / 3.0).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac == doctest::Approx(1.0 / 3.0).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac_lower == doctest::Approx(1.0 / 3.0).epsilon(1e-14)); // token 1 (r > c) is not valid
  CHECK(r.stats.ppo_kl == doctest::Approx((-0.5 - 0.8 + 2.5) / 3.0).epsilon(1e-14));
  CHECK(r.stats.clip_ratio_high == 0.0);
  // TV, A = -2: the region bounds how far p falls; token 2 fell by 0.557 > 0.2. Tokens 0 and 1 truncated to 1.5.
  r = b.run(policy_loss_mode::dppo_tv, -2.0, 0.2, 0.2, 1.5);
  CHECK(r.loss == doctest::Approx((-3.0 - 0.6) / 3.0).epsilon(1e-14));
  CHECK(b.g[0] == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(b.g[1] == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(b.g[2] == 0.0);
  CHECK(r.stats.pg_clipfrac == doctest::Approx(1.0 / 3.0).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac_lower == doctest::Approx(2.0 / 3.0).epsilon(1e-14));
  // KL, A = 2, eps_high 0.2: token 1 (KL 0.495, p rose) out, token 2 in (p fell): the TV result. With eps_high 0.04
  // token 0 (KL 0.0486) is out as well.
  r = b.run(policy_loss_mode::dppo_kl, 2.0, 0.2, 0.2, 1.5);
  CHECK(r.loss == doctest::Approx(1.0 + 2.0 * e25).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac == doctest::Approx(1.0 / 3.0).epsilon(1e-14));
  r = b.run(policy_loss_mode::dppo_kl, 2.0, 0.2, 0.04, 1.5);
  CHECK(r.loss == doctest::Approx(2.0 * e25).epsilon(1e-14));
  CHECK(b.g[0] == 0.0);
  CHECK(r.stats.pg_clipfrac == doctest::Approx(2.0 / 3.0).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac_lower == 0.0);
  // KL, A = -2: token 2 (KL 1.169, p fell) out at eps_low 0.2, in at 1.2 (its ratio e^-2.5 is not truncated).
  r = b.run(policy_loss_mode::dppo_kl, -2.0, 0.2, 0.2, 1.5);
  CHECK(r.loss == doctest::Approx(-1.2).epsilon(1e-14));
  r = b.run(policy_loss_mode::dppo_kl, -2.0, 1.2, 0.2, 1.5);
  CHECK(r.loss == doctest::Approx((-3.6 - 6.0 * e25) / 3.0).epsilon(1e-14));
  CHECK(b.g[2] == doctest::Approx(2.0 * e25 / 3.0).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac == 0.0);
  // A = 0: no loss, no gradient; the mask of A <= 0 still counts token 2 as out (TV).
  r = b.run(policy_loss_mode::dppo_tv, 0.0, 0.2, 0.2, 1.5);
  CHECK(r.loss == 0.0);
  for (double x : b.g) CHECK(x == 0.0);
  CHECK(r.stats.pg_clipfrac == doctest::Approx(1.0 / 3.0).epsilon(1e-14));
}

TEST_CASE("policy_loss: DPPO truncation cap, clamp and probabilities near 1") {
  dppo_row b;
  // Without clip_ratio_c the ratio is not truncated: TV, A = -2, token 0 and 1 keep e^0.5 and e^0.8.
  b.adv[0] = -2.0;
  policy_loss_options o;
  o.mode = policy_loss_mode::dppo_tv, o.clip_ratio_c.reset();
  policy_loss_inputs<double> in{.log_probs = {b.lp.data(), 1, 3},
                                .old_log_probs = {b.old.data(), 1, 3},
                                .sequence_advantages = b.adv,
                                .mask = {b.m.data(), 1, 3}};
  auto r = policy_loss(in, {.log_probs = {b.g.data(), 1, 3}}, o);
  CHECK(r.loss == doctest::Approx((-2.0 * std::exp(0.5) - 0.4 * std::exp(0.8)) / 3.0).epsilon(1e-14));
  CHECK(r.stats.pg_clipfrac_lower == 0.0);
  // DPPO takes any positive cap (verl asserts nothing); PPO's dual clip still needs c > 1.
  o.clip_ratio_c = 0.5;
  r = policy_loss(in, {.log_probs = {b.g.data(), 1, 3}}, o);
  CHECK(r.loss == doctest::Approx((-0.5 * 2.0 * 1.0 - 0.5 * 2.0 * 0.2) / 3.0).epsilon(1e-14));
  for (double bad : {0.0, -1.0, std::numeric_limits<double>::quiet_NaN()}) {
    o.clip_ratio_c = bad;
    CHECK_THROWS_WITH_AS(policy_loss(in, {.log_probs = {b.g.data(), 1, 3}}, o), doctest::Contains("clip_ratio_c"),
                         mmrag_rft::error);
  }
  o.mode = policy_loss_mode::ppo_clip, o.clip_ratio_c = 0.5;
  CHECK_THROWS_WITH_AS(policy_loss(in, {.log_probs = {b.g.data(), 1, 3}}, o), doctest::Contains("must be > 1"),
                       mmrag_rft::error);
  // Log-ratios of +-25 are clamped to +-20 before exp (verl), so r = e^20 > c counts in pg_clipfrac_lower where the
  // token is kept; p = 1 and p_old = 1 meet verl's 1e-8 guards of the binary KL (log(1e-8 / 1e-8) = 0).
  std::vector<double> lp{-1e-3, -26.0, 0.0, -1e-12}, old{-26.0, -1e-3, 0.0, 0.0}, adv{-1.0, -1.0, 1.0, 1.0}, g(4);
  std::vector<std::uint8_t> m{1, 1, 1, 1};
  policy_loss_inputs<double> x{.log_probs = {lp.data(), 1, 4},
                               .old_log_probs = {old.data(), 1, 4},
                               .advantages = {adv.data(), 1, 4},
                               .mask = {m.data(), 1, 4}};
  for (auto mode : {policy_loss_mode::dppo_tv, policy_loss_mode::dppo_kl}) {
    CAPTURE(static_cast<int>(mode));
    o = policy_loss_options::verl();
    o.mode = mode, o.clip_ratio_c = 20.0;
    r = policy_loss(x, {.log_probs = {g.data(), 1, 4}}, o);
    test::reference_batch ref;
    ref.rows = 1, ref.cols = 4, ref.lp = lp, ref.old = old, ref.adv = adv, ref.mask = m;
    CHECK(r.loss == doctest::Approx(test::reference_loss(ref, o)).epsilon(1e-14));
    // Token 0: A < 0 and p rose from e^-26 to ~1, kept by both masks, ratio e^20 truncated to 20; token 1: A < 0, p
    // fell by ~1: out of both; tokens 2 and 3 (p = p_old = 1, A > 0) kept with ratio 1.
    CHECK(g[0] == doctest::Approx(20.0 / 4.0).epsilon(1e-14));
    CHECK(g[1] == 0.0);
    CHECK(g[2] == doctest::Approx(-1.0 / 4.0).epsilon(1e-14));
    CHECK(g[3] == doctest::Approx(-1.0 / 4.0).epsilon(1e-12));
    CHECK(r.stats.pg_clipfrac == doctest::Approx(0.25).epsilon(1e-7));
    CHECK(r.stats.pg_clipfrac_lower == doctest::Approx(0.25).epsilon(1e-7));
    CHECK(r.stats.ppo_kl == doctest::Approx((-20.0 + 20.0 + 0.0 - 1e-12) / -4.0).epsilon(1e-7).scale(1e-9));
  }
}

TEST_CASE("policy_loss: DPPO gradients match finite differences of the oracle, masks and caps active") {
  std::uint64_t seed = 900;
  int masked_out = 0, truncated = 0, runs = 0;
  for (auto mode : {policy_loss_mode::dppo_tv, policy_loss_mode::dppo_kl})
    for (auto agg :
         {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum, loss_aggregation::seq_mean_token_mean,
          loss_aggregation::seq_mean_token_sum_norm, loss_aggregation::token_sum})
      for (auto kl : {kl_estimator::none, kl_estimator::k3})
        for (bool token_adv : {false, true}) {
          policy_loss_options o = base_options(agg, kl);
          o.mode = mode, o.clip_ratio_c = 1.3;
          o.clip_ratio_low = mode == policy_loss_mode::dppo_tv ? 0.05 : 0.02, o.clip_ratio_high = 0.03;
          CAPTURE(static_cast<int>(mode));
          CAPTURE(to_string(agg));
          CAPTURE(static_cast<int>(kl));
          CAPTURE(token_adv);
          // The batch check_gradient draws from this seed has tokens outside the region and truncated ratios.
          call<double> c;
          c.b = test::make_batch<double>(seed_t{seed}, 5, 7, 0.5, 0, 0.0);
          c.token_adv = token_adv;
          const auto stats = c.run(o).stats;
          masked_out += stats.pg_clipfrac > 0, truncated += stats.pg_clipfrac_lower > 0, runs += 1;
          check_gradient(o, token_adv, seed_t{seed++});
          o.kl_importance_corrected = kl != kl_estimator::none;
          o.log_ratio_clamp = 0.3;
          o.clip_ratio_c.reset();
          check_gradient(o, token_adv, seed_t{seed++});
        }
  CHECK(masked_out >= runs * 3 / 4);
  CHECK(truncated >= runs / 2);
}

TEST_CASE("policy_loss: DPPO statistics and loss equal an independent recomputation; NaN at masked tokens is ignored") {
  for (auto mode : {policy_loss_mode::dppo_tv, policy_loss_mode::dppo_kl}) {
    CAPTURE(static_cast<int>(mode));
    call<double> c;
    c.b = test::make_batch<double>(seed_t{41}, 9, 23, 0.6); // NaN at every masked token
    // Probabilities at most 1 (the generator's old log-probs reach +0.59, where the binary KL is NaN).
    for (double& x : c.b.old_log_probs) x = std::min(x, -1e-6);
    c.token_adv = true;
    policy_loss_options o = policy_loss_options::verl();
    o.mode = mode, o.clip_ratio_c = 1.4, o.clip_ratio_low = 0.04, o.clip_ratio_high = 0.06;
    const auto r = c.run(o);
    double n = 0, out = 0, lower = 0, kl = 0, loss = 0;
    for (std::size_t k = 0; k < c.b.mask.size(); ++k) {
      if (!c.b.mask[k]) {
        CHECK(c.grad[k] == 0.0);
        continue;
      }
      const double lp = c.b.log_probs[k], old = c.b.old_log_probs[k], a = c.b.token_advantages[k];
      const double ratio = std::exp(lp - old), pn = std::exp(lp), po = std::exp(old);
      // The mask written from the paper's statement: the move is outside the region when the divergence exceeds
      // the threshold of the advantage's side and the probability moved that way.
      const double div = mode == policy_loss_mode::dppo_tv
                             ? std::fabs(pn - po)
                             : po * std::log(po / pn) + (1 - po) * std::log((1 - po + 1e-8) / (1 - pn + 1e-8));
      const bool up = pn > po, down = pn < po;
      const bool outside = a > 0 ? (up && div > 0.06) : (down && div > 0.04);
      n += 1, out += outside, lower += !outside && ratio > 1.4, kl -= lp - old;
      if (!outside) loss += -a * std::min(ratio, 1.4) * lp;
    }
    REQUIRE(out > 0);
    REQUIRE(lower > 0);
    CHECK(r.stats.pg_clipfrac == doctest::Approx(out / (n + 1e-8)).epsilon(1e-14));
    CHECK(r.stats.pg_clipfrac_lower == doctest::Approx(lower / (n + 1e-8)).epsilon(1e-14));
    CHECK(r.stats.ppo_kl == doctest::Approx(kl / (n + 1e-8)).epsilon(1e-13));
    CHECK(r.loss == doctest::Approx(loss / n).epsilon(1e-13));
    // exec::par gives the same bits.
    std::vector<double> g = c.grad;
    const auto p = c.run(o, exec::par.with_threads(3));
    CHECK(p.loss == r.loss);
    CHECK(c.grad == g);
  }
}

TEST_CASE("policy_loss: DPPO with rollout weights equals the weighted oracle; float agrees with double") {
  for (auto mode : {policy_loss_mode::dppo_tv, policy_loss_mode::dppo_kl}) {
    CAPTURE(static_cast<int>(mode));
    auto b = test::make_batch<double>(seed_t{52}, 6, 17, 0.5, 0, 0.0);
    std::vector<double> w(b.mask.size());
    for (std::size_t k = 0; k < w.size(); ++k) w[k] = k % 7 == 0 ? 0.0 : 0.1 + 0.13 * static_cast<double>(k % 11);
    policy_loss_options o = base_options(loss_aggregation::seq_mean_token_mean, kl_estimator::k3);
    o.mode = mode, o.clip_ratio_c = 1.2, o.clip_ratio_low = o.clip_ratio_high = 0.05, o.entropy_coeff = 0;
    call<double> c;
    c.b = b;
    c.token_adv = true;
    auto in = c.inputs();
    in.token_weights = {w.data(), b.rows, b.cols};
    std::vector<double> gw(w.size()), gu(w.size());
    const auto rw = policy_loss(in, policy_loss_grads<double>{{gw.data(), b.rows, b.cols}, {}}, o);
    test::reference_batch ref = to_reference(b, true);
    ref.iw = w;
    CHECK(rw.loss == doctest::Approx(test::reference_loss(ref, o)).epsilon(1e-12));
    // Without KL the pg gradient is token-local: the weighted gradient is the weight times the unweighted one.
    o.kl = kl_estimator::none;
    (void)policy_loss(in, policy_loss_grads<double>{{gw.data(), b.rows, b.cols}, {}}, o);
    in.token_weights = {};
    const auto ru = policy_loss(in, policy_loss_grads<double>{{gu.data(), b.rows, b.cols}, {}}, o);
    for (std::size_t k = 0; k < w.size(); ++k) CHECK(gw[k] == doctest::Approx(w[k] * gu[k]).epsilon(1e-14));
    CHECK(ru.stats.pg_clipfrac > 0.0);
    // Float: the same batch to float precision (the masks' decisions are far from their thresholds here or flip
    // few tokens: compared by the loss at 1e-4).
    call<float> cf;
    cf.b = test::make_batch<float>(seed_t{52}, 6, 17, 0.5, 0, 0.0f);
    cf.token_adv = true;
    const auto rf = cf.run(o);
    c.b = b;
    const auto rd = c.run(o);
    CHECK(rf.loss == doctest::Approx(rd.loss).epsilon(1e-4).scale(1e-3));
    CHECK(rf.stats.pg_clipfrac == doctest::Approx(rd.stats.pg_clipfrac).epsilon(1e-6));
  }
}

} // TEST_SUITE("losses")

TEST_CASE("vexp: within 2 ulp of exp over the float range, exact at 0, saturating and NaN-preserving at the ends") {
  // The exponential every backend's ratio and k3 term use (detail/math.hpp), checked against double exp on a sweep
  // of about 1.1M points covering [-86.9, 88.72] and densely the [-20, 20] of the log-ratio clamps.
  double worst = 0;
  auto check = [&](float x) {
    const double want = std::exp(static_cast<double>(x));
    const float ulp =
        std::nextafter(static_cast<float>(want), std::numeric_limits<float>::infinity()) - static_cast<float>(want);
    worst = std::max(worst, std::abs(static_cast<double>(detail::vexp(x)) - want) / static_cast<double>(ulp));
  };
  for (int k = 0; k <= 100000; ++k) check(-86.9f + 175.62f * static_cast<float>(k) / 100000.0f);
  check(88.7228f);
  for (int k = 0; k <= 1000000; ++k) check(-20.0f + 40.0f * static_cast<float>(k) / 1000000.0f);
  CHECK(worst <= 2.0);
  CHECK(detail::vexp(0.0f) == 1.0f);
  CHECK(detail::vexp(89.0f) == std::numeric_limits<float>::infinity());
  CHECK(detail::vexp(std::numeric_limits<float>::infinity()) == std::numeric_limits<float>::infinity());
  CHECK(detail::vexp(-87.5f) == 0.0f);
  CHECK(detail::vexp(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(std::isnan(detail::vexp(std::numeric_limits<float>::quiet_NaN())));
}
