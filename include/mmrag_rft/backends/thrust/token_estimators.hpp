// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/thrust.hpp>
// The Thrust backend's advantage estimators besides GRPO: RLOO, REINFORCE++, REINFORCE++-baseline, GAE, masked whitening and
// broadcast, over device memory. Every group or row runs the CPU path's own host-device function (the plans in advantages/),
// so groups and rows come out bitwise as on exec::seq; only the batch statistics of the whitening are tree-ordered
// sums (1e-12 relative in double).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/rloo_plan.hpp>
#include <mmrag_rft/advantages/token_plans.hpp>
#include <mmrag_rft/backends/thrust/backend.hpp>
#include <mmrag_rft/detail/device_matrix.hpp>
#include <mmrag_rft/detail/group_bounds.hpp>

#include <thrust/device_vector.h>
#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/reduce.h>
#include <thrust/transform_reduce.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace mmrag_rft::detail {

/// Rows a per-row pass flagged (a non-finite value at a valid token): throws naming the first.
template <class Policy>
void throw_first_flagged_row(const Policy& policy, const ::thrust::device_vector<std::uint8_t>& flags, const char* fn,
                             const char* argument, const char* what) {
  const std::uint8_t* f = ::thrust::raw_pointer_cast(flags.data());
  const std::uint8_t* it = ::thrust::find(policy, f, f + flags.size(), std::uint8_t{1});
  if (it != f + flags.size()) throw error(fn, argument, what, static_cast<std::size_t>(it - f));
}

// ---- RLOO -----------------------------------------------------------------------------------------------------------

template <class T>
struct rloo_group_fn {
  const T* r;
  T* out;
  std::uint8_t* keep;
  group_bounds groups;
  rloo_options::singleton_policy singleton;
  std::uint32_t* status; // grpo_group_status flags and the masked count, as the GRPO pass encodes them

  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t g) const noexcept {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    const rloo_group_outcome o = rloo_group(r + b, e - b, out + b, keep ? keep + b : nullptr, singleton);
    std::uint32_t flags = 0;
    if (o.singleton)
      flags |= grpo_singleton | (singleton == rloo_options::singleton_policy::error ? grpo_singleton_error : 0u);
    if (o.degenerate) flags |= grpo_degenerate;
    status[g] = flags | (static_cast<std::uint32_t>(o.masked) << grpo_masked_shift);
  }
};

template <class T>
advantage_summary rloo_thrust(const exec::thrust_t& exec, std::span<const T> rewards, const group_layout& groups,
                              std::span<T> out, const rloo_options& o, std::span<std::uint8_t> keep) {
  constexpr const char* fn = "rloo_advantages";
  validate_rloo(rewards.size(), out.size(), keep.size(), groups, o);
  const auto policy = thrust_policy(exec);
  check_rewards_thrust(policy, rewards.data(), rewards.size(), o.nonfinite, fn);
  if (groups.num_groups() == 0) return {};
  const device_group_range range(groups);
  ::thrust::device_vector<std::uint32_t> status(groups.num_groups());
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), groups.num_groups(),
                       rloo_group_fn<T>{rewards.data(), out.data(), keep.empty() ? nullptr : keep.data(), range.range,
                                        o.singleton, ::thrust::raw_pointer_cast(status.data())});
  return summarise_groups(policy, status, fn, "has a group with one finite reward");
}

// ---- masked whitening over [B, T] -------------------------------------------------------------------------------------

template <class T>
struct masked_value_sum_fn {
  device_matrix<const T> v;
  device_matrix<const std::uint8_t> m;
  std::size_t cols;
  MMRAG_RFT_HOST_DEVICE finite_sum operator()(std::size_t k) const noexcept {
    const std::size_t i = k / cols, t = k % cols;
    return m(i, t) != 0 ? finite_sum{1.0, static_cast<double>(v(i, t))} : finite_sum{0.0, 0.0};
  }
};

template <class T>
struct masked_centred_square_fn {
  device_matrix<const T> v;
  device_matrix<const std::uint8_t> m;
  std::size_t cols;
  double mean;
  MMRAG_RFT_HOST_DEVICE double operator()(std::size_t k) const noexcept {
    const std::size_t i = k / cols, t = k % cols;
    const double d = static_cast<double>(v(i, t)) - mean;
    return m(i, t) != 0 ? d * d : 0.0;
  }
};

