// SPDX-License-Identifier: Apache-2.0
// Metrics across ranks: token-weighted, sequence-weighted, summed and extreme metrics reduced over any split of a
// batch equal those of the whole batch in one process.
#include "thread_communicator.hpp"

#include <mmrag_rft/distributed/metrics.hpp>
#include <mmrag_rft/losses.hpp>

#include <support/generators.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace {
using namespace mmrag_rft;
using mmrag_rft::test::run_ranks;
using mmrag_rft::test::thread_communicator;

/// The stats of `policy_loss` on rows [lo, hi) of `b`, and the metrics of those rows added to `m`.
void add_rows(metric_reducer& m, const test::random_batch<double>& b, std::size_t lo, std::size_t hi,
              const std::vector<double>& format_scores) {
  const std::size_t rows = hi - lo, c = b.cols, at = lo * c;
  policy_loss_inputs<double> in;
  in.log_probs = {b.log_probs.data() + at, rows, c};
  in.old_log_probs = {b.old_log_probs.data() + at, rows, c};
  in.sequence_advantages = std::span<const double>(b.seq_advantages).subspan(lo, rows);
  in.mask = {b.mask.data() + at, rows, c};
  in.ref_log_probs = {b.ref_log_probs.data() + at, rows, c};
  in.entropy = {b.entropy.data() + at, rows, c};
  std::vector<double> g(rows * c);
  policy_loss_options o;
  o.kl = kl_estimator::k3;
  m.add(policy_loss(in, {{g.data(), rows, c}}, o).stats);
  m.add_lengths(in.mask);
  m.add_rewards("format", std::span<const double>(format_scores).subspan(lo, rows));
}

std::map<std::string, reduced_metric> by_name(const std::vector<reduced_metric>& v) {
  std::map<std::string, reduced_metric> m;
  for (const auto& x : v) m[x.name] = x;
  return m;
}

} // namespace

TEST_CASE("metrics across ranks equal the whole batch's, each with its normaliser") {
  std::mt19937_64 rng(11);
  for (int ranks = 1; ranks <= 4; ++ranks)
    for (int trial = 0; trial < 5; ++trial) {
      CAPTURE(ranks);
      const std::size_t rows = 1 + rng() % 20, cols = 1 + rng() % 10;
      const auto b = test::make_batch<double>(test::seed_t{rng()}, rows, cols, 0.4, 0);
      std::vector<double> format(rows);
      for (auto& f : format) f = static_cast<double>(rng() % 3) / 2.0;
      metric_reducer whole;
      add_rows(whole, b, 0, rows, format);
      const auto want = by_name(whole.reduce(single_process_communicator{}));
      std::vector<std::size_t> cut{0, rows};
      for (int r = 1; r < ranks; ++r) cut.push_back(rng() % (rows + 1));
      std::sort(cut.begin(), cut.end());
      std::vector<std::map<std::string, reduced_metric>> got(static_cast<std::size_t>(ranks));
      const auto errors = run_ranks(ranks, [&](const thread_communicator& comm) {
        const auto r = static_cast<std::size_t>(comm.rank());
        metric_reducer m;
        add_rows(m, b, cut[r], cut[r + 1], format);
        got[r] = by_name(m.reduce(comm));
      });
      for (const auto& e : errors) REQUIRE_FALSE(e);
      for (const auto& g : got) {
        REQUIRE(g.size() == want.size());
        for (const auto& [name, w] : want) {
          const std::string& metric_name = name; // clang before 16 cannot capture a structured binding in CAPTURE
          CAPTURE(metric_name);
          CHECK(g.at(name).value == doctest::Approx(w.value).epsilon(1e-12));
          CHECK(g.at(name).weight == w.weight);
        }
      }
      // Every rank gets the same bits (one fixed order of the sums).
      for (const auto& g : got)
        for (const auto& [name, x] : g) CHECK(x.value == got.front().at(name).value);
    }
}

TEST_CASE("metric_reducer: hand-worked values, empty ranks, mismatched lists") {
  const auto errors = run_ranks(3, [&](const thread_communicator& comm) {
    metric_reducer m;
    const int r = comm.rank();
    // rank 0: 2 tokens with clip fraction 0.5; rank 1: 6 tokens at 0.25; rank 2: nothing.
    m.add_mean("clip", metric_reduction::token_mean, r == 0 ? 0.5 : 0.25, r == 0 ? 2 : r == 1 ? 6 : 0);
    m.add_sum("count", metric_reduction::sum, r + 1.0);
    m.add_sum("max", metric_reduction::max, r == 2 ? -std::numeric_limits<double>::infinity() : r * 10.0);
    const auto v = m.reduce(comm);
    CHECK(v[0].value == doctest::Approx((0.5 * 2 + 0.25 * 6) / 8));
    CHECK(v[0].weight == 8);
    CHECK(v[1].value == 6);
    CHECK(v[2].value == 10);
  });
  for (const auto& e : errors) REQUIRE_FALSE(e);
  const auto bad = run_ranks(2, [&](const thread_communicator& comm) {
    metric_reducer m;
    m.add_sum("a", metric_reduction::sum, 1);
    if (comm.rank() == 1) m.add_sum("b", metric_reduction::sum, 1);
    (void)m.reduce(comm);
  });
  for (const auto& e : bad) CHECK(e);
}
