// SPDX-License-Identifier: Apache-2.0
// The Thrust backend: the advantage estimators and the policy loss over device pointers, on whatever system
// THRUST_DEVICE_SYSTEM selects (CUDA with nvcc; CPP, OMP or TBB with g++). Include it explicitly; never from an
// umbrella header. No Eigen or range-v3 is reachable from here (CUDA translation units include it).
//
// Customisation: this header specialises detail::grpo_cpu, detail::rloo_cpu and detail::policy_loss_cpu for
// `exec::thrust_t`, so that `grpo_advantages(exec::thrust, ...)`, `rloo_advantages(exec::thrust, ...)` and
// `policy_loss(exec::thrust, ...)` take the Thrust path; the other estimators have `exec::thrust_t` overloads
// (backends/detail/thrust_estimators.hpp, included at the end).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/backends/concepts.hpp>
#include <mmrag_rft/backends/detail/group_bounds.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/detail/math.hpp>
#include <mmrag_rft/losses/options.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include <thrust/device_ptr.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/find.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

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

/// A strided [rows, cols] device matrix as a device functor can hold it (std::span and matrix_view have no
/// __device__ members). A null pointer means "not given".
template <class T>
struct device_matrix {
  T* p = nullptr;
  std::size_t stride = 0;
  MMRAG_RFT_HOST_DEVICE T& operator()(std::size_t i, std::size_t t) const noexcept { return p[i * stride + t]; }
};
template <class T>
[[nodiscard]] device_matrix<T> to_device_matrix(const matrix_view<T>& v) noexcept {
  return {v.data(), v.row_stride()};
}

/// Finite test without <cmath> classification functions, the same in host and device code: x - x is 0 unless x is
/// NaN or infinite.
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr bool is_finite(T x) noexcept {
  return x - x == T(0);
}

template <class T>
struct not_finite_fn {
  MMRAG_RFT_HOST_DEVICE bool operator()(T x) const noexcept { return !is_finite(x); }
};

// ---------------------------------------------------------------------------------------------------------------
// GRPO

struct finite_sum {
  double n = 0, sum = 0;
};
struct finite_sum_plus {
  MMRAG_RFT_HOST_DEVICE finite_sum operator()(const finite_sum& a, const finite_sum& b) const noexcept {
    return {a.n + b.n, a.sum + b.sum};
  }
};
template <class T>
struct finite_sum_of {
  MMRAG_RFT_HOST_DEVICE finite_sum operator()(T x) const noexcept {
    return is_finite(x) ? finite_sum{1.0, static_cast<double>(x)} : finite_sum{0.0, 0.0};
  }
};
template <class T>
struct centred_square_of {
  double mean;
  MMRAG_RFT_HOST_DEVICE double operator()(T x) const noexcept {
    const double d = static_cast<double>(x) - mean;
    return is_finite(x) ? d * d : 0.0;
  }
};

enum grpo_group_status : std::uint32_t {
  grpo_degenerate = 1,
  grpo_singleton = 2,
  grpo_singleton_error = 4,
  grpo_masked_shift = 3, ///< masked-out count lives above the flags
};

/// What a group's moments decide: the mean and std its advantages use, whether they are all 0, and its status.
struct grpo_group_decision {
  double mean, sd;
  bool zero;
  std::uint32_t flags;
};

/// The per-group rules of `grpo_advantages` (singletons, degenerate groups, batch std) from the group's finite count
/// n, mean and centred sum of squares m2, shared by the Thrust functor and the CUDA kernels.
MMRAG_RFT_HOST_DEVICE inline grpo_group_decision grpo_decide(std::size_t n, double mean, double m2, double batch_std,
                                                             bool batch_scale, bool unbiased,
                                                             singleton_group singleton) noexcept {
  const double denom = unbiased ? static_cast<double>(n) - 1.0 : static_cast<double>(n);
  grpo_group_decision d{mean, batch_scale ? batch_std : (denom > 0 ? std::sqrt(m2 / denom) : 0.0), n == 0, 0};
  if (n == 1) {
    d.flags |= grpo_singleton;
    if (singleton == singleton_group::unit_std) d.mean = 0.0, d.sd = 1.0;
    else if (singleton == singleton_group::zero) d.zero = true;
    else d.flags |= grpo_singleton_error, d.zero = true;
  } else if (n >= 2 && m2 == 0.0) {
    d.flags |= grpo_degenerate;
  }
  return d;
}

