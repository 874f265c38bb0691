// SPDX-License-Identifier: Apache-2.0
// GRPO / Dr. GRPO advantages on the GPU: group statistics by CUB segmented reductions (uniform groups or offsets),
// then one item-wise kernel. nvcc only. The per-group rules and the advantage formula are shared with the CPU and
// Thrust paths (detail::grpo_decide, detail::grpo_advantage).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo_plan.hpp>
#include <mmrag_rft/backends/cuda/launch.cuh>
#include <mmrag_rft/backends/cuda/tuning.cuh>
#include <mmrag_rft/detail/group_bounds.hpp>
#include <mmrag_rft/backends/thrust/backend.hpp>

#include <cub/device/device_reduce.cuh>
#include <cub/device/device_segmented_reduce.cuh>
#include <thrust/find.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/iterator/transform_iterator.h>

#include <cfloat>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace mmrag_rft::gpu {

namespace detail {

namespace md = mmrag_rft::detail;

using md::group_bounds;

struct double_plus_d {
  __device__ double operator()(double a, double b) const noexcept { return a + b; }
};

/// Count, sum and range of a group's finite rewards. The range tells an all-equal group, whose mean is then the
/// reward itself, as on the CPU (`detail::moments`): sum / n is inexact ({0.1, 0.1, 0.1}) and may overflow.
struct finite_range_sum {
  double n = 0, sum = 0, lo = INFINITY, hi = -INFINITY;
};
struct finite_range_sum_plus_d {
  __device__ finite_range_sum operator()(const finite_range_sum& a, const finite_range_sum& b) const noexcept {
    return {a.n + b.n, a.sum + b.sum, a.lo < b.lo ? a.lo : b.lo, a.hi > b.hi ? a.hi : b.hi};
  }
};
template <class T>
struct finite_range_sum_of {
  __device__ finite_range_sum operator()(T x) const noexcept {
    const double v = static_cast<double>(x);
    return md::finite(x) ? finite_range_sum{1.0, v, v, v} : finite_range_sum{};
  }
};
__device__ inline double mean_of(const finite_range_sum& s) noexcept {
  return s.n == 0 ? 0.0 : s.lo == s.hi ? s.lo : s.sum / s.n;
}

/// (r_j - mean of j's group)^2 for finite r_j, else 0: the centred second pass, never E[x^2] - E[x]^2.
template <class T>
struct centred_square_in_group {
  const T* r;
  const finite_range_sum* sums;
  group_bounds b;
  __device__ double operator()(std::size_t j) const noexcept {
    const double d = static_cast<double>(r[j]) - mean_of(sums[b.group_of(j)]);
    return md::finite(r[j]) ? d * d : 0.0;
  }
};

/// The batch's moments for `reward_scale::batch`, each pass also taken at `grpo_overflow_scale` (for finite rewards
/// near DBL_MAX, whose sum or centred squares overflow): the two scales in one pass each, so the batch costs two
/// passes over the rewards as with one scale, and no host round trip decides which to use.
struct batch_range_sum {
  finite_range_sum s;
  double sum_scaled = 0;
};
struct batch_range_sum_plus_d {
  __device__ batch_range_sum operator()(const batch_range_sum& a, const batch_range_sum& b) const noexcept {
    return {finite_range_sum_plus_d{}(a.s, b.s), a.sum_scaled + b.sum_scaled};
  }
};
template <class T>
struct batch_range_sum_of {
  __device__ batch_range_sum operator()(T x) const noexcept {
    return {finite_range_sum_of<T>{}(x), md::finite(x) ? static_cast<double>(x) * md::grpo_overflow_scale : 0.0};
  }
};
/// The batch mean at the overflow scale (a power of two: the range's ends scale exactly).
__device__ inline double scaled_mean_of(const batch_range_sum& s) noexcept {
  return s.s.n == 0 ? 0.0 : s.s.lo == s.s.hi ? s.s.lo * md::grpo_overflow_scale : s.sum_scaled / s.s.n;
}
struct batch_m2 {
  double m2 = 0, m2_scaled = 0;
};
struct batch_m2_plus_d {
  __device__ batch_m2 operator()(const batch_m2& a, const batch_m2& b) const noexcept {
    return {a.m2 + b.m2, a.m2_scaled + b.m2_scaled};
  }
};
template <class T>
struct batch_centred_squares {
  const T* r;
  const batch_range_sum* sum;
  __device__ batch_m2 operator()(std::size_t j) const noexcept {
    if (!md::finite(r[j])) return {};
    const double x = static_cast<double>(r[j]);
    const double d = x - mean_of(sum->s), ds = x * md::grpo_overflow_scale - scaled_mean_of(*sum);
    return {d * d, ds * ds};
  }
};

struct group_stat {
  double mean, sd, epsilon;
  bool zero;
  bool done; // the decide kernel wrote the group's advantages itself (moments that overflow)
};

/// One thread per group decides from the group's statistics. A group whose centred squares overflow (finite rewards
/// near DBL_MAX, m2 not finite) is rare: its thread computes it whole with the CPU's rule (`detail::grpo_group`,
/// moments retaken at a power-of-two scale), so the result is the CPU's and never NaN.
template <class T>
__global__ void grpo_decide_kernel(const T* r, group_bounds b, const finite_range_sum* sums, const double* m2,
                                   const batch_range_sum* batch_sum, const batch_m2* batch_sq, std::size_t num_groups,
                                   grpo_options o, group_stat* stats, std::uint32_t* status, T* out,
                                   std::uint8_t* keep) {
  const std::size_t g = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (g >= num_groups) return;
  const bool batch_scale = o.scale == reward_scale::batch, unbiased = o.std == std_estimator::unbiased;
  md::grpo_batch_spread batch;
  if (batch_scale) {
    const bool over = !(batch_sq->m2 <= DBL_MAX);
    batch = {md::grpo_batch_std(batch_sum->s.n, over ? batch_sq->m2_scaled : batch_sq->m2, o.std),
             over ? md::grpo_overflow_scale : 1.0};
  }
  if (!(m2[g] <= DBL_MAX) || batch.scale != 1.0) {
    const std::size_t begin = b.begin(g);
    stats[g] = {0.0, 0.0, 0.0, true, true};
    status[g] =
        md::grpo_group<false>(r + begin, b.end(g) - begin, out + begin, keep ? keep + begin : nullptr, o, batch);
    return;
  }
  const auto n = static_cast<std::size_t>(sums[g].n);
  const md::grpo_group_decision d =
      md::grpo_decide(n, mean_of(sums[g]), m2[g], batch.sd, batch_scale, unbiased, o.singleton, o.epsilon);
  stats[g] = {d.mean, d.sd, d.epsilon, d.zero, false};
  status[g] = d.flags; // masked-out counts are added by the item kernel
}

template <class T>
__global__ void grpo_item_kernel(const T* r, std::size_t n, group_bounds b, const group_stat* stats, bool divide_by_std,
                                 T* out, std::uint8_t* keep, std::uint32_t* status) {
  const std::size_t j = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  if (j >= n) return;
  const std::size_t g = b.group_of(j);
  const group_stat s = stats[g];
  if (s.done) return;
  const bool finite = md::finite(r[j]);
  out[j] = (s.zero || !finite) ? T(0) : md::grpo_advantage(r[j], s.mean, s.sd, s.epsilon, divide_by_std);
  if (keep) keep[j] = finite ? 1 : 0;
  if (!finite) atomicAdd(status + g, 1u << md::grpo_masked_shift);
}

struct counts_of_d {
  __device__ md::grpo_counts operator()(std::uint32_t s) const noexcept { return md::grpo_counts_of{}(s); }
};
struct counts_plus_d {
  __device__ md::grpo_counts operator()(const md::grpo_counts& a, const md::grpo_counts& b) const noexcept {
    return md::grpo_counts_plus{}(a, b);
  }
};

inline void require_fits(const workspace_carver& w) {
  mmrag_rft::detail::require(w.fits(), "gpu::grpo_advantages", "launch.workspace",
                             "is smaller than grpo_workspace_bytes()");
}

/// Runs (or, with a null workspace, sizes) the whole GRPO sequence; returns the workspace bytes it needs.
template <class T>
std::size_t grpo_run(const launch& l, const T* r, std::size_t n, const group_layout& groups,
                     const std::int64_t* device_offsets, T* out, std::uint8_t* keep, const grpo_options& o,
                     md::grpo_counts* counts_out) {
  const std::size_t ng = groups.num_groups();
  workspace_carver w(l.workspace, l.workspace_bytes);
  auto* sums = w.take<finite_range_sum>(ng);
  auto* m2 = w.take<double>(ng);
  auto* batch_sum = w.take<batch_range_sum>(1);
  auto* batch_sq = w.take<batch_m2>(1);
  auto* stats = w.take<group_stat>(ng);
  auto* status = w.take<std::uint32_t>(ng);
  auto* counts = w.take<md::grpo_counts>(1);
  const group_bounds b{groups.is_uniform() ? nullptr : device_offsets, static_cast<std::int64_t>(groups.uniform_size()),
                       ng};
  const auto idx = ::thrust::counting_iterator<std::int64_t>(0);
  const auto begins = ::thrust::make_transform_iterator(idx, b);
  const auto ends = begins + 1;
  const auto finite_in = ::thrust::make_transform_iterator(r, finite_range_sum_of<T>{});
  const bool batch = o.scale == reward_scale::batch;
  const auto sq_group = ::thrust::make_transform_iterator(::thrust::counting_iterator<std::size_t>(0),
                                                          centred_square_in_group<T>{r, sums, b});
  const auto batch_in = ::thrust::make_transform_iterator(r, batch_range_sum_of<T>{});
  const auto sq_batch = ::thrust::make_transform_iterator(::thrust::counting_iterator<std::size_t>(0),
                                                          batch_centred_squares<T>{r, batch_sum});
  const auto status_counts = ::thrust::make_transform_iterator(status, counts_of_d{});

  // CUB's temporary storage: the largest any of the reductions asks for, carved last.
  std::size_t temp = 0, t = 0;
  const auto ng_i = static_cast<std::int64_t>(ng);
  const auto n_i = static_cast<std::int64_t>(n);
  cub::DeviceSegmentedReduce::Reduce(nullptr, t, finite_in, sums, ng_i, begins, ends, finite_range_sum_plus_d{},
                                     finite_range_sum{}, l.stream);
  temp = t > temp ? t : temp;
  cub::DeviceSegmentedReduce::Reduce(nullptr, t, sq_group, m2, ng_i, begins, ends, double_plus_d{}, 0.0, l.stream);
  temp = t > temp ? t : temp;
  cub::DeviceReduce::Reduce(nullptr, t, batch_in, batch_sum, n_i, batch_range_sum_plus_d{}, batch_range_sum{},
                            l.stream);
  temp = t > temp ? t : temp;
  cub::DeviceReduce::Reduce(nullptr, t, sq_batch, batch_sq, n_i, batch_m2_plus_d{}, batch_m2{}, l.stream);
  temp = t > temp ? t : temp;
  cub::DeviceReduce::Reduce(nullptr, t, status_counts, counts, ng_i, counts_plus_d{}, md::grpo_counts{}, l.stream);
  temp = t > temp ? t : temp;
  void* cub_temp = w.take<unsigned char>(temp);
  if (!l.workspace) return w.used();
  require_fits(w);

  const char* fn = "gpu::grpo_advantages";
  check_cuda(cub::DeviceSegmentedReduce::Reduce(cub_temp, temp, finite_in, sums, ng_i, begins, ends,
                                                finite_range_sum_plus_d{}, finite_range_sum{}, l.stream),
             fn);
  if (batch) {
    check_cuda(cub::DeviceReduce::Reduce(cub_temp, temp, batch_in, batch_sum, n_i, batch_range_sum_plus_d{},
                                         batch_range_sum{}, l.stream),
               fn);
    check_cuda(
        cub::DeviceReduce::Reduce(cub_temp, temp, sq_batch, batch_sq, n_i, batch_m2_plus_d{}, batch_m2{}, l.stream),
        fn);
  }
  check_cuda(cub::DeviceSegmentedReduce::Reduce(cub_temp, temp, sq_group, m2, ng_i, begins, ends, double_plus_d{}, 0.0,
                                                l.stream),
             fn);
  const unsigned threads = tuning::item_threads;
  grpo_decide_kernel<T><<<static_cast<unsigned>((ng + threads - 1) / threads), threads, 0, l.stream>>>(
      r, b, sums, m2, batch_sum, batch_sq, ng, o, stats, status, out, keep);
  if (n > 0)
    grpo_item_kernel<T><<<static_cast<unsigned>((n + threads - 1) / threads), threads, 0, l.stream>>>(
        r, n, b, stats, o.norm_adv_by_std_in_grpo, out, keep, status);
  check_cuda(cub::DeviceReduce::Reduce(cub_temp, temp, status_counts, counts, ng_i, counts_plus_d{}, md::grpo_counts{},
                                       l.stream),
             fn);
  check_cuda(cudaGetLastError(), fn);
  if (counts_out) {
    check_cuda(cudaMemcpyAsync(counts_out, counts, sizeof *counts_out, cudaMemcpyDeviceToHost, l.stream), fn);
    check_cuda(cudaStreamSynchronize(l.stream), fn);
    if (counts_out->singleton_error > 0) {
      // Rare error path: find the group on the host.
      std::vector<std::uint32_t> host(ng);
      check_cuda(cudaMemcpy(host.data(), status, ng * sizeof(std::uint32_t), cudaMemcpyDeviceToHost), fn);
      for (std::size_t g = 0; g < ng; ++g)
        if (host[g] & md::grpo_singleton_error)
          throw error("grpo_advantages", "groups", "has a group with one finite reward (singleton = error)", g);
    }
  }
  return w.used();
}

} // namespace detail

