// SPDX-License-Identifier: Apache-2.0
// Masked sums, means and variances of a padded [B, T] batch, per row or over the whole batch (verl's masked_* helpers).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/backends/cpu/loops.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <cmath>
#include <concepts>
#include <cstddef>
#include <span>
#include <vector>

namespace mmrag_rft {

/// Options of the masked means and variances.
struct masked_reduce_options {
  /// Added to the valid-token count a mean divides by; in [0, 1e-3]. [verl masked_mean: 1e-8]
  double count_epsilon = 1e-8;
  /// masked_var multiplies by N / (N - 1) (Bessel). [verl masked_var: unbiased=True]
  bool unbiased = true;
};

namespace detail {

struct masked_moments {
  double sum = 0;
  std::size_t count = 0;
};

template <class T>
[[nodiscard]] masked_moments masked_row_sum(matrix_view<const T> v, mask_view m, std::size_t i) noexcept {
  masked_moments s;
  for (std::size_t t = 0; t < v.cols(); ++t)
    if (m(i, t)) s.sum += static_cast<double>(v(i, t)), ++s.count;
  return s;
}

template <class T>
[[nodiscard]] double masked_row_centred_squares(matrix_view<const T> v, mask_view m, std::size_t i,
                                                double mean) noexcept {
  double s = 0;
  for (std::size_t t = 0; t < v.cols(); ++t)
    if (m(i, t)) {
      const double d = static_cast<double>(v(i, t)) - mean;
      s += d * d;
    }
  return s;
}

template <class T>
void check_masked_reduce(const char* fn, matrix_view<const T> v, mask_view m, const masked_reduce_options& o) {
  require(same_shape(m, v), fn, "mask", "must have the shape of values");
  require(v.rows() == 0 || v.cols() == 0 || (v.data() != nullptr && m.data() != nullptr), fn, "values",
          "must not be empty when the shape is not");
  require(o.count_epsilon >= 0 && o.count_epsilon <= 1e-3, fn, "options.count_epsilon", "must be in [0, 1e-3]");
}

template <class T>
void check_row_output(const char* fn, matrix_view<const T> v, std::span<T> out) {
  require(out.size() == v.rows(), fn, "out", "must have one element per row of values");
}

/// Per-row sums of values and of the mask, in row chunks (each row summed left to right: par == seq bitwise).
template <class E, class T>
[[nodiscard]] std::vector<masked_moments> masked_row_sums(const E& exec, matrix_view<const T> v, mask_view m) {
  std::vector<masked_moments> rows(v.rows());
  for_each_row(exec, v.rows(), v.cols(), [&](std::size_t i) { rows[i] = masked_row_sum(v, m, i); });
  return rows;
}

/// The whole batch's sum, rows added in order.
[[nodiscard]] inline masked_moments total(const std::vector<masked_moments>& rows) noexcept {
  masked_moments s;
  for (const auto& r : rows) s.sum += r.sum, s.count += r.count;
  return s;
}

/// verl's masked_var from the sum of centred squares: mean of squares over N + e, times N / (N - 1) when unbiased.
[[nodiscard]] inline double masked_variance(double centred_squares, std::size_t n, const masked_reduce_options& o) {
  const double v = centred_squares / (static_cast<double>(n) + o.count_epsilon);
  return o.unbiased ? v * (static_cast<double>(n) / static_cast<double>(n - 1)) : v;
}

} // namespace detail

/// sum over valid tokens of values (mask != 0), in double; values at masked positions are never read into it (NaN
/// included). NaN or inf at a valid token propagates. [verl masked_sum(values, mask)]
template <exec::CpuBackend E, std::floating_point T>
[[nodiscard]] double masked_sum(const E& exec, matrix_view<const T> values, mask_view mask) {
  detail::check_masked_reduce("masked_sum", values, mask, {});
  return detail::total(detail::masked_row_sums(exec, values, mask)).sum;
}

/// masked sum / (N + count_epsilon), N the valid tokens; 0 for a batch without valid tokens. [verl masked_mean]
template <exec::CpuBackend E, std::floating_point T>
[[nodiscard]] double masked_mean(const E& exec, matrix_view<const T> values, mask_view mask,
                                 const masked_reduce_options& o = {}) {
  detail::check_masked_reduce("masked_mean", values, mask, o);
  const detail::masked_moments s = detail::total(detail::masked_row_sums(exec, values, mask));
  return s.count ? s.sum / (static_cast<double>(s.count) + o.count_epsilon) : 0.0;
}

/// Variance over the valid tokens: mean = masked_mean, var = masked_mean((x - mean)^2) (both over N + e), times
/// N / (N - 1) when unbiased. With `unbiased`, fewer than 2 valid tokens is an error, as verl raises (N = 1 would
/// divide by zero); biased, N = 0 gives 0 and N = 1 gives (x - x / (1 + e))^2, about 0. Centred two-pass in double.
/// [verl masked_var]
template <exec::CpuBackend E, std::floating_point T>
[[nodiscard]] double masked_var(const E& exec, matrix_view<const T> values, mask_view mask,
                                const masked_reduce_options& o = {}) {
  constexpr const char* fn = "masked_var";
  detail::check_masked_reduce(fn, values, mask, o);
  const auto rows = detail::masked_row_sums(exec, values, mask);
  const detail::masked_moments s = detail::total(rows);
  if (o.unbiased)
    detail::require(s.count >= 2, fn, "mask", "must have at least 2 valid tokens for the unbiased variance");
  if (s.count == 0) return 0.0;
  const double mean = s.sum / (static_cast<double>(s.count) + o.count_epsilon);
  std::vector<double> squares(values.rows());
  detail::for_each_row(exec, values.rows(), values.cols(),
                       [&](std::size_t i) { squares[i] = detail::masked_row_centred_squares(values, mask, i, mean); });
  double c = 0;
  for (double q : squares) c += q;
  return detail::masked_variance(c, s.count, o);
}

/// out[i] = sum of row i's valid values. [verl masked_sum(values, mask, axis=-1)]
template <exec::CpuBackend E, std::floating_point T>
void masked_sum_rows(const E& exec, matrix_view<const T> values, mask_view mask, std::span<T> out) {
  detail::check_masked_reduce("masked_sum_rows", values, mask, {});
  detail::check_row_output("masked_sum_rows", values, out);
  detail::for_each_row(exec, values.rows(), values.cols(),
                       [&](std::size_t i) { out[i] = static_cast<T>(detail::masked_row_sum(values, mask, i).sum); });
}

/// out[i] = row i's masked sum / (N_i + count_epsilon); 0 for a row without valid tokens.
/// [verl masked_mean(values, mask, axis=-1)]
template <exec::CpuBackend E, std::floating_point T>
void masked_mean_rows(const E& exec, matrix_view<const T> values, mask_view mask, std::span<T> out,
                      const masked_reduce_options& o = {}) {
  detail::check_masked_reduce("masked_mean_rows", values, mask, o);
  detail::check_row_output("masked_mean_rows", values, out);
  detail::for_each_row(exec, values.rows(), values.cols(), [&](std::size_t i) {
    const detail::masked_moments s = detail::masked_row_sum(values, mask, i);
    out[i] = static_cast<T>(s.count ? s.sum / (static_cast<double>(s.count) + o.count_epsilon) : 0.0);
  });
}

/// out[i] = `masked_var` of row i alone. A row without valid tokens gives 0 (a padding row); with `unbiased`, a row
/// with exactly 1 valid token is an error naming the row (verl's masked_var raises for N = 1). verl has no per-row
/// masked_var: this applies its formula to each row.
template <exec::CpuBackend E, std::floating_point T>
void masked_var_rows(const E& exec, matrix_view<const T> values, mask_view mask, std::span<T> out,
                     const masked_reduce_options& o = {}) {
  constexpr const char* fn = "masked_var_rows";
  detail::check_masked_reduce(fn, values, mask, o);
  detail::check_row_output(fn, values, out);
  detail::for_each_row_checked(exec, values.rows(), values.cols(), fn, "mask",
                               "has 1 valid token: the unbiased variance needs 2 (or none)", [&](std::size_t i) {
                                 const detail::masked_moments s = detail::masked_row_sum(values, mask, i);
                                 if (s.count == 0 || (s.count == 1 && o.unbiased)) {
                                   out[i] = T(0);
                                   return s.count == 0;
                                 }
                                 const double mean = s.sum / (static_cast<double>(s.count) + o.count_epsilon);
                                 const double c = detail::masked_row_centred_squares(values, mask, i, mean);
                                 out[i] = static_cast<T>(detail::masked_variance(c, s.count, o));
                                 return true;
                               });
}

// The same on exec::seq.
template <std::floating_point T>
[[nodiscard]] double masked_sum(matrix_view<const T> values, mask_view mask) {
  return masked_sum(exec::seq, values, mask);
}
template <std::floating_point T>
[[nodiscard]] double masked_mean(matrix_view<const T> values, mask_view mask, const masked_reduce_options& o = {}) {
  return masked_mean(exec::seq, values, mask, o);
}
template <std::floating_point T>
[[nodiscard]] double masked_var(matrix_view<const T> values, mask_view mask, const masked_reduce_options& o = {}) {
  return masked_var(exec::seq, values, mask, o);
}
template <std::floating_point T>
void masked_sum_rows(matrix_view<const T> values, mask_view mask, std::span<T> out) {
  masked_sum_rows(exec::seq, values, mask, out);
}
template <std::floating_point T>
void masked_mean_rows(matrix_view<const T> values, mask_view mask, std::span<T> out,
                      const masked_reduce_options& o = {}) {
  masked_mean_rows(exec::seq, values, mask, out, o);
}
template <std::floating_point T>
void masked_var_rows(matrix_view<const T> values, mask_view mask, std::span<T> out,
                     const masked_reduce_options& o = {}) {
  masked_var_rows(exec::seq, values, mask, out, o);
}

} // namespace mmrag_rft
