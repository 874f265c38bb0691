// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/losses.hpp>
// The plan of `policy_loss`, written once for every backend: option validation and resolution, the normaliser plan,
// the per-row coefficients (aggregation weight, GSPO sequence ratio), the per-token math (ratio, clipped surrogate,
// KL, gradient), the accumulator with its merge, and the finish that turns the sums into the result. The CPU row
// kernel, the Thrust functors and the CUDA kernels hold only loops and reductions around these.
// Host/device safe: no Eigen, no range-v3, no Thrust (CUDA translation units include it).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/detail/device_matrix.hpp>
#include <mmrag_rft/detail/math.hpp>
#include <mmrag_rft/losses/options.hpp>
#include <mmrag_rft/losses/policy_loss_types.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace mmrag_rft {

struct policy_loss_fn;

namespace detail {

template <class T>
struct value_grad {
  T value;
  T grad; ///< d value / d logp
};

/// One token's KL estimator value and its gradient with respect to logp, x = logp - ref. [verl kl_penalty_forward,
/// OpenRLHF compute_approx_kl, TRL per_token_kl]
template <class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE value_grad<T> kl_term(T logp, T ref, kl_estimator est, kl_clamp clamps,
                                                                  bool straight_through) noexcept {
  const T x = logp - ref;
  value_grad<T> k{T(0), T(0)};
  switch (est) {
  case kl_estimator::none: return k;
  case kl_estimator::k1: k = {x, T(1)}; break;
  case kl_estimator::abs: k = {x < T(0) ? -x : x, (x > T(0) ? T(1) : T(0)) - (x < T(0) ? T(1) : T(0))}; break;
  case kl_estimator::k2: k = {T(0.5) * x * x, x}; break;
  case kl_estimator::k3: {
    T y = -x; // log(ref / pi)
    T gate = T(1);
    if (clamps == kl_clamp::verl) {
      const T yc = clamp(y, T(-20), T(20));
      gate = kept_gate(y, yc);
      y = yc;
    }
    const T e = clamps == kl_clamp::verl ? vexp_in_range(y) : vexp(y);
    k = {e - y - T(1), -(e - T(1)) * gate};
    if (clamps == kl_clamp::verl) {
      // verl clamps the value to [-10, 10], but e^y - y - 1 >= 0 and, for y in [-20, 20], its rounding error is
      // far below 10: only the upper bound can act (a NaN fails both tests alike).
      const T vc = k.value > T(10) ? T(10) : k.value;
      k.grad *= kept_gate(k.value, vc);
      k.value = vc;
    }
    break;
  }
  }
  if (clamps == kl_clamp::openrlhf) {
    const T vc = clamp(k.value, T(-10), T(10));
    k.grad *= kept_gate(k.value, vc);
    k.value = vc;
  }
  if (straight_through) k.grad = x; // k2's gradient, the unbiased one for the reverse KL
  return k;
}

/// Flags a token's clipped surrogate reports for the statistics. Six bits apart, so that the CPU loss adds a token's
/// flags into one integer per lane and counts all four at once (up to 63 tokens per field between folds).
inline constexpr int clip_flag_spacing = 6;
enum clip_flag : std::uint32_t {
  /// verl pg_clipfrac: the clipped term was chosen (L2 > L1)
  clipped_flag = 1u,
  /// verl pg_clipfrac_lower: dual clip active (A < 0 and C1 > -A c)
  clipped_lower_flag = 1u << clip_flag_spacing,
  /// TRL clip_ratio/low: r < 1 - eps_low and A < 0
  region_low_flag = 1u << (2 * clip_flag_spacing),
  /// TRL clip_ratio/high: r > 1 + eps_high and A > 0
  region_high_flag = 1u << (3 * clip_flag_spacing),
};

template <class T>
struct surrogate_params {
  T lo;     ///< 1 - clip_ratio_low
  T hi;     ///< 1 + clip_ratio_high
  T clip_c; ///< dual-clip constant (used when dual_clip)
  T delta;  ///< TRL two-sided cap (used when has_delta)
  bool dual_clip;
  bool has_delta;
};

template <class T>
struct surrogate_term {
  T loss;              ///< per-token policy-gradient loss
  T d_ratio;           ///< d loss / d ratio
  std::uint32_t flags; ///< 32 bits, not 8: GCC 12 sizes a loop's vectors by its narrowest type (docs/performance.md)
};

/// PPO clipped surrogate of one token given its importance ratio r and advantage A:
/// C1 = max(-A min(r, delta), -A clip(r, lo, hi)); for A < 0 with dual clip, loss = min(C1, -A c).
/// [verl compute_policy_loss_vanilla; TRL _compute_loss; Ye et al. dual clip]. Ties follow torch: where both terms
/// are equal (r inside the clip range) the gradient is -A, the same through either branch.
template <class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE surrogate_term<T> clipped_surrogate(T r, T a,
                                                                                surrogate_params<T> p) noexcept {
  // Selects only, no branches, every product computed unconditionally and bools combined with & (not &&), so that
  // the CPU token loops vectorise this (docs/design.md, "Vectorisation with GCC 12") and GPU warps do not diverge.
  const bool capped = p.has_delta & (r > p.delta);
  const T l1 = -a * (capped ? p.delta : r);
  const T rc = clamp(r, p.lo, p.hi);
  const T l2 = -a * rc;
  const bool take2 = l2 > l1;
  const T l3 = -a * p.clip_c;
  const T c1 = take2 ? l2 : l1;
  const bool negative = a < T(0);
  const bool lower = p.dual_clip & negative & (c1 > l3);
  const T d2 = -a * kept_gate(r, rc);
  const T d1 = capped ? T(0) : -a;
  const T d = lower ? T(0) : (take2 ? d2 : d1);
  const bool below = r<p.lo, above = r> p.hi, positive = a > T(0);
  const std::uint32_t flags = (take2 ? clipped_flag : 0u) | (lower ? clipped_lower_flag : 0u) |
                              ((below & negative) ? region_low_flag : 0u) |
                              ((above & positive) ? region_high_flag : 0u);
  return {lower ? l3 : c1, d, flags};
}

/// The surrogate of the modes that replace the clipped PPO term (CISPO, SAPO, GPG), unweighted: the loss, its
/// derivative through log r (times the ratio's gate by the caller) and its direct derivative in logp.
template <class T>
struct alt_surrogate_term {
  T loss;
  T d_logr;
  T d_logp;
  std::uint32_t flags;
};

/// CISPO, SAPO and GPG of one token with log-prob lp, ratio r = exp(clamped log r) and advantage a. The region flags
/// describe r and A as for PPO; CISPO also reports verl's pg_clipfrac (r outside the clip range). Branch-free.
/// [verl compute_policy_loss_cispo / _sapo / _gpg]
template <class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE alt_surrogate_term<T>
alt_surrogate(T lp, T r, T a, policy_loss_mode mode, T lo, T hi, T tau_pos, T tau_neg) noexcept {
  const bool positive = a > T(0), negative = a < T(0);
  const bool below = r<lo, above = r> hi;
  const std::uint32_t region =
      ((below & negative) ? region_low_flag : 0u) | ((above & positive) ? region_high_flag : 0u);
  // CISPO: the clipped ratio is a constant weight (stop-gradient), the gradient flows through logp alone.
  const T rc = clamp(r, lo, hi);
  const alt_surrogate_term<T> cispo{-rc * a * lp, T(0), -rc * a, region | ((below | above) ? clipped_flag : 0u)};
  // SAPO: f(r) = (4 / tau) sigmoid(tau (r - 1)), f'(r) = 4 s (1 - s). Where s saturates to 0 or 1 the derivative is
  // 0, also for an infinite r (no log-ratio clamp), where 4 s (1 - s) r would be 0 * inf.
  const T tau = positive ? tau_pos : tau_neg;
  const T s = T(1) / (T(1) + vexp(-tau * (r - T(1))));
  const T q = s - s * s;
  const alt_surrogate_term<T> sapo{-a * (T(4) / tau) * s, q > T(0) ? -a * T(4) * q * r : T(0), T(0), region};
  const alt_surrogate_term<T> gpg{-lp * a, T(0), -a, region};
  return mode == policy_loss_mode::cispo ? cispo : mode == policy_loss_mode::sapo ? sapo : gpg;
}

/// DPPO-Binary-TV or -KL of one token with log-prob lp, old log-prob old, ratio r = exp(clamped log r) and advantage
/// a: -a sg(min(r, cap)) lp v, v the trust-region mask of the probabilities (both stop-gradient, so the gradient is
/// -a min(r, cap) v through lp alone). Flags: pg_clipfrac where v = 0, pg_clipfrac_lower where r > cap and v = 1.
/// The probabilities come from the unclamped log-probs, as verl's do. [verl compute_policy_loss_dppo_tv / _dppo_kl]
template <class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE alt_surrogate_term<T>
dppo_surrogate(T lp, T old, T r, T a, bool binary_kl, T eps_low, T eps_high, T cap) noexcept {
  const T p = vexp(lp), p_old = vexp(old);
  const bool positive = a > T(0);
  bool valid;
  if (binary_kl) {
    // verl's Bernoulli KL(p_old || p) with its 1e-8 guards, in T's precision as torch computes it in the tensor's.
    const T eps = T(1e-8);
    const T d = p_old * (old - lp) + (T(1) - p_old) * std::log((T(1) - p_old + eps) / (T(1) - p + eps));
    // A move towards the advantage's side of p_old is always inside the region (v = 1 for p <= p_old with A > 0).
    valid = positive ? (d <= eps_high) | (p <= p_old) : (d <= eps_low) | (p >= p_old);
  } else {
    const T dp = p - p_old;
    valid = positive ? dp <= eps_high : dp >= -eps_low;
  }
  const T v = valid ? T(1) : T(0);
  const T rt = r < cap ? r : cap;
  const std::uint32_t flags = (valid ? 0u : clipped_flag) | ((valid & (r > cap)) ? clipped_lower_flag : 0u);
  return {-a * rt * lp * v, T(0), -a * rt * v, flags};
}

/// The per-token switches of the policy loss, resolved from `policy_loss_options` once per call (no std::optional, so
/// the struct can be copied into device functors and kernels).
template <class T>
struct policy_token_params {
  surrogate_params<T> sp;
  T log_ratio_clamp; ///< c of clamp(logp - old, -c, c) (used when clamp_log_ratio)
  bool clamp_log_ratio;
  bool gspo; ///< sequence ratio given by the caller
  kl_estimator kl;
  kl_clamp kl_clamps;
  bool kl_straight_through;
  bool kl_importance_corrected;
  policy_loss_mode mode; ///< cispo, sapo, gpg (`alt_surrogate`), dppo_tv, dppo_kl (`dppo_surrogate`) replace PPO's
  T tau_pos, tau_neg;    ///< SAPO temperatures
  T div_low, div_high;   ///< DPPO's divergence thresholds (clip_ratio_low and _high as given, not 1 -+ them)
  T tis_cap;             ///< DPPO's truncation min(r, tis_cap); infinite without clip_ratio_c
};

/// One valid token's contribution to the policy loss, already weighted by its aggregation weight w.
template <class T>
struct policy_token_term {
  T pg;        ///< clipped-surrogate loss times the token weight, without the aggregation weight
  T kl;        ///< unweighted KL value (times the ratio when importance corrected)
  T ratio;     ///< importance ratio used
  T log_ratio; ///< logp - old after the clamp (PPO) or raw (GSPO): ppo_kl accumulates -log_ratio
  T d_logr;    ///< w-weighted d loss / d log r (before the gate)
  T grad;      ///< d loss / d logp of this token (for GSPO with sequence gradient: without the spread term)
  std::uint32_t flags;
};

/// The per-token step of `policy_loss`: importance ratio (token or given sequence ratio), clipped surrogate, KL term
/// and the gradient with respect to logp, with weights w (aggregation), kl_w = kl_coef w and the token weight iw of
/// the policy-gradient term (`policy_loss_inputs::token_weights`, 1 without). The CPU rows, the Thrust
/// functors and the CUDA kernel all call this. [verl compute_policy_loss_vanilla / compute_policy_loss_gspo /
/// kl_penalty; TRL GRPOTrainer._compute_loss]
template <class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE policy_token_term<T>
policy_token(T lp, T old, T a, T ref, T seq_ratio, T seq_gate, T w, T kl_w, bool gspo_sequence_grad,
             policy_token_params<T> p, T iw = T(1)) noexcept {
  // Every quantity is computed unconditionally and then selected: branch-free, so the CPU token loops vectorise
  // (docs/design.md, "Vectorisation with GCC 12") and GPU warps do not diverge.
  const T lr = lp - old;
  const T c = p.clamp_log_ratio ? p.log_ratio_clamp : T(INFINITY);
  const T lrc = clamp(lr, -c, c);
  const T token_ratio = vexp(lrc);
  const T ratio = p.gspo ? seq_ratio : token_ratio;
  const T gate = p.gspo ? seq_gate : kept_gate(lr, lrc);
  const surrogate_term<T> st = clipped_surrogate(ratio, a, p.sp);
  const value_grad<T> k = kl_term(lp, ref, p.kl, p.kl_clamps, p.kl_straight_through);
  const bool ic = p.kl_importance_corrected;
  const T kl_times_ratio = k.value * ratio;
  const T kl = ic ? kl_times_ratio : k.value;
  const T direct = kl_w * k.grad * (ic ? ratio : T(1));
  const T kl_through_ratio = kl_w * kl_times_ratio;
  // The token weight scales the policy-gradient term only (verl: pg_losses * rollout_is_weights), not the KL term.
  // Without weights iw is the constant 1 and w * iw folds to w: the unweighted paths compile as before.
  const T pw = w * iw;
  const T d_logr = pw * st.d_ratio * ratio + (ic ? kl_through_ratio : T(0));
  const T grad = gspo_sequence_grad ? direct : direct + d_logr * gate;
  // CISPO, SAPO, GPG: a loop-invariant select that the CPU's PPO rows fold away (they fix `mode` to ppo_clip).
  const bool alt =
      (p.mode == policy_loss_mode::cispo) | (p.mode == policy_loss_mode::sapo) | (p.mode == policy_loss_mode::gpg);
  // DPPO: also loop-invariant; a branch rather than a select, so that the other modes do not pay its exponentials
  // and logarithm.
  const bool dppo = (p.mode == policy_loss_mode::dppo_tv) | (p.mode == policy_loss_mode::dppo_kl);
  if (alt | dppo) {
    const alt_surrogate_term<T> at =
        dppo ? dppo_surrogate(lp, old, token_ratio, a, p.mode == policy_loss_mode::dppo_kl, p.div_low, p.div_high,
                              p.tis_cap)
             : alt_surrogate(lp, token_ratio, a, p.mode, p.sp.lo, p.sp.hi, p.tau_pos, p.tau_neg);
    const T alt_d_logr = pw * at.d_logr + (ic ? kl_through_ratio : T(0));
    return {at.loss * iw, kl, token_ratio, lrc, alt_d_logr, direct + alt_d_logr * gate + pw * at.d_logp, at.flags};
  }
  return {st.loss * iw, kl, ratio, p.gspo ? lr : lrc, d_logr, grad, st.flags};
}

// ---------------------------------------------------------------------------------------------------------------
// Rows, the accumulator, the plan

struct loss_row_info {
  std::size_t len = 0;
  double log_ratio_sum = 0; // GSPO: sum of logp - old over the row's valid tokens
};

struct loss_row_info_plus {
  MMRAG_RFT_HOST_DEVICE loss_row_info operator()(const loss_row_info& a, const loss_row_info& b) const noexcept {
    return {a.len + b.len, a.log_ratio_sum + b.log_ratio_sum};
  }
};

/// Per-row constants of the token pass: aggregation weights and the GSPO sequence ratio.
template <class T>
struct loss_row_coef {
  T w, kl_w, ent_w, seq_ratio, seq_gate;
  std::size_t len;
};

/// What the per-row constants depend on besides the row (resolved once per call on the host).
struct loss_coef_params {
  loss_aggregation aggregation; ///< the effective one (`policy_loss_options::effective_aggregation`)
  double loss_scale, n_tokens, n_seqs, constant, kl_coef, entropy_coeff;
  bool gspo, has_gspo_max;
  double gspo_max;
  double count_epsilon; ///< added to the row length of seq-mean-token-mean
  bool sum_norm_seq_mean;
};

/// The aggregation weight of a row and its GSPO sequence ratio, as `policy_loss`'s CPU rows compute them.
template <class T>
MMRAG_RFT_HOST_DEVICE inline loss_row_coef<T> row_coef(const loss_row_info& row, const loss_coef_params& cp) noexcept {
  const std::size_t len = row.len;
  const loss_aggregation aggregation = cp.aggregation;
  const double loss_scale = cp.loss_scale, n_tokens = cp.n_tokens, n_seqs = cp.n_seqs, constant = cp.constant;
  double wd = 0;
  switch (aggregation) {
  case loss_aggregation::token_mean: wd = loss_scale / n_tokens; break;
  case loss_aggregation::seq_mean_token_sum: wd = loss_scale / n_seqs; break;
  case loss_aggregation::seq_mean_token_mean:
    wd = loss_scale / ((static_cast<double>(len) + cp.count_epsilon) * n_seqs);
    break;
  case loss_aggregation::seq_mean_token_sum_norm:
    wd = cp.sum_norm_seq_mean ? loss_scale / (n_seqs * constant) : loss_scale / constant;
    break;
  case loss_aggregation::token_sum: wd = loss_scale; break;
  }
  loss_row_coef<T> c;
  c.len = len;
  c.w = static_cast<T>(wd);
  c.kl_w = static_cast<T>(cp.kl_coef) * c.w;
  c.ent_w = -static_cast<T>(cp.entropy_coeff) * c.w;
  c.seq_ratio = T(1);
  c.seq_gate = T(1);
  if (cp.gspo && len > 0) {
    T s = static_cast<T>(row.log_ratio_sum / static_cast<double>(len));
    if (cp.has_gspo_max) {
      const T mx = static_cast<T>(cp.gspo_max);
      c.seq_gate = s <= mx ? T(1) : T(0);
      s = s > mx ? mx : s;
    }
    c.seq_ratio = vexp(s);
  }
  return c;
}

/// The sums of the token pass, one type for every backend: `loss_sums` (double sums, 64-bit counts) is what
/// reductions and `finish_policy_loss` take; the CUDA kernel keeps a thread's running sums as
/// `thread_loss_sums<float>` (its element type, 32-bit counts), which fewer registers hold. `merge` is the reduction
/// (associative, so any tree order gives the same up to rounding; a NaN never replaces a min or max).
template <class Real, class Flags, class Count>
struct basic_loss_sums {
  Real pg = 0, kl = 0, ent = 0;
  Flags clipped = 0, lower = 0, low = 0, high = 0, region = 0;
  Real ppo_kl = 0, kl_sum = 0, ent_sum = 0, adv_sum = 0, ratio_sum = 0;
  Real adv_min = Real(INFINITY), adv_max = Real(-INFINITY), ratio_min = Real(INFINITY), ratio_max = Real(-INFINITY);
  Count tokens = 0, seqs = 0, nonfinite = 0;
  unsigned long long first_bad = ~0ull; ///< row * cols + col of the first non-finite valid token