/// out = (in - mean) * scale at valid tokens, 0 elsewhere (in may be out).
template <class T>
struct whiten_apply_fn {
  device_matrix<const T> in;
  device_matrix<const std::uint8_t> m;
  device_matrix<T> out;
  std::size_t cols;
  double mean, scale;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t k) const noexcept {
    const std::size_t i = k / cols, t = k % cols;
    out(i, t) = m(i, t) != 0 ? whitened(in(i, t), whitening_stats{mean, scale, 0}) : T(0);
  }
};

/// masked_whitening_stats on the device: the same centred two passes, tree-ordered.
template <class T>
whitening_stats whitening_stats_thrust(const exec::thrust_t& exec, matrix_view<const T> values, mask_view mask,
                                       const whitening_options& o) {
  whitening_stats s;
  const std::size_t cols = mask.cols(), n = mask.rows() * cols;
  if (n == 0) return s;
  const auto policy = thrust_policy(exec);
  const auto k = ::thrust::counting_iterator<std::size_t>(0);
  const auto v = to_device_matrix(values);
  const auto m = to_device_matrix(mask);
  const finite_sum t =
      ::thrust::transform_reduce(policy, k, k + n, masked_value_sum_fn<T>{v, m, cols}, finite_sum{}, finite_sum_plus{});
  s.count = static_cast<std::size_t>(t.n);
  if (s.count == 0) return s;
  s.mean = whitening_mean(t.sum, s.count, o);
  const double m2 = ::thrust::transform_reduce(policy, k, k + n, masked_centred_square_fn<T>{v, m, cols, s.mean}, 0.0,
                                               ::thrust::plus<double>{});
  s.scale = whitening_scale(m2, s.count, o);
  return s;
}

template <class T>
void whiten_apply_thrust(const exec::thrust_t& exec, matrix_view<const T> in, mask_view mask, matrix_view<T> out,
                         const whitening_stats& s) {
  const std::size_t cols = mask.cols(), n = mask.rows() * cols;
  if (n == 0) return;
  ::thrust::for_each_n(
      thrust_policy(exec), ::thrust::counting_iterator<std::size_t>(0), n,
      whiten_apply_fn<T>{to_device_matrix(in), to_device_matrix(mask), to_device_matrix(out), cols, s.mean, s.scale});
}

// ---- row scans: REINFORCE++ returns, GAE --------------------------------------------------------------------------

template <class T>
struct discounted_returns_fn {
  device_matrix<const T> r;
  device_matrix<const std::uint8_t> m;
  device_matrix<T> out;
  std::size_t cols;
  reinforce_pp_discount gamma;
  std::uint8_t* bad;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    bad[i] = discounted_returns_row(&r(i, 0), &m(i, 0), cols, gamma, &out(i, 0)) ? 0 : 1;
  }
};

template <class T>
struct gae_row_fn {
  device_matrix<const T> r, v;
  device_matrix<const std::uint8_t> m;
  device_matrix<T> adv, ret;
  std::size_t cols;
  double gamma, lam;
  std::uint8_t* bad;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    bad[i] = gae_row(&r(i, 0), &v(i, 0), &m(i, 0), cols, gamma, lam, &adv(i, 0), &ret(i, 0)) ? 0 : 1;
  }
};

// ---- REINFORCE++-baseline -------------------------------------------------------------------------------------------

template <class T>
struct baseline_group_fn {
  const T* r;
  T* out;
  group_bounds groups;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t g) const noexcept {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    const group_moments s = moments(r + b, e - b);
    for (std::size_t j = b; j < e; ++j) out[j] = baseline_centred(r[j], s.sum, s.n);
  }
};

struct row_length_fn {
  device_matrix<const std::uint8_t> m;
  std::size_t cols;
  double* len;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    std::size_t l = 0;
    for (std::size_t t = 0; t < cols; ++t) l += m(i, t) != 0;
    len[i] = static_cast<double>(l);
  }
};

template <class T>
struct weighted_moment_fn {
  const T* a;
  const double* len;
  double mean;
  bool centred;
  MMRAG_RFT_HOST_DEVICE double operator()(std::size_t i) const noexcept {
    const double d = static_cast<double>(a[i]) - mean;
    return centred ? len[i] * d * d : len[i] * static_cast<double>(a[i]);
  }
};

template <class T>
struct baseline_apply_fn {
  T* a;
  const double* len;
  double mean, scale;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    a[i] = len[i] > 0 ? whitened(a[i], whitening_stats{mean, scale, 0}) : T(0);
  }
};

