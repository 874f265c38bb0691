// SPDX-License-Identifier: Apache-2.0
// rft_step(comm, ...) on 1 to 3 thread ranks: each rank's advantages and d loss / d log-prob are bitwise those of
// one process on the global batch, the ranks' model gradients reduced as the option says are its gradient, and the
// metrics are the global batch's.
#include "step_fixtures.hpp"
#include "thread_communicator.hpp"

#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/pipeline.hpp>

#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

using namespace mmrag_rft;
using mmrag_rft::test::run_ranks;
using mmrag_rft::test::thread_communicator;

namespace dist_step_test {
struct rank_run {
  rft_step_result result;
  std::vector<float> grads;
  std::map<std::string, std::vector<double>> model_grad;
  std::size_t steps = 0;
};

// Runs the step on `shards.size()` ranks, rank r holding samples [offsets[r], offsets[r + 1]) of 0..n-1.
std::vector<rank_run> run_sharded(const std::vector<std::size_t>& sizes, const rft_options& o) {
  std::vector<rank_run> runs(sizes.size());
  std::vector<std::size_t> first(sizes.size(), 0);
  for (std::size_t r = 1; r < sizes.size(); ++r) first[r] = first[r - 1] + sizes[r - 1];
  const auto errors = run_ranks(static_cast<int>(sizes.size()), [&](const thread_communicator& comm) {
    const auto r = static_cast<std::size_t>(comm.rank());
    const shard b = numbered(first[r], sizes[r]);
    recording_policy p;
    runs[r].result = rft_step(comm, p, b.samples, b.prompts, graded, o);
    runs[r].grads = p.grads, runs[r].model_grad = p.model_grad, runs[r].steps = p.steps;
  });
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  return runs;
}
} // namespace dist_step_test

using namespace dist_step_test;

