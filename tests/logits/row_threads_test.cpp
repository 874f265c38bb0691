// SPDX-License-Identifier: Apache-2.0
// The GPU logit kernels' per-thread loops (logits/detail/row_threads.hpp) run on the CPU, thread by thread: every
// element read once and written once for any alignment, vocabulary and thread count, against exec::seq. The
// kernels themselves add only a block reduction (softmax_merge in a tree), done here in two orders.
#include <mmrag_rft/logits.hpp>
#include <mmrag_rft/logits/detail/row_threads.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <type_traits>
#include <vector>

using namespace mmrag_rft;

// A named namespace: the part's files are compiled as one translation unit (unity build).
namespace row_threads_test {

constexpr float inf = std::numeric_limits<float>::infinity();

// Agreement to `rel` relative, `floor` being the smallest magnitude it is relative to (log-probs and entropies are
// O(1) quantities: their rounding is absolute, about ulp(1)).
bool close(double a, double b, double rel, double floor = 1e-3) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  if (std::isinf(a) || std::isinf(b)) return a == b;
  return std::abs(a - b) <= rel * std::max({std::abs(a), std::abs(b), floor});
}

// A row of `cols` logits starting `offset` elements past a 64-byte boundary (all the alignments a strided row or a
// [:, :-1] slice can have), in storage that outlives the views.
template <class L>
struct shifted_row {
  std::vector<L> storage;
  L* row;
  shifted_row(std::size_t cols, std::size_t offset, std::uint32_t seed) : storage(cols + offset + 64) {
    auto base = reinterpret_cast<std::uintptr_t>(storage.data());
    const std::size_t skip = ((64 - base % 64) % 64) / sizeof(L) + offset;
    row = storage.data() + skip;
    std::mt19937 gen(seed);
    std::normal_distribution<float> d(0.0f, 3.0f);
    for (std::size_t j = 0; j < cols; ++j) {
      if constexpr (std::is_same_v<L, float>) row[j] = d(gen);
      else row[j] = bfloat16::from_float(d(gen));
    }
  }
};

template <bool Vector, class L>
detail::softmax_state threads_state(const L* row, std::size_t cols, float inv_t, std::size_t threads, bool tree) {
  std::vector<detail::softmax_state> part(threads);
  for (std::size_t t = 0; t < threads; ++t)
    part[t] = detail::thread_softmax_state<Vector>(row, cols, inv_t, t, threads);
  if (!tree) {
    detail::softmax_state st;
    for (const auto& p : part) st = detail::softmax_merge(st, p);
    return st;
  }
  for (std::size_t w = 1; w < threads; w *= 2) // pairwise, as a block reduction does
    for (std::size_t t = 0; t + w < threads; t += 2 * w) part[t] = detail::softmax_merge(part[t], part[t + w]);
  return part[0];
}

template <class L>
void check_forward(std::size_t cols, std::size_t offset, std::size_t threads) {
  const shifted_row<L> r(cols, offset, static_cast<std::uint32_t>(cols * 31 + offset));
  std::vector<float> lp(1), ent(1), lse(1);
  const std::vector<std::int64_t> y{static_cast<std::int64_t>(cols / 2)};
  const float inv_t = 1.0f / 0.8f;
  token_logprobs_and_entropy(matrix_view<const L>(r.row, 1, cols), y, {lp, ent, lse}, {0.8});
  for (const bool vector : {true, false})
    for (const bool tree : {true, false}) {
      const detail::softmax_state st = vector ? threads_state<true>(r.row, cols, inv_t, threads, tree)
                                              : threads_state<false>(r.row, cols, inv_t, threads, tree);
      INFO("vector " << vector << " tree " << tree);
      CHECK(close(detail::softmax_lse(st), lse[0], 1e-6, 1.0));
      CHECK(close(detail::softmax_entropy(st), ent[0], 1e-5, 1.0));
      CHECK(close(detail::softmax_log_prob(st, detail::load_float(r.row[y[0]]) * inv_t), lp[0], 1e-5, 1.0));
    }
}

