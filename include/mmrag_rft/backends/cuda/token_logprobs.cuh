// SPDX-License-Identifier: Apache-2.0
// CUDA kernels of token_logprobs_and_entropy and its backward: one block per row, 16-byte loads and stores, online
// softmax by chunks, CUB block reduction of the softmax state. nvcc only. The arithmetic is
// logits/detail/online_softmax.hpp, shared with the CPU; each thread's loop is logits/detail/row_threads.hpp, which
// the CPU tests run thread by thread.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cuda/launch.cuh>
#include <mmrag_rft/backends/cuda/tuning.cuh>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>
#include <mmrag_rft/logits/detail/online_softmax.hpp>
#include <mmrag_rft/logits/detail/row_threads.hpp>
#include <mmrag_rft/logits/token_logprobs_plan.hpp>

#include <cub/block/block_reduce.cuh>

#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft::gpu {

namespace detail {

struct softmax_merge_op {
  __device__ mmrag_rft::detail::softmax_state operator()(const mmrag_rft::detail::softmax_state& a,
                                                         const mmrag_rft::detail::softmax_state& b) const noexcept {
    return mmrag_rft::detail::softmax_merge(a, b);
  }
};

namespace md = mmrag_rft::detail;

/// Forward: one block per row (grid-stride); each thread's part of the row is detail::thread_softmax_state
/// (logits/detail/row_threads.hpp: 16-byte loads with Vector, one element per load without), then a block reduction.
template <int Threads, bool Vector, class L>
__global__ void __launch_bounds__(Threads)
    token_logprobs_kernel(const L* x, std::size_t stride, std::size_t rows, std::size_t cols,
                          const std::int64_t* tokens, float inv_t, float* logp, float* ent, float* lse,
                          unsigned long long* bad_row) {
  using reduce_t = cub::BlockReduce<md::softmax_state, Threads>;
  __shared__ typename reduce_t::TempStorage tmp;
  for (std::size_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const L* row = x + i * stride;
    md::softmax_state st = md::thread_softmax_state<Vector>(row, cols, inv_t, threadIdx.x, Threads);
    st = reduce_t(tmp).Reduce(st, softmax_merge_op{});
    if (threadIdx.x == 0) {
      const std::int64_t y = tokens[i];
      const bool ok = y >= 0 && static_cast<std::size_t>(y) < cols;
      if (!ok && bad_row) atomicMin(bad_row, static_cast<unsigned long long>(i));
      const float z = ok ? md::load_float(row[y]) * inv_t : NAN;
      logp[i] = md::softmax_log_prob(st, z);
      if (ent) ent[i] = md::softmax_entropy(st);
      if (lse) lse[i] = md::softmax_lse(st);
    }
    __syncthreads(); // tmp is reused by the next row
  }
}

/// Backward: one block per row; each thread writes its part, detail::thread_logit_grads.
template <int Threads, bool Vector, class L, class G>
__global__ void __launch_bounds__(Threads)
    token_logprobs_backward_kernel(const L* x, std::size_t stride, std::size_t rows, std::size_t cols,
                                   const std::int64_t* tokens, float inv_t, const float* lse, const float* ent,
                                   const float* grad_logp, const float* grad_ent, G* gx, std::size_t gstride) {
  for (std::size_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const float glp = (grad_logp ? grad_logp[i] : 0.0f) * inv_t;
    const float gh = (grad_ent ? grad_ent[i] : 0.0f) * inv_t;
    md::thread_logit_grads<Vector>(x + i * stride, gx + i * gstride, cols, inv_t, lse[i], grad_ent ? ent[i] : 0.0f, glp,
                                   gh, tokens[i], threadIdx.x, Threads);
  }
}

[[nodiscard]] inline unsigned row_grid(std::size_t rows) noexcept {
  return static_cast<unsigned>(rows < 65535u * 16u ? rows : 65535u * 16u);
}

} // namespace detail

