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
#include <optional>
#include <string>
#include <random>
#include <thread>
#include <vector>

namespace {
using namespace mmrag_rft;

/// Runs `body(comm)` on `n` threads, one Gloo process group each; with a `device` the communicator runs the
/// collectives on tensors on it (the path an NCCL group takes with a CUDA device).
template <class Body>
std::vector<std::exception_ptr> run_gloo(int n, Body body, std::optional<c10::Device> device = std::nullopt) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        auto options = c10d::ProcessGroupGloo::Options::create();
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        auto group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, r, n, options);
        body(device ? libtorch::process_group_communicator(group, *device)
                    : libtorch::process_group_communicator(group));
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
  for (int run = 0; run < 6; ++run) {
    const int ranks = 1 + run % 3;
    // Runs 3 to 5 stage every collective through tensors on a device: the CPU here, CUDA for an NCCL group.
    const std::optional<c10::Device> device =
        run < 3 ? std::nullopt : std::optional<c10::Device>(c10::Device(c10::kCPU));
    CAPTURE(ranks);
    CAPTURE(run);
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
    const auto errors = run_gloo(
        ranks,
        [&](const libtorch::process_group_communicator& comm) {
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
        },
        device);
    for (const auto& e : errors) REQUIRE_FALSE(e);
    CHECK(std::memcmp(got_g.data(), want_g.data(), rs.size() * sizeof(double)) == 0);
    CHECK(std::memcmp(got_r.data(), want_r.data(), rs.size() * sizeof(double)) == 0);
  }
}

TEST_CASE("process_group_communicator on a device: the collectives' values copied back into the caller's memory") {
  for (const bool staged : {false, true})
    for (int ranks = 1; ranks <= 3; ++ranks) {
      CAPTURE(staged);
      CAPTURE(ranks);
      const auto errors = run_gloo(
          ranks,
          [&](const libtorch::process_group_communicator& comm) {
            CHECK(comm.device().has_value() == staged);
            const auto r = comm.rank();
            const auto p = static_cast<std::size_t>(ranks);
            // Rank r gives {r, 10 r + 1} (and its int64 counterparts): sums and a gather in rank order follow.
            std::vector<double> d{0.5 * r, 10.0 * r + 1};
            std::vector<std::int64_t> k{r, std::int64_t{1} << (40 + r)};
            comm.all_reduce_sum(std::span<double>(d));
            comm.all_reduce_sum(std::span<std::int64_t>(k));
            const double n = ranks, tri = n * (n - 1) / 2;
            CHECK(d == std::vector<double>{0.5 * tri, 10.0 * tri + n});
            std::int64_t powers = 0;
            for (int q = 0; q < ranks; ++q) powers += std::int64_t{1} << (40 + q);
            CHECK(k == std::vector<std::int64_t>{static_cast<std::int64_t>(tri), powers});
            const std::vector<double> din{1.0 * r, -2.0 * r, 0.25};
            const std::vector<std::int64_t> kin{-r, 7};
            std::vector<double> dout(3 * p, -99);
            std::vector<std::int64_t> kout(2 * p, -99);
            comm.all_gather(std::span<const double>(din), std::span<double>(dout));
            comm.all_gather(std::span<const std::int64_t>(kin), std::span<std::int64_t>(kout));
            for (std::size_t q = 0; q < p; ++q) {
              const auto dq = static_cast<double>(q);
              CHECK(dout[3 * q] == dq);
              CHECK(dout[3 * q + 1] == -2.0 * dq);
              CHECK(dout[3 * q + 2] == 0.25);
              CHECK(kout[2 * q] == -static_cast<std::int64_t>(q));
              CHECK(kout[2 * q + 1] == 7);
            }
            // Empty spans are no collective on any rank; a wrong output size is the caller's located error.
            comm.all_reduce_sum(std::span<double>());
            std::vector<double> none;
            comm.all_gather(std::span<const double>(), std::span<double>(none));
            std::vector<double> short_out(3 * p - 1);
            CHECK_THROWS_WITH_AS(comm.all_gather(std::span<const double>(din), std::span<double>(short_out)),
                                 doctest::Contains("all_gather: out must have size() * in.size() elements"), error);
          },
          staged ? std::optional<c10::Device>(c10::Device(c10::kCPU)) : std::nullopt);
      for (const auto& e : errors) REQUIRE_FALSE(e);
    }
}

namespace {
/// A Gloo group that names its backend "nccl": what the constructors see of an NCCL group, without NCCL.
struct nccl_named_group : c10d::ProcessGroupGloo {
  using c10d::ProcessGroupGloo::ProcessGroupGloo;
  const std::string getBackendName() const override { return "nccl"; }
};
} // namespace

TEST_CASE("process_group_communicator: an NCCL group needs a CUDA device") {
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto options = c10d::ProcessGroupGloo::Options::create();
  options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  const c10::intrusive_ptr<c10d::ProcessGroup> group = c10::make_intrusive<nccl_named_group>(store, 0, 1, options);
  CHECK_THROWS_WITH_AS((void)libtorch::process_group_communicator(group),
                       doctest::Contains("process_group_communicator: group is an NCCL group (CUDA tensors only): "
                                         "pass the CUDA device of this rank"),
                       error);
  CHECK_THROWS_WITH_AS((void)libtorch::process_group_communicator(group, c10::Device(c10::kCPU)),
                       "process_group_communicator: device is cpu, but the group is an NCCL group: its collectives "
                       "need a CUDA device",
                       error);
  // Construction touches no device: a CUDA device is accepted without one.
  const libtorch::process_group_communicator comm(group, c10::Device(c10::kCUDA, 0));
  CHECK((comm.device() == c10::Device(c10::kCUDA, 0)));
  CHECK(comm.size() == 1);
  CHECK_THROWS_WITH_AS(
      (void)libtorch::process_group_communicator(c10::intrusive_ptr<c10d::ProcessGroup>(), c10::Device(c10::kCPU)),
      "process_group_communicator: group is null", error);
}
