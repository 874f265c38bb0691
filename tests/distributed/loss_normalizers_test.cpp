// SPDX-License-Identifier: Apache-2.0
// Global loss normalisers: the sum over ranks (and micro-batches) of each rank's policy-loss gradient, reduced as
// DDP reduces it, equals the single-process gradient of the whole batch, for every aggregation mode.
#include "thread_communicator.hpp"

#include <mmrag_rft/distributed/loss_normalizers.hpp>
#include <mmrag_rft/losses.hpp>

#include <support/generators.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace {
using namespace mmrag_rft;
using mmrag_rft::test::random_batch;
using mmrag_rft::test::run_ranks;
using mmrag_rft::test::thread_communicator;

/// Rows [lo, hi) of `b` re-padded to `cols` columns (every valid token of those rows fits).
random_batch<double> slice(const random_batch<double>& b, std::size_t lo, std::size_t hi, std::size_t cols) {
  random_batch<double> s;
  s.rows = hi - lo, s.cols = cols;
  const std::size_t n = s.rows * cols;
  for (auto* v : {&s.log_probs, &s.old_log_probs, &s.ref_log_probs, &s.entropy, &s.token_advantages}) v->assign(n, 0.0);
  s.mask.assign(n, 0);
  for (std::size_t i = lo; i < hi; ++i) {
    s.seq_advantages.push_back(b.seq_advantages[i]);
    for (std::size_t t = 0; t < std::min(cols, b.cols); ++t) {
      const std::size_t from = i * b.cols + t, to = (i - lo) * cols + t;
      s.mask[to] = b.mask[from];
      if (!b.mask[from]) continue;
      s.log_probs[to] = b.log_probs[from], s.old_log_probs[to] = b.old_log_probs[from];
      s.ref_log_probs[to] = b.ref_log_probs[from], s.entropy[to] = b.entropy[from];
    }
  }
  return s;
}

/// The longest valid length of rows [lo, hi), at least 1 (a micro-batch padded as tightly as it can be).
std::size_t longest(const random_batch<double>& b, std::size_t lo, std::size_t hi) {
  std::size_t m = 1;
  for (std::size_t i = lo; i < hi; ++i)
    for (std::size_t t = 0; t < b.cols; ++t)
      if (b.mask[i * b.cols + t]) m = std::max(m, t + 1);
  return m;
}

struct run_out {
  double loss;
  std::vector<double> grad, grad_ent;
};

run_out loss_of(const random_batch<double>& s, const policy_loss_options& o) {
  run_out r{0, std::vector<double>(s.rows * s.cols), std::vector<double>(s.rows * s.cols)};
  policy_loss_inputs<double> in;
  in.log_probs = {s.log_probs.data(), s.rows, s.cols};
  in.old_log_probs = {s.old_log_probs.data(), s.rows, s.cols};
  in.sequence_advantages = s.seq_advantages;
  in.mask = {s.mask.data(), s.rows, s.cols};
  in.ref_log_probs = {s.ref_log_probs.data(), s.rows, s.cols};
  in.entropy = {s.entropy.data(), s.rows, s.cols};
  r.loss = policy_loss(in, {{r.grad.data(), s.rows, s.cols}, {r.grad_ent.data(), s.rows, s.cols}}, o).loss;
  return r;
}

std::vector<std::size_t> cuts(std::mt19937_64& rng, std::size_t lo, std::size_t hi, int parts) {
  std::vector<std::size_t> c{lo, hi};
  for (int k = 1; k < parts; ++k) c.push_back(lo + rng() % (hi - lo + 1));
  std::sort(c.begin(), c.end());
  return c;
}

} // namespace

