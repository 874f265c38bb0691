// SPDX-License-Identifier: Apache-2.0
// Seeded generators for tests: random batches with variable response lengths and random group offsets.
#pragma once
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace mmrag_rft::test {

/// A strong seed type, so a seed is never confused with a size.
struct seed_t {
  std::uint64_t value;
};

/// A padded [rows, cols] batch of one floating type with a right-padded response mask.
template <class T>
struct random_batch {
  std::size_t rows = 0, cols = 0;
  std::vector<T> log_probs, old_log_probs, ref_log_probs, entropy, token_advantages, seq_advantages;
  std::vector<std::uint8_t> mask;
};

/// Log-probs in [-4, -0.01], old and ref within +-`spread` of them (so ratios straddle the clip range), advantages
/// in [-2, 2], lengths uniform in [min_len, cols]; masked positions hold `junk` (NaN by default) to prove they are
/// never read into results.
template <class T>
random_batch<T> make_batch(seed_t seed, std::size_t rows, std::size_t cols, double spread = 0.4,
                           std::size_t min_len = 0, T junk = std::numeric_limits<T>::quiet_NaN()) {
  std::mt19937_64 rng(seed.value);
  std::uniform_real_distribution<double> lp(-4.0, -0.01), d(-spread, spread), adv(-2.0, 2.0), ent(0.0, 3.0);
  std::uniform_int_distribution<std::size_t> len(min_len, cols);
  random_batch<T> b;
  b.rows = rows, b.cols = cols;
  const std::size_t n = rows * cols;
  b.log_probs.resize(n), b.old_log_probs.resize(n), b.ref_log_probs.resize(n), b.entropy.resize(n);
  b.token_advantages.resize(n), b.mask.resize(n), b.seq_advantages.resize(rows);
  for (std::size_t i = 0; i < rows; ++i) {
    const std::size_t l = len(rng);
    b.seq_advantages[i] = static_cast<T>(adv(rng));
    for (std::size_t t = 0; t < cols; ++t) {
      const std::size_t k = i * cols + t;
      const bool v = t < l;
      b.mask[k] = v ? 1 : 0;
      const double x = lp(rng);
      b.log_probs[k] = v ? static_cast<T>(x) : junk;
      b.old_log_probs[k] = v ? static_cast<T>(x + d(rng)) : junk;
      b.ref_log_probs[k] = v ? static_cast<T>(x + d(rng)) : junk;
      b.entropy[k] = v ? static_cast<T>(ent(rng)) : junk;
      b.token_advantages[k] = v ? static_cast<T>(adv(rng)) : junk;
    }
  }
  return b;
}

/// Random group offsets: `groups` groups with sizes in [min_size, max_size].
inline std::vector<std::int64_t> random_offsets(seed_t seed, std::size_t groups, std::size_t min_size,
                                                std::size_t max_size) {
  std::mt19937_64 rng(seed.value);
  std::uniform_int_distribution<std::size_t> size(min_size, max_size);
  std::vector<std::int64_t> off{0};
  for (std::size_t g = 0; g < groups; ++g) off.push_back(off.back() + static_cast<std::int64_t>(size(rng)));
  return off;
}

template <class T>
std::vector<T> random_rewards(seed_t seed, std::size_t n, bool discrete = true) {
  std::mt19937_64 rng(seed.value);
  std::uniform_int_distribution<int> k(0, 4);
  std::uniform_real_distribution<double> u(-1.0, 2.0);
  std::vector<T> r(n);
  for (auto& x : r) x = static_cast<T>(discrete ? 0.25 * k(rng) : u(rng));
  return r;
}

} // namespace mmrag_rft::test