template <class L, class G>
void check_backward(std::size_t cols, std::size_t offset, std::size_t g_offset, std::size_t threads) {
  const shifted_row<L> r(cols, offset, static_cast<std::uint32_t>(cols * 17 + offset));
  std::vector<float> lp(1), ent(1), lse(1);
  const std::int64_t y = static_cast<std::int64_t>(cols - 1);
  const std::vector<std::int64_t> ys{y};
  token_logprobs_and_entropy(matrix_view<const L>(r.row, 1, cols), ys, {lp, ent, lse}, {1.3});
  const std::vector<float> glp{0.6f}, gh{-0.4f};
  shifted_row<G> want(cols, g_offset, 1), got(cols, g_offset, 1);
  token_logprobs_and_entropy_backward(matrix_view<const L>(r.row, 1, cols), ys, {lse, ent, glp, gh},
                                      matrix_view<G>(want.row, 1, cols), {1.3});
  const float inv_t = static_cast<float>(1.0 / 1.3);
  for (const bool vector : {true, false}) {
    INFO("vector " << vector);
    G poison; // a NaN whose bits no gradient has
    if constexpr (std::is_same_v<G, float>) poison = std::bit_cast<float>(0xffffffffu);
    else poison = bfloat16::from_bits(0xffff);
    for (auto& e : got.storage) e = poison;
    for (std::size_t t = 0; t < threads; ++t) {
      if (vector)
        detail::thread_logit_grads<true>(r.row, got.row, cols, inv_t, lse[0], ent[0], glp[0] * inv_t, gh[0] * inv_t, y,
                                         t, threads);
      else
        detail::thread_logit_grads<false>(r.row, got.row, cols, inv_t, lse[0], ent[0], glp[0] * inv_t, gh[0] * inv_t, y,
                                          t, threads);
    }
    std::size_t bad = 0, outside = 0;
    const double rel = std::is_same_v<G, float> ? 1e-5 : 1.0 / 128; // a bfloat16 rounding, the ulp at most
    for (std::size_t j = 0; j < cols; ++j)
      bad += !close(detail::load_float(want.row[j]), detail::load_float(got.row[j]), rel);
    for (const G* p = got.storage.data(); p < got.storage.data() + got.storage.size(); ++p)
      if (p < got.row || p >= got.row + cols) outside += std::memcmp(p, &poison, sizeof poison) != 0;
    CHECK(bad == 0);
    CHECK(outside == 0); // nothing written outside the row
  }
}

} // namespace row_threads_test

using row_threads_test::check_backward;
using row_threads_test::check_forward;
using row_threads_test::close;

