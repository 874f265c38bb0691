// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/logits.hpp>

#include <doctest/doctest.h>

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
  batch(std::size_t rows, std::size_t cols, std::uint32_t seed, float scale = 3.0f) : n(rows), v(cols), x(rows * cols), y(rows) {
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

} // namespace

TEST_SUITE("logits") {
  TEST_CASE("token_logprobs_and_entropy: matches a float64 reference at several temperatures") {
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

  TEST_CASE("token_logprobs_and_entropy: a row of only -inf logits or with a NaN gives NaN, like PyTorch") {
    const std::vector<float> x{-inf, -inf, 1.0f, std::numeric_limits<float>::quiet_NaN()};
    const std::vector<std::int64_t> y{0, 0};
    outputs o(2);
    token_logprobs_and_entropy(matrix_view<const float>(x.data(), 2, 2), y, o.spans());
    CHECK(std::isnan(o.logp[0]));
    CHECK(std::isnan(o.ent[0]));
    CHECK(std::isnan(o.ent[1]));
  }

  TEST_CASE("token_logprobs_and_entropy: huge logits neither overflow nor lose the distribution") {
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

  TEST_CASE("token_logprobs_and_entropy_backward: a large vocabulary matches the analytic float64 gradient") {
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

  TEST_CASE("token_logprobs_and_entropy_backward: -inf logits get gradient 0 and empty upstream gradients mean 0") {
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

  TEST_CASE("token_logprobs_and_entropy_backward: missing lse or entropy throws mmrag_rft::error") {
    const batch b(2, 4, 8);
    std::vector<float> g(b.x.size()), lse(2), gh(2, 1.0f);
    CHECK_THROWS_AS(token_logprobs_and_entropy_backward(b.view(), b.y, {{}, {}, {}, {}},
                                                        matrix_view<float>(g.data(), b.n, b.v)),
                    mmrag_rft::error);
    CHECK_THROWS_AS(token_logprobs_and_entropy_backward(b.view(), b.y, {lse, {}, {}, gh},
                                                        matrix_view<float>(g.data(), b.n, b.v)),
                    mmrag_rft::error);
    CHECK_THROWS_AS(token_logprobs_and_entropy_backward(b.view(), b.y, {lse, {}, {}, {}},
                                                        matrix_view<float>(g.data(), b.n, b.v - 1)),
                    mmrag_rft::error);
  }
}
