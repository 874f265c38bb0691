// SPDX-License-Identifier: Apache-2.0
// Selecting whole groups of rollouts: a step's mini-batches, the groups DAPO's dynamic sampling keeps, and a
// refilled group taking a degenerate one's place.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/model/rollout.hpp>

#include <algorithm>
#include <cstddef>
#include <span>
#include <vector>

namespace mmrag_rft::detail {

/// Group `group` of `batches[batch]`.
struct group_ref {
  std::size_t batch = 0, group = 0;
};

/// The groups `refs` (in order) of `batches` as one rollout, padded to the widest of them; the entropy is kept when
/// every source batch has one. All batches have the same group size and temperature.
[[nodiscard]] inline rollout_batch gather_groups(std::span<const rollout_batch* const> batches,
                                                 std::span<const group_ref> refs) {
  rollout_batch out;
  const rollout_batch& first = *batches.front();
  out.group_size = first.group_size;
  out.temperature = first.temperature;
  out.num_prompts = refs.size();
  bool entropy = true;
  for (const group_ref& g : refs) {
    out.cols = std::max(out.cols, batches[g.batch]->cols);
    entropy = entropy && !batches[g.batch]->entropy.empty();
  }
  const std::size_t G = out.group_size, cols = out.cols, n = refs.size() * G * cols;
  out.tokens.assign(n, 0);
  out.log_probs.assign(n, 0.0f);
  if (entropy) out.entropy.assign(n, 0.0f);
  out.mask.assign(n, 0);
  out.completions.reserve(refs.size() * G);
  for (std::size_t k = 0; k < refs.size(); ++k) {
    const rollout_batch& b = *batches[refs[k].batch];
    for (std::size_t j = 0; j < G; ++j) {
      const std::size_t src = (refs[k].group * G + j) * b.cols, dst = (k * G + j) * cols;
      std::copy_n(b.tokens.begin() + static_cast<std::ptrdiff_t>(src), b.cols,
                  out.tokens.begin() + static_cast<std::ptrdiff_t>(dst));
      std::copy_n(b.log_probs.begin() + static_cast<std::ptrdiff_t>(src), b.cols,
                  out.log_probs.begin() + static_cast<std::ptrdiff_t>(dst));
      if (entropy)
        std::copy_n(b.entropy.begin() + static_cast<std::ptrdiff_t>(src), b.cols,
                    out.entropy.begin() + static_cast<std::ptrdiff_t>(dst));
      std::copy_n(b.mask.begin() + static_cast<std::ptrdiff_t>(src), b.cols,
                  out.mask.begin() + static_cast<std::ptrdiff_t>(dst));
      out.completions.push_back(b.completions[refs[k].group * G + j]);
    }
  }
  return out;
}

/// Groups [first, last) of `r` as a rollout of their own (a mini-batch).
[[nodiscard]] inline rollout_batch group_range(const rollout_batch& r, std::size_t first, std::size_t last) {
  std::vector<group_ref> refs;
  for (std::size_t g = first; g < last; ++g) refs.push_back({0, g});
  const rollout_batch* const one[] = {&r};
  rollout_batch out = gather_groups(one, refs);
  out.cols = r.cols; // an empty range keeps the width
  return out;
}

/// Whether the `G` totals of each group (as the estimator sees them, rounded to float) are all equal: no learning
/// signal (GRPO and RLOO give every member 0). A group of one completion is degenerate.
[[nodiscard]] inline std::vector<bool> flat_groups(std::span<const float> totals, std::size_t G) {
  std::vector<bool> out(G ? totals.size() / G : 0, false);
  for (std::size_t g = 0; g < out.size(); ++g) {
    bool same = true;
    for (std::size_t j = 1; j < G; ++j) same = same && totals[g * G + j] == totals[g * G];
    out[g] = same;
  }
  return out;
}

} // namespace mmrag_rft::detail