  template <class R, class F, class C>
  MMRAG_RFT_HOST_DEVICE void merge(const basic_loss_sums<R, F, C>& o) noexcept {
    pg += static_cast<Real>(o.pg), kl += static_cast<Real>(o.kl), ent += static_cast<Real>(o.ent);
    clipped += static_cast<Flags>(o.clipped), lower += static_cast<Flags>(o.lower), low += static_cast<Flags>(o.low);
    high += static_cast<Flags>(o.high), region += static_cast<Flags>(o.region);
    ppo_kl += static_cast<Real>(o.ppo_kl), kl_sum += static_cast<Real>(o.kl_sum);
    ent_sum += static_cast<Real>(o.ent_sum), adv_sum += static_cast<Real>(o.adv_sum);
    ratio_sum += static_cast<Real>(o.ratio_sum);
    const Real amin = static_cast<Real>(o.adv_min), amax = static_cast<Real>(o.adv_max);
    const Real rmin = static_cast<Real>(o.ratio_min), rmax = static_cast<Real>(o.ratio_max);
    adv_min = amin < adv_min ? amin : adv_min, adv_max = amax > adv_max ? amax : adv_max;
    ratio_min = rmin < ratio_min ? rmin : ratio_min, ratio_max = rmax > ratio_max ? rmax : ratio_max;
    tokens += static_cast<Count>(o.tokens), seqs += static_cast<Count>(o.seqs);
    nonfinite += static_cast<Count>(o.nonfinite);
    first_bad = o.first_bad < first_bad ? o.first_bad : first_bad;
  }
  /// The same sums as the reductions' type (double, 64-bit counts).
  [[nodiscard]] MMRAG_RFT_HOST_DEVICE basic_loss_sums<double, double, unsigned long long> wide() const noexcept {
    basic_loss_sums<double, double, unsigned long long> s;
    s.merge(*this);
    return s;
  }
};
using loss_sums = basic_loss_sums<double, double, unsigned long long>;
template <class A>
using thread_loss_sums = basic_loss_sums<A, unsigned, unsigned>;

/// `merge` as a binary function object, for Thrust's and CUB's reductions.
struct loss_sums_plus {
  MMRAG_RFT_HOST_DEVICE loss_sums operator()(loss_sums a, const loss_sums& b) const noexcept {
    a.merge(b);
    return a;
  }
};

/// A valid token's inputs are all finite. Each is tested on its own: a sum of finite inputs can overflow.
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE bool inputs_finite(T lp, T old, T adv, T ref,
                                                                             T entropy) noexcept {
  return finite(lp) & finite(old) & finite(adv) & finite(ref) & finite(entropy);
}

/// The device-side description of one policy_loss call (raw pointers, resolved options).
template <class T>
struct loss_args {
  device_matrix<const T> lp, old, adv, ref, ent;
  const T* seq_adv;
  device_matrix<const T> iw; ///< token weights of the policy-gradient term; null: 1
  device_matrix<const std::uint8_t> m;
  device_matrix<T> g, ge;
  const loss_row_coef<T>* coef; // per-row constants (Thrust path); the CUDA kernel passes its own
  std::size_t cols;
  policy_token_params<T> p;
  bool gspo_sequence_grad;

