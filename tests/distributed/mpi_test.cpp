// SPDX-License-Identifier: Apache-2.0
// The distributed algorithms over MPI (run by ctest through mpirun with 1 to 4 processes): every rank's GRPO, RLOO
// advantages bitwise equal to the single-process result on the whole batch, the step normalisers and metrics equal
// to the whole batch's, and rft_step(comm, ...) on a rank's shard equal to the single-process step on the whole
// batch (advantages and per-token gradients bitwise). Exits non-zero on any rank where a check fails.
#include "step_fixtures.hpp"

#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/distributed/advantages.hpp>
#include <mmrag_rft/distributed/loss_normalizers.hpp>
#include <mmrag_rft/distributed/metrics.hpp>
#include <mmrag_rft/mpi.hpp>

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <random>
#include <vector>

namespace {
using namespace mmrag_rft;

int failures = 0;
void expect(bool ok, const char* what, int rank) {
  if (!ok) ++failures, std::fprintf(stderr, "rank %d: FAILED %s\n", rank, what);
}

template <class Options, class Single, class Dist>
void check_advantages(const mpi_communicator& comm, std::mt19937_64& rng, const Options& o, Single single, Dist dist,
                      const char* what) {
  // The same batch and split on every rank (one seed): groups of 1 to 8, members shuffled over the batch.
  std::vector<double> rewards;
  std::vector<std::uint64_t> keys;
  const std::size_t groups = 1 + rng() % 30;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::uint64_t key = rng();
    const std::size_t size = 2 + rng() % 7;
    for (std::size_t j = 0; j < size; ++j) rewards.push_back(static_cast<double>(rng() % 5) * 0.1), keys.push_back(key);
  }
  std::vector<std::size_t> perm(rewards.size());
  for (std::size_t i = 0; i < perm.size(); ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<double> r(perm.size());
  std::vector<std::uint64_t> k(perm.size());
  for (std::size_t i = 0; i < perm.size(); ++i) r[i] = rewards[perm[i]], k[i] = keys[perm[i]];
  std::vector<std::size_t> cut{0, r.size()};
  for (int q = 1; q < comm.size(); ++q) cut.push_back(rng() % (r.size() + 1));
  std::sort(cut.begin(), cut.end());
  std::vector<double> want(r.size());
  (void)single(std::span<const double>(r), keyed_groups::from_keys(std::span<const std::uint64_t>(k)),
               std::span<double>(want), o);
  const auto me = static_cast<std::size_t>(comm.rank());
  const std::size_t lo = cut[me], n = cut[me + 1] - lo;
  std::vector<double> got(n);
  (void)dist(comm, std::span<const double>(r).subspan(lo, n), std::span<const std::uint64_t>(k).subspan(lo, n),
             std::span<double>(got), o);
  // memcmp on an empty share would pass a null pointer.
  expect(n == 0 || std::memcmp(got.data(), want.data() + lo, n * sizeof(double)) == 0, what, comm.rank());
}

// rft_step(comm, ...) on this rank's shard of samples 0..6 (the same random split on every rank, empty shards
// included) against the single-process step on all seven, which every rank computes: this rank's rows of the
// advantages bitwise; its d loss / d log-prob, reduced as `gradients` says, bitwise (within 2.4e-7 relative for a
// mean over 3 ranks, where the loss weight times 3 rounds in float); its prompts' model gradients; the metrics of
// the whole batch (reward statistics bitwise).
void check_rft_step(const mpi_communicator& comm, std::mt19937_64& rng) {
  using namespace dist_step_test;
  const std::size_t n = 7;
  const int me = comm.rank(), p = comm.size();
  for (const gradient_reduction red : {gradient_reduction::sum, gradient_reduction::mean})
    for (const std::size_t mini : {std::size_t{1}, std::size_t{2}})
      for (int trial = 0; trial < 3; ++trial) {
        rft_options o = base_options();
        o.gradients = red, o.mini_batches = mini;
        const shard whole = numbered(0, n);
        recording_policy single;
        const rft_step_result want = rft_step(single, whole.samples, whole.prompts, graded, o);
        std::vector<std::size_t> cut{0, n};
        for (int q = 1; q < p; ++q) cut.push_back(rng() % (n + 1));
        std::sort(cut.begin(), cut.end());
        const auto r = static_cast<std::size_t>(me);
        const std::size_t first = cut[r], size = cut[r + 1] - first, G = o.rollout.group_size;
        const shard mine = numbered(first, size);
        recording_policy policy;
        const rft_step_result got = rft_step(comm, policy, mine.samples, mine.prompts, graded, o);
        const std::vector<float> adv_want(want.advantages.begin() + static_cast<std::ptrdiff_t>(first * G),
                                          want.advantages.begin() + static_cast<std::ptrdiff_t>((first + size) * G));
        expect(same_bits(got.advantages, adv_want), "rft_step advantages bitwise", me);
        const double ranks = red == gradient_reduction::mean ? static_cast<double>(p) : 1.0;
        std::vector<float> grads;
        for (const float g : policy.grads) grads.push_back(static_cast<float>(g / ranks));
        const std::vector<float> grads_want(single.grads.begin() + static_cast<std::ptrdiff_t>(first * G),
                                            single.grads.begin() + static_cast<std::ptrdiff_t>((first + size) * G));
        if (red == gradient_reduction::sum || p != 3) {
          expect(same_bits(grads, grads_want), "rft_step per-token gradients bitwise", me);
        } else {
          bool close = grads.size() == grads_want.size();
          for (std::size_t i = 0; close && i < grads.size(); ++i)
            close = std::abs(grads[i] - grads_want[i]) <= 2.4e-7f * std::abs(grads_want[i]);
          expect(close, "rft_step per-token gradients within 2.4e-7 (mean over 3 ranks)", me);
        }
        bool model = true;
        for (const auto& [key, v] : policy.model_grad) {
          const auto& w = single.model_grad.at(key);
          for (std::size_t j = 0; j < v.size(); ++j)
            model = model && std::abs(v[j] / ranks - w[j]) <= 1e-6 * (1e-3 + std::abs(w[j]));
        }
        expect(model && policy.model_grad.size() == size, "rft_step model gradients of this rank's prompts", me);
        const step_metrics& m = got.metrics;
        expect(m.completions == want.metrics.completions && m.reward_mean == want.metrics.reward_mean &&
                   m.reward_std == want.metrics.reward_std &&
                   m.rule_stds.at(1).value == want.metrics.rule_stds.at(1).value,
               "rft_step reward statistics bitwise", me);
        expect(std::abs(m.loss - want.metrics.loss) <= 1e-6 * (1e-6 + std::abs(want.metrics.loss)) &&
                   std::abs(m.entropy - want.metrics.entropy) <= 1e-6 * (1e-6 + std::abs(want.metrics.entropy)) &&
                   m.response_length == want.metrics.response_length,
               "rft_step loss and token metrics", me);
        // Every rank, an empty one too, takes every update.
        expect(policy.steps == want.metrics.updates && m.updates == want.metrics.updates, "rft_step updates", me);
      }
}

} // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  {
    const mpi_communicator comm(MPI_COMM_WORLD);
    std::mt19937_64 rng(99);
    const auto grpo_single = [](auto r, const keyed_groups& g, auto a, const grpo_options& o) {
      return grpo_advantages(r, g, a, o);
    };
    const auto grpo_dist = [](const mpi_communicator& c, auto r, auto k, auto a, const grpo_options& o) {
      return distributed_grpo_advantages(c, r, k, a, o);
    };
    const auto rloo_single = [](auto r, const keyed_groups& g, auto a, const rloo_options& o) {
      return rloo_advantages(r, g, a, o);
    };
    const auto rloo_dist = [](const mpi_communicator& c, auto r, auto k, auto a, const rloo_options& o) {
      return distributed_rloo_advantages(c, r, k, a, o);
    };
    grpo_options batch;
    batch.scale = reward_scale::batch;
    for (int trial = 0; trial < 20; ++trial) {
      check_advantages(comm, rng, grpo_options::verl(), grpo_single, grpo_dist, "GRPO bitwise");
      check_advantages(comm, rng, grpo_options::dr_grpo(), grpo_single, grpo_dist, "Dr. GRPO bitwise");
      check_advantages(comm, rng, batch, grpo_single, grpo_dist, "GRPO batch std bitwise");
      check_advantages(comm, rng, rloo_options{}, rloo_single, rloo_dist, "RLOO bitwise");
    }
    // Normalisers: rank r holds r + 1 rows of r + 2 valid tokens each, padded to r + 3.
    const int r = comm.rank(), p = comm.size();
    const auto rows = static_cast<std::size_t>(r + 1), cols = static_cast<std::size_t>(r + 3);
    std::vector<std::uint8_t> mask(rows * cols, 0);
    for (std::size_t i = 0; i < rows; ++i) std::fill_n(mask.begin() + static_cast<std::ptrdiff_t>(i * cols), r + 2, 1);
    const mask_view m(mask.data(), rows, cols);
    const global_loss_normalizers n = step_loss_normalizers(comm, std::span<const mask_view>(&m, 1));
    double tokens = 0, seqs = 0;
    for (int q = 0; q < p; ++q) tokens += (q + 1) * (q + 2), seqs += q + 1;
    expect(n.tokens == tokens && n.sequences == seqs && n.max_length == p + 2 && n.ranks == p, "normalisers", r);
    metric_reducer metrics;
    metrics.add_lengths(m);
    const auto v = metrics.reduce(comm);
    expect(v[0].value == tokens / seqs && v[1].value == p + 1 && v[2].value == 2, "length metrics", r);
    // Options that differ on the last rank (the batch std there: it would gather the whole batch while the others
    // gather group tables) raise the same error on every rank instead of a hang; shards of r + 1 rewards, one NaN
    // on the last rank with agreed options raises the same error everywhere too.
    if (p > 1) {
      grpo_options mine;
      if (r == p - 1) mine.scale = reward_scale::batch;
      std::vector<double> rw(static_cast<std::size_t>(r + 1), 0.25), adv(rw.size());
      std::vector<std::uint64_t> keys(rw.size(), 5);
      std::string text;
      try {
        (void)distributed_grpo_advantages(comm, std::span<const double>(rw), std::span<const std::uint64_t>(keys),
                                          std::span<double>(adv), mine);
      } catch (const error& e) {
        text = e.what();
      }
      expect(text.find("rank " + std::to_string(p - 1)) != std::string::npos, "options disagreement error", r);
      if (r == p - 1) rw.back() = std::numeric_limits<double>::quiet_NaN();
      text.clear();
      try {
        (void)distributed_grpo_advantages(comm, std::span<const double>(rw), std::span<const std::uint64_t>(keys),
                                          std::span<double>(adv), grpo_options{});
      } catch (const error& e) {
        text = e.what();
      }
      expect(text.find("not finite") != std::string::npos, "NaN on one rank: error on every rank", r);
    }
    check_rft_step(comm, rng);
    // The transport's own sum all-reduce, exact for small integers in double.
    double one[1] = {1.0};
    comm.all_reduce_sum(std::span<double>(one));
    expect(one[0] == p, "all_reduce_sum", r);
  }
  int local = failures, total = 0;
  MPI_Allreduce(&local, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (total == 0 && failures == 0) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    if (rank == 0) std::printf("distributed over MPI: all checks passed\n");
  }
  MPI_Finalize();
  return total == 0 ? 0 : 1;
}
