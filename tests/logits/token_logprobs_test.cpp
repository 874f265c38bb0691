// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/logits.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <vector>

using namespace mmrag_rft;

namespace {

constexpr float inf = std::numeric_limits<float>::infinity();

struct ref_row {
  double lse, logp, entropy;
};

// Float64 reference: the formulation PyTorch users write, log_softmax(x / T).gather(y) and -(p log p).sum().
ref_row reference(const float* x, std::size_t v, std::int64_t y, double t) {
  double m = -std::numeric_limits<double>::infinity();
  for (std::size_t j = 0; j < v; ++j) m = std::max(m, static_cast<double>(x[j]) / t);
  double s = 0;
  for (std::size_t j = 0; j < v; ++j) s += std::exp(static_cast<double>(x[j]) / t - m);
  const double lse = m + std::log(s);
  double h = 0;
  for (std::size_t j = 0; j < v; ++j) {
    const double lp = static_cast<double>(x[j]) / t - lse;
    if (std::isfinite(lp)) h -= std::exp(lp) * lp;
  }
  return {lse, static_cast<double>(x[static_cast<std::size_t>(y)]) / t - lse, h};
}

struct batch {
  std::size_t n, v;
  std::vector<float> x;
  std::vector<std::int64_t> y;
  batch(std::size_t rows, std::size_t cols, std::uint32_t seed, float scale = 3.0f)
      : n(rows), v(cols), x(rows * cols), y(rows) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> d(0.0f, scale);
    for (auto& e : x) e = d(gen);
    std::uniform_int_distribution<std::int64_t> tok(0, static_cast<std::int64_t>(cols) - 1);
    for (auto& e : y) e = tok(gen);
  }
  [[nodiscard]] matrix_view<const float> view() const { return {x.data(), n, v}; }
};

struct outputs {
  std::vector<float> logp, ent, lse;
  explicit outputs(std::size_t n) : logp(n), ent(n), lse(n) {}
  [[nodiscard]] token_logprobs_outputs spans() { return {logp, ent, lse}; }
};

// dL/dx by central differences of the float64 reference, L = a logp + b H (one row).
std::vector<double> finite_difference_grad(std::vector<float> x, std::int64_t y, double t, double a, double b) {
  std::vector<double> g(x.size());
  std::vector<double> xd(x.begin(), x.end());
  auto loss = [&](const std::vector<double>& z) {
    std::vector<float> dummy; // reference() takes float; recompute in double here instead
    double m = -INFINITY;
    for (double e : z) m = std::max(m, e / t);
    double s = 0;
    for (double e : z) s += std::exp(e / t - m);
    const double lse = m + std::log(s);
    double h = 0;
    for (double e : z) h -= std::exp(e / t - lse) * (e / t - lse);
    return a * (z[static_cast<std::size_t>(y)] / t - lse) + b * h;
  };
  const double eps = 1e-5;
  for (std::size_t j = 0; j < x.size(); ++j) {
    auto up = xd, dn = xd;
    up[j] += eps, dn[j] -= eps;
    g[j] = (loss(up) - loss(dn)) / (2 * eps);
  }
  return g;
}

// Each test that computes values runs every CPU version (baseline, AVX2, AVX-512) this machine has: lowering
// `max_cpu_isa` makes the kernels pick an older one. The scope puts the default back even when a check throws.
constexpr detail::cpu_isa all_isas[] = {detail::cpu_isa::baseline, detail::cpu_isa::avx2, detail::cpu_isa::avx512};
struct isa_scope {
  explicit isa_scope(detail::cpu_isa isa) { detail::max_cpu_isa = isa; }
  ~isa_scope() { detail::max_cpu_isa = detail::cpu_isa::avx512; }
  isa_scope(const isa_scope&) = delete;
  isa_scope& operator=(const isa_scope&) = delete;
};

} // namespace

TEST_SUITE("logits") {
TEST_CASE("token_logprobs_and_entropy: matches a float64 reference at several temperatures") {
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    INFO("isa " << static_cast<int>(isa));
    for (double t : {1.0, 0.7, 1.3}) {
      const batch b(37, 3001, 1, 4.0f);
      outputs o(b.n);
      token_logprobs_and_entropy(b.view(), b.y, o.spans(), {t});
      for (std::size_t i = 0; i < b.n; ++i) {
        const ref_row r = reference(b.x.data() + i * b.v, b.v, b.y[i], t);
        CHECK(o.logp[i] == doctest::Approx(r.logp).epsilon(1e-5).scale(1.0));
        CHECK(o.ent[i] == doctest::Approx(r.entropy).epsilon(1e-5).scale(1.0));
        CHECK(o.lse[i] == doctest::Approx(r.lse).epsilon(1e-6));
      }
    }
  }
}

