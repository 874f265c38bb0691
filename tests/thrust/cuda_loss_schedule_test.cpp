// SPDX-License-Identifier: Apache-2.0
// The fused CUDA policy loss (backends/cuda/policy_loss.cuh) run on the CPU as its kernels schedule it, with its
// launch shapes (backends/cuda/tuning.cuh): the counting pass, a grid of min(rows, max_blocks) blocks striding over
// the rows, each thread's part of a row through the very functions the kernel calls (backends/cuda/loss_threads.hpp,
// float running sums per thread included; thread_row_info and plan_loss in backends/thrust.hpp), the block reductions in CUB's shape, and the one-block fold of the
// partials. It shows on every CI machine that the kernel's arithmetic, accumulation and grid-stride bookkeeping give
// exec::seq's loss, statistics and gradients; what it cannot show (the barriers and shared memory themselves, the
// device's rounding) is for the CUDA tests and compute-sanitizer on a GPU.
#include <mmrag_rft/backends/cuda/tuning.cuh>
#include <mmrag_rft/backends/cuda/loss_threads.hpp>

#include "loss_cases.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace cuda_loss_schedule_test {

using namespace loss_cases;
namespace md = mmrag_rft::detail;
using mmrag_rft::gpu::tuning;

// cub::BlockReduce's default algorithm: in each warp of 32 threads a shuffle-down tree (lane l takes lane l + o for
// o = 1, 2, 4, 8, 16, where that lane exists), then thread 0 adds the warps' results in order. Only thread 0's
// result is defined on the device, and only it is used.
template <class V, class Op>
V block_reduce(std::vector<V> v, Op op) {
  const std::size_t n = v.size();
  for (std::size_t w = 0; w < n; w += 32) {
    const std::size_t end = std::min(n, w + 32);
    for (std::size_t o = 1; o < 32; o *= 2)
      for (std::size_t l = w; l + o < end; l += 2 * o) v[l] = op(v[l], v[l + o]);
  }
  V total = v[0];
  for (std::size_t w = 32; w < n; w += 32) total = op(total, v[w]);
  return total;
}

// gpu::detail::policy_loss_with_grid and its three kernels, block by block and thread by thread.
template <class T>
policy_loss_result fused_policy_loss(const policy_loss_inputs<T>& in, const policy_loss_grads<T>& out,
                                     const policy_loss_options& opt, std::size_t threads, std::size_t max_blocks) {
  md::validate(in, out, opt);
  const std::size_t rows = in.log_probs.rows(), cols = in.log_probs.cols();
  if (rows == 0 || cols == 0) return md::finish_policy_loss(md::loss_sums{}, 0.0, cols, opt);
  const std::size_t blocks = std::min(rows, max_blocks);
  const md::loss_plan plan = md::plan_loss(opt, cols);
  md::loss_coef_params cp = plan.cp;
  if (plan.local_counts) { // loss_count_kernel (its atomics are exact integer sums: any order)
    unsigned long long totals[2] = {0, 0};
    const auto m = md::to_device_matrix(in.mask);
    std::vector<unsigned long long> part(threads);
    for (std::size_t b = 0; b < blocks; ++b)
      for (std::size_t i = b; i < rows; i += blocks) {
        for (std::size_t t = 0; t < threads; ++t) part[t] = md::thread_mask_count(m, i, cols, t, threads);
        const unsigned long long len = block_reduce(part, std::plus<>{});
        if (len > 0) totals[0] += len, totals[1] += 1;
      }
    cp = md::with_counts(cp, totals);
  }
  const md::loss_args<T> a = md::make_loss_args(in, out, opt, static_cast<const md::loss_row_coef<T>*>(nullptr));
  std::vector<md::loss_sums> partials(blocks);
  std::vector<md::loss_row_info> info(threads);
  std::vector<double> grad_sum(threads);
  std::vector<md::loss_sums> wide(threads);
  for (std::size_t b = 0; b < blocks; ++b) { // policy_loss_kernel
    std::vector<md::thread_loss_sums<T>> acc(threads);
    for (std::size_t i = b; i < rows; i += blocks) {
      for (std::size_t t = 0; t < threads; ++t) info[t] = md::thread_row_info(a, i, cp.gspo, t, threads);
      const md::loss_row_coef<T> c = md::row_coef<T>(block_reduce(info, md::loss_row_info_plus{}), cp);
      if (c.len == 0) {
        for (std::size_t t = 0; t < threads; ++t) md::thread_zero_row(a, i, t, threads);
        continue;
      }
      T spread = T(0);
      if (a.gspo_sequence_grad) {
        for (std::size_t t = 0; t < threads; ++t) grad_sum[t] = md::thread_gspo_grad_sum(a, i, c, t, threads);
        spread = md::gspo_spread(block_reduce(grad_sum, std::plus<>{}), c);
      }
      for (std::size_t t = 0; t < threads; ++t) md::thread_row_tokens(acc[t], a, i, c, spread, t, threads);
      ++acc[0].seqs;
    }
    for (std::size_t t = 0; t < threads; ++t) wide[t] = acc[t].wide();
    partials[b] = block_reduce(wide, md::loss_sums_plus{});
  }
  std::vector<md::loss_sums> fold(tuning::fold_threads); // loss_fold_kernel
  for (std::size_t t = 0; t < fold.size(); ++t)
    fold[t] = md::thread_fold_partials(partials.data(), blocks, t, fold.size());
  const md::loss_sums total = block_reduce(fold, md::loss_sums_plus{});
  return md::finish_policy_loss(total, static_cast<double>(total.seqs), cols, opt);
}

