// SPDX-License-Identifier: Apache-2.0
// The clipped policy-gradient loss (PPO / GSPO) with KL and entropy terms: value, gradient and statistics in one pass.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/detail/math.hpp>
#include <mmrag_rft/detail/parallel.hpp>
#include <mmrag_rft/losses/options.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

namespace mmrag_rft {

/// The per-token inputs of `policy_loss`, all `[B, T]` views of one padded batch (rows may be strided).
template <std::floating_point T>
struct policy_loss_inputs {
  matrix_view<const T> log_probs;     ///< log pi_theta of each response token under the current parameters.
  matrix_view<const T> old_log_probs; ///< log pi_old (sampling policy); empty: on-policy, old = sg(log_probs).
  matrix_view<const T> advantages;    ///< per-token advantages; leave empty when giving `sequence_advantages`.
  std::span<const T> sequence_advantages; ///< one advantage per row, broadcast to its tokens (saves a [B,T] read).
  mask_view mask;                     ///< response mask; only tokens with mask != 0 count.
  matrix_view<const T> ref_log_probs; ///< log pi_ref; required when `options.kl != none`.
  matrix_view<const T> entropy;       ///< per-token entropy; required when `entropy_coeff != 0`, else only for stats.
};

/// Where `policy_loss` writes its gradients. Every element of a given view is written (0 at masked tokens).
template <std::floating_point T>
struct policy_loss_grads {
  matrix_view<T> log_probs; ///< d loss / d log_probs; required. Backpropagate with `logp.backward(grad)`.
  matrix_view<T> entropy;   ///< d loss / d entropy; optional (needed when the entropy bonus is on).
};

/// Statistics of one `policy_loss` call: means are over the valid tokens of this call (local, like verl's metrics).
struct policy_loss_stats {
  double pg_clipfrac = 0;       ///< fraction of tokens whose clipped term was chosen. [verl actor/pg_clipfrac]
  double pg_clipfrac_lower = 0; ///< fraction under the dual clip. [verl actor/pg_clipfrac_lower]
  double clip_ratio_low = 0;    ///< fraction with r < 1 - eps_low and A < 0. [TRL clip_ratio/low_mean]
  double clip_ratio_high = 0;   ///< fraction with r > 1 + eps_high and A > 0. [TRL clip_ratio/high_mean]
  double clip_ratio_region = 0; ///< low or high. [TRL clip_ratio/region_mean]
  double ppo_kl = 0;            ///< mean of old - new log-prob, the approximate KL to the old policy. [verl actor/ppo_kl]
  double kl_mean = 0;           ///< mean KL-estimator value to the reference (0 without KL).
  double entropy_mean = 0;      ///< mean entropy (0 when no entropy was given).
  double advantage_mean = 0, advantage_min = 0, advantage_max = 0;
  double ratio_mean = 0, ratio_min = 0, ratio_max = 0;
  std::size_t valid_tokens = 0;    ///< tokens with mask != 0 in this call
  std::size_t valid_sequences = 0; ///< rows with at least one valid token
  std::size_t nonfinite_tokens = 0; ///< valid tokens with a NaN/inf input (only non-zero with nonfinite = propagate)
};

/// The result of `policy_loss`: the total and its parts (each aggregated with the chosen mode and scale).
struct policy_loss_result {
  double loss = 0;     ///< pg_loss + kl_coef * kl_loss - entropy_coeff * entropy
  double pg_loss = 0;
  double kl_loss = 0;  ///< aggregated KL estimator (before kl_coef)
  double entropy = 0;  ///< aggregated entropy (before entropy_coeff)
  policy_loss_stats stats;
};

namespace detail {

struct loss_partial {
  double pg = 0, kl = 0, ent = 0;
  double clipped = 0, lower = 0, low = 0, high = 0, region = 0;
  double ppo_kl = 0, kl_sum = 0, ent_sum = 0, adv_sum = 0, ratio_sum = 0;
  double adv_min = std::numeric_limits<double>::infinity(), adv_max = -std::numeric_limits<double>::infinity();
  double ratio_min = std::numeric_limits<double>::infinity(), ratio_max = -std::numeric_limits<double>::infinity();
  std::size_t tokens = 0, seqs = 0, nonfinite = 0;
  std::size_t first_bad = std::numeric_limits<std::size_t>::max(); // row * cols + col

