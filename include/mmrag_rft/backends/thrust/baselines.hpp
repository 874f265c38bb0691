// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/thrust.hpp>
// `opo_advantages`, `gpg_advantages`, `grpo_passk_advantages` and `remax_advantages` with Thrust, over device memory:
// one device thread per group (or completion) runs the baseline plans' own function, so every advantage is bitwise
// exec::seq's; GPG's batch count of non-zero rewards is an integer reduction, exact in any order.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/baseline_plans.hpp>
#include <mmrag_rft/backends/thrust/backend.hpp>
#include <mmrag_rft/backends/thrust/token_estimators.hpp>
#include <mmrag_rft/detail/device_matrix.hpp>
#include <mmrag_rft/detail/group_bounds.hpp>

#include <thrust/count.h>
#include <thrust/device_vector.h>
#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft::detail {

/// One group per call: `group(b, size)` (b its first completion) runs the plan and returns false for a degenerate
/// group; the status word flags that and a group of one, as the CPU summary counts them.
template <class Group>
struct baseline_pass_fn {
  Group group;
  group_bounds groups;
  std::uint32_t* status;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t g) const noexcept {
    const std::size_t b = groups.begin(g), size = groups.end(g) - b;
    status[g] =
        (size == 1 ? std::uint32_t{grpo_singleton} : 0u) | (group(b, size) ? 0u : std::uint32_t{grpo_degenerate});
  }
};

/// Checks the rewards, then runs `group` on every group, one device thread each, and reduces their status words into
/// the summary.
template <class T, class Group>
[[nodiscard]] advantage_summary baseline_groups_thrust(const exec::thrust_t& exec, std::span<const T> rewards,
                                                       const group_layout& groups, const char* fn, const Group& group) {
  const auto policy = thrust_policy(exec);
  check_rewards_thrust(policy, rewards.data(), rewards.size(), nonfinite_rewards::error, fn);
  if (groups.num_groups() == 0) return {};
  const device_group_range range(groups);
  ::thrust::device_vector<std::uint32_t> status(groups.num_groups());
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), groups.num_groups(),
                       baseline_pass_fn<Group>{group, range.range, ::thrust::raw_pointer_cast(status.data())});
  return summarise_groups(policy, status, fn, "has a group of one completion");
}

template <class T>
struct opo_group_op {
  const T* r;
  const double* len;
  T* out;
  MMRAG_RFT_HOST_DEVICE bool operator()(std::size_t b, std::size_t size) const noexcept {
    opo_group(r + b, len + b, size, out + b);
    return true;
  }
};

template <class T>
struct gpg_group_op {
  const T* r;
  T* out;
  double scale; ///< alpha / f_norm, from the batch count
  MMRAG_RFT_HOST_DEVICE bool operator()(std::size_t b, std::size_t size) const noexcept {
    gpg_group(r + b, size, scale, out + b);
    return true;
  }
};

/// Groups of one were refused on the host; an empty group writes nothing.
template <class T>
struct grpo_passk_group_op {
  const T* r;
  T* out;
  bool norm;
  double eps;
  MMRAG_RFT_HOST_DEVICE bool operator()(std::size_t b, std::size_t size) const noexcept {
    return size == 0 || grpo_passk_group(r + b, size, norm, eps, out + b);
  }
};

template <class T>
struct remax_fn {
  const T* r;
  const T* greedy;
  T* out;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept { out[i] = remax_advantage(r[i], greedy[i]); }
};

} // namespace mmrag_rft::detail

// The implementations for exec::thrust: every pointer is device memory; the arguments are checked first, in the order
// of the CPU backends, so that errors match.
namespace mmrag_rft::exec {

template <class T>
advantage_summary implement(const opo_advantages_fn&, const thrust_t& exec, std::span<const T> rewards,
                            const group_layout& groups, mask_view mask, std::span<T> advantages) {
  mmrag_rft::detail::validate_opo(rewards.size(), advantages.size(), groups, mask.rows());
  ::thrust::device_vector<double> len_v(mask.rows()); // the token counts, the weights of the baseline
  double* len = ::thrust::raw_pointer_cast(len_v.data());
  ::thrust::for_each_n(mmrag_rft::detail::thrust_policy(exec), ::thrust::counting_iterator<std::size_t>(0), mask.rows(),
                       mmrag_rft::detail::row_length_fn{mmrag_rft::detail::to_device_matrix(mask), mask.cols(), len});
  return mmrag_rft::detail::baseline_groups_thrust(
      exec, rewards, groups, "opo_advantages",
      mmrag_rft::detail::opo_group_op<T>{rewards.data(), len, advantages.data()});
}

template <class T>
void implement(const remax_advantages_fn&, const thrust_t& exec, std::span<const T> rewards,
               std::span<const T> greedy_rewards, std::span<T> advantages) {
  constexpr const char* fn = "remax_advantages";
  mmrag_rft::detail::validate_remax(rewards.size(), greedy_rewards.size(), advantages.size());
  const std::size_t n = rewards.size();
  if (n == 0) return;
  const auto policy = mmrag_rft::detail::thrust_policy(exec);
  mmrag_rft::detail::check_rewards_thrust(policy, rewards.data(), n, nonfinite_rewards::error, fn);
  const T* g = greedy_rewards.data();
  const T* bad = ::thrust::find_if(policy, g, g + n, mmrag_rft::detail::not_finite_fn<T>{});
  if (bad != g + n) throw error(fn, "greedy_rewards", "is NaN or infinite", static_cast<std::size_t>(bad - g));
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), n,
                       mmrag_rft::detail::remax_fn<T>{rewards.data(), g, advantages.data()});
}

template <class T>
advantage_summary implement(const gpg_advantages_fn&, const thrust_t& exec, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const gpg_options& o) {
  mmrag_rft::detail::validate_gpg(rewards.size(), advantages.size(), groups, o);
  // An integer count, exact in any order; taken before the reward check, which it does not need.
  const T* r = rewards.data();
  const auto nonzero = static_cast<std::size_t>(::thrust::count_if(
      mmrag_rft::detail::thrust_policy(exec), r, r + rewards.size(), mmrag_rft::detail::is_nonzero_reward<T>{}));
  const double scale = mmrag_rft::detail::gpg_scale(rewards.size(), nonzero, o);
  return mmrag_rft::detail::baseline_groups_thrust(exec, rewards, groups, "gpg_advantages",
                                                   mmrag_rft::detail::gpg_group_op<T>{r, advantages.data(), scale});
}

template <class T>
advantage_summary implement(const grpo_passk_advantages_fn&, const thrust_t& exec, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const grpo_passk_options& o) {
  mmrag_rft::detail::validate_grpo_passk(rewards.size(), advantages.size(), groups, o);
  return mmrag_rft::detail::baseline_groups_thrust(
      exec, rewards, groups, "grpo_passk_advantages",
      mmrag_rft::detail::grpo_passk_group_op<T>{rewards.data(), advantages.data(), o.norm_adv_by_std_in_grpo,
                                                o.epsilon});
}

} // namespace mmrag_rft::exec
