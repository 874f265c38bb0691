// SPDX-License-Identifier: Apache-2.0
// CUDA paths against exec::seq on the same inputs: logits forward/backward, fused policy loss, GRPO. Needs a GPU.
#include <mmrag_rft/backends/cuda/all.cuh>
#include <mmrag_rft/logits/token_logprobs.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

using namespace mmrag_rft;
namespace mc = mmrag_rft::gpu;

namespace {

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
};

bool close(double a, double b, double rel) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::abs(a - b) <= rel * std::max({std::abs(a), std::abs(b), 1e-2});
}

} // namespace

TEST_SUITE("cuda") {
  TEST_CASE("cuda token_logprobs_and_entropy: forward and backward match seq") {
    const std::size_t n = 64, v = 50000;
    std::mt19937 gen(1);
    std::normal_distribution<float> d(0.0f, 3.0f);
    std::vector<float> x(n * v);
    for (auto& e : x) e = d(gen);
    std::vector<std::int64_t> y(n);
    for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::int64_t>((i * 7919) % v);
    std::vector<float> lp(n), ent(n), lse(n);
    const token_logprobs_options opt{0.7};
    token_logprobs_and_entropy(matrix_view<const float>(x.data(), n, v), y, {lp, ent, lse}, opt);

    device_buffer<float> dx(x), dlp(n), dent(n), dlse(n);
    device_buffer<std::int64_t> dy(y);
    const mc::launch l;
    mc::token_logprobs_and_entropy(l, matrix_view<const float>(dx.p, n, v), std::span<const std::int64_t>(dy.p, n),
                                     {dlp.span(), dent.span(), dlse.span()}, opt);
    const auto glp = dlp.host(), gent = dent.host(), glse = dlse.host();
    for (std::size_t i = 0; i < n; ++i) {
      CHECK(close(lp[i], glp[i], 1e-5));
      CHECK(close(ent[i], gent[i], 1e-5));
      CHECK(close(lse[i], glse[i], 1e-6));
    }
    std::vector<float> up(n, 1.0f), uh(n, 0.5f), g(n * v);
    token_logprobs_and_entropy_backward(matrix_view<const float>(x.data(), n, v), y, {lse, ent, up, uh},
                                        matrix_view<float>(g.data(), n, v), opt);
    device_buffer<float> dup(up), duh(uh), dg(n * v);
    mc::token_logprobs_and_entropy_backward(l, matrix_view<const float>(dx.p, n, v),
                                              std::span<const std::int64_t>(dy.p, n),
                                              {std::span<const float>(dlse.p, n), std::span<const float>(dent.p, n),
                                               std::span<const float>(dup.p, n), std::span<const float>(duh.p, n)},
                                              matrix_view<float>(dg.p, n, v), opt);
    const auto gg = dg.host();
    std::size_t bad = 0;
    for (std::size_t k = 0; k < g.size(); ++k) bad += std::abs(g[k] - gg[k]) > 1e-5f * std::max(1e-3f, std::abs(g[k]));
    CHECK(bad == 0);
  }

  TEST_CASE("cuda token_logprobs_and_entropy: an out-of-range token id is reported in bad_row") {
    std::vector<float> x(3 * 4, 0.0f);
    std::vector<std::int64_t> y{0, 9, -1};
    device_buffer<float> dx(x), dlp(3);
    device_buffer<std::int64_t> dy(y);
    device_buffer<unsigned long long> bad(std::vector<unsigned long long>{~0ull});
    mc::token_logprobs_and_entropy(mc::launch{}, matrix_view<const float>(dx.p, 3, 4),
                                     std::span<const std::int64_t>(dy.p, 3), {dlp.span()}, {}, bad.p);
    CHECK(bad.host()[0] == 1);
    CHECK(std::isnan(dlp.host()[1]));
  }

  TEST_CASE("cuda policy_loss: the fused kernel matches seq") {
    const std::size_t b = 37, t = 513;
    std::mt19937 gen(2);
    std::uniform_real_distribution<double> u(0, 1);
    std::normal_distribution<double> nd(0, 1);
    std::vector<float> lp(b * t), old(b * t), adv(b * t), ref(b * t), ent(b * t);
    std::vector<std::uint8_t> m(b * t);
    for (std::size_t i = 0; i < b; ++i) {
      const auto len = static_cast<std::size_t>(u(gen) * t) * (i % 7 != 3);
      for (std::size_t k = 0; k < t; ++k) {
        const std::size_t j = i * t + k;
        lp[j] = static_cast<float>(-4 * u(gen));
        old[j] = lp[j] + static_cast<float>(0.3 * nd(gen));
        ref[j] = lp[j] + static_cast<float>(0.5 * nd(gen));
        adv[j] = static_cast<float>(nd(gen));
        ent[j] = static_cast<float>(2 * u(gen));
        m[j] = k < len;
      }
    }
    device_buffer<float> dlp(lp), dold(old), dadv(adv), dref(ref), dent(ent), dg(b * t), dge(b * t);
    device_buffer<std::uint8_t> dm(m);
    for (int mode = 0; mode < 4; ++mode) {
      policy_loss_options o;
      if (mode == 1) o.kl = kl_estimator::k3, o.entropy_coeff = 0.01;
      if (mode == 2) o.mode = policy_loss_mode::gspo, o.gspo_grad = gspo_gradient::sequence;
      if (mode == 3) o.aggregation = loss_aggregation::seq_mean_token_mean, o.normalizer = 40.0;
      CAPTURE(mode);
      policy_loss_inputs<float> in{{lp.data(), b, t}, {old.data(), b, t}, {adv.data(), b, t}, {},
                                   mask_view(m.data(), b, t), {ref.data(), b, t}, {ent.data(), b, t}};
      std::vector<float> g(b * t), ge(b * t);
      const auto want = policy_loss(exec::seq, in, policy_loss_grads<float>{{g.data(), b, t}, {ge.data(), b, t}}, o);
      policy_loss_inputs<float> din{{dlp.p, b, t}, {dold.p, b, t}, {dadv.p, b, t}, {},
                                    mask_view(dm.p, b, t), {dref.p, b, t}, {dent.p, b, t}};
      device_buffer<unsigned char> ws(mc::policy_loss_workspace_bytes(b));
      const mc::launch l{nullptr, ws.p, ws.n, true};
      const auto got = mc::policy_loss(l, din, policy_loss_grads<float>{{dg.p, b, t}, {dge.p, b, t}}, o);
      CHECK(close(want.loss, got.loss, 1e-5));
      CHECK(close(want.kl_loss, got.kl_loss, 1e-5));
      CHECK(close(want.stats.pg_clipfrac, got.stats.pg_clipfrac, 1e-9));
      CHECK(want.stats.valid_tokens == got.stats.valid_tokens);
      CHECK(want.stats.valid_sequences == got.stats.valid_sequences);
      const auto gg = dg.host();
      std::size_t bad = 0;
      for (std::size_t k = 0; k < g.size(); ++k) bad += !close(g[k], gg[k], 1e-5);
      CHECK(bad == 0);
      // Deterministic: the same call gives the same bits.
      const auto again = mc::policy_loss(l, din, policy_loss_grads<float>{{dg.p, b, t}, {dge.p, b, t}}, o);
      CHECK(again.loss == got.loss);
    }
  }

  TEST_CASE("cuda grpo_advantages: CUB segmented statistics match seq for uniform groups and offsets") {
    std::mt19937 gen(3);
    std::normal_distribution<double> nd(0, 1);
    std::vector<double> r(4000);
    for (auto& e : r) e = nd(gen);
    r[17] = NAN;
    std::vector<std::int64_t> off{0};
    while (off.back() < 4000) off.push_back(std::min<std::int64_t>(4000, off.back() + static_cast<std::int64_t>(gen() % 9)));
    grpo_options o;
    o.nonfinite = nonfinite_rewards::mask_out;
    device_buffer<double> dr(r), da(r.size());
    device_buffer<std::int64_t> doff(off);
    for (int layout = 0; layout < 2; ++layout) {
      const group_layout g = layout == 0 ? group_layout::uniform(500, 8) : group_layout::from_offsets(off);
      std::vector<double> a(r.size());
      const auto want = grpo_advantages(exec::seq, std::span<const double>(r), g, std::span<double>(a), o);
      device_buffer<unsigned char> ws(mc::grpo_workspace_bytes<double>(g, o));
      const auto got = mc::grpo_advantages(mc::launch{nullptr, ws.p, ws.n, true}, std::span<const double>(dr.p, r.size()),
                                             g, doff.p, da.span(), o);
      CHECK(want.degenerate_groups == got.degenerate_groups);
      CHECK(want.singleton_groups == got.singleton_groups);
      CHECK(want.masked_out == got.masked_out);
      const auto ga = da.host();
      for (std::size_t j = 0; j < r.size(); ++j) CHECK(close(a[j], ga[j], 1e-12));
    }
  }
}
