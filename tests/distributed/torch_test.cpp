// SPDX-License-Identifier: Apache-2.0
// The distributed algorithms over a c10d Gloo process group: N ranks as threads sharing a HashStore, each with its
// own ProcessGroupGloo on the loopback device; GRPO and RLOO bitwise equal to one process, and the metrics.
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/distributed/advantages.hpp>
#include <mmrag_rft/distributed/metrics.hpp>
#include <mmrag_rft/torch/distributed.hpp>

#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <random>
#include <thread>
#include <vector>

namespace {
using namespace mmrag_rft;

/// Runs `body(comm)` on `n` threads, one Gloo process group each.
template <class Body>
std::vector<std::exception_ptr> run_gloo(int n, Body body) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        auto options = c10d::ProcessGroupGloo::Options::create();
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, r, n, options);
        body(libtorch::process_group_communicator(group));
      } catch (...) {
        errors[static_cast<std::size_t>(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

} // namespace

TEST_CASE("distributed GRPO and RLOO over c10d Gloo are bitwise the single-process result") {
  std::mt19937_64 rng(5);
  for (int ranks = 1; ranks <= 3; ++ranks) {
    CAPTURE(ranks);
    std::vector<double> r;
    std::vector<std::uint64_t> k;
    for (std::uint64_t g = 0; g < 12; ++g)
      for (std::size_t j = 0, s = 1 + rng() % 8; j < s; ++j)
        r.push_back(static_cast<double>(rng() % 7) / 3), k.push_back(g * 77);
    std::vector<std::size_t> perm(r.size());
    for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    std::vector<double> rs(r.size());
    std::vector<std::uint64_t> ks(r.size());
    for (std::size_t i = 0; i < perm.size(); ++i) rs[i] = r[perm[i]], ks[i] = k[perm[i]];
    std::vector<std::size_t> cut{0, rs.size()};
    for (int q = 1; q < ranks; ++q) cut.push_back(rng() % (rs.size() + 1));
    std::sort(cut.begin(), cut.end());
    const auto groups = keyed_groups::from_keys(std::span<const std::uint64_t>(ks));
    std::vector<double> want_g(rs.size()), want_r(rs.size()), got_g(rs.size()), got_r(rs.size());
    (void)grpo_advantages(std::span<const double>(rs), groups, std::span<double>(want_g));
    (void)rloo_advantages(std::span<const double>(rs), groups, std::span<double>(want_r));
    const auto errors = run_gloo(ranks, [&](const libtorch::process_group_communicator& comm) {
      const auto me = static_cast<std::size_t>(comm.rank());
      const std::size_t lo = cut[me], n = cut[me + 1] - lo;
      const auto rr = std::span<const double>(rs).subspan(lo, n);
      const auto kk = std::span<const std::uint64_t>(ks).subspan(lo, n);
      (void)distributed_grpo_advantages(comm, rr, kk, std::span<double>(got_g).subspan(lo, n));
      (void)distributed_rloo_advantages(comm, rr, kk, std::span<double>(got_r).subspan(lo, n));
      metric_reducer m;
      m.add_sum("count", metric_reduction::sum, static_cast<double>(n));
      CHECK(m.reduce(comm)[0].value == static_cast<double>(rs.size()));
      double one[1] = {1.0};
      comm.all_reduce_sum(std::span<double>(one));
      CHECK(one[0] == ranks);
    });
    for (const auto& e : errors) REQUIRE_FALSE(e);
    CHECK(std::memcmp(got_g.data(), want_g.data(), rs.size() * sizeof(double)) == 0);
    CHECK(std::memcmp(got_r.data(), want_r.data(), rs.size() * sizeof(double)) == 0);
  }
}
