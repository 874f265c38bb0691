// SPDX-License-Identifier: Apache-2.0
// The same cases on exec::seq and exec::thrust; this file is built once per Thrust device system (CPP, OMP), where
// device memory is host memory, so std::vector storage serves both.
#include <mmrag_rft/backends/thrust.hpp>

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

template <class T>
constexpr double tolerance = std::is_same_v<T, float> ? 1e-5 : 1e-12;

// Relative agreement, with a floor on the scale so that sums that cancel to ~0 are compared to their terms' size.
template <class T>
bool close(double a, double b, double floor = 1e-2) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::abs(a - b) <= tolerance<T> * std::max({std::abs(a), std::abs(b), floor});
}

#define CHECK_CLOSE(T, a, b) CHECK_MESSAGE(close<T>((a), (b)), #a " = " << (a) << " vs " << (b))

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

// ---- policy loss ---------------------------------------------------------------------------------------------------

template <class T>
struct loss_case {
  std::size_t rows, cols, stride;
  std::vector<T> lp, old, adv, seq_adv, ref, ent;
  std::vector<std::uint8_t> mask;

  loss_case(std::size_t b, std::size_t t, std::uint32_t seed, std::size_t pad = 0) : rows(b), cols(t), stride(t + pad) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::normal_distribution<double> nrm(0.0, 1.0);
    const std::size_t n = rows * stride;
    lp.resize(n), old.resize(n), adv.resize(n), ref.resize(n), ent.resize(n), mask.resize(n);
    for (std::size_t i = 0; i < rows; ++i) {
      const std::size_t len = i % 5 == 3 ? 0 : 1 + static_cast<std::size_t>(u(gen) * static_cast<double>(cols));
      for (std::size_t k = 0; k < stride; ++k) {
        const std::size_t j = i * stride + k;
        lp[j] = static_cast<T>(-5.0 * u(gen));
        old[j] = static_cast<T>(static_cast<double>(lp[j]) + 0.4 * nrm(gen));
        ref[j] = static_cast<T>(static_cast<double>(lp[j]) + 0.6 * nrm(gen));
        adv[j] = static_cast<T>(nrm(gen));
        ent[j] = static_cast<T>(3.0 * u(gen));
        mask[j] = k < len && k < cols ? 1 : 0;
      }
    }
    seq_adv.resize(rows);
    for (auto& a : seq_adv) a = static_cast<T>(nrm(gen));
  }
  [[nodiscard]] matrix_view<const T> view(const std::vector<T>& v) const { return {v.data(), rows, cols, stride}; }
  [[nodiscard]] policy_loss_inputs<T> inputs(bool sequence_advantages, bool on_policy) const {
    policy_loss_inputs<T> in;
    in.log_probs = view(lp);
    if (!on_policy) in.old_log_probs = view(old);
    if (sequence_advantages) in.sequence_advantages = seq_adv;
    else in.advantages = view(adv);
    in.mask = mask_view(mask.data(), rows, cols, stride);
    in.ref_log_probs = view(ref);
    in.entropy = view(ent);
    return in;
  }
};

