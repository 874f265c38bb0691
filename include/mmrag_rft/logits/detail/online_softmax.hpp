// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/logits.hpp>
// The online-softmax arithmetic of the logit kernels, written once for the CPU loops and the CUDA kernels.
// Host/device safe: no Eigen, no range-v3.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <cmath>

namespace mmrag_rft::detail {

/// Running statistics of a row of tempered logits z (the softmax never materialised): the running max m,
/// s = sum_j e^(z_j - m) and q = sum_j e^(z_j - m) (z_j - m). Then log-sum-exp = m + log s and the entropy
/// H = -sum_j p_j log p_j = log s - q / s. The empty state is {-inf, 0, 0}; it is the identity of `softmax_merge`.
struct softmax_state {
  float m = -INFINITY;
  float s = 0.0f;
  float q = 0.0f;
};

/// max that lets a NaN through (std::max and `a > b ? a : b` would drop it and hide a NaN logit).
MMRAG_RFT_HOST_DEVICE inline float nan_max(float a, float b) noexcept { return (b > a || b != b) ? b : a; }

/// The state rescaled to a maximum m >= st.m (or NaN): s' = s e^(st.m - m), q' = e^(st.m - m) (q + (st.m - m) s).
MMRAG_RFT_HOST_DEVICE inline softmax_state softmax_rescaled(const softmax_state& st, float m) noexcept {
  const float d = st.m - m; // <= 0
  const float f = vexp(d);
  return {m, st.s * f, f * (st.q + d * st.s)};
}

/// Adds a tempered logit z <= st.m (the maximum unchanged). A -inf logit adds 0 (probability 0), not 0 * -inf.
MMRAG_RFT_HOST_DEVICE inline softmax_state softmax_add_below_max(const softmax_state& st, float z) noexcept {
  const float d = z - st.m;
  const float e = vexp(d);
  return {st.m, st.s + e, st.q + (e > 0.0f ? e * d : 0.0f)};
}

/// Combines the statistics of two disjoint parts of a row; associative and commutative up to rounding, so blocks,
/// lanes and threads can be merged in any tree. A state with s == 0 (empty, or only -inf logits) is the identity.
/// Both are rescaled to the larger maximum. [Milakov and Gimelshein 2018, "Online normalizer calculation for
/// softmax", extended with the entropy moment q]
MMRAG_RFT_HOST_DEVICE inline softmax_state softmax_merge(const softmax_state& a, const softmax_state& b) noexcept {
  if (a.s == 0.0f) return b;
  if (b.s == 0.0f) return a;
  const float m = nan_max(a.m, b.m);
  const softmax_state ra = softmax_rescaled(a, m), rb = softmax_rescaled(b, m);
  return {m, ra.s + rb.s, ra.q + rb.q};
}

/// Adds one tempered logit to a running state. -inf logits contribute nothing (probability 0); a NaN makes the state
/// NaN; +inf makes it NaN too (inf - inf), as PyTorch's log_softmax does.
MMRAG_RFT_HOST_DEVICE inline softmax_state softmax_push(softmax_state st, float z) noexcept {
  if (z == -INFINITY) return st;
  if (st.s == 0.0f) return {z, 1.0f, 0.0f};
  if (z > st.m || z != z) {
    const softmax_state r = softmax_rescaled(st, z);
    return {z, r.s + 1.0f, r.q};
  }
  return softmax_add_below_max(st, z);
}

/// Adds N tempered logits (one thread's 16-byte load on the GPU) to a running state: their max first, the state
/// rescaled to it at most once, then one exponential per logit. Equal to N `softmax_push` calls up to rounding, with
/// at most one rescale per chunk instead of one per new maximum (and no branch per logit).
template <int N>
MMRAG_RFT_HOST_DEVICE inline softmax_state softmax_push_chunk(softmax_state st, const float (&z)[N]) noexcept {
  float mc = z[0];
  for (int j = 1; j < N; ++j) mc = nan_max(mc, z[j]);
  if (mc == -INFINITY) return st; // every logit -inf: probability 0
  if (st.s == 0.0f) st = {mc, 0.0f, 0.0f};
  else if (mc > st.m || mc != mc) st = softmax_rescaled(st, mc);
  for (int j = 0; j < N; ++j) st = softmax_add_below_max(st, z[j]);
  return st;
}

/// log-sum-exp of the row, m + log s (-inf for a row of only -inf logits).
MMRAG_RFT_HOST_DEVICE inline float softmax_lse(const softmax_state& st) noexcept { return st.m + std::log(st.s); }

/// log p of the logit z, (z - m) - log s: subtracting the max first keeps it exact for huge logits, where z - lse
/// would lose log s below the ulp of lse.
MMRAG_RFT_HOST_DEVICE inline float softmax_log_prob(const softmax_state& st, float z) noexcept {
  return (z - st.m) - std::log(st.s);
}

/// Entropy of the row's softmax, log s - q / s (NaN for a row of only -inf logits).
MMRAG_RFT_HOST_DEVICE inline float softmax_entropy(const softmax_state& st) noexcept {
  return std::log(st.s) - st.q / st.s;
}

/// d L / d z_j for one tempered logit z_j of a row with log-sum-exp `lse` and entropy `h`, given g_lp = dL/dlogp and
/// g_h = dL/dH, without the target's +g_lp (added once per row by the caller):
///   d logp_y / d z_j = [j == y] - p_j,   d H / d z_j = -p_j (log p_j + H).
/// A logit of -inf has p = 0 and gradient exactly 0 (not 0 * inf).
MMRAG_RFT_HOST_DEVICE inline float softmax_logit_grad(float z, float lse, float h, float g_lp, float g_h) noexcept {
  const float lp = z - lse;
  const float p = vexp(lp);
  const float dh = p > 0.0f ? -p * (lp + h) : 0.0f;
  return g_h * dh - g_lp * p;
}

} // namespace mmrag_rft::detail
