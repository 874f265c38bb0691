// SPDX-License-Identifier: Apache-2.0
// Launch shapes of the CUDA kernels, kept apart from the kernels (CUB's tuning/dispatch/agent split). nvcc only.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>

namespace mmrag_rft::gpu {

/// Threads per block and grid caps. Not yet measured on a GPU: the values
/// are the usual starting points for memory-bound row kernels (256 threads, a grid capped so that one wave of blocks
/// covers an H100's 132 SMs many times). Re-tune with bench/cuda and record the card, figure and command here.
struct tuning {
  /// One block per row of logits (V up to ~150k: 512 threads read 2 KiB per step, coalesced).
  static constexpr int logits_threads = 512;
  /// One block per sequence of the policy loss (T is 1k to 32k tokens).
  static constexpr int loss_threads = 256;
  /// The grid of the fused loss kernel is min(rows, loss_max_blocks): a function of the shape only, so the order of
  /// the floating-point reduction, and with it the result, does not depend on the GPU. Each block reduces its
  /// threads' sums once, after all its rows: a smaller cap (e.g. 1024, a few blocks per multiprocessor) pays that
  /// reduction for several rows at once, at some cost in load balance over rows of different lengths; bench/cuda's
  /// policy_loss_verl decides.
  static constexpr std::size_t loss_max_blocks = 4096;
  /// Resident blocks per multiprocessor the fused loss kernel is compiled for (`__launch_bounds__`). 1 leaves ptxas
  /// free: 106 registers per thread for float (sm_90), so two blocks of 256 threads per multiprocessor; 3 caps it at
  /// 80 registers with 192 bytes of spills, 4 at 64 with 728 (ptxas -v). bench/cuda times 1, 3 and 4.
  static constexpr int loss_min_blocks = 1;
  /// Threads of the single-block kernels that fold per-block partials in a fixed order.
  static constexpr int fold_threads = 256;
  /// Threads per block of item-wise kernels (advantages).
  static constexpr int item_threads = 256;
};

} // namespace mmrag_rft::gpu
