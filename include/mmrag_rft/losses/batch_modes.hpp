// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/losses.hpp>
// The policy-loss modes that need the whole batch before any token's gradient is known: GMPO (a geometric-mean ratio
// per sequence), Clip-Cov and KL-Cov (a batch-level choice of tokens by the covariance of advantage and log-prob).
// Host code; the CPU backends run it for both exec::seq and exec::par (one serial pass, so the two agree bitwise).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/detail/splitmix64.hpp>
#include <mmrag_rft/losses/plan.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft::detail {

/// The first k of a partial Fisher-Yates shuffle of `items` (k <= size): item j swaps with j + (u mod (n - j)).
/// The modulo's bias (below 2^-40 for batches under 2^24 tokens) does not matter for a token choice.
inline void seeded_choose(std::vector<std::size_t>& items, std::size_t k, std::uint64_t seed) noexcept {
  std::uint64_t state = seed;
  const std::size_t n = items.size();
  for (std::size_t j = 0; j < k && j + 1 < n; ++j) {
    const std::size_t pick = j + static_cast<std::size_t>(splitmix64(state) % (n - j));
    std::swap(items[j], items[pick]);
  }
  items.resize(k);
}

/// The batch modes' policy loss: validated inputs and options, `opt.mode` one of `is_batch_mode`.
template <class T>
[[nodiscard]] policy_loss_result batch_mode_policy_loss(const policy_loss_inputs<T>& in,
                                                        const policy_loss_grads<T>& out,
                                                        const policy_loss_options& opt) {
  const std::size_t rows = in.log_probs.rows(), cols = in.log_probs.cols();
  const policy_loss_mode mode = opt.mode;
  const bool has_old = !in.old_log_probs.empty(), tok_adv = !in.advantages.empty();
  const bool has_iw = !in.token_weights.empty(), has_ent = !in.entropy.empty();
  const bool has_kl = opt.kl != kl_estimator::none;
  auto valid = [&](std::size_t i, std::size_t t) { return in.mask(i, t) != 0; };
  auto lp = [&](std::size_t i, std::size_t t) { return static_cast<double>(in.log_probs(i, t)); };
  auto old = [&](std::size_t i, std::size_t t) {
    return has_old ? static_cast<double>(in.old_log_probs(i, t)) : lp(i, t);
  };
  auto adv = [&](std::size_t i, std::size_t t) {
    return static_cast<double>(tok_adv ? in.advantages(i, t) : in.sequence_advantages[i]);
  };
  auto weight = [&](std::size_t i, std::size_t t) {
    return has_iw ? static_cast<double>(in.token_weights(i, t)) : 1.0;
  };

  // Counts, and the non-finite check before anything is written.
  loss_sums s;
  std::vector<std::size_t> len(rows, 0);
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t t = 0; t < cols; ++t) {
      if (!valid(i, t)) continue;
      ++len[i];
      const T l = in.log_probs(i, t);
      const bool ok = inputs_finite(l, has_old ? in.old_log_probs(i, t) : l, static_cast<T>(adv(i, t)),
                                    has_kl ? in.ref_log_probs(i, t) : T(0), has_ent ? in.entropy(i, t) : T(0)) &&
                      finite(has_iw ? in.token_weights(i, t) : T(0));
      if (!ok) {
        ++s.nonfinite;
        s.first_bad = std::min<unsigned long long>(s.first_bad, i * cols + t);
      }
      if (mode == policy_loss_mode::gmpo && has_iw)
        require(!(in.token_weights(i, t) < T(0)), "policy_loss", "inputs.token_weights",
                "holds a negative weight at valid token [" + std::to_string(i) + ", " + std::to_string(t) +
                    "] (gmpo takes their geometric mean)");
    }
  if (s.nonfinite > 0 && opt.nonfinite == nonfinite_policy::error) return finish_policy_loss(s, 0.0, cols, opt);
  for (std::size_t i = 0; i < rows; ++i) s.tokens += len[i], s.seqs += len[i] > 0;
  const double n_tok = static_cast<double>(s.tokens);

  // Aggregation weights of the KL and entropy terms (and of the Clip-Cov / KL-Cov policy-gradient term), as for the
  // per-token modes; GMPO's policy-gradient term is a mean over the rows.
  loss_plan plan = plan_loss(opt, cols);
  if (plan.local_counts) plan.cp.n_tokens = n_tok, plan.cp.n_seqs = static_cast<double>(s.seqs);
  plan.cp.gspo = false;
  // verl's geo_mean takes torch.mean over the rows (empty rows included) and no global batch information.
  const double gmpo_w = rows > 0 ? opt.loss_scale / static_cast<double>(rows) : 0.0;

  // The batch-level token choice of Clip-Cov and KL-Cov: cov_t over the valid tokens, means as verl takes them
  // (Clip-Cov: masked_mean, N + count_epsilon; KL-Cov: the plain mean).
  std::vector<std::uint8_t> chosen(mode == policy_loss_mode::gmpo ? 0 : rows * cols, 0);
  const double lo = 1.0 - opt.clip_ratio_low, hi = 1.0 + opt.clip_ratio_high;
  if (mode != policy_loss_mode::gmpo && s.tokens > 0) {
    double a_sum = 0, l_sum = 0;
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t t = 0; t < cols; ++t)
        if (valid(i, t)) a_sum += adv(i, t), l_sum += lp(i, t);
    const double div = mode == policy_loss_mode::clip_cov ? n_tok + opt.count_epsilon : n_tok;
    const double a_mean = a_sum / div, l_mean = l_sum / div;
    auto cov = [&](std::size_t i, std::size_t t) { return (adv(i, t) - a_mean) * (lp(i, t) - l_mean); };
    std::vector<std::size_t> cand;
    if (mode == policy_loss_mode::clip_cov) {
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t t = 0; t < cols; ++t) {
          if (!valid(i, t)) continue;
          const double r = std::exp(lp(i, t) - old(i, t)), a = adv(i, t);
          const bool clipped = -a * std::clamp(r, lo, hi) > -a * r; // verl's clip_by_origin: never chosen
          const double c = cov(i, t);
          if (!clipped && c > opt.clip_cov_lb && c < opt.clip_cov_ub) cand.push_back(i * cols + t);
        }
      const auto k = static_cast<std::size_t>(std::max(std::floor(opt.clip_cov_ratio * n_tok), 1.0));
      if (cand.size() > k) seeded_choose(cand, k, opt.cov_selection_seed);
    } else {
      for (std::size_t i = 0; i < rows; ++i)
        for (std::size_t t = 0; t < cols; ++t)
          if (valid(i, t)) cand.push_back(i * cols + t);
      const auto k =
          std::min(cand.size(), static_cast<std::size_t>(std::max(std::floor(opt.kl_cov_ratio * n_tok), 1.0)));
      // Largest covariance first, ties by the lower row-major index; a NaN covariance sorts last.
      auto key = [&](std::size_t f) {
        const double c = cov(f / cols, f % cols);
        return std::isnan(c) ? -std::numeric_limits<double>::infinity() : c;
      };
      std::vector<double> keys(cand.size());
      for (std::size_t j = 0; j < cand.size(); ++j) keys[j] = key(cand[j]);
      std::vector<std::size_t> order(cand.size());
      std::iota(order.begin(), order.end(), std::size_t{0});
      std::partial_sort(
          order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
          [&](std::size_t x, std::size_t y) { return keys[x] > keys[y] || (keys[x] == keys[y] && x < y); });
      std::vector<std::size_t> top(k);
      for (std::size_t j = 0; j < k; ++j) top[j] = cand[order[j]];
      cand.swap(top);
    }
    for (const std::size_t f : cand) chosen[f] = 1;
  }

  constexpr double inf = std::numeric_limits<double>::infinity();
  s.adv_min = s.ratio_min = inf, s.adv_max = s.ratio_max = -inf;
  for (std::size_t i = 0; i < rows; ++i) {
    const loss_row_coef<T> c = row_coef<T>(loss_row_info{len[i], 0.0}, plan.cp);
    const double w = static_cast<double>(c.w), kl_w = static_cast<double>(c.kl_w);
    const double ent_w = static_cast<double>(c.ent_w);
    // GMPO's sequence quantities: mean clipped log-ratio, mean advantage, geometric mean of the token weights.
    double seq_ratio = 1.0, seq_scale = 0.0;
    if (mode == policy_loss_mode::gmpo && len[i] > 0) {
      const double n = static_cast<double>(len[i]) + opt.count_epsilon;
      double lr_sum = 0, a_sum = 0, logw_sum = 0;
      for (std::size_t t = 0; t < cols; ++t) {
        if (!valid(i, t)) continue;
        const double x = lp(i, t) - old(i, t), a = adv(i, t);
        const double sg = a > 0 ? 1.0 : a < 0 ? -1.0 : 0.0;
        const double xc = std::clamp(x, -opt.clip_ratio_low, opt.clip_ratio_high);
        lr_sum += sg * std::min(sg * x, sg * xc);
        a_sum += a;
        if (has_iw) logw_sum += std::log(weight(i, t) + opt.gmpo_log_weight_epsilon);
      }
      seq_ratio = std::exp(lr_sum / n);
      const double seq_w = has_iw ? std::exp(logw_sum / n) : 1.0;
      const double l_i = -(a_sum / n) * seq_ratio * seq_w;
      s.pg += gmpo_w * l_i;
      // d l_i / d logp_t = l_i g_t / n, g_t = 1 where the unclipped log-ratio is the one kept.
      seq_scale = gmpo_w * l_i / n;
    }
    for (std::size_t t = 0; t < cols; ++t) {
      if (!valid(i, t)) {
        out.log_probs(i, t) = T(0);
        if (!out.entropy.empty()) out.entropy(i, t) = T(0);
        continue;
      }
      const double x = lp(i, t) - old(i, t), a = adv(i, t);
      double grad = 0, ratio = 1;
      if (mode == policy_loss_mode::gmpo) {
        const double xc = std::clamp(x, -opt.clip_ratio_low, opt.clip_ratio_high);
        const bool kept = a > 0 ? x <= xc : a < 0 ? x >= xc : false;
        grad = kept ? seq_scale : 0.0;
        ratio = seq_ratio;
        s.clipped += (x != xc) && a > 0;
        s.lower += (x != xc) && a < 0;
      } else if (mode == policy_loss_mode::clip_cov) {
        ratio = std::exp(x);
        const bool cut = chosen[i * cols + t] != 0;
        const double l1 = -a * ratio, rc = std::clamp(ratio, lo, hi), l2 = -a * rc;
        const bool take2 = l2 > l1;
        const double d_ratio = take2 ? (rc == ratio ? -a : 0.0) : -a;
        const double iw = weight(i, t);
        s.pg += cut ? 0.0 : w * iw * (take2 ? l2 : l1);
        grad = cut ? 0.0 : w * iw * d_ratio * ratio;
        s.clipped += cut;
      } else {
        ratio = std::exp(x);
        const bool pen = chosen[i * cols + t] != 0;
        const double iw = weight(i, t);
        const double sgn = x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0;
        s.pg += w * iw * (-a * ratio + (pen ? opt.kl_cov_coef * std::fabs(x) : 0.0));
        grad = w * iw * (-a * ratio + (pen ? opt.kl_cov_coef * sgn : 0.0));
        s.clipped += pen;
      }
      const bool below = (ratio < lo) && (a < 0);
      const bool above = (ratio > hi) && (a > 0);
      s.low += below;
      s.high += above;
      s.region += below || above;
      if (has_kl) {
        const value_grad<double> k = kl_term(lp(i, t), static_cast<double>(in.ref_log_probs(i, t)), opt.kl,
                                             opt.kl_clamps, opt.kl_straight_through);
        s.kl += w * k.value, s.kl_sum += k.value;
        grad += kl_w * k.grad;
      }
      const double e = has_ent ? static_cast<double>(in.entropy(i, t)) : 0.0;
      s.ent += w * e, s.ent_sum += e;
      if (!out.entropy.empty()) out.entropy(i, t) = static_cast<T>(ent_w);
      out.log_probs(i, t) = static_cast<T>(grad);
      // verl's KL-Cov reports the mean |logp - old| as its ppo_kl, the other modes the mean of old - logp.
      s.ppo_kl += mode == policy_loss_mode::kl_cov ? std::fabs(x) : -x;
      s.adv_sum += a, s.ratio_sum += ratio;
      s.adv_min = std::min(s.adv_min, a), s.adv_max = std::max(s.adv_max, a);
      s.ratio_min = std::min(s.ratio_min, ratio), s.ratio_max = std::max(s.ratio_max, ratio);
    }
  }
  return finish_policy_loss(s, static_cast<double>(s.seqs), cols, opt);
}

} // namespace mmrag_rft::detail
