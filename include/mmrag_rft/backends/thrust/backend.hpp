// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/thrust.hpp>
// The Thrust backend's tag (`exec::thrust`) and what its implementations share: the execution policy, device
// copies of a group layout, reward checks and the reduction of per-group status words. No Eigen or range-v3.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo_plan.hpp>
#include <mmrag_rft/backends/concepts.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/detail/group_bounds.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <thrust/device_ptr.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/find.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace mmrag_rft::exec {

/// Runs an algorithm with Thrust on `thrust::device`: the GPU under THRUST_DEVICE_SYSTEM=CUDA, CPU threads under OMP
/// or TBB, the calling thread under CPP. Every pointer in the arguments (rewards, advantages, log-probs, masks,
/// gradients, `keep`) must be device memory of that system; options, group offsets and results stay on the host.
/// `stream` is a `cudaStream_t` under CUDA (nullptr: the default stream) and is ignored by the CPU systems.
/// Results agree with `exec::seq` to rounding (reductions are tree-ordered): 1e-5 relative in float, 1e-12 in double.
struct thrust_t : backend_base<thrust_t> {
  void* stream = nullptr;
  /// The same backend on another CUDA stream.
  [[nodiscard]] constexpr thrust_t on(void* s) const noexcept {
    thrust_t t;
    t.stream = s;
    return t;
  }
};
inline constexpr thrust_t thrust{};

} // namespace mmrag_rft::exec

namespace mmrag_rft::detail {

[[nodiscard]] inline auto thrust_policy([[maybe_unused]] const exec::thrust_t& e) {
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  return ::thrust::cuda::par.on(static_cast<cudaStream_t>(e.stream));
#else
  return ::thrust::device;
#endif
}

template <class T>
struct not_finite_fn {
  MMRAG_RFT_HOST_DEVICE bool operator()(T x) const noexcept { return !finite(x); }
};

/// Throws as check_rewards does (the first NaN or infinite reward, by index) when `policy` is error.
template <class T, class Policy>
void check_rewards_thrust(const Policy& policy, const T* r, std::size_t n, nonfinite_rewards nf, const char* fn) {
  if (nf != nonfinite_rewards::error || n == 0) return;
  const T* bad = ::thrust::find_if(policy, r, r + n, not_finite_fn<T>{});
  if (bad == r + n) return;
  // Not *device_ptr: Thrust's device_reference conversion binds a null system reference (UBSan, CCCL 3.0.1).
#if THRUST_DEVICE_SYSTEM == THRUST_DEVICE_SYSTEM_CUDA
  T v;
  if (cudaMemcpy(&v, bad, sizeof v, cudaMemcpyDeviceToHost) != cudaSuccess) v = T(0);
#else
  const T v = *bad;
#endif
  throw error(fn, "rewards",
              std::string(v != v ? "is NaN" : "is infinite") +
                  " (set nonfinite = mask_out to give such completions advantage 0 and drop them)",
              static_cast<std::size_t>(bad - r));
}

/// The device copy of a layout's offsets (empty for uniform groups; under CPP/OMP a host-to-host copy).
struct device_group_range {
  ::thrust::device_vector<std::int64_t> offsets;
  group_bounds range;
  explicit device_group_range(const group_layout& g) {
    if (!g.is_uniform()) offsets.assign(g.offsets().begin(), g.offsets().end());
    range = {g.is_uniform() ? nullptr : ::thrust::raw_pointer_cast(offsets.data()),
             static_cast<std::int64_t>(g.uniform_size()), g.num_groups()};
  }
};

struct has_status_flag {
  std::uint32_t flag;
  MMRAG_RFT_HOST_DEVICE bool operator()(std::uint32_t s) const noexcept { return (s & flag) != 0; }
};

/// The summary of a per-group pass from its status words (grpo_group_status flags, masked count above them); throws
/// `singleton_what` for the first group flagged as a singleton error.
template <class Policy>
[[nodiscard]] advantage_summary summarise_groups(const Policy& policy,
                                                 const ::thrust::device_vector<std::uint32_t>& status, const char* fn,
                                                 const char* singleton_what) {
  // Raw pointers, not device_vector iterators: Thrust's device_reference conversion binds a null system reference
  // (UBSan reports it in CCCL 3.0.1's thrust/detail/reference.h).
  const std::uint32_t* st = ::thrust::raw_pointer_cast(status.data());
  const std::size_t ng = status.size();
  const grpo_counts c =
      ::thrust::transform_reduce(policy, st, st + ng, grpo_counts_of{}, grpo_counts{}, grpo_counts_plus{});
  if (c.singleton_error > 0) {
    const std::uint32_t* it = ::thrust::find_if(policy, st, st + ng, has_status_flag{grpo_singleton_error});
    throw error(fn, "groups", singleton_what, static_cast<std::size_t>(it - st));
  }
  advantage_summary s;
  s.groups = ng;
  s.degenerate_groups = c.degenerate;
  s.singleton_groups = c.singleton;
  s.masked_out = c.masked;
  return s;
}

} // namespace mmrag_rft::detail
