// SPDX-License-Identifier: Apache-2.0
// Rollout correction: importance weights and rejection masks for the mismatch between the rollout engine's
// log-probabilities and the trainer's old log-probabilities (verl rollout_corr_helper).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <vector>

namespace mmrag_rft {

/// Level of the truncated importance weights, x_t = old_logp_t - rollout_logp_t (IcePop: zeroed outside the bounds
/// instead of truncated, `rollout_correction_options::is_threshold_lower`). [verl rollout_is]
enum class rollout_is_level : std::uint8_t {
  none,     ///< No weights: `weights` is left untouched.
  token,    ///< w_t = min(exp(clamp(x_t, -20, 20)), threshold). [verl "token"]
  sequence, ///< w_t = min(exp(clamp(sum_t x_t, -20, 20)), threshold) for every token of the row. [verl "sequence"]
};

/// The statistic a rejection criterion tests. [verl rollout_rs "token_*", "seq_sum_*", "seq_mean_*", "seq_max_*"]
enum class rollout_rs_level : std::uint8_t { token, seq_sum, seq_mean, seq_max };

/// The divergence of one token, y = clamp(x, -20, 20): k1 = -y, k2 = y^2 / 2, k3 = exp(y) - 1 - y.
enum class rollout_rs_estimator : std::uint8_t { k1, k2, k3 };

/// One rejection criterion: a token (token level) or a whole row (sequence levels) is kept when its statistic passes;
/// k1 keeps log(lower) <= stat <= log(upper), k2 and k3 keep stat <= upper (lower unused). seq_max has no k1.
/// [verl rollout_rs, rollout_rs_threshold "lower_upper" or "upper"]
struct rollout_rs_criterion {
  rollout_rs_level level = rollout_rs_level::token;
  rollout_rs_estimator estimator = rollout_rs_estimator::k1;
  double upper = 2.0; ///< finite, > 0
  double lower = 0.0; ///< k1 only; 0: 1 / upper (verl's default); else finite, > 0 and <= upper
};

/// Options of `rollout_correction`. Defaults: verl's token-level TIS with threshold 2, no batch normalisation, no
/// rejection.
struct rollout_correction_options {
  rollout_is_level is_level = rollout_is_level::token;
  double is_threshold = 2.0; ///< upper truncation of the weights; finite, > 0. [verl rollout_is_threshold]
  /// IcePop: a weight outside [is_threshold_lower, is_threshold] becomes 0 and the others are kept as they are,
  /// instead of truncating at is_threshold (TIS). nullopt: TIS. Finite, > 0 and <= is_threshold; needs
  /// `stats_of_applied_weights`. [verl rollout_is_threshold "lower_upper" since 1dda039b]
  std::optional<double> is_threshold_lower;
  bool is_batch_normalize = false; ///< divide the applied weights by their mean. [verl rollout_is_batch_normalize]
  /// The mean, the token max / min, the std and the effective sample size are those of the applied weights
  /// (truncated, or IcePop's), as verl computes them since 1dda039b; false: of the untruncated weights, the std and
  /// the effective sample size of the weights clamped to [1 / threshold, threshold] (verl b178a3cd). The fractions
  /// above and below the thresholds are of the untruncated weights either way.
  bool stats_of_applied_weights = true;
  /// Every criterion must pass (logical and). Empty: the mask is copied. [verl comma-separated rollout_rs]
  std::span<const rollout_rs_criterion> rejection;

