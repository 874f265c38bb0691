// SPDX-License-Identifier: Apache-2.0
// The clipped policy-gradient loss (PPO / GSPO) with KL and entropy terms: value, gradient and statistics in one pass.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/detail/cpu_isa.hpp>
#include <mmrag_rft/detail/math.hpp>
#include <mmrag_rft/detail/parallel.hpp>
#include <mmrag_rft/losses/options.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <type_traits>
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

/// Valid tokens of one mask row. Counted in 32-bit blocks: a 64-bit counter makes GCC widen the bytes four times.
[[nodiscard]] inline std::size_t count_valid(const std::uint8_t* m, std::size_t n) noexcept {
  std::size_t total = 0;
  constexpr std::size_t block = std::size_t{1} << 30;
  for (std::size_t b = 0; b < n; b += block) {
    const std::size_t e = std::min(n, b + block);
    std::uint32_t c = 0;
    for (std::size_t t = b; t < e; ++t) c += m[t] != 0;
    total += c;
  }
  return total;
}

template <class T>
struct loss_kernel {
  policy_loss_inputs<T> in;
  policy_loss_grads<T> out;
  policy_loss_options opt;
  policy_token_params<T> tp;
  double n_tokens = 0, n_seqs = 0, constant = 0;
  const std::size_t* lengths = nullptr; ///< valid tokens per row, when the normaliser pre-pass counted them
  cpu_isa isa = cpu_isa::baseline;

  [[nodiscard]] double row_weight(std::size_t len) const noexcept {
    switch (opt.aggregation) {
    case loss_aggregation::token_mean: return opt.loss_scale / n_tokens;
    case loss_aggregation::seq_mean_token_sum: return opt.loss_scale / n_seqs;
    case loss_aggregation::seq_mean_token_mean: return opt.loss_scale / (static_cast<double>(len) * n_seqs);
    case loss_aggregation::seq_mean_token_sum_norm: return opt.loss_scale / constant;
    }
    return 0;
  }

  // Reductions keep `lanes` partial sums (lane = column mod 16): a fixed order that depends on the shape only, so
  // seq and par agree bitwise, and one that vectorises. The float lanes fold into double once per tile, so a lane
  // sums at most 16 tokens in float. 16 lanes are one AVX-512 vector per sum, so GCC keeps the sums in registers
  // across blocks; with 64 they lived in memory, a load and a store per sum and block (measured: 16.8M tokens
  // 46.8 -> 37.6 ms, docs/performance.md). The block loop holds only 32-bit types (the mask is widened first), or
  // GCC 12 would size its vectors by the narrowest type.
  static constexpr std::size_t lanes = 16;
  static constexpr std::size_t tile = 256;

  // One row: every gradient element of the row is written, valid tokens contribute to `acc`. Defined out of the
  // class, so not inline: MMRAG_RFT_EXTERN_LOSS_KERNELS can then keep a translation unit from instantiating it and
  // every row kernel it dispatches to.
  void row(std::size_t i, loss_partial& acc) const;

  template <kl_estimator E>
  void row_kl(std::size_t i, loss_partial& acc) const {
    switch (opt.kl_clamps) {
    case kl_clamp::none: return row_adv<E, kl_clamp::none>(i, acc);
    // verl clamps only k3 (detail::kl_term): for the other estimators its row is the unclamped one, not compiled twice.
    case kl_clamp::verl: return row_adv<E, E == kl_estimator::k3 ? kl_clamp::verl : kl_clamp::none>(i, acc);
    case kl_clamp::openrlhf: return row_adv<E, kl_clamp::openrlhf>(i, acc);
    }
  }

  // PPO without importance-corrected or straight-through KL (`fast`) is the common case: compiled with every switch
  // fixed, and for float in an AVX2 and an AVX-512 version as well. The other modes take the baseline build.
  // Only no KL and k3 get the versions: they are the defaults of verl, TRL and OpenRLHF, and the versions dominate
  // the compile time of a translation unit that calls policy_loss (the README example's: 44.9 s at -O2 with all
  // five estimators cloned, 29.4 s with these two and the verl-clamp merge below; docs/performance.md "Compile
  // time"); k1, abs and k2 have no exponential and lose little at the baseline ISA.
  static constexpr bool has_isa_versions(kl_estimator e) noexcept {
    return std::is_same_v<T, float> && (e == kl_estimator::none || e == kl_estimator::k3);
  }