template <class T>
void compare_fused(const loss_case<T>& c, const policy_loss_options& o, bool seq_adv, bool on_policy,
                   std::size_t threads = tuning::loss_threads, std::size_t max_blocks = tuning::loss_max_blocks,
                   bool weighted = false) {
  CAPTURE(threads);
  CAPTURE(max_blocks);
  compare_loss_to_seq(
      c, o, seq_adv, on_policy,
      [&](const auto& in, const auto& out, const policy_loss_options& opt) {
        return fused_policy_loss(in, out, opt, threads, max_blocks);
      },
      weighted);
}

TEST_SUITE("cuda loss schedule") {
TEST_CASE("block_reduce adds every thread's value once, for any block size") {
  for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{31}, std::size_t{32}, std::size_t{33},
                              std::size_t{100}, std::size_t{256}}) {
    std::vector<unsigned long long> v(n);
    for (std::size_t t = 0; t < n; ++t) v[t] = 1ull << (t % 60);
    unsigned long long want = 0;
    for (const auto x : v) want += x;
    CHECK(block_reduce(v, std::plus<>{}) == want);
  }
}

TEST_CASE_TEMPLATE("the fused kernel's schedule matches seq with token weights for every option set", T, float,
                   double) {
  const loss_case<T> c(19, 37, 24, 2);
  for (const auto& [name, o] : loss_option_set()) {
    const std::string_view case_name = name; // clang before 16 cannot capture a structured binding
    CAPTURE(case_name);
    compare_fused(c, o, false, false, tuning::loss_threads, tuning::loss_max_blocks, true);
    compare_fused(c, o, true, false, 32, 3, true);
  }
}

TEST_CASE_TEMPLATE("the fused kernel's schedule matches seq for every option set, with the launch shapes of tuning", T,
                   float, double) {
  const loss_case<T> c(23, 41, 21);
  for (const auto& [name, o] : loss_option_set()) {
    const std::string_view case_name = name; // clang before 16 cannot capture a structured binding
    CAPTURE(case_name);
    compare_fused(c, o, false, false);
    compare_fused(c, o, true, false);
    compare_fused(c, o, false, true);
  }
}

TEST_CASE_TEMPLATE("the fused kernel's schedule matches seq with more rows than blocks, odd block sizes and "
                   "strided rows",
                   T, float, double) {
  const loss_case<T> c(37, 300, 22, 5); // 300 tokens: more than one token per thread and a partial last step
  for (const auto& [name, o] : loss_option_set()) {
    const std::string_view case_name = name; // clang before 16 cannot capture a structured binding
    CAPTURE(case_name);
    for (const std::size_t blocks : {std::size_t{1}, std::size_t{7}, std::size_t{36}})
      compare_fused(c, o, false, false, tuning::loss_threads, blocks);
    compare_fused(c, o, true, false, 33, 5);
    compare_fused(c, o, false, true, 1, 3);
  }
}

