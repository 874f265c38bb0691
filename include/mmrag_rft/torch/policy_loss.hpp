// SPDX-License-Identifier: Apache-2.0
// policy_loss as a LibTorch autograd function: the fused loss kernel computes the loss and its gradient in one pass;
// `loss.backward()` hands that gradient to the graph of the log-probs (and of the entropy).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
#include <mmrag_rft/torch/detail/tensor_view.hpp>

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace mmrag_rft::libtorch {

/// The tensors of one `policy_loss` call, all `[B, T]` on the CPU in one floating dtype (float32 or float64) but the
/// mask (bool or uint8) and `sequence_advantages` (`[B]`). Leave a tensor undefined (`{}`) where
/// `policy_loss_inputs` leaves its view empty. Gradients flow to `log_probs` and `entropy`; `old_log_probs`,
/// `advantages` and `ref_log_probs` are constants of the loss (verl and TRL detach them too).
struct policy_loss_tensors {
  torch::Tensor log_probs;
  torch::Tensor old_log_probs;
  torch::Tensor advantages;
  torch::Tensor sequence_advantages;
  torch::Tensor mask;
  torch::Tensor ref_log_probs;
  torch::Tensor entropy;
};

/// The loss as a 0-dim tensor of the inputs' dtype (differentiable) and the library's result (its parts and
/// statistics, as `mmrag_rft::policy_loss` returns them).
struct policy_loss_output {
  torch::Tensor loss;
  policy_loss_result result;
};

namespace detail {

inline constexpr const char* adapter_loss_name = "libtorch::policy_loss";

[[nodiscard]] inline mask_view as_mask(const torch::Tensor& m, torch::Tensor& keep) {
  constexpr const char* fn = adapter_loss_name;
  require(m.defined(), fn, "mask", "is an undefined tensor (every call needs the response mask)");
  require(m.scalar_type() == torch::kBool || m.scalar_type() == torch::kUInt8, fn, "mask",
          "must be bool or uint8, not " + describe(m));
  // torch.bool is one byte holding 0 or 1: the layout mask_view reads.
  return as_matrix<std::uint8_t>(m.scalar_type() == torch::kBool ? m.view(torch::kUInt8) : m, keep, fn, "mask");
}

template <class T>
struct loss_views {
  torch::Tensor keep[7];
  policy_loss_inputs<T> in;

  explicit loss_views(const policy_loss_tensors& t) {
    constexpr const char* fn = adapter_loss_name;
    in.log_probs = as_matrix<T>(t.log_probs, keep[0], fn, "log_probs");
    if (t.old_log_probs.defined()) in.old_log_probs = as_matrix<T>(t.old_log_probs, keep[1], fn, "old_log_probs");
    if (t.advantages.defined()) in.advantages = as_matrix<T>(t.advantages, keep[2], fn, "advantages");
    if (t.sequence_advantages.defined()) {
      require(t.sequence_advantages.dim() == 1, fn, "sequence_advantages",
              "must be 1-D [B], not " + describe(t.sequence_advantages));
      in.sequence_advantages = as_span<T>(t.sequence_advantages, keep[3], fn, "sequence_advantages");
    }
    in.mask = as_mask(t.mask, keep[4]);
    if (t.ref_log_probs.defined()) in.ref_log_probs = as_matrix<T>(t.ref_log_probs, keep[5], fn, "ref_log_probs");
    if (t.entropy.defined()) in.entropy = as_matrix<T>(t.entropy, keep[6], fn, "entropy");
  }
};

struct policy_loss_function : torch::autograd::Function<policy_loss_function> {
  // Only `log_probs` and `entropy` are autograd inputs (an absent entropy comes as an empty placeholder: LibTorch
  // 1.13 takes no undefined tensor as an input); the constants travel in `t`, the result out through `result`
  // (autograd functions return tensors only).
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& log_probs,
                                                [[maybe_unused]] const torch::Tensor& entropy, const policy_loss_tensors* t,
                                                const policy_loss_options* opt, std::int64_t threads,
                                                policy_loss_result* result) {
    const auto run = [&](auto tag) {
      using T = decltype(tag);
      const loss_views<T> v(*t);
      torch::Tensor g = torch::empty({log_probs.size(0), log_probs.size(1)}, log_probs.options());
      torch::Tensor ge;
      policy_loss_grads<T> out{as_output<T>(g), {}};
      if (t->entropy.defined()) {
        ge = torch::empty_like(g, torch::MemoryFormat::Contiguous);
        out.entropy = as_output<T>(ge);
      }
      *result = mmrag_rft::policy_loss(exec::par.with_threads(static_cast<std::size_t>(threads)), v.in, out, *opt);
      ctx->saved_data["grad_log_probs"] = g;
      ctx->saved_data["grad_entropy"] = ge;
      return torch::scalar_tensor(result->loss, log_probs.options());
    };
    if (log_probs.scalar_type() == torch::kDouble) return {run(double{})};
    require(log_probs.scalar_type() == torch::kFloat, adapter_loss_name, "log_probs",
            "must be float32 or float64, not " + describe(log_probs));
    return {run(float{})};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor go = grads[0];
    const torch::Tensor g = ctx->saved_data["grad_log_probs"].toTensor();
    const torch::Tensor ge = ctx->saved_data["grad_entropy"].toTensor();
    return {g * go, ge.defined() ? ge * go : torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

} // namespace detail

/// `mmrag_rft::policy_loss` on LibTorch tensors, differentiable in `log_probs` and `entropy`: the fused kernel
/// writes d loss / d log_probs (and d loss / d entropy) while it reduces the loss, and `loss.backward()` passes them
/// on (times the upstream gradient, 1 for a plain `backward()`), so the loss graph holds no per-token tensors.
///
/// Options, aggregation, normalisers, degenerate rows and the non-finite policy are those of `mmrag_rft::policy_loss`
/// (same results, same errors; a tensor of the wrong dtype, shape or device throws `mmrag_rft::error` naming it).
/// `exec::seq` or `exec::par[.with_threads(n)]` pick the threads; results are bitwise the same for any choice.
template <exec::ExecutionBackend E>
  requires(std::is_same_v<E, exec::seq_t> || std::is_same_v<E, exec::par_t>)
[[nodiscard]] policy_loss_output policy_loss(const E& exec, const policy_loss_tensors& tensors,
                                             const policy_loss_options& options = {}) {
  std::int64_t threads = 1;
  if constexpr (std::is_same_v<E, exec::par_t>) threads = static_cast<std::int64_t>(exec.num_threads);
  policy_loss_output out;
  detail::require(tensors.log_probs.defined(), detail::adapter_loss_name, "log_probs", "is an undefined tensor");
  const torch::Tensor entropy =
      tensors.entropy.defined() ? tensors.entropy : torch::empty({0}, tensors.log_probs.options());
  out.loss =
      detail::policy_loss_function::apply(tensors.log_probs, entropy, &tensors, &options, threads, &out.result)[0];
  return out;
}

/// As above with `exec::par` (all hardware threads).
[[nodiscard]] inline policy_loss_output policy_loss(const policy_loss_tensors& tensors,
                                                    const policy_loss_options& options = {}) {
  return policy_loss(exec::par, tensors, options);
}

} // namespace mmrag_rft::libtorch
