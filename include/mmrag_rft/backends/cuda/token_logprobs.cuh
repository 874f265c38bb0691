// SPDX-License-Identifier: Apache-2.0
// CUDA kernels of token_logprobs_and_entropy and its backward: one block per row, online softmax, CUB block
// reduction of the softmax state. nvcc only. The arithmetic is logits/detail/online_softmax.hpp, shared with the CPU.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cuda/launch.cuh>
#include <mmrag_rft/backends/cuda/tuning.cuh>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>
#include <mmrag_rft/logits/detail/online_softmax.hpp>
#include <mmrag_rft/logits/token_logprobs.hpp>

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

template <int Threads, class L>
__global__ void __launch_bounds__(Threads)
    token_logprobs_kernel(const L* x, std::size_t stride, std::size_t rows, std::size_t cols,
                          const std::int64_t* tokens, float inv_t, float* logp, float* ent, float* lse,
                          unsigned long long* bad_row) {
  using reduce_t = cub::BlockReduce<mmrag_rft::detail::softmax_state, Threads>;
  __shared__ typename reduce_t::TempStorage tmp;
  for (std::size_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const L* row = x + i * stride;
    mmrag_rft::detail::softmax_state st;
    for (std::size_t j = threadIdx.x; j < cols; j += Threads)
      st = mmrag_rft::detail::softmax_push(st, mmrag_rft::detail::load_float(row[j]) * inv_t);
    st = reduce_t(tmp).Reduce(st, softmax_merge_op{});
    if (threadIdx.x == 0) {
      const std::int64_t y = tokens[i];
      const bool ok = y >= 0 && static_cast<std::size_t>(y) < cols;
      if (!ok && bad_row) atomicMin(bad_row, static_cast<unsigned long long>(i));
      const float z = ok ? mmrag_rft::detail::load_float(row[y]) * inv_t : NAN;
      logp[i] = mmrag_rft::detail::softmax_log_prob(st, z);
      if (ent) ent[i] = mmrag_rft::detail::softmax_entropy(st);
      if (lse) lse[i] = mmrag_rft::detail::softmax_lse(st);
    }
    __syncthreads(); // tmp is reused by the next row
  }
}

template <int Threads, class L, class G>
__global__ void __launch_bounds__(Threads)
    token_logprobs_backward_kernel(const L* x, std::size_t stride, std::size_t rows, std::size_t cols,
                                   const std::int64_t* tokens, float inv_t, const float* lse, const float* ent,
                                   const float* grad_logp, const float* grad_ent, G* gx, std::size_t gstride) {
  for (std::size_t i = blockIdx.x; i < rows; i += gridDim.x) {
    const L* row = x + i * stride;
    G* grow = gx + i * gstride;
    const float glp = (grad_logp ? grad_logp[i] : 0.0f) * inv_t;
    const float gh = (grad_ent ? grad_ent[i] : 0.0f) * inv_t;
    const float h = grad_ent ? ent[i] : 0.0f;
    const float l = lse[i];
    const std::int64_t y = tokens[i];
    for (std::size_t j = threadIdx.x; j < cols; j += Threads) {
      const float g = mmrag_rft::detail::softmax_logit_grad(mmrag_rft::detail::load_float(row[j]) * inv_t, l, h, glp,
                                                            gh);
      mmrag_rft::detail::store_float(grow[j], static_cast<std::int64_t>(j) == y ? g + glp : g);
    }
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
template <class L>
  requires mmrag_rft::detail::is_logit_element_v<L>
void token_logprobs_and_entropy(const launch& l, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                                const token_logprobs_outputs& out, const token_logprobs_options& opt = {},
                                unsigned long long* bad_row = nullptr) {
  mmrag_rft::detail::validate_token_logprobs_shapes(mmrag_rft::detail::token_logprobs_fn_name, logits, tokens.size(),
                                                    opt);
  mmrag_rft::detail::validate_forward_outputs(logits.rows(), out);
  if (logits.rows() == 0) return;
  constexpr int threads = tuning::logits_threads;
  detail::token_logprobs_kernel<threads, L><<<detail::row_grid(logits.rows()), threads, 0, l.stream>>>(
      logits.data(), logits.row_stride(), logits.rows(), logits.cols(), tokens.data(),
      static_cast<float>(1.0 / opt.temperature), out.log_probs.data(), out.entropy.empty() ? nullptr : out.entropy.data(),
      out.lse.empty() ? nullptr : out.lse.data(), bad_row);
  detail::check_cuda(cudaGetLastError(), "gpu::token_logprobs_and_entropy");
}

/// `mmrag_rft::token_logprobs_and_entropy_backward` on the GPU (device memory; float or bfloat16 logits and
/// gradient). One read of the logits, one write of the gradient, one block per row; asynchronous on `l.stream`.
/// Token ids are trusted here (the forward reported bad ones).
template <class L, class G>
  requires(mmrag_rft::detail::is_logit_element_v<L> && mmrag_rft::detail::is_logit_element_v<G>)
void token_logprobs_and_entropy_backward(const launch& l, matrix_view<const L> logits,
                                         std::span<const std::int64_t> tokens, const token_logprobs_grads& in,
                                         matrix_view<G> grad_logits, const token_logprobs_options& opt = {}) {
  mmrag_rft::detail::validate_token_logprobs_shapes(mmrag_rft::detail::token_logprobs_bwd_name, logits, tokens.size(),
                                                    opt);
  mmrag_rft::detail::validate_backward_args(logits.rows(), logits, in, grad_logits);
  if (logits.rows() == 0) return;
  constexpr int threads = tuning::logits_threads;
  detail::token_logprobs_backward_kernel<threads, L, G><<<detail::row_grid(logits.rows()), threads, 0, l.stream>>>(
      logits.data(), logits.row_stride(), logits.rows(), logits.cols(), tokens.data(),
      static_cast<float>(1.0 / opt.temperature), in.lse.data(), in.entropy.empty() ? nullptr : in.entropy.data(),
      in.grad_log_probs.empty() ? nullptr : in.grad_log_probs.data(),
      in.grad_entropy.empty() ? nullptr : in.grad_entropy.data(), grad_logits.data(), grad_logits.row_stride());
  detail::check_cuda(cudaGetLastError(), "gpu::token_logprobs_and_entropy_backward");
}

} // namespace mmrag_rft::gpu
