// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/losses.hpp>
// The per-token and per-group formulas, written once and called by the serial and parallel CPU loops, the Thrust
// functors and the CUDA kernels alike, so that the backends cannot drift apart.
// Host/device safe: only <cmath>, <cstdint> and <cstring>.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/options.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace mmrag_rft::detail {

/// torch.clamp(x, min=lo): NaN passes through.
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T clamp_below(T x, T lo) noexcept {
  return x < lo ? lo : x;
}

/// torch.clamp semantics: NaN passes through; the bounds are inclusive.
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T clamp(T x, T lo, T hi) noexcept {
  // Both comparisons always evaluated (no nested ternary), so loops calling this can be if-converted and vectorised.
  const T up = clamp_below(x, lo);
  return up > hi ? hi : up;
}

/// Gradient gate of torch.clamp, from the clamp already computed (`clamped = clamp(x, lo, hi)`): 1 inside [lo, hi]
/// (bounds included), 0 outside and for NaN. The clamp leaves x unchanged exactly when x is inside, and NaN equals
/// nothing, so one comparison does what `(x >= lo) & (x <= hi)` does with two and an `and` (the loss kernel is
/// bound by its vector arithmetic).
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T kept_gate(T x, T clamped) noexcept {
  return clamped == x ? T(1) : T(0);
}

MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE float bits_to_float(std::int32_t i) noexcept {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
#endif
}

/// `vexp` (below) for x already in [-87, 88.7228391] or NaN, as the KL estimators' argument that verl clamps to
/// [-20, 20]: the same value without the clamp and the overflow select, three vector operations fewer.
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE float vexp_in_range(float xc) noexcept {
#if defined(__CUDA_ARCH__)
  return ::expf(xc); // see vexp
#else
  // Round to nearest with the 1.5 * 2^23 shifter instead of std::floor, which is a libm call without SSE4.1 and
  // stops vectorisation (measured: 73% of the loss in one scalar loop with a floorf call, docs/performance.md).
  constexpr float shifter = 12582912.0f;
  const float n = (xc * 1.44269504088896341f + shifter) - shifter;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.38146128e-3f;
  p = p * r + 8.36871006e-3f;
  p = p * r + 4.16683890e-2f;
  p = p * r + 1.66665211e-1f;
  p = p * r + 4.99999940e-1f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // n is in [-126, 128] and 2^128 is no float: scale by 2^(n-1), then by 2 (exact). n = -126 gives a zero scale,
  // which is the flush to 0 at the bottom, without a select.
  const float scale = bits_to_float((static_cast<std::int32_t>(n) + 126) << 23);
  return (p * scale) * 2.0f;
#endif
}

/// e^x in float with at most 2 ulp error, branch-free so that the CPU loops vectorise without -ffast-math (libm's
/// expf is a call GCC will not vectorise). NaN in, NaN out; above ln(FLT_MAX) +inf; below -125.5 ln 2 (about -86.99,
/// where e^x < 2^-125) 0, so denormals and the smallest normals flush.
/// Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 (n rounded to nearest), then e^r by a degree-6 polynomial fitted
/// for least maximum relative error on that interval (3e-9; the degree-7 Taylor polynomial it replaced had 6e-9 and
/// cost two more operations; tests/losses checks the 2 ulp over the range).
///
/// On the GPU it is CUDA's own expf, to the same bound (2 ulp; it returns denormals instead of flushing, a
/// difference below 1e-37): a few instructions around the special-function unit's exp2, where this polynomial is a
/// dozen dependent FMAs, and the logit kernels take one exponential per logit they read.
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE float vexp(float x) noexcept {
#if defined(__CUDA_ARCH__)
  return ::expf(x);
#else
  const float y = vexp_in_range(clamp(x, -87.0f, 88.7228391f));
  return x > 88.7228391f ? INFINITY : y;
#endif
}
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE double vexp(double x) noexcept { return std::exp(x); }
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE double vexp_in_range(double x) noexcept { return std::exp(x); }

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
  T lo;          ///< 1 - clip_ratio_low
  T hi;          ///< 1 + clip_ratio_high
  T clip_c;      ///< dual-clip constant (used when dual_clip)
  T delta;       ///< TRL two-sided cap (used when has_delta)
  bool dual_clip;
  bool has_delta;
};

template <class T>
struct surrogate_term {
  T loss;        ///< per-token policy-gradient loss
  T d_ratio;     ///< d loss / d ratio
  std::uint32_t flags; ///< 32 bits, not 8: GCC 12 sizes a loop's vectors by its narrowest type (docs/performance.md)
};