  void merge(const loss_partial& o) noexcept {
    pg += o.pg, kl += o.kl, ent += o.ent;
    clipped += o.clipped, lower += o.lower, low += o.low, high += o.high, region += o.region;
    ppo_kl += o.ppo_kl, kl_sum += o.kl_sum, ent_sum += o.ent_sum, adv_sum += o.adv_sum, ratio_sum += o.ratio_sum;
    adv_min = std::min(adv_min, o.adv_min), adv_max = std::max(adv_max, o.adv_max);
    ratio_min = std::min(ratio_min, o.ratio_min), ratio_max = std::max(ratio_max, o.ratio_max);
    tokens += o.tokens, seqs += o.seqs, nonfinite += o.nonfinite;
    first_bad = std::min(first_bad, o.first_bad);
  }
};

template <class T>
struct loss_kernel {
  policy_loss_inputs<T> in;
  policy_loss_grads<T> out;
  policy_loss_options opt;
  policy_token_params<T> tp;
  double n_tokens = 0, n_seqs = 0, constant = 0;

  [[nodiscard]] double row_weight(std::size_t len) const noexcept {
    switch (opt.aggregation) {
    case loss_aggregation::token_mean: return opt.loss_scale / n_tokens;
    case loss_aggregation::seq_mean_token_sum: return opt.loss_scale / n_seqs;
    case loss_aggregation::seq_mean_token_mean: return opt.loss_scale / (static_cast<double>(len) * n_seqs);
    case loss_aggregation::seq_mean_token_sum_norm: return opt.loss_scale / constant;
    }
    return 0;
  }

  static constexpr std::size_t lanes = 16; // partial sums per reduction: a fixed order, vectorisable
  static constexpr std::size_t tile = 256;  // tokens whose per-token terms are kept in L1 between the passes

  // One row: every gradient element of the row is written, valid tokens contribute to `acc`.
  void row(std::size_t i, loss_partial& acc) const {
    switch (opt.kl) {
    case kl_estimator::none: return row_adv<kl_estimator::none, kl_clamp::none>(i, acc);
    case kl_estimator::k1: return row_kl<kl_estimator::k1>(i, acc);
    case kl_estimator::abs: return row_kl<kl_estimator::abs>(i, acc);
    case kl_estimator::k2: return row_kl<kl_estimator::k2>(i, acc);
    case kl_estimator::k3: return row_kl<kl_estimator::k3>(i, acc);
    }
  }

  template <kl_estimator E>
  void row_kl(std::size_t i, loss_partial& acc) const {
    switch (opt.kl_clamps) {
    case kl_clamp::none: return row_adv<E, kl_clamp::none>(i, acc);
    case kl_clamp::verl: return row_adv<E, kl_clamp::verl>(i, acc);
    case kl_clamp::openrlhf: return row_adv<E, kl_clamp::openrlhf>(i, acc);
    }
  }

  template <kl_estimator E, kl_clamp C>
  void row_adv(std::size_t i, loss_partial& acc) const {
    if (in.advantages.empty()) row_with<E, C, false>(i, acc);
    else row_with<E, C, true>(i, acc);
  }

