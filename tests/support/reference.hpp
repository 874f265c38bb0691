// SPDX-License-Identifier: Apache-2.0
// An independent float64 oracle of the policy loss, written from the verl/TRL definitions token by token, with no
// code shared with the library. Gradients of the library are checked against central finite differences of it.
#pragma once
#include <mmrag_rft/losses/options.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace mmrag_rft::test {

struct reference_batch {
  std::size_t rows = 0, cols = 0;
  std::vector<double> lp, old, ref, ent, adv; // adv: rows*cols (token) or rows (sequence)
  bool seq_adv = false;
  bool has_old = true;
  std::vector<std::uint8_t> mask;
  /// Stop-gradient copy of lp (CISPO's weight, DPPO's truncated ratio and mask read it): finite differences move lp
  /// and leave it. Empty: lp.
  std::vector<double> lp_sg;
  /// Token weights of the policy-gradient term (verl's rollout_is_weights). Empty: 1.
  std::vector<double> iw;
};

/// The per-token surrogate of CISPO, SAPO and GPG, from their verl definitions; r is the (clamped) token ratio and
/// r_sg the same ratio from the stop-gradient log-probs.
inline double ref_alt_surrogate(const policy_loss_options& o, double lp, double r, double r_sg, double a) {
  switch (o.mode) {
  case policy_loss_mode::cispo:
    return -std::min(std::max(r_sg, 1.0 - o.clip_ratio_low), 1.0 + o.clip_ratio_high) * a * lp;
  case policy_loss_mode::sapo: {
    const double tau = a > 0 ? o.sapo_tau_pos : o.sapo_tau_neg;
    return -a * (4.0 / tau) / (1.0 + std::exp(-tau * (r - 1.0)));
  }
  case policy_loss_mode::gpg: return -lp * a;
  default: return 0;
  }
}

/// DPPO-Binary-TV / -KL of one token from verl's definition: -A min(r, c) logp times the trust-region mask, where
/// the ratio and the mask are those of the stop-gradient log-prob lp_sg (verl detaches both).
inline double ref_dppo_surrogate(const policy_loss_options& o, double lp, double lp_sg, double old, double a) {
  double x = lp_sg - old;
  if (o.log_ratio_clamp) x = std::min(std::max(x, -*o.log_ratio_clamp), *o.log_ratio_clamp);
  const double r = std::exp(x);
  const double truncated = o.clip_ratio_c ? std::min(r, *o.clip_ratio_c) : r;
  const double p = std::exp(lp_sg), q = std::exp(old); // current and old probability of the token
  bool keep;
  if (o.mode == policy_loss_mode::dppo_tv) {
    keep = a > 0 ? p - q <= o.clip_ratio_high : p - q >= -o.clip_ratio_low;
  } else {
    const double bkl = q * std::log(q / p) + (1 - q) * std::log((1 - q + 1e-8) / (1 - p + 1e-8));
    keep = a > 0 ? (bkl <= o.clip_ratio_high || p <= q) : (bkl <= o.clip_ratio_low || p >= q);
  }
  return keep ? -a * truncated * lp : 0.0;
}

inline double ref_kl(double lp, double ref, kl_estimator e, kl_clamp c) {
  double x = lp - ref, k = 0;
  switch (e) {
  case kl_estimator::none: return 0;
  case kl_estimator::k1: k = x; break;
  case kl_estimator::abs: k = std::fabs(x); break;
  case kl_estimator::k2: k = 0.5 * x * x; break;
  case kl_estimator::k3: {
    double kl = ref - lp;
    if (c == kl_clamp::verl) kl = std::min(std::max(kl, -20.0), 20.0);
    k = std::exp(kl) - kl - 1.0;
    if (c == kl_clamp::verl) k = std::min(std::max(k, -10.0), 10.0);
    break;
  }
  }
  if (c == kl_clamp::openrlhf) k = std::min(std::max(k, -10.0), 10.0);
  return k;
}

