// SPDX-License-Identifier: Apache-2.0
// The same cases on exec::seq and exec::thrust; this file is built once per Thrust device system (CPP, OMP), where
// device memory is host memory, so std::vector storage serves both.
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends/thrust.hpp>
#include <mmrag_rft/core/response_mask.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include "loss_cases.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
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

// ---- the other estimators ------------------------------------------------------------------------------------------

// A [rows, cols] batch of token rewards and values with holes in the mask (a masked position inside a row, rows of
// every length, an empty row), and NaN at masked positions so that reading one shows.
template <class T>
struct token_case {
  std::size_t rows, cols, stride;
  std::vector<T> rewards, values;
  std::vector<std::uint8_t> mask;
  token_case(std::size_t b, std::size_t t, std::uint32_t seed, std::size_t pad = 0)
      : rows(b), cols(t), stride(t + pad) {
    std::mt19937 gen(seed);
    std::normal_distribution<double> nrm(0.0, 1.0);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    rewards.resize(rows * stride), values.resize(rows * stride), mask.resize(rows * stride);
    for (std::size_t i = 0; i < rows; ++i) {
      const std::size_t len = i % 7 == 2 ? 0 : static_cast<std::size_t>(u(gen) * static_cast<double>(cols + 1));
      for (std::size_t k = 0; k < stride; ++k) {
        const std::size_t j = i * stride + k;
        mask[j] = k < len && k < cols && (k % 5 != 3) ? 1 : 0;
        rewards[j] = mask[j] ? static_cast<T>(u(gen) < 0.2 ? nrm(gen) : 0.0) : std::numeric_limits<T>::quiet_NaN();
        values[j] = mask[j] ? static_cast<T>(nrm(gen)) : std::numeric_limits<T>::quiet_NaN();
      }
    }
  }
  [[nodiscard]] matrix_view<const T> view(const std::vector<T>& v) const { return {v.data(), rows, cols, stride}; }
  [[nodiscard]] matrix_view<T> out(std::vector<T>& v) const { return {v.data(), rows, cols, stride}; }
  [[nodiscard]] mask_view m() const { return {mask.data(), rows, cols, stride}; }
  [[nodiscard]] std::vector<T> fresh() const { return std::vector<T>(rows * stride, T(7)); }
};

template <class T>
void check_stats(const whitening_stats& a, const whitening_stats& b) {
  CHECK(a.count == b.count);
  CHECK_CLOSE(T, a.mean, b.mean);
  CHECK_CLOSE(T, a.scale, b.scale);
}

// Every element (padding included, which neither may write) close; `exact`: bitwise.
template <class T>
void check_same(const std::vector<T>& a, const std::vector<T>& b, bool exact) {
  REQUIRE(a.size() == b.size());
  std::size_t bad = 0;
  for (std::size_t j = 0; j < a.size(); ++j)
    bad += exact ? !(a[j] == b[j] || (std::isnan(a[j]) && std::isnan(b[j]))) : !close<T>(a[j], b[j]);
  CHECK_MESSAGE(bad == 0, bad << " of " << a.size() << " elements differ");
}

template <class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const mmrag_rft::error& e) {
    return e.what();
  }
  return {};
}