TEST_CASE("token_logprobs_and_entropy: par gives bitwise the results of seq") {
  const batch b(300, 2500, 2);
  outputs s(b.n), p(b.n);
  token_logprobs_and_entropy(exec::seq, b.view(), b.y, s.spans());
  token_logprobs_and_entropy(exec::par.with_threads(2), b.view(), b.y, p.spans());
  CHECK(s.logp == p.logp);
  CHECK(s.ent == p.ent);
  CHECK(s.lse == p.lse);
}

TEST_CASE("token_logprobs_and_entropy: bfloat16 logits give the float results of the same values") {
  batch b(9, 1500, 3);
  std::vector<bfloat16> xb(b.x.size());
  for (std::size_t k = 0; k < b.x.size(); ++k) {
    xb[k] = bfloat16::from_float(b.x[k]);
    b.x[k] = xb[k].to_float();
  }
  outputs f(b.n), h(b.n);
  token_logprobs_and_entropy(b.view(), b.y, f.spans());
  token_logprobs_and_entropy(matrix_view<const bfloat16>(xb.data(), b.n, b.v), b.y, h.spans());
  CHECK(f.logp == h.logp);
  CHECK(f.ent == h.ent);
}

TEST_CASE("token_logprobs_and_entropy: strided rows read only their columns") {
  const batch b(5, 64, 4);
  std::vector<float> wide(b.n * 70, std::numeric_limits<float>::quiet_NaN());
  for (std::size_t i = 0; i < b.n; ++i)
    for (std::size_t j = 0; j < b.v; ++j) wide[i * 70 + j] = b.x[i * b.v + j];
  outputs dense(b.n), strided(b.n);
  token_logprobs_and_entropy(b.view(), b.y, dense.spans());
  token_logprobs_and_entropy(matrix_view<const float>(wide.data(), b.n, b.v, 70), b.y, strided.spans());
  CHECK(dense.logp == strided.logp);
  CHECK(dense.ent == strided.ent);
}

TEST_CASE("token_logprobs_and_entropy: vocabulary of one gives logp 0 and entropy 0") {
  const std::vector<float> x{5.0f, -3.0f};
  const std::vector<std::int64_t> y{0, 0};
  outputs o(2);
  token_logprobs_and_entropy(matrix_view<const float>(x.data(), 2, 1), y, o.spans());
  CHECK(o.logp == std::vector<float>{0.0f, 0.0f});
  CHECK(o.ent == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("token_logprobs_and_entropy: -inf logits have probability 0 and a -inf chosen token gets -inf") {
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    INFO("isa " << static_cast<int>(isa));
    // Row 0 is log([0.25, 0, 0.75]) with the masked entry as -inf (a top-k / vocabulary mask).
    const std::vector<float> x{std::log(0.25f), -inf, std::log(0.75f), std::log(0.25f), -inf, std::log(0.75f)};
    const std::vector<std::int64_t> y{2, 1};
    outputs o(2);
    token_logprobs_and_entropy(matrix_view<const float>(x.data(), 2, 3), y, o.spans());
    CHECK(o.logp[0] == doctest::Approx(std::log(0.75)).epsilon(1e-6));
    CHECK(o.ent[0] == doctest::Approx(-(0.25 * std::log(0.25) + 0.75 * std::log(0.75))).epsilon(1e-6));
    CHECK(o.logp[1] == -inf);
    CHECK(o.ent[1] == doctest::Approx(o.ent[0]));
  }
}

TEST_CASE("token_logprobs_and_entropy: a row of only -inf logits or with a NaN gives NaN, like PyTorch") {
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    INFO("isa " << static_cast<int>(isa));
    const std::vector<float> x{-inf, -inf, 1.0f, std::numeric_limits<float>::quiet_NaN()};
    const std::vector<std::int64_t> y{0, 0};
    outputs o(2);
    token_logprobs_and_entropy(matrix_view<const float>(x.data(), 2, 2), y, o.spans());
    CHECK(std::isnan(o.logp[0]));
    CHECK(std::isnan(o.ent[0]));
    CHECK(std::isnan(o.ent[1]));
  }
}