  /// verl's statistics at b178a3cd (2026-01-29), which had no IcePop; the defaults are verl's at 1dda039b.
  [[nodiscard]] static rollout_correction_options verl_2026_01() {
    rollout_correction_options o;
    o.stats_of_applied_weights = false;
    return o;
  }
};

/// What verl reports under rollout_corr/ for the weights and the combined rejection. "Weights" are the applied ones
/// or the untruncated ones as `rollout_correction_options::stats_of_applied_weights` says. Means over valid tokens
/// divide by N + 1e-8, as verl's masked_mean. Row fractions are exact doubles (verl rounds them to float32:
/// `.float().mean()`).
struct rollout_correction_stats {
  double is_mean = 0;                ///< mean weight [rollout_is_mean]
  double is_max = 0, is_min = 0;     ///< token: over valid tokens; sequence: exp(min(max_i s_i, 20)), exp(min_i s_i)
  double is_ratio_fraction_high = 0; ///< untruncated > threshold (sequence: rows, all B) [..._ratio_fraction_high]
  double is_ratio_fraction_low = 0;  ///< untruncated < lower threshold (1 / threshold for TIS) [..._fraction_low]
  double is_std = 0;                 ///< std of the weights clamped to [lo, threshold] (0 for N <= 1); lo: see options
  double is_eff_sample_size = 0;     ///< 1 / mean((w / (mean w + 1e-8))^2), w clamped [rollout_is_eff_sample_size]
  double is_batch_norm_factor = 1;   ///< the mean divided by (1 when it is <= 1e-8 or not normalising)
  double is_oob_fraction = 0;        ///< IcePop: valid tokens zeroed / (N + 1e-8) [rollout_is_oob_ratio]
  double rs_masked_fraction = 0;     ///< valid tokens rejected / (N + 1e-8) [rollout_rs_masked_fraction]
  double rs_seq_masked_fraction = 0; ///< rows with a rejected valid token / B [rollout_rs_seq_masked_fraction]
  std::size_t valid_tokens = 0;
  std::size_t rejected_tokens = 0;
};

namespace detail {

inline constexpr double rollout_safety_bound = 20.0;
inline constexpr double rollout_count_epsilon = 1e-8;

[[nodiscard]] inline double rollout_divergence(double x, rollout_rs_estimator e) noexcept {
  const double y = std::clamp(x, -rollout_safety_bound, rollout_safety_bound);
  switch (e) {
  case rollout_rs_estimator::k1: return -y;
  case rollout_rs_estimator::k2: return 0.5 * y * y;
  case rollout_rs_estimator::k3: return std::exp(y) - 1.0 - y;
  }
  return 0.0;
}

[[nodiscard]] inline bool rollout_passes(double stat, const rollout_rs_criterion& c) noexcept {
  if (c.estimator != rollout_rs_estimator::k1) return stat <= c.upper;
  const double lower = c.lower > 0 ? c.lower : 1.0 / c.upper;
  return stat >= std::log(lower) && stat <= std::log(c.upper);
}

} // namespace detail

/// Importance weights and a rejection mask for the rollout/trainer mismatch, x_t = old_log_probs - rollout_log_probs
/// at valid tokens. Writes `weights` (the truncated or IcePop-zeroed, optionally batch-normalised weights, 0 at masked
/// tokens; a [B, T] view for policy_loss's token weights) unless is_level is none, and `mask_out` (mask and every
/// criterion; its memory must not be `mask`'s). Returns verl's statistics.
/// [verl compute_rollout_correction_and_rejection_mask, compute_rollout_correction_weights,
///  compute_rollout_rejection_mask at 1dda039b, at b178a3cd with `rollout_correction_options::verl_2026_01()`;
///  single-process batch normalisation]
/// Degenerate input: no valid tokens gives zero weights, the mask copied and zero statistics (verl raises). NaN or
/// infinite log-probs at a valid token are an error naming the row. Rows run in fixed chunks: par == seq bitwise.
template <exec::CpuBackend E, std::floating_point T>
rollout_correction_stats rollout_correction(const E& exec, matrix_view<const T> old_log_probs,
                                            matrix_view<const T> rollout_log_probs, mask_view mask,
                                            matrix_view<T> weights, matrix_view<std::uint8_t> mask_out,
                                            const rollout_correction_options& o = {}) {
  constexpr const char* fn = "rollout_correction";
  using detail::require;
  require(detail::same_shape(rollout_log_probs, old_log_probs), fn, "rollout_log_probs",
          "must have the shape of old_log_probs");
  require(detail::same_shape(mask, old_log_probs), fn, "mask", "must have the shape of old_log_probs");
  require(detail::same_shape(mask_out, old_log_probs), fn, "mask_out", "must have the shape of old_log_probs");
  require(mask_out.data() != mask.data() || mask.size() == 0, fn, "mask_out", "must not be the memory of mask");
  if (o.is_level != rollout_is_level::none) {
    require(detail::same_shape(weights, old_log_probs), fn, "weights", "must have the shape of old_log_probs");
    require(std::isfinite(o.is_threshold) && o.is_threshold > 0, fn, "options.is_threshold", "must be finite and > 0");
    if (o.is_threshold_lower) {
      const double lo = *o.is_threshold_lower;
      require(std::isfinite(lo) && lo > 0 && lo <= o.is_threshold, fn, "options.is_threshold_lower",
              "must be finite, > 0 and <= is_threshold");
      require(o.stats_of_applied_weights, fn, "options.is_threshold_lower",
              "IcePop needs stats_of_applied_weights (verl b178a3cd has no IcePop)");
    }
  }
  for (std::size_t k = 0; k < o.rejection.size(); ++k) {
    const auto& c = o.rejection[k];
    require(std::isfinite(c.upper) && c.upper > 0, fn, "options.rejection.upper", "must be finite and > 0", k);
    require(c.estimator == rollout_rs_estimator::k1 || c.lower == 0, fn, "options.rejection.lower",
            "applies to k1 only", k);
    require(c.lower == 0 || (std::isfinite(c.lower) && c.lower > 0 && c.lower <= c.upper), fn,
            "options.rejection.lower", "must be 0 (1 / upper) or in (0, upper]", k);
    require(!(c.level == rollout_rs_level::seq_max && c.estimator == rollout_rs_estimator::k1), fn, "options.rejection",
            "seq_max has no k1 (verl offers seq_max_k2 and seq_max_k3)", k);
  }
  const std::size_t B = old_log_probs.rows(), L = old_log_probs.cols();
  const auto x_at = [&](std::size_t i, std::size_t t) {
    return static_cast<double>(old_log_probs(i, t)) - static_cast<double>(rollout_log_probs(i, t));
  };

  // Pass 1, per row: validity, counts, the row's log-ratio sum and the rejection decisions.
  struct row_info {
    std::size_t n = 0, rejected = 0;
    double log_ratio_sum = 0;
  };
  std::vector<row_info> rows(B);
  detail::for_each_row_checked(
      exec, B, L, fn, "old_log_probs or rollout_log_probs", "is NaN or infinite at a valid token", [&](std::size_t i) {
        row_info r;
        bool ok = true;
        for (std::size_t t = 0; t < L; ++t)
          if (mask(i, t)) {
            const double x = x_at(i, t);
            ok = ok && std::isfinite(x);
            r.log_ratio_sum += x, ++r.n;
          }
        if (!ok) return false;
        bool row_keep = true; // all sequence-level criteria
        for (const auto& c : o.rejection) {
          if (c.level == rollout_rs_level::token) continue;
          double stat = 0;
          if (c.level == rollout_rs_level::seq_max) {
            stat = -std::numeric_limits<double>::infinity();
            for (std::size_t t = 0; t < L; ++t)
              if (mask(i, t)) stat = std::max(stat, detail::rollout_divergence(x_at(i, t), c.estimator));
            if (r.n == 0) stat = 0;
          } else {
            for (std::size_t t = 0; t < L; ++t)
              if (mask(i, t)) stat += detail::rollout_divergence(x_at(i, t), c.estimator);
            if (c.level == rollout_rs_level::seq_mean) stat /= static_cast<double>(r.n) + detail::rollout_count_epsilon;
          }
          row_keep = row_keep && detail::rollout_passes(stat, c);
        }
        for (std::size_t t = 0; t < L; ++t) {
          bool keep = row_keep;
          for (const auto& c : o.rejection)
            if (c.level == rollout_rs_level::token)
              keep = keep && detail::rollout_passes(detail::rollout_divergence(x_at(i, t), c.estimator), c);
          const bool valid = mask(i, t) != 0;
          mask_out(i, t) = (valid && keep) ? 1 : 0;
          r.rejected += (valid && !keep) ? 1 : 0;
        }
        rows[i] = r;
        return true;
      });

  rollout_correction_stats s;
  std::size_t rejected_rows = 0;
  for (const auto& r : rows)
    s.valid_tokens += r.n, s.rejected_tokens += r.rejected, rejected_rows += r.rejected ? 1 : 0;
  const double denom = static_cast<double>(s.valid_tokens) + detail::rollout_count_epsilon;
  if (s.valid_tokens > 0) {
    s.rs_masked_fraction = static_cast<double>(s.rejected_tokens) / denom;
    s.rs_seq_masked_fraction = static_cast<double>(rejected_rows) / static_cast<double>(B);
  }
  if (o.is_level == rollout_is_level::none) return s;

  // Pass 2, per row: the untruncated weight of each token, the weight applied and the row's partial sums for the
  // statistics.
  const bool icepop = o.is_threshold_lower.has_value(), applied = o.stats_of_applied_weights;
  const double thr = o.is_threshold, thr_lo = icepop ? *o.is_threshold_lower : 1.0 / thr;
  // The clamp of the std and the effective sample size: [0, thr] of the applied weights (a no-op for TIS, and it
  // keeps IcePop's zeros), [1 / thr, thr] of the untruncated ones.
  const double clamp_lo = applied ? 0.0 : thr_lo;
  const bool seq = o.is_level == rollout_is_level::sequence;
  struct row_sums {
    double w = 0, wc = 0, wc2 = 0, trunc = 0;
    std::size_t high = 0, low = 0;
    double max = -std::numeric_limits<double>::infinity(), min = std::numeric_limits<double>::infinity();
  };
  std::vector<row_sums> parts(B);
  detail::for_each_row(exec, B, L, [&](std::size_t i) {
    row_sums p;
    const double seq_w =
        std::exp(std::clamp(rows[i].log_ratio_sum, -detail::rollout_safety_bound, detail::rollout_safety_bound));
    for (std::size_t t = 0; t < L; ++t) {
      if (!mask(i, t)) {
        weights(i, t) = T(0);
        continue;
      }
      const double w =
          seq ? seq_w : std::exp(std::clamp(x_at(i, t), -detail::rollout_safety_bound, detail::rollout_safety_bound));
      const double wt = icepop ? (w >= thr_lo && w <= thr ? w : 0.0) : std::min(w, thr);
      const double ws = applied ? wt : w; // the weight the statistics read
      const double wc = std::clamp(ws, clamp_lo, thr);
      p.w += ws, p.wc += wc, p.wc2 += wc * wc, p.trunc += wt;
      p.high += w > thr ? 1 : 0, p.low += w < thr_lo ? 1 : 0;
      p.max = std::max(p.max, ws), p.min = std::min(p.min, ws);
      weights(i, t) = static_cast<T>(wt);
    }
    parts[i] = p;
  });
  if (s.valid_tokens == 0) return s;
  row_sums tot;
  for (const auto& p : parts) {
    tot.w += p.w, tot.wc += p.wc, tot.wc2 += p.wc2, tot.trunc += p.trunc, tot.high += p.high, tot.low += p.low;
    tot.max = std::max(tot.max, p.max), tot.min = std::min(tot.min, p.min);
  }
  s.is_mean = tot.w / denom;
  if (seq) {
    // verl reads the per-row log-ratio sums of every row here, rows without valid tokens (sum 0) included.
    double smax = -std::numeric_limits<double>::infinity(), smin = std::numeric_limits<double>::infinity();
    std::size_t high = 0, low = 0;
    const double log_hi = std::log(thr), log_lo = std::log(thr_lo);
    for (const auto& r : rows) {
      smax = std::max(smax, r.log_ratio_sum), smin = std::min(smin, r.log_ratio_sum);
      high += r.log_ratio_sum > log_hi ? 1 : 0, low += r.log_ratio_sum < log_lo ? 1 : 0;
    }
    s.is_max = std::exp(std::min(smax, detail::rollout_safety_bound));
    s.is_min = std::exp(smin);
    s.is_ratio_fraction_high = static_cast<double>(high) / static_cast<double>(B);
    s.is_ratio_fraction_low = static_cast<double>(low) / static_cast<double>(B);
  } else {
    s.is_max = tot.max, s.is_min = tot.min;
    s.is_ratio_fraction_high = static_cast<double>(tot.high) / denom;
    s.is_ratio_fraction_low = static_cast<double>(tot.low) / denom;
  }
  if (icepop) {
    // The tokens IcePop zeroes: an untruncated weight outside [lower, upper] (for sequences, the row's weight).
    std::size_t oob = 0;
    for (const auto& p : parts) oob += p.high + p.low;
    s.is_oob_fraction = static_cast<double>(oob) / denom;
  }
  const double mc = tot.wc / denom;
  if (s.valid_tokens > 1) s.is_std = std::sqrt(std::max(0.0, tot.wc2 / denom - mc * mc));
  const double ms = mc + detail::rollout_count_epsilon;
  s.is_eff_sample_size = 1.0 / (tot.wc2 / (ms * ms) / denom);

  if (o.is_batch_normalize) {
    double mean = 0;
    if (seq) {
      // verl: the mean over valid rows of each row's masked mean weight.
      std::size_t valid_rows = 0;
      for (std::size_t i = 0; i < B; ++i)
        if (rows[i].n) {
          mean += parts[i].trunc / (static_cast<double>(rows[i].n) + detail::rollout_count_epsilon);
          ++valid_rows;
        }
      mean /= static_cast<double>(valid_rows);
    } else {
      mean = tot.trunc / denom;
    }
    if (mean > 1e-8) {
      s.is_batch_norm_factor = mean;
      detail::for_each_row(exec, B, L, [&](std::size_t i) {
        for (std::size_t t = 0; t < L; ++t)
          if (mask(i, t)) weights(i, t) = static_cast<T>(static_cast<double>(weights(i, t)) / mean);
      });
    }
  }
  return s;
}

/// `rollout_correction` on exec::seq.
template <std::floating_point T>
rollout_correction_stats rollout_correction(matrix_view<const T> old_log_probs, matrix_view<const T> rollout_log_probs,
                                            mask_view mask, matrix_view<T> weights, matrix_view<std::uint8_t> mask_out,
                                            const rollout_correction_options& o = {}) {
  return rollout_correction(exec::seq, old_log_probs, rollout_log_probs, mask, weights, mask_out, o);
}

} // namespace mmrag_rft
