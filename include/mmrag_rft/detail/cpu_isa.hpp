// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/losses.hpp> or <mmrag_rft/advantages.hpp>
// Which instruction-set version of a hot CPU kernel to run. Host code only (never reached by nvcc's device pass).
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstdint>

namespace mmrag_rft::detail {

// Runtime ISA dispatch (GCC on x86-64, host code only). A header-only library cannot know the consumer's
// -march, and the default x86-64 baseline (SSE2, 16 xmm registers, no FMA) runs the fused policy-loss loop several
// times slower than AVX-512 on the same machine (docs/performance.md). So hot kernels are also compiled, through
// `target` attributes on thin wrappers around one force-inlined body, for AVX2+FMA and AVX-512, and the best one the
// CPU supports is chosen once per call with __builtin_cpu_supports. GCC only.
//
// Contraction. The versions of the arithmetic-bound kernels (the policy loss, the logit kernels) contract a * b + c
// into fused multiply-adds (MMRAG_RFT_DETAIL_FAST_CONTRACT): FMA made the loss 8-27% faster at 1M tokens
// (docs/performance.md). Their values then differ from the baseline build's and the Thrust backend's by rounding
// (a few ulp; tests/losses and tests/logits bound it); `seq` and `par` on one machine still agree bitwise. Define
// MMRAG_RFT_ISA_BITWISE to compile every version without contraction, so that every value is exactly the baseline
// build's on any CPU (tests/losses_bitwise and tests/logits_bitwise check it), as MKL's conditional numerical reproducibility does; the
// GRPO versions (memory-bound, nothing to gain) always are (MMRAG_RFT_DETAIL_NO_CONTRACT). Every translation
// unit of a program must see the same setting. Define MMRAG_RFT_NO_ISA_DISPATCH to compile only the baseline.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && !defined(__CUDACC__) &&                         \
    !defined(__NVCOMPILER) && !defined(MMRAG_RFT_NO_ISA_DISPATCH)
#define MMRAG_RFT_DETAIL_ISA_DISPATCH() 1
#define MMRAG_RFT_DETAIL_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#if defined(MMRAG_RFT_ISA_BITWISE)
#define MMRAG_RFT_DETAIL_FAST_CONTRACT MMRAG_RFT_DETAIL_NO_CONTRACT
#else
// Explicit, since -std=c++20 (not gnu++20) turns contraction off by default.
#define MMRAG_RFT_DETAIL_FAST_CONTRACT __attribute__((optimize("fp-contract=fast")))
#endif
// The instruction sets of the two versions. 512-bit vectors are asked for: GCC's default tuning would split them.
#define MMRAG_RFT_DETAIL_TARGET_AVX512                                                                                 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,bmi,bmi2,popcnt,prefer-vector-width=512")))
#define MMRAG_RFT_DETAIL_TARGET_AVX2 __attribute__((target("avx2,fma,bmi,bmi2,popcnt")))
#else
#define MMRAG_RFT_DETAIL_ISA_DISPATCH() 0
#endif

// The inline namespace of every definition that depends on these settings (the CPU row kernels): a program whose
// translation units see different settings fails to link instead of silently running one definition for the other.
#if !MMRAG_RFT_DETAIL_ISA_DISPATCH()
#define MMRAG_RFT_DETAIL_KERNELS_ABI kernels_v0_baseline
#elif defined(MMRAG_RFT_ISA_BITWISE)
#define MMRAG_RFT_DETAIL_KERNELS_ABI kernels_v0_dispatch_bitwise
#else
#define MMRAG_RFT_DETAIL_KERNELS_ABI kernels_v0_dispatch
#endif

enum class cpu_isa : std::uint8_t { baseline, avx2, avx512 };

/// The widest version a kernel may pick: the tests lower it to check every version on one machine.
inline cpu_isa max_cpu_isa = cpu_isa::avx512;

/// The widest instruction set the kernels have a version for and this CPU runs (baseline when built with it
/// already, e.g. -march=native on an AVX-512 machine, so that no clone is ever worse than the build's own code).
[[nodiscard]] inline cpu_isa detect_cpu_isa() noexcept {
#if MMRAG_RFT_DETAIL_ISA_DISPATCH()
#if !(defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__))
  static const cpu_isa isa = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq"))
      return cpu_isa::avx512;
#if !(defined(__AVX2__) && defined(__FMA__))
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return cpu_isa::avx2;
#endif
    return cpu_isa::baseline;
  }();
  return isa;
#endif
#endif
  return cpu_isa::baseline;
}

/// The version to run: the detected one, capped by `max_cpu_isa`.
[[nodiscard]] inline cpu_isa chosen_cpu_isa() noexcept {
  const cpu_isa d = detect_cpu_isa();
  return d < max_cpu_isa ? d : max_cpu_isa;
}

/// Whether a kernel's versions may contract a * b + c into fused multiply-adds (the arithmetic-bound loss and logit
/// kernels), or must give the baseline's values exactly (GRPO, memory-bound).
enum class isa_contraction : std::uint8_t { exact, fast };

/// Marks the lambda a kernel hands to `run_for_isa`: forced inline, so that its body is compiled inside each version
/// for that version's instruction set.
#define MMRAG_RFT_DETAIL_ISA_BODY __attribute__((always_inline))

#if MMRAG_RFT_DETAIL_ISA_DISPATCH()
// The versions: one function each, a template over the body, with the target (and contraction) attributes.
#define MMRAG_RFT_DETAIL_ISA_VERSION(name, target, contraction)                                                        \
  template <class F>                                                                                                   \
  target contraction __attribute__((noinline)) decltype(auto) name(F& body) {                                          \
    return body();                                                                                                     \
  }
MMRAG_RFT_DETAIL_ISA_VERSION(isa_version_avx512_fast, MMRAG_RFT_DETAIL_TARGET_AVX512, MMRAG_RFT_DETAIL_FAST_CONTRACT)
MMRAG_RFT_DETAIL_ISA_VERSION(isa_version_avx2_fast, MMRAG_RFT_DETAIL_TARGET_AVX2, MMRAG_RFT_DETAIL_FAST_CONTRACT)
MMRAG_RFT_DETAIL_ISA_VERSION(isa_version_avx512_exact, MMRAG_RFT_DETAIL_TARGET_AVX512, MMRAG_RFT_DETAIL_NO_CONTRACT)
MMRAG_RFT_DETAIL_ISA_VERSION(isa_version_avx2_exact, MMRAG_RFT_DETAIL_TARGET_AVX2, MMRAG_RFT_DETAIL_NO_CONTRACT)
#undef MMRAG_RFT_DETAIL_ISA_VERSION
#endif

/// The one ISA dispatch of the CPU kernels (the loss rows, the logit rows, GRPO's uniform groups): runs `body()`
/// in the version for `isa`, or as the build compiled it where there is none.
template <isa_contraction C, class F>
MMRAG_RFT_FORCEINLINE decltype(auto) run_for_isa([[maybe_unused]] cpu_isa isa, F&& body) {
#if MMRAG_RFT_DETAIL_ISA_DISPATCH()
  if (isa == cpu_isa::avx512) {
    if constexpr (C == isa_contraction::fast) return isa_version_avx512_fast(body);
    else return isa_version_avx512_exact(body);
  }
  if (isa == cpu_isa::avx2) {
    if constexpr (C == isa_contraction::fast) return isa_version_avx2_fast(body);
    else return isa_version_avx2_exact(body);
  }
#endif
  return body();
}

} // namespace mmrag_rft::detail
