// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The plan of `gdpo_advantages`, written once for every backend: validation, one group's per-component
// normalisation into the weighted sum, and the batch whitening of that sum. The CPU loops and the Thrust functors call
// these. Host/device safe: no Eigen, no range-v3, no Thrust.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/gdpo_options.hpp>
#include <mmrag_rft/advantages/grpo_plan.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>

namespace mmrag_rft {

struct gdpo_advantages_fn;

namespace detail {

/// The argument checks of `gdpo_advantages`, on the host, before any backend reads a reward.
template <class T>
void validate_gdpo(matrix_view<const T> rewards, std::span<const double> weights, std::size_t out, std::size_t keep,
                   const group_layout& groups, const gdpo_options& o) {
  constexpr const char* fn = "gdpo_advantages";
  require(rewards.rows() == groups.num_items(), fn, "rewards",
          "must have one row per completion of the group layout (" + std::to_string(groups.num_items()) + "), not " +
              std::to_string(rewards.rows()));
  require(rewards.rows() == 0 || rewards.cols() > 0, fn, "rewards", "must have at least one component (column)");
  require(rewards.rows() <= 1 || rewards.row_stride() >= rewards.cols(), fn, "rewards", "row_stride must be >= cols");
  require(rewards.rows() == 0 || rewards.data() != nullptr, fn, "rewards", "has no data");
  require(out == rewards.rows(), fn, "advantages", "must have one element per row of rewards");
  require(keep == 0 || keep == rewards.rows(), fn, "keep", "must be empty or have one element per row of rewards");
  require(weights.empty() || weights.size() == rewards.cols(), fn, "weights",
          "must be empty (all 1) or have one weight per component (" + std::to_string(rewards.cols()) + ")");
  for (std::size_t k = 0; k < weights.size(); ++k)
    require(std::isfinite(weights[k]), fn, "weights", "must be finite", k);
  const grpo_options& c = o.component;
  require(std::isfinite(c.epsilon) && c.epsilon >= 0, fn, "options.component.epsilon", "must be finite and >= 0");
  require(c.scale == reward_scale::group, fn, "options.component.scale",
          "must be reward_scale::group (the batch step is options.whiten)");
  require(std::isfinite(o.batch_epsilon) && o.batch_epsilon >= 0, fn, "options.batch_epsilon",
          "must be finite and >= 0");
  if (c.singleton == singleton_group::error) require_no_singleton_groups(groups, fn);
}

/// The error for the first completion with a NaN or infinite component (in row order, then component order).
[[noreturn]] inline void throw_gdpo_nonfinite(std::size_t row, std::size_t component) {
  throw error("gdpo_advantages", "rewards",
              "has a NaN or infinite component (" + std::to_string(component) +
                  "; set component.nonfinite = mask_out to give such completions advantage 0 and drop them)",
              row);
}

/// Whether every component of row `j` is finite (a completion with any non-finite component is masked out whole).
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline bool gdpo_row_finite(const T* row, std::size_t k) noexcept {
  for (std::size_t c = 0; c < k; ++c)
    if (!finite(row[c])) return false;
  return true;
}

/// One group of GDPO: for each component, its moments over the group's kept completions (double, centred second
/// pass), GRPO's decision for them (singleton, degenerate), and each kept completion's GRPO advantage of that
/// component, times its weight, added into `sum`. A masked-out completion gets a quiet NaN in `sum`, which the
/// whitening step reads as "not kept" (so the sum buffer carries the keep flags between the two steps).
/// `r` is the group's first row, rows `stride` elements apart, `k` components; `w` the k weights (null: all 1).
/// Returns the status word of `grpo_group` (degenerate: every component all-equal; masked count above the flags).
template <bool AllFinite, class T>
MMRAG_RFT_HOST_DEVICE std::uint32_t gdpo_group(const T* r, std::size_t size, std::size_t k, std::size_t stride,
                                               const double* w, double* sum, const grpo_options& o) noexcept {
  std::size_t n = 0;
  for (std::size_t j = 0; j < size; ++j) {
    const bool ok = AllFinite || gdpo_row_finite(r + j * stride, k);
    n += ok;
    sum[j] = ok ? 0.0 : std::numeric_limits<double>::quiet_NaN();
  }
  bool all_degenerate = true;
  std::uint32_t flags = 0;
  for (std::size_t c = 0; c < k; ++c) {
    double total = 0;
    for (std::size_t j = 0; j < size; ++j)
      if (AllFinite || sum[j] == sum[j]) total += static_cast<double>(r[j * stride + c]);
    const double mean = n ? total / static_cast<double>(n) : 0.0;
    double m2 = 0;
    for (std::size_t j = 0; j < size; ++j)
      if (AllFinite || sum[j] == sum[j]) {
        const double d = static_cast<double>(r[j * stride + c]) - mean;
        m2 += d * d;
      }
    const grpo_group_decision d =
        grpo_decide(n, mean, m2, 0.0, false, o.std == std_estimator::unbiased, o.singleton, o.epsilon);
    flags = d.flags & ~static_cast<std::uint32_t>(grpo_degenerate);
    all_degenerate = all_degenerate && (d.flags & grpo_degenerate) != 0;
    // An all-equal component adds exactly 0: skipped, not divided (0 / (0 + 0) would be NaN with epsilon 0).
    if (d.zero || (d.flags & grpo_degenerate)) continue;
    const double wc = w ? w[c] : 1.0;
    for (std::size_t j = 0; j < size; ++j)
      if (AllFinite || sum[j] == sum[j])
        sum[j] += wc * grpo_advantage(static_cast<double>(r[j * stride + c]), d.mean, d.sd, d.epsilon,
                                      o.norm_adv_by_std_in_grpo);
  }
  if (k > 0 && all_degenerate) flags |= grpo_degenerate;
  const std::size_t masked = size - n;
  return flags | static_cast<std::uint32_t>(masked << grpo_masked_shift);
}

/// The batch statistics of the whitening step: mean and the std the advantages divide by, over the kept sums.
struct gdpo_batch {
  double mean = 0, sd = 0;
  bool zero = false; ///< no spread (all kept sums equal, or fewer than two): every advantage is 0
  bool whiten = true;
  double epsilon = 0;
};

[[nodiscard]] inline gdpo_batch gdpo_batch_of(double n, double mean, double m2, const gdpo_options& o) noexcept {
  gdpo_batch b;
  b.whiten = o.whiten;
  b.epsilon = o.batch_epsilon;
  b.mean = mean;
  b.zero = !(m2 > 0.0);
  b.sd = n > 1 ? std::sqrt(m2 / (o.batch_std == std_estimator::unbiased ? n - 1.0 : n)) : 0.0;
  return b;
}

/// The advantage of one completion from its weighted sum (NaN: masked out, advantage 0).
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline T gdpo_output(double s, const gdpo_batch& b) noexcept {
  if (s != s) return T(0);
  if (!b.whiten) return static_cast<T>(s);
  return b.zero ? T(0) : static_cast<T>((s - b.mean) / (b.sd + b.epsilon));
}

} // namespace detail
} // namespace mmrag_rft