  // The estimator, its clamps and the advantage layout are compile-time constants here, so detail::policy_token's
  // switch folds away and the token loop holds no conditional load: it vectorises. The other options are
  // loop-invariant selects.
  template <kl_estimator E, kl_clamp C, bool TokenAdvantages>
  void row_with(std::size_t i, loss_partial& acc) const {
    const std::size_t cols = in.log_probs.cols();
    const T* lp = in.log_probs.row_data(i);
    const T* old = in.old_log_probs.empty() ? lp : in.old_log_probs.row_data(i);
    const T* adv = in.advantages.empty() ? nullptr : in.advantages.row_data(i);
    const T seq_adv = in.advantages.empty() ? in.sequence_advantages[i] : T(0);
    const std::uint8_t* m = in.mask.row_data(i);
    const T* ref = in.ref_log_probs.empty() ? nullptr : in.ref_log_probs.row_data(i);
    const T* ent = in.entropy.empty() ? nullptr : in.entropy.row_data(i);
    T* g = out.log_probs.row_data(i);
    T* ge = out.entropy.empty() ? nullptr : out.entropy.row_data(i);
    const bool gspo = opt.mode == policy_loss_mode::gspo;

    std::size_t len = 0;
    for (std::size_t t = 0; t < cols; ++t) len += m[t] != 0;
    if (len == 0) {
      std::fill(g, g + cols, T(0));
      if (ge) std::fill(ge, ge + cols, T(0));
      return;
    }
    double seq_log_ratio = 0;
    if (gspo)
      for (std::size_t t = 0; t < cols; ++t) seq_log_ratio += m[t] ? static_cast<double>(lp[t] - old[t]) : 0.0;
    acc.seqs += 1;
    acc.tokens += len;
    const T w = static_cast<T>(row_weight(len));
    const T kl_w = static_cast<T>(opt.kl_coef) * w;
    const T ent_w = -static_cast<T>(opt.entropy_coeff) * w;
    if (ge)
      for (std::size_t t = 0; t < cols; ++t) ge[t] = m[t] != 0 ? ent_w : T(0);
    T seq_ratio = T(1), seq_gate = T(1);
    if (gspo) {
      T s = static_cast<T>(seq_log_ratio / static_cast<double>(len));
      if (opt.gspo_log_ratio_max) {
        const T mx = static_cast<T>(*opt.gspo_log_ratio_max);
        seq_gate = s <= mx ? T(1) : T(0);
        s = s > mx ? mx : s;
      }
      seq_ratio = vexp(s);
    }
    const bool seq_grad = gspo && opt.gspo_grad == gspo_gradient::sequence;
    policy_token_params<T> p = tp;
    p.kl = E;
    p.kl_clamps = C;
    // PPO without importance-corrected or straight-through KL: the common case, compiled with every switch fixed.
    const bool fast = !gspo && !p.kl_importance_corrected && !p.kl_straight_through;

    constexpr T inf = std::numeric_limits<T>::infinity();
    alignas(64) T pg_l[lanes] = {}, kl_l[lanes] = {}, lr_l[lanes] = {}, adv_l[lanes] = {}, ratio_l[lanes] = {};
    alignas(64) T ent_l[lanes] = {}, dlr_l[lanes] = {}, bad_l[lanes] = {};
    if (ent) {
      // The entropy only enters the statistics (its gradient is the constant ent_w): a pass of its own.
      alignas(64) T ent_t[lanes];
      for (std::size_t t0 = 0; t0 < cols; t0 += lanes) {
        const std::size_t n = std::min(lanes, cols - t0);
        for (std::size_t l = 0; l < lanes; ++l) {
          const std::size_t t = t0 + (l < n ? l : 0);
          const bool v = l < n && m[t] != 0;
          ent_t[l] = v ? ent[t] : T(0);
        }
        lane_add(ent_l, ent_t, lanes);
      }
    }
    alignas(64) T clip_l[lanes] = {}, lower_l[lanes] = {}, low_l[lanes] = {}, high_l[lanes] = {}, region_l[lanes] = {};
    alignas(64) T amin_l[lanes], amax_l[lanes], rmin_l[lanes], rmax_l[lanes];
    std::fill_n(amin_l, lanes, inf), std::fill_n(rmin_l, lanes, inf);
    std::fill_n(amax_l, lanes, -inf), std::fill_n(rmax_l, lanes, -inf);
    double pg_sum = 0, kl_sum = 0, lr_sum = 0, adv_sum = 0, ratio_sum = 0, ent_sum = 0, dlr_sum = 0;
    double clipped = 0, lower = 0, low = 0, high = 0, region = 0, bad = 0;
    tile_arrays tiles;

    for (std::size_t t0 = 0; t0 < cols; t0 += tile) {
      const std::size_t n = std::min(tile, cols - t0);
      const std::size_t padded = (n + lanes - 1) / lanes * lanes;
      if (fast)
        token_terms<E, C, TokenAdvantages, true>(lp + t0, old + t0, adv ? adv + t0 : nullptr, seq_adv,
                                              ref ? ref + t0 : nullptr, m + t0, g + t0, n, seq_ratio, seq_gate, w, kl_w,
                                              seq_grad, p, tiles);
      else
        token_terms<E, C, TokenAdvantages, false>(lp + t0, old + t0, adv ? adv + t0 : nullptr, seq_adv,
                                               ref ? ref + t0 : nullptr, m + t0, g + t0, n, seq_ratio, seq_gate, w,
                                               kl_w, seq_grad, p, tiles);
      for (std::size_t j = n; j < padded; ++j) {
        tiles.pg[j] = tiles.kl[j] = tiles.lr[j] = tiles.adv[j] = tiles.ratio[j] = tiles.dlr[j] = tiles.bad[j] = T(0);
        tiles.clip[j] = tiles.lower[j] = tiles.low[j] = tiles.high[j] = tiles.region[j] = T(0);
        tiles.amin[j] = tiles.rmin[j] = inf, tiles.amax[j] = tiles.rmax[j] = -inf;
      }
      lane_min(amin_l, tiles.amin, padded), lane_max(amax_l, tiles.amax, padded);
      lane_min(rmin_l, tiles.rmin, padded), lane_max(rmax_l, tiles.rmax, padded);
      lane_add(pg_l, tiles.pg, padded), lane_add(kl_l, tiles.kl, padded), lane_add(lr_l, tiles.lr, padded);
      lane_add(adv_l, tiles.adv, padded), lane_add(ratio_l, tiles.ratio, padded);
      lane_add(dlr_l, tiles.dlr, padded), lane_add(bad_l, tiles.bad, padded), lane_add(clip_l, tiles.clip, padded);
      lane_add(lower_l, tiles.lower, padded), lane_add(low_l, tiles.low, padded), lane_add(high_l, tiles.high, padded);
      lane_add(region_l, tiles.region, padded);
      // Fold the float lanes into double once per tile, in lane order, so long rows keep their precision.
      pg_sum += fold(pg_l), kl_sum += fold(kl_l), lr_sum += fold(lr_l), adv_sum += fold(adv_l);
      ratio_sum += fold(ratio_l), dlr_sum += fold(dlr_l), bad += fold(bad_l);
      clipped += fold(clip_l), lower += fold(lower_l), low += fold(low_l), high += fold(high_l);
      region += fold(region_l);
    }
    for (std::size_t l = 0; l < lanes; ++l) {
      acc.adv_min = std::min(acc.adv_min, static_cast<double>(amin_l[l]));
      acc.adv_max = std::max(acc.adv_max, static_cast<double>(amax_l[l]));
      acc.ratio_min = std::min(acc.ratio_min, static_cast<double>(rmin_l[l]));
      acc.ratio_max = std::max(acc.ratio_max, static_cast<double>(rmax_l[l]));
    }
    if (seq_grad) {
      const T spread = static_cast<T>(dlr_sum / static_cast<double>(len)) * seq_gate;
      for (std::size_t t = 0; t < cols; ++t)
        if (m[t] != 0) g[t] += spread;
    }
    ent_sum = fold(ent_l);
    bad += std::isfinite(ent_sum) ? 0.0 : 1.0; // a NaN/inf entropy at a valid token
    if (bad > 0) {
      // Rare: count the offending tokens of this row exactly and find the first, for the statistics and the error.
      for (std::size_t t = 0; t < cols; ++t) {
        const T check = lp[t] + old[t] + (adv ? adv[t] : seq_adv) + (ref && E != kl_estimator::none ? ref[t] : T(0)) +
                        (ent ? ent[t] : T(0));
        if (m[t] != 0 && !std::isfinite(check)) {
          acc.first_bad = std::min(acc.first_bad, i * cols + t);
          ++acc.nonfinite;
        }
      }
    }
    const double wd = static_cast<double>(w);
    acc.pg += wd * pg_sum;
    acc.kl += wd * kl_sum;
    acc.ent += wd * ent_sum;
    acc.ppo_kl -= lr_sum, acc.kl_sum += kl_sum, acc.ent_sum += ent_sum, acc.adv_sum += adv_sum;
    acc.ratio_sum += ratio_sum;
    acc.clipped += clipped, acc.lower += lower, acc.low += low, acc.high += high, acc.region += region;
  }