/// One GRPO group per call: the loop of the CPU path (two-pass moments in double, then the advantages), so a
/// group's advantages are bitwise those of `exec::seq`.
template <class T>
struct grpo_group_fn {
  const T* r;
  T* out;
  std::uint8_t* keep;
  group_bounds groups;
  double batch_std;
  double epsilon;
  bool batch_scale;
  bool unbiased;
  bool divide_by_std;
  singleton_group singleton;
  std::uint32_t* status;

  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t g) const noexcept {
    const std::size_t b = groups.begin(g), e = groups.end(g);
    std::size_t n = 0;
    double sum = 0;
    for (std::size_t j = b; j < e; ++j)
      if (is_finite(r[j])) ++n, sum += static_cast<double>(r[j]);
    const double mean = n > 0 ? sum / static_cast<double>(n) : 0.0;
    double m2 = 0;
    if (n > 0)
      for (std::size_t j = b; j < e; ++j)
        if (is_finite(r[j])) {
          const double d = static_cast<double>(r[j]) - mean;
          m2 += d * d;
        }
    const grpo_group_decision d = grpo_decide(n, mean, m2, batch_std, batch_scale, unbiased, singleton);
    std::uint32_t masked = 0;
    for (std::size_t j = b; j < e; ++j) {
      const bool finite = is_finite(r[j]);
      masked += !finite;
      out[j] = (d.zero || !finite) ? T(0) : grpo_advantage(r[j], d.mean, d.sd, epsilon, divide_by_std);
      if (keep) keep[j] = finite ? 1 : 0;
    }
    status[g] = d.flags | (masked << grpo_masked_shift);
  }
};

