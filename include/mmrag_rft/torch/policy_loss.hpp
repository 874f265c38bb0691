// SPDX-License-Identifier: Apache-2.0
// policy_loss as a LibTorch autograd function: the fused loss kernel computes the loss and its gradient in one pass;
// `loss.backward()` hands that gradient to the graph of the log-probs (and of the entropy).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
#include <mmrag_rft/torch/detail/tensor_view.hpp>
#include <mmrag_rft/torch/device.hpp>

#include <torch/torch.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

namespace mmrag_rft::libtorch {

/// The tensors of one `policy_loss` call, all `[B, T]` but `sequence_advantages` (`[B]`), all on the CPU or all on one
/// CUDA device (with `mmrag_rft::torch_cuda`): float64 tensors
/// all float64; otherwise float32, bfloat16 or float16 in any mix (the reduced types are read as float32, the loss
/// computed in float32); the mask bool or uint8. Leave a tensor undefined (`{}`) where
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

/// The loss as a 0-dim tensor of the computing dtype (float64, else float32; differentiable) and the library's result (its parts and
/// statistics, as `mmrag_rft::policy_loss` returns them).
struct policy_loss_output {
  torch::Tensor loss;
  policy_loss_result result;
};

namespace detail {

inline constexpr const char* adapter_loss_name = "libtorch::policy_loss";

/// `on_device`: the CUDA path's view of device memory (the devices were checked by the backend choice).
[[nodiscard]] inline mask_view as_mask(const torch::Tensor& m, torch::Tensor& keep, bool on_device = false) {
  constexpr const char* fn = adapter_loss_name;
  require(m.defined(), fn, "mask", "is an undefined tensor (every call needs the response mask)");
  require(m.scalar_type() == torch::kBool || m.scalar_type() == torch::kUInt8, fn, "mask",
          "must be bool or uint8, not " + describe(m));
  // torch.bool is one byte holding 0 or 1: the layout mask_view reads.
  const torch::Tensor bytes = m.scalar_type() == torch::kBool ? m.view(torch::kUInt8) : m;
  return on_device ? as_device_matrix<std::uint8_t>(bytes, keep, fn, "mask")
                   : as_matrix<std::uint8_t>(bytes, keep, fn, "mask");
}

// bfloat16 and float16 tensors are read as float32 (the loss computes in float32 for them); other dtypes are left for
// as_matrix to check (and name).
template <class T>
[[nodiscard]] torch::Tensor in_compute_type(const torch::Tensor& t) {
  const bool reduced = t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kHalf;
  return std::is_same_v<T, float> && reduced ? t.to(torch::kFloat) : t;
}

template <class T>
struct loss_views {
  torch::Tensor keep[7];
  policy_loss_inputs<T> in;