/// PPO clipped surrogate of one token given its importance ratio r and advantage A:
/// C1 = max(-A min(r, delta), -A clip(r, lo, hi)); for A < 0 with dual clip, loss = min(C1, -A c).
/// [verl compute_policy_loss_vanilla; TRL _compute_loss; Ye et al. dual clip]. Ties follow torch: where both terms
/// are equal (r inside the clip range) the gradient is -A, the same through either branch.
template <class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE surrogate_term<T> clipped_surrogate(T r, T a, surrogate_params<T> p) noexcept {
  // Selects only, no branches, every product computed unconditionally and bools combined with & (not &&): GCC
  // will not if-convert a float operation or comparison that only happens on one side of a branch, since it might
  // trap. So the CPU token loops vectorise this, and GPU threads of a warp do not diverge.
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
  const bool below = r < p.lo, above = r > p.hi, positive = a > T(0);
  const std::uint32_t flags = (take2 ? clipped_flag : 0u) | (lower ? clipped_lower_flag : 0u) |
                              ((below & negative) ? region_low_flag : 0u) | ((above & positive) ? region_high_flag : 0u);
  return {lower ? l3 : c1, d, flags};
}

/// The per-token switches of the policy loss, resolved from `policy_loss_options` once per call (no std::optional, so
/// the struct can be copied into device functors and kernels).
template <class T>
struct policy_token_params {
  surrogate_params<T> sp;
  T log_ratio_clamp;  ///< c of clamp(logp - old, -c, c) (used when clamp_log_ratio)
  bool clamp_log_ratio;
  bool gspo;          ///< sequence ratio given by the caller
  kl_estimator kl;
  kl_clamp kl_clamps;
  bool kl_straight_through;
  bool kl_importance_corrected;
};

/// One valid token's contribution to the policy loss, already weighted by its aggregation weight w.
template <class T>
struct policy_token_term {
  T pg;        ///< unweighted clipped-surrogate loss
  T kl;        ///< unweighted KL value (times the ratio when importance corrected)
  T ratio;     ///< importance ratio used
  T log_ratio; ///< logp - old after the clamp (PPO) or raw (GSPO): ppo_kl accumulates -log_ratio
  T d_logr;    ///< w-weighted d loss / d log r (before the gate)
  T grad;      ///< d loss / d logp of this token (for GSPO with sequence gradient: without the spread term)
  std::uint32_t flags;
};

/// The per-token step of `policy_loss`: importance ratio (token or given sequence ratio), clipped surrogate, KL term
/// and the gradient with respect to logp, with weights w (aggregation) and kl_w = kl_coef w. The CPU rows, the Thrust
/// functors and the CUDA kernel all call this. [verl compute_policy_loss_vanilla / compute_policy_loss_gspo /
/// kl_penalty; TRL GRPOTrainer._compute_loss]
template <class T>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE policy_token_term<T> policy_token(T lp, T old, T a, T ref, T seq_ratio, T seq_gate, T w,
                                                               T kl_w, bool gspo_sequence_grad,
                                                               policy_token_params<T> p) noexcept {
  // Every quantity is computed unconditionally and then selected: branch-free, so the CPU token loops vectorise
  // (GCC will not if-convert float arithmetic that sits inside a branch) and GPU warps do not diverge.
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
  const T d_logr = w * st.d_ratio * ratio + (ic ? kl_through_ratio : T(0));
  const T grad = gspo_sequence_grad ? direct : direct + d_logr * gate;
  return {st.loss, kl, ratio, p.gspo ? lr : lrc, d_logr, grad, st.flags};
}

/// GRPO advantage of one completion from its group's statistics. [verl compute_grpo_outcome_advantage]
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T grpo_advantage(T reward, double mean, double stddev, double epsilon,
                                                 bool divide_by_std) noexcept {
  const double centred = static_cast<double>(reward) - mean;
  return static_cast<T>(divide_by_std ? centred / (stddev + epsilon) : centred);
}

/// RLOO advantage: the reward minus the mean of the other n - 1 rewards, r - (sum - r)/(n - 1). [verl rloo]
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T rloo_advantage(T reward, double sum, double n) noexcept {
  const double r = static_cast<double>(reward);
  return static_cast<T>(r - (sum - r) / (n - 1.0));
}

} // namespace mmrag_rft::detail