  template <kl_estimator E, kl_clamp C>
  void row_adv(std::size_t i, loss_partial& acc) const {
    const bool token_adv = !in.advantages.empty();
    const bool fast = opt.mode != policy_loss_mode::gspo && !tp.kl_importance_corrected && !tp.kl_straight_through;
    if (!fast) {
      if (token_adv) row_body<E, C, true, false>(i, acc);
      else row_body<E, C, false, false>(i, acc);
      return;
    }
#if MMRAG_RFT_DETAIL_ISA_DISPATCH()
    if constexpr (has_isa_versions(E)) {
      if (isa == cpu_isa::avx512) {
        if (token_adv) row_avx512<E, C, true>(i, acc);
        else row_avx512<E, C, false>(i, acc);
        return;
      }
      if (isa == cpu_isa::avx2) {
        if (token_adv) row_avx2<E, C, true>(i, acc);
        else row_avx2<E, C, false>(i, acc);
        return;
      }
    }
#endif
    if (token_adv) row_body<E, C, true, true>(i, acc);
    else row_body<E, C, false, true>(i, acc);
  }

#if MMRAG_RFT_DETAIL_ISA_DISPATCH()
  // The clones: the same force-inlined body, compiled for another instruction set, with fused multiply-adds unless
  // MMRAG_RFT_ISA_BITWISE (detail/cpu_isa.hpp).
  template <kl_estimator E, kl_clamp C, bool TokenAdvantages>
  MMRAG_RFT_DETAIL_TARGET_AVX512 MMRAG_RFT_DETAIL_FAST_CONTRACT __attribute__((noinline)) void
  row_avx512(std::size_t i, loss_partial& acc) const {
    row_body<E, C, TokenAdvantages, true>(i, acc);
  }
  template <kl_estimator E, kl_clamp C, bool TokenAdvantages>
  MMRAG_RFT_DETAIL_TARGET_AVX2 MMRAG_RFT_DETAIL_FAST_CONTRACT __attribute__((noinline)) void
  row_avx2(std::size_t i, loss_partial& acc) const {
    row_body<E, C, TokenAdvantages, true>(i, acc);
  }
#endif

  // Float lanes of the per-row reductions. The four clip counters share one integer lane, 6 bits each: a lane sees
  // at most tile / lanes = 16 tokens before the tile's fold.
  struct lane_sums {
    alignas(64) T pg[lanes], kl[lanes], lr[lanes], ratio[lanes], dlr[lanes], adv[lanes];
    alignas(64) T amin[lanes], amax[lanes], rmin[lanes], rmax[lanes], inputs[lanes];
    alignas(64) std::int32_t flags[lanes];
  };
  static_assert(tile / lanes < (1 << clip_flag_spacing), "a packed counter field would overflow within a tile");

