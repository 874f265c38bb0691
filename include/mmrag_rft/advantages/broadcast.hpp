// SPDX-License-Identifier: Apache-2.0
// Per-sequence advantages broadcast to the valid tokens of their rows.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/token_plans.hpp>
#include <mmrag_rft/backends/cpu/token_estimators.hpp>
#include <mmrag_rft/backends/dispatch.hpp>

#include <concepts>
#include <cstdint>
#include <span>
#include <type_traits>

namespace mmrag_rft {

/// out[i, t] = advantages[i] where mask[i, t] != 0, else 0. [verl: `scores.unsqueeze(-1) * response_mask`]
/// `policy_loss` takes per-sequence advantages directly (`sequence_advantages`), which reads B values instead of B*T;
/// this is for trainers that want the [B, T] tensor.
/// Call: `broadcast_advantages([backend,] advantages, mask, out)`.
struct broadcast_advantages_fn {
  template <exec::ExecutionBackend E, std::floating_point T>
  requires exec::implements<E, broadcast_advantages_fn, std::span<const T>, mask_view, matrix_view<T>>
  void operator()(const E& exec, std::span<const T> advantages, mask_view mask,
                  std::type_identity_t<matrix_view<T>> out) const {
    return exec::run(*this, exec.derived(), advantages, mask, out);
  }
  template <std::floating_point T>
  void operator()(std::span<const T> advantages, mask_view mask, std::type_identity_t<matrix_view<T>> out) const {
    return exec::run(*this, exec::seq, advantages, mask, out);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED(
      (exec::implements<Backend, broadcast_advantages_fn, std::span<const float>, mask_view, matrix_view<float>>));
};
inline constexpr broadcast_advantages_fn broadcast_advantages{};

} // namespace mmrag_rft
