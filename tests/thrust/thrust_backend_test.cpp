// SPDX-License-Identifier: Apache-2.0
// The same cases on exec::seq and exec::thrust; this file is built once per Thrust device system (CPP, OMP), where
// device memory is host memory, so std::vector storage serves both.
#include <mmrag_rft/backends/thrust.hpp>

#include "loss_cases.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace mmrag_rft;

namespace {

using namespace loss_cases;

// ---- GRPO --------------------------------------------------------------------------------------------------------

template <class T>
std::vector<T> random_rewards(std::size_t n, std::uint32_t seed, bool discrete) {
  std::mt19937 gen(seed);
  std::normal_distribution<double> d(0.3, 1.0);
  std::uniform_int_distribution<int> k(0, 2);
  std::vector<T> r(n);
  for (auto& x : r) x = discrete ? static_cast<T>(0.35 * k(gen)) : static_cast<T>(d(gen));
  return r;
}

template <class T>
void compare_grpo(const std::vector<T>& r, const group_layout& g, const grpo_options& o) {
  std::vector<T> a_seq(r.size()), a_thr(r.size(), T(-7));
  std::vector<std::uint8_t> k_seq(r.size()), k_thr(r.size(), 9);
  const auto s1 = grpo_advantages(exec::seq, std::span<const T>(r), g, std::span<T>(a_seq), o, k_seq);
  const auto s2 = grpo_advantages(exec::thrust, std::span<const T>(r), g, std::span<T>(a_thr), o, k_thr);
  CHECK(s1.groups == s2.groups);
  CHECK(s1.degenerate_groups == s2.degenerate_groups);
  CHECK(s1.singleton_groups == s2.singleton_groups);
  CHECK(s1.masked_out == s2.masked_out);
  CHECK(k_seq == k_thr);
  for (std::size_t j = 0; j < r.size(); ++j) CHECK_CLOSE(T, a_seq[j], a_thr[j]);
}

std::vector<grpo_options> grpo_option_set() {
  std::vector<grpo_options> v{grpo_options::verl(), grpo_options::trl(), grpo_options::dr_grpo()};
  grpo_options b = grpo_options::trl();
  b.scale = reward_scale::batch;
  v.push_back(b);
  grpo_options biased;
  biased.std = std_estimator::biased;
  v.push_back(biased);
  grpo_options masked;
  masked.nonfinite = nonfinite_rewards::mask_out;
  v.push_back(masked);
  return v;
}

template <class T>
void compare_loss(const loss_case<T>& c, const policy_loss_options& o, bool seq_adv = false, bool on_policy = false) {
  compare_loss_to_seq(c, o, seq_adv, on_policy, [](const auto& in, const auto& out, const policy_loss_options& opt) {
    return policy_loss(exec::thrust, in, out, opt);
  });
}

} // namespace

