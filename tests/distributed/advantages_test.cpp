// SPDX-License-Identifier: Apache-2.0
// Distributed GRPO / Dr. GRPO / RLOO: every rank's advantages bitwise equal to the single-process call on the whole
// batch, for 1 to 4 ranks and random splits; errors raised on every rank alike.
#include "thread_communicator.hpp"

#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/distributed/advantages.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace {
using namespace mmrag_rft;
using mmrag_rft::test::run_ranks;
using mmrag_rft::test::thread_communicator;

template <class T>
struct batch {
  std::vector<T> rewards;
  std::vector<std::uint64_t> keys;
};

/// `groups` prompts with `size(rng)` completions each, rewards drawn from a few levels (ties, all-equal groups) or
/// uniform, members either adjacent (verl's repeat) or shuffled over the whole batch.
template <class T, class Size>
batch<T> make(std::mt19937_64& rng, std::size_t groups, Size size, bool shuffle, double nan_rate = 0) {
  batch<T> b;
  std::uniform_real_distribution<double> u(-1, 1);
  for (std::size_t g = 0; g < groups; ++g) {
    const std::uint64_t key = rng();
    const std::size_t s = size(rng);
    const bool levels = rng() % 2;
    for (std::size_t j = 0; j < s; ++j) {
      T r = levels ? static_cast<T>(0.1 * static_cast<double>(rng() % 3)) : static_cast<T>(u(rng));
      if (nan_rate > 0 && u(rng) < 2 * nan_rate - 1) r = std::numeric_limits<T>::quiet_NaN();
      b.rewards.push_back(r);
      b.keys.push_back(key);
    }
  }
  if (shuffle) {
    std::vector<std::size_t> p(b.rewards.size());
    for (std::size_t i = 0; i < p.size(); ++i) p[i] = i;
    std::shuffle(p.begin(), p.end(), rng);
    batch<T> s;
    for (const std::size_t i : p) s.rewards.push_back(b.rewards[i]), s.keys.push_back(b.keys[i]);
    return s;
  }
  return b;
}

/// Random cut points of n items into `ranks` contiguous shards (some possibly empty).
std::vector<std::size_t> cuts(std::mt19937_64& rng, std::size_t n, int ranks) {
  std::vector<std::size_t> c{0, n};
  for (int r = 1; r < ranks; ++r) c.push_back(n ? rng() % (n + 1) : 0);
  std::sort(c.begin(), c.end());
  return c;
}

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

/// Runs `dist` on every rank of a split of `b` and compares against `single` on the whole batch.
template <class T, class Options, class Single, class Dist>
void check_split(const batch<T>& b, const std::vector<std::size_t>& c, const Options& o, Single single, Dist dist) {
  const std::size_t n = b.rewards.size();
  std::vector<T> ref(n), got(n, T(-7));
  std::vector<std::uint8_t> ref_keep(n), got_keep(n, 9);
  const auto groups = keyed_groups::from_keys(std::span<const std::uint64_t>(b.keys));
  const advantage_summary want =
      single(std::span<const T>(b.rewards), groups, std::span<T>(ref), o, std::span<std::uint8_t>(ref_keep));
  const int ranks = static_cast<int>(c.size()) - 1;
  std::vector<advantage_summary> sums(static_cast<std::size_t>(ranks));
  const auto errors = run_ranks(ranks, [&](const thread_communicator& comm) {
    const auto r = static_cast<std::size_t>(comm.rank());
    const std::size_t lo = c[r], len = c[r + 1] - c[r];
    sums[r] = dist(comm, std::span<const T>(b.rewards).subspan(lo, len),
                   std::span<const std::uint64_t>(b.keys).subspan(lo, len), std::span<T>(got).subspan(lo, len), o,
                   std::span<std::uint8_t>(got_keep).subspan(lo, len));
  });
  for (const auto& e : errors) REQUIRE_FALSE(e);
  CHECK(same_bits(ref, got));
  CHECK(ref_keep == got_keep);
  for (const auto& s : sums) {
    CHECK(s.groups == want.groups);
    CHECK(s.degenerate_groups == want.degenerate_groups);
    CHECK(s.singleton_groups == want.singleton_groups);
    CHECK(s.masked_out == want.masked_out);
  }
}

const auto grpo_single = [](auto r, const keyed_groups& g, auto a, const grpo_options& o, auto k) {
  return grpo_advantages(r, g, a, o, k);
};
const auto grpo_dist = [](const thread_communicator& c, auto r, auto keys, auto a, const grpo_options& o, auto k) {
  return distributed_grpo_advantages(c, r, keys, a, o, k);
};
const auto rloo_single = [](auto r, const keyed_groups& g, auto a, const rloo_options& o, auto k) {
  return rloo_advantages(r, g, a, o, k);
};
const auto rloo_dist = [](const thread_communicator& c, auto r, auto keys, auto a, const rloo_options& o, auto k) {
  return distributed_rloo_advantages(c, r, keys, a, o, k);
};