TEST_CASE("token_logprobs_and_entropy: huge logits neither overflow nor lose the distribution") {
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    INFO("isa " << static_cast<int>(isa));
    // Shifting every logit by a constant changes nothing in exact arithmetic; at 1e30 float spacing is coarse, so use
    // values that are exact: a spread of 1, 2, 3 on top of 2^100.
    const float big = std::ldexp(1.0f, 100);
    const std::vector<float> x{1e30f, -1e30f, 3e38f, 3e38f, big, big};
    const std::vector<std::int64_t> y{0, 1, 0};
    outputs o(3);
    token_logprobs_and_entropy(matrix_view<const float>(x.data(), 3, 2), y, o.spans());
    CHECK(o.logp[0] == 0.0f);
    CHECK(o.ent[0] == 0.0f);
    CHECK(o.logp[1] == doctest::Approx(-std::log(2.0)));
    CHECK(o.ent[1] == doctest::Approx(std::log(2.0)));
    CHECK(o.logp[2] == doctest::Approx(-std::log(2.0)));
  }
}

TEST_CASE("token_logprobs_and_entropy: every CPU version gives the baseline's results (bitwise if ISA_BITWISE)") {
  // Vocabularies with whole blocks, a partial block, a partial lane and a single element; float and bfloat16
  // logits; forward and backward with float and bfloat16 gradients.
  for (const std::size_t v : {std::size_t{1}, std::size_t{17}, std::size_t{2048}, std::size_t{5000}}) {
    CAPTURE(v);
    const batch b(6, v, 11, 5.0f);
    std::vector<bfloat16> xb(b.x.size());
    for (std::size_t k = 0; k < b.x.size(); ++k) xb[k] = bfloat16::from_float(b.x[k]);
    const matrix_view<const bfloat16> vb(xb.data(), b.n, b.v);
    const std::vector<float> glp{1.0f, -0.5f, 0.0f, 2.0f, 0.25f, -1.0f}, gh{0.3f, 0.0f, -1.0f, 0.7f, 0.1f, 2.0f};
    struct result {
      outputs f{6}, h{6};
      std::vector<float> g;
      std::vector<bfloat16> gb;
    };
    auto run = [&](detail::cpu_isa isa) {
      const isa_scope scope(isa);
      result r;
      token_logprobs_and_entropy(b.view(), b.y, r.f.spans(), {0.9});
      token_logprobs_and_entropy(vb, b.y, r.h.spans(), {0.9});
      r.g.resize(b.x.size());
      r.gb.resize(b.x.size());
      token_logprobs_and_entropy_backward(b.view(), b.y, {r.f.lse, r.f.ent, glp, gh},
                                          matrix_view<float>(r.g.data(), b.n, b.v), {0.9});
      token_logprobs_and_entropy_backward(vb, b.y, {r.h.lse, r.h.ent, glp, gh},
                                          matrix_view<bfloat16>(r.gb.data(), b.n, b.v), {0.9});
      return r;
    };
    const result base = run(detail::cpu_isa::baseline);
    for (const auto isa : {detail::cpu_isa::avx2, detail::cpu_isa::avx512}) {
      INFO("isa " << static_cast<int>(isa));
      const result r = run(isa);
#if defined(MMRAG_RFT_ISA_BITWISE)
      CHECK(r.f.logp == base.f.logp);
      CHECK(r.f.ent == base.f.ent);
      CHECK(r.f.lse == base.f.lse);
      CHECK(r.h.logp == base.h.logp);
      CHECK(r.g == base.g);
      std::size_t off = 0;
      for (std::size_t k = 0; k < r.gb.size(); ++k) off += r.gb[k].bits != base.gb[k].bits;
      CHECK(off == 0);
#else
      // Fused multiply-adds in the AVX2 / AVX-512 versions: rounding apart, no more.
      for (std::size_t i = 0; i < b.n; ++i) {
        CHECK(r.f.logp[i] == doctest::Approx(base.f.logp[i]).epsilon(1e-6).scale(1.0));
        CHECK(r.f.ent[i] == doctest::Approx(base.f.ent[i]).epsilon(1e-6).scale(1.0));
        CHECK(r.f.lse[i] == doctest::Approx(base.f.lse[i]).epsilon(1e-6));
        CHECK(r.h.logp[i] == doctest::Approx(base.h.logp[i]).epsilon(1e-6).scale(1.0));
      }
      // The gradient inherits the rounding of lse through p = e^(z - lse) and then cancels (g_lp p against
      // g_H p (log p + H)): 4e-6 relative was the largest difference seen.
      std::size_t off = 0;
      for (std::size_t k = 0; k < r.g.size(); ++k)
        off += std::abs(r.g[k] - base.g[k]) > 1e-5f * std::max(1e-3f, std::abs(base.g[k]));
      CHECK(off == 0);
#endif
    }
  }
}

