// SPDX-License-Identifier: Apache-2.0
// bfloat16 storage type: the bit layout of torch.bfloat16 / __nv_bfloat16, converted to float for all arithmetic.
// Host/device safe: no Eigen, no range-v3 (CUDA translation units include this header).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/detail/math.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace mmrag_rft {

/// A bfloat16 value held as its 16 bits (the upper half of an IEEE float32), the layout of `torch.bfloat16` and
/// CUDA's `__nv_bfloat16`, so a tensor's data pointer can be viewed as `const bfloat16*` without a copy.
///
/// It is a storage type only: the library converts to float on load and rounds (to nearest, ties to even; NaN kept
/// NaN) on store. Trivially copyable, 2 bytes, no arithmetic operators on purpose.
struct bfloat16 {
  std::uint16_t bits = 0;

  /// The value with these 16 bits.
  [[nodiscard]] static MMRAG_RFT_HOST_DEVICE constexpr bfloat16 from_bits(std::uint16_t b) noexcept {
    bfloat16 v;
    v.bits = b;
    return v;
  }
  /// Rounds a float to the nearest bfloat16 (ties to even). NaN stays a quiet NaN of the same sign; +-inf stay inf.
  [[nodiscard]] static MMRAG_RFT_HOST_DEVICE inline bfloat16 from_float(float f) noexcept;
  /// The exact float value (every bfloat16 is a float).
  [[nodiscard]] MMRAG_RFT_HOST_DEVICE inline float to_float() const noexcept;
};
static_assert(sizeof(bfloat16) == 2 && std::is_trivially_copyable_v<bfloat16>);

namespace detail {

/// A logit element the logit kernels accept: float or bfloat16.
template <class L>
inline constexpr bool is_logit_element_v = std::is_same_v<L, float> || std::is_same_v<L, bfloat16>;

MMRAG_RFT_HOST_DEVICE inline float load_float(float x) noexcept { return x; }
MMRAG_RFT_HOST_DEVICE inline float load_float(bfloat16 x) noexcept { return x.to_float(); }
MMRAG_RFT_HOST_DEVICE inline void store_float(float& dst, float v) noexcept { dst = v; }
MMRAG_RFT_HOST_DEVICE inline void store_float(bfloat16& dst, float v) noexcept { dst = bfloat16::from_float(v); }

/// How a row splits for 16-byte accesses: `head` leading elements up to the first 16-byte boundary, then `vectors`
/// whole 16-byte words of 16 / element_size elements each; the rest is the tail. A row whose address is not even a
/// multiple of the element size (never so for a tensor's data) is all head.
struct vector_split {
  std::size_t head = 0, vectors = 0;
};
MMRAG_RFT_HOST_DEVICE inline vector_split split_for_vectors(std::uintptr_t address, std::size_t count,
                                                            std::size_t element_size) noexcept {
  if (address % element_size != 0) return {count, 0};
  const std::size_t lead = ((16 - address % 16) % 16) / element_size;
  const std::size_t head = lead < count ? lead : count;
  return {head, (count - head) / (16 / element_size)};
}

/// The 16 / sizeof(L) elements of one 16-byte word (four little-endian 32-bit words), as float.
template <class L>
MMRAG_RFT_HOST_DEVICE inline void unpack_words(const std::uint32_t (&w)[4], float (&out)[16 / sizeof(L)]) noexcept {
  if constexpr (std::is_same_v<L, float>) {
    for (int k = 0; k < 4; ++k) out[k] = bits_to_float(static_cast<std::int32_t>(w[k]));
  } else {
    for (int k = 0; k < 4; ++k) {
      out[2 * k] = bits_to_float(static_cast<std::int32_t>(w[k] << 16));
      out[2 * k + 1] = bits_to_float(static_cast<std::int32_t>(w[k] & 0xffff0000u));
    }
  }
}

/// N floats stored as G (float, or bfloat16 rounded to nearest even), packed into N * sizeof(G) / 4 little-endian
/// 32-bit words: the payload of one or two vector stores.
template <class G, int N>
MMRAG_RFT_HOST_DEVICE inline void pack_words(const float (&v)[N],
                                             std::uint32_t (&w)[N * static_cast<int>(sizeof(G)) / 4]) noexcept {
  if constexpr (std::is_same_v<G, float>) {
    for (int k = 0; k < N; ++k) w[k] = float_to_bits(v[k]);
  } else {
    static_assert(N % 2 == 0, "bfloat16 pairs fill the 32-bit words");
    for (int k = 0; k < N / 2; ++k)
      w[k] = static_cast<std::uint32_t>(bfloat16::from_float(v[2 * k]).bits) |
             static_cast<std::uint32_t>(bfloat16::from_float(v[2 * k + 1]).bits) << 16;
  }
}

} // namespace detail

MMRAG_RFT_HOST_DEVICE inline float bfloat16::to_float() const noexcept {
  return detail::bits_to_float(static_cast<std::int32_t>(static_cast<std::uint32_t>(bits) << 16));
}

MMRAG_RFT_HOST_DEVICE inline bfloat16 bfloat16::from_float(float f) noexcept {
  const std::uint32_t u = detail::float_to_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return from_bits(static_cast<std::uint16_t>((u >> 16) | 0x0040u)); // quiet NaN
  // Round to nearest even: add 0x7fff plus the lowest kept bit, then truncate (overflow rounds to inf, as it should).
  const std::uint32_t rounded = u + 0x7fffu + ((u >> 16) & 1u);
  return from_bits(static_cast<std::uint16_t>(rounded >> 16));
}

} // namespace mmrag_rft