  MMRAG_RFT_HOST_DEVICE policy_token_term<T> term(std::size_t i, std::size_t t, T a,
                                                  const loss_row_coef<T>& c) const noexcept {
    const T l = lp(i, t);
    return policy_token(l, old.p ? old(i, t) : l, a, ref.p ? ref(i, t) : T(0), c.seq_ratio, c.seq_gate, c.w, c.kl_w,
                        gspo_sequence_grad, p, iw.p ? iw(i, t) : T(1));
  }
  MMRAG_RFT_HOST_DEVICE T advantage(std::size_t i, std::size_t t) const noexcept {
    return adv.p ? adv(i, t) : seq_adv[i];
  }
};

/// One token of the token pass: writes both gradients of token (i, t) (`extra` added to the logp gradient: GSPO's
/// sequence spread when the caller knows it) and returns the token's contribution to the sums.
template <class T>
MMRAG_RFT_HOST_DEVICE inline loss_sums loss_token(const loss_args<T>& a, std::size_t i, std::size_t t,
                                                  const loss_row_coef<T>& c, T extra) noexcept {
  loss_sums s;
  if (a.m(i, t) == 0) {
    a.g(i, t) = T(0);
    if (a.ge.p) a.ge(i, t) = T(0);
    return s;
  }
  const T adv = a.advantage(i, t);
  const policy_token_term<T> r = a.term(i, t, adv, c);
  a.g(i, t) = r.grad + extra;
  if (a.ge.p) a.ge(i, t) = c.ent_w;
  const double w = static_cast<double>(c.w);
  const T e = a.ent.p ? a.ent(i, t) : T(0);
  s.pg = w * static_cast<double>(r.pg);
  s.kl = w * static_cast<double>(r.kl);
  s.ent = w * static_cast<double>(e);
  s.clipped = (r.flags & clipped_flag) != 0;
  s.lower = (r.flags & clipped_lower_flag) != 0;
  s.low = (r.flags & region_low_flag) != 0;
  s.high = (r.flags & region_high_flag) != 0;
  s.region = (r.flags & (region_low_flag | region_high_flag)) != 0;
  s.ppo_kl = -static_cast<double>(r.log_ratio);
  s.kl_sum = static_cast<double>(r.kl);
  s.ent_sum = static_cast<double>(e);
  s.adv_sum = s.adv_min = s.adv_max = static_cast<double>(adv);
  s.ratio_sum = s.ratio_min = s.ratio_max = static_cast<double>(r.ratio);
  s.tokens = 1;
  const T l = a.lp(i, t);
  if (!inputs_finite(l, a.old.p ? a.old(i, t) : l, adv, a.ref.p ? a.ref(i, t) : T(0), e) |
      !finite(a.iw.p ? a.iw(i, t) : T(0)))
    s.nonfinite = 1, s.first_bad = static_cast<unsigned long long>(i * a.cols + t);
  return s;
}

/// GSPO with the sequence gradient (TRL, OpenRLHF): what every valid token of a row gets added to its log-prob
/// gradient, the row's mean of w dloss/dlog r (from their sum), since log r_i = mean_t(logp - old) depends on all
/// of them.
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE T gspo_spread(double grad_sum, const loss_row_coef<T>& c) noexcept {
  return static_cast<T>(grad_sum / static_cast<double>(c.len)) * c.seq_gate;
}

/// `policy_loss_options` resolved into the plain per-token parameters (host side).
template <class T>
[[nodiscard]] policy_token_params<T> resolve_token_params(const policy_loss_options& opt) noexcept {
  policy_token_params<T> p;
  // The dual clip is PPO's: no framework applies it to GSPO's sequence ratio (and CISPO, SAPO, GPG ignore it).
  p.sp = {static_cast<T>(1.0 - opt.clip_ratio_low),
          static_cast<T>(1.0 + opt.clip_ratio_high),
          static_cast<T>(opt.clip_ratio_c.value_or(3.0)),
          static_cast<T>(opt.delta.value_or(0.0)),
          opt.clip_ratio_c.has_value() && opt.mode != policy_loss_mode::gspo,
          opt.delta.has_value()};
  p.log_ratio_clamp = static_cast<T>(opt.log_ratio_clamp.value_or(0.0));
  p.clamp_log_ratio = opt.log_ratio_clamp.has_value();
  p.gspo = opt.mode == policy_loss_mode::gspo;
  p.kl = opt.kl;
  p.kl_clamps = opt.kl_clamps;
  p.kl_straight_through = opt.kl_straight_through;
  p.kl_importance_corrected = opt.kl_importance_corrected && opt.kl != kl_estimator::none;
  p.mode = opt.mode;
  p.tau_pos = static_cast<T>(opt.sapo_tau_pos);
  p.tau_neg = static_cast<T>(opt.sapo_tau_neg);
  p.div_low = static_cast<T>(opt.clip_ratio_low);
  p.div_high = static_cast<T>(opt.clip_ratio_high);
  p.tis_cap = opt.clip_ratio_c ? static_cast<T>(*opt.clip_ratio_c) : T(INFINITY);
  return p;
}

/// The device-side arguments of a policy_loss call; `coef`: per-row constants computed beforehand (the Thrust
/// path), or null where the kernel computes its own (CUDA).
template <class T>
[[nodiscard]] loss_args<T> make_loss_args(const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                          const policy_loss_options& opt, const loss_row_coef<T>* coef) noexcept {
  return {to_device_matrix(in.log_probs), to_device_matrix(in.old_log_probs), to_device_matrix(in.advantages),
          // The reference is read only with a KL term (a NaN there is then no error, as on every backend).
          opt.kl == kl_estimator::none ? device_matrix<const T>{} : to_device_matrix(in.ref_log_probs),
          to_device_matrix(in.entropy), in.sequence_advantages.empty() ? nullptr : in.sequence_advantages.data(),
          to_device_matrix(in.token_weights), to_device_matrix(in.mask), to_device_matrix(out.log_probs),
          to_device_matrix(out.entropy), coef, in.log_probs.cols(), resolve_token_params<T>(opt),
          opt.mode == policy_loss_mode::gspo && opt.gspo_grad == gspo_gradient::sequence};
}

[[nodiscard]] inline loss_coef_params coef_params(const policy_loss_options& opt, double n_tokens, double n_seqs,
                                                  double constant) noexcept {
  return {opt.effective_aggregation(),
          opt.loss_scale,
          n_tokens,
          n_seqs,
          constant,
          opt.kl_coef,
          opt.entropy_coeff,
          opt.mode == policy_loss_mode::gspo,
          opt.gspo_log_ratio_max.has_value(),
          opt.gspo_log_ratio_max.value_or(0.0),
          opt.count_epsilon,
          opt.sum_norm_seq_mean};
}

/// What the row constants need, decided on the host from the options alone (every device path: Thrust, CUDA).
struct loss_plan {
  bool local_counts;   // no normaliser is given: the valid tokens and rows are counted from the mask (as on the CPU)
  loss_coef_params cp; // n_tokens and n_seqs are those counts when local_counts
};

[[nodiscard]] inline loss_plan plan_loss(const policy_loss_options& opt, std::size_t cols) noexcept {
  const loss_aggregation agg = opt.effective_aggregation();
  const bool sum_norm = agg == loss_aggregation::seq_mean_token_sum_norm;
  const double given = opt.normalizer.value_or(0.0);
  // verl's default loss_scale_factor for seq-mean-token-sum-norm is the padded response length.
  const double constant = opt.normalizer ? *opt.normalizer : sum_norm ? static_cast<double>(cols) : 0.0;
  if (sum_norm) {
    // N_seqs of the sequence mean: the given global batch size, else counted.
    const bool count = opt.sum_norm_seq_mean && !opt.sum_norm_sequences;
    return {count, coef_params(opt, 0.0, opt.sum_norm_sequences.value_or(0.0), constant)};
  }
  return {!opt.normalizer && agg != loss_aggregation::token_sum, coef_params(opt, given, given, constant)};
}

/// The row constants' parameters with the counting pass's totals (valid tokens, rows with a valid token).
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline loss_coef_params with_counts(loss_coef_params cp,
                                                                        const unsigned long long* totals) noexcept {
  cp.n_tokens = static_cast<double>(totals[0]);
  cp.n_seqs = static_cast<double>(totals[1]);
  return cp;
}

/// Thread t's part of row i's length and (GSPO) log-ratio sum: tokens t, t + threads, ...
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE loss_row_info thread_row_info(const loss_args<T>& a, std::size_t i, bool gspo,
                                                                  std::size_t t, std::size_t threads) noexcept {
  loss_row_info info;
  for (std::size_t k = t; k < a.cols; k += threads) {
    const bool v = a.m(i, k) != 0;
    info.len += v;
    if (gspo && v) info.log_ratio_sum += static_cast<double>(a.lp(i, k) - (a.old.p ? a.old(i, k) : a.lp(i, k)));
  }
  return info;
}

/// Whether an option holds one of its enumerators: a value cast from an integer or read from a configuration may
/// not, and an unknown aggregation would weigh every token by 0. Each switch names every enumerator and has no
/// default, so an enumerator added later and not listed here draws -Wswitch.
[[nodiscard]] constexpr bool known(policy_loss_mode v) noexcept {
  switch (v) {
  case policy_loss_mode::ppo_clip:
  case policy_loss_mode::gspo:
  case policy_loss_mode::cispo:
  case policy_loss_mode::sapo:
  case policy_loss_mode::gpg:
  case policy_loss_mode::dppo_tv:
  case policy_loss_mode::dppo_kl:
  case policy_loss_mode::gmpo:
  case policy_loss_mode::clip_cov:
  case policy_loss_mode::kl_cov: return true;
  }
  return false;
}
[[nodiscard]] constexpr bool known(gspo_gradient v) noexcept {
  switch (v) {
  case gspo_gradient::stop_gradient:
  case gspo_gradient::sequence: return true;
  }
  return false;
}
[[nodiscard]] constexpr bool known(kl_estimator v) noexcept {
  switch (v) {
  case kl_estimator::none:
  case kl_estimator::k1:
  case kl_estimator::abs:
  case kl_estimator::k2:
  case kl_estimator::k3: return true;
  }
  return false;
}
[[nodiscard]] constexpr bool known(kl_clamp v) noexcept {
  switch (v) {
  case kl_clamp::none:
  case kl_clamp::verl:
  case kl_clamp::openrlhf: return true;
  }
  return false;
}
[[nodiscard]] constexpr bool known(loss_aggregation v) noexcept {
  switch (v) {
  case loss_aggregation::token_mean:
  case loss_aggregation::seq_mean_token_sum:
  case loss_aggregation::seq_mean_token_mean:
  case loss_aggregation::seq_mean_token_sum_norm:
  case loss_aggregation::token_sum: return true;
  }
  return false;
}
[[nodiscard]] constexpr bool known(nonfinite_policy v) noexcept {
  switch (v) {
  case nonfinite_policy::error:
  case nonfinite_policy::propagate: return true;
  }
  return false;
}

/// The modes that need the whole batch (GMPO's per-sequence geometric mean, Clip-Cov's and KL-Cov's batch-level
/// token choice) before any token's gradient is known: they run on the CPU backends only (losses/batch_modes.hpp).
[[nodiscard]] constexpr bool is_batch_mode(policy_loss_mode v) noexcept {
  return v == policy_loss_mode::gmpo || v == policy_loss_mode::clip_cov || v == policy_loss_mode::kl_cov;
}

/// The mode's name as verl's loss_mode spells it, for the errors of backends that cannot run it.
[[nodiscard]] constexpr std::string_view batch_mode_name(policy_loss_mode m) noexcept {
  return m == policy_loss_mode::gmpo ? "gmpo (verl geo_mean)" : m == policy_loss_mode::clip_cov ? "clip_cov" : "kl_cov";
}

/// The located error of a backend that runs only the per-token modes.
inline void refuse_batch_mode(policy_loss_mode m, std::string_view backend) {
  if (!is_batch_mode(m)) return;
  throw error("policy_loss", "options.mode",
              std::string("is ") + std::string(batch_mode_name(m)) + ", which needs the whole batch on the host and " +
                  "is not implemented on " + std::string(backend) + "; run it on exec::seq or exec::par");
}

/// A view's rows do not overlap (`row_stride >= cols`, as `matrix_view` requires): gradients written through
/// overlapping rows would overwrite each other.
template <class V>
[[nodiscard]] constexpr bool rows_disjoint(const V& v) noexcept {
  return v.rows() <= 1 || v.row_stride() >= v.cols();
}

/// The largest per-token weight `validate` lets through, relative to the largest finite T: loss_scale / normaliser
/// (times kl_coef or entropy_coeff) is cast to T, and the gradient multiplies it by a ratio (up to e^20 = 2^28.9
/// under the default clamp) and an advantage, so 2^-64 of T's range leaves those products room before they overflow
/// (an overflowed product times a 0 gate would be NaN).
inline constexpr double loss_weight_headroom = 0x1p-64;

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
  require(tok || seqa || lp.rows() == 0, fn, "inputs.advantages",
          "is missing (give advantages or sequence_advantages)");
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
  require(in.token_weights.empty() || detail::same_shape(in.token_weights, lp), fn, "inputs.token_weights",
          "must have the shape of log_probs");
  require(detail::same_shape(out.log_probs, lp) && (!out.log_probs.empty() || lp.size() == 0), fn, "grads.log_probs",
          "must be given with the shape of log_probs");
  require(out.entropy.empty() || detail::same_shape(out.entropy, lp), fn, "grads.entropy",
          "must have the shape of log_probs");
  require(o.entropy_coeff == 0 || !out.entropy.empty() || lp.size() == 0, fn, "grads.entropy",
          "is required when entropy_coeff != 0");
  // DPPO's thresholds bound a divergence, not the ratio: a Bernoulli KL of 1 or more is a threshold like any other.
  const bool dppo = o.mode == policy_loss_mode::dppo_tv || o.mode == policy_loss_mode::dppo_kl;
  if (dppo)
    require(std::isfinite(o.clip_ratio_low) && o.clip_ratio_low >= 0, fn, "options.clip_ratio_low",
            "must be finite and >= 0 (DPPO's divergence threshold)");
  else
    require(std::isfinite(o.clip_ratio_low) && o.clip_ratio_low >= 0 && o.clip_ratio_low < 1, fn,
            "options.clip_ratio_low", "must be in [0, 1)");
  require(std::isfinite(o.clip_ratio_high) && o.clip_ratio_high >= 0, fn, "options.clip_ratio_high", "must be >= 0");
  if (dppo)
    require(!o.clip_ratio_c || *o.clip_ratio_c > 0, fn, "options.clip_ratio_c",
            "must be > 0 (DPPO's truncated ratio min(r, c))");
  else require(!o.clip_ratio_c || *o.clip_ratio_c > 1.0, fn, "options.clip_ratio_c", "must be > 1 (verl asserts this)");
  require(!o.delta || *o.delta > 1.0 + o.clip_ratio_high, fn, "options.delta", "must be > 1 + clip_ratio_high");
  require(!o.log_ratio_clamp || *o.log_ratio_clamp > 0, fn, "options.log_ratio_clamp", "must be > 0");
  require(std::isfinite(o.kl_coef) && std::isfinite(o.entropy_coeff) && std::isfinite(o.loss_scale), fn, "options",
          "kl_coef, entropy_coeff and loss_scale must be finite");
  // A KL estimator with a zero coefficient trains nothing: the trap of policy_loss_options::trl() (TRL's beta = 0)
  // with kl = k3 set afterwards.
  require(o.kl == kl_estimator::none || o.kl_coef != 0, fn, "options.kl_coef",
          "is 0 while options.kl chooses a KL estimator, so the KL term would do nothing (policy_loss_options::trl() "
          "sets kl_coef = 0, TRL's beta = 0): set kl_coef to the beta wanted, or kl = kl_estimator::none");
  require(!o.normalizer || (std::isfinite(*o.normalizer) && *o.normalizer > 0), fn, "options.normalizer",
          "must be a finite positive number");
  require(!o.sum_norm_sequences || (std::isfinite(*o.sum_norm_sequences) && *o.sum_norm_sequences > 0), fn,
          "options.sum_norm_sequences", "must be a finite positive number");
  // Bounded so that a count plus epsilon never vanishes and stays a count to within 1e-3.
  require(o.count_epsilon >= 0 && o.count_epsilon <= 1e-3, fn, "options.count_epsilon", "must be in [0, 1e-3]");
  require(o.gmpo_log_weight_epsilon >= 0 && o.gmpo_log_weight_epsilon <= 1e-3, fn, "options.gmpo_log_weight_epsilon",
          "must be in [0, 1e-3]");
  require(known(o.mode), fn, "options.mode", "is not a policy_loss_mode enumerator");
  require(known(o.gspo_grad), fn, "options.gspo_grad", "is not a gspo_gradient enumerator");
  require(known(o.kl), fn, "options.kl", "is not a kl_estimator enumerator");
  require(known(o.kl_clamps), fn, "options.kl_clamps", "is not a kl_clamp enumerator");
  require(known(o.aggregation), fn, "options.aggregation", "is not a loss_aggregation enumerator");
  require(known(o.nonfinite), fn, "options.nonfinite", "is not a nonfinite_policy enumerator");
  // NaN fails the comparison; +inf disables the clamp as nullopt does.
  require(!o.gspo_log_ratio_max || *o.gspo_log_ratio_max > 0, fn, "options.gspo_log_ratio_max", "must be > 0");
  {
    // Local counts and the padded length are >= 1, so the given normaliser and sequence count (where < 1) bound
    // the weight's divisor.
    const double divisor = (o.normalizer ? std::fmin(*o.normalizer, 1.0) : 1.0) *
                           (o.sum_norm_sequences ? std::fmin(*o.sum_norm_sequences, 1.0) : 1.0);
    const double coef = std::fmax(1.0, std::fmax(std::fabs(o.kl_coef), std::fabs(o.entropy_coeff)));
    const double limit = static_cast<double>(std::numeric_limits<T>::max()) * loss_weight_headroom;
    require(std::fabs(o.loss_scale) / divisor * coef <= limit, fn, "options",
            "loss_scale / normalizer, times kl_coef or entropy_coeff where larger than 1, must not exceed 2^-64 of "
            "the element type's largest value (1.8e19 for float): the token weights would overflow");
  }
  const bool disjoint = rows_disjoint(lp) && rows_disjoint(in.mask) && rows_disjoint(in.old_log_probs) &&
                        rows_disjoint(in.advantages) && rows_disjoint(in.ref_log_probs) && rows_disjoint(in.entropy) &&
                        rows_disjoint(in.token_weights);
  require(disjoint, fn, "inputs", "have a view with row_stride < cols (rows would overlap)");
  require(rows_disjoint(out.log_probs) && rows_disjoint(out.entropy), fn, "grads",
          "have a view with row_stride < cols (the rows written would overlap)");
  // Bounded so that 4 / tau and tau (r - 1) stay finite in float for every ratio the log-ratio clamp lets through.
  require(o.sapo_tau_pos >= 1e-3 && o.sapo_tau_pos <= 1e3, fn, "options.sapo_tau_pos", "must be in [1e-3, 1e3]");
  require(o.sapo_tau_neg >= 1e-3 && o.sapo_tau_neg <= 1e3, fn, "options.sapo_tau_neg", "must be in [1e-3, 1e3]");
  require(std::isfinite(o.clip_cov_ratio) && o.clip_cov_ratio > 0, fn, "options.clip_cov_ratio",
          "must be finite and > 0 (verl asserts > 0)");
  require(!std::isnan(o.clip_cov_lb) && !std::isnan(o.clip_cov_ub) && o.clip_cov_lb < o.clip_cov_ub, fn,
          "options.clip_cov_lb", "must be < options.clip_cov_ub");
  require(std::isfinite(o.kl_cov_ratio) && o.kl_cov_ratio > 0, fn, "options.kl_cov_ratio",
          "must be finite and > 0 (verl asserts > 0)");
  require(std::isfinite(o.kl_cov_coef), fn, "options.kl_cov_coef", "must be finite");
  require(!is_batch_mode(o.mode) || !o.kl_importance_corrected || o.kl == kl_estimator::none, fn,
          "options.kl_importance_corrected", "is not supported by gmpo, clip_cov and kl_cov");
}

