// SPDX-License-Identifier: Apache-2.0
// Non-owning row-major views of padded [rows, cols] batches (log-probs, advantages, masks, token ids).
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>

namespace mmrag_rft {

/// A non-owning, row-major view of a `[rows, cols]` matrix in caller memory, such as a padded batch of
/// per-token log-probabilities `[B, T]`.
///
/// Rows may be strided (`row_stride >= cols`, in elements), as with a slice of a wider tensor; elements of a row are
/// contiguous. A view never allocates or frees; the caller keeps the memory alive. `matrix_view<T>` converts to
/// `matrix_view<const T>`. For Eigen interop see `<mmrag_rft/core/eigen.hpp>`; a row is a `std::span`, so rows work
/// with std::ranges and range-v3.
template <class T>
class matrix_view {
public:
  using element_type = T;
  using value_type = std::remove_cv_t<T>;

  constexpr matrix_view() noexcept = default;
  /// A view of `rows * cols` elements at `data`, consecutive rows `row_stride` elements apart (default: `cols`).
  constexpr matrix_view(T* data, std::size_t rows, std::size_t cols) noexcept
      : data_(data), rows_(rows), cols_(cols), row_stride_(cols) {}
  constexpr matrix_view(T* data, std::size_t rows, std::size_t cols, std::size_t row_stride) noexcept
      : data_(data), rows_(rows), cols_(cols), row_stride_(row_stride) {}
  /// A contiguous view over a span of exactly `rows * cols` elements (the size is checked by the algorithms).
  constexpr matrix_view(std::span<T> data, std::size_t rows, std::size_t cols) noexcept
      : matrix_view(data.data(), rows, cols) {}

  template <class U>
  requires(std::is_const_v<T> && std::is_same_v<std::remove_const_t<T>, U>)
  constexpr matrix_view(matrix_view<U> other) noexcept // NOLINT: implicit mutable -> const, as std::span does
      : data_(other.data()), rows_(other.rows()), cols_(other.cols()), row_stride_(other.row_stride()) {}

  [[nodiscard]] constexpr T* data() const noexcept { return data_; }
  [[nodiscard]] constexpr std::size_t rows() const noexcept { return rows_; }
  [[nodiscard]] constexpr std::size_t cols() const noexcept { return cols_; }
  [[nodiscard]] constexpr std::size_t row_stride() const noexcept { return row_stride_; }
  [[nodiscard]] constexpr std::size_t size() const noexcept { return rows_ * cols_; }
  /// True for a default-constructed view: "this optional input was not given".
  [[nodiscard]] constexpr bool empty() const noexcept { return data_ == nullptr; }
  [[nodiscard]] constexpr bool contiguous() const noexcept { return row_stride_ == cols_ || rows_ <= 1; }

  [[nodiscard]] constexpr T& operator()(std::size_t r, std::size_t c) const noexcept {
    return data_[r * row_stride_ + c];
  }
  [[nodiscard]] constexpr std::span<T> row(std::size_t r) const noexcept { return {data_ + r * row_stride_, cols_}; }
  [[nodiscard]] constexpr T* row_data(std::size_t r) const noexcept { return data_ + r * row_stride_; }

private:
  T* data_ = nullptr;
  std::size_t rows_ = 0;
  std::size_t cols_ = 0;
  std::size_t row_stride_ = 0;
};

template <class T>
matrix_view(T*, std::size_t, std::size_t) -> matrix_view<T>;
template <class T>
matrix_view(T*, std::size_t, std::size_t, std::size_t) -> matrix_view<T>;
template <class T>
matrix_view(std::span<T>, std::size_t, std::size_t) -> matrix_view<T>;

/// Response mask of a padded batch: 1 where a token is part of the response and counts in the loss, 0 for padding.
/// One byte per token, the layout of a `torch.bool` or `uint8` tensor. Any non-zero byte counts as 1.
using mask_view = matrix_view<const std::uint8_t>;

namespace detail {
template <class A, class B>
[[nodiscard]] constexpr bool same_shape(const matrix_view<A>& a, const matrix_view<B>& b) noexcept {
  return a.rows() == b.rows() && a.cols() == b.cols();
}
} // namespace detail

} // namespace mmrag_rft
