// SPDX-License-Identifier: Apache-2.0
// DAPO's soft overlong punishment: no penalty up to a buffer before the length limit, a linear ramp to -1 inside it.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/rewards/concepts.hpp>
#include <mmrag_rft/text/normalize.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <string_view>

namespace mmrag_rft {

/// Options of `overlong_penalty`; the defaults are DAPO's (max response 20480 tokens, 4096 of them the buffer).
struct overlong_options {
  std::size_t max_length = 20480; ///< L_max, the generation limit in tokens [DAPO §3.4; verl `max_response_length`]
  std::size_t buffer = 4096;      ///< L_cache, the soft-punishment interval [DAPO; verl `overlong_buffer.len`]
  double penalty_factor = 1.0;    ///< scale of the penalty [verl `overlong_buffer.penalty_factor`]
};

/// Soft overlong punishment [DAPO (Yu et al. 2025) eq. 13; verl `overlong_buffer`]: with L = the completion's length,
///   0                                    when L <= L_max - L_cache,
///   factor · ((L_max - L_cache) - L) / L_cache   when L_max - L_cache < L <= L_max,
///   -factor                              when L > L_max or the completion was `truncated` (it hit the limit).
///
/// L is `completion::num_tokens`; when that is 0 (unknown) the whitespace-separated words of the text stand in for
/// tokens (an approximation: BPE tokenisers give ~1.3 tokens per English word). With `buffer == 0` the ramp vanishes:
/// 0 up to L_max, -factor beyond. The score is in [-factor, 0]; add it with weight 1 to a composite.
/// Construction throws `mmrag_rft::error` when `max_length == 0`, `buffer > max_length`, or `penalty_factor` is
/// negative or not finite. Complexity: O(1) when `num_tokens` is set, one pass over the text otherwise.
class overlong_penalty {
public:
  explicit overlong_penalty(overlong_options options = {}) : opt_(options) {
    constexpr const char* fn = "overlong_penalty";
    detail::require(opt_.max_length > 0, fn, "options.max_length", "must be > 0");
    detail::require(opt_.buffer <= opt_.max_length, fn, "options.buffer", "must not exceed options.max_length");
    detail::require(std::isfinite(opt_.penalty_factor) && opt_.penalty_factor >= 0, fn, "options.penalty_factor",
                    "must be finite and >= 0");
  }

  [[nodiscard]] double operator()(const completion& c, const sample&) const noexcept {
    return penalty(length_of(c), c.truncated);
  }
  [[nodiscard]] static constexpr std::string_view name() noexcept { return "length"; }
  /// "length 1200 ok", "length 18000 of 20480, overlong penalty -0.46", "truncated at 20480, overlong penalty -1.00".
  void explain(const completion& c, const sample&, std::string& out) const {
    const std::size_t len = length_of(c);
    const double p = penalty(len, c.truncated);
    out += c.truncated ? "truncated at " : "length ";
    out += std::to_string(len);
    if (c.num_tokens == 0) out += " words";
    if (p == 0.0) {
      out += " ok";
      return;
    }
    out += " of ";
    out += std::to_string(opt_.max_length);
    out += ", overlong penalty ";
    detail::append_fixed2(out, p);
  }

  /// The penalty of a completion of `length` tokens.
  [[nodiscard]] double penalty(std::size_t length, bool truncated = false) const noexcept {
    const std::size_t safe = opt_.max_length - opt_.buffer;
    if (truncated || length > opt_.max_length) return -opt_.penalty_factor;
    if (length <= safe) return 0.0;
    return opt_.penalty_factor * (static_cast<double>(safe) - static_cast<double>(length)) /
           static_cast<double>(opt_.buffer);
  }
  [[nodiscard]] const overlong_options& options() const noexcept { return opt_; }

private:
  [[nodiscard]] static std::size_t length_of(const completion& c) noexcept {
    if (c.num_tokens > 0) return c.num_tokens;
    std::size_t words = 0;
    for_each_token(c.text, [&](std::string_view) { ++words; });
    return words;
  }

  overlong_options opt_;
};

} // namespace mmrag_rft
