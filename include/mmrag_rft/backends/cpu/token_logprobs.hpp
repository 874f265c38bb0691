// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/logits.hpp>
// The logit kernels on the CPU backends: blocked online-softmax row kernels (with AVX2 / AVX-512 versions), rows in
// fixed chunks (so exec::par is bitwise exec::seq).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/detail/cpu_isa.hpp>
#include <mmrag_rft/detail/parallel.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>
#include <mmrag_rft/logits/detail/online_softmax.hpp>
#include <mmrag_rft/logits/token_logprobs_plan.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft::detail {

/// Elements per CPU block: the tempered block (8 KiB of float) stays in L1 between the max and the exp passes, so
/// the logits are read from memory once. Lanes: independent accumulators, one vector register each at AVX-512 (GCC
/// vectorises the lane loops without -ffast-math; a single accumulator would have to be summed in order).
inline constexpr std::size_t softmax_block = 2048;
inline constexpr std::size_t softmax_lanes = 16;

/// The softmax statistics of one row of `cols` logits, `inv_t` = 1 / T: per block, the tempered logits and their max
/// by lanes, then the exponentials relative to the block's max, then one `softmax_merge` into the row's state.
/// The block is padded with -inf up to whole lanes (probability 0), so every lane loop has a constant trip count.
/// The lane max skips NaN (a plain select, which vectorises; `nan_max` does not): a NaN logit still makes the state
/// NaN through its exponential, and a block of only -inf and NaN is looked at apart.
template <class L>
MMRAG_RFT_FORCEINLINE softmax_state row_softmax_body(const L* __restrict x, std::size_t cols, float inv_t) noexcept {
  constexpr std::size_t K = softmax_block, W = softmax_lanes;
  alignas(64) float z[K];
  softmax_state st;
  for (std::size_t b = 0; b < cols; b += K) {
    const std::size_t n = std::min(K, cols - b), full = n / W * W, padded = (n + W - 1) / W * W;
    alignas(64) float mx[W];
    for (std::size_t k = 0; k < W; ++k) mx[k] = -INFINITY;
    for (std::size_t j = 0; j < full; j += W) {
      MMRAG_RFT_LANE_LOOP
      for (std::size_t k = 0; k < W; ++k) {
        const float v = load_float(x[b + j + k]) * inv_t;
        z[j + k] = v;
        mx[k] = v > mx[k] ? v : mx[k];
      }
    }
    for (std::size_t j = full; j < padded; ++j) {
      z[j] = j < n ? load_float(x[b + j]) * inv_t : -INFINITY;
      mx[0] = z[j] > mx[0] ? z[j] : mx[0];
    }
    float bm = mx[0];
    for (std::size_t k = 1; k < W; ++k) bm = mx[k] > bm ? mx[k] : bm;
    if (bm == -INFINITY) {
      // Probability 0 for the whole block, unless a NaN hides among the -inf.
      if (std::any_of(z, z + n, [](float v) { return v != v; })) st = softmax_state{NAN, NAN, NAN};
      continue;
    }
    alignas(64) float sl[W] = {}, ql[W] = {};
    for (std::size_t j = 0; j < padded; j += W) {
      MMRAG_RFT_LANE_LOOP
      for (std::size_t k = 0; k < W; ++k) {
        // d <= 0 (or NaN). Below -87, e^d is 0: clamping d there changes no sum and makes e * d = 0 for a -inf
        // logit instead of 0 * -inf. (Written with vexp, not vexp_in_range of the clamped d: with that, GCC 12's
        // partial redundancy elimination leaves a branch in the loop and it stays scalar.)
        const float d = z[j + k] - bm;
        const float e = vexp(d);
        sl[k] += e;
        ql[k] += e * clamp_below(d, -87.0f);
      }
    }
    float s = 0.0f, q = 0.0f;
    for (std::size_t k = 0; k < W; ++k) s += sl[k], q += ql[k];
    st = softmax_merge(st, softmax_state{bm, s, q});
  }
  return st;
}

/// dL/dx of one row (without the target's extra term), `glp` and `gh` already divided by T.
template <class L, class G>
MMRAG_RFT_FORCEINLINE void row_logit_grad_body(const L* __restrict x, G* __restrict gx, std::size_t cols, float inv_t,
                                               float lse, float h, float glp, float gh) noexcept {
  MMRAG_RFT_VECTORIZE
  for (std::size_t j = 0; j < cols; ++j)
    store_float(gx[j], softmax_logit_grad(load_float(x[j]) * inv_t, lse, h, glp, gh));
}

/// The row kernels in the version `isa` names (the baseline where it has none), with fused multiply-adds unless
/// MMRAG_RFT_ISA_BITWISE. The baseline (SSE2) build runs the loops at 4 floats per instruction, without FMA.
template <class L>
[[nodiscard]] softmax_state row_softmax_state(const L* x, std::size_t cols, float inv_t, cpu_isa isa) noexcept {
  return run_for_isa<isa_contraction::fast>(
      isa, [&]() MMRAG_RFT_DETAIL_ISA_BODY { return row_softmax_body(x, cols, inv_t); });
}