  // Per-token terms of one tile, kept in L1 between the elementwise pass and the lane reductions.
  struct tile_arrays {
    alignas(64) T pg[tile], kl[tile], lr[tile], adv[tile], ratio[tile], dlr[tile], bad[tile];
    alignas(64) T clip[tile], lower[tile], low[tile], high[tile], region[tile];
    alignas(64) T amin[tile], amax[tile], rmin[tile], rmax[tile];
  };

  // The elementwise pass: no reductions, no branches, restrict pointers, so it vectorises (given
  // -fno-trapping-math under GCC, which the CMake target adds; see docs/performance.md).
  // With Fast, the switches of `params` are replaced by constants with the same effect (a disabled clamp, delta or
  // dual clip becomes an infinite bound), because GCC 12 cannot vectorise a select on a loop-invariant bool.
  template <kl_estimator E, kl_clamp C, bool TokenAdvantages, bool Fast>
  static void token_terms(const T* __restrict lp, const T* __restrict old, const T* __restrict adv, T seq_adv,
                          const T* __restrict ref, const std::uint8_t* __restrict m, T* __restrict g, std::size_t n,
                          T seq_ratio, T seq_gate, T w, T kl_w, bool seq_grad, const policy_token_params<T>& params,
                          tile_arrays& __restrict q) noexcept {
    constexpr T inf = std::numeric_limits<T>::infinity();
    policy_token_params<T> p = params;
    p.kl = E;
    p.kl_clamps = C;
    if constexpr (Fast) {
      p.gspo = false, p.kl_importance_corrected = false, p.kl_straight_through = false, seq_grad = false;
      if (!p.clamp_log_ratio) p.log_ratio_clamp = inf;
      if (!p.sp.has_delta) p.sp.delta = inf;
      if (!p.sp.dual_clip) p.sp.clip_c = inf;
      p.clamp_log_ratio = p.sp.has_delta = p.sp.dual_clip = true;
    }
    MMRAG_RFT_VECTORIZE
    for (std::size_t j = 0; j < n; ++j) {
      const bool v = m[j] != 0;
      T a = seq_adv, r_ref = T(0);
      if constexpr (TokenAdvantages) a = adv[j];
      if constexpr (E != kl_estimator::none) r_ref = ref[j];
      const policy_token_term<T> tok = policy_token(lp[j], old[j], a, r_ref, seq_ratio, seq_gate, w, kl_w, seq_grad, p);
      g[j] = v ? tok.grad : T(0);
      q.pg[j] = v ? tok.pg : T(0);
      q.kl[j] = v ? tok.kl : T(0);
      q.lr[j] = v ? tok.log_ratio : T(0);
      q.adv[j] = v ? a : T(0);
      q.ratio[j] = v ? tok.ratio : T(0);
      q.dlr[j] = v ? tok.d_logr : T(0);
      const T check = lp[j] + old[j] + a + r_ref;
      q.bad[j] = (v & !(check - check == T(0))) ? T(1) : T(0);
      const int f = v ? static_cast<int>(tok.flags) : 0; // signed: SSE2 converts int32, not uint32, to float
      q.clip[j] = static_cast<T>(f & 1);
      q.lower[j] = static_cast<T>((f >> 1) & 1);
      q.low[j] = static_cast<T>((f >> 2) & 1);
      q.high[j] = static_cast<T>((f >> 3) & 1);
      q.region[j] = static_cast<T>(((f >> 2) | (f >> 3)) & 1);
      q.amin[j] = v ? a : inf;
      q.amax[j] = v ? a : -inf;
      q.rmin[j] = v ? tok.ratio : inf;
      q.rmax[j] = v ? tok.ratio : -inf;
    }
  }