TEST_CASE("token_logprobs_and_entropy: a NaN or +inf anywhere in a wide row gives NaN at every CPU version") {
  // Positions: the first lane, the last element of a block, inside the second block, the partial lane at the end;
  // also a NaN in a block whose other logits are all -inf (a vocabulary mask), which the lane max skips.
  const std::size_t v = 5000;
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    for (const float bad : {std::numeric_limits<float>::quiet_NaN(), inf})
      for (const std::size_t at : {std::size_t{0}, std::size_t{2047}, std::size_t{3001}, std::size_t{4999}})
        for (const bool masked_block : {false, true}) {
          INFO("isa " << static_cast<int>(isa) << " value " << bad << " at " << at << " masked " << masked_block);
          batch b(1, v, 12);
          if (masked_block) {
            const std::size_t start = at / detail::softmax_block * detail::softmax_block;
            std::fill(b.x.begin() + static_cast<std::ptrdiff_t>(start),
                      b.x.begin() + static_cast<std::ptrdiff_t>(std::min(v, start + detail::softmax_block)), -inf);
          }
          b.x[at] = bad;
          b.y[0] = at == 0 ? 1 : 0;
          outputs o(1);
          token_logprobs_and_entropy(b.view(), b.y, o.spans());
          CHECK(std::isnan(o.logp[0]));
          CHECK(std::isnan(o.ent[0]));
        }
  }
}

TEST_CASE("token_logprobs_and_entropy: a block of only -inf logits between finite ones counts for nothing") {
  batch b(2, 5000, 13);
  std::fill(b.x.begin(), b.x.begin() + 2048, -inf);                      // row 0: its first block
  std::fill(b.x.begin() + 5000 + 2048, b.x.begin() + 5000 + 4096, -inf); // row 1: its middle block
  b.y = {2100, 10};
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    INFO("isa " << static_cast<int>(isa));
    outputs o(b.n);
    token_logprobs_and_entropy(b.view(), b.y, o.spans());
    for (std::size_t i = 0; i < b.n; ++i) {
      const ref_row r = reference(b.x.data() + i * b.v, b.v, b.y[i], 1.0);
      CHECK(o.logp[i] == doctest::Approx(r.logp).epsilon(1e-5).scale(1.0));
      CHECK(o.ent[i] == doctest::Approx(r.entropy).epsilon(1e-5).scale(1.0));
    }
  }
}

TEST_CASE("token_logprobs_and_entropy: a bad temperature or token id throws mmrag_rft::error") {
  const batch b(3, 10, 5);
  outputs o(b.n);
  for (double t : {0.0, -1.0, std::nan(""), std::numeric_limits<double>::infinity()})
    CHECK_THROWS_AS(token_logprobs_and_entropy(b.view(), b.y, o.spans(), {t}), mmrag_rft::error);
  std::vector<std::int64_t> y = b.y;
  y[2] = 10;
  try {
    token_logprobs_and_entropy(b.view(), y, o.spans());
    FAIL("expected an error");
  } catch (const mmrag_rft::error& e) {
    CHECK(e.argument() == "tokens");
    CHECK(e.index() == 2);
  }
  y[2] = -1;
  CHECK_THROWS_AS(token_logprobs_and_entropy(b.view(), y, o.spans()), mmrag_rft::error);
  y.pop_back();
  CHECK_THROWS_AS(token_logprobs_and_entropy(b.view(), y, o.spans()), mmrag_rft::error);
  CHECK_THROWS_AS(token_logprobs_and_entropy(matrix_view<const float>(b.x.data(), 3, 0), b.y, o.spans()),
                  mmrag_rft::error);
  std::vector<float> small(2);
  CHECK_THROWS_AS(token_logprobs_and_entropy(b.view(), b.y, {small}), mmrag_rft::error);
}

TEST_CASE("token_logprobs_and_entropy: an empty batch does nothing") {
  token_logprobs_and_entropy(matrix_view<const float>(nullptr, 0, 0), std::span<const std::int64_t>{},
                             token_logprobs_outputs{});
  CHECK(true);
}

TEST_CASE("token_logprobs_and_entropy_backward: matches finite differences of the float64 reference") {
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    INFO("isa " << static_cast<int>(isa));
    const double t = 0.8;
    const batch b(4, 7, 6);
    outputs o(b.n);
    token_logprobs_and_entropy(b.view(), b.y, o.spans(), {t});
    const std::vector<float> glp{1.0f, -0.5f, 0.0f, 2.0f}, gh{0.3f, 0.0f, -1.0f, 0.7f};
    std::vector<float> g(b.x.size());
    token_logprobs_and_entropy_backward(b.view(), b.y, {o.lse, o.ent, glp, gh}, matrix_view<float>(g.data(), b.n, b.v),
                                        {t});
    for (std::size_t i = 0; i < b.n; ++i) {
      const std::vector<float> row(b.x.begin() + static_cast<std::ptrdiff_t>(i * b.v),
                                   b.x.begin() + static_cast<std::ptrdiff_t>((i + 1) * b.v));
      const auto fd = finite_difference_grad(row, b.y[i], t, glp[i], gh[i]);
      for (std::size_t j = 0; j < b.v; ++j) CHECK(g[i * b.v + j] == doctest::Approx(fd[j]).epsilon(1e-4).scale(1.0));
    }
  }
}