template <class T>
struct broadcast_apply_fn {
  const T* a;
  device_matrix<const std::uint8_t> m;
  device_matrix<T> out;
  std::size_t cols;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t k) const noexcept {
    const std::size_t i = k / cols, t = k % cols;
    out(i, t) = m(i, t) != 0 ? a[i] : T(0);
  }
};

} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

template <class T>
advantage_summary implement(const rloo_advantages_fn&, const thrust_t& e, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> advantages, const rloo_options& o,
                            std::span<std::uint8_t> keep) {
  return mmrag_rft::detail::rloo_thrust(e, rewards, groups, advantages, o, keep);
}

/// `masked_whitening_stats` with Thrust (device memory; the statistics come back to the host).
template <class T>
[[nodiscard]] whitening_stats implement(const masked_whitening_stats_fn&, const thrust_t& exec,
                                        matrix_view<const T> values, mask_view mask, const whitening_options& o = {}) {
  mmrag_rft::detail::validate_whitening_stats(values, mask, o, "masked_whitening_stats");
  return mmrag_rft::detail::whitening_stats_thrust(exec, values, mask, o);
}

/// `masked_whiten` with Thrust: whitens `values` in place over the valid tokens; masked positions are set to 0.
template <class T>
whitening_stats implement(const masked_whiten_fn&, const thrust_t& exec, matrix_view<T> values, mask_view mask,
                          const whitening_options& o = {}) {
  mmrag_rft::detail::validate_whitening_stats(matrix_view<const T>(values), mask, o, "masked_whitening_stats");
  const whitening_stats s = mmrag_rft::detail::whitening_stats_thrust(exec, matrix_view<const T>(values), mask, o);
  mmrag_rft::detail::whiten_apply_thrust(exec, matrix_view<const T>(values), mask, values, s);
  return s;
}

/// `reinforce_pp_advantages` with Thrust: one device thread per row scans its returns (the CPU's row function), then
/// the batch whitening.
template <std::floating_point T>
whitening_stats implement(const reinforce_pp_advantages_fn&, const thrust_t& exec, matrix_view<const T> token_rewards,
                          mask_view mask, reinforce_pp_discount gamma, matrix_view<T> returns,
                          matrix_view<T> advantages, const whitening_options& whiten = {}) {
  mmrag_rft::detail::validate_reinforce_pp(token_rewards, mask, gamma, returns, advantages, whiten);
  const std::size_t rows = mask.rows(), cols = mask.cols();
  if (rows * cols == 0) return {};
  const auto policy = mmrag_rft::detail::thrust_policy(exec);
  ::thrust::device_vector<std::uint8_t> bad(rows);
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), rows,
                       mmrag_rft::detail::discounted_returns_fn<T>{mmrag_rft::detail::to_device_matrix(token_rewards),
                                                                   mmrag_rft::detail::to_device_matrix(mask),
                                                                   mmrag_rft::detail::to_device_matrix(returns), cols,
                                                                   gamma, ::thrust::raw_pointer_cast(bad.data())});
  mmrag_rft::detail::throw_first_flagged_row(policy, bad, "reinforce_pp_advantages", "token_rewards",
                                             "is NaN or infinite at a valid token");
  const whitening_stats s =
      mmrag_rft::detail::whitening_stats_thrust(exec, matrix_view<const T>(returns), mask, whiten);
  mmrag_rft::detail::whiten_apply_thrust(exec, matrix_view<const T>(returns), mask, advantages, s);
  return s;
}

