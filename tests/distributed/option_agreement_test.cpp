// SPDX-License-Identifier: Apache-2.0
// Ranks that pass different options to a distributed call all raise the same error from the call's first
// collective, never a hang; the fingerprint tells every field apart.
#include "thread_communicator.hpp"

#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/distributed/advantages.hpp>
#include <mmrag_rft/distributed/loss_normalizers.hpp>
#include <mmrag_rft/distributed/option_agreement.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <vector>

namespace {
using namespace mmrag_rft;
using mmrag_rft::test::run_ranks;
using mmrag_rft::test::thread_communicator;

/// Every rank threw a `mmrag_rft::error` with the same text; returns that text.
std::string same_error_everywhere(const std::vector<std::exception_ptr>& errors) {
  std::vector<std::string> texts;
  for (const auto& e : errors) {
    REQUIRE(e);
    try {
      std::rethrow_exception(e);
    } catch (const error& x) {
      texts.emplace_back(x.what());
    } catch (...) {
      FAIL("not a mmrag_rft::error");
    }
  }
  for (const auto& t : texts) CHECK(t == texts.front());
  return texts.front();
}

} // namespace

TEST_CASE("option fingerprint: equal options agree, every changed field differs") {
  CHECK(options_fingerprint(grpo_options{}) == options_fingerprint(grpo_options{}));
  CHECK(options_fingerprint(policy_loss_options::verl()) == options_fingerprint(policy_loss_options::verl()));
  const std::int64_t g = options_fingerprint(grpo_options{});
  grpo_options a;
  a.epsilon = 1e-4;
  CHECK(options_fingerprint(a) != g);
  a = {}, a.norm_adv_by_std_in_grpo = false;
  CHECK(options_fingerprint(a) != g);
  a = {}, a.std = std_estimator::biased;
  CHECK(options_fingerprint(a) != g);
  a = {}, a.scale = reward_scale::batch;
  CHECK(options_fingerprint(a) != g);
  a = {}, a.nonfinite = nonfinite_rewards::mask_out;
  CHECK(options_fingerprint(a) != g);
  a = {}, a.singleton = singleton_group::error;
  CHECK(options_fingerprint(a) != g);
  rloo_options r;
  r.singleton = rloo_options::singleton_policy::zero;
  CHECK(options_fingerprint(r) != options_fingerprint(rloo_options{}));
  const std::int64_t l = options_fingerprint(policy_loss_options{});
  policy_loss_options p;
  p.clip_ratio_high = 0.28;
  CHECK(options_fingerprint(p) != l);
  p = {}, p.normalizer = 7.0;
  CHECK(options_fingerprint(p) != l);
  p = {}, p.clip_ratio_c.reset();
  CHECK(options_fingerprint(p) != l);
  p = {}, p.aggregation = loss_aggregation::seq_mean_token_mean;
  CHECK(options_fingerprint(p) != l);
  p = {}, p.loss_scale = 2.0;
  CHECK(options_fingerprint(p) != l);
}

TEST_CASE("distributed GRPO / RLOO: one rank's other options give the same error on every rank") {
  for (int ranks = 2; ranks <= 4; ++ranks)
    for (int odd = 0; odd < ranks; ++odd) {
      CAPTURE(ranks);
      CAPTURE(odd);
      // The odd rank asks for the batch std, which would make it gather the whole batch while the others gather
      // group tables: without the agreement check this hangs.
      const auto errors = run_ranks(ranks, [&](const thread_communicator& comm) {
        grpo_options o;
        if (comm.rank() == odd) o.scale = reward_scale::batch;
        // uneven shards; the last rank empty
        const std::size_t n = comm.rank() == ranks - 1 ? 0 : 1 + static_cast<std::size_t>(comm.rank());
        std::vector<double> rw(n, 0.5), adv(n);
        std::vector<std::uint64_t> keys(n, 7);
        (void)distributed_grpo_advantages(comm, std::span<const double>(rw), std::span<const std::uint64_t>(keys),
                                          std::span<double>(adv), o);
      });
      if (odd == 0) {
        // Rank 0 is the reference: the others all differ from it, the message names rank 1.
        CHECK(same_error_everywhere(errors).find("rank 1") != std::string::npos);
      } else {
        CHECK(same_error_everywhere(errors).find("rank " + std::to_string(odd)) != std::string::npos);
      }
      const auto rloo_errors = run_ranks(ranks, [&](const thread_communicator& comm) {
        rloo_options o;
        if (comm.rank() == odd) o.nonfinite = nonfinite_rewards::mask_out;
        std::vector<float> rw(2, 1.0f), adv(2);
        std::vector<std::uint64_t> keys(2, 3);
        (void)distributed_rloo_advantages(comm, std::span<const float>(rw), std::span<const std::uint64_t>(keys),
                                          std::span<float>(adv), o);
      });
      CHECK(same_error_everywhere(rloo_errors).find("distributed_rloo_advantages") != std::string::npos);
    }
}

