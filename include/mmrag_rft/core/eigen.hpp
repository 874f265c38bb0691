// SPDX-License-Identifier: Apache-2.0
// Zero-copy interop between matrix_view and Eigen (CPU only: never include from a CUDA translation unit).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <Eigen/Core>

#include <type_traits>

namespace mmrag_rft {

/// The Eigen row-major matrix type a `matrix_view<T>` maps to.
template <class T>
using eigen_row_major = Eigen::Matrix<std::remove_const_t<T>, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// An `Eigen::Map` over the same memory as `v` (const when T is const), honouring its row stride. No copy.
template <class T>
[[nodiscard]] auto as_eigen(matrix_view<T> v) {
  using matrix = std::conditional_t<std::is_const_v<T>, const eigen_row_major<T>, eigen_row_major<T>>;
  return Eigen::Map<matrix, Eigen::Unaligned, Eigen::OuterStride<>>(
      v.data(), static_cast<Eigen::Index>(v.rows()), static_cast<Eigen::Index>(v.cols()),
      Eigen::OuterStride<>(static_cast<Eigen::Index>(v.row_stride())));
}

/// A view of a row-major Eigen matrix, map or block (anything with `data()`, `rows()`, `cols()`, `outerStride()`).
template <class Derived>
requires(static_cast<bool>(Derived::IsRowMajor) || Derived::ColsAtCompileTime == 1)
[[nodiscard]] auto as_view(Eigen::PlainObjectBase<Derived>& m) {
  using T = typename Derived::Scalar;
  return matrix_view<T>(m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols()),
                        static_cast<std::size_t>(m.outerStride()));
}
template <class Derived>
requires(static_cast<bool>(Derived::IsRowMajor) || Derived::ColsAtCompileTime == 1)
[[nodiscard]] auto as_view(const Eigen::PlainObjectBase<Derived>& m) {
  using T = const typename Derived::Scalar;
  return matrix_view<T>(m.data(), static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols()),
                        static_cast<std::size_t>(m.outerStride()));
}

} // namespace mmrag_rft
