// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/cuda/all.cuh>
// The per-thread parts of the fused CUDA policy-loss kernel (backends/cuda/policy_loss.cuh): what thread t of
// `threads` computes of one row, and the running sums it keeps over all its rows. Host/device, so that tests/thrust
// runs the kernel's whole schedule on the CPU, thread by thread and block by block; the kernel adds only the block
// reductions, the shared row constants and the barriers. No Eigen, no range-v3 (CUDA translation units include it).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/plan.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace mmrag_rft::detail {

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
  for (std::size_t k = t; k < a.cols; k += threads) acc.merge(loss_token(a, i, k, c, extra));
}

/// Thread t's part of the fold of the per-block partials: partials t, t + threads, ... in that order (a fixed order,
/// so that a shape always gives the same bits).
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline loss_sums thread_fold_partials(const loss_sums* partials, std::size_t n,
                                                                          std::size_t t, std::size_t threads) noexcept {
  loss_sums s;
  for (std::size_t k = t; k < n; k += threads) s.merge(partials[k]);
  return s;
}

} // namespace mmrag_rft::detail
