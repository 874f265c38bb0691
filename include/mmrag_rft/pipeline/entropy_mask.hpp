// SPDX-License-Identifier: Apache-2.0
// TRL's top_entropy_quantile: the threshold above which a token's entropy is in the top quantile of the batch.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace mmrag_rft::detail {

/// The entropy threshold of TRL's `get_high_entropy_mask(entropies, mask, 1 - top_quantile)`: `torch.quantile` of
/// the valid tokens' float entropies at q = 1 - top_quantile (q in float, as TRL's Python float becomes a float32
/// tensor), by linear interpolation between the order statistics at floor and ceil of q (n - 1), `torch.lerp`'s
/// formula in float. A token is kept when its entropy is >= the threshold. `nullopt`-like: returns false when there
/// is no valid token (TRL then masks every token).
[[nodiscard]] inline bool top_entropy_threshold(matrix_view<const float> entropy, mask_view mask, double top_quantile,
                                                float& threshold) {
  std::vector<float> v;
  for (std::size_t i = 0; i < entropy.rows(); ++i)
    for (std::size_t t = 0; t < entropy.cols(); ++t)
      if (mask(i, t)) v.push_back(entropy(i, t));
  if (v.empty()) return false;
  std::sort(v.begin(), v.end());
  const float q = static_cast<float>(1.0 - top_quantile);
  const float rank = q * static_cast<float>(v.size() - 1);
  const auto below = static_cast<std::size_t>(rank), above = static_cast<std::size_t>(std::ceil(rank));
  const float w = rank - static_cast<float>(below), lo = v[below], hi = v[std::min(above, v.size() - 1)];
  threshold = w < 0.5f ? lo + w * (hi - lo) : hi - (hi - lo) * (1.0f - w);
  return true;
}

} // namespace mmrag_rft::detail