  // The per-token pass over up to `lanes` tokens starting at a multiple of `lanes`: gradient out, terms into the
  // lanes. Branch-free; `Full` gives the vectoriser a constant trip count. With Fast, the switches of `params` are
  // replaced by constants with the same effect (a disabled clamp, delta or dual clip becomes an infinite bound),
  // because GCC 12 cannot vectorise a select on a loop-invariant bool.
  template <kl_estimator E, kl_clamp C, bool TokenAdvantages, bool Fast, bool Full>
  MMRAG_RFT_FORCEINLINE static void block(const T* __restrict lp, const T* __restrict old, const T* __restrict adv,
                                          T seq_adv, const T* __restrict ref, const std::uint8_t* __restrict m,
                                          T* __restrict g, std::size_t n, T seq_ratio, T seq_gate, T w, T kl_w,
                                          bool seq_grad, const policy_token_params<T>& p,
                                          lane_sums& __restrict q) noexcept {
    constexpr T inf = std::numeric_limits<T>::infinity();
    const std::size_t count = Full ? lanes : n;
    // The mask widened first, so that the token loop holds only 32-bit types and gets one full vector per value
    // (with bytes in it, GCC 12 unrolls four vectors per value and spills).
    alignas(64) std::int32_t mv[lanes];
    for (std::size_t j = 0; j < count; ++j) mv[j] = m[j];
    // Not unrolled: four interleaved copies of the body need more than 32 vector registers (measured: spills).
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#pragma GCC unroll 1
#endif
    MMRAG_RFT_VECTORIZE
    for (std::size_t j = 0; j < count; ++j) {
      const bool v = mv[j] != 0;
      T a = seq_adv, r_ref = T(0);
      if constexpr (TokenAdvantages) a = adv[j];
      if constexpr (E != kl_estimator::none) r_ref = ref[j];
      const policy_token_term<T> tok = policy_token(lp[j], old[j], a, r_ref, seq_ratio, seq_gate, w, kl_w, seq_grad, p);
      g[j] = v ? tok.grad : T(0);
      q.pg[j] += v ? tok.pg : T(0);
      if constexpr (E != kl_estimator::none) q.kl[j] += v ? tok.kl : T(0);
      q.lr[j] += v ? tok.log_ratio : T(0);
      q.ratio[j] += v ? tok.ratio : T(0);
      if constexpr (!Fast) q.dlr[j] += v ? tok.d_logr : T(0);
      if constexpr (TokenAdvantages) {
        q.adv[j] += v ? a : T(0);
        const T amin = v ? a : inf, amax = v ? a : -inf;
        q.amin[j] = amin < q.amin[j] ? amin : q.amin[j];
        q.amax[j] = amax > q.amax[j] ? amax : q.amax[j];
      }
      const T rmin = v ? tok.ratio : inf, rmax = v ? tok.ratio : -inf;
      q.rmin[j] = rmin < q.rmin[j] ? rmin : q.rmin[j];
      q.rmax[j] = rmax > q.rmax[j] ? rmax : q.rmax[j];
      // Any NaN/inf input makes the row's sum of inputs non-finite. So can an overflow of that sum: then the exact
      // rescan below finds nothing, which costs time, never a wrong count.
      q.inputs[j] += v ? (lp[j] + old[j]) + (a + r_ref) : T(0);
      // The flags are six bits apart (detail::clip_flag): one add counts all four.
      q.flags[j] += static_cast<std::int32_t>(v ? tok.flags : 0u);
    }
  }