TEST_CASE("distributed GRPO: agreed options with NaN on one rank only, uneven, empty ranks, a 1 / G-1 split") {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  // Global batch: group A of G = 4 split 1 (rank 0) / 3 (rank 1), group B of 3 on rank 1, rank 2 empty.
  const std::vector<double> all{0.1, 0.9, 0.4, 0.2, 1.0, 0.0, 0.5};
  const std::vector<std::uint64_t> keys{11, 11, 11, 11, 22, 22, 22};
  const std::vector<std::size_t> cut{0, 1, 7, 7};
  std::vector<double> want(all.size());
  (void)grpo_advantages(std::span<const double>(all), keyed_groups::from_keys(std::span<const std::uint64_t>(keys)),
                        std::span<double>(want), grpo_options{});
  std::vector<double> got(all.size(), -7);
  const auto ok = run_ranks(3, [&](const thread_communicator& comm) {
    const auto r = static_cast<std::size_t>(comm.rank());
    const std::size_t lo = cut[r], n = cut[r + 1] - lo;
    (void)distributed_grpo_advantages(comm, std::span<const double>(all).subspan(lo, n),
                                      std::span<const std::uint64_t>(keys).subspan(lo, n),
                                      std::span<double>(got).subspan(lo, n), grpo_options{});
  });
  for (const auto& e : ok) CHECK_FALSE(e);
  for (std::size_t i = 0; i < all.size(); ++i)
    CHECK(std::bit_cast<std::uint64_t>(got[i]) == std::bit_cast<std::uint64_t>(want[i]));

  std::vector<double> with_nan = all;
  with_nan[5] = nan; // on rank 1 only
  const auto bad = run_ranks(3, [&](const thread_communicator& comm) {
    const auto r = static_cast<std::size_t>(comm.rank());
    const std::size_t lo = cut[r], n = cut[r + 1] - lo;
    std::vector<double> out(n);
    (void)distributed_grpo_advantages(comm, std::span<const double>(with_nan).subspan(lo, n),
                                      std::span<const std::uint64_t>(keys).subspan(lo, n), std::span<double>(out),
                                      grpo_options{});
  });
  CHECK(same_error_everywhere(bad).find("rewards[5]") != std::string::npos);
}

TEST_CASE("step_loss_normalizers: options checked in the same gather, the counts unchanged") {
  std::vector<std::uint8_t> m{1, 1, 0, 1, 0, 0};
  const mask_view mask(m.data(), 2, 3);
  for (int ranks = 1; ranks <= 3; ++ranks) {
    const auto ok = run_ranks(ranks, [&](const thread_communicator& comm) {
      const auto plain = step_loss_normalizers(comm, std::span<const mask_view>(&mask, 1));
      const auto checked = step_loss_normalizers(comm, std::span<const mask_view>(&mask, 1),
                                                 policy_loss_options::verl(), gradient_reduction::mean);
      CHECK(plain.tokens == checked.tokens);
      CHECK(plain.sequences == checked.sequences);
      CHECK(plain.max_length == checked.max_length);
      CHECK(checked.tokens == 3.0 * ranks);
    });
    for (const auto& e : ok) CHECK_FALSE(e);
  }
  const auto reduction = run_ranks(3, [&](const thread_communicator& comm) {
    (void)step_loss_normalizers(comm, std::span<const mask_view>(&mask, 1), policy_loss_options::verl(),
                                comm.rank() == 2 ? gradient_reduction::sum : gradient_reduction::mean);
  });
  CHECK(same_error_everywhere(reduction).find("step_loss_normalizers") != std::string::npos);
  const auto loss = run_ranks(2, [&](const thread_communicator& comm) {
    policy_loss_options o = policy_loss_options::verl();
    if (comm.rank() == 1) o.clip_ratio_high = 0.28;
    (void)step_loss_normalizers(comm, std::span<const mask_view>(&mask, 1), o);
  });
  CHECK(same_error_everywhere(loss).find("rank 1") != std::string::npos);
}

TEST_CASE("require_same_options: one all-gather, same error everywhere") {
  const auto errors = run_ranks(3, [&](const thread_communicator& comm) {
    require_same_options(comm, "my_call", "options", comm.rank() == 1 ? 5 : 4);
  });
  CHECK(same_error_everywhere(errors).find("my_call") != std::string::npos);
  const auto ok = run_ranks(3, [&](const thread_communicator& comm) { require_same_options(comm, "f", "o", 9); });
  for (const auto& e : ok) CHECK_FALSE(e);
}
