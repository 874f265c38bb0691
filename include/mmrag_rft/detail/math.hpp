// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/losses.hpp>
// Elementwise math every plan uses (clamps with torch's semantics, the branch-free exponential, the finite test),
// the same in host and device code. Knows no algorithm: the per-token formulas live in their plans.
// Host/device safe: only <cmath>, <cstdint> and <cstring>.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>

namespace mmrag_rft::detail {

/// Finite test without <cmath> classification functions, the same in host and device code and branch-free: x - x
/// is 0 unless x is NaN or infinite.
template <class T>
[[nodiscard]] MMRAG_RFT_HOST_DEVICE constexpr bool finite(T x) noexcept {
  return x - x == T(0);
}

/// torch.clamp(x, min=lo): NaN passes through.
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T clamp_below(T x, T lo) noexcept {
  return x < lo ? lo : x;
}

/// torch.clamp semantics: NaN passes through; the bounds are inclusive.
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T clamp(T x, T lo, T hi) noexcept {
  // Both comparisons always evaluated (no nested ternary): loops calling this vectorise (docs/design.md, GCC 12).
  const T up = clamp_below(x, lo);
  return up > hi ? hi : up;
}

/// Gradient gate of torch.clamp, from the clamp already computed (`clamped = clamp(x, lo, hi)`): 1 inside [lo, hi]
/// (bounds included), 0 outside and for NaN. The clamp leaves x unchanged exactly when x is inside, and NaN equals
/// nothing, so one comparison does what `(x >= lo) & (x <= hi)` does with two and an `and` (the loss kernel is
/// bound by its vector arithmetic).
template <class T>
MMRAG_RFT_HOST_DEVICE constexpr T kept_gate(T x, T clamped) noexcept {
  return clamped == x ? T(1) : T(0);
}

MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE float bits_to_float(std::int32_t i) noexcept {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float f;
  std::memcpy(&f, &i, sizeof f);
  return f;
#endif
}

MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE std::uint32_t float_to_bits(float f) noexcept {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint32_t>(__float_as_int(f));
#else
  std::uint32_t i;
  std::memcpy(&i, &f, sizeof i);
  return i;
#endif
}

/// `vexp` (below) for x already in [-87, 88.7228391] or NaN, as the KL estimators' argument that verl clamps to
/// [-20, 20]: the same value without the clamp and the overflow select, three vector operations fewer.
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE float vexp_in_range(float xc) noexcept {
#if defined(__CUDA_ARCH__)
  return ::expf(xc); // see vexp
#else
  // Round to nearest with the 1.5 * 2^23 shifter instead of std::floor, which is a libm call without SSE4.1 and
  // stops vectorisation (docs/design.md, "Vectorisation with GCC 12").
  constexpr float shifter = 12582912.0f;
  const float shifted = xc * 1.44269504088896341f + shifter;
  const float n = shifted - shifter;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.38146128e-3f;
  p = p * r + 8.36871006e-3f;
  p = p * r + 4.16683890e-2f;
  p = p * r + 1.66665211e-1f;
  p = p * r + 4.99999940e-1f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // n is in [-126, 128] and 2^128 is no float: scale by 2^(n-1), then by 2 (exact). n = -126 gives a zero scale,
  // which is the flush to 0 at the bottom, without a select.
  // The integer n is read from the bits of the shifted sum (1.5 * 2^23 + n is exact), not converted from n: a NaN x
  // makes n NaN, whose conversion to an integer is undefined; its bits only give a NaN result below.
  const std::uint32_t ni = float_to_bits(shifted) - 0x4B400000u;
  const float scale = bits_to_float(static_cast<std::int32_t>((ni + 126u) << 23));
  return (p * scale) * 2.0f;
#endif
}

/// e^x in float with at most 2 ulp error, branch-free so that the CPU loops vectorise without -ffast-math (libm's
/// expf is a call GCC will not vectorise). NaN in, NaN out; above ln(FLT_MAX) +inf; below -125.5 ln 2 (about -86.99,
/// where e^x < 2^-125) 0, so denormals and the smallest normals flush.
/// Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2 (n rounded to nearest), then e^r by a degree-6 polynomial fitted
/// for least maximum relative error on that interval (3e-9; the degree-7 Taylor polynomial it replaced had 6e-9 and
/// cost two more operations; tests/losses checks the 2 ulp over the range).
///
/// On the GPU it is CUDA's own expf, to the same bound (2 ulp; it returns denormals instead of flushing, a
/// difference below 1e-37): a few instructions around the special-function unit's exp2, where this polynomial is a
/// dozen dependent FMAs, and the logit kernels take one exponential per logit they read.
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE float vexp(float x) noexcept {
#if defined(__CUDA_ARCH__)
  return ::expf(x);
#else
  const float y = vexp_in_range(clamp(x, -87.0f, 88.7228391f));
  return x > 88.7228391f ? INFINITY : y;
#endif
}
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE double vexp(double x) noexcept { return std::exp(x); }
MMRAG_RFT_HOST_DEVICE MMRAG_RFT_FORCEINLINE double vexp_in_range(double x) noexcept { return std::exp(x); }

} // namespace mmrag_rft::detail