template <class T>
void compare_loss(const loss_case<T>& c, const policy_loss_options& o, bool seq_adv = false, bool on_policy = false) {
  const std::size_t n = c.rows * c.stride;
  std::vector<T> g1(n, T(5)), g2(n, T(5)), e1(n, T(5)), e2(n, T(5));
  const auto in = c.inputs(seq_adv, on_policy);
  const policy_loss_grads<T> out1{{g1.data(), c.rows, c.cols, c.stride}, {e1.data(), c.rows, c.cols, c.stride}};
  const policy_loss_grads<T> out2{{g2.data(), c.rows, c.cols, c.stride}, {e2.data(), c.rows, c.cols, c.stride}};
  const policy_loss_result a = policy_loss(exec::seq, in, out1, o);
  const policy_loss_result b = policy_loss(exec::thrust, in, out2, o);
  CHECK_CLOSE(T, a.loss, b.loss);
  CHECK_CLOSE(T, a.pg_loss, b.pg_loss);
  CHECK_CLOSE(T, a.kl_loss, b.kl_loss);
  CHECK_CLOSE(T, a.entropy, b.entropy);
  const auto &s = a.stats, &t = b.stats;
  CHECK(s.valid_tokens == t.valid_tokens);
  CHECK(s.valid_sequences == t.valid_sequences);
  CHECK(s.nonfinite_tokens == t.nonfinite_tokens);
  CHECK_CLOSE(T, s.pg_clipfrac, t.pg_clipfrac);
  CHECK_CLOSE(T, s.pg_clipfrac_lower, t.pg_clipfrac_lower);
  CHECK_CLOSE(T, s.clip_ratio_low, t.clip_ratio_low);
  CHECK_CLOSE(T, s.clip_ratio_high, t.clip_ratio_high);
  CHECK_CLOSE(T, s.clip_ratio_region, t.clip_ratio_region);
  CHECK_CLOSE(T, s.ppo_kl, t.ppo_kl);
  CHECK_CLOSE(T, s.kl_mean, t.kl_mean);
  CHECK_CLOSE(T, s.entropy_mean, t.entropy_mean);
  CHECK_CLOSE(T, s.advantage_mean, t.advantage_mean);
  CHECK(s.advantage_min == t.advantage_min);
  CHECK(s.advantage_max == t.advantage_max);
  CHECK_CLOSE(T, s.ratio_mean, t.ratio_mean);
  // Close, not equal: the CPU's AVX2 / AVX-512 versions use fused multiply-adds (detail/cpu_isa.hpp).
  CHECK_CLOSE(T, s.ratio_min, t.ratio_min);
  CHECK_CLOSE(T, s.ratio_max, t.ratio_max);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < c.rows; ++i)
    for (std::size_t k = 0; k < c.cols; ++k) {
      const std::size_t j = i * c.stride + k;
      bad += !close<T>(g1[j], g2[j], 1e-6) || !close<T>(e1[j], e2[j], 1e-6);
    }
  CHECK_MESSAGE(bad == 0, bad << " gradient elements differ");
  // Padding columns of strided views are never written.
  for (std::size_t i = 0; i < c.rows; ++i)
    for (std::size_t k = c.cols; k < c.stride; ++k) CHECK(g2[i * c.stride + k] == T(5));
}

std::vector<std::pair<std::string, policy_loss_options>> loss_option_set() {
  std::vector<std::pair<std::string, policy_loss_options>> v;
  v.emplace_back("verl", policy_loss_options::verl());
  v.emplace_back("trl", policy_loss_options::trl());
  v.emplace_back("openrlhf", policy_loss_options::openrlhf());
  auto add = [&](std::string name, auto edit) {
    policy_loss_options o;
    edit(o);
    v.emplace_back(std::move(name), o);
  };
  add("clip-higher + delta", [](auto& o) { o.clip_ratio_high = 0.28, o.delta = 1.5, o.clip_ratio_c.reset(); });
  add("gspo stop-gradient", [](auto& o) { o.mode = policy_loss_mode::gspo, o.clip_ratio_low = 3e-4, o.clip_ratio_high = 4e-4; });
  add("gspo sequence", [](auto& o) {
    o.mode = policy_loss_mode::gspo, o.gspo_grad = gspo_gradient::sequence, o.gspo_log_ratio_max.reset();
  });
  add("gspo low max", [](auto& o) { o.mode = policy_loss_mode::gspo, o.gspo_log_ratio_max = 0.05; });
  add("k1", [](auto& o) { o.kl = kl_estimator::k1, o.kl_coef = 0.1; });
  add("abs", [](auto& o) { o.kl = kl_estimator::abs, o.kl_coef = 0.1; });
  add("k2 openrlhf clamps", [](auto& o) { o.kl = kl_estimator::k2, o.kl_clamps = kl_clamp::openrlhf; });
  add("k3 verl", [](auto& o) { o.kl = kl_estimator::k3, o.kl_coef = 0.05; });
  add("k3+ importance corrected", [](auto& o) {
    o.kl = kl_estimator::k3, o.kl_straight_through = true, o.kl_importance_corrected = true, o.kl_clamps = kl_clamp::none;
  });
  add("entropy bonus", [](auto& o) { o.entropy_coeff = 0.01; });
  add("seq-mean-token-sum", [](auto& o) { o.aggregation = loss_aggregation::seq_mean_token_sum; });
  add("seq-mean-token-mean", [](auto& o) { o.aggregation = loss_aggregation::seq_mean_token_mean, o.entropy_coeff = 0.1; });
  add("seq-mean-token-sum-norm", [](auto& o) { o.aggregation = loss_aggregation::seq_mean_token_sum_norm; });
  add("global normaliser and scale", [](auto& o) { o.normalizer = 1234.0, o.loss_scale = 0.25, o.kl = kl_estimator::k2; });
  add("sum-norm with constant", [](auto& o) { o.aggregation = loss_aggregation::seq_mean_token_sum_norm, o.normalizer = 77.0; });
  add("tight log-ratio clamp", [](auto& o) { o.log_ratio_clamp = 0.3; });
  return v;
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