  template <kl_estimator E, kl_clamp C, bool TokenAdvantages, bool Fast>
  MMRAG_RFT_FORCEINLINE void row_body(std::size_t i, loss_partial& acc) const {
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
    const bool gspo = !Fast && opt.mode == policy_loss_mode::gspo;

    const std::size_t len = lengths ? lengths[i] : count_valid(m, cols);
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
    constexpr T inf = std::numeric_limits<T>::infinity();
    if constexpr (Fast) {
      p.gspo = false, p.kl_importance_corrected = false, p.kl_straight_through = false;
      if (!p.clamp_log_ratio) p.log_ratio_clamp = inf;
      if (!p.sp.has_delta) p.sp.delta = inf;
      if (!p.sp.dual_clip) p.sp.clip_c = inf;
      p.clamp_log_ratio = p.sp.has_delta = p.sp.dual_clip = true;
    }

    T ent_l[lanes] = {};
    if (ent) {
      // The entropy only enters the statistics (its gradient is the constant ent_w): a pass of its own.
      for (std::size_t t0 = 0; t0 < cols; t0 += lanes) {
        const std::size_t n = std::min(lanes, cols - t0);
        for (std::size_t l = 0; l < n; ++l) ent_l[l] += m[t0 + l] != 0 ? ent[t0 + l] : T(0);
      }
    }
    lane_sums q;
    std::fill_n(q.pg, lanes, T(0)), std::fill_n(q.kl, lanes, T(0)), std::fill_n(q.lr, lanes, T(0));
    std::fill_n(q.ratio, lanes, T(0)), std::fill_n(q.dlr, lanes, T(0)), std::fill_n(q.adv, lanes, T(0));
    std::fill_n(q.amin, lanes, inf), std::fill_n(q.rmin, lanes, inf);
    std::fill_n(q.amax, lanes, -inf), std::fill_n(q.rmax, lanes, -inf);
    std::fill_n(q.inputs, lanes, T(0)), std::fill_n(q.flags, lanes, 0);
    double_lanes d;
    std::fill_n(d.pg, lanes, 0.0), std::fill_n(d.kl, lanes, 0.0), std::fill_n(d.lr, lanes, 0.0);
    std::fill_n(d.ratio, lanes, 0.0), std::fill_n(d.dlr, lanes, 0.0), std::fill_n(d.adv, lanes, 0.0);
    std::fill_n(d.inputs, lanes, 0.0);
    std::int64_t clipped = 0, lower = 0, low = 0, high = 0;

    for (std::size_t t0 = 0; t0 < cols; t0 += tile) {
      const std::size_t n = std::min(tile, cols - t0);
      bool any = false;
      std::size_t j = 0;
      for (; j + lanes <= n; j += lanes) {
        const std::size_t t = t0 + j;
        // Padding is usually a tail of the row: a block without a valid token only needs its zero gradient, and
        // adding nothing to the lanes leaves them bitwise as they are, so skipping it changes no result.
        std::uint64_t any_valid = 0;
        for (std::size_t b = 0; b < lanes; b += 8) {
          std::uint64_t word;
          std::memcpy(&word, m + t + b, 8);
          any_valid |= word;
        }
        if (any_valid == 0) {
          std::fill_n(g + t, lanes, T(0));
          continue;
        }
        any = true;
        block<E, C, TokenAdvantages, Fast, true>(lp + t, old + t, adv ? adv + t : nullptr, seq_adv,
                                                 ref ? ref + t : nullptr, m + t, g + t, lanes, seq_ratio, seq_gate, w,
                                                 kl_w, seq_grad, p, q);
      }
      if (j < n) {
        const std::size_t t = t0 + j;
        any = true;
        block<E, C, TokenAdvantages, Fast, false>(lp + t, old + t, adv ? adv + t : nullptr, seq_adv,
                                                  ref ? ref + t : nullptr, m + t, g + t, n - j, seq_ratio, seq_gate,
                                                  w, kl_w, seq_grad, p, q);
      }
      if (!any) continue; // nothing to fold: the lanes hold zeros
      // Widen the float lanes into the row's double lanes once per tile, so long rows keep their precision.
      widen(q.pg, d.pg), widen(q.lr, d.lr), widen(q.ratio, d.ratio), widen(q.inputs, d.inputs);
      if constexpr (E != kl_estimator::none) widen(q.kl, d.kl);
      if constexpr (!Fast) widen(q.dlr, d.dlr);
      if constexpr (TokenAdvantages) widen(q.adv, d.adv);
      constexpr std::int32_t field = (1 << clip_flag_spacing) - 1;
      for (std::size_t l = 0; l < lanes; ++l) {
        const std::int32_t f = q.flags[l];
        clipped += f & field, lower += (f >> clip_flag_spacing) & field;
        low += (f >> (2 * clip_flag_spacing)) & field, high += (f >> (3 * clip_flag_spacing)) & field;
        q.flags[l] = 0;
      }
    }
    const double pg_sum = fold(d.pg), kl_sum = fold(d.kl), lr_sum = fold(d.lr), ratio_sum = fold(d.ratio);
    const double dlr_sum = fold(d.dlr);
    double adv_sum = fold(d.adv);
    if constexpr (!TokenAdvantages) {
      adv_sum = static_cast<double>(seq_adv) * static_cast<double>(len);
      acc.adv_min = std::min(acc.adv_min, static_cast<double>(seq_adv));
      acc.adv_max = std::max(acc.adv_max, static_cast<double>(seq_adv));
    }
    if constexpr (TokenAdvantages) {
      acc.adv_min = std::min(acc.adv_min, static_cast<double>(lane_min(q.amin)));
      acc.adv_max = std::max(acc.adv_max, static_cast<double>(lane_max(q.amax)));
    }
    acc.ratio_min = std::min(acc.ratio_min, static_cast<double>(lane_min(q.rmin)));
    acc.ratio_max = std::max(acc.ratio_max, static_cast<double>(lane_max(q.rmax)));
    if (seq_grad) {
      const T spread = static_cast<T>(dlr_sum / static_cast<double>(len)) * seq_gate;
      for (std::size_t t = 0; t < cols; ++t)
        if (m[t] != 0) g[t] += spread;
    }
    const double ent_sum = fold_lanes(ent_l);
    // A NaN/inf input or entropy at a valid token.
    if (!std::isfinite(fold(d.inputs)) || !std::isfinite(ent_sum)) {
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
    acc.clipped += static_cast<double>(clipped), acc.lower += static_cast<double>(lower);
    acc.low += static_cast<double>(low), acc.high += static_cast<double>(high);
    acc.region += static_cast<double>(low + high);
  }

  // The per-row double lanes: a tile's float lanes are added in elementwise (vectorised), and the row's sum is a
  // fixed tree over them at the end.
  struct double_lanes {
    alignas(64) double pg[lanes], kl[lanes], lr[lanes], ratio[lanes], dlr[lanes], adv[lanes], inputs[lanes];
  };
  MMRAG_RFT_FORCEINLINE static void widen(T* __restrict f, double* __restrict dl) noexcept {
    for (std::size_t l = 0; l < lanes; ++l) dl[l] += static_cast<double>(f[l]), f[l] = T(0);
  }
  MMRAG_RFT_FORCEINLINE static double fold(const double* dl) noexcept {
    constexpr std::size_t w = 8;
    double part[w];
    for (std::size_t k = 0; k < w; ++k) part[k] = dl[k];
    for (std::size_t j = w; j < lanes; j += w)
      for (std::size_t k = 0; k < w; ++k) part[k] += dl[j + k];
    double s = 0;
    for (std::size_t k = 0; k < w; ++k) s += part[k];
    return s;
  }
  // Min and max are exact in any order; the selects keep NaN lanes from winning, as the token loop does.
  MMRAG_RFT_FORCEINLINE static T lane_min(T* x) noexcept {
    for (std::size_t w = lanes / 2; w >= 1; w /= 2)
      for (std::size_t k = 0; k < w; ++k) x[k] = x[k + w] < x[k] ? x[k + w] : x[k];
    return x[0];
  }
  MMRAG_RFT_FORCEINLINE static T lane_max(T* x) noexcept {
    for (std::size_t w = lanes / 2; w >= 1; w /= 2)
      for (std::size_t k = 0; k < w; ++k) x[k] = x[k + w] > x[k] ? x[k + w] : x[k];
    return x[0];
  }
  MMRAG_RFT_FORCEINLINE static double fold_lanes(const T* fl) noexcept {
    double s = 0;
    for (std::size_t l = 0; l < lanes; ++l) s += static_cast<double>(fl[l]);
    return s;
  }
};

template <class T>
void loss_kernel<T>::row(std::size_t i, loss_partial& acc) const {
  switch (opt.kl) {
  case kl_estimator::none: return row_adv<kl_estimator::none, kl_clamp::none>(i, acc);
  case kl_estimator::k1: return row_kl<kl_estimator::k1>(i, acc);
  case kl_estimator::abs: return row_kl<kl_estimator::abs>(i, acc);
  case kl_estimator::k2: return row_kl<kl_estimator::k2>(i, acc);
  case kl_estimator::k3: return row_kl<kl_estimator::k3>(i, acc);
  }
}

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
  loss_kernel<T> k{in, out, opt, {}, 0, 0, 0, nullptr, chosen_cpu_isa()};
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
  // The row lengths are kept, so that the main pass does not read the mask a third time.
  std::vector<std::size_t> lengths;
  if (need_counts) {
    std::vector<std::size_t> tok(ch.count()), seq(ch.count());
    lengths.resize(rows);
    for_each_chunk(exec, ch.count(), [&](std::size_t c) {
      for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) {
        const std::size_t len = count_valid(in.mask.row_data(i), cols);
        lengths[i] = len;
        tok[c] += len;
        seq[c] += len > 0;
      }
    });
    k.lengths = lengths.data();
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

#if defined(MMRAG_RFT_EXTERN_LOSS_KERNELS)
// The row kernels of the CPU loss (every KL estimator x clamp x advantage layout, and their AVX2 / AVX-512
// versions) are most of the compile time of a translation unit that calls policy_loss. With this macro defined,
// translation units leave them to the one that includes <mmrag_rft/losses/instantiate.hpp> (docs/algorithms.md,
// "Compile time"). Every translation unit of the program must see the same options (MMRAG_RFT_NO_ISA_DISPATCH,
// -march): the kernels are one definition.
namespace mmrag_rft::detail {
extern template struct loss_kernel<float>;
extern template struct loss_kernel<double>;
} // namespace mmrag_rft::detail
#endif