/// Device memory `grpo_advantages` needs for these groups (CUB's temporary storage included).
template <class T>
[[nodiscard]] std::size_t grpo_workspace_bytes(const group_layout& groups, const grpo_options& o = {}) {
  launch sizing;
  return detail::grpo_run<T>(sizing, nullptr, groups.num_items(), groups, nullptr, nullptr, nullptr, o, nullptr);
}

/// `mmrag_rft::grpo_advantages` on the GPU: the group sums and centred sums of squares come from CUB segmented
/// reductions over `groups` (uniform, or offsets), then one kernel writes every advantage (and `keep`).
///
/// `rewards`, `advantages`, `keep` are device memory. `groups` is the host layout (its offsets were validated on the
/// host); for an offsets layout pass the same offsets in device memory as `device_offsets`. `l.workspace` holds
/// `grpo_workspace_bytes<T>(groups, o)` bytes. With `l.sync_result` the summary comes back (one synchronisation;
/// NaN rewards with `nonfinite = error` and singleton errors throw then); without it the summary holds only `groups`.
/// `nonfinite = error` needs `sync_result` (the check is a scalar result). Statistics are tree-summed in double:
/// equal to `exec::seq` to rounding.
template <std::floating_point T>
advantage_summary grpo_advantages(const launch& l, std::span<const T> rewards, const group_layout& groups,
                                  const std::int64_t* device_offsets, std::span<T> advantages,
                                  const grpo_options& o = {}, std::span<std::uint8_t> keep = {}) {
  namespace md = mmrag_rft::detail;
  constexpr const char* fn = "grpo_advantages";
  md::validate_grpo(rewards.size(), advantages.size(), keep.size(), groups, o);
  md::require(groups.is_uniform() || device_offsets != nullptr || groups.num_groups() == 0, fn, "device_offsets",
              "is required for an offsets layout (the layout's offsets in device memory)");
  md::require(o.nonfinite != nonfinite_rewards::error || l.sync_result, fn, "options.nonfinite",
              "= error needs launch.sync_result (use mask_out for an asynchronous call)");
  advantage_summary summary;
  summary.groups = groups.num_groups();
  if (groups.num_groups() == 0) return summary;
  if (o.nonfinite == nonfinite_rewards::error && !rewards.empty()) {
    const auto policy = ::thrust::cuda::par.on(l.stream);
    const T* bad = ::thrust::find_if(policy, rewards.data(), rewards.data() + rewards.size(), md::not_finite_fn<T>{});
    if (bad != rewards.data() + rewards.size()) {
      T v;
      detail::check_cuda(cudaMemcpy(&v, bad, sizeof v, cudaMemcpyDeviceToHost), fn);
      throw error(fn, "rewards",
                  std::string(v != v ? "is NaN" : "is infinite") +
                      " (set nonfinite = mask_out to give such completions advantage 0 and drop them)",
                  static_cast<std::size_t>(bad - rewards.data()));
    }
  }
  md::grpo_counts c;
  detail::grpo_run<T>(l, rewards.data(), rewards.size(), groups, device_offsets, advantages.data(),
                      keep.empty() ? nullptr : keep.data(), o, l.sync_result ? &c : nullptr);
  summary.degenerate_groups = c.degenerate;
  summary.singleton_groups = c.singleton;
  summary.masked_out = c.masked;
  return summary;
}

} // namespace mmrag_rft::gpu
