// SPDX-License-Identifier: Apache-2.0
// token_logprobs_and_entropy as a LibTorch autograd function: logits in, chosen-token log-probs and entropy out,
// the library's fused backward when the graph runs back through them.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/logits/token_logprobs.hpp>
#include <mmrag_rft/torch/detail/tensor_view.hpp>
#include <mmrag_rft/torch/device.hpp>

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace mmrag_rft::libtorch {

/// What `token_logprobs_and_entropy` returns: float32 tensors with the logits' leading shape (`[...]` for `[..., V]`).
struct token_logprobs_result {
  torch::Tensor log_probs; ///< log softmax(logits / T)[token]
  torch::Tensor entropy;   ///< -sum p log p of softmax(logits / T)
};

namespace detail {

inline constexpr const char* adapter_logprobs_name = "libtorch::token_logprobs_and_entropy";

/// `[..., V]` logits as `[N, V]`: a view when the leading dimensions flatten (a 2-D slice keeps its row stride),
/// otherwise the copy `reshape` makes.
[[nodiscard]] inline torch::Tensor logits_rows(const torch::Tensor& logits) {
  require(logits.defined(), adapter_logprobs_name, "logits", "is an undefined tensor");
  require(logits.dim() >= 1, adapter_logprobs_name, "logits", "must be [..., V], not a scalar");
  return logits.dim() == 2 ? logits : logits.reshape({-1, logits.size(-1)});
}

/// Checked on the tensor the caller passed, so the message shows its shape ([4, 5, 16], not the rows [20, 16]).
inline void check_logit_dtype(const torch::Tensor& logits) {
  const auto d = logits.scalar_type();
  require(d == torch::kFloat || d == torch::kBFloat16 || d == torch::kHalf, adapter_logprobs_name, "logits",
          "must be float32, bfloat16 or float16, not " + describe(logits));
}

// The kernels read float32 and bfloat16 rows; float16 rows are converted to float32 first (no float16 kernel).
template <class Fn>
decltype(auto) with_logit_type(const torch::Tensor& rows, Fn&& fn) {
  if (rows.scalar_type() == torch::kBFloat16) return fn(bfloat16{});
  return fn(float{});
}

[[nodiscard]] inline torch::Tensor token_ids(const torch::Tensor& tokens, const torch::Tensor& logits) {
  require(tokens.defined(), adapter_logprobs_name, "tokens", "is an undefined tensor");
  require(tokens.scalar_type() == torch::kLong || tokens.scalar_type() == torch::kInt, adapter_logprobs_name, "tokens",
          "must be int64 (or int32), not " + describe(tokens));
  require(tokens.sizes() == logits.sizes().slice(0, static_cast<std::size_t>(logits.dim() - 1)), adapter_logprobs_name,
          "tokens", "must have the logits' leading shape: " + describe(tokens) + " for logits " + describe(logits));
  return tokens.reshape({-1}).to(torch::kLong);
}

#ifdef MMRAG_RFT_TORCH_CUDA
/// The CUDA path (mmrag_rft::torch_cuda, src/torch/cuda_adapter.cpp) of the forward: `rows` ([N, V], float32 or
/// bfloat16) and `ids` (int64 [N]) on one CUDA device, the outputs (float32 [N] on it) written on its current stream.
/// A token outside [0, V) throws the CPU path's error (one 8-byte read back tells).
void cuda_token_logprobs(const torch::Tensor& rows, const torch::Tensor& ids, torch::Tensor& log_probs,
                         torch::Tensor& entropy, torch::Tensor& lse, double temperature);
/// The CUDA path of the backward: the flat float32 `lse`, `entropy`, `grad_log_probs`, `grad_entropy` (the last three
/// undefined where absent) into `grad_rows` (`rows`' shape and dtype, contiguous), on the current stream.
void cuda_token_logprobs_backward(const torch::Tensor& rows, const torch::Tensor& ids, const torch::Tensor& lse,
                                  const torch::Tensor& entropy, const torch::Tensor& grad_log_probs,
                                  const torch::Tensor& grad_entropy, torch::Tensor& grad_rows, double temperature);
#endif

struct token_logprobs_function : torch::autograd::Function<token_logprobs_function> {
  // Outputs: log-probs, entropy and lse (the last saved for the backward, not differentiable, dropped by the caller).
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& logits,
                                                const torch::Tensor& tokens, double temperature, std::int64_t threads) {
    const bool on_cuda = logits.device().is_cuda();
    if (!on_cuda) require_cpu(logits, adapter_logprobs_name, "logits");
    check_logit_dtype(logits);
    const bool half = logits.scalar_type() == torch::kHalf;
    const torch::Tensor x = half ? logits_rows(logits).to(torch::kFloat) : logits_rows(logits);
    const torch::Tensor y = token_ids(tokens, logits);
    // Made in the leading shape (contiguous, so the kernel writes them as flat spans): the returned tensors are the
    // very ones saved and marked below, not views of them.
    const auto opts = logits.options().dtype(torch::kFloat);
    torch::Tensor lp = torch::empty(tokens.sizes(), opts), ent = torch::empty_like(lp), lse = torch::empty_like(lp);
    if (on_cuda) {
#ifdef MMRAG_RFT_TORCH_CUDA
      cuda_token_logprobs(x, y, lp, ent, lse, temperature);
#else
      throw_cuda_not_built(adapter_logprobs_name, "logits", logits.device());
#endif
    } else {
      torch::Tensor tok_keep;
      const auto ids = as_span<std::int64_t>(y, tok_keep, adapter_logprobs_name, "tokens");
      with_logit_type(x, [&](auto tag) {
        using L = decltype(tag);
        torch::Tensor keep;
        const auto view = as_matrix<L>(x, keep, adapter_logprobs_name, "logits");
        mmrag_rft::token_logprobs_and_entropy(
            exec::par.with_threads(static_cast<std::size_t>(threads)), view, ids,
            {as_output_span<float>(lp), as_output_span<float>(ent), as_output_span<float>(lse)}, {temperature});
      });
    }
    // The rows and token ids as the kernel read them: a [B, L, V] slice that reshape had to copy is not copied again
    // (nor the tokens converted again) in the backward.
    ctx->save_for_backward({x, y, ent, lse});
    ctx->saved_data["logits_shape"] = logits.sizes().vec();
    ctx->saved_data["temperature"] = temperature;
    ctx->saved_data["threads"] = threads;
    ctx->saved_data["half"] = half;
    ctx->mark_non_differentiable({lse});
    return {lp, ent, lse};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& y = saved[1];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const auto threads = static_cast<std::size_t>(ctx->saved_data["threads"].toInt());
    const auto flat_float = [](const torch::Tensor& g) { return g.reshape({-1}).to(torch::kFloat); };
    const torch::Tensor lse = flat_float(saved[3]);
    const torch::Tensor glp = grads[0].defined() ? flat_float(grads[0]) : torch::Tensor();
    const torch::Tensor gh = grads[1].defined() ? flat_float(grads[1]) : torch::Tensor();
    const torch::Tensor ent = grads[1].defined() ? flat_float(saved[2]) : torch::Tensor();
    torch::Tensor gx = torch::empty({x.size(0), x.size(1)}, x.options().memory_format(torch::MemoryFormat::Contiguous));
    if (x.device().is_cuda()) {
#ifdef MMRAG_RFT_TORCH_CUDA
      cuda_token_logprobs_backward(x, y, lse, ent, glp, gh, gx, temperature);
#else
      throw_cuda_not_built(adapter_logprobs_name, "logits", x.device());
#endif
    } else {
      torch::Tensor tok_keep, ent_keep, lse_keep, glp_keep, gh_keep;
      token_logprobs_grads in{as_span<float>(lse, lse_keep, adapter_logprobs_name, "lse"), {}, {}, {}};
      if (glp.defined()) in.grad_log_probs = as_span<float>(glp, glp_keep, adapter_logprobs_name, "grad");
      if (gh.defined()) {
        in.grad_entropy = as_span<float>(gh, gh_keep, adapter_logprobs_name, "grad");
        in.entropy = as_span<float>(ent, ent_keep, adapter_logprobs_name, "entropy");
      }
      const auto ids = as_span<std::int64_t>(y, tok_keep, adapter_logprobs_name, "tokens");
      with_logit_type(x, [&](auto tag) {
        using L = decltype(tag);
        torch::Tensor keep;
        const auto view = as_matrix<L>(x, keep, adapter_logprobs_name, "logits");
        mmrag_rft::token_logprobs_and_entropy_backward(exec::par.with_threads(threads), view, ids, in, as_output<L>(gx),
                                                       {temperature});
      });
    }
    // float16 logits were computed in float32: their gradient goes back in float16, the dtype of the logits.
    if (ctx->saved_data["half"].toBool()) gx = gx.to(torch::kHalf);
    return {gx.view(ctx->saved_data["logits_shape"].toIntVector()), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

} // namespace detail

/// `mmrag_rft::token_logprobs_and_entropy` on LibTorch tensors, differentiable: the backward is the library's fused
/// `token_logprobs_and_entropy_backward` (one pass over the logits; the softmax is never materialised), so
/// `loss.backward()` through the returned log-probs and entropy writes d loss / d logits directly.
///
/// `logits` is `[..., V]`, float32, bfloat16 or float16 (converted to float32 once: no float16 kernel), on the CPU or,
/// with `mmrag_rft::torch_cuda`, on a CUDA device (the CUDA backend's row kernels on its current stream; the same
/// values to float rounding, sums tree-ordered; one 8-byte read back checks the token ids) (a 2-D slice such as `logits.narrow(0, ...)` is used in
/// place; leading dimensions that do not flatten into one stride are copied once by `reshape`); `tokens` has the
/// leading shape `[...]`, int64 or int32. Returns float32 `[...]` tensors; the gradient of the logits has their dtype.
/// `options.temperature` must be the sampling temperature (see `token_logprobs_options`). `exec` picks the threads
/// (`exec::seq` or `exec::par[.with_threads(n)]`); results are bitwise the same for any choice.
///
/// Throws `mmrag_rft::error` for a tensor of another dtype, shape or device (tensors on two devices; a CUDA tensor
/// without `mmrag_rft::torch_cuda`), a token outside [0, V) or a bad temperature, before any output is returned.
template <exec::ExecutionBackend E>
requires(std::is_same_v<E, exec::seq_t> || std::is_same_v<E, exec::par_t>)
[[nodiscard]] token_logprobs_result token_logprobs_and_entropy(const E& exec, const torch::Tensor& logits,
                                                               const torch::Tensor& tokens,
                                                               const token_logprobs_options& options = {}) {
  std::int64_t threads = 1;
  if constexpr (std::is_same_v<E, exec::par_t>) threads = static_cast<std::int64_t>(exec.num_threads);
  detail::require(tokens.defined(), detail::adapter_logprobs_name, "tokens", "is an undefined tensor");
  (void)detail::logits_rows(logits); // checks it is defined (LibTorch 1.13's apply takes no undefined tensor)
  const backend_choice where =
      choose_backend(detail::adapter_logprobs_name, {device_of("logits", logits), device_of("tokens", tokens)});
  if (where.kind == backend_kind::cuda && !detail::torch_cuda_built)
    detail::throw_cuda_not_built(detail::adapter_logprobs_name, "logits", where.device);
  auto out = detail::token_logprobs_function::apply(logits, tokens, options.temperature, threads);
  return {out[0], out[1]};
}

/// As above with `exec::par` (all hardware threads).
[[nodiscard]] inline token_logprobs_result token_logprobs_and_entropy(const torch::Tensor& logits,
                                                                      const torch::Tensor& tokens,
                                                                      const token_logprobs_options& options = {}) {
  return token_logprobs_and_entropy(exec::par, logits, tokens, options);
}

} // namespace mmrag_rft::libtorch