/// The total loss, computed the way a PyTorch formulation would: a per-token loss matrix, then the aggregation.
inline double reference_loss(const reference_batch& b, const policy_loss_options& o) {
  const std::size_t B = b.rows, T = b.cols;
  std::vector<double> len(B, 0), s(B, 0);
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t t = 0; t < T; ++t)
      if (b.mask[i * T + t]) {
        len[i] += 1;
        const double old = b.has_old ? b.old[i * T + t] : b.lp[i * T + t];
        s[i] += b.lp[i * T + t] - old;
      }
  double n_tok = 0, n_seq = 0;
  for (std::size_t i = 0; i < B; ++i) n_tok += len[i], n_seq += len[i] > 0;
  std::vector<double> L(B * T, 0);
  for (std::size_t i = 0; i < B; ++i)
    for (std::size_t t = 0; t < T; ++t) {
      const std::size_t k = i * T + t;
      if (!b.mask[k]) continue;
      const double a = b.seq_adv ? b.adv[i] : b.adv[k];
      const double old = b.has_old ? b.old[k] : b.lp[k];
      double r;
      if (o.mode == policy_loss_mode::gspo) {
        double lr = s[i] / std::max(len[i], 1.0);
        if (o.gspo_log_ratio_max) lr = std::min(lr, *o.gspo_log_ratio_max);
        r = std::exp(lr);
      } else {
        double lr = b.lp[k] - old;
        if (o.log_ratio_clamp) lr = std::min(std::max(lr, -*o.log_ratio_clamp), *o.log_ratio_clamp);
        r = std::exp(lr);
      }
      const double r1 = o.delta ? std::min(r, *o.delta) : r;
      const double l1 = -a * r1;
      const double l2 = -a * std::min(std::max(r, 1.0 - o.clip_ratio_low), 1.0 + o.clip_ratio_high);
      double pg = std::max(l1, l2);
      // The dual clip is PPO's: verl's compute_policy_loss_gspo has none (nor has TRL).
      if (o.clip_ratio_c && a < 0 && o.mode != policy_loss_mode::gspo) pg = std::min(pg, -a * *o.clip_ratio_c);
      if (o.mode == policy_loss_mode::cispo || o.mode == policy_loss_mode::sapo || o.mode == policy_loss_mode::gpg) {
        const double lp_sg = b.lp_sg.empty() ? b.lp[k] : b.lp_sg[k];
        double lr_sg = lp_sg - (b.has_old ? b.old[k] : lp_sg);
        if (o.log_ratio_clamp) lr_sg = std::min(std::max(lr_sg, -*o.log_ratio_clamp), *o.log_ratio_clamp);
        pg = ref_alt_surrogate(o, b.lp[k], r, std::exp(lr_sg), a);
      }
      if (o.mode == policy_loss_mode::dppo_tv || o.mode == policy_loss_mode::dppo_kl) {
        const double lp_sg = b.lp_sg.empty() ? b.lp[k] : b.lp_sg[k];
        pg = ref_dppo_surrogate(o, b.lp[k], lp_sg, b.has_old ? b.old[k] : lp_sg, a);
      }
      if (!b.iw.empty()) pg *= b.iw[k]; // verl: pg_losses * rollout_is_weights, the KL term unweighted
      double kl = ref_kl(b.lp[k], b.ref.empty() ? 0 : b.ref[k], o.kl, o.kl_clamps);
      if (o.kl_importance_corrected) kl *= r;
      const double h = b.ent.empty() ? 0 : b.ent[k];
      L[k] = pg + o.kl_coef * kl - o.entropy_coeff * h;
    }
  // verl's compute_policy_loss_gspo and _sapo aggregate seq-mean-token-mean whatever loss_agg_mode says.
  const bool forced = o.gspo_sapo_seq_mean && (o.mode == policy_loss_mode::gspo || o.mode == policy_loss_mode::sapo);
  const loss_aggregation agg = forced ? loss_aggregation::seq_mean_token_mean : o.aggregation;
  double total = 0;
  for (std::size_t i = 0; i < B; ++i) {
    double row = 0;
    for (std::size_t t = 0; t < T; ++t)
      if (b.mask[i * T + t]) row += L[i * T + t];
    switch (agg) {
    case loss_aggregation::token_mean: total += row / (o.normalizer ? *o.normalizer : n_tok); break;
    case loss_aggregation::seq_mean_token_sum: total += row / (o.normalizer ? *o.normalizer : n_seq); break;
    case loss_aggregation::seq_mean_token_mean:
      if (len[i] > 0) total += row / (len[i] + o.count_epsilon) / (o.normalizer ? *o.normalizer : n_seq);
      break;
    case loss_aggregation::seq_mean_token_sum_norm: {
      double c = o.normalizer ? *o.normalizer : static_cast<double>(T);
      if (o.sum_norm_seq_mean) c *= o.sum_norm_sequences ? *o.sum_norm_sequences : n_seq;
      total += row / c;
      break;
    }
    case loss_aggregation::token_sum: total += row; break;
    }
  }
  if (n_tok == 0) return 0;
  return total * o.loss_scale;
}