  /// `on_device`: views of the tensors' CUDA memory (the CUDA path), else of host memory.
  explicit loss_views(const policy_loss_tensors& t, bool on_device = false) {
    constexpr const char* fn = adapter_loss_name;
    const auto matrix = [&](const torch::Tensor& x, int k, const char* name) {
      return on_device ? as_device_matrix<T>(in_compute_type<T>(x), keep[k], fn, name)
                       : as_matrix<T>(in_compute_type<T>(x), keep[k], fn, name);
    };
    in.log_probs = matrix(t.log_probs, 0, "log_probs");
    if (t.old_log_probs.defined()) in.old_log_probs = matrix(t.old_log_probs, 1, "old_log_probs");
    if (t.advantages.defined()) in.advantages = matrix(t.advantages, 2, "advantages");
    if (t.sequence_advantages.defined())
      in.sequence_advantages =
          on_device ? as_device_span<T>(in_compute_type<T>(t.sequence_advantages), keep[3], fn, "sequence_advantages")
                    : as_span<T>(in_compute_type<T>(t.sequence_advantages), keep[3], fn, "sequence_advantages");
    in.mask = as_mask(t.mask, keep[4], on_device);
    if (t.ref_log_probs.defined()) in.ref_log_probs = matrix(t.ref_log_probs, 5, "ref_log_probs");
    if (t.entropy.defined()) in.entropy = matrix(t.entropy, 6, "entropy");
  }
};

/// Every tensor against `log_probs`' shape, with both shapes in the message (the span version can only say that the
/// shapes differ).
inline void check_loss_shapes(const policy_loss_tensors& t) {
  constexpr const char* fn = adapter_loss_name;
  const torch::Tensor& lp = t.log_probs;
  require(lp.dim() == 2, fn, "log_probs", "must be 2-D [B, T], not " + describe(lp));
  const auto same = [&](const torch::Tensor& x, const char* name) {
    if (x.defined() && x.sizes() != lp.sizes())
      throw error(fn, name, "must have the shape of log_probs (" + describe(lp) + "), not " + describe(x));
  };
  same(t.old_log_probs, "old_log_probs");
  same(t.advantages, "advantages");
  same(t.mask, "mask");
  same(t.ref_log_probs, "ref_log_probs");
  same(t.entropy, "entropy");
  const torch::Tensor& sa = t.sequence_advantages;
  if (sa.defined() && (sa.dim() != 1 || sa.size(0) != lp.size(0)))
    throw error(fn, "sequence_advantages",
                "must be 1-D [B] with B = " + std::to_string(lp.size(0)) + " (the rows of log_probs " + describe(lp) +
                    "), not " + describe(sa));
}

/// What is not finite at the first valid token the kernel counted (row-major, as its `first_bad`): the tensor, the
/// value and the [row, col], in the order log_probs, old_log_probs, advantages, ref_log_probs (read only with a KL
/// term), entropy. Off the hot path: only called once the kernel found one.
template <class T>
[[noreturn]] void throw_nonfinite(const policy_loss_inputs<T>& in, const policy_loss_options& o) {
  const auto bad = [](T v) { return !std::isfinite(static_cast<double>(v)); };
  const auto say = [](const char* name, T v, std::size_t i, std::size_t k, const std::string& where) {
    throw error(adapter_loss_name, name,
                std::string("holds ") +
                    (std::isnan(static_cast<double>(v)) ? "NaN"
                     : v > 0                            ? "+inf"
                                                        : "-inf") +
                    " at valid token [" + std::to_string(i) + ", " + std::to_string(k) + "]" + where +
                    " (set nonfinite = propagate to let it through)");
  };
  const auto& lp = in.log_probs;
  for (std::size_t i = 0; i < lp.rows(); ++i)
    for (std::size_t k = 0; k < lp.cols(); ++k) {
      if (!in.mask(i, k)) continue;
      if (bad(lp(i, k))) say("log_probs", lp(i, k), i, k, "");
      if (!in.old_log_probs.empty() && bad(in.old_log_probs(i, k)))
        say("old_log_probs", in.old_log_probs(i, k), i, k, "");
      if (!in.advantages.empty() && bad(in.advantages(i, k))) say("advantages", in.advantages(i, k), i, k, "");
      if (!in.sequence_advantages.empty() && bad(in.sequence_advantages[i]))
        say("sequence_advantages", in.sequence_advantages[i], i, k, " (its element [" + std::to_string(i) + "])");
      if (o.kl != kl_estimator::none && !in.ref_log_probs.empty() && bad(in.ref_log_probs(i, k)))
        say("ref_log_probs", in.ref_log_probs(i, k), i, k, "");
      if (!in.entropy.empty() && bad(in.entropy(i, k))) say("entropy", in.entropy(i, k), i, k, "");
    }
  throw error(adapter_loss_name, "inputs", "hold a NaN or infinite value at a valid token");
}

#ifdef MMRAG_RFT_TORCH_CUDA
/// The CUDA path (mmrag_rft::torch_cuda, src/torch/cuda_adapter.cpp): `mmrag_rft::gpu::policy_loss` on the tensors'
/// device memory, on the current stream of their device. Writes the gradients (the computing dtype, on the device)
/// and the result; returns the loss as a 0-dim tensor on the device.
[[nodiscard]] torch::Tensor cuda_policy_loss(const policy_loss_tensors& t, const policy_loss_options& options,
                                             policy_loss_result& result, torch::Tensor& grad_log_probs,
                                             torch::Tensor& grad_entropy);
#endif

struct policy_loss_function : torch::autograd::Function<policy_loss_function> {
  // Only `log_probs` and `entropy` are autograd inputs (an absent entropy comes as an empty placeholder: LibTorch
  // 1.13 takes no undefined tensor as an input); the constants travel in `t`, the result out through `result`
  // (autograd functions return tensors only).
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& log_probs,
                                                [[maybe_unused]] const torch::Tensor& entropy,
                                                const policy_loss_tensors* t, const policy_loss_options* opt,
                                                std::int64_t threads, policy_loss_result* result) {
    torch::Tensor g, ge;
    const auto run = [&](auto tag) {
      using T = decltype(tag);
      const loss_views<T> v(*t);
      g = torch::empty({log_probs.size(0), log_probs.size(1)}, log_probs.options().dtype(dtype_of<T>()));
      policy_loss_grads<T> out{as_output<T>(g), {}};
      if (t->entropy.defined()) {
        ge = torch::empty_like(g, torch::MemoryFormat::Contiguous);
        out.entropy = as_output<T>(ge);
      }
      // The kernel counts non-finite inputs either way; letting them through and looking them up here names the
      // tensor, which the kernel's own error cannot.
      policy_loss_options o = *opt;
      if (o.nonfinite == nonfinite_policy::error) o.nonfinite = nonfinite_policy::propagate;
      *result = mmrag_rft::policy_loss(exec::par.with_threads(static_cast<std::size_t>(threads)), v.in, out, o);
      if (opt->nonfinite == nonfinite_policy::error && result->stats.nonfinite_tokens > 0) throw_nonfinite(v.in, o);
      return torch::scalar_tensor(result->loss, log_probs.options().dtype(dtype_of<T>()));
    };
    check_loss_shapes(*t);
    const auto d = log_probs.scalar_type();
    require(d == torch::kDouble || d == torch::kFloat || d == torch::kBFloat16 || d == torch::kHalf, adapter_loss_name,
            "log_probs", "must be float32, float64, bfloat16 or float16, not " + describe(log_probs));
    torch::Tensor loss;
    if (log_probs.device().is_cuda()) {
#ifdef MMRAG_RFT_TORCH_CUDA
      loss = cuda_policy_loss(*t, *opt, *result, g, ge);
#else
      throw_cuda_not_built(adapter_loss_name, "log_probs", log_probs.device());
#endif
    } else if (d == torch::kDouble) loss = run(double{});
    else loss = run(float{});
    // Gradients in the dtype of what they are the gradient of (bfloat16 log-probs get a bfloat16 gradient).
    ctx->saved_data["grad_log_probs"] = g.to(log_probs.scalar_type());
    ctx->saved_data["grad_entropy"] = ge.defined() ? ge.to(t->entropy.scalar_type()) : ge;
    return {loss};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const torch::Tensor go = grads[0];
    const torch::Tensor g = ctx->saved_data["grad_log_probs"].toTensor();
    const torch::Tensor ge = ctx->saved_data["grad_entropy"].toTensor();
    const auto times = [&](const torch::Tensor& x) { return (x * go).to(x.scalar_type()); };
    return {times(g),        ge.defined() ? times(ge) : torch::Tensor(),
            torch::Tensor(), torch::Tensor(),
            torch::Tensor(), torch::Tensor()};
  }
};

} // namespace detail

