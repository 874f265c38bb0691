// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/thrust.hpp>
// `gdpo_advantages` on the Thrust backend: one device thread per group runs the GDPO plan's group function (so each
// weighted sum is bitwise exec::seq's), the batch moments are tree-ordered reductions, one transform writes the result.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/gdpo_plan.hpp>
#include <mmrag_rft/backends/thrust/backend.hpp>
#include <mmrag_rft/backends/thrust/grpo.hpp>

#include <thrust/device_vector.h>
#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>

#include <cstddef>
#include <cstdint>
#include <span>

namespace mmrag_rft::detail {

/// Element e (row-major over rows x k) of a strided matrix is not finite.
template <class T>
struct gdpo_bad_element {
  const T* r;
  std::size_t k, stride;
  MMRAG_RFT_HOST_DEVICE bool operator()(std::size_t e) const noexcept { return !finite(r[(e / k) * stride + e % k]); }
};

template <class T>
struct gdpo_group_fn {
  const T* r;
  std::size_t k, stride;
  const double* w;
  double* sum;
  group_bounds groups;
  grpo_options o;
  bool checked;
  std::uint32_t* status;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t g) const noexcept {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    status[g] = checked ? gdpo_group<true>(r + b * stride, e - b, k, stride, w, sum + b, o)
                        : gdpo_group<false>(r + b * stride, e - b, k, stride, w, sum + b, o);
  }
};

template <class T>
struct gdpo_output_fn {
  const double* sum;
  T* out;
  std::uint8_t* keep;
  gdpo_batch b;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    out[i] = gdpo_output<T>(sum[i], b);
    if (keep) keep[i] = sum[i] == sum[i] ? 1 : 0;
  }
};

template <class T>
advantage_summary gdpo_thrust(const exec::thrust_t& exec, matrix_view<const T> rewards, std::span<const double> weights,
                              const group_layout& groups, std::span<T> out, const gdpo_options& o,
                              std::span<std::uint8_t> keep) {
  constexpr const char* fn = "gdpo_advantages";
  validate_gdpo(rewards, weights, out.size(), keep.size(), groups, o);
  if (groups.num_groups() == 0) return {};
  const auto policy = thrust_policy(exec);
  const std::size_t rows = rewards.rows(), k = rewards.cols(), stride = rewards.row_stride();
  const T* r = rewards.data();
  const bool checked = o.component.nonfinite == nonfinite_rewards::error;
  if (checked && rows > 0) {
    const ::thrust::counting_iterator<std::size_t> first(0);
    const auto bad = ::thrust::find_if(policy, first, first + rows * k, gdpo_bad_element<T>{r, k, stride});
    if (bad != first + rows * k) throw_gdpo_nonfinite(*bad / k, *bad % k);
  }
  ::thrust::device_vector<double> w(weights.begin(), weights.end());
  ::thrust::device_vector<double> sum(rows);
  ::thrust::device_vector<std::uint32_t> status(groups.num_groups());
  double* s = ::thrust::raw_pointer_cast(sum.data());
  const device_group_range range(groups);
  const gdpo_group_fn<T> f{r,
                           k,
                           stride,
                           weights.empty() ? nullptr : ::thrust::raw_pointer_cast(w.data()),
                           s,
                           range.range,
                           o.component,
                           checked,
                           ::thrust::raw_pointer_cast(status.data())};
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), groups.num_groups(), f);
  const advantage_summary summary =
      summarise_groups(policy, status, fn, "has a group with one finite reward (singleton = error)");
  const finite_sum fs =
      ::thrust::transform_reduce(policy, s, s + rows, finite_sum_of<double>{}, finite_sum{}, finite_sum_plus{});
  const double mean = fs.n > 0 ? fs.sum / fs.n : 0.0;
  const double m2 = fs.n > 0 ? ::thrust::transform_reduce(policy, s, s + rows, centred_square_of<double>{mean}, 0.0,
                                                          ::thrust::plus<double>{})
                             : 0.0;
  const gdpo_output_fn<T> w_out{s, out.data(), keep.empty() ? nullptr : keep.data(), gdpo_batch_of(fs.n, mean, m2, o)};
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), rows, w_out);
  return summary;
}

} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

template <class T>
advantage_summary implement(const gdpo_advantages_fn&, const thrust_t& e, matrix_view<const T> rewards,
                            std::span<const double> weights, const group_layout& groups, std::span<T> advantages,
                            const gdpo_options& o, std::span<std::uint8_t> keep) {
  return mmrag_rft::detail::gdpo_thrust(e, rewards, weights, groups, advantages, o, keep);
}

} // namespace mmrag_rft::exec