template <class L, class G>
void row_logit_grad(const L* x, G* gx, std::size_t cols, float inv_t, float lse, float h, float glp, float gh,
                    cpu_isa isa) noexcept {
  run_for_isa<isa_contraction::fast>(
      isa, [&]() MMRAG_RFT_DETAIL_ISA_BODY { row_logit_grad_body(x, gx, cols, inv_t, lse, h, glp, gh); });
}

/// Calls `fn(i)` for every row of the logits, in chunks of about 256k logits: a function of the shape only (results
/// do not depend on threads).
template <class E, class Fn>
void for_each_logit_row(const E& exec, std::size_t rows, std::size_t cols, Fn&& fn) {
  const chunking ch{rows, std::max<std::size_t>(1, (std::size_t{1} << 18) / std::max<std::size_t>(1, cols))};
  for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) fn(i);
  });
}

template <class E, class L>
void token_logprobs_cpu(const E& exec, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                        const token_logprobs_outputs& out, const token_logprobs_options& opt) {
  validate_token_logprobs_shapes(token_logprobs_fn_name, logits, tokens.size(), opt);
  validate_forward_outputs(logits.rows(), out);
  validate_token_ids(token_logprobs_fn_name, tokens, logits.cols());
  const float inv_t = static_cast<float>(1.0 / opt.temperature);
  const std::size_t rows = logits.rows(), cols = logits.cols();
  const cpu_isa isa = chosen_cpu_isa();
  for_each_logit_row(exec, rows, cols, [&](std::size_t i) {
    const L* x = logits.row_data(i);
    const softmax_state st = row_softmax_state(x, cols, inv_t, isa);
    out.log_probs[i] = softmax_log_prob(st, load_float(x[tokens[i]]) * inv_t);
    if (!out.entropy.empty()) out.entropy[i] = softmax_entropy(st);
    if (!out.lse.empty()) out.lse[i] = softmax_lse(st);
  });
}

template <class E, class L, class G>
void token_logprobs_backward_cpu(const E& exec, matrix_view<const L> logits, std::span<const std::int64_t> tokens,
                                 const token_logprobs_grads& in, matrix_view<G> grad_logits,
                                 const token_logprobs_options& opt) {
  validate_token_logprobs_shapes(token_logprobs_bwd_name, logits, tokens.size(), opt);
  validate_backward_args(logits.rows(), logits, in, grad_logits);
  validate_token_ids(token_logprobs_bwd_name, tokens, logits.cols());
  const float inv_t = static_cast<float>(1.0 / opt.temperature);
  const std::size_t rows = logits.rows(), cols = logits.cols();
  const cpu_isa isa = chosen_cpu_isa();
  for_each_logit_row(exec, rows, cols, [&](std::size_t i) {
    const L* x = logits.row_data(i);
    G* gx = grad_logits.row_data(i);
    // dL/dx = dL/dz / T: folding 1/T into the upstream gradients saves a multiply per logit.
    const float glp = (in.grad_log_probs.empty() ? 0.0f : in.grad_log_probs[i]) * inv_t;
    const float gh = (in.grad_entropy.empty() ? 0.0f : in.grad_entropy[i]) * inv_t;
    const float h = in.grad_entropy.empty() ? 0.0f : in.entropy[i];
    const float lse = in.lse[i];
    row_logit_grad(x, gx, cols, inv_t, lse, h, glp, gh, isa);
    const auto y = static_cast<std::size_t>(tokens[i]);
    // The target's extra +dL/dlogp, recomputed rather than read back so a bfloat16 gradient is rounded once.
    store_float(gx[y], softmax_logit_grad(load_float(x[y]) * inv_t, lse, h, glp, gh) + glp);
  });
}

} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

template <CpuBackend E, class L>
requires mmrag_rft::detail::is_logit_element_v<L>
void implement(const token_logprobs_and_entropy_fn&, const E& exec, matrix_view<const L> logits,
               std::span<const std::int64_t> tokens, const token_logprobs_outputs& out,
               const token_logprobs_options& opt) {
  mmrag_rft::detail::token_logprobs_cpu(exec, logits, tokens, out, opt);
}

template <CpuBackend E, class L, class G>
requires(mmrag_rft::detail::is_logit_element_v<L> && mmrag_rft::detail::is_logit_element_v<G>)
void implement(const token_logprobs_and_entropy_backward_fn&, const E& exec, matrix_view<const L> logits,
               std::span<const std::int64_t> tokens, const token_logprobs_grads& in, matrix_view<G> grad_logits,
               const token_logprobs_options& opt) {
  mmrag_rft::detail::token_logprobs_backward_cpu(exec, logits, tokens, in, grad_logits, opt);
}

} // namespace mmrag_rft::exec