TEST_CASE("float running sums per thread hold float precision over long rows and a small grid") {
  // 8 blocks of 256 threads over 64 rows of 4,096 tokens: each thread adds 8 x 16 tokens in float before the
  // double reductions, more than the default grid gives any thread (16 tokens a row, 1 to 16 rows).
  const loss_case<float> c(64, 4096, 23);
  policy_loss_options o = policy_loss_options::verl();
  o.kl = kl_estimator::k3, o.kl_coef = 0.01, o.entropy_coeff = 0.01;
  compare_fused(c, o, false, false, tuning::loss_threads, 8);
}

TEST_CASE("rows without valid tokens and empty batches give seq's zeros; NaN counts and errors as on seq") {
  loss_case<double> c(9, 17, 24);
  std::fill(c.mask.begin(), c.mask.end(), std::uint8_t{0});
  compare_fused(c, policy_loss_options{}, false, false, 32, 4);
  const auto r = fused_policy_loss(policy_loss_inputs<double>{}, policy_loss_grads<double>{}, policy_loss_options{},
                                   tuning::loss_threads, tuning::loss_max_blocks);
  CHECK(r.loss == 0.0);
  CHECK(r.stats.valid_tokens == 0);

  loss_case<float> n(6, 9, 25);
  std::fill(n.mask.begin(), n.mask.end(), std::uint8_t{1});
  n.lp[2 * 9 + 4] = std::numeric_limits<float>::quiet_NaN();
  n.ref[4 * 9 + 1] = std::numeric_limits<float>::infinity();
  policy_loss_options o;
  o.nonfinite = nonfinite_policy::propagate;
  o.kl = kl_estimator::k2;
  compare_fused(n, o, false, false, 4, 2);
  o.nonfinite = nonfinite_policy::error;
  std::vector<float> g1(n.lp.size()), g2(n.lp.size());
  std::string seq_msg, fused_msg;
  try {
    (void)policy_loss(exec::seq, n.inputs(false, false), policy_loss_grads<float>{{g1.data(), n.rows, n.cols}, {}}, o);
  } catch (const mmrag_rft::error& e) {
    seq_msg = e.what();
  }
  try {
    (void)fused_policy_loss(n.inputs(false, false), policy_loss_grads<float>{{g2.data(), n.rows, n.cols}, {}}, o, 4, 2);
  } catch (const mmrag_rft::error& e) {
    fused_msg = e.what();
  }
  CHECK(!seq_msg.empty());
  CHECK(seq_msg == fused_msg); // the first bad token: the smallest flat index, whatever the schedule

  // A NaN old log-prob and an infinite advantage at valid tokens instead (no KL term), let through, at the launch
  // shapes of tuning: the loss is NaN, both tokens are counted, and their gradients are seq's NaN and -inf.
  loss_case<float> f(6, 9, 26);
  std::fill(f.mask.begin(), f.mask.end(), std::uint8_t{1});
  f.old[2 * 9 + 5] = std::numeric_limits<float>::quiet_NaN(), f.adv[4 * 9] = std::numeric_limits<float>::infinity();
  o.nonfinite = nonfinite_policy::propagate, o.kl = kl_estimator::none;
  compare_fused(f, o, false, false);
  std::vector<float> g3(f.lp.size());
  const auto r3 = fused_policy_loss(f.inputs(false, false), policy_loss_grads<float>{{g3.data(), f.rows, f.cols}, {}},
                                    o, tuning::loss_threads, tuning::loss_max_blocks);
  CHECK(std::isnan(r3.loss));
  CHECK(r3.stats.nonfinite_tokens == 2);
  CHECK(std::isnan(g3[2 * 9 + 5]));
  CHECK(g3[4 * 9] == -std::numeric_limits<float>::infinity());
}
} // TEST_SUITE("cuda loss schedule")

} // namespace cuda_loss_schedule_test
