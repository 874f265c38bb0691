// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/losses.hpp>
// `policy_loss` on the CPU backends (exec::seq, exec::par): the vectorised row kernel around the loss plan, and its
// instruction-set versions. The row kernels are compiled once per program by the `mmrag_rft::kernels` target (or
// <mmrag_rft/losses/instantiate.hpp>) when MMRAG_RFT_EXTERN_LOSS_KERNELS is defined.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/detail/cpu_isa.hpp>
#include <mmrag_rft/detail/parallel.hpp>
#include <mmrag_rft/losses/batch_modes.hpp>
#include <mmrag_rft/losses/plan.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

namespace mmrag_rft::detail {
// The kernels' definitions depend on the ISA settings (detail/cpu_isa.hpp): translation units built with other
// settings name other symbols, so mixing them fails to link instead of running one definition for the other.
inline namespace MMRAG_RFT_DETAIL_KERNELS_ABI {

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
  policy_token_params<T> tp;            ///< the plan's per-token parameters
  loss_coef_params cp;                  ///< the plan's per-row parameters, normalisers resolved
  const std::size_t* lengths = nullptr; ///< valid tokens per row, when the normaliser pre-pass counted them
  cpu_isa isa = cpu_isa::baseline;

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
  void row(std::size_t i, loss_sums& acc) const;

  template <kl_estimator E>
  void row_kl(std::size_t i, loss_sums& acc) const {
    switch (opt.kl_clamps) {
    case kl_clamp::none: return row_adv<E, kl_clamp::none>(i, acc);
    // verl clamps only k3 (detail::kl_term): for the other estimators its row is the unclamped one, not compiled twice.
    case kl_clamp::verl: return row_adv<E, (E == kl_estimator::k3 ? kl_clamp::verl : kl_clamp::none)>(i, acc);
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
  void row_adv(std::size_t i, loss_sums& acc) const {
    const bool token_adv = !in.advantages.empty();
    const bool weighted = !in.token_weights.empty();
    const bool fast =
        opt.mode == policy_loss_mode::ppo_clip && !tp.kl_importance_corrected && !tp.kl_straight_through && !weighted;
    // Token weights take the general rows with a weight read of their own; without them every row kernel is the
    // one compiled before weights existed (the weight is the constant 1, folded away).
    if (weighted) {
      if (token_adv) row_body<E, C, true, false, true>(i, acc);
      else row_body<E, C, false, false, true>(i, acc);
      return;
    }
    if (!fast) {
      if (token_adv) row_body<E, C, true, false>(i, acc);
      else row_body<E, C, false, false>(i, acc);
      return;
    }
    if constexpr (has_isa_versions(E)) {
      // The AVX2 / AVX-512 versions: the same force-inlined body compiled for another instruction set, with fused
      // multiply-adds unless MMRAG_RFT_ISA_BITWISE (detail/cpu_isa.hpp).
      if (token_adv)
        run_for_isa<isa_contraction::fast>(isa,
                                           [&]() MMRAG_RFT_DETAIL_ISA_BODY { row_body<E, C, true, true>(i, acc); });
      else
        run_for_isa<isa_contraction::fast>(isa,
                                           [&]() MMRAG_RFT_DETAIL_ISA_BODY { row_body<E, C, false, true>(i, acc); });
      return;
    }
    if (token_adv) row_body<E, C, true, true>(i, acc);
    else row_body<E, C, false, true>(i, acc);
  }

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
  // replaced by constants with the same effect (a disabled clamp, delta or dual clip becomes an infinite bound): GCC
  // 12 does not vectorise a select on a loop-invariant bool (docs/design.md, "Vectorisation with GCC 12").
  template <kl_estimator E, kl_clamp C, bool TokenAdvantages, bool Fast, bool Weighted, bool Full>
  MMRAG_RFT_FORCEINLINE static void
  block(const T* __restrict lp, const T* __restrict old, const T* __restrict adv, T seq_adv, const T* __restrict ref,
        const T* __restrict iw, const std::uint8_t* __restrict m, T* __restrict g, std::size_t n, T seq_ratio,
        T seq_gate, T w, T kl_w, bool seq_grad, const policy_token_params<T>& p, lane_sums& __restrict q) noexcept {
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
      T weight = T(1);
      if constexpr (Weighted) weight = iw[j];
      const policy_token_term<T> tok =
          policy_token(lp[j], old[j], a, r_ref, seq_ratio, seq_gate, w, kl_w, seq_grad, p, weight);
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
      if constexpr (Weighted) q.inputs[j] += v ? ((lp[j] + old[j]) + (a + r_ref)) + weight : T(0);
      else q.inputs[j] += v ? (lp[j] + old[j]) + (a + r_ref) : T(0);
      // The flags are six bits apart (detail::clip_flag): one add counts all four.
      q.flags[j] += static_cast<std::int32_t>(v ? tok.flags : 0u);
    }
  }

  template <kl_estimator E, kl_clamp C, bool TokenAdvantages, bool Fast, bool Weighted = false>
  MMRAG_RFT_FORCEINLINE void row_body(std::size_t i, loss_sums& acc) const {
    const std::size_t cols = in.log_probs.cols();
    const T* lp = in.log_probs.row_data(i);
    const T* old = in.old_log_probs.empty() ? lp : in.old_log_probs.row_data(i);
    const T* adv = in.advantages.empty() ? nullptr : in.advantages.row_data(i);
    const T seq_adv = in.advantages.empty() ? in.sequence_advantages[i] : T(0);
    const std::uint8_t* m = in.mask.row_data(i);
    const T* ref = in.ref_log_probs.empty() ? nullptr : in.ref_log_probs.row_data(i);
    const T* ent = in.entropy.empty() ? nullptr : in.entropy.row_data(i);
    const T* iw = Weighted ? in.token_weights.row_data(i) : nullptr;
    T* g = out.log_probs.row_data(i);
    T* ge = out.entropy.empty() ? nullptr : out.entropy.row_data(i);
    const bool gspo = !Fast && opt.mode == policy_loss_mode::gspo;

    const std::size_t len = lengths ? lengths[i] : count_valid(m, cols);
    if (len == 0) {
      std::fill(g, g + cols, T(0));
      if (ge) std::fill(ge, ge + cols, T(0));
      return;
    }
    loss_row_info info{len, 0.0};
    if (gspo)
      for (std::size_t t = 0; t < cols; ++t) info.log_ratio_sum += m[t] ? static_cast<double>(lp[t] - old[t]) : 0.0;
    acc.seqs += 1;
    acc.tokens += len;
    const loss_row_coef<T> c = row_coef<T>(info, cp);
    const T w = c.w, kl_w = c.kl_w, seq_ratio = c.seq_ratio, seq_gate = c.seq_gate;
    if (ge)
      for (std::size_t t = 0; t < cols; ++t) ge[t] = m[t] != 0 ? c.ent_w : T(0);
    const bool seq_grad = gspo && opt.gspo_grad == gspo_gradient::sequence;
    policy_token_params<T> p = tp;
    p.kl = E;
    p.kl_clamps = C;
    constexpr T inf = std::numeric_limits<T>::infinity();
    if constexpr (Fast) {
      p.gspo = false, p.kl_importance_corrected = false, p.kl_straight_through = false;
      p.mode = policy_loss_mode::ppo_clip;
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
        block<E, C, TokenAdvantages, Fast, Weighted, true>(lp + t, old + t, adv ? adv + t : nullptr, seq_adv,
                                                           ref ? ref + t : nullptr, iw ? iw + t : nullptr, m + t, g + t,
                                                           lanes, seq_ratio, seq_gate, w, kl_w, seq_grad, p, q);
      }
      if (j < n) {
        const std::size_t t = t0 + j;
        any = true;
        block<E, C, TokenAdvantages, Fast, Weighted, false>(lp + t, old + t, adv ? adv + t : nullptr, seq_adv,
                                                            ref ? ref + t : nullptr, iw ? iw + t : nullptr, m + t,
                                                            g + t, n - j, seq_ratio, seq_gate, w, kl_w, seq_grad, p, q);
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
      const T spread = gspo_spread(dlr_sum, c);
      for (std::size_t t = 0; t < cols; ++t)
        if (m[t] != 0) g[t] += spread;
    }
    const double ent_sum = fold_lanes(ent_l);
    // A NaN/inf input or entropy at a valid token.
    if (!std::isfinite(fold(d.inputs)) || !std::isfinite(ent_sum)) {
      // Rare: count the offending tokens of this row exactly and find the first, for the statistics and the error.
      for (std::size_t t = 0; t < cols; ++t) {
        if (m[t] != 0 && (!inputs_finite(lp[t], old[t], adv ? adv[t] : seq_adv,
                                         ref && E != kl_estimator::none ? ref[t] : T(0), ent ? ent[t] : T(0)) ||
                          !finite(iw ? iw[t] : T(0)))) {
          acc.first_bad = std::min<unsigned long long>(acc.first_bad, i * cols + t);
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
void loss_kernel<T>::row(std::size_t i, loss_sums& acc) const {
  switch (opt.kl) {
  case kl_estimator::none: return row_adv<kl_estimator::none, kl_clamp::none>(i, acc);
  case kl_estimator::k1: return row_kl<kl_estimator::k1>(i, acc);
  case kl_estimator::abs: return row_kl<kl_estimator::abs>(i, acc);
  case kl_estimator::k2: return row_kl<kl_estimator::k2>(i, acc);
  case kl_estimator::k3: return row_kl<kl_estimator::k3>(i, acc);
  }
}

template <class T, class E>
policy_loss_result policy_loss_cpu(const E& exec, const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                   const policy_loss_options& opt) {
  validate(in, out, opt);
  // GMPO, Clip-Cov and KL-Cov need the whole batch first: one serial pass for seq and par alike.
  if (is_batch_mode(opt.mode)) return batch_mode_policy_loss(in, out, opt);
  const std::size_t rows = in.log_probs.rows(), cols = in.log_probs.cols();
  const loss_plan plan = plan_loss(opt, cols);
  loss_kernel<T> k{in, out, opt, resolve_token_params<T>(opt), plan.cp, nullptr, chosen_cpu_isa()};
  const chunking ch = row_chunks(rows, cols);

  // Local normalisers need the valid-token and valid-row counts before any gradient is written. The row lengths are
  // kept, so that the main pass does not read the mask a third time.
  std::vector<std::size_t> lengths;
  if (plan.local_counts) {
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
    for (std::size_t c = 0; c < ch.count(); ++c)
      k.cp.n_tokens += static_cast<double>(tok[c]), k.cp.n_seqs += static_cast<double>(seq[c]);
  }

  std::vector<loss_sums> parts(ch.count());
  for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) k.row(i, parts[c]);
  });
  loss_sums total;
  for (const auto& p : parts) total.merge(p);
  return finish_policy_loss(total, static_cast<double>(total.seqs), cols, opt);
}

} // namespace MMRAG_RFT_DETAIL_KERNELS_ABI
} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

/// `policy_loss` on exec::seq and exec::par: bitwise the same result for every thread count.
template <CpuBackend E, std::floating_point T>
policy_loss_result implement(const policy_loss_fn&, const E& exec, const policy_loss_inputs<T>& in,
                             const policy_loss_grads<T>& out, const policy_loss_options& opt) {
  return mmrag_rft::detail::policy_loss_cpu(exec, in, out, opt);
}

} // namespace mmrag_rft::exec

#if defined(MMRAG_RFT_EXTERN_LOSS_KERNELS)
// The row kernels (every KL estimator x clamp x advantage layout, and their AVX2 / AVX-512 versions) are most of the
// compile time of a translation unit that calls policy_loss: with this macro (set by linking `mmrag_rft::kernels`)
// they come from the one translation unit that includes <mmrag_rft/losses/instantiate.hpp>.
namespace mmrag_rft::detail {
inline namespace MMRAG_RFT_DETAIL_KERNELS_ABI {
extern template struct loss_kernel<float>;
extern template struct loss_kernel<double>;
} // namespace MMRAG_RFT_DETAIL_KERNELS_ABI
} // namespace mmrag_rft::detail
#endif
