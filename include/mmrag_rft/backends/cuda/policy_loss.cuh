// SPDX-License-Identifier: Apache-2.0
// The fused CUDA policy loss: one kernel pass over the tokens writes the gradients and reduces the loss and its
// statistics (CUB block reductions into per-block partials, folded in a fixed order by one small block: deterministic).
// nvcc only. The per-token arithmetic is detail::policy_token (losses/plan.hpp), shared with the CPU and Thrust paths;
// each thread's part of a row is backends/cuda/loss_threads.hpp, with which tests/thrust runs this schedule on the
// CPU.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cuda/launch.cuh>
#include <mmrag_rft/backends/cuda/tuning.cuh>
#include <mmrag_rft/backends/cuda/loss_threads.hpp>
#include <mmrag_rft/losses/plan.hpp>

#include <cub/block/block_reduce.cuh>

#include <cstddef>
#include <cstdint>

namespace mmrag_rft::gpu {

namespace detail {

namespace md = mmrag_rft::detail;

/// Valid tokens and valid rows of the whole batch (only needed for local normalisers). Integer atomics: exact and
/// order-independent.
template <int Threads>
__global__ void __launch_bounds__(Threads) loss_count_kernel(md::device_matrix<const std::uint8_t> m, std::size_t rows,
                                                             std::size_t cols, unsigned long long* totals) {
  using reduce_t = cub::BlockReduce<unsigned long long, Threads>;
  __shared__ typename reduce_t::TempStorage tmp;
  for (std::size_t i = blockIdx.x; i < rows; i += gridDim.x) {
    unsigned long long len = md::thread_mask_count(m, i, cols, threadIdx.x, Threads);
    len = reduce_t(tmp).Sum(len);
    if (threadIdx.x == 0 && len > 0) {
      atomicAdd(totals, len);
      atomicAdd(totals + 1, 1ull);
    }
    __syncthreads();
  }
}

/// The fused pass: one block per row (grid-stride). Per row: its length (and GSPO log-ratio sum) by a block
/// reduction over the mask row, then each token's loss, statistics and gradients into the thread's own running sums
/// (each token's weight is known before its row's token loop, so nothing else needs a per-row reduction); one block
/// reduction of those sums at the end goes to partials[blockIdx.x]. With fewer blocks than rows
/// (tuning::loss_max_blocks) that large reduction (21 fields) is paid once per block, not once per row.
template <class T, int Threads, int MinBlocks>
__global__ void __launch_bounds__(Threads, MinBlocks)
    policy_loss_kernel(md::loss_args<T> a, std::size_t rows, md::loss_coef_params cp, bool local_counts,
                       const unsigned long long* totals, md::loss_sums* partials) {
  using info_reduce_t = cub::BlockReduce<md::loss_row_info, Threads>;
  using sum_reduce_t = cub::BlockReduce<double, Threads>;
  using loss_reduce_t = cub::BlockReduce<md::loss_sums, Threads>;
  __shared__ union {
    typename info_reduce_t::TempStorage info;
    typename sum_reduce_t::TempStorage sum;
    typename loss_reduce_t::TempStorage loss;
  } tmp;
  __shared__ md::loss_row_coef<T> coef;
  __shared__ T spread;
  if (local_counts) cp = md::with_counts(cp, totals);
  md::thread_loss_sums<T> acc; // this thread's running total over its tokens of this block's rows
  for (std::size_t i = blockIdx.x; i < rows; i += gridDim.x) {
    md::loss_row_info info = md::thread_row_info(a, i, cp.gspo, threadIdx.x, Threads);
    info = info_reduce_t(tmp.info).Reduce(info, md::loss_row_info_plus{});
    if (threadIdx.x == 0) {
      coef = md::row_coef<T>(info, cp);
      spread = T(0);
    }
    __syncthreads();
    const md::loss_row_coef<T> c = coef;
    if (c.len == 0) {
      md::thread_zero_row(a, i, threadIdx.x, Threads);
      __syncthreads();
      continue; // every thread sees the same c.len: the loop stays convergent
    }
    if (a.gspo_sequence_grad) {
      const double d = sum_reduce_t(tmp.sum).Sum(md::thread_gspo_grad_sum(a, i, c, threadIdx.x, Threads));
      if (threadIdx.x == 0) spread = md::gspo_spread(d, c);
      __syncthreads();
    }
    md::thread_row_tokens(acc, a, i, c, spread, threadIdx.x, Threads);
    if (threadIdx.x == 0) ++acc.seqs;
    __syncthreads(); // coef and spread are rewritten for the next row
  }
  const md::loss_sums total = loss_reduce_t(tmp.loss).Reduce(acc.wide(), md::loss_sums_plus{});
  if (threadIdx.x == 0) partials[blockIdx.x] = total;
}

/// Folds the per-block partials in a fixed order (thread k takes partials k, k + Threads, ...; then a block
/// reduction): the same shape always gives the same bits.
template <int Threads>
__global__ void __launch_bounds__(Threads)
    loss_fold_kernel(const md::loss_sums* partials, std::size_t n, md::loss_sums* out) {
  using reduce_t = cub::BlockReduce<md::loss_sums, Threads>;
  __shared__ typename reduce_t::TempStorage tmp;
  const md::loss_sums s =
      reduce_t(tmp).Reduce(md::thread_fold_partials(partials, n, threadIdx.x, Threads), md::loss_sums_plus{});
  if (threadIdx.x == 0) *out = s;
}

[[nodiscard]] inline std::size_t loss_blocks(std::size_t rows,
                                             std::size_t max_blocks = tuning::loss_max_blocks) noexcept {
  return rows < max_blocks ? rows : max_blocks;
}

} // namespace detail

/// Device memory `policy_loss` needs for a batch of `rows` sequences.
[[nodiscard]] inline std::size_t policy_loss_workspace_bytes(std::size_t rows) noexcept {
  mmrag_rft::gpu::detail::workspace_carver w(nullptr, 0);
  (void)w.take<unsigned long long>(2);
  (void)w.take<mmrag_rft::detail::loss_sums>(1);
  (void)w.take<mmrag_rft::detail::loss_sums>(detail::loss_blocks(rows) > 0 ? detail::loss_blocks(rows) : 1);
  return w.used();
}

/// The loss and statistics a `sync_result = false` call left in its workspace, as a `policy_loss_result` (copies a
/// few hundred bytes and synchronises `l.stream`). `cols` and `opt` must be those of the call.
[[nodiscard]] inline policy_loss_result read_policy_loss_result(const launch& l, std::size_t cols,
                                                                const policy_loss_options& opt) {
  mmrag_rft::gpu::detail::workspace_carver w(l.workspace, l.workspace_bytes);
  (void)w.take<unsigned long long>(2);
  const auto* sums = w.take<mmrag_rft::detail::loss_sums>(1);
  mmrag_rft::detail::loss_sums host;
  detail::check_cuda(cudaMemcpyAsync(&host, sums, sizeof host, cudaMemcpyDeviceToHost, l.stream),
                     "gpu::read_policy_loss_result");
  detail::check_cuda(cudaStreamSynchronize(l.stream), "gpu::read_policy_loss_result");
  return mmrag_rft::detail::finish_policy_loss(host, static_cast<double>(host.seqs), cols, opt);
}

namespace detail {

/// `gpu::policy_loss` with the grid capped at `max_blocks` (at most tuning::loss_max_blocks, which the workspace is
/// sized for) and the kernel compiled for MinBlocks resident blocks per multiprocessor (`__launch_bounds__`, which caps
/// its registers); bench/cuda tries several of both.
template <std::floating_point T, int MinBlocks = tuning::loss_min_blocks>
policy_loss_result policy_loss_with_grid(const launch& l, const policy_loss_inputs<T>& in,
                                         const policy_loss_grads<T>& out, const policy_loss_options& opt,
                                         std::size_t max_blocks);

} // namespace detail

/// `mmrag_rft::policy_loss` on the GPU, fused: one pass over the tokens reads each input once, writes each gradient
/// once and reduces the loss and statistics in the same pass (plus a read of the mask first when the normaliser is
/// local, as on the CPU; pass `options.normalizer` to skip it). No intermediate array the size of the batch.
///
/// Inputs and gradients are device memory; `l.workspace` holds `policy_loss_workspace_bytes(rows)` bytes. With
/// `l.sync_result` the result comes back (one stream synchronisation; a non-finite input with `nonfinite = error`
/// throws then); without it the returned result is empty and `read_policy_loss_result` reads it later. Results equal
/// `exec::seq`'s to rounding and are bitwise reproducible for a given shape. Options are checked on the host first.
template <std::floating_point T>
policy_loss_result policy_loss(const launch& l, const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                               const policy_loss_options& opt = {}) {
  return detail::policy_loss_with_grid(l, in, out, opt, tuning::loss_max_blocks);
}

template <std::floating_point T, int MinBlocks>
policy_loss_result detail::policy_loss_with_grid(const launch& l, const policy_loss_inputs<T>& in,
                                                 const policy_loss_grads<T>& out, const policy_loss_options& opt,
                                                 std::size_t max_blocks) {
  namespace md = mmrag_rft::detail;
  md::validate(in, out, opt);
  md::refuse_batch_mode(opt.mode, "exec::cuda");
  const std::size_t rows = in.log_probs.rows(), cols = in.log_probs.cols();
  md::require(l.workspace_bytes >= policy_loss_workspace_bytes(rows) && (l.workspace || rows == 0), "gpu::policy_loss",
              "launch.workspace", "is smaller than policy_loss_workspace_bytes(rows)");
  detail::workspace_carver w(l.workspace, l.workspace_bytes);
  auto* totals = w.take<unsigned long long>(2);
  auto* sums = w.take<md::loss_sums>(1);
  md::require(max_blocks > 0 && max_blocks <= tuning::loss_max_blocks, "gpu::policy_loss", "max_blocks",
              "must be in [1, tuning::loss_max_blocks]");
  const std::size_t blocks = detail::loss_blocks(rows, max_blocks);
  auto* partials = w.take<md::loss_sums>(blocks > 0 ? blocks : 1);
  if (rows == 0 || cols == 0) {
    const md::loss_sums zero;
    detail::check_cuda(cudaMemcpyAsync(sums, &zero, sizeof zero, cudaMemcpyHostToDevice, l.stream), "gpu::policy_loss");
    return l.sync_result ? read_policy_loss_result(l, cols, opt) : policy_loss_result{};
  }

  const md::loss_plan plan = md::plan_loss(opt, cols);
  if (plan.local_counts) {
    detail::check_cuda(cudaMemsetAsync(totals, 0, 2 * sizeof(unsigned long long), l.stream), "gpu::policy_loss");
    detail::loss_count_kernel<tuning::loss_threads>
        <<<static_cast<unsigned>(blocks), tuning::loss_threads, 0, l.stream>>>(md::to_device_matrix(in.mask), rows,
                                                                               cols, totals);
  }
  const md::loss_args<T> args = md::make_loss_args(in, out, opt, static_cast<const md::loss_row_coef<T>*>(nullptr));
  detail::policy_loss_kernel<T, tuning::loss_threads, MinBlocks>
      <<<static_cast<unsigned>(blocks), tuning::loss_threads, 0, l.stream>>>(args, rows, plan.cp, plan.local_counts,
                                                                             totals, partials);
  detail::loss_fold_kernel<tuning::fold_threads><<<1, tuning::fold_threads, 0, l.stream>>>(partials, blocks, sums);
  detail::check_cuda(cudaGetLastError(), "gpu::policy_loss");
  return l.sync_result ? read_policy_loss_result(l, cols, opt) : policy_loss_result{};
}

} // namespace mmrag_rft::gpu
