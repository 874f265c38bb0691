// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/thrust.hpp>
// `policy_loss` on the Thrust backend: the loss plan's row scan, row coefficients and token step as Thrust
// functors, and one tree-ordered reduction of the token sums.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/thrust/backend.hpp>
#include <mmrag_rft/losses/plan.hpp>

#include <thrust/device_vector.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>

#include <cstddef>
#include <concepts>

namespace mmrag_rft::detail {

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

template <class T>
struct loss_row_coef_fn {
  const loss_row_info* info;
  loss_row_coef<T>* coef;
  loss_coef_params cp;
  MMRAG_RFT_HOST_DEVICE void operator()(std::size_t i) const noexcept { coef[i] = row_coef<T>(info[i], cp); }
};

/// The Thrust token pass over the flat token index.
template <class T>
struct loss_token_fn {
  loss_args<T> a;
  MMRAG_RFT_HOST_DEVICE loss_sums operator()(std::size_t k) const noexcept {
    const std::size_t i = k / a.cols, t = k % a.cols;
    return loss_token(a, i, t, a.coef[i], T(0));
  }
};

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
  refuse_batch_mode(opt.mode, "exec::thrust");
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
  const loss_sums total = ::thrust::transform_reduce(policy, count, count + rows * cols, loss_token_fn<T>{args},
                                                     loss_sums{}, loss_sums_plus{});
  if (args.gspo_sequence_grad) ::thrust::for_each_n(policy, count, rows, loss_gspo_spread_fn<T>{args});
  return finish_policy_loss(total, n.seqs, cols, opt);
}

} // namespace mmrag_rft::detail

namespace mmrag_rft::exec {

template <std::floating_point T>
policy_loss_result implement(const policy_loss_fn&, const thrust_t& e, const policy_loss_inputs<T>& in,
                             const policy_loss_grads<T>& out, const policy_loss_options& opt) {
  return mmrag_rft::detail::policy_loss_thrust(e, in, out, opt);
}

} // namespace mmrag_rft::exec
