// SPDX-License-Identifier: Apache-2.0
// process_group_communicator over an NCCL process group (one rank on the first GPU): the host spans staged through
// CUDA tensors, and the distributed algorithms unchanged on it (needs a GPU; without one the test exits 77).
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/distributed/advantages.hpp>
#include <mmrag_rft/torch/distributed.hpp>

#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#include <torch/torch.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

using namespace mmrag_rft;
namespace lt = mmrag_rft::libtorch;

TEST_CASE("libtorch::process_group_communicator over NCCL: collectives on the CUDA device, results on the host") {
  if (!torch::cuda::is_available()) {
    std::fputs("no CUDA device: skipped\n", stderr);
    std::exit(77);
  }
  const torch::Device gpu(torch::kCUDA, 0);
  auto store = c10::make_intrusive<c10d::HashStore>();
  auto group = c10::make_intrusive<c10d::ProcessGroup>(store, 0, 1);
  group->setBackend(c10::kCUDA, c10d::ProcessGroup::BackendType::NCCL,
                    c10::make_intrusive<c10d::ProcessGroupNCCL>(store, 0, 1));
  group->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
  CHECK_THROWS_WITH_AS((void)lt::process_group_communicator(group), doctest::Contains("is an NCCL group"), error);
  const lt::process_group_communicator comm(group, gpu);
  std::vector<double> d{0.5, -3.0};
  std::vector<std::int64_t> k{std::int64_t{1} << 50, -7};
  comm.all_reduce_sum(std::span<double>(d));
  comm.all_reduce_sum(std::span<std::int64_t>(k));
  CHECK(d == std::vector<double>{0.5, -3.0});
  CHECK(k == std::vector<std::int64_t>{std::int64_t{1} << 50, -7});
  std::vector<double> out(2, -99.0);
  comm.all_gather(std::span<const double>(d), std::span<double>(out));
  CHECK(out == d); // copied back from the device
  // A distributed algorithm over the group: one rank's keyed GRPO is the single-process result, bitwise.
  const std::vector<double> r{1.0, 0.0, 0.5, 1.0, 1.0, 0.25};
  const std::vector<std::uint64_t> keys{3, 3, 9, 9, 9, 4};
  std::vector<double> want(r.size()), got(r.size());
  (void)grpo_advantages(std::span<const double>(r), keyed_groups::from_keys(std::span<const std::uint64_t>(keys)),
                        std::span<double>(want));
  (void)distributed_grpo_advantages(comm, std::span<const double>(r), std::span<const std::uint64_t>(keys),
                                    std::span<double>(got));
  CHECK(std::memcmp(got.data(), want.data(), r.size() * sizeof(double)) == 0);
  group->shutdown();
}
