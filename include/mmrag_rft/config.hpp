// SPDX-License-Identifier: Apache-2.0
// mmrag_rft: version, feature-test macros and the host/device annotation. First include of every header.
#pragma once

#define MMRAG_RFT_VERSION_MAJOR 0
#define MMRAG_RFT_VERSION_MINOR 1
#define MMRAG_RFT_VERSION_PATCH 0
#define MMRAG_RFT_VERSION (MMRAG_RFT_VERSION_MAJOR * 10000 + MMRAG_RFT_VERSION_MINOR * 100 + MMRAG_RFT_VERSION_PATCH)

// Feature tests are function-like so that a misspelt name is a preprocessor error, not a silent 0.
#if defined(__CUDACC__)
#define MMRAG_RFT_CUDA_COMPILATION() 1
#else
#define MMRAG_RFT_CUDA_COMPILATION() 0
#endif

#if defined(_OPENMP)
#define MMRAG_RFT_HAS_OPENMP() 1
#else
#define MMRAG_RFT_HAS_OPENMP() 0
#endif

// Functions that hold the math shared by the CPU loops, Thrust functors and CUDA kernels.
#if MMRAG_RFT_CUDA_COMPILATION()
#define MMRAG_RFT_HOST_DEVICE __host__ __device__
#else
#define MMRAG_RFT_HOST_DEVICE
#endif

// The per-token math must inline into the token loops, or the loops call out and stay scalar (measured: GCC 12 kept
// vexp out of line in the policy-loss row kernel).
#if MMRAG_RFT_CUDA_COMPILATION()
#define MMRAG_RFT_FORCEINLINE __forceinline__
#elif defined(__GNUC__)
#define MMRAG_RFT_FORCEINLINE [[gnu::always_inline]] inline
#else
#define MMRAG_RFT_FORCEINLINE inline
#endif

// Loops whose iterations are independent; lets GCC and Clang vectorise without -ffast-math.
#if defined(__clang__)
#define MMRAG_RFT_VECTORIZE _Pragma("clang loop vectorize(enable)")
#elif defined(__GNUC__) && !defined(__CUDACC__)
#define MMRAG_RFT_VECTORIZE _Pragma("GCC ivdep")
#else
#define MMRAG_RFT_VECTORIZE
#endif

// A loop over the lanes of per-lane accumulators (a constant trip count of one or a few vectors): kept a loop, so that
// GCC if-converts and vectorises it instead of unrolling it into branches (docs/design.md, "Vectorisation with GCC 12").
#if defined(__GNUC__) && !defined(__clang__) && !defined(__CUDACC__)
#define MMRAG_RFT_LANE_LOOP _Pragma("GCC unroll 1") _Pragma("GCC ivdep")
#else
#define MMRAG_RFT_LANE_LOOP MMRAG_RFT_VECTORIZE
#endif