/// `mmrag_rft::token_logprobs_and_entropy` on the GPU: the same arguments in device memory, the same results (the
/// same shared arithmetic; sums are tree-ordered instead of lane-ordered, so agreement is to float rounding).
///
/// Token ids cannot be checked on the host without a copy: a token outside [0, V) gives NaN log-prob for its row and,
/// when `bad_row` (device memory, set to ULLONG_MAX by the caller) is given, the smallest such row is written there.
/// Shapes and the temperature are checked on the host and throw `mmrag_rft::error`. Asynchronous on `l.stream`; no
/// workspace. Complexity: one read of the logits, one block per row.
namespace detail {

// Both variants' launches: the public functions below take the vector one (bench/cuda times the other too).
template <bool Vector, class L>
void launch_token_logprobs(const launch& l, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                           const token_logprobs_outputs& out, const token_logprobs_options& opt,
                           unsigned long long* bad_row) {
  md::validate_token_logprobs_shapes(md::token_logprobs_fn_name, logits, tokens.size(), opt);
  md::validate_forward_outputs(logits.rows(), out);
  if (logits.rows() == 0) return;
  constexpr int threads = tuning::logits_threads;
  token_logprobs_kernel<threads, Vector, L><<<row_grid(logits.rows()), threads, 0, l.stream>>>(
      logits.data(), logits.row_stride(), logits.rows(), logits.cols(), tokens.data(),
      static_cast<float>(1.0 / opt.temperature), out.log_probs.data(),
      out.entropy.empty() ? nullptr : out.entropy.data(), out.lse.empty() ? nullptr : out.lse.data(), bad_row);
  check_cuda(cudaGetLastError(), "gpu::token_logprobs_and_entropy");
}

template <bool Vector, class L, class G>
void launch_token_logprobs_backward(const launch& l, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                                    const token_logprobs_grads& in, matrix_view<G> grad_logits,
                                    const token_logprobs_options& opt) {
  md::validate_token_logprobs_shapes(md::token_logprobs_bwd_name, logits, tokens.size(), opt);
  md::validate_backward_args(logits.rows(), logits, in, grad_logits);
  if (logits.rows() == 0) return;
  constexpr int threads = tuning::logits_threads;
  token_logprobs_backward_kernel<threads, Vector, L, G><<<row_grid(logits.rows()), threads, 0, l.stream>>>(
      logits.data(), logits.row_stride(), logits.rows(), logits.cols(), tokens.data(),
      static_cast<float>(1.0 / opt.temperature), in.lse.data(), in.entropy.empty() ? nullptr : in.entropy.data(),
      in.grad_log_probs.empty() ? nullptr : in.grad_log_probs.data(),
      in.grad_entropy.empty() ? nullptr : in.grad_entropy.data(), grad_logits.data(), grad_logits.row_stride());
  check_cuda(cudaGetLastError(), "gpu::token_logprobs_and_entropy_backward");
}

} // namespace detail

/// `mmrag_rft::token_logprobs_and_entropy` on the GPU: the same arguments in device memory, the same results (the
/// same shared arithmetic; sums are tree-ordered instead of lane-ordered, so agreement is to float rounding).
///
/// Token ids cannot be checked on the host without a copy: a token outside [0, V) gives NaN log-prob for its row and,
/// when `bad_row` (device memory, set to ULLONG_MAX by the caller) is given, the smallest such row is written there.
/// Shapes and the temperature are checked on the host and throw `mmrag_rft::error`. Asynchronous on `l.stream`; no
/// workspace. Complexity: one read of the logits (16-byte loads where the row's alignment allows), one block per row.
template <class L>
requires mmrag_rft::detail::is_logit_element_v<L>
void token_logprobs_and_entropy(const launch& l, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                                const token_logprobs_outputs& out, const token_logprobs_options& opt = {},
                                unsigned long long* bad_row = nullptr) {
  detail::launch_token_logprobs<true>(l, logits, tokens, out, opt, bad_row);
}

/// `mmrag_rft::token_logprobs_and_entropy_backward` on the GPU (device memory; float or bfloat16 logits and
/// gradient). One read of the logits, one write of the gradient (16-byte accesses where both rows' alignments allow),
/// one block per row; asynchronous on `l.stream`. Token ids are trusted here (the forward reported bad ones).
template <class L, class G>
requires(mmrag_rft::detail::is_logit_element_v<L> && mmrag_rft::detail::is_logit_element_v<G>)
void token_logprobs_and_entropy_backward(const launch& l, matrix_view<const L> logits,
                                         std::span<const std::int64_t> tokens, const token_logprobs_grads& in,
                                         matrix_view<G> grad_logits, const token_logprobs_options& opt = {}) {
  detail::launch_token_logprobs_backward<true>(l, logits, tokens, in, grad_logits, opt);
}

} // namespace mmrag_rft::gpu