grpo_options batch_scaled() {
  grpo_options o;
  o.scale = reward_scale::batch;
  return o;
}
grpo_options masking() {
  grpo_options o;
  o.nonfinite = nonfinite_rewards::mask_out;
  return o;
}

} // namespace

TEST_CASE_TEMPLATE("distributed GRPO and RLOO are bitwise the single-process result for 1-4 ranks", T, float, double) {
  std::mt19937_64 rng(20240611);
  const auto uniform8 = [](std::mt19937_64&) { return std::size_t{8}; };
  const auto uniform5 = [](std::mt19937_64&) { return std::size_t{5}; };
  const auto ragged = [](std::mt19937_64& g) { return std::size_t{1} + g() % 9; };
  const grpo_options grpo_opts[] = {grpo_options::verl(), grpo_options::trl(), grpo_options::dr_grpo(), batch_scaled(),
                                    masking()};
  rloo_options rloo_masking;
  rloo_masking.nonfinite = nonfinite_rewards::mask_out;
  const rloo_options rloo_opts[] = {rloo_options{}, rloo_masking};
  for (int ranks = 1; ranks <= 4; ++ranks)
    for (int trial = 0; trial < 6; ++trial) {
      CAPTURE(ranks);
      CAPTURE(trial);
      const bool shuffle = trial % 2;
      const std::size_t groups = 1 + rng() % 40;
      const batch<T> u8 = make<T>(rng, groups, uniform8, shuffle), u5 = make<T>(rng, groups, uniform5, shuffle),
                     rg = make<T>(rng, groups, ragged, shuffle), nan = make<T>(rng, groups, ragged, shuffle, 0.15);
      for (const batch<T>* b : {&u8, &u5, &rg}) {
        const auto c = cuts(rng, b->rewards.size(), ranks);
        for (const grpo_options& o : grpo_opts) check_split(*b, c, o, grpo_single, grpo_dist);
        for (const rloo_options& o : rloo_opts) check_split(*b, c, o, rloo_single, rloo_dist);
      }
      const auto c = cuts(rng, nan.rewards.size(), ranks);
      check_split(nan, c, masking(), grpo_single, grpo_dist);
      check_split(nan, c, rloo_masking, rloo_single, rloo_dist);
    }
}

TEST_CASE("distributed GRPO: a group split over every rank, hand-worked") {
  // One prompt, four completions with rewards 0, 1, 1, 0 one per rank: mean 0.5, unbiased std sqrt(1/3).
  const std::vector<double> r{0, 1, 1, 0};
  const std::vector<std::uint64_t> k(4, 42);
  std::vector<double> a(4);
  const auto errors = run_ranks(4, [&](const thread_communicator& comm) {
    const auto i = static_cast<std::size_t>(comm.rank());
    const auto s = distributed_grpo_advantages(comm, std::span<const double>(r).subspan(i, 1),
                                               std::span<const std::uint64_t>(k).subspan(i, 1),
                                               std::span<double>(a).subspan(i, 1));
    CHECK(s.groups == 1);
  });
  for (const auto& e : errors) REQUIRE_FALSE(e);
  const double want = 0.5 / (std::sqrt(1.0 / 3.0) + 1e-6);
  CHECK(a[0] == doctest::Approx(-want).epsilon(1e-15));
  CHECK(a[1] == doctest::Approx(want).epsilon(1e-15));
}

TEST_CASE("distributed GRPO: errors are raised on every rank") {
  const std::vector<double> r{0, 1, std::nan(""), 0};
  const std::vector<std::uint64_t> k{1, 1, 2, 2};
  std::vector<double> a(4);
  auto run = [&](const grpo_options& o, std::vector<std::uint64_t> keys) {
    return run_ranks(2, [&](const thread_communicator& comm) {
      const auto i = static_cast<std::size_t>(2 * comm.rank());
      (void)distributed_grpo_advantages(comm, std::span<const double>(r).subspan(i, 2),
                                        std::span<const std::uint64_t>(keys).subspan(i, 2),
                                        std::span<double>(a).subspan(i, 2), o);
    });
  };
  for (const auto& e : run(grpo_options{}, k)) {
    REQUIRE(e);
    CHECK_THROWS_WITH_AS(std::rethrow_exception(e), doctest::Contains("rewards[2] is not finite (rank 1"),
                         mmrag_rft::error);
  }
  grpo_options refuse = masking();
  refuse.singleton = singleton_group::error;
  for (const auto& e : run(refuse, {1, 1, 2, 3})) CHECK(e);
  // Mismatched spans on one rank: both ranks throw, none waits forever.
  const auto errors = run_ranks(2, [&](const thread_communicator& comm) {
    std::vector<double> out(comm.rank() == 0 ? 2 : 1);
    (void)distributed_grpo_advantages(comm, std::span<const double>(r).subspan(0, 2),
                                      std::span<const std::uint64_t>(k).subspan(0, 2), std::span<double>(out));
  });
  for (const auto& e : errors) CHECK(e);
}
