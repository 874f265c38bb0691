// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/backends/cuda/all.cuh>
// The per-thread loops of the GPU logit kernels: what thread t of `threads` reads and writes of one row. Host/device,
// so that tests/logits runs them thread by thread on the CPU; the kernels add only the block reduction. No Eigen, no
// range-v3.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>
#include <mmrag_rft/logits/detail/online_softmax.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mmrag_rft::detail {

/// One 16-byte load (an aligned word of 16 / sizeof(L) elements), as float.
template <class L>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE void load_vector(const L* p, float (&out)[16 / sizeof(L)]) noexcept {
  std::uint32_t w[4];
#if defined(__CUDA_ARCH__)
  const uint4 v = *reinterpret_cast<const uint4*>(p);
  w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
#else
  std::memcpy(w, p, sizeof w);
#endif
  unpack_words<L>(w, out);
}

/// Stores W 32-bit words at p (aligned to min(16, 4 W) bytes) with one or two vector stores.
template <int W>
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE void store_words(void* p, const std::uint32_t (&w)[W]) noexcept {
  static_assert(W == 2 || W == 4 || W == 8);
#if defined(__CUDA_ARCH__)
  if constexpr (W == 2) {
    *reinterpret_cast<uint2*>(p) = make_uint2(w[0], w[1]);
  } else {
    auto* q = reinterpret_cast<uint4*>(p);
    q[0] = make_uint4(w[0], w[1], w[2], w[3]);
    if constexpr (W == 8) q[1] = make_uint4(w[4], w[5], w[6], w[7]);
  }
#else
  std::memcpy(p, w, sizeof w);
#endif
}

/// The softmax state thread t of `threads` accumulates over one row of the forward kernel. Vector: the elements
/// before the row's first 16-byte boundary one by one (threads below that count), then whole 16-byte words
/// (thread t takes words t, t + threads, ...; two loads in flight per step), then the trailing elements one by one;
/// otherwise every element one by one (elements t, t + threads, ...). Together the threads read every element once.
template <bool Vector, class L>
MMRAG_RFT_HOST_DEVICE softmax_state thread_softmax_state(const L* row, std::size_t cols, float inv_t, std::size_t t,
                                                         std::size_t threads) noexcept {
  constexpr int N = 16 / sizeof(L);
  const vector_split sp =
      Vector ? split_for_vectors(reinterpret_cast<std::uintptr_t>(row), cols, sizeof(L)) : vector_split{cols, 0};
  softmax_state st;
  for (std::size_t j = t; j < sp.head; j += threads) st = softmax_push(st, load_float(row[j]) * inv_t);
  if constexpr (Vector) {
    const L* body = row + sp.head;
    std::size_t k = t;
    for (; k + threads < sp.vectors; k += 2 * threads) {
      float a[N], b[N];
      load_vector(body + k * N, a);
      load_vector(body + (k + threads) * N, b);
      for (int j = 0; j < N; ++j) a[j] *= inv_t, b[j] *= inv_t;
      st = softmax_push_chunk(softmax_push_chunk(st, a), b);
    }
    if (k < sp.vectors) {
      float a[N];
      load_vector(body + k * N, a);
      for (int j = 0; j < N; ++j) a[j] *= inv_t;
      st = softmax_push_chunk(st, a);
    }
    for (std::size_t j = sp.head + sp.vectors * N + t; j < cols; j += threads)
      st = softmax_push(st, load_float(row[j]) * inv_t);
  }
  return st;
}

/// What thread t of `threads` writes of one gradient row in the backward kernel: dL/dx_j (plus g_lp for the target
/// y), `glp` and `gh` already divided by T. Vector: as the forward reads, with the gradients of each 16-byte word of
/// logits written by vector stores, where the gradient row has the alignment for it (the same decision in every
/// thread: it depends on the row addresses only); otherwise element by element.
template <bool Vector, class L, class G>
MMRAG_RFT_HOST_DEVICE void thread_logit_grads(const L* row, G* grow, std::size_t cols, float inv_t, float lse, float h,
                                              float glp, float gh, std::int64_t y, std::size_t t,
                                              std::size_t threads) noexcept {
  constexpr int N = 16 / sizeof(L);
  constexpr int W = N * static_cast<int>(sizeof(G)) / 4;   // 32-bit words of gradient per 16 bytes of logits
  constexpr std::size_t g_align = W * 4 < 16 ? W * 4 : 16; // what store_words needs
  const auto grad = [&](float x, std::size_t j) {
    const float g = softmax_logit_grad(x * inv_t, lse, h, glp, gh);
    return static_cast<std::int64_t>(j) == y ? g + glp : g;
  };
  vector_split sp{cols, 0};
  if constexpr (Vector) {
    sp = split_for_vectors(reinterpret_cast<std::uintptr_t>(row), cols, sizeof(L));
    if (reinterpret_cast<std::uintptr_t>(grow + sp.head) % g_align != 0) sp = {cols, 0};
  }
  for (std::size_t j = t; j < sp.head; j += threads) store_float(grow[j], grad(load_float(row[j]), j));
  if constexpr (Vector) {
    for (std::size_t k = t; k < sp.vectors; k += threads) {
      const std::size_t j0 = sp.head + k * N;
      float v[N];
      load_vector(row + j0, v);
      for (int j = 0; j < N; ++j) v[j] = grad(v[j], j0 + static_cast<std::size_t>(j));
      std::uint32_t w[W];
      pack_words<G, N>(v, w);
      store_words<W>(grow + j0, w);
    }
    for (std::size_t j = sp.head + sp.vectors * N + t; j < cols; j += threads)
      store_float(grow[j], grad(load_float(row[j]), j));
  }
}

} // namespace mmrag_rft::detail