/// The result of a policy-loss call from its summed partials (any backend's sums type with these members): the
/// error for non-finite inputs, the total, and the statistics as means over the valid tokens.
template <class Sums>
[[nodiscard]] policy_loss_result finish_policy_loss(const Sums& total, double seqs, std::size_t cols,
                                                    const policy_loss_options& opt) {
  if (total.nonfinite > 0 && opt.nonfinite == nonfinite_policy::error) {
    const std::size_t c = cols > 0 ? cols : 1;
    const auto bad = static_cast<std::size_t>(total.first_bad);
    throw error("policy_loss", "inputs",
                "hold a NaN or infinite value at valid token [" + std::to_string(bad / c) + ", " +
                    std::to_string(bad % c) +
                    "] (log_probs, old_log_probs, advantages, ref_log_probs, entropy or token_weights; set "
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
    const double n = static_cast<double>(total.tokens) + opt.count_epsilon;
    s.pg_clipfrac = total.clipped / n, s.pg_clipfrac_lower = total.lower / n;
    s.clip_ratio_low = total.low / n, s.clip_ratio_high = total.high / n, s.clip_ratio_region = total.region / n;
    s.ppo_kl = total.ppo_kl / n, s.kl_mean = total.kl_sum / n, s.entropy_mean = total.ent_sum / n;
    s.advantage_mean = total.adv_sum / n, s.advantage_min = total.adv_min, s.advantage_max = total.adv_max;
    s.ratio_mean = total.ratio_sum / n, s.ratio_min = total.ratio_min, s.ratio_max = total.ratio_max;
  }
  return res;
}

} // namespace detail
} // namespace mmrag_rft