/// The float64 oracle of GMPO, Clip-Cov and KL-Cov, from verl's compute_policy_loss_geo_mean / _clip_cov / _kl_cov:
/// the policy-gradient term as verl forms it, plus the KL and entropy terms aggregated with `o.aggregation`.
/// `forced`: the Clip-Cov / KL-Cov token choice (row-major, 1 = chosen); null: chosen here (KL-Cov: the top k by a
/// full sort, ties by index; Clip-Cov: every candidate, which is the choice whenever candidates <= k).
inline double reference_batch_mode_loss(const reference_batch& b, const policy_loss_options& o,
                                        const std::vector<std::uint8_t>* forced = nullptr) {
  const std::size_t B = b.rows, T = b.cols;
  auto A = [&](std::size_t i, std::size_t t) { return b.seq_adv ? b.adv[i] : b.adv[i * T + t]; };
  auto OLD = [&](std::size_t k) { return b.has_old ? b.old[k] : (b.lp_sg.empty() ? b.lp[k] : b.lp_sg[k]); };
  auto W = [&](std::size_t k) { return b.iw.empty() ? 1.0 : b.iw[k]; };
  std::vector<double> len(B, 0);
  double n_tok = 0, n_seq = 0, a_sum = 0, l_sum = 0;
  for (std::size_t i = 0; i < B; ++i) {
    for (std::size_t t = 0; t < T; ++t)
      if (b.mask[i * T + t]) len[i] += 1, a_sum += A(i, t), l_sum += b.lp[i * T + t];
    n_tok += len[i], n_seq += len[i] > 0;
  }
  if (n_tok == 0) return 0;
  const double lo = 1 - o.clip_ratio_low, hi = 1 + o.clip_ratio_high;
  std::vector<std::uint8_t> pick(B * T, 0);
  if (forced) pick = *forced;
  else if (o.mode == policy_loss_mode::clip_cov) {
    const double am = a_sum / (n_tok + o.count_epsilon), lm = l_sum / (n_tok + o.count_epsilon);
    for (std::size_t i = 0; i < B; ++i)
      for (std::size_t t = 0; t < T; ++t) {
        const std::size_t k = i * T + t;
        const double r = std::exp(b.lp[k] - OLD(k)), a = A(i, t);
        const double c = (a - am) * (b.lp[k] - lm);
        const bool by_origin = -a * std::min(std::max(r, lo), hi) > -a * r;
        pick[k] = b.mask[k] && !by_origin && c > o.clip_cov_lb && c < o.clip_cov_ub;
      }
  } else if (o.mode == policy_loss_mode::kl_cov) {
    const double am = a_sum / n_tok, lm = l_sum / n_tok;
    std::vector<std::pair<double, std::size_t>> cov;
    for (std::size_t i = 0; i < B; ++i)
      for (std::size_t t = 0; t < T; ++t)
        if (b.mask[i * T + t]) cov.push_back({-(A(i, t) - am) * (b.lp[i * T + t] - lm), i * T + t});
    std::sort(cov.begin(), cov.end());
    const auto k = std::min(cov.size(), static_cast<std::size_t>(std::max(1.0, std::floor(n_tok * o.kl_cov_ratio))));
    for (std::size_t j = 0; j < k; ++j) pick[cov[j].second] = 1;
  }
  // Per-token losses of the KL, entropy and (Clip-Cov, KL-Cov) policy-gradient terms, aggregated like agg_loss.
  std::vector<double> L(B * T, 0);
  for (std::size_t k = 0; k < B * T; ++k) {
    if (!b.mask[k]) continue;
    const double a = A(k / T, k % T), x = b.lp[k] - OLD(k), r = std::exp(x);
    double pg = 0;
    if (o.mode == policy_loss_mode::clip_cov)
      pg = pick[k] ? 0.0 : std::max(-a * r, -a * std::min(std::max(r, lo), hi)) * W(k);
    else if (o.mode == policy_loss_mode::kl_cov) pg = (-a * r + (pick[k] ? o.kl_cov_coef * std::fabs(x) : 0.0)) * W(k);
    L[k] = pg + o.kl_coef * ref_kl(b.lp[k], b.ref.empty() ? 0 : b.ref[k], o.kl, o.kl_clamps) -
           o.entropy_coeff * (b.ent.empty() ? 0 : b.ent[k]);
  }
  double total = 0;
  for (std::size_t i = 0; i < B; ++i) {
    double row = 0;
    for (std::size_t t = 0; t < T; ++t) row += b.mask[i * T + t] ? L[i * T + t] : 0.0;
    const double N = o.normalizer ? *o.normalizer : 0.0;
    switch (o.aggregation) {
    case loss_aggregation::token_mean: total += row / (o.normalizer ? N : n_tok); break;
    case loss_aggregation::seq_mean_token_sum: total += row / (o.normalizer ? N : n_seq); break;
    case loss_aggregation::seq_mean_token_mean:
      if (len[i] > 0) total += row / (len[i] + o.count_epsilon) / (o.normalizer ? N : n_seq);
      break;
    case loss_aggregation::seq_mean_token_sum_norm: {
      double c = o.normalizer ? N : static_cast<double>(T);
      if (o.sum_norm_seq_mean) c *= o.sum_norm_sequences ? *o.sum_norm_sequences : n_seq;
      total += row / c;
      break;
    }
    case loss_aggregation::token_sum: total += row; break;
    }
  }
  total *= o.loss_scale;
  if (o.mode == policy_loss_mode::gmpo) {
    // verl geo_mean: sequence ratio of the sign-aware clipped log-ratios, mean advantage, torch.mean over rows.
    double pg = 0;
    for (std::size_t i = 0; i < B; ++i) {
      double xs = 0, as = 0, lw = 0;
      for (std::size_t t = 0; t < T; ++t) {
        const std::size_t k = i * T + t;
        if (!b.mask[k]) continue;
        const double a = A(i, t), sg = (a > 0) - (a < 0), x = b.lp[k] - OLD(k);
        const double xc = std::min(std::max(x, -o.clip_ratio_low), o.clip_ratio_high);
        xs += sg * std::min(sg * x, sg * xc), as += a, lw += std::log(W(k) + o.gmpo_log_weight_epsilon);
      }
      const double n = len[i] + o.count_epsilon;
      if (len[i] > 0) pg += -(as / n) * std::exp(xs / n) * std::exp(lw / n);
    }
    total += o.loss_scale * pg / static_cast<double>(B);
  }
  return total;
}

} // namespace mmrag_rft::test