TEST_SUITE("thrust") {
  TEST_CASE_TEMPLATE("thrust grpo_advantages: matches seq on uniform groups for every option preset", T, float, double) {
    const auto r = random_rewards<T>(8 * 333, 11, false);
    const auto d = random_rewards<T>(16 * 64, 12, true); // many all-equal groups
    for (const auto& o : grpo_option_set()) {
      compare_grpo(r, group_layout::uniform(333, 8), o);
      compare_grpo(d, group_layout::uniform(64, 16), o);
    }
  }

  TEST_CASE_TEMPLATE("thrust grpo_advantages: matches seq on offsets with empty and singleton groups", T, float, double) {
    const std::vector<std::int64_t> off{0, 4, 4, 5, 12, 20, 21, 29};
    const auto r = random_rewards<T>(29, 13, false);
    for (const auto& o : grpo_option_set()) compare_grpo(r, group_layout::from_offsets(off), o);
    const group_layout empty = group_layout::uniform(0, 4);
    compare_grpo(std::vector<T>{}, empty, grpo_options{});
  }

  TEST_CASE_TEMPLATE("thrust grpo_advantages: non-finite rewards are masked out or rejected as on seq", T, float, double) {
    auto r = random_rewards<T>(40, 14, false);
    r[3] = std::numeric_limits<T>::quiet_NaN();
    r[17] = std::numeric_limits<T>::infinity();
    r[24] = r[25] = r[26] = std::numeric_limits<T>::quiet_NaN(); // leaves group 3 with one finite reward
    grpo_options o;
    o.nonfinite = nonfinite_rewards::mask_out;
    compare_grpo(r, group_layout::uniform(10, 4), o);
    o.singleton = singleton_group::zero;
    compare_grpo(r, group_layout::uniform(10, 4), o);
    std::vector<T> a(r.size());
    for (auto nf : {nonfinite_rewards::error}) {
      o.nonfinite = nf;
      try {
        (void)grpo_advantages(exec::thrust, std::span<const T>(r), group_layout::uniform(10, 4), std::span<T>(a), o);
        FAIL("expected an error");
      } catch (const mmrag_rft::error& e) {
        CHECK(e.index() == 3);
        CHECK(std::string(e.what()).find("is NaN") != std::string::npos);
      }
    }
    o.nonfinite = nonfinite_rewards::mask_out;
    o.singleton = singleton_group::error;
    try {
      (void)grpo_advantages(exec::thrust, std::span<const T>(r), group_layout::uniform(10, 4), std::span<T>(a), o);
      FAIL("expected an error");
    } catch (const mmrag_rft::error& e) {
      CHECK(e.index() == 6);
    }
  }

  TEST_CASE_TEMPLATE("thrust grpo_advantages: dr_grpo and keyed groups dispatch to the thrust path", T, float, double) {
    const auto r = random_rewards<T>(24, 15, false);
    std::vector<T> a1(r.size()), a2(r.size());
    (void)dr_grpo_advantages(exec::seq, std::span<const T>(r), group_layout::uniform(6, 4), std::span<T>(a1));
    (void)dr_grpo_advantages(exec::thrust, std::span<const T>(r), group_layout::uniform(6, 4), std::span<T>(a2));
    for (std::size_t j = 0; j < r.size(); ++j) CHECK_CLOSE(T, a1[j], a2[j]);
    const std::vector<int> keys{3, 1, 3, 2, 1, 2, 3, 1, 2, 2, 1, 3, 5, 5, 5, 5, 1, 2, 3, 4, 4, 4, 1, 1};
    const auto kg = keyed_groups::from_keys(std::span<const int>(keys));
    (void)grpo_advantages(exec::seq, std::span<const T>(r), kg, std::span<T>(a1));
    (void)grpo_advantages(exec::thrust, std::span<const T>(r), kg, std::span<T>(a2));
    for (std::size_t j = 0; j < r.size(); ++j) CHECK_CLOSE(T, a1[j], a2[j]);
  }

  TEST_CASE_TEMPLATE("thrust policy_loss: matches seq for every option set", T, float, double) {
    const loss_case<T> c(23, 41, 21);
    for (const auto& [name, o] : loss_option_set()) {
      CAPTURE(name);
      compare_loss(c, o);
    }
  }

  TEST_CASE_TEMPLATE("thrust policy_loss: matches seq with sequence advantages, on-policy and strided rows", T, float,
                     double) {
    const loss_case<T> c(17, 29, 22, 3);
    for (const auto& [name, o] : loss_option_set()) {
      CAPTURE(name);
      compare_loss(c, o, true, false);
      compare_loss(c, o, false, true);
    }
  }

  TEST_CASE_TEMPLATE("thrust policy_loss: empty batches and batches without valid tokens give zeros", T, float, double) {
    loss_case<T> c(4, 6, 23);
    std::fill(c.mask.begin(), c.mask.end(), std::uint8_t{0});
    compare_loss(c, policy_loss_options{});
    const loss_case<T> e(0, 0, 24);
    policy_loss_inputs<T> in;
    const auto r = policy_loss(exec::thrust, in, policy_loss_grads<T>{}, policy_loss_options{});
    CHECK(r.loss == 0.0);
    CHECK(r.stats.valid_tokens == 0);
  }

  TEST_CASE_TEMPLATE("thrust policy_loss: NaN inputs propagate or are rejected with the token as on seq", T, float,
                     double) {
    loss_case<T> c(6, 9, 25);
    std::fill(c.mask.begin(), c.mask.end(), std::uint8_t{1});
    c.lp[2 * 9 + 4] = std::numeric_limits<T>::quiet_NaN();
    c.ref[4 * 9 + 1] = std::numeric_limits<T>::infinity();
    policy_loss_options o;
    o.nonfinite = nonfinite_policy::propagate;
    o.kl = kl_estimator::k2;
    compare_loss(c, o);
    o.nonfinite = nonfinite_policy::error;
    std::vector<T> g(c.lp.size());
    const policy_loss_grads<T> out{{g.data(), c.rows, c.cols}, {}};
    std::string seq_msg, thr_msg;
    try {
      (void)policy_loss(exec::seq, c.inputs(false, false), out, o);
    } catch (const mmrag_rft::error& e) {
      seq_msg = e.what();
    }
    try {
      (void)policy_loss(exec::thrust, c.inputs(false, false), out, o);
    } catch (const mmrag_rft::error& e) {
      thr_msg = e.what();
    }
    CHECK(!seq_msg.empty());
    CHECK(seq_msg == thr_msg);
  }

  TEST_CASE("thrust policy_loss: bad options are rejected before any device work") {
    loss_case<float> c(2, 3, 26);
    std::vector<float> g(c.lp.size());
    policy_loss_options o;
    o.clip_ratio_c = 0.5;
    CHECK_THROWS_AS((void)policy_loss(exec::thrust, c.inputs(false, false),
                                      policy_loss_grads<float>{{g.data(), c.rows, c.cols}, {}}, o),
                    mmrag_rft::error);
  }
}
