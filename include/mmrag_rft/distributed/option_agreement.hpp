// SPDX-License-Identifier: Apache-2.0
// Every rank of a distributed call must pass the same options: a fingerprint of them travels in the call's first
// collective, so ranks that disagree all raise one error instead of taking different collectives and hanging.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/distributed/communicator.hpp>
#include <mmrag_rft/losses/options.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace mmrag_rft {
namespace detail {

/// FNV-1a over the options' fields one by one (never over the struct's bytes: padding is indeterminate). Doubles
/// enter by their bits, so options that differ in any bit differ here; an optional enters as its presence, then its
/// value.
class option_fingerprint {
public:
  option_fingerprint& add(std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) h_ = (h_ ^ ((v >> (8 * i)) & 0xffu)) * 0x100000001b3ULL;
    return *this;
  }
  option_fingerprint& add(double v) noexcept { return add(std::bit_cast<std::uint64_t>(v)); }
  option_fingerprint& add(bool v) noexcept { return add(std::uint64_t{v ? 1u : 0u}); }
  template <class E>
  requires std::is_enum_v<E>
  option_fingerprint& add(E v) noexcept {
    return add(static_cast<std::uint64_t>(static_cast<std::underlying_type_t<E>>(v)));
  }
  option_fingerprint& add(const std::optional<double>& v) noexcept {
    add(v.has_value());
    return v ? add(*v) : *this;
  }
  [[nodiscard]] std::int64_t value() const noexcept { return std::bit_cast<std::int64_t>(h_); }

private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

/// Throws, on every rank alike, when the fingerprints gathered from the ranks (`stride` int64 per rank, the
/// fingerprint at `at`) are not all rank 0's: the message names the first rank that differs, so it is the same text
/// on every rank.
inline void require_agreed_fingerprints(const char* fn, const char* argument, std::span<const std::int64_t> gathered,
                                        std::size_t stride, std::size_t at) {
  const std::size_t ranks = stride ? gathered.size() / stride : 0;
  for (std::size_t r = 1; r < ranks; ++r)
    if (gathered[r * stride + at] != gathered[at])
      throw error(
          fn, argument,
          "differ between the ranks: rank " + std::to_string(r) +
              " passed other options than rank 0 (every rank must pass the same options to a distributed call)");
}

} // namespace detail

/// A fingerprint of every field of the options: equal options give equal values on every platform the ranks run.
[[nodiscard]] inline std::int64_t options_fingerprint(const grpo_options& o) noexcept {
  detail::option_fingerprint f;
  f.add(std::uint64_t{1}).add(o.norm_adv_by_std_in_grpo).add(o.epsilon).add(o.std).add(o.singleton).add(o.scale);
  return f.add(o.nonfinite).value();
}
[[nodiscard]] inline std::int64_t options_fingerprint(const rloo_options& o) noexcept {
  detail::option_fingerprint f;
  return f.add(std::uint64_t{2}).add(o.singleton).add(o.nonfinite).value();
}
[[nodiscard]] inline std::int64_t options_fingerprint(const policy_loss_options& o) noexcept {
  detail::option_fingerprint f;
  f.add(std::uint64_t{3}).add(o.mode).add(o.clip_ratio_low).add(o.clip_ratio_high).add(o.clip_ratio_c).add(o.delta);
  f.add(o.log_ratio_clamp).add(o.gspo_grad).add(o.gspo_log_ratio_max).add(o.sapo_tau_pos).add(o.sapo_tau_neg);
  f.add(o.kl).add(o.kl_coef).add(o.kl_clamps).add(o.kl_straight_through).add(o.kl_importance_corrected);
  f.add(o.entropy_coeff).add(o.aggregation).add(o.normalizer).add(o.loss_scale).add(o.sum_norm_seq_mean);
  f.add(o.sum_norm_sequences).add(o.count_epsilon).add(o.gspo_sapo_seq_mean).add(o.nonfinite);
  return f.value();
}

/// Checks with one all-gather of one int64 per rank that every rank passed the same `fingerprint` (e.g.
/// `options_fingerprint(options)`, or several combined), and throws the same `mmrag_rft::error` (`fn`, `argument`)
/// on every rank when not. Call it before the collectives whose sequence depends on the options. Every rank must
/// call it.
template <Communicator C>
void require_same_options(const C& comm, const char* fn, const char* argument, std::int64_t fingerprint) {
  std::vector<std::int64_t> all(static_cast<std::size_t>(comm.size()));
  comm.all_gather(std::span<const std::int64_t>(&fingerprint, 1), std::span<std::int64_t>(all));
  detail::require_agreed_fingerprints(fn, argument, all, 1, 0);
}

} // namespace mmrag_rft
