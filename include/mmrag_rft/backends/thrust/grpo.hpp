// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/thrust.hpp>
// `grpo_advantages` on the Thrust backend: one device thread per group runs the GRPO plan's group function, so a
// group's advantages are bitwise those of exec::seq; TRL's batch std is a tree-ordered reduction.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo_plan.hpp>
#include <mmrag_rft/backends/thrust/backend.hpp>

#include <thrust/device_vector.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/logical.h>
#include <thrust/transform_reduce.h>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft::detail {

template <class T>
struct centred_square_of {
  double mean;
  double scale = 1.0; ///< the rewards' factor (a power of two): 1, or the overflow scale of `grpo_batch_spread`
  MMRAG_RFT_HOST_DEVICE double operator()(T x) const noexcept {
    const double d = static_cast<double>(x) * scale - mean;
    return finite(x) ? d * d : 0.0;
  }
};

/// One GRPO group per call, by the GRPO plan's group functions (the rule the CPU backends choose for the batch).
template <class T>
struct grpo_group_fn {
  const T* r;
  T* out;
  std::uint8_t* keep;
  group_bounds groups;
  grpo_options o;
  grpo_batch_spread batch;
  bool uniform;
  bool checked;
  std::uint32_t* status;

  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t g) const noexcept {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    std::uint8_t* k = keep ? keep + b : nullptr;
    if (uniform) {
      status[g] = grpo_uniform_group(r + b, out + b, e - b, o, batch);
      if (k)
        for (std::size_t j = 0; j < e - b; ++j) k[j] = 1;
    } else {
      status[g] = checked ? grpo_group<true>(r + b, e - b, out + b, k, o, batch)
                          : grpo_group<false>(r + b, e - b, out + b, k, o, batch);
    }
  }
};

template <class T>
advantage_summary grpo_thrust(const exec::thrust_t& exec, std::span<const T> rewards, const group_layout& groups,
                              std::span<T> out, const grpo_options& o, std::span<std::uint8_t> keep) {
  constexpr const char* fn = "grpo_advantages";
  validate_grpo(rewards.size(), out.size(), keep.size(), groups, o);
  if (groups.num_groups() == 0) return {};
  const auto policy = thrust_policy(exec);
  const std::size_t n = rewards.size();
  const T* r = rewards.data();

  check_rewards_thrust(policy, r, n, o.nonfinite, fn);
  grpo_batch_spread batch;
  if (o.scale == reward_scale::batch && n > 0) {
    // At scale 1, and again at the overflow scale when the centred squares overflow (rewards near DBL_MAX).
    for (const double scale : {1.0, grpo_overflow_scale}) {
      const finite_sum s =
          ::thrust::transform_reduce(policy, r, r + n, finite_sum_of<T>{scale}, finite_sum{}, finite_sum_plus{});
      if (s.n < 2) break;
      const double mean = s.sum / s.n;
      const double m2 = ::thrust::transform_reduce(policy, r, r + n, centred_square_of<T>{mean, scale}, 0.0,
                                                   ::thrust::plus<double>{});
      batch = {grpo_batch_std(s.n, m2, o.std), scale};
      if (m2 <= DBL_MAX) break;
    }
  }
  const device_group_range range(groups);
  ::thrust::device_vector<std::uint32_t> status(groups.num_groups());
  // The batch takes the rule the CPU backends take (the uniform one for finite rewards in equal groups), so every
  // group's advantages are bitwise exec::seq's.
  const bool checked =
      o.nonfinite == nonfinite_rewards::error || ::thrust::none_of(policy, r, r + n, not_finite_fn<T>{});
  const grpo_group_fn<T> f{r,
                           out.data(),
                           keep.empty() ? nullptr : keep.data(),
                           range.range,
                           o,
                           batch,
                           grpo_uniform_rule(checked, groups),
                           checked,
                           ::thrust::raw_pointer_cast(status.data())};
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), groups.num_groups(), f);
  return summarise_groups(policy, status, fn, "has a group with one finite reward (singleton = error)");
}

} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

template <class T>
advantage_summary implement(const grpo_advantages_fn&, const thrust_t& e, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const grpo_options& o,
                            std::span<std::uint8_t> keep) {
  return mmrag_rft::detail::grpo_thrust(e, rewards, groups, advantages, o, keep);
}

} // namespace mmrag_rft::exec
