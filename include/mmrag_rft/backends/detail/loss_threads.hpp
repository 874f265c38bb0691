// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/cuda/all.cuh>
// The per-thread parts of the fused CUDA policy-loss kernel (backends/cuda/policy_loss.cuh): what thread t of
// `threads` computes of one row, and the running sums it keeps over all its rows. Host/device, so that tests/thrust
// runs the kernel's whole schedule on the CPU, thread by thread and block by block; the kernel adds only the block
// reductions, the shared row constants and the barriers. No Eigen, no range-v3 (CUDA translation units include it).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/thrust.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace mmrag_rft::detail {

struct loss_row_info_plus {
  MMRAG_RFT_HOST_DEVICE loss_row_info operator()(const loss_row_info& a, const loss_row_info& b) const noexcept {
    return {a.len + b.len, a.log_ratio_sum + b.log_ratio_sum};
  }
};

/// A thread's running sums in the fused kernel, in the element type A (float for a float loss) with 32-bit counts:
/// a thread sees about cols / threads tokens of each of its block's rows, so float keeps the CPU's precision class
/// (its lanes sum 16 tokens in float per tile). Widened to loss_sums (double) for the block reduction. With
/// loss_sums itself per thread the float kernel needed 124 registers (ptxas, sm_90): two blocks of 256 threads per
/// multiprocessor; this halves the accumulators and drops the double additions per token.
template <class A>
struct thread_loss_sums {
  A pg = 0, kl = 0, ent = 0, ppo_kl = 0, kl_sum = 0, ent_sum = 0, adv_sum = 0, ratio_sum = 0;
  A adv_min = A(INFINITY), adv_max = A(-INFINITY), ratio_min = A(INFINITY), ratio_max = A(-INFINITY);
  unsigned clipped = 0, lower = 0, low = 0, high = 0, region = 0, tokens = 0, nonfinite = 0, seqs = 0;
  unsigned long long first_bad = ~0ull;

  // The same merge rules as loss_sums_plus (a NaN never replaces a min or max: `b < a ? b : a`).
  MMRAG_RFT_HOST_DEVICE void add(const loss_sums& s) noexcept {
    pg += static_cast<A>(s.pg), kl += static_cast<A>(s.kl), ent += static_cast<A>(s.ent);
    ppo_kl += static_cast<A>(s.ppo_kl), kl_sum += static_cast<A>(s.kl_sum), ent_sum += static_cast<A>(s.ent_sum);
    adv_sum += static_cast<A>(s.adv_sum), ratio_sum += static_cast<A>(s.ratio_sum);
    const A amin = static_cast<A>(s.adv_min), amax = static_cast<A>(s.adv_max);
    const A rmin = static_cast<A>(s.ratio_min), rmax = static_cast<A>(s.ratio_max);
    adv_min = amin < adv_min ? amin : adv_min, adv_max = amax > adv_max ? amax : adv_max;
    ratio_min = rmin < ratio_min ? rmin : ratio_min, ratio_max = rmax > ratio_max ? rmax : ratio_max;
    clipped += s.clipped != 0, lower += s.lower != 0, low += s.low != 0, high += s.high != 0;
    region += s.region != 0, tokens += static_cast<unsigned>(s.tokens), nonfinite += static_cast<unsigned>(s.nonfinite);
    first_bad = s.first_bad < first_bad ? s.first_bad : first_bad;
  }
  [[nodiscard]] MMRAG_RFT_HOST_DEVICE loss_sums wide() const noexcept {
    loss_sums s;
    s.pg = pg, s.kl = kl, s.ent = ent, s.ppo_kl = ppo_kl, s.kl_sum = kl_sum, s.ent_sum = ent_sum;
    s.adv_sum = adv_sum, s.ratio_sum = ratio_sum;
    s.adv_min = adv_min, s.adv_max = adv_max, s.ratio_min = ratio_min, s.ratio_max = ratio_max;
    s.clipped = clipped, s.lower = lower, s.low = low, s.high = high, s.region = region;
    s.tokens = tokens, s.seqs = seqs, s.nonfinite = nonfinite, s.first_bad = first_bad;
    return s;
  }
};

/// Thread t's count of the valid tokens of row i (the counting pass).
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline unsigned long long
thread_mask_count(const device_matrix<const std::uint8_t>& m, std::size_t i, std::size_t cols, std::size_t t,
                  std::size_t threads) noexcept {
  unsigned long long len = 0;
  for (std::size_t k = t; k < cols; k += threads) len += m(i, k) != 0;
  return len;
}

/// A row without valid tokens: thread t zeroes its part of both gradients.
template <class T>
MMRAG_RFT_HOST_DEVICE void thread_zero_row(const loss_args<T>& a, std::size_t i, std::size_t t,
                                           std::size_t threads) noexcept {
  for (std::size_t k = t; k < a.cols; k += threads) {
    a.g(i, k) = T(0);
    if (a.ge.p) a.ge(i, k) = T(0);
  }
}

/// GSPO with the sequence gradient: thread t's part of the sum over row i's valid tokens of w dloss/dlog r.
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE double thread_gspo_grad_sum(const loss_args<T>& a, std::size_t i,
                                                                const loss_row_coef<T>& c, std::size_t t,
                                                                std::size_t threads) noexcept {
  double d = 0;
  for (std::size_t k = t; k < a.cols; k += threads)
    if (a.m(i, k) != 0) d += static_cast<double>(a.term(i, k, a.advantage(i, k), c).d_logr);
  return d;
}

/// Thread t's tokens of row i: writes their gradients (`extra` added to the log-prob one) and adds their loss and
/// statistics to the thread's running sums.
template <class T, class A>
MMRAG_RFT_HOST_DEVICE void thread_row_tokens(thread_loss_sums<A>& acc, const loss_args<T>& a, std::size_t i,
                                             const loss_row_coef<T>& c, T extra, std::size_t t,
                                             std::size_t threads) noexcept {
  for (std::size_t k = t; k < a.cols; k += threads) acc.add(loss_token(a, i, k, c, extra));
}

/// Thread t's part of the fold of the per-block partials: partials t, t + threads, ... in that order (a fixed order,
/// so that a shape always gives the same bits).
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline loss_sums thread_fold_partials(const loss_sums* partials, std::size_t n,
                                                                          std::size_t t, std::size_t threads) noexcept {
  loss_sums s;
  for (std::size_t k = t; k < n; k += threads) s = loss_sums_plus{}(s, partials[k]);
  return s;
}

} // namespace mmrag_rft::detail