struct grpo_counts {
  std::size_t degenerate = 0, singleton = 0, singleton_error = 0, masked = 0;
};
struct grpo_counts_of {
  MMRAG_RFT_HOST_DEVICE grpo_counts operator()(std::uint32_t s) const noexcept {
    return {(s & grpo_degenerate) ? 1u : 0u, (s & grpo_singleton) ? 1u : 0u, (s & grpo_singleton_error) ? 1u : 0u,
            static_cast<std::size_t>(s >> grpo_masked_shift)};
  }
};
struct grpo_counts_plus {
  MMRAG_RFT_HOST_DEVICE grpo_counts operator()(const grpo_counts& a, const grpo_counts& b) const noexcept {
    return {a.degenerate + b.degenerate, a.singleton + b.singleton, a.singleton_error + b.singleton_error,
            a.masked + b.masked};
  }
};
struct has_status_flag {
  std::uint32_t flag;
  MMRAG_RFT_HOST_DEVICE bool operator()(std::uint32_t s) const noexcept { return (s & flag) != 0; }
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
  throw error(fn, "rewards", std::string(v != v ? "is NaN" : "is infinite") +
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

/// The summary of a per-group pass from its status words (grpo_group_status flags, masked count above them); throws
/// `singleton_what` for the first group flagged as a singleton error.
template <class Policy>
[[nodiscard]] advantage_summary summarise_groups(const Policy& policy, const ::thrust::device_vector<std::uint32_t>& status,
                                                 const char* fn, const char* singleton_what) {
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

template <class T>
advantage_summary grpo_thrust(const exec::thrust_t& exec, std::span<const T> rewards, const group_layout& groups,
                              std::span<T> out, const grpo_options& o, std::span<std::uint8_t> keep) {
  constexpr const char* fn = "grpo_advantages";
  require_group_sizes(rewards.size(), out.size(), groups, fn);
  require(keep.empty() || keep.size() == rewards.size(), fn, "keep", "must be empty or have the size of rewards");
  require(std::isfinite(o.epsilon) && o.epsilon >= 0, fn, "options.epsilon", "must be finite and >= 0");
  if (o.singleton == singleton_group::error)
    for (std::size_t g = 0; g < groups.num_groups(); ++g)
      require(groups.size(g) != 1, fn, "groups", "has a group of one completion (singleton = error)", g);
  if (groups.num_groups() == 0) return {};
  const auto policy = thrust_policy(exec);
  const std::size_t n = rewards.size();
  const T* r = rewards.data();

  check_rewards_thrust(policy, r, n, o.nonfinite, fn);
  double batch_std = 0;
  if (o.scale == reward_scale::batch && n > 0) {
    const finite_sum s = ::thrust::transform_reduce(policy, r, r + n, finite_sum_of<T>{}, finite_sum{}, finite_sum_plus{});
    if (s.n > 1) {
      const double mean = s.sum / s.n;
      const double m2 = ::thrust::transform_reduce(policy, r, r + n, centred_square_of<T>{mean}, 0.0,
                                                   ::thrust::plus<double>{});
      batch_std = std::sqrt(m2 / (o.std == std_estimator::unbiased ? s.n - 1.0 : s.n));
    }
  }
  const device_group_range range(groups);
  ::thrust::device_vector<std::uint32_t> status(groups.num_groups());
  const grpo_group_fn<T> f{r,
                           out.data(),
                           keep.empty() ? nullptr : keep.data(),
                           range.range,
                           batch_std,
                           o.epsilon,
                           o.scale == reward_scale::batch,
                           o.std == std_estimator::unbiased,
                           o.norm_adv_by_std_in_grpo,
                           o.singleton,
                           ::thrust::raw_pointer_cast(status.data())};
  ::thrust::for_each_n(policy, ::thrust::counting_iterator<std::size_t>(0), groups.num_groups(), f);
  return summarise_groups(policy, status, fn, "has a group with one finite reward (singleton = error)");
}

// ---------------------------------------------------------------------------------------------------------------
// Policy loss

struct loss_row_info {
  std::size_t len = 0;
  double log_ratio_sum = 0; // GSPO: sum of logp - old over the row's valid tokens
};

struct loss_row_counts {
  double tokens = 0, seqs = 0;
};
struct loss_row_counts_of {
  MMRAG_RFT_HOST_DEVICE loss_row_counts operator()(const loss_row_info& r) const noexcept {
    return {static_cast<double>(r.len), r.len > 0 ? 1.0 : 0.0};
  }
};
struct loss_row_counts_plus {
  MMRAG_RFT_HOST_DEVICE loss_row_counts operator()(const loss_row_counts& a, const loss_row_counts& b) const noexcept {
    return {a.tokens + b.tokens, a.seqs + b.seqs};
  }
};

/// Per-row constants of the token pass: aggregation weights and the GSPO sequence ratio.
template <class T>
struct loss_row_coef {
  T w, kl_w, ent_w, seq_ratio, seq_gate;
  std::size_t len;
};

/// What the per-row constants depend on besides the row (resolved once per call on the host).
struct loss_coef_params {
  loss_aggregation aggregation;
  double loss_scale, n_tokens, n_seqs, constant, kl_coef, entropy_coeff;
  bool gspo, has_gspo_max;
  double gspo_max;
};

/// The aggregation weight of a row and its GSPO sequence ratio, as `policy_loss`'s CPU rows compute them.
template <class T>
MMRAG_RFT_HOST_DEVICE inline loss_row_coef<T> row_coef(const loss_row_info& row, const loss_coef_params& cp) noexcept {
  const std::size_t len = row.len;
  const loss_aggregation aggregation = cp.aggregation;
  const double loss_scale = cp.loss_scale, n_tokens = cp.n_tokens, n_seqs = cp.n_seqs, constant = cp.constant;
  double wd = 0;
  switch (aggregation) {
  case loss_aggregation::token_mean: wd = loss_scale / n_tokens; break;
  case loss_aggregation::seq_mean_token_sum: wd = loss_scale / n_seqs; break;
  case loss_aggregation::seq_mean_token_mean: wd = loss_scale / (static_cast<double>(len) * n_seqs); break;
  case loss_aggregation::seq_mean_token_sum_norm: wd = loss_scale / constant; break;
  }
  loss_row_coef<T> c;
  c.len = len;
  c.w = static_cast<T>(wd);
  c.kl_w = static_cast<T>(cp.kl_coef) * c.w;
  c.ent_w = -static_cast<T>(cp.entropy_coeff) * c.w;
  c.seq_ratio = T(1);
  c.seq_gate = T(1);
  if (cp.gspo && len > 0) {
    T s = static_cast<T>(row.log_ratio_sum / static_cast<double>(len));
    if (cp.has_gspo_max) {
      const T mx = static_cast<T>(cp.gspo_max);
      c.seq_gate = s <= mx ? T(1) : T(0);
      s = s > mx ? mx : s;
    }
    c.seq_ratio = vexp(s);
  }
  return c;
}

template <class T>
struct loss_row_coef_fn {
  const loss_row_info* info;
  loss_row_coef<T>* coef;
  loss_coef_params cp;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept { coef[i] = row_coef<T>(info[i], cp); }
};

/// Sums of the token pass; `merge` is the reduction (associative, so any tree order gives the same up to rounding).
struct loss_sums {
  double pg = 0, kl = 0, ent = 0;
  double clipped = 0, lower = 0, low = 0, high = 0, region = 0;
  double ppo_kl = 0, kl_sum = 0, ent_sum = 0, adv_sum = 0, ratio_sum = 0;
  double adv_min = INFINITY, adv_max = -INFINITY, ratio_min = INFINITY, ratio_max = -INFINITY;
  unsigned long long tokens = 0, seqs = 0, nonfinite = 0, first_bad = ~0ull;
};
struct loss_sums_plus {
  MMRAG_RFT_HOST_DEVICE loss_sums operator()(const loss_sums& a, const loss_sums& b) const noexcept {
    loss_sums s;
    s.pg = a.pg + b.pg, s.kl = a.kl + b.kl, s.ent = a.ent + b.ent;
    s.clipped = a.clipped + b.clipped, s.lower = a.lower + b.lower, s.low = a.low + b.low, s.high = a.high + b.high;
    s.region = a.region + b.region, s.ppo_kl = a.ppo_kl + b.ppo_kl, s.kl_sum = a.kl_sum + b.kl_sum;
    s.ent_sum = a.ent_sum + b.ent_sum, s.adv_sum = a.adv_sum + b.adv_sum, s.ratio_sum = a.ratio_sum + b.ratio_sum;
    s.adv_min = b.adv_min < a.adv_min ? b.adv_min : a.adv_min;
    s.adv_max = b.adv_max > a.adv_max ? b.adv_max : a.adv_max;
    s.ratio_min = b.ratio_min < a.ratio_min ? b.ratio_min : a.ratio_min;
    s.ratio_max = b.ratio_max > a.ratio_max ? b.ratio_max : a.ratio_max;
    s.tokens = a.tokens + b.tokens, s.seqs = a.seqs + b.seqs, s.nonfinite = a.nonfinite + b.nonfinite;
    s.first_bad = b.first_bad < a.first_bad ? b.first_bad : a.first_bad;
    return s;
  }
};

/// The device-side description of one policy_loss call (raw pointers, resolved options).
template <class T>
struct loss_args {
  device_matrix<const T> lp, old, adv, ref, ent;
  const T* seq_adv;
  device_matrix<const std::uint8_t> m;
  device_matrix<T> g, ge;
  const loss_row_coef<T>* coef; // per-row constants (Thrust path); the CUDA kernel passes its own
  std::size_t cols;
  policy_token_params<T> p;
  bool gspo_sequence_grad;

  MMRAG_RFT_HOST_DEVICE policy_token_term<T> term(std::size_t i, std::size_t t, T a,
                                                  const loss_row_coef<T>& c) const noexcept {
    const T l = lp(i, t);
    return policy_token(l, old.p ? old(i, t) : l, a, ref.p ? ref(i, t) : T(0), c.seq_ratio, c.seq_gate, c.w, c.kl_w,
                        gspo_sequence_grad, p);
  }
  MMRAG_RFT_HOST_DEVICE T advantage(std::size_t i, std::size_t t) const noexcept {
    return adv.p ? adv(i, t) : seq_adv[i];
  }
};

/// One token of the token pass: writes both gradients of token (i, t) (`extra` added to the logp gradient: GSPO's
/// sequence spread when the caller knows it) and returns the token's contribution to the sums.
template <class T>
MMRAG_RFT_HOST_DEVICE inline loss_sums loss_token(const loss_args<T>& a, std::size_t i, std::size_t t,
                                                  const loss_row_coef<T>& c, T extra) noexcept {
  loss_sums s;
  if (a.m(i, t) == 0) {
    a.g(i, t) = T(0);
    if (a.ge.p) a.ge(i, t) = T(0);
    return s;
  }
  const T adv = a.advantage(i, t);
  const policy_token_term<T> r = a.term(i, t, adv, c);
  a.g(i, t) = r.grad + extra;
  if (a.ge.p) a.ge(i, t) = c.ent_w;
  const double w = static_cast<double>(c.w);
  const T e = a.ent.p ? a.ent(i, t) : T(0);
  s.pg = w * static_cast<double>(r.pg);
  s.kl = w * static_cast<double>(r.kl);
  s.ent = w * static_cast<double>(e);
  s.clipped = (r.flags & clipped_flag) != 0;
  s.lower = (r.flags & clipped_lower_flag) != 0;
  s.low = (r.flags & region_low_flag) != 0;
  s.high = (r.flags & region_high_flag) != 0;
  s.region = (r.flags & (region_low_flag | region_high_flag)) != 0;
  s.ppo_kl = -static_cast<double>(r.log_ratio);
  s.kl_sum = static_cast<double>(r.kl);
  s.ent_sum = static_cast<double>(e);
  s.adv_sum = s.adv_min = s.adv_max = static_cast<double>(adv);
  s.ratio_sum = s.ratio_min = s.ratio_max = static_cast<double>(r.ratio);
  s.tokens = 1;
  const T l = a.lp(i, t);
  const T check = l + (a.old.p ? a.old(i, t) : l) + adv + (a.ref.p ? a.ref(i, t) : T(0)) + e;
  if (!is_finite(check)) s.nonfinite = 1, s.first_bad = static_cast<unsigned long long>(i * a.cols + t);
  return s;
}

/// The Thrust token pass over the flat token index.
template <class T>
struct loss_token_fn {
  loss_args<T> a;
  MMRAG_RFT_HOST_DEVICE loss_sums operator()(std::size_t k) const noexcept {
    const std::size_t i = k / a.cols, t = k % a.cols;
    return loss_token(a, i, t, a.coef[i], T(0));
  }
};

/// GSPO with the sequence gradient (TRL, OpenRLHF): what every valid token of a row gets added to its log-prob
/// gradient, the row's mean of w dloss/dlog r (from their sum), since log r_i = mean_t(logp - old) depends on all
/// of them.
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE T gspo_spread(double grad_sum, const loss_row_coef<T>& c) noexcept {
  return static_cast<T>(grad_sum / static_cast<double>(c.len)) * c.seq_gate;
}

template <class T>
struct loss_gspo_spread_fn {
  loss_args<T> a;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept {
    const loss_row_coef<T>& c = a.coef[i];
    if (c.len == 0) return;
    double sum = 0;
    for (std::size_t t = 0; t < a.cols; ++t)
      if (a.m(i, t) != 0) sum += static_cast<double>(a.term(i, t, a.advantage(i, t), c).d_logr);
    const T spread = gspo_spread(sum, c);
    for (std::size_t t = 0; t < a.cols; ++t)
      if (a.m(i, t) != 0) a.g(i, t) += spread;
  }
};

/// `policy_loss_options` resolved into the plain per-token parameters (host side).
template <class T>
[[nodiscard]] policy_token_params<T> resolve_token_params(const policy_loss_options& opt) noexcept {
  policy_token_params<T> p;
  p.sp = {static_cast<T>(1.0 - opt.clip_ratio_low), static_cast<T>(1.0 + opt.clip_ratio_high),
          static_cast<T>(opt.clip_ratio_c.value_or(3.0)), static_cast<T>(opt.delta.value_or(0.0)),
          opt.clip_ratio_c.has_value(), opt.delta.has_value()};
  p.log_ratio_clamp = static_cast<T>(opt.log_ratio_clamp.value_or(0.0));
  p.clamp_log_ratio = opt.log_ratio_clamp.has_value();
  p.gspo = opt.mode == policy_loss_mode::gspo;
  p.kl = opt.kl;
  p.kl_clamps = opt.kl_clamps;
  p.kl_straight_through = opt.kl_straight_through;
  p.kl_importance_corrected = opt.kl_importance_corrected && opt.kl != kl_estimator::none;
  return p;
}

/// The device-side arguments of a policy_loss call; `coef`: per-row constants computed beforehand (the Thrust
/// path), or null where the kernel computes its own (CUDA).
template <class T>
[[nodiscard]] loss_args<T> make_loss_args(const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                          const policy_loss_options& opt, const loss_row_coef<T>* coef) noexcept {
  return {to_device_matrix(in.log_probs),
          to_device_matrix(in.old_log_probs),
          to_device_matrix(in.advantages),
          to_device_matrix(in.ref_log_probs),
          to_device_matrix(in.entropy),
          in.sequence_advantages.empty() ? nullptr : in.sequence_advantages.data(),
          to_device_matrix(in.mask),
          to_device_matrix(out.log_probs),
          to_device_matrix(out.entropy),
          coef,
          in.log_probs.cols(),
          resolve_token_params<T>(opt),
          opt.mode == policy_loss_mode::gspo && opt.gspo_grad == gspo_gradient::sequence};
}

[[nodiscard]] inline loss_coef_params coef_params(const policy_loss_options& opt, double n_tokens, double n_seqs,
                                                 double constant) noexcept {
  return {opt.aggregation, opt.loss_scale,     n_tokens, n_seqs, constant, opt.kl_coef, opt.entropy_coeff,
          opt.mode == policy_loss_mode::gspo, opt.gspo_log_ratio_max.has_value(), opt.gspo_log_ratio_max.value_or(0.0)};
}

/// What the row constants need, decided on the host from the options alone (every device path: Thrust, CUDA).
struct loss_plan {
  bool local_counts;   // no normaliser is given: the valid tokens and rows are counted from the mask (as on the CPU)
  loss_coef_params cp; // n_tokens and n_seqs are those counts when local_counts
};

[[nodiscard]] inline loss_plan plan_loss(const policy_loss_options& opt, std::size_t cols) noexcept {
  const bool sum_norm = opt.aggregation == loss_aggregation::seq_mean_token_sum_norm;
  const double given = opt.normalizer.value_or(0.0);
  // verl's default loss_scale_factor for seq-mean-token-sum-norm is the padded response length.
  const double constant = opt.normalizer ? *opt.normalizer : sum_norm ? static_cast<double>(cols) : 0.0;
  return {!opt.normalizer && !sum_norm, coef_params(opt, given, given, constant)};
}

/// The row constants' parameters with the counting pass's totals (valid tokens, rows with a valid token).
[[nodiscard]] MMRAG_RFT_HOST_DEVICE inline loss_coef_params with_counts(loss_coef_params cp,
                                                                       const unsigned long long* totals) noexcept {
  cp.n_tokens = static_cast<double>(totals[0]);
  cp.n_seqs = static_cast<double>(totals[1]);
  return cp;
}

/// Thread t's part of row i's length and (GSPO) log-ratio sum: tokens t, t + threads, ...
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE loss_row_info thread_row_info(const loss_args<T>& a, std::size_t i, bool gspo,
                                                                  std::size_t t, std::size_t threads) noexcept {
  loss_row_info info;
  for (std::size_t k = t; k < a.cols; k += threads) {
    const bool v = a.m(i, k) != 0;
    info.len += v;
    if (gspo && v) info.log_ratio_sum += static_cast<double>(a.lp(i, k) - (a.old.p ? a.old(i, k) : a.lp(i, k)));
  }
  return info;
}

/// Row i's length and GSPO log-ratio sum over the whole row (the Thrust path: one thread per row).
template <class T>
struct loss_row_scan_fn {
  loss_args<T> a;
  bool gspo;
  MMRAG_RFT_HOST_DEVICE loss_row_info operator()(std::size_t i) const noexcept {
    return thread_row_info(a, i, gspo, 0, 1);
  }
};

template <class T>
policy_loss_result policy_loss_thrust(const exec::thrust_t& exec, const policy_loss_inputs<T>& in,
                                      const policy_loss_grads<T>& out, const policy_loss_options& opt) {
  validate(in, out, opt);
  const std::size_t rows = in.log_probs.rows(), cols = in.log_probs.cols();
  if (rows == 0 || cols == 0) return {};
  const auto policy = thrust_policy(exec);
  const bool gspo = opt.mode == policy_loss_mode::gspo;
  const auto count = ::thrust::counting_iterator<std::size_t>(0);
  ::thrust::device_vector<loss_row_coef<T>> coef(rows);
  const loss_args<T> args = make_loss_args(in, out, opt, ::thrust::raw_pointer_cast(coef.data()));

  ::thrust::device_vector<loss_row_info> info(rows);
  loss_row_info* info_p = ::thrust::raw_pointer_cast(info.data());
  ::thrust::transform(policy, count, count + rows, info_p, loss_row_scan_fn<T>{args, gspo});
  const loss_row_counts n = ::thrust::transform_reduce(policy, info_p, info_p + rows, loss_row_counts_of{},
                                                       loss_row_counts{}, loss_row_counts_plus{});
  const loss_plan plan = plan_loss(opt, cols);
  loss_coef_params cp = plan.cp;
  if (plan.local_counts) cp.n_tokens = n.tokens, cp.n_seqs = n.seqs;
  ::thrust::for_each_n(policy, count, rows, loss_row_coef_fn<T>{info_p, ::thrust::raw_pointer_cast(coef.data()), cp});
  // The token functor writes the gradients as a side effect of the reduction: each token is transformed exactly
  // once by every Thrust system, so the gradient and the sums come from one read of the inputs.
  const loss_sums total =
      ::thrust::transform_reduce(policy, count, count + rows * cols, loss_token_fn<T>{args}, loss_sums{}, loss_sums_plus{});
  if (args.gspo_sequence_grad) ::thrust::for_each_n(policy, count, rows, loss_gspo_spread_fn<T>{args});
  return finish_policy_loss(total, n.seqs, cols, opt);
}

// The dispatch: `grpo_advantages(exec::thrust, ...)` and `policy_loss(exec::thrust, ...)` reach these through the
// CPU entry points' implementation templates.
template <>
inline advantage_summary grpo_cpu<float, exec::thrust_t>(const exec::thrust_t& e, std::span<const float> r,
                                                         const group_layout& g, std::span<float> a,
                                                         const grpo_options& o, std::span<std::uint8_t> keep) {
  return grpo_thrust(e, r, g, a, o, keep);
}
template <>
inline advantage_summary grpo_cpu<double, exec::thrust_t>(const exec::thrust_t& e, std::span<const double> r,
                                                          const group_layout& g, std::span<double> a,
                                                          const grpo_options& o, std::span<std::uint8_t> keep) {
  return grpo_thrust(e, r, g, a, o, keep);
}
template <>
inline policy_loss_result policy_loss_cpu<float, exec::thrust_t>(const exec::thrust_t& e,
                                                                 const policy_loss_inputs<float>& in,
                                                                 const policy_loss_grads<float>& out,
                                                                 const policy_loss_options& opt) {
  return policy_loss_thrust(e, in, out, opt);
}
template <>
inline policy_loss_result policy_loss_cpu<double, exec::thrust_t>(const exec::thrust_t& e,
                                                                  const policy_loss_inputs<double>& in,
                                                                  const policy_loss_grads<double>& out,
                                                                  const policy_loss_options& opt) {
  return policy_loss_thrust(e, in, out, opt);
}

} // namespace mmrag_rft::detail

// RLOO, REINFORCE++, REINFORCE++-baseline, GAE, whitening, broadcast and response masks on the same backend.
#include <mmrag_rft/backends/detail/thrust_estimators.hpp> // IWYU pragma: export
#include <mmrag_rft/backends/detail/thrust_masks.hpp> // IWYU pragma: export