TEST_CASE("token_logprobs_and_entropy_backward: a large vocabulary matches the analytic float64 gradient") {
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    INFO("isa " << static_cast<int>(isa));
    const batch b(3, 5000, 7);
    outputs o(b.n);
    token_logprobs_and_entropy(b.view(), b.y, o.spans());
    const std::vector<float> glp{1.0f, -2.0f, 0.5f}, gh{-0.1f, 0.4f, 1.0f};
    std::vector<float> g(b.x.size());
    std::vector<bfloat16> gb(b.x.size());
    token_logprobs_and_entropy_backward(exec::par, b.view(), b.y, {o.lse, o.ent, glp, gh},
                                        matrix_view<float>(g.data(), b.n, b.v));
    token_logprobs_and_entropy_backward(b.view(), b.y, {o.lse, o.ent, glp, gh},
                                        matrix_view<bfloat16>(gb.data(), b.n, b.v));
    for (std::size_t i = 0; i < b.n; ++i) {
      const ref_row r = reference(b.x.data() + i * b.v, b.v, b.y[i], 1.0);
      for (std::size_t j = 0; j < b.v; ++j) {
        const double lp = static_cast<double>(b.x[i * b.v + j]) - r.lse, p = std::exp(lp);
        const double want = glp[i] * ((j == static_cast<std::size_t>(b.y[i])) - p) - gh[i] * p * (lp + r.entropy);
        CHECK(g[i * b.v + j] == doctest::Approx(want).epsilon(1e-4).scale(1e-3));
        CHECK(gb[i * b.v + j].to_float() == doctest::Approx(g[i * b.v + j]).epsilon(1.0 / 128).scale(1e-30));
      }
    }
  }
}

TEST_CASE("token_logprobs_and_entropy_backward: -inf logits get gradient 0 and empty upstream gradients mean 0") {
  for (const auto isa : all_isas) {
    const isa_scope scope(isa);
    INFO("isa " << static_cast<int>(isa));
    const std::vector<float> x{0.0f, -inf, 1.0f};
    const std::vector<std::int64_t> y{2};
    outputs o(1);
    token_logprobs_and_entropy(matrix_view<const float>(x.data(), 1, 3), y, o.spans());
    std::vector<float> g(3, 99.0f);
    const std::vector<float> gh{1.0f};
    token_logprobs_and_entropy_backward(matrix_view<const float>(x.data(), 1, 3), y, {o.lse, o.ent, {}, gh},
                                        matrix_view<float>(g.data(), 1, 3));
    CHECK(g[1] == 0.0f);
    CHECK(std::isfinite(g[0]));
    CHECK(g[0] + g[2] == doctest::Approx(0.0).scale(1.0)); // softmax gradients sum to 0
    token_logprobs_and_entropy_backward(matrix_view<const float>(x.data(), 1, 3), y, {o.lse, {}, {}, {}},
                                        matrix_view<float>(g.data(), 1, 3));
    CHECK(g == std::vector<float>{0.0f, 0.0f, 0.0f});
  }
}

TEST_CASE("token_logprobs_and_entropy_backward: missing lse or entropy throws mmrag_rft::error") {
  const batch b(2, 4, 8);
  std::vector<float> g(b.x.size()), lse(2), gh(2, 1.0f);
  CHECK_THROWS_AS(
      token_logprobs_and_entropy_backward(b.view(), b.y, {{}, {}, {}, {}}, matrix_view<float>(g.data(), b.n, b.v)),
      mmrag_rft::error);
  CHECK_THROWS_AS(
      token_logprobs_and_entropy_backward(b.view(), b.y, {lse, {}, {}, gh}, matrix_view<float>(g.data(), b.n, b.v)),
      mmrag_rft::error);
  CHECK_THROWS_AS(
      token_logprobs_and_entropy_backward(b.view(), b.y, {lse, {}, {}, {}}, matrix_view<float>(g.data(), b.n, b.v - 1)),
      mmrag_rft::error);
}
} // TEST_SUITE("logits")