TEST_SUITE("distributed") {

TEST_CASE("rft_step(comm): advantages and per-token gradients bitwise those of one process, 1-3 ranks") {
  const std::size_t n = 7;
  for (const gradient_reduction red : {gradient_reduction::sum, gradient_reduction::mean})
    for (const std::size_t mini : {std::size_t{1}, std::size_t{2}}) {
      rft_options o = base_options();
      o.gradients = red, o.mini_batches = mini;
      const shard whole = numbered(0, n);
      recording_policy single;
      const rft_step_result ref = rft_step(single, whole.samples, whole.prompts, graded, o);
      for (const std::vector<std::size_t>& sizes :
           {std::vector<std::size_t>{7}, {3, 4}, {6, 1}, {0, 5, 2}, {1, 1, 5}, {2, 0, 5}}) {
        CAPTURE(sizes.size());
        CAPTURE(sizes.front());
        CAPTURE(mini);
        const std::vector<rank_run> runs = run_sharded(sizes, o);
        std::vector<float> adv, grads;
        std::map<std::string, std::vector<double>> model;
        for (const rank_run& r : runs) {
          adv.insert(adv.end(), r.result.advantages.begin(), r.result.advantages.end());
          const double ranks = red == gradient_reduction::mean ? static_cast<double>(sizes.size()) : 1.0;
          // The caller's reduction: DDP averages the ranks' gradients, a SUM all-reduce adds them.
          for (const float g : r.grads) grads.push_back(static_cast<float>(g / ranks));
          for (const auto& [key, v] : r.model_grad) {
            auto& m = model[key];
            m.resize(v.size(), 0.0);
            for (std::size_t j = 0; j < v.size(); ++j) m[j] += v[j] / ranks;
          }
          // Every rank, an empty one too, takes every update.
          CHECK(r.steps == ref.metrics.updates);
          CHECK(r.result.metrics.updates == ref.metrics.updates);
        }
        CHECK(same_bits(adv, ref.advantages));
        if (red == gradient_reduction::sum || sizes.size() != 3) {
          // Summed, or averaged over a power of two ranks: scaling by 2^k is exact.
          CHECK(same_bits(grads, single.grads));
        } else {
          // Averaged over 3 ranks: (loss_scale * 3) ... / 3 rounds twice, within 2 float ulps.
          REQUIRE(grads.size() == single.grads.size());
          for (std::size_t i = 0; i < grads.size(); ++i)
            CHECK(std::abs(grads[i] - single.grads[i]) <= 2.4e-7f * std::abs(single.grads[i]));
        }
        // Each prompt's completions sit on one rank here, so its model gradient is that rank's alone.
        REQUIRE(model.size() == single.model_grad.size());
        for (const auto& [key, v] : single.model_grad)
          for (std::size_t j = 0; j < v.size(); ++j)
            CHECK(std::abs(model[key][j] - v[j]) <= 1e-6 * (1e-3 + std::abs(v[j])));
        // The metrics of the global batch on every rank: reward statistics bitwise, the rest up to rounding.
        for (const rank_run& r : runs) {
          const step_metrics& m = r.result.metrics;
          CHECK(m.completions == ref.metrics.completions);
          CHECK(m.reward_mean == ref.metrics.reward_mean);
          CHECK(m.reward_std == ref.metrics.reward_std);
          REQUIRE(m.rule_means.size() == 2);
          CHECK(m.rule_means[1].name == "bonus");
          CHECK(m.rule_means[1].value == ref.metrics.rule_means[1].value);
          CHECK(m.rule_stds[0].value == ref.metrics.rule_stds[0].value);
          CHECK(m.loss == doctest::Approx(ref.metrics.loss).epsilon(1e-6));
          CHECK(m.pg_loss == doctest::Approx(ref.metrics.pg_loss).epsilon(1e-6));
          CHECK(m.entropy == doctest::Approx(ref.metrics.entropy).epsilon(1e-6));
          CHECK(m.clip_fraction == doctest::Approx(ref.metrics.clip_fraction).epsilon(1e-6));
          CHECK(m.response_length == ref.metrics.response_length);
          CHECK(m.degenerate_groups == ref.metrics.degenerate_groups);
        }
      }
    }
}

TEST_CASE("rft_step(comm): a group split 1 / G-1 over two ranks gets the advantages of the whole group") {
  // Sample "0" sits on both ranks: one completion on rank 0, three on rank 1 (with sample "1", three completions).
  const std::size_t G = 4;
  rft_options o = base_options();
  o.gradients = gradient_reduction::sum;
  std::vector<rank_run> runs(2);
  std::vector<rollout_batch> rollouts(2);
  const auto errors = run_ranks(2, [&](const thread_communicator& comm) {
    const auto r = static_cast<std::size_t>(comm.rank());
    const shard b = r == 0 ? numbered(0, 1) : numbered(0, 2);
    rft_options mine = o;
    mine.rollout.group_size = r == 0 ? 1 : G - 1;
    mine.rollout.seed = 100 + r; // each rank samples its own completions
    recording_policy p;
    runs[r].result = rft_step(comm, p, b.samples, b.prompts, graded, mine);
    runs[r].grads = p.grads;
  });
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
  // One process on the global batch (rank 0's rows, then rank 1's), grouped by sample id.
  std::vector<float> rewards, adv, logp, grads, expected_grads;
  std::vector<std::uint8_t> mask;
  std::vector<std::uint64_t> keys;
  for (std::size_t r = 0; r < 2; ++r) {
    const rft_step_result& res = runs[r].result;
    for (std::size_t i = 0; i < res.rollout.rows(); ++i) {
      rewards.push_back(static_cast<float>(res.rewards[i].total));
      keys.push_back(sample_group_key(std::to_string(i / res.rollout.group_size)));
      logp.push_back(res.rollout.log_probs[i]), mask.push_back(res.rollout.mask[i]);
    }
    adv.insert(adv.end(), res.advantages.begin(), res.advantages.end());
    grads.insert(grads.end(), runs[r].grads.begin(), runs[r].grads.end());
  }
  REQUIRE(rewards.size() == G + G - 1);
  std::vector<float> expected(rewards.size());
  const auto groups = keyed_groups::from_keys(std::span<const std::uint64_t>(keys));
  const advantage_summary s =
      grpo_advantages(std::span<const float>(rewards), groups, std::span<float>(expected), o.advantages);
  CHECK(s.groups == 2);
  CHECK(same_bits(adv, expected));
  CHECK(runs[0].result.metrics.degenerate_groups == runs[1].result.metrics.degenerate_groups);
  // The loss of the global batch, token_mean over its 7 tokens: each rank's d loss / d log-prob bitwise.
  const std::size_t rows = rewards.size();
  policy_loss_inputs<float> in;
  in.log_probs = {logp.data(), rows, 1};
  in.old_log_probs = {logp.data(), rows, 1};
  in.sequence_advantages = std::span<const float>(expected);
  in.mask = {mask.data(), rows, 1};
  expected_grads.assign(rows, 0.0f);
  policy_loss_grads<float> out{{expected_grads.data(), rows, 1}, {}};
  const policy_loss_result l = policy_loss(exec::seq, in, out, o.loss);
  CHECK(same_bits(grads, expected_grads));
  CHECK(runs[1].result.metrics.loss == doctest::Approx(l.loss).epsilon(1e-6));
}

TEST_CASE("rft_step(comm): one rank of a thread communicator is the single-process step, bitwise") {
  const shard b = numbered(0, 5);
  rft_options o = base_options();
  o.ppo_epochs = 2;
  recording_policy single;
  const rft_step_result ref = rft_step(single, b.samples, b.prompts, graded, o);
  const std::vector<rank_run> runs = run_sharded({5}, o);
  CHECK(same_bits(runs[0].result.advantages, ref.advantages));
  CHECK(same_bits(runs[0].grads, single.grads));
  CHECK(runs[0].result.metrics.loss == ref.metrics.loss);
  CHECK(runs[0].result.metrics.reward_std == ref.metrics.reward_std);
  CHECK(runs[0].result.metrics.ppo_kl == ref.metrics.ppo_kl);
  CHECK(runs[0].result.metrics.updates == 2);
}

TEST_CASE("rft_step(comm): disagreeing options and bad arguments raise the same error on every rank") {
  const auto expect_all = [](const std::vector<std::exception_ptr>& errors, const std::string& part) {
    std::string first;
    for (const auto& e : errors) {
      REQUIRE(e);
      try {
        std::rethrow_exception(e);
      } catch (const error& x) {
        CHECK(std::string(x.what()).find(part) != std::string::npos);
        if (first.empty()) first = x.what();
        CHECK(first == x.what());
      }
    }
  };
  expect_all(run_ranks(3,
                       [](const thread_communicator& comm) {
                         const shard b = numbered(static_cast<std::size_t>(comm.rank()) * 2, 2);
                         rft_options o = base_options();
                         if (comm.rank() == 2) o.loss.clip_ratio_high = 0.3;
                         recording_policy p;
                         (void)rft_step(comm, p, b.samples, b.prompts, graded, o);
                       }),
             "options");
  expect_all(run_ranks(2,
                       [](const thread_communicator& comm) {
                         shard b = numbered(static_cast<std::size_t>(comm.rank()) * 2, 2);
                         if (comm.rank() == 1) b.samples[1].id.clear();
                         recording_policy p;
                         (void)rft_step(comm, p, b.samples, b.prompts, graded, base_options());
                       }),
             "must have an id");
  expect_all(run_ranks(2,
                       [](const thread_communicator& comm) {
                         shard b = numbered(static_cast<std::size_t>(comm.rank()) * 2, 2);
                         if (comm.rank() == 0) b.prompts.pop_back();
                         recording_policy p;
                         (void)rft_step(comm, p, b.samples, b.prompts, graded, base_options());
                       }),
             "one prompt per sample");
  expect_all(run_ranks(2,
                       [](const thread_communicator& comm) {
                         const shard b = numbered(static_cast<std::size_t>(comm.rank()) * 2, 2);
                         rft_options o = base_options();
                         o.dynamic_sampling.policy = degenerate_group_policy::drop;
                         recording_policy p;
                         (void)rft_step(comm, p, b.samples, b.prompts, graded, o);
                       }),
             "dynamic_sampling");
}

} // TEST_SUITE("distributed")
