// SPDX-License-Identifier: Apache-2.0
// Shared set-up of the benchmarks: the seeded input generator the PyTorch references reproduce, the batch shapes,
// and the memory-floor kernels every algorithm is compared with.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/detail/parallel.hpp>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mmrag_rft::bench {

// The generator is counter-based (value = f(seed, stream, index)) so that bench/reference/inputs.py rebuilds the very
// same inputs with numpy, element for element, without a file: keep the two in step.
inline constexpr std::uint64_t seed = 20260131;

/// splitmix64's finaliser: a bijection of 64-bit words with good avalanche.
[[nodiscard]] constexpr std::uint64_t mix(std::uint64_t z) noexcept {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// Uniform in the open interval (0, 1), 53 random bits: the index-th draw of the stream.
[[nodiscard]] constexpr double uniform(std::uint64_t stream, std::uint64_t index) noexcept {
  const std::uint64_t base = mix(seed ^ (stream * 0xD1B54A32D192ED03ull));
  return (static_cast<double>(mix(base + index) >> 11) + 0.5) * 0x1p-53;
}

/// Zero mean, unit variance, bounded (a triangular variate: sum of two uniforms, scaled).
[[nodiscard]] inline double noise(std::uint64_t stream, std::uint64_t index) noexcept {
  return (uniform(stream, index) + uniform(stream + 1, index) - 1.0) * std::sqrt(6.0);
}

/// Streams of the generator (inputs.py uses the same numbers).
enum stream : std::uint64_t {
  s_log_probs = 1,
  s_old = 2, // and 3
  s_ref = 4, // and 5
  s_length = 6,
  s_seq_adv = 7, // and 8
  s_difficulty = 9,
  s_correct = 10,
  s_format = 11,
};

/// A padded batch of B responses of at most T tokens, as the policy loss sees it after a rollout.
/// Response lengths are uniform in [T/8, T]; log-probs are 0.5 ln u (mean -0.5); the old and reference policies differ
/// from the current one by noise of std 0.1 in log space (a few per cent of tokens are clipped at eps = 0.2);
/// advantages are one per sequence, std 1. Padding holds generated values too: only the mask keeps them out.
struct token_batch {
  std::size_t rows = 0, cols = 0;
  std::vector<float> log_probs, old_log_probs, ref_log_probs, sequence_advantages, token_advantages;
  std::vector<std::uint8_t> mask;
  std::size_t valid_tokens = 0;

  token_batch(std::size_t b, std::size_t t, bool with_token_advantages)
      : rows(b), cols(t), log_probs(b * t), old_log_probs(b * t), ref_log_probs(b * t), sequence_advantages(b),
        mask(b * t) {
    const std::size_t min_len = std::max<std::size_t>(1, t / 8);
    for (std::size_t i = 0; i < b; ++i) {
      const auto span = static_cast<double>(t - min_len + 1);
      const std::size_t len = std::min(t, min_len + static_cast<std::size_t>(uniform(s_length, i) * span));
      sequence_advantages[i] = static_cast<float>(noise(s_seq_adv, i));
      for (std::size_t c = 0; c < t; ++c) {
        const std::size_t k = i * t + c;
        const double lp = static_cast<float>(0.5 * std::log(uniform(s_log_probs, k)));
        log_probs[k] = static_cast<float>(lp);
        old_log_probs[k] = static_cast<float>(lp + 0.1 * noise(s_old, k));
        ref_log_probs[k] = static_cast<float>(lp + 0.1 * noise(s_ref, k));
        mask[k] = c < len ? 1 : 0;
      }
      valid_tokens += len;
    }
    if (with_token_advantages) {
      // verl's layout: the sequence advantage broadcast over the response, 0 on padding.
      token_advantages.resize(b * t);
      for (std::size_t k = 0; k < b * t; ++k) token_advantages[k] = mask[k] ? sequence_advantages[k / t] : 0.0f;
    }
  }
};

/// One reward per completion for groups of G: a correctness reward in {0, 1} with a per-prompt difficulty p_g ~ U(0,1)
/// (so about a fifth of the groups are all-right or all-wrong, as in real GRPO batches) plus a 0.1 format bonus given
/// 90% of the time.
[[nodiscard]] inline std::vector<float> group_rewards(std::size_t completions, std::size_t group_size) {
  std::vector<float> r(completions);
  for (std::size_t j = 0; j < completions; ++j) {
    const double p = uniform(s_difficulty, j / group_size);
    const double correct = uniform(s_correct, j) < p ? 1.0 : 0.0;
    const double format = uniform(s_format, j) < 0.9 ? 0.1 : 0.0;
    r[j] = static_cast<float>(correct + format);
  }
  return r;
}

/// An outcome-advantage problem from the benchmark arguments (completions, G): rewards in, advantages out.
struct reward_problem {
  std::size_t n, g;
  std::vector<float> rewards, advantages;
  explicit reward_problem(const benchmark::State& state)
      : n(static_cast<std::size_t>(state.range(0))), g(static_cast<std::size_t>(state.range(1))),
        rewards(group_rewards(n, g)), advantages(n) {}
  /// Read the rewards once, write the advantages once.
  [[nodiscard]] std::size_t bytes() const noexcept { return n * 2 * sizeof(float); }
};

/// STREAM-style floor for an algorithm that reads `in` and writes `out` once: a copy of the same bytes.
template <class E>
void copy_floor(const E& exec, const float* in, float* out, std::size_t n) {
  constexpr std::size_t grain = std::size_t{1} << 16;
  const detail::chunking ch{n, grain};
  detail::for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    std::memcpy(out + ch.begin(c), in + ch.begin(c), (ch.end(c) - ch.begin(c)) * sizeof(float));
  });
}