/// `reinforce_pp_baseline_advantages` with Thrust: one device thread per group (the CPU's group mean), the row
/// lengths, then the token-weighted batch whitening. `groups`' offsets stay on the host (copied to the device).
template <std::floating_point T>
whitening_stats implement(const reinforce_pp_baseline_advantages_fn&, const thrust_t& exec, std::span<const T> rewards,
                          const group_layout& groups, mask_view mask, std::span<T> advantages,
                          const whitening_options& whiten = {}) {
  constexpr const char* fn = "reinforce_pp_baseline_advantages";
  mmrag_rft::detail::validate_reinforce_pp_baseline(rewards, groups, mask, advantages, whiten);
  const auto policy = mmrag_rft::detail::thrust_policy(exec);
  mmrag_rft::detail::check_rewards_thrust(policy, rewards.data(), rewards.size(), nonfinite_rewards::error, fn);
  whitening_stats st;
  const std::size_t rows = rewards.size();
  if (rows == 0) return st;
  const auto k = ::thrust::counting_iterator<std::size_t>(0);
  const mmrag_rft::detail::device_group_range range(groups);
  ::thrust::for_each_n(policy, k, groups.num_groups(),
                       mmrag_rft::detail::baseline_group_fn<T>{rewards.data(), advantages.data(), range.range});
  ::thrust::device_vector<double> len_v(rows);
  double* len = ::thrust::raw_pointer_cast(len_v.data());
  ::thrust::for_each_n(policy, k, rows,
                       mmrag_rft::detail::row_length_fn{mmrag_rft::detail::to_device_matrix(mask), mask.cols(), len});
  const double count = ::thrust::reduce(policy, len, len + rows, 0.0, ::thrust::plus<double>{});
  st.count = static_cast<std::size_t>(count);
  if (st.count > 0) {
    const double sum = ::thrust::transform_reduce(
        policy, k, k + rows, mmrag_rft::detail::weighted_moment_fn<T>{advantages.data(), len, 0.0, false}, 0.0,
        ::thrust::plus<double>{});
    st.mean = mmrag_rft::detail::whitening_mean(sum, st.count, whiten);
    const double m2 = ::thrust::transform_reduce(
        policy, k, k + rows, mmrag_rft::detail::weighted_moment_fn<T>{advantages.data(), len, st.mean, true}, 0.0,
        ::thrust::plus<double>{});
    st.scale = mmrag_rft::detail::whitening_scale(m2, st.count, whiten);
  }
  ::thrust::for_each_n(policy, k, rows,
                       mmrag_rft::detail::baseline_apply_fn<T>{advantages.data(), len, st.mean, st.scale});
  return st;
}

/// `gae_advantages` with Thrust: one device thread per row scans it backwards (the CPU's row function), then the
/// whitening over the valid tokens (or masked positions set to 0).
template <std::floating_point T>
whitening_stats implement(const gae_advantages_fn&, const thrust_t& exec, matrix_view<const T> token_rewards,
                          matrix_view<const T> values, mask_view mask, matrix_view<T> advantages,
                          matrix_view<T> returns, const gae_options& o = {}) {
  mmrag_rft::detail::validate_gae(token_rewards, values, mask, advantages, returns, o);
  const std::size_t rows = mask.rows(), cols = mask.cols();
  if (rows * cols == 0) return {};
  const auto policy = mmrag_rft::detail::thrust_policy(exec);
  ::thrust::device_vector<std::uint8_t> bad(rows);
  ::thrust::for_each_n(
      policy, ::thrust::counting_iterator<std::size_t>(0), rows,
      mmrag_rft::detail::gae_row_fn<T>{
          mmrag_rft::detail::to_device_matrix(token_rewards), mmrag_rft::detail::to_device_matrix(values),
          mmrag_rft::detail::to_device_matrix(mask), mmrag_rft::detail::to_device_matrix(advantages),
          mmrag_rft::detail::to_device_matrix(returns), cols, o.gamma, o.lam, ::thrust::raw_pointer_cast(bad.data())});
  mmrag_rft::detail::throw_first_flagged_row(policy, bad, "gae_advantages", "token_rewards/values",
                                             "is NaN or infinite at a valid token of row");
  whitening_stats s; // without whitening: mean 0, scale 1, so the same pass only zeroes the masked positions
  if (o.whiten)
    s = mmrag_rft::detail::whitening_stats_thrust(exec, matrix_view<const T>(advantages), mask, o.whitening);
  mmrag_rft::detail::whiten_apply_thrust(exec, matrix_view<const T>(advantages), mask, advantages, s);
  return o.whiten ? s : whitening_stats{};
}

/// `broadcast_advantages` with Thrust.
template <std::floating_point T>
void implement(const broadcast_advantages_fn&, const thrust_t& exec, std::span<const T> advantages, mask_view mask,
               matrix_view<T> out) {
  mmrag_rft::detail::require(advantages.size() == mask.rows(), "broadcast_advantages", "advantages",
                             "must have one element per row of mask");
  mmrag_rft::detail::require(mmrag_rft::detail::same_shape(out, mask), "broadcast_advantages", "out",
                             "must have the shape of mask");
  const std::size_t cols = mask.cols(), n = mask.rows() * cols;
  if (n == 0) return;
  ::thrust::for_each_n(mmrag_rft::detail::thrust_policy(exec), ::thrust::counting_iterator<std::size_t>(0), n,
                       mmrag_rft::detail::broadcast_apply_fn<T>{advantages.data(),
                                                                mmrag_rft::detail::to_device_matrix(mask),
                                                                mmrag_rft::detail::to_device_matrix(out), cols});
}

} // namespace mmrag_rft::exec
