// SPDX-License-Identifier: Apache-2.0
// Policy-loss cases shared by the Thrust backend's tests and the CPU run of the CUDA kernel's schedule: a batch with
// rows of every length (some empty), the option sets, and the comparison with exec::seq (1e-5 relative in float,
// 1e-12 in double).
#pragma once
#include <mmrag_rft/losses/policy_loss.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace loss_cases {

using namespace mmrag_rft;

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

template <class T>
struct loss_case {
  std::size_t rows, cols, stride;
  std::vector<T> lp, old, adv, seq_adv, ref, ent, weights;
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
    // Token weights from a generator of their own, so that the other inputs are those of the unweighted cases.
    std::mt19937 wgen(seed ^ 0x5eedu);
    weights.resize(n);
    for (auto& x : weights) x = static_cast<T>(2.0 * u(wgen));
  }
  [[nodiscard]] matrix_view<const T> view(const std::vector<T>& v) const { return {v.data(), rows, cols, stride}; }
  [[nodiscard]] policy_loss_inputs<T> inputs(bool sequence_advantages, bool on_policy, bool weighted = false) const {
    policy_loss_inputs<T> in;
    in.log_probs = view(lp);
    if (!on_policy) in.old_log_probs = view(old);
    if (sequence_advantages) in.sequence_advantages = seq_adv;
    else in.advantages = view(adv);
    in.mask = mask_view(mask.data(), rows, cols, stride);
    in.ref_log_probs = view(ref);
    in.entropy = view(ent);
    if (weighted) in.token_weights = view(weights);
    return in;
  }
};

// `run(inputs, grads, options)` against exec::seq on the case's inputs: loss, statistics, every gradient element,
// and the padding of strided rows never written.
template <class T, class Run>
void compare_loss_to_seq(const loss_case<T>& c, const policy_loss_options& o, bool seq_adv, bool on_policy, Run run,
                         bool weighted = false) {
  const std::size_t n = c.rows * c.stride;
  std::vector<T> g1(n, T(5)), g2(n, T(5)), e1(n, T(5)), e2(n, T(5));
  const auto in = c.inputs(seq_adv, on_policy, weighted);
  const policy_loss_grads<T> out1{{g1.data(), c.rows, c.cols, c.stride}, {e1.data(), c.rows, c.cols, c.stride}};
  const policy_loss_grads<T> out2{{g2.data(), c.rows, c.cols, c.stride}, {e2.data(), c.rows, c.cols, c.stride}};
  const policy_loss_result a = policy_loss(exec::seq, in, out1, o);
  const policy_loss_result b = run(in, out2, o);
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
  add("gspo stop-gradient",
      [](auto& o) { o.mode = policy_loss_mode::gspo, o.clip_ratio_low = 3e-4, o.clip_ratio_high = 4e-4; });
  add("gspo sequence", [](auto& o) {
    o.mode = policy_loss_mode::gspo, o.gspo_grad = gspo_gradient::sequence, o.gspo_log_ratio_max.reset();
  });
  add("gspo low max", [](auto& o) { o.mode = policy_loss_mode::gspo, o.gspo_log_ratio_max = 0.05; });
  add("k1", [](auto& o) { o.kl = kl_estimator::k1, o.kl_coef = 0.1; });
  add("abs", [](auto& o) { o.kl = kl_estimator::abs, o.kl_coef = 0.1; });
  add("k2 openrlhf clamps", [](auto& o) { o.kl = kl_estimator::k2, o.kl_clamps = kl_clamp::openrlhf; });
  add("k3 verl", [](auto& o) { o.kl = kl_estimator::k3, o.kl_coef = 0.05; });
  add("k3+ importance corrected", [](auto& o) {
    o.kl = kl_estimator::k3, o.kl_straight_through = true, o.kl_importance_corrected = true,
    o.kl_clamps = kl_clamp::none;
  });
  add("entropy bonus", [](auto& o) { o.entropy_coeff = 0.01; });
  add("seq-mean-token-sum", [](auto& o) { o.aggregation = loss_aggregation::seq_mean_token_sum; });
  add("seq-mean-token-mean",
      [](auto& o) { o.aggregation = loss_aggregation::seq_mean_token_mean, o.entropy_coeff = 0.1; });
  add("seq-mean-token-sum-norm", [](auto& o) { o.aggregation = loss_aggregation::seq_mean_token_sum_norm; });
  add("global normaliser and scale",
      [](auto& o) { o.normalizer = 1234.0, o.loss_scale = 0.25, o.kl = kl_estimator::k2; });
  add("sum-norm with constant",
      [](auto& o) { o.aggregation = loss_aggregation::seq_mean_token_sum_norm, o.normalizer = 77.0; });
  add("tight log-ratio clamp", [](auto& o) { o.log_ratio_clamp = 0.3; });
  add("cispo", [](auto& o) { o.mode = policy_loss_mode::cispo, o.clip_ratio_high = 0.28; });
  add("sapo", [](auto& o) { o.mode = policy_loss_mode::sapo, o.sapo_tau_pos = 1.5, o.sapo_tau_neg = 3.0; });
  add("sapo k3+ importance corrected",
      [](auto& o) { o.mode = policy_loss_mode::sapo, o.kl = kl_estimator::k3, o.kl_importance_corrected = true; });
  add("gpg seq-mean-token-mean",
      [](auto& o) { o.mode = policy_loss_mode::gpg, o.aggregation = loss_aggregation::seq_mean_token_mean; });
  // DPPO with thresholds and a truncation cap that act on this batch's log-ratios (N(0, 0.4)).
  add("dppo_tv truncated", [](auto& o) {
    o.mode = policy_loss_mode::dppo_tv, o.clip_ratio_low = 0.05, o.clip_ratio_high = 0.03, o.clip_ratio_c = 1.3;
  });
  add("dppo_kl seq-mean-token-sum k3", [](auto& o) {
    o.mode = policy_loss_mode::dppo_kl, o.clip_ratio_low = o.clip_ratio_high = 0.02, o.clip_ratio_c = 1.3;
    o.aggregation = loss_aggregation::seq_mean_token_sum, o.kl = kl_estimator::k3;
  });
  // The framework conventions: verl's GSPO and SAPO (forced seq-mean-token-mean, N + 1e-8), token-sum, and the
  // sum-norm sequence mean counted locally and given.
  v.emplace_back("verl gspo", [] {
    policy_loss_options o = policy_loss_options::verl();
    o.mode = policy_loss_mode::gspo;
    return o;
  }());
  v.emplace_back("verl_2026_01 sapo k3", [] {
    policy_loss_options o = policy_loss_options::verl_2026_01();
    o.mode = policy_loss_mode::sapo, o.kl = kl_estimator::k3;
    return o;
  }());
  add("token-sum scaled", [](auto& o) { o.aggregation = loss_aggregation::token_sum, o.loss_scale = 4.0; });
  add("sum-norm seq mean local", [](auto& o) {
    o.aggregation = loss_aggregation::seq_mean_token_sum_norm, o.sum_norm_seq_mean = true, o.count_epsilon = 1e-8;
  });
  add("sum-norm seq mean given", [](auto& o) {
    o.aggregation = loss_aggregation::seq_mean_token_sum_norm, o.sum_norm_seq_mean = true, o.sum_norm_sequences = 40.0;
    o.normalizer = 1000.0;
  });
  return v;
}

} // namespace loss_cases