TEST_CASE("global normalisers: the ranks' gradients sum to the single-process gradient, every aggregation") {
  std::mt19937_64 rng(7);
  const loss_aggregation modes[] = {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum,
                                    loss_aggregation::seq_mean_token_mean, loss_aggregation::seq_mean_token_sum_norm};
  for (int ranks = 1; ranks <= 4; ++ranks)
    for (int trial = 0; trial < 4; ++trial)
      for (const loss_aggregation agg : modes)
        for (const policy_loss_mode mode : {policy_loss_mode::ppo_clip, policy_loss_mode::gspo})
          for (const gradient_reduction red : {gradient_reduction::sum, gradient_reduction::mean}) {
            CAPTURE(ranks);
            CAPTURE(trial);
            CAPTURE(to_string(agg));
            const std::size_t rows = 1 + rng() % 24, cols = 1 + rng() % 12;
            const auto b = test::make_batch<double>(test::seed_t{rng()}, rows, cols, 0.4, trial == 0 ? 0 : 1);
            policy_loss_options o = policy_loss_options::verl();
            o.aggregation = agg, o.mode = mode, o.kl = kl_estimator::k3, o.kl_coef = 0.1, o.entropy_coeff = 0.01;
            // Each rank's rows, each cut into up to three micro-batches, each padded to its own longest row.
            const auto rank_cut = cuts(rng, 0, rows, ranks);
            std::vector<std::vector<std::size_t>> micro(static_cast<std::size_t>(ranks));
            std::size_t widest = 1;
            for (int r = 0; r < ranks; ++r) {
              micro[static_cast<std::size_t>(r)] =
                  cuts(rng, rank_cut[static_cast<std::size_t>(r)], rank_cut[static_cast<std::size_t>(r) + 1],
                       1 + static_cast<int>(rng() % 3));
              const auto& m = micro[static_cast<std::size_t>(r)];
              for (std::size_t k = 0; k + 1 < m.size(); ++k) widest = std::max(widest, longest(b, m[k], m[k + 1]));
            }
            const run_out want = loss_of(slice(b, 0, rows, widest), o);
            std::vector<double> grad(rows * widest, 0.0), grad_ent(rows * widest, 0.0),
                losses(static_cast<std::size_t>(ranks));
            const auto errors = run_ranks(ranks, [&](const thread_communicator& comm) {
              const auto& m = micro[static_cast<std::size_t>(comm.rank())];
              std::vector<random_batch<double>> parts;
              std::vector<mask_view> masks;
              for (std::size_t k = 0; k + 1 < m.size(); ++k)
                parts.push_back(slice(b, m[k], m[k + 1], longest(b, m[k], m[k + 1])));
              for (const auto& s : parts) masks.emplace_back(s.mask.data(), s.rows, s.cols);
              const global_loss_normalizers n = step_loss_normalizers(comm, std::span<const mask_view>(masks));
              const policy_loss_options mo = micro_batch_loss_options(o, n, red);
              double loss = 0;
              for (std::size_t k = 0; k < parts.size(); ++k) {
                const run_out got = loss_of(parts[k], mo);
                loss += got.loss;
                // Every row lives on one rank and one micro-batch: its gradient is its part of the DDP reduction.
                for (std::size_t i = 0; i < parts[k].rows; ++i)
                  for (std::size_t t = 0; t < parts[k].cols; ++t) {
                    const std::size_t at = (m[k] + i) * widest + t, from = i * parts[k].cols + t;
                    grad[at] = got.grad[from], grad_ent[at] = got.grad_ent[from];
                  }
              }
              losses[static_cast<std::size_t>(comm.rank())] = loss;
            });
            for (const auto& e : errors) REQUIRE_FALSE(e);
            double total = 0;
            for (const double l : losses) total += red == gradient_reduction::mean ? l / ranks : l;
            CHECK(total == doctest::Approx(want.loss).epsilon(1e-12));
            if (red == gradient_reduction::sum) {
              CHECK(std::memcmp(grad.data(), want.grad.data(), grad.size() * sizeof(double)) == 0);
              CHECK(std::memcmp(grad_ent.data(), want.grad_ent.data(), grad.size() * sizeof(double)) == 0);
            } else {
              for (std::size_t i = 0; i < grad.size(); ++i) {
                CHECK(grad[i] / ranks == doctest::Approx(want.grad[i]).epsilon(1e-14));
                CHECK(grad_ent[i] / ranks == doctest::Approx(want.grad_ent[i]).epsilon(1e-14));
              }
            }
          }
}

TEST_CASE("global normalisers: hand-worked counts and options") {
  const std::vector<std::uint8_t> a{1, 1, 0, 0, 0, 0}, b{1, 1, 1, 1};
  const mask_view ma(a.data(), 2, 3), mb(b.data(), 1, 4);
  const auto errors = run_ranks(2, [&](const thread_communicator& comm) {
    const std::vector<mask_view> mine{comm.rank() == 0 ? ma : mb};
    const global_loss_normalizers n = step_loss_normalizers(comm, std::span<const mask_view>(mine));
    CHECK(n.tokens == 6);
    CHECK(n.sequences == 2); // the all-masked row does not count
    CHECK(n.max_length == 4);
    CHECK(n.ranks == 2);
    policy_loss_options o;
    CHECK(micro_batch_loss_options(o, n).normalizer == 6.0);
    o.aggregation = loss_aggregation::seq_mean_token_mean;
    CHECK(micro_batch_loss_options(o, n).normalizer == 2.0);
    o.aggregation = loss_aggregation::seq_mean_token_sum_norm;
    CHECK(micro_batch_loss_options(o, n).normalizer == 4.0);
    o.normalizer = 1024.0; // a fixed constant (TRL's B * L_max, verl's loss_scale_factor) is kept
    CHECK(micro_batch_loss_options(o, n, gradient_reduction::mean).normalizer == 1024.0);
    CHECK(micro_batch_loss_options(o, n, gradient_reduction::mean).loss_scale == 2.0);
  });
  for (const auto& e : errors) REQUIRE_FALSE(e);
}
