// SPDX-License-Identifier: Apache-2.0
// A prototype, for measurement only (the library does not use it): the PPO-clip (dual clip) + k3 (verl clamps) +
// token-mean case of `policy_loss`, restructured so that GCC vectorises the token loop. It backs the change proposed
// in docs/performance.md. Per tile of 256 tokens of a row:
// 1. an elementwise, branch-free pass (selects, bool-to-float counts, clamps by value, never std::min/max, which
//    return references and become branches) writes the gradient and each token's terms into tile-local arrays;
// 2. a reduction pass sums those arrays in 16 fixed lanes (lane = t mod 16), each lane a serial sum, so no
//    reassociation is needed; lanes are folded into double once per tile. The order depends on the shape only, so
//    `seq` and `par` agree bitwise, as the library's do.
// GCC vectorises pass 1 only with -fno-trapping-math (it will not if-convert a float multiply it thinks may trap);
// that flag changes no value, only whether FP exceptions may be raised speculatively. e^x is the library's vexp.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/detail/math.hpp>
#include <mmrag_rft/detail/parallel.hpp>
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mmrag_rft::bench::prototype {
inline constexpr std::size_t tile = 256;
[[gnu::always_inline]] inline float lo_(float a, float b) noexcept { return b < a ? b : a; }
[[gnu::always_inline]] inline float hi_(float a, float b) noexcept { return b > a ? b : a; }

struct sums {
  double pg = 0, kl = 0, ppo_kl = 0, adv = 0, ratio = 0, clipped = 0, lower = 0;
  float adv_min = INFINITY, adv_max = -INFINITY, ratio_min = INFINITY, ratio_max = -INFINITY;
  float bad = 0;
};
struct params {
  float lo, hi, clip_c, lr_clamp, kl_coef;
};

template <bool TokenAdv>
void tile_pass(const float* __restrict lp, const float* __restrict old, const float* __restrict ref,
               const std::uint8_t* __restrict m, const float* __restrict adv, float seq_adv, float w, float kl_w,
               params p, float* __restrict g, std::size_t n, sums& s) {
  // Phase 1: elementwise, no reductions: per-token terms into tile-local arrays (L1-resident).
  alignas(64) float q_pg[tile], q_kl[tile], q_lr[tile], q_a[tile], q_r[tile], q_c[tile], q_l[tile], q_amin[tile],
      q_amax[tile], q_rmin[tile], q_rmax[tile], q_bad[tile];
  const float lo = p.lo, hi = p.hi, cc = p.clip_c, lc = p.lr_clamp;
  for (std::size_t t = 0; t < n; ++t) {
    const bool v = m[t] != 0;
    const float a = TokenAdv ? adv[t] : seq_adv;
    const float lr_raw = lp[t] - old[t];
    const float lr = lo_(hi_(lr_raw, -lc), lc);
    const float gate = (lr == lr_raw) ? 1.0f : 0.0f;
    const float r = detail::vexp(lr);
    const float l1 = -a * r;
    const float rcl = lo_(hi_(r, lo), hi);
    const float l2 = -a * rcl;
    const bool take2 = l2 > l1;
    const bool inside = rcl == r;
    float loss = take2 ? l2 : l1;
    float d = (take2 & !inside) ? 0.0f : -a;
    const float l3 = -a * cc;
    const bool dual = (a < 0.0f) & (loss > l3);
    loss = dual ? l3 : loss;
    d = dual ? 0.0f : d;
    const float y_raw = ref[t] - lp[t];
    const float y = lo_(hi_(y_raw, -20.0f), 20.0f);
    const float e = detail::vexp(y);
    const float kv_raw = e - y - 1.0f;
    const float kv = lo_(kv_raw, 10.0f);
    const float kg_raw = 1.0f - e;
    const float kg = ((y == y_raw) & (kv_raw <= 10.0f)) ? kg_raw : 0.0f;
    const float grad = w * d * r * gate + kl_w * kg;
    g[t] = v ? grad : 0.0f;
    const float neg_lr = -lr;
    q_pg[t] = v ? loss : 0.0f;
    q_kl[t] = v ? kv : 0.0f;
    q_lr[t] = v ? neg_lr : 0.0f;
    q_a[t] = v ? a : 0.0f;
    q_r[t] = v ? r : 0.0f;
    q_c[t] = static_cast<float>(v & take2);
    q_l[t] = static_cast<float>(v & dual);
    q_amin[t] = v ? a : INFINITY;
    q_amax[t] = v ? a : -INFINITY;
    q_rmin[t] = v ? r : INFINITY;
    q_rmax[t] = v ? r : -INFINITY;
    const float check = lp[t] + old[t] + a + ref[t];
    const bool finite = std::fabs(check) <= FLT_MAX;
    q_bad[t] = static_cast<float>(v & !finite);
  }
  // Phase 2: reductions in 16 fixed lanes (lane = t % 16): each lane a serial sum, so no reassociation is needed.
  constexpr std::size_t L = 16;
  float acc[7][L] = {}, mn[2][L], mx[3][L];
  for (std::size_t l = 0; l < L; ++l) mn[0][l] = mn[1][l] = INFINITY, mx[0][l] = mx[1][l] = -INFINITY, mx[2][l] = 0.0f;
  const std::size_t full = n / L * L;
  for (std::size_t t = 0; t < full; t += L)
    for (std::size_t l = 0; l < L; ++l) {
      acc[0][l] += q_pg[t + l];
      acc[1][l] += q_kl[t + l];
      acc[2][l] += q_lr[t + l];
      acc[3][l] += q_a[t + l];
      acc[4][l] += q_r[t + l];
      acc[5][l] += q_c[t + l];
      acc[6][l] += q_l[t + l];
      mn[0][l] = q_amin[t + l] < mn[0][l] ? q_amin[t + l] : mn[0][l];
      mn[1][l] = q_rmin[t + l] < mn[1][l] ? q_rmin[t + l] : mn[1][l];
      mx[0][l] = q_amax[t + l] > mx[0][l] ? q_amax[t + l] : mx[0][l];
      mx[1][l] = q_rmax[t + l] > mx[1][l] ? q_rmax[t + l] : mx[1][l];
      mx[2][l] = q_bad[t + l] > mx[2][l] ? q_bad[t + l] : mx[2][l];
    }
  for (std::size_t t = full; t < n; ++t) {
    const std::size_t l = t - full;
    acc[0][l] += q_pg[t];
    acc[1][l] += q_kl[t];
    acc[2][l] += q_lr[t];
    acc[3][l] += q_a[t];
    acc[4][l] += q_r[t];
    acc[5][l] += q_c[t];
    acc[6][l] += q_l[t];
    mn[0][l] = std::min(mn[0][l], q_amin[t]);
    mn[1][l] = std::min(mn[1][l], q_rmin[t]);
    mx[0][l] = std::max(mx[0][l], q_amax[t]);
    mx[1][l] = std::max(mx[1][l], q_rmax[t]);
    mx[2][l] = std::max(mx[2][l], q_bad[t]);
  }
  for (std::size_t l = 0; l < L; ++l) {
    s.pg += acc[0][l], s.kl += acc[1][l], s.ppo_kl += acc[2][l], s.adv += acc[3][l], s.ratio += acc[4][l];
    s.clipped += acc[5][l], s.lower += acc[6][l];
    s.adv_min = std::min(s.adv_min, mn[0][l]), s.ratio_min = std::min(s.ratio_min, mn[1][l]);
    s.adv_max = std::max(s.adv_max, mx[0][l]), s.ratio_max = std::max(s.ratio_max, mx[1][l]),
    s.bad = std::max(s.bad, mx[2][l]);
  }
}

/// Loss value of the whole batch (token-mean, local normaliser), gradient into `grad`, statistics into `stats`.
template <class E>
double loss(const E& exec, const float* lp, const float* old, const float* ref, const std::uint8_t* mask,
            const float* tok_adv, const float* seq_adv, std::size_t rows, std::size_t cols, float* grad, sums& stats) {
  const params p{0.8f, 1.2f, 3.0f, 20.0f, 0.001f};
  const detail::chunking ch{rows, std::max<std::size_t>(1, (std::size_t{1} << 15) / std::max<std::size_t>(1, cols))};
  std::vector<std::size_t> counts(ch.count());
  detail::for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    std::size_t n = 0;
    for (std::size_t k = ch.begin(c) * cols; k < ch.end(c) * cols; ++k) n += mask[k] != 0;
    counts[c] = n;
  });
  std::size_t n_tokens = 0;
  for (const std::size_t n : counts) n_tokens += n;
  if (n_tokens == 0) return 0.0;
  const float w = static_cast<float>(1.0 / static_cast<double>(n_tokens));
  const float kl_w = p.kl_coef * w;
  std::vector<sums> parts(ch.count());
  detail::for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) {
      const std::size_t o = i * cols;
      for (std::size_t t0 = 0; t0 < cols; t0 += tile) {
        const std::size_t n = std::min(tile, cols - t0), k = o + t0;
        if (tok_adv)
          tile_pass<true>(lp + k, old + k, ref + k, mask + k, tok_adv + k, 0.0f, w, kl_w, p, grad + k, n, parts[c]);
        else
          tile_pass<false>(lp + k, old + k, ref + k, mask + k, nullptr, seq_adv[i], w, kl_w, p, grad + k, n, parts[c]);
      }
    }
  });
  sums total;
  for (const sums& s : parts) {
    total.pg += s.pg, total.kl += s.kl, total.ppo_kl += s.ppo_kl, total.adv += s.adv, total.ratio += s.ratio;
    total.clipped += s.clipped, total.lower += s.lower, total.bad = std::max(total.bad, s.bad);
    total.adv_min = std::min(total.adv_min, s.adv_min), total.adv_max = std::max(total.adv_max, s.adv_max);
    total.ratio_min = std::min(total.ratio_min, s.ratio_min), total.ratio_max = std::max(total.ratio_max, s.ratio_max);
  }
  stats = total;
  return static_cast<double>(w) * total.pg + static_cast<double>(kl_w) * total.kl;
}

} // namespace mmrag_rft::bench::prototype
