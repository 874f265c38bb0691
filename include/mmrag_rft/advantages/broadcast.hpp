// SPDX-License-Identifier: Apache-2.0
// Spreading one advantage per completion over its response tokens.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <concepts>
#include <span>

namespace mmrag_rft {

/// out[i, t] = advantages[i] where mask[i, t] != 0, else 0. [verl: `scores.unsqueeze(-1) * response_mask`]
/// `policy_loss` takes per-sequence advantages directly (`sequence_advantages`), which reads B values instead of B*T;
/// this is for trainers that want the [B, T] tensor.
template <std::floating_point T>
void broadcast_advantages(std::span<const T> advantages, mask_view mask, matrix_view<T> out) {
  detail::require(advantages.size() == mask.rows(), "broadcast_advantages", "advantages",
                  "must have one element per row of mask");
  detail::require(detail::same_shape(out, mask), "broadcast_advantages", "out", "must have the shape of mask");
  for (std::size_t i = 0; i < mask.rows(); ++i)
    for (std::size_t t = 0; t < mask.cols(); ++t) out(i, t) = mask(i, t) ? advantages[i] : T(0);
}

} // namespace mmrag_rft