/// STREAM-style floor for the fused loss: reads every input the loss reads (three log-prob streams, the mask and the
/// advantages, per token or per row) once and writes one gradient, with a trivial formula. Same access pattern and
/// the same bytes as `policy_loss`, so its time is the memory floor of the loss on this machine.
template <class E>
void loss_floor(const E& exec, const token_batch& b, float* grad, bool token_advantages) {
  const std::size_t cols = b.cols;
  const detail::chunking ch{b.rows, std::max<std::size_t>(1, (std::size_t{1} << 15) / std::max<std::size_t>(1, cols))};
  detail::for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    for (std::size_t i = ch.begin(c); i < ch.end(c); ++i) {
      const std::size_t o = i * cols;
      const float* lp = b.log_probs.data() + o;
      const float* old = b.old_log_probs.data() + o;
      const float* ref = b.ref_log_probs.data() + o;
      const std::uint8_t* m = b.mask.data() + o;
      float* g = grad + o;
      if (token_advantages) {
        const float* a = b.token_advantages.data() + o;
        for (std::size_t t = 0; t < cols; ++t) g[t] = m[t] ? a[t] * (lp[t] - old[t]) + ref[t] : 0.0f;
      } else {
        const float a = b.sequence_advantages[i];
        for (std::size_t t = 0; t < cols; ++t) g[t] = m[t] ? a * (lp[t] - old[t]) + ref[t] : 0.0f;
      }
    }
  });
}

/// Bytes a policy-loss pass must move: log_probs, old and ref (4 B each), the mask (1 B), the gradient write (4 B),
/// and the advantages (4 B per token, or 4 B per row).
[[nodiscard]] constexpr std::size_t loss_bytes(std::size_t rows, std::size_t cols, bool token_advantages) noexcept {
  return rows * cols * (3 * 4 + 1 + 4) + (token_advantages ? rows * cols * 4 : rows * 4);
}

/// The outcome-advantage benchmarks' shape: 1M completions in groups of G = 8.
inline constexpr std::int64_t outcome_completions = std::int64_t{1} << 20;
inline constexpr std::int64_t outcome_group_size = 8;

/// Keeps the compiler from dropping the writes of a timed iteration.
inline void keep_writes(const void* p) {
  benchmark::DoNotOptimize(p);
  benchmark::ClobberMemory();
}

/// Sets the throughput counters of a benchmark that moves `bytes` and processes `items` per iteration.
inline void set_throughput(benchmark::State& state, std::size_t bytes, std::size_t items) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(items));
}

} // namespace mmrag_rft::bench