std::vector<whitening_options> whitening_option_set() {
  whitening_options off;
  off.enabled = false;
  whitening_options biased;
  biased.variance = std_estimator::biased;
  return {whitening_options::verl(), whitening_options::openrlhf(), off, biased};
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

TEST_CASE_TEMPLATE("thrust grpo_advantages: every group bitwise seq's when the batch std is not used", T, float,
                   double) {
  // Both backends take the GRPO plan's rule for the batch (the uniform rule here, the general one on offsets or
  // with masked rewards), so every advantage is the same bits; only TRL's batch std is a tree-ordered reduction.
  for (const std::size_t g : {std::size_t{3}, std::size_t{8}}) {
    const std::size_t n = 20000 * g;
    const auto r = random_rewards<T>(n, 11 + static_cast<std::uint32_t>(g), false);
    std::vector<T> a(n), b(n);
    for (const grpo_options& o : {grpo_options::verl(), grpo_options::trl(), grpo_options::dr_grpo()}) {
      (void)grpo_advantages(exec::seq, std::span<const T>(r), group_layout::uniform(20000, g), std::span<T>(a), o);
      (void)grpo_advantages(exec::thrust, std::span<const T>(r), group_layout::uniform(20000, g), std::span<T>(b), o);
      std::size_t differ = 0;
      for (std::size_t j = 0; j < n; ++j) differ += std::memcmp(&a[j], &b[j], sizeof(T)) != 0;
      CHECK(differ == 0);
    }
  }
}

TEST_CASE_TEMPLATE("thrust grpo_advantages: matches seq on offsets with empty and singleton groups", T, float, double) {
  const std::vector<std::int64_t> off{0, 4, 4, 5, 12, 20, 21, 29};
  const auto r = random_rewards<T>(29, 13, false);
  for (const auto& o : grpo_option_set()) compare_grpo(r, group_layout::from_offsets(off), o);
  const group_layout empty = group_layout::uniform(0, 4);
  compare_grpo(std::vector<T>{}, empty, grpo_options{});
}

TEST_CASE_TEMPLATE("thrust grpo_advantages: non-finite rewards are masked out or rejected as on seq", T, float,
                   double) {
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

template <class T>
void compare_gdpo(const std::vector<T>& r, std::size_t k, std::size_t stride, const std::vector<double>& w,
                  const group_layout& g, const gdpo_options& o) {
  const std::size_t n = g.num_items();
  const matrix_view<const T> m(r.data(), n, k, stride);
  std::vector<T> a_seq(n), a_thr(n, T(-7));
  std::vector<std::uint8_t> k_seq(n), k_thr(n, 9);
  const auto s1 = gdpo_advantages(exec::seq, m, w, g, std::span<T>(a_seq), o, k_seq);
  const auto s2 = gdpo_advantages(exec::thrust, m, w, g, std::span<T>(a_thr), o, k_thr);
  CHECK(s1.groups == s2.groups);
  CHECK(s1.degenerate_groups == s2.degenerate_groups);
  CHECK(s1.singleton_groups == s2.singleton_groups);
  CHECK(s1.masked_out == s2.masked_out);
  CHECK(k_seq == k_thr);
  // Each weighted sum is the plan's, bitwise; only the batch moments are tree-ordered.
  if (!o.whiten) CHECK(a_seq == a_thr);
  for (std::size_t j = 0; j < n; ++j) CHECK_CLOSE(T, a_seq[j], a_thr[j]);
}

TEST_CASE_TEMPLATE("thrust gdpo_advantages: matches seq on uniform groups, offsets and strided rows", T, float,
                   double) {
  std::vector<gdpo_options> opts(4);
  opts[1].whiten = false;
  opts[2].component = grpo_options::verl();
  opts[3].component = grpo_options::dr_grpo();
  const std::vector<double> w{1.0, 0.5, 2.0};
  const auto r = random_rewards<T>(333 * 8 * 4, 31, true);
  const std::vector<std::int64_t> off{0, 3, 3, 4, 9, 10, 10, 16};
  for (const auto& o : opts) {
    compare_gdpo(r, 3, 3, w, group_layout::uniform(333, 8), o);
    compare_gdpo(r, 3, 4, {}, group_layout::uniform(100, 6), o); // one padding column, never read
    compare_gdpo(r, 2, 2, {}, group_layout::from_offsets(off), o);
  }
  compare_gdpo(std::vector<T>{}, 2, 2, {}, group_layout::from_offsets(std::vector<std::int64_t>{0}), opts[0]);
}

TEST_CASE_TEMPLATE("thrust gdpo_advantages: non-finite components are masked out or rejected as on seq", T, float,
                   double) {
  auto r = random_rewards<T>(40, 32, false);
  r[7 * 2 + 1] = std::numeric_limits<T>::quiet_NaN();
  r[12 * 2] = std::numeric_limits<T>::infinity();
  gdpo_options o;
  o.component.nonfinite = nonfinite_rewards::mask_out;
  compare_gdpo(r, 2, 2, {}, group_layout::uniform(5, 4), o);
  std::vector<T> a(20);
  for (const bool thr : {false, true}) {
    try {
      if (thr)
        (void)gdpo_advantages(exec::thrust, matrix_view<const T>(r.data(), 20, 2), {}, group_layout::uniform(5, 4),
                              std::span<T>(a));
      else
        (void)gdpo_advantages(exec::seq, matrix_view<const T>(r.data(), 20, 2), {}, group_layout::uniform(5, 4),
                              std::span<T>(a));
      FAIL("no error");
    } catch (const mmrag_rft::error& e) {
      CHECK(e.index() == 7);
    }
  }
  o = {};
  o.component.singleton = singleton_group::error;
  const std::vector<std::int64_t> off{0, 4, 5, 8};
  CHECK_THROWS_AS((void)gdpo_advantages(exec::thrust, matrix_view<const T>(r.data(), 8, 2), {},
                                        group_layout::from_offsets(off), std::span<T>(a).first(8), o),
                  mmrag_rft::error);
}

TEST_CASE_TEMPLATE("thrust policy_loss: matches seq for every option set", T, float, double) {
  const loss_case<T> c(23, 41, 21);
  for (const auto& [name, o] : loss_option_set()) {
    const std::string_view case_name = name; // clang before 16 cannot capture a structured binding
    CAPTURE(case_name);
    compare_loss(c, o);
  }
}

TEST_CASE_TEMPLATE("thrust policy_loss: matches seq with sequence advantages, on-policy and strided rows", T, float,
                   double) {
  const loss_case<T> c(17, 29, 22, 3);
  for (const auto& [name, o] : loss_option_set()) {
    const std::string_view case_name = name; // clang before 16 cannot capture a structured binding
    CAPTURE(case_name);
    compare_loss(c, o, true, false);
    compare_loss(c, o, false, true);
  }
}

TEST_CASE_TEMPLATE("thrust policy_loss: matches seq with token weights for every option set", T, float, double) {
  const loss_case<T> c(19, 37, 24, 2);
  for (const auto& [name, o] : loss_option_set()) {
    const std::string_view case_name = name; // clang before 16 cannot capture a structured binding
    CAPTURE(case_name);
    for (const bool seq_adv : {false, true})
      compare_loss_to_seq(
          c, o, seq_adv, false,
          [](const auto& in, const auto& out, const policy_loss_options& opt) {
            return policy_loss(exec::thrust, in, out, opt);
          },
          true);
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
TEST_CASE_TEMPLATE("thrust rloo_advantages: bitwise seq's on uniform groups and offsets, every singleton policy", T,
                   float, double) {
  using sp = rloo_options::singleton_policy;
  auto r = random_rewards<T>(4000, 31, false);
  r[17] = std::numeric_limits<T>::quiet_NaN();
  r[1234] = std::numeric_limits<T>::infinity();
  std::vector<std::int64_t> off{0, 0, 1, 1, 3}; // an empty group, singletons, a pair
  std::mt19937 gen(5);
  while (off.back() < 4000)
    off.push_back(std::min<std::int64_t>(4000, off.back() + static_cast<std::int64_t>(gen() % 9)));
  auto discrete = random_rewards<T>(4000, 32, true); // all-equal groups
  for (const sp s : {sp::keep_reward, sp::zero}) {
    rloo_options o;
    o.singleton = s;
    o.nonfinite = nonfinite_rewards::mask_out;
    for (const auto* rr : {&r, &discrete})
      for (int layout = 0; layout < 2; ++layout) {
        CAPTURE(layout);
        const group_layout g = layout == 0 ? group_layout::uniform(500, 8) : group_layout::from_offsets(off);
        std::vector<T> a1(r.size()), a2(r.size(), T(-7));
        std::vector<std::uint8_t> k1(r.size()), k2(r.size(), 9);
        const auto s1 = rloo_advantages(exec::seq, std::span<const T>(*rr), g, std::span<T>(a1), o, k1);
        const auto s2 = rloo_advantages(exec::thrust, std::span<const T>(*rr), g, std::span<T>(a2), o, k2);
        CHECK(s1.groups == s2.groups);
        CHECK(s1.degenerate_groups == s2.degenerate_groups);
        CHECK(s1.singleton_groups == s2.singleton_groups);
        CHECK(s1.masked_out == s2.masked_out);
        CHECK(k1 == k2);
        check_same(a1, a2, true);
      }
  }
  // Errors: the same messages.
  std::vector<T> a(r.size());
  rloo_options err;
  CHECK(!message_of([&] {
           (void)rloo_advantages(exec::seq, std::span<const T>(r), group_layout::uniform(500, 8), std::span<T>(a), err);
         }).empty());
  CHECK(message_of([&] {
          (void)rloo_advantages(exec::seq, std::span<const T>(r), group_layout::uniform(500, 8), std::span<T>(a), err);
        }) == message_of([&] {
          (void)rloo_advantages(exec::thrust, std::span<const T>(r), group_layout::uniform(500, 8), std::span<T>(a),
                                err);
        }));
  std::vector<T> pair{T(1), std::numeric_limits<T>::quiet_NaN(), T(2), T(3)}, pa(4);
  err.singleton = sp::error;
  err.nonfinite = nonfinite_rewards::mask_out;
  const auto msg = message_of([&] {
    (void)rloo_advantages(exec::seq, std::span<const T>(pair), group_layout::uniform(2, 2), std::span<T>(pa), err);
  });
  CHECK(msg.find("one finite reward") != std::string::npos);
  CHECK(msg == message_of([&] {
          (void)rloo_advantages(exec::thrust, std::span<const T>(pair), group_layout::uniform(2, 2), std::span<T>(pa),
                                err);
        }));
}

TEST_CASE_TEMPLATE("thrust reinforce_pp_advantages: returns bitwise seq's, whitening as seq's, errors alike", T, float,
                   double) {
  const token_case<T> c(29, 37, 33, 3);
  for (const double gamma : {1.0, 0.9, 0.0})
    for (const auto& w : whitening_option_set()) {
      CAPTURE(gamma);
      auto r1 = c.fresh(), r2 = c.fresh(), a1 = c.fresh(), a2 = c.fresh();
      const auto s1 = reinforce_pp_advantages(c.view(c.rewards), c.m(), gamma, c.out(r1), c.out(a1), w);
      const auto s2 = reinforce_pp_advantages(exec::thrust, c.view(c.rewards), c.m(), gamma, c.out(r2), c.out(a2), w);
      check_stats<T>(s1, s2);
      check_same(r1, r2, true);
      check_same(a1, a2, false);
    }
  token_case<T> bad(5, 6, 34);
  bad.mask.assign(bad.mask.size(), 1);
  bad.rewards.assign(bad.rewards.size(), T(0));
  bad.rewards[3 * 6 + 2] = std::numeric_limits<T>::infinity();
  auto r = bad.fresh(), a = bad.fresh();
  const auto m1 =
      message_of([&] { (void)reinforce_pp_advantages(bad.view(bad.rewards), bad.m(), 1.0, bad.out(r), bad.out(a)); });
  CHECK(m1.find("3") != std::string::npos);
  CHECK(m1 == message_of([&] {
          (void)reinforce_pp_advantages(exec::thrust, bad.view(bad.rewards), bad.m(), 1.0, bad.out(r), bad.out(a));
        }));
  CHECK_THROWS_AS(
      (void)reinforce_pp_advantages(exec::thrust, bad.view(bad.rewards), bad.m(), 1.5, bad.out(r), bad.out(a)),
      mmrag_rft::error);
  const token_case<T> empty(0, 0, 35);
  std::vector<T> none;
  const auto s = reinforce_pp_advantages(exec::thrust, empty.view(empty.rewards), empty.m(), 1.0, empty.out(none),
                                         empty.out(none));
  CHECK(s.count == 0);
}

TEST_CASE_TEMPLATE("thrust reinforce_pp_baseline_advantages: matches seq on uniform groups and offsets", T, float,
                   double) {
  const token_case<T> c(40, 23, 36);
  const auto r = random_rewards<T>(40, 37, false);
  std::vector<std::int64_t> off{0, 1, 1, 4, 9, 9, 17, 30, 40}; // a singleton (mean 0) and empty groups
  for (int layout = 0; layout < 2; ++layout)
    for (const auto& w : whitening_option_set()) {
      CAPTURE(layout);
      const group_layout g = layout == 0 ? group_layout::uniform(5, 8) : group_layout::from_offsets(off);
      std::vector<T> a1(40, T(7)), a2(40, T(7));
      const auto s1 = reinforce_pp_baseline_advantages(std::span<const T>(r), g, c.m(), std::span<T>(a1), w);
      const auto s2 =
          reinforce_pp_baseline_advantages(exec::thrust, std::span<const T>(r), g, c.m(), std::span<T>(a2), w);
      check_stats<T>(s1, s2);
      check_same(a1, a2, false);
      CHECK(a2[2] == T(0)); // row 2 has no valid token
    }
  auto nan = r;
  nan[11] = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> a(40);
  const group_layout g = group_layout::uniform(5, 8);
  const auto m1 =
      message_of([&] { (void)reinforce_pp_baseline_advantages(std::span<const T>(nan), g, c.m(), std::span<T>(a)); });
  CHECK(!m1.empty());
  CHECK(m1 == message_of([&] {
          (void)reinforce_pp_baseline_advantages(exec::thrust, std::span<const T>(nan), g, c.m(), std::span<T>(a));
        }));
}

TEST_CASE_TEMPLATE("thrust gae_advantages: returns bitwise seq's, with and without whitening; errors alike", T, float,
                   double) {
  const token_case<T> c(31, 45, 38, 2);
  for (const auto& [gamma, lam] : {std::pair{1.0, 1.0}, std::pair{0.99, 0.95}, std::pair{0.5, 0.0}})
    for (const bool whiten : {true, false}) {
      const double gamma_v = gamma, lambda_v = lam; // clang before 16 cannot capture a structured binding
      CAPTURE(gamma_v);
      CAPTURE(lambda_v);
      CAPTURE(whiten);
      gae_options o;
      o.gamma = gamma, o.lam = lam, o.whiten = whiten;
      auto a1 = c.fresh(), a2 = c.fresh(), r1 = c.fresh(), r2 = c.fresh();
      const auto s1 = gae_advantages(c.view(c.rewards), c.view(c.values), c.m(), c.out(a1), c.out(r1), o);
      const auto s2 = gae_advantages(exec::thrust, c.view(c.rewards), c.view(c.values), c.m(), c.out(a2), c.out(r2), o);
      check_stats<T>(s1, s2);
      check_same(r1, r2, true);
      check_same(a1, a2, !whiten);
    }
  token_case<T> bad(4, 5, 39);
  bad.mask.assign(bad.mask.size(), 1);
  bad.rewards.assign(bad.rewards.size(), T(0));
  bad.values.assign(bad.values.size(), T(0.5));
  bad.values[2 * 5 + 4] = std::numeric_limits<T>::quiet_NaN();
  auto a = bad.fresh(), r = bad.fresh();
  const auto m1 = message_of(
      [&] { (void)gae_advantages(bad.view(bad.rewards), bad.view(bad.values), bad.m(), bad.out(a), bad.out(r)); });
  CHECK(!m1.empty());
  CHECK(m1 == message_of([&] {
          (void)gae_advantages(exec::thrust, bad.view(bad.rewards), bad.view(bad.values), bad.m(), bad.out(a),
                               bad.out(r));
        }));
}

TEST_CASE_TEMPLATE("thrust masked_whiten and broadcast_advantages match seq", T, float, double) {
  const token_case<T> c(17, 33, 40, 4);
  for (const auto& w : whitening_option_set()) {
    auto v1 = c.values, v2 = c.values;
    const auto s0 = masked_whitening_stats(exec::thrust, c.view(c.values), c.m(), w);
    const auto s1 = masked_whiten(c.out(v1), c.m(), w);
    const auto s2 = masked_whiten(exec::thrust, c.out(v2), c.m(), w);
    check_stats<T>(s1, s0);
    check_stats<T>(s1, s2);
    check_same(v1, v2, false);
  }
  whitening_options neg;
  neg.epsilon = -1;
  auto v = c.values;
  CHECK_THROWS_AS((void)masked_whiten(exec::thrust, c.out(v), c.m(), neg), mmrag_rft::error);
  const auto seq_adv = random_rewards<T>(17, 41, false);
  auto b1 = c.fresh(), b2 = c.fresh();
  broadcast_advantages(std::span<const T>(seq_adv), c.m(), c.out(b1));
  broadcast_advantages(exec::thrust, std::span<const T>(seq_adv), c.m(), c.out(b2));
  check_same(b1, b2, true);
}
TEST_CASE_TEMPLATE("thrust build_response_mask: bitwise seq's for every option, with and without lengths", Id,
                   std::int32_t, std::int64_t) {
  const std::size_t rows = 57, cols = 40, stride = 43;
  const Id eos = 2;
  std::mt19937 gen(42);
  std::vector<Id> ids(rows * stride);
  for (auto& x : ids) x = static_cast<Id>(3 + gen() % 50);
  std::vector<std::int64_t> lengths(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    lengths[i] = static_cast<std::int64_t>(gen() % (cols + 1));
    if (i % 3 != 0) ids[i * stride + gen() % cols] = eos; // some rows have EOS, maybe after their length
    if (i % 10 == 4) ids[i * stride] = eos;               // EOS first
  }
  const matrix_view<const Id> v(ids.data(), rows, cols, stride);
  for (const bool include_eos : {true, false})
    for (const bool mask_truncated : {false, true})
      for (const bool with_lengths : {false, true}) {
        CAPTURE(include_eos);
        CAPTURE(mask_truncated);
        CAPTURE(with_lengths);
        const response_mask_options o{include_eos, mask_truncated};
        std::vector<std::uint8_t> m1(rows * stride, 9), m2(rows * stride, 9), t1(rows, 9), t2(rows, 9);
        const std::span<const std::int64_t> len =
            with_lengths ? std::span<const std::int64_t>(lengths) : std::span<const std::int64_t>{};
        const auto s1 =
            build_response_mask(v, eos, matrix_view<std::uint8_t>(m1.data(), rows, cols, stride), o, len, t1);
        const auto s2 = build_response_mask(exec::thrust, v, eos,
                                            matrix_view<std::uint8_t>(m2.data(), rows, cols, stride), o, len, t2);
        CHECK(s1.truncated == s2.truncated);
        CHECK(s1.valid_tokens == s2.valid_tokens);
        CHECK(m1 == m2); // padding columns untouched (9) by both
        CHECK(t1 == t2);
      }
  auto bad = lengths;
  bad[13] = static_cast<std::int64_t>(cols) + 1;
  bad[20] = -1;
  const std::vector<std::uint8_t> untouched(rows * stride, 9), untouched_rows(rows, 9);
  std::vector<std::uint8_t> m = untouched, t = untouched_rows;
  const auto run = [&](auto&&... exec) {
    return message_of([&] {
      (void)build_response_mask(exec..., v, eos, matrix_view<std::uint8_t>(m.data(), rows, cols, stride), {},
                                std::span<const std::int64_t>(bad), t);
    });
  };
  CHECK(run().find("13") != std::string::npos);
  CHECK(run() == run(exec::thrust));
  // Validation comes before any write: a bad length leaves the mask and the flags as they were, every row of them.
  CHECK(m == untouched);
  CHECK(t == untouched_rows);
  std::vector<Id> none;
  std::vector<std::uint8_t> no_mask;
  const auto e = build_response_mask(exec::thrust, matrix_view<const Id>(none.data(), 0, 0), eos,
                                     matrix_view<std::uint8_t>(no_mask.data(), 0, 0));
  CHECK(e.valid_tokens == 0);
  std::vector<std::int64_t> zero_len(3, 0);
  std::vector<std::uint8_t> trunc(3, 9);
  const auto z = build_response_mask(exec::thrust, matrix_view<const Id>(none.data(), 3, 0), eos,
                                     matrix_view<std::uint8_t>(no_mask.data(), 3, 0), {}, zero_len, trunc);
  CHECK(z.truncated == 3); // rows of nothing: no EOS
  CHECK(trunc == std::vector<std::uint8_t>(3, 1));
}
TEST_CASE("group_bounds: the CUDA kernels' item-to-group search finds every item's group, empty groups skipped") {
  std::mt19937 gen(43);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t groups = 1 + gen() % 40;
    std::vector<std::int64_t> off{0};
    for (std::size_t g = 0; g < groups; ++g)
      off.push_back(off.back() + static_cast<std::int64_t>(gen() % 4 == 0 ? 0 : gen() % 6)); // many empty groups
    const detail::group_bounds b{off.data(), 0, groups};
    for (std::size_t g = 0; g < groups; ++g)
      for (std::size_t j = b.begin(g); j < b.end(g); ++j) CHECK(b.group_of(j) == g);
  }
  const detail::group_bounds u{nullptr, 8, 5};
  for (std::size_t j = 0; j < 40; ++j) CHECK(u.group_of(j) == j / 8);
  CHECK(u.end(4) == 40);
}
} // TEST_SUITE("thrust")

namespace {

// ---- OPO, GPG, GRPO pass@k, ReMax ------------------------------------------------------------------------------------

void check_summary(const advantage_summary& a, const advantage_summary& b) {
  CHECK(a.groups == b.groups);
  CHECK(a.degenerate_groups == b.degenerate_groups);
  CHECK(a.singleton_groups == b.singleton_groups);
  CHECK(a.masked_out == b.masked_out);
}

// Offsets over n completions with empty groups and groups of 2..9 (and singletons unless `no_singletons`).
std::vector<std::int64_t> ragged_offsets(std::int64_t n, std::uint32_t seed, bool no_singletons) {
  std::vector<std::int64_t> off{0, 0, 2};
  if (!no_singletons) off.push_back(3);
  std::mt19937 gen(seed);
  while (off.back() < n) {
    std::int64_t step = static_cast<std::int64_t>(gen() % 10);
    if (no_singletons && step == 1) step = 0;
    if (n - off.back() < 2) step = n - off.back();
    if (no_singletons && n - off.back() - step == 1) step += 1;
    off.push_back(std::min<std::int64_t>(n, off.back() + step));
  }
  return off;
}

// The layouts every baseline estimator runs on: equal groups of 8, ragged offsets, and (unless `no_singletons`)
// singletons only. A layout views its offsets, so the set owns them.
struct baseline_layouts {
  std::vector<std::int64_t> offsets;
  std::vector<group_layout> layouts;
  baseline_layouts(std::size_t n, bool no_singletons)
      : offsets(ragged_offsets(static_cast<std::int64_t>(n), 7, no_singletons)),
        layouts{group_layout::uniform(n / 8, 8), group_layout::from_offsets(offsets)} {
    if (!no_singletons) layouts.push_back(group_layout::uniform(n, 1));
  }
};

// Reward sets: normal rewards, and discrete ones (all-equal groups, ties at the top, zeros).
template <class T>
std::vector<std::vector<T>> baseline_rewards(std::size_t n) {
  return {random_rewards<T>(n, 41, false), random_rewards<T>(n, 42, true)};
}

// Runs `call(backend, advantages)` on exec::seq and exec::thrust: summaries equal and advantages bitwise.
template <class T, class Call>
void compare_baseline(std::size_t n, Call&& call) {
  std::vector<T> a1(n, T(-7)), a2(n, T(-7));
  const advantage_summary s1 = call(exec::seq, std::span<T>(a1));
  const advantage_summary s2 = call(exec::thrust, std::span<T>(a2));
  check_summary(s1, s2);
  check_same(a1, a2, true);
}

// The same located error (non-empty) from exec::seq and exec::thrust.
template <class Call>
void same_error(Call&& call, const char* expect) {
  const std::string m1 = message_of([&] { call(exec::seq); });
  CAPTURE(m1);
  CHECK(m1.find(expect) != std::string::npos);
  CHECK(m1 == message_of([&] { call(exec::thrust); }));
}

} // namespace

TEST_SUITE("thrust") {
TEST_CASE_TEMPLATE("thrust opo_advantages: bitwise seq's on every layout, empty rows and token-less groups", T, float,
                   double) {
  const std::size_t n = 4000;
  token_case<T> tc(n, 24, 9, 3);
  for (std::size_t j = 0; j < 8 * tc.stride; ++j) tc.mask[j] = 0; // the first group of 8 has no valid token
  const baseline_layouts layouts(n, false);
  for (const auto& r : baseline_rewards<T>(n))
    for (const auto& g : layouts.layouts) {
      compare_baseline<T>(
          n, [&](const auto& e, std::span<T> a) { return opo_advantages(e, std::span<const T>(r), g, tc.m(), a); });
    }
  std::vector<T> none;
  const std::vector<std::int64_t> empty_groups{0, 0};
  for (const auto& g : {group_layout::uniform(0, 8), group_layout::from_offsets(empty_groups)})
    compare_baseline<T>(0, [&](const auto& e, std::span<T> a) {
      return opo_advantages(e, std::span<const T>(none), g, mask_view(nullptr, 0, 5, 5), a);
    });
}

TEST_CASE_TEMPLATE("thrust gpg_advantages: bitwise seq's for every option, all-zero batches included", T, float,
                   double) {
  const std::size_t n = 4000;
  std::vector<gpg_options> opts(4);
  opts[1].scale_by_nonzero = false;
  opts[2].float32_alpha = false;
  opts[3].f_norm = 2.5;
  auto sets = baseline_rewards<T>(n);
  sets.push_back(std::vector<T>(n, T(0)));
  const baseline_layouts layouts(n, false);
  for (const auto& o : opts)
    for (const auto& r : sets)
      for (const auto& g : layouts.layouts)
        compare_baseline<T>(
            n, [&](const auto& e, std::span<T> a) { return gpg_advantages(e, std::span<const T>(r), g, a, o); });
  std::vector<T> none;
  compare_baseline<T>(0, [&](const auto& e, std::span<T> a) {
    return gpg_advantages(e, std::span<const T>(none), group_layout::uniform(0, 4), a);
  });
}

TEST_CASE_TEMPLATE("thrust grpo_passk_advantages: bitwise seq's, ties and all-equal groups counted alike", T, float,
                   double) {
  const std::size_t n = 4000;
  std::vector<grpo_passk_options> opts(3);
  opts[1].norm_adv_by_std_in_grpo = false;
  opts[2].epsilon = 0;
  const baseline_layouts layouts(n, true);
  for (const auto& o : opts)
    for (const auto& r : baseline_rewards<T>(n))
      for (const auto& g : layouts.layouts)
        compare_baseline<T>(
            n, [&](const auto& e, std::span<T> a) { return grpo_passk_advantages(e, std::span<const T>(r), g, a, o); });
  std::vector<T> none;
  compare_baseline<T>(0, [&](const auto& e, std::span<T> a) {
    return grpo_passk_advantages(e, std::span<const T>(none),
                                 group_layout::from_offsets(std::vector<std::int64_t>{0, 0}), a);
  });
}

TEST_CASE_TEMPLATE("thrust remax_advantages: bitwise seq's, empty batch included", T, float, double) {
  for (const std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{4000}}) {
    const auto r = random_rewards<T>(n, 43, false), b = random_rewards<T>(n, 44, true);
    compare_baseline<T>(n, [&](const auto& e, std::span<T> a) {
      remax_advantages(e, std::span<const T>(r), std::span<const T>(b), a);
      return advantage_summary{};
    });
  }
}

TEST_CASE_TEMPLATE("thrust baseline estimators: the same located errors as seq", T, float, double) {
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  std::vector<T> r{T(1), T(2), T(3), nan, T(5), T(6)}, fine{T(1), T(2), T(3), T(4), T(5), T(6)}, a(6), short_a(5);
  std::vector<std::uint8_t> mask(6 * 2, 1);
  const mask_view m(mask.data(), 6, 2, 2), m5(mask.data(), 5, 2, 2);
  const auto g = group_layout::uniform(3, 2);
  const auto rs = std::span<const T>(r), fs = std::span<const T>(fine);
  same_error([&](const auto& e) { (void)opo_advantages(e, rs, g, m, std::span<T>(a)); }, "rewards[3]");
  same_error([&](const auto& e) { (void)opo_advantages(e, fs, g, m5, std::span<T>(a)); }, "mask");
  same_error([&](const auto& e) { (void)opo_advantages(e, fs, g, m, std::span<T>(short_a)); }, "advantages");
  same_error([&](const auto& e) { (void)gpg_advantages(e, rs, g, std::span<T>(a)); }, "rewards[3]");
  same_error([&](const auto& e) { (void)gpg_advantages(e, fs, g, std::span<T>(short_a)); }, "advantages");
  gpg_options bad_norm;
  bad_norm.f_norm = 0;
  same_error([&](const auto& e) { (void)gpg_advantages(e, fs, g, std::span<T>(a), bad_norm); }, "f_norm");
  same_error([&](const auto& e) { (void)grpo_passk_advantages(e, rs, g, std::span<T>(a)); }, "rewards[3]");
  same_error(
      [&](const auto& e) {
        (void)grpo_passk_advantages(e, fs, group_layout::from_offsets(std::vector<std::int64_t>{0, 2, 3, 6}),
                                    std::span<T>(a));
      },
      "groups[1]");
  grpo_passk_options bad_eps;
  bad_eps.epsilon = -1;
  same_error([&](const auto& e) { (void)grpo_passk_advantages(e, fs, g, std::span<T>(a), bad_eps); }, "epsilon");
  std::vector<T> greedy{T(0), T(0), T(0), T(0), inf, T(0)};
  same_error([&](const auto& e) { remax_advantages(e, rs, fs, std::span<T>(a)); }, "rewards[3]");
  same_error([&](const auto& e) { remax_advantages(e, fs, std::span<const T>(greedy), std::span<T>(a)); },
             "greedy_rewards[4]");
  same_error([&](const auto& e) { remax_advantages(e, fs, fs.first(5), std::span<T>(a)); }, "greedy_rewards");
}
} // TEST_SUITE("thrust")

TEST_CASE("thrust grpo_advantages: a batch std over rewards near DBL_MAX agrees with exec::seq") {
  grpo_options o = grpo_options::trl();
  o.scale = reward_scale::batch;
  const double big = 1.7e308;
  for (const auto& r :
       {std::vector<double>{1e308, 1e308, -1e308, -1e308, 3.0, 5.0}, std::vector<double>{-big, big, big, -big}}) {
    compare_grpo(r, group_layout::uniform(r.size() / 2, 2), o);
    std::vector<std::int64_t> off;
    for (std::size_t j = 0; j <= r.size(); j += 2) off.push_back(static_cast<std::int64_t>(j));
    compare_grpo(r, group_layout::from_offsets(off), o);
  }
}