TEST_SUITE("logits") {
TEST_CASE("gpu row loops: a row splits into head, 16-byte words and tail for any address") {
  CHECK(detail::split_for_vectors(64, 100, 2).head == 0);
  CHECK(detail::split_for_vectors(64, 100, 2).vectors == 12);
  CHECK(detail::split_for_vectors(66, 100, 2).head == 7);
  CHECK(detail::split_for_vectors(66, 100, 2).vectors == 11);
  CHECK(detail::split_for_vectors(68, 3, 4).head == 3); // fewer elements than the way to the boundary
  CHECK(detail::split_for_vectors(68, 3, 4).vectors == 0);
  CHECK(detail::split_for_vectors(65, 100, 2).head == 100); // not even element-aligned: all one by one
  CHECK(detail::split_for_vectors(65, 100, 2).vectors == 0);
}

TEST_CASE("gpu row loops: 16-byte words unpack and pack as element loads and stores do") {
  std::vector<bfloat16> b(8);
  for (int k = 0; k < 8; ++k)
    b[static_cast<std::size_t>(k)] = bfloat16::from_float(1.5f * static_cast<float>(k) - 4.1f);
  std::uint32_t w[4];
  std::memcpy(w, b.data(), 16);
  float f[8];
  detail::unpack_words<bfloat16>(w, f);
  for (int k = 0; k < 8; ++k) CHECK(f[k] == b[static_cast<std::size_t>(k)].to_float());
  const float v[4] = {1.00390625f, -3.3f, 1e30f, std::numeric_limits<float>::quiet_NaN()};
  std::uint32_t p[2];
  detail::pack_words<bfloat16, 4>(v, p);
  bfloat16 out[4];
  std::memcpy(out, p, sizeof out);
  for (int k = 0; k < 4; ++k) CHECK(out[k].bits == bfloat16::from_float(v[k]).bits);
  std::uint32_t q[4];
  detail::pack_words<float, 4>(v, q);
  float back[4];
  detail::unpack_words<float>(q, back);
  for (int k = 0; k < 3; ++k) CHECK(back[k] == v[k]);
  CHECK(std::isnan(back[3]));
}

TEST_CASE("gpu row loops: softmax_push_chunk equals one push per logit, -inf, NaN and +inf included") {
  constexpr float inf = row_threads_test::inf;
  const std::vector<std::vector<float>> chunks{{0.5f, -1.0f, 3.0f, 2.0f},
                                               {-inf, -inf, -inf, -inf},
                                               {9.0f, -inf, 8.5f, -20.0f},
                                               {-100.0f, -101.0f, -inf, -99.0f}};
  detail::softmax_state a, b;
  for (const auto& c : chunks) {
    float z[4];
    for (int j = 0; j < 4; ++j) z[j] = c[static_cast<std::size_t>(j)];
    a = detail::softmax_push_chunk(a, z);
    for (float e : c) b = detail::softmax_push(b, e);
    CHECK(close(a.m, b.m, 0));
    CHECK(close(a.s, b.s, 1e-6));
    CHECK(close(a.q, b.q, 1e-6));
  }
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), inf}) {
    float z[4] = {1.0f, bad, 0.0f, -inf};
    const detail::softmax_state st = detail::softmax_push_chunk(a, z);
    CHECK(std::isnan(detail::softmax_entropy(st)));
    CHECK(std::isnan(detail::softmax_lse(st))); // +inf - +inf: NaN, as on the CPU and in PyTorch
  }
  float masked[4] = {-inf, -inf, -inf, -inf};
  const detail::softmax_state none = detail::softmax_push_chunk(detail::softmax_state{}, masked);
  CHECK(none.s == 0.0f); // the identity: probability 0 everywhere
}

TEST_CASE("gpu row loops: the forward's threads together give exec::seq's statistics") {
  for (const std::size_t cols :
       {std::size_t{1}, std::size_t{7}, std::size_t{8}, std::size_t{9}, std::size_t{100}, std::size_t{3001}})
    for (const std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{6}})
      for (const std::size_t threads : {std::size_t{1}, std::size_t{3}, std::size_t{32}, std::size_t{512}}) {
        CAPTURE(cols);
        CAPTURE(offset);
        CAPTURE(threads);
        check_forward<bfloat16>(cols, offset, threads);
        check_forward<float>(cols, offset, threads);
      }
}

TEST_CASE("gpu row loops: the backward's threads write every gradient once and nothing else") {
  for (const std::size_t cols : {std::size_t{1}, std::size_t{9}, std::size_t{100}, std::size_t{3001}})
    for (const std::size_t offset : {std::size_t{0}, std::size_t{1}, std::size_t{5}})
      for (const std::size_t g_offset : {std::size_t{0}, std::size_t{2}})
        for (const std::size_t threads : {std::size_t{1}, std::size_t{32}, std::size_t{512}}) {
          CAPTURE(cols);
          CAPTURE(offset);
          CAPTURE(g_offset);
          CAPTURE(threads);
          check_backward<bfloat16, bfloat16>(cols, offset, g_offset, threads);
          check_backward<bfloat16, float>(cols, offset, g_offset, threads);
          check_backward<float, float>(cols, offset, g_offset, threads);
          check_backward<float, bfloat16>(cols, offset, g_offset, threads);
        }
}
} // TEST_SUITE("logits")
