// SPDX-License-Identifier: Apache-2.0
// The CUDA backend value, `exec::cuda`: the library's CUDA kernels reached with the same function names as the CPU
// (`policy_loss(exec::cuda.on(stream), ...)`, `grpo_advantages(exec::cuda, ...)`, the logit kernels). nvcc only.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/concepts.hpp>
#include <mmrag_rft/backends/cuda/grpo.cuh>
#include <mmrag_rft/backends/cuda/launch.cuh>
#include <mmrag_rft/backends/cuda/policy_loss.cuh>
#include <mmrag_rft/backends/cuda/token_logprobs.cuh>

#include <cuda_runtime.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft::exec {

/// Runs an algorithm with the library's CUDA kernels on `stream`. Every pointer in the arguments is device memory;
/// options, group layouts and results stay on the host. Without a workspace, a call allocates the device memory it
/// needs on the stream (cudaMallocAsync) and frees it after; `with_workspace` hands it caller-owned memory (sized by
/// the `gpu::*_workspace_bytes` functions), and `deferred()` leaves scalar results on the device (read them with the
/// `gpu::read_*` functions) so that a step runs without a host round trip.
struct cuda_t : backend_base<cuda_t> {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  bool sync_result = true;

  [[nodiscard]] constexpr cuda_t on(cudaStream_t s) const noexcept {
    cuda_t c = *this;
    c.stream = s;
    return c;
  }
  [[nodiscard]] constexpr cuda_t with_workspace(void* p, std::size_t bytes) const noexcept {
    cuda_t c = *this;
    c.workspace = p, c.workspace_bytes = bytes;
    return c;
  }
  [[nodiscard]] constexpr cuda_t deferred() const noexcept {
    cuda_t c = *this;
    c.sync_result = false;
    return c;
  }
  [[nodiscard]] constexpr gpu::launch launch() const noexcept {
    return {stream, workspace, workspace_bytes, sync_result};
  }
};
inline constexpr cuda_t cuda{};

namespace cuda_detail {

/// Device memory allocated on the stream for one call, freed on the stream after it.
class stream_buffer {
public:
  stream_buffer(std::size_t bytes, cudaStream_t s) : stream_(s) {
    if (bytes > 0) gpu::detail::check_cuda(cudaMallocAsync(&p_, bytes, s), "exec::cuda");
  }
  stream_buffer(const stream_buffer&) = delete;
  stream_buffer& operator=(const stream_buffer&) = delete;
  ~stream_buffer() {
    if (p_) (void)cudaFreeAsync(p_, stream_);
  }
  [[nodiscard]] void* get() const noexcept { return p_; }

private:
  void* p_ = nullptr;
  cudaStream_t stream_;
};

/// Calls `run(launch)` with the backend's workspace, or with `bytes` allocated on the stream when it has none.
template <class Run>
decltype(auto) with_launch(const cuda_t& e, std::size_t bytes, Run&& run) {
  if (e.workspace || bytes == 0) return run(e.launch());
  stream_buffer buf(bytes, e.stream);
  return run(e.with_workspace(buf.get(), bytes).launch());
}

} // namespace cuda_detail

template <std::floating_point T>
policy_loss_result implement(const policy_loss_fn&, const cuda_t& e, const policy_loss_inputs<T>& in,
                             const policy_loss_grads<T>& out, const policy_loss_options& opt) {
  return cuda_detail::with_launch(e, gpu::policy_loss_workspace_bytes(in.log_probs.rows()),
                                  [&](const gpu::launch& l) { return gpu::policy_loss(l, in, out, opt); });
}

template <std::floating_point T>
advantage_summary implement(const grpo_advantages_fn&, const cuda_t& e, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const grpo_options& o,
                            std::span<std::uint8_t> keep) {
  // An offsets layout's bounds travel to the device with the call (the CUDA kernels read them there).
  const std::size_t offset_bytes = groups.is_uniform() ? 0 : groups.offsets().size() * sizeof(std::int64_t);
  cuda_detail::stream_buffer offsets(offset_bytes, e.stream);
  if (offset_bytes > 0)
    gpu::detail::check_cuda(
        cudaMemcpyAsync(offsets.get(), groups.offsets().data(), offset_bytes, cudaMemcpyHostToDevice, e.stream),
        "exec::cuda");
  const auto* device_offsets = static_cast<const std::int64_t*>(offsets.get());
  return cuda_detail::with_launch(e, gpu::grpo_workspace_bytes<T>(groups, o), [&](const gpu::launch& l) {
    return gpu::grpo_advantages(l, rewards, groups, device_offsets, advantages, o, keep);
  });
}

template <class L>
requires mmrag_rft::detail::is_logit_element_v<L>
void implement(const token_logprobs_and_entropy_fn&, const cuda_t& e, matrix_view<const L> logits,
               std::span<const std::int64_t> tokens, const token_logprobs_outputs& out,
               const token_logprobs_options& opt) {
  gpu::token_logprobs_and_entropy(e.launch(), logits, tokens, out, opt);
}

template <class L, class G>
requires(mmrag_rft::detail::is_logit_element_v<L> && mmrag_rft::detail::is_logit_element_v<G>)
void implement(const token_logprobs_and_entropy_backward_fn&, const cuda_t& e, matrix_view<const L> logits,
               std::span<const std::int64_t> tokens, const token_logprobs_grads& in, matrix_view<G> grad_logits,
               const token_logprobs_options& opt) {
  gpu::token_logprobs_and_entropy_backward(e.launch(), logits, tokens, in, grad_logits, opt);
}

} // namespace mmrag_rft::exec
