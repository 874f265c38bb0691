// SPDX-License-Identifier: Apache-2.0
// What the CUDA test files share: device buffers, the random batches and the loss comparison against exec::seq.
#pragma once
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends/cuda/all.cuh>
#include <mmrag_rft/backends/thrust.hpp>
#include <mmrag_rft/core/response_mask.hpp>
#include <mmrag_rft/logits/token_logprobs.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include <support/generators.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

using namespace mmrag_rft;
namespace mc = mmrag_rft::gpu;

namespace {

// Agreement to `rel` relative (1e-2 absolute floor); NaN agrees only with NaN, an infinity only with the same
// infinity (a -inf logit's log-prob, an infinite advantage's gradient: inf - inf would be NaN and never agree).
bool close(double a, double b, double rel) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::abs(a - b) <= rel * std::max({std::abs(a), std::abs(b), 1e-2});
}

template <class T>
struct device_buffer {
  T* p = nullptr;
  std::size_t n = 0;
  explicit device_buffer(std::size_t count) : n(count) {
    mc::detail::check_cuda(cudaMalloc(&p, (n > 0 ? n : 1) * sizeof(T)), "test");
  }
  explicit device_buffer(const std::vector<T>& v) : device_buffer(v.size()) {
    mc::detail::check_cuda(cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice), "test");
  }
  ~device_buffer() { cudaFree(p); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  [[nodiscard]] std::vector<T> host() const {
    std::vector<T> v(n);
    mc::detail::check_cuda(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "test");
    return v;
  }
  [[nodiscard]] std::span<T> span() const { return {p, n}; }
  /// Fills every byte with 0xff (a NaN for float and double): an element a kernel forgets to write stays NaN.
  void poison() const { mc::detail::check_cuda(cudaMemset(p, 0xff, n * sizeof(T)), "test"); }
};

// tests/support's random batch (masked positions hold NaN, which no path may read), with every 7th row fully
// masked: a zero-length response.
template <class T>
test::random_batch<T> loss_batch(std::uint64_t seed, std::size_t rows, std::size_t cols, std::size_t min_len = 0) {
  test::random_batch<T> b = test::make_batch<T>(test::seed_t{seed}, rows, cols, 0.4, min_len);
  for (std::size_t i = 3; i < rows; i += 7)
    std::fill(b.mask.begin() + static_cast<std::ptrdiff_t>(i * cols),
              b.mask.begin() + static_cast<std::ptrdiff_t>((i + 1) * cols), std::uint8_t{0});
  return b;
}

// The same batch in device memory, and the calls of both paths on it.
template <class T>
struct device_loss_batch {
  const test::random_batch<T>& h;
  device_buffer<T> lp{h.log_probs}, old{h.old_log_probs}, adv{h.token_advantages}, ref{h.ref_log_probs}, ent{h.entropy},
      seq_adv{h.seq_advantages}, g{h.log_probs.size()}, ge{h.log_probs.size()};
  device_buffer<std::uint8_t> m{h.mask};
  explicit device_loss_batch(const test::random_batch<T>& host) : h(host) {}

  [[nodiscard]] policy_loss_inputs<T> host_inputs(bool token_adv) const {
    const std::size_t b = h.rows, t = h.cols;
    policy_loss_inputs<T> in{
        {h.log_probs.data(), b, t},     {h.old_log_probs.data(), b, t}, {}, {}, mask_view(h.mask.data(), b, t),
        {h.ref_log_probs.data(), b, t}, {h.entropy.data(), b, t}};
    if (token_adv) in.advantages = {h.token_advantages.data(), b, t};
    else in.sequence_advantages = h.seq_advantages;
    return in;
  }
  [[nodiscard]] policy_loss_inputs<T> device_inputs(bool token_adv) const {
    const std::size_t b = h.rows, t = h.cols;
    policy_loss_inputs<T> in{{lp.p, b, t}, {old.p, b, t}, {}, {}, mask_view(m.p, b, t), {ref.p, b, t}, {ent.p, b, t}};
    if (token_adv) in.advantages = {adv.p, b, t};
    else in.sequence_advantages = {seq_adv.p, b};
    return in;
  }
  /// Runs both paths with `o` and checks the result and every gradient element (the device's poisoned first).
  void compare(const policy_loss_options& o, bool token_adv, double rel,
               std::size_t max_blocks = mc::tuning::loss_max_blocks) const {
    std::vector<T> want_g(h.log_probs.size()), want_ge(h.log_probs.size());
    const auto want =
        policy_loss(exec::seq, host_inputs(token_adv),
                    policy_loss_grads<T>{{want_g.data(), h.rows, h.cols}, {want_ge.data(), h.rows, h.cols}}, o);
    g.poison();
    ge.poison();
    device_buffer<unsigned char> ws(mc::policy_loss_workspace_bytes(h.rows));
    const mc::launch l{nullptr, ws.p, ws.n, true};
    const policy_loss_grads<T> dout{{g.p, h.rows, h.cols}, {ge.p, h.rows, h.cols}};
    const auto got = mc::detail::policy_loss_with_grid(l, device_inputs(token_adv), dout, o, max_blocks);
    CHECK(close(want.loss, got.loss, rel));
    CHECK(close(want.pg_loss, got.pg_loss, rel));
    CHECK(close(want.kl_loss, got.kl_loss, rel));
    CHECK(close(want.entropy, got.entropy, rel));
    CHECK(close(want.stats.pg_clipfrac, got.stats.pg_clipfrac, 1e-9));
    CHECK(close(want.stats.ratio_mean, got.stats.ratio_mean, rel));
    CHECK(close(want.stats.ratio_min, got.stats.ratio_min, rel));
    CHECK(close(want.stats.ratio_max, got.stats.ratio_max, rel));
    CHECK(want.stats.valid_tokens == got.stats.valid_tokens);
    CHECK(want.stats.valid_sequences == got.stats.valid_sequences);
    CHECK(want.stats.nonfinite_tokens == got.stats.nonfinite_tokens);
    const auto gg = g.host(), gge = ge.host();
    std::size_t bad = 0;
    for (std::size_t k = 0; k < want_g.size(); ++k)
      bad += !close(want_g[k], gg[k], rel) || !close(want_ge[k], gge[k], rel);
    CHECK(bad == 0);
    // Deterministic: the same call gives the same bits (compared as bits: a propagated NaN loss equals no value).
    const auto again = mc::detail::policy_loss_with_grid(l, device_inputs(token_adv), dout, o, max_blocks);
    CHECK(std::bit_cast<std::uint64_t>(again.loss) == std::bit_cast<std::uint64_t>(got.loss));
  }
};

} // namespace
