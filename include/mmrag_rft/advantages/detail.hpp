// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// What the advantage estimators' plans share: group moments, reward checks, argument checks, keyed gathering.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <cmath>
#include <concepts>
#include <string>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <type_traits>
#include <vector>

namespace mmrag_rft::detail {

/// The two ways of saying where groups are: contiguous offsets or keys.
template <class G>
concept GroupLayoutLike = std::same_as<G, group_layout> || std::same_as<G, keyed_groups>;

/// Statistics of one group's finite rewards, computed in double with a centred second pass (never E[x^2] - E[x]^2,
/// which in float turns an all-equal group of non-dyadic rewards into a tiny non-zero std).
struct group_moments {
  std::size_t n = 0;
  double sum = 0;
  double mean = 0;
  double m2 = 0; ///< sum of squared deviations from the mean
};

/// Moments of the finite rewards of one group, each reward multiplied by `scale` (a power of two, so exactly; 1
/// except for the overflow fallback of `grpo_group`). `AllFinite` (the rewards were checked at the boundary) drops
/// the per-element tests, so both passes are plain loops the compiler unrolls and vectorises. When all finite rewards
/// are equal the mean is that reward itself, so that every deviation and m2 are exactly 0: sum / n is inexact
/// ({0.1, 0.1, 0.1} gives a mean one ulp off and m2 ~ 1e-34) and the sum may overflow ({1.7e308, 1.7e308}).
template <bool AllFinite = false, class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE group_moments moments(const T* r, std::size_t size,
                                                                                double scale = 1.0) noexcept {
  group_moments s;
  double first = 0;
  bool same = true;
  if constexpr (AllFinite) first = size > 0 ? static_cast<double>(r[0]) * scale : 0.0;
  for (std::size_t j = 0; j < size; ++j) {
    const bool ok = AllFinite || finite(r[j]);
    const double v = static_cast<double>(r[j]) * scale;
    if constexpr (!AllFinite) first = ok && s.n == 0 ? v : first;
    same &= !ok || v == first;
    s.n += ok;
    s.sum += ok ? v : 0.0;
  }
  if (s.n == 0) return s;
  s.mean = same ? first : s.sum / static_cast<double>(s.n);
  for (std::size_t j = 0; j < size; ++j) {
    const bool ok = AllFinite || finite(r[j]);
    const double d = static_cast<double>(r[j]) * scale - s.mean;
    s.m2 += ok ? d * d : 0.0;
  }
  return s;
}

/// True when every reward is finite: one branch-free pass over the exponent bits (an integer OR-reduction, which
/// vectorises; `ok &= finite(x)` stayed scalar and took a quarter of GRPO's time, docs/performance.md).
template <class T>
[[nodiscard]] bool all_finite(std::span<const T> rewards) noexcept {
  using bits_t = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static_assert(sizeof(T) == sizeof(bits_t) && std::numeric_limits<T>::is_iec559, "IEEE float or double rewards");
  constexpr bits_t exponent = static_cast<bits_t>(sizeof(T) == 4 ? 0x7f800000ull : 0x7ff0000000000000ull);
  bits_t bad = 0;
  const T* r = rewards.data();
  for (std::size_t j = 0; j < rewards.size(); ++j) {
    bits_t b;
    std::memcpy(&b, r + j, sizeof b);
    bad |= static_cast<bits_t>((b & exponent) == exponent);
  }
  return bad == 0;
}

[[nodiscard]] inline double stddev(const group_moments& s, std_estimator e) noexcept {
  const double denom = e == std_estimator::unbiased ? static_cast<double>(s.n) - 1.0 : static_cast<double>(s.n);
  return denom > 0 ? std::sqrt(s.m2 / denom) : 0.0;
}

/// Checks rewards for NaN/inf once, at the boundary. With `error` throws naming the first bad index (in the caller's
/// indexing, `order` mapping gathered positions back); with `mask_out` reports nothing here.
template <class T>
void check_rewards(std::span<const T> rewards, nonfinite_rewards policy, const char* fn,
                   std::span<const std::size_t> order = {}) {
  if (policy != nonfinite_rewards::error || all_finite(rewards)) return;
  for (std::size_t i = 0; i < rewards.size(); ++i)
    if (!std::isfinite(rewards[i]))
      throw error(fn, "rewards",
                  std::string(std::isnan(rewards[i]) ? "is NaN" : "is infinite") +
                      " (set nonfinite = mask_out to give such completions advantage 0 and drop them)",
                  order.empty() ? i : order[i]);
}

/// With a `singleton = error` option: a group of one completion is refused up front, naming it.
inline void require_no_singleton_groups(const group_layout& groups, const char* fn) {
  for (std::size_t g = 0; g < groups.num_groups(); ++g)
    require(groups.size(g) != 1, fn, "groups", "has a group of one completion (singleton = error)", g);
}

inline void require_group_sizes(std::size_t rewards, std::size_t out, const group_layout& groups, const char* fn) {
  require(rewards == groups.num_items(), fn, "rewards",
          "must have one element per completion of the group layout (" + std::to_string(groups.num_items()) +
              "), not " + std::to_string(rewards));
  require(out == rewards, fn, "advantages", "must have the size of rewards");
}

/// Runs a contiguous-layout estimator on a keyed grouping: gather, compute, scatter.
template <class T, class Compute>
advantage_summary through_keys(std::span<const T> rewards, const keyed_groups& keys, std::span<T> out,
                               std::span<std::uint8_t> keep, const char* fn, nonfinite_rewards nf, Compute&& compute) {
  require(rewards.size() == keys.size(), fn, "rewards", "must have one element per key");
  require(out.size() == rewards.size(), fn, "advantages", "must have the size of rewards");
  require(keep.empty() || keep.size() == rewards.size(), fn, "keep", "must be empty or have the size of rewards");
  if (keys.in_place()) {
    check_rewards<T>(rewards, nf, fn);
    return compute(rewards, keys.layout(), out, keep);
  }
  const auto order = keys.order();
  std::vector<T> gathered(rewards.size()), result(rewards.size());
  for (std::size_t j = 0; j < order.size(); ++j) gathered[j] = rewards[order[j]];
  check_rewards<T>(gathered, nf, fn, order.stored());
  std::vector<std::uint8_t> kept(keep.empty() ? 0 : keep.size());
  const advantage_summary s =
      compute(std::span<const T>(gathered), keys.layout(), std::span<T>(result), std::span<std::uint8_t>(kept));
  for (std::size_t j = 0; j < order.size(); ++j) out[order[j]] = result[j];
  if (!keep.empty())
    for (std::size_t j = 0; j < order.size(); ++j) keep[order[j]] = kept[j];
  return s;
}

} // namespace mmrag_rft::detail