/// `mmrag_rft::policy_loss` on LibTorch tensors, differentiable in `log_probs` and `entropy`: the fused kernel
/// writes d loss / d log_probs (and d loss / d entropy) while it reduces the loss, and `loss.backward()` passes them
/// on (times the upstream gradient, 1 for a plain `backward()`), so the loss graph holds no per-token tensors.
///
/// Options, aggregation, normalisers, degenerate rows and the non-finite policy are those of `mmrag_rft::policy_loss`
/// (same results, same errors; a tensor of the wrong dtype, shape or device throws `mmrag_rft::error` naming it and
/// showing its shape and log_probs'; a NaN or infinity at a valid token is named with its tensor and [row, col]).
/// Gradients have the dtype of `log_probs` and `entropy`. CUDA tensors (with `mmrag_rft::torch_cuda`) run
/// `mmrag_rft::gpu::policy_loss` on their device's current stream: the same values to rounding (its reduction is
/// tree-ordered), the result synchronised back once (a few hundred bytes); `exec` picks the CPU threads only.
/// `exec::seq` or `exec::par[.with_threads(n)]` pick the threads; results are bitwise the same for any choice.
template <exec::ExecutionBackend E>
requires(std::is_same_v<E, exec::seq_t> || std::is_same_v<E, exec::par_t>)
[[nodiscard]] policy_loss_output policy_loss(const E& exec, const policy_loss_tensors& tensors,
                                             const policy_loss_options& options = {}) {
  std::int64_t threads = 1;
  if constexpr (std::is_same_v<E, exec::par_t>) threads = static_cast<std::int64_t>(exec.num_threads);
  policy_loss_output out;
  detail::require(tensors.log_probs.defined(), detail::adapter_loss_name, "log_probs", "is an undefined tensor");
  const auto& t = tensors;
  const backend_choice where = choose_backend(
      detail::adapter_loss_name,
      {device_of("log_probs", t.log_probs), device_of("old_log_probs", t.old_log_probs),
       device_of("advantages", t.advantages), device_of("sequence_advantages", t.sequence_advantages),
       device_of("mask", t.mask), device_of("ref_log_probs", t.ref_log_probs), device_of("entropy", t.entropy)});
  if (where.kind == backend_kind::cuda && !detail::torch_cuda_built)
    detail::throw_cuda_not_built(detail::adapter_loss_name, "log_probs", where.device);
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