  static void lane_add(T* lanes_sum, const T* x, std::size_t padded) noexcept {
    for (std::size_t j = 0; j < padded; j += lanes)
      MMRAG_RFT_VECTORIZE
      for (std::size_t l = 0; l < lanes; ++l) lanes_sum[l] += x[j + l];
  }
  static void lane_min(T* acc, const T* x, std::size_t padded) noexcept {
    for (std::size_t j = 0; j < padded; j += lanes)
      MMRAG_RFT_VECTORIZE
      for (std::size_t l = 0; l < lanes; ++l) acc[l] = x[j + l] < acc[l] ? x[j + l] : acc[l];
  }
  static void lane_max(T* acc, const T* x, std::size_t padded) noexcept {
    for (std::size_t j = 0; j < padded; j += lanes)
      MMRAG_RFT_VECTORIZE
      for (std::size_t l = 0; l < lanes; ++l) acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
  }
  static double fold(T* lanes_sum) noexcept {
    double s = 0;
    for (std::size_t l = 0; l < lanes; ++l) s += static_cast<double>(lanes_sum[l]), lanes_sum[l] = T(0);
    return s;
  }
};

/// Rows per chunk: about 32k tokens, depending on the shape only (so results do not depend on the thread count).
[[nodiscard]] inline std::size_t row_grain(std::size_t cols) noexcept {
  return std::max<std::size_t>(1, (std::size_t{1} << 15) / std::max<std::size_t>(1, cols));
}

template <class T>
void validate(const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out, const policy_loss_options& o) {
  constexpr const char* fn = "policy_loss";
  const auto& lp = in.log_probs;
  require(!lp.empty() || lp.rows() == 0, fn, "inputs.log_probs", "is required");
  require(detail::same_shape(in.mask, lp) && (!in.mask.empty() || lp.size() == 0), fn, "inputs.mask",
          "must have the shape of log_probs");
  require(in.old_log_probs.empty() || detail::same_shape(in.old_log_probs, lp), fn, "inputs.old_log_probs",
          "must have the shape of log_probs");
  const bool tok = !in.advantages.empty(), seqa = !in.sequence_advantages.empty();
  require(!(tok && seqa), fn, "inputs.advantages", "and inputs.sequence_advantages are both given; give one");
  require(tok || seqa || lp.rows() == 0, fn, "inputs.advantages", "is missing (give advantages or sequence_advantages)");
  require(!tok || detail::same_shape(in.advantages, lp), fn, "inputs.advantages", "must have the shape of log_probs");
  require(!seqa || in.sequence_advantages.size() == lp.rows(), fn, "inputs.sequence_advantages",
          "must have one element per row of log_probs");
  require(o.kl == kl_estimator::none || (!in.ref_log_probs.empty() || lp.size() == 0), fn, "inputs.ref_log_probs",
          "is required when a KL estimator is chosen");
  require(in.ref_log_probs.empty() || detail::same_shape(in.ref_log_probs, lp), fn, "inputs.ref_log_probs",
          "must have the shape of log_probs");
  require(o.entropy_coeff == 0 || (!in.entropy.empty() || lp.size() == 0), fn, "inputs.entropy",
          "is required when entropy_coeff != 0");
  require(in.entropy.empty() || detail::same_shape(in.entropy, lp), fn, "inputs.entropy",
          "must have the shape of log_probs");
  require(detail::same_shape(out.log_probs, lp) && (!out.log_probs.empty() || lp.size() == 0), fn, "grads.log_probs",
          "must be given with the shape of log_probs");
  require(out.entropy.empty() || detail::same_shape(out.entropy, lp), fn, "grads.entropy",
          "must have the shape of log_probs");
  require(o.entropy_coeff == 0 || !out.entropy.empty() || lp.size() == 0, fn, "grads.entropy",
          "is required when entropy_coeff != 0");
  require(std::isfinite(o.clip_ratio_low) && o.clip_ratio_low >= 0 && o.clip_ratio_low < 1, fn,
          "options.clip_ratio_low", "must be in [0, 1)");
  require(std::isfinite(o.clip_ratio_high) && o.clip_ratio_high >= 0, fn, "options.clip_ratio_high", "must be >= 0");
  require(!o.clip_ratio_c || *o.clip_ratio_c > 1.0, fn, "options.clip_ratio_c", "must be > 1 (verl asserts this)");
  require(!o.delta || *o.delta > 1.0 + o.clip_ratio_high, fn, "options.delta", "must be > 1 + clip_ratio_high");
  require(!o.log_ratio_clamp || *o.log_ratio_clamp > 0, fn, "options.log_ratio_clamp", "must be > 0");
  require(std::isfinite(o.kl_coef) && std::isfinite(o.entropy_coeff) && std::isfinite(o.loss_scale), fn,
          "options", "kl_coef, entropy_coeff and loss_scale must be finite");
  require(!o.normalizer || (std::isfinite(*o.normalizer) && *o.normalizer > 0), fn, "options.normalizer",
          "must be a finite positive number");
}

/// The result of a policy-loss call from its summed partials (any backend's sums type with these members): the
/// error for non-finite inputs, the total, and the statistics as means over the valid tokens.
template <class Sums>
[[nodiscard]] policy_loss_result finish_policy_loss(const Sums& total, double seqs, std::size_t cols,
                                                    const policy_loss_options& opt) {
  if (total.nonfinite > 0 && opt.nonfinite == nonfinite_policy::error) {
    const std::size_t c = cols > 0 ? cols : 1;
    const auto bad = static_cast<std::size_t>(total.first_bad);
    throw error("policy_loss", "inputs", "hold a NaN or infinite value at valid token [" + std::to_string(bad / c) +
                                             ", " + std::to_string(bad % c) +
                                             "] (log_probs, old_log_probs, advantages, ref_log_probs or entropy; set "
                                             "nonfinite = propagate to let it through)");
  }
  policy_loss_result res;
  res.pg_loss = total.pg;
  res.kl_loss = total.kl;
  res.entropy = total.ent;
  res.loss = total.pg + opt.kl_coef * total.kl - opt.entropy_coeff * total.ent;
  auto& s = res.stats;
  s.valid_tokens = static_cast<std::size_t>(total.tokens);
  s.valid_sequences = static_cast<std::size_t>(seqs);
  s.nonfinite_tokens = static_cast<std::size_t>(total.nonfinite);
  if (total.tokens > 0) {
    const double n = static_cast<double>(total.tokens);
    s.pg_clipfrac = total.clipped / n, s.pg_clipfrac_lower = total.lower / n;
    s.clip_ratio_low = total.low / n, s.clip_ratio_high = total.high / n, s.clip_ratio_region = total.region / n;
    s.ppo_kl = total.ppo_kl / n, s.kl_mean = total.kl_sum / n, s.entropy_mean = total.ent_sum / n;
    s.advantage_mean = total.adv_sum / n, s.advantage_min = total.adv_min, s.advantage_max = total.adv_max;
    s.ratio_mean = total.ratio_sum / n, s.ratio_min = total.ratio_min, s.ratio_max = total.ratio_max;
  }
  return res;
}

template <class T, class E>
policy_loss_result policy_loss_cpu(const E& exec, const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                   const policy_loss_options& opt) {
  validate(in, out, opt);
  const std::size_t rows = in.log_probs.rows(), cols = in.log_probs.cols();
  loss_kernel<T> k{in, out, opt, {}, 0, 0, 0};
  k.tp.sp = {static_cast<T>(1.0 - opt.clip_ratio_low), static_cast<T>(1.0 + opt.clip_ratio_high),
             static_cast<T>(opt.clip_ratio_c.value_or(3.0)), static_cast<T>(opt.delta.value_or(0.0)),
             opt.clip_ratio_c.has_value(), opt.delta.has_value()};
  k.tp.log_ratio_clamp = static_cast<T>(opt.log_ratio_clamp.value_or(0.0));
  k.tp.clamp_log_ratio = opt.log_ratio_clamp.has_value();
  k.tp.gspo = opt.mode == policy_loss_mode::gspo;
  k.tp.kl = opt.kl;
  k.tp.kl_clamps = opt.kl_clamps;
  k.tp.kl_straight_through = opt.kl_straight_through;
  k.tp.kl_importance_corrected = opt.kl_importance_corrected && opt.kl != kl_estimator::none;
  const chunking ch{rows, row_grain(cols)};

  // Local normalisers need the valid-token and valid-row counts before any gradient is written.
  const bool need_counts = !opt.normalizer && (opt.aggregation == loss_aggregation::token_mean ||
                                               opt.aggregation == loss_aggregation::seq_mean_token_sum ||
                                               opt.aggregation == loss_aggregation::seq_mean_token_mean);
  if (need_counts) {
    std::vector<std::size_t> tok(ch.count()), seq(ch.count());
    for_each_chunk(exec, ch.count(), [&](std::size_t c) {
      for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) {
        const std::uint8_t* m = in.mask.row_data(i);
        std::size_t len = 0;
        for (std::size_t t = 0; t < cols; ++t) len += m[t] != 0;
        tok[c] += len;
        seq[c] += len > 0;
      }
    });
    for (std::size_t c = 0; c < ch.count(); ++c) k.n_tokens += static_cast<double>(tok[c]), k.n_seqs += static_cast<double>(seq[c]);
  } else if (opt.normalizer) {
    k.n_tokens = k.n_seqs = k.constant = *opt.normalizer;
  }
  if (opt.aggregation == loss_aggregation::seq_mean_token_sum_norm && !opt.normalizer)
    k.constant = static_cast<double>(cols); // verl's default loss_scale_factor: the padded response length

  std::vector<loss_partial> parts(ch.count());
  for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) k.row(i, parts[c]);
  });
  loss_partial total;
  for (const auto& p : parts) total.merge(p);

  return finish_policy_loss(total, static_cast<double>(total.seqs), cols, opt);
}

} // namespace detail

/// The policy loss of one (micro-)batch, its gradient with respect to every token's log-probability (and entropy),
/// and its statistics, in one pass over the tokens.
///
/// Per valid token (mask != 0), with ratio r = exp(clamp(logp - old, -c, c)) (PPO) or the sequence ratio
/// r_i = exp(min(mean_t(logp - old), 10)) (GSPO):
///   l_pg = max(-A min(r, delta), -A clip(r, 1 - eps_low, 1 + eps_high)), and for A < 0 with dual clip min(l_pg, -A c);
///   l_kl = KL estimator of (logp, ref) (times r when importance corrected);
///   loss = agg(l_pg) + kl_coef agg(l_kl) - entropy_coeff agg(H), agg as in `loss_aggregation`, times loss_scale.
/// [verl compute_policy_loss_vanilla / compute_policy_loss_gspo / kl_penalty / agg_loss; TRL GRPOTrainer._compute_loss]
///
/// Degenerate input: an empty batch, or one without valid tokens, gives loss 0, zero gradients and zero statistics
/// (verl would give NaN). Rows without valid tokens do not count in N_seqs. NaN/inf at valid tokens: see
/// `nonfinite_policy`; values at masked positions are never read into the result, NaN included.
/// Complexity: one read of each input and one write of each gradient (plus a read of the mask when the normaliser is
/// local); O(B) memory for the partial sums. Results are bitwise identical for `exec::seq` and `exec::par`.
struct policy_loss_fn {
  template <exec::ExecutionBackend E, std::floating_point T>
  policy_loss_result operator()(const E& exec, const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                const policy_loss_options& opt = {}) const {
    return detail::policy_loss_cpu(exec.derived(), in, out, opt);
  }
  template <std::floating_point T>
  policy_loss_result operator()(const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                const policy_loss_options& opt = {}) const {
    return detail::policy_loss_cpu(exec::seq, in, out, opt);
  }
};
inline constexpr policy_loss_fn policy_loss{};

} // namespace mmrag_rft
