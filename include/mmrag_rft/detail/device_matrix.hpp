// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/core.hpp>
// A strided matrix as device code can hold it (std::span and matrix_view have no __device__ members).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/matrix_view.hpp>

#include <cstddef>

namespace mmrag_rft::detail {

/// A strided [rows, cols] matrix of a plan's arguments: a raw pointer and a row stride. A null pointer means "not
/// given".
template <class T>
struct device_matrix {
  T* p = nullptr;
  std::size_t stride = 0;
  MMRAG_RFT_HOST_DEVICE T& operator()(std::size_t i, std::size_t t) const noexcept { return p[i * stride + t]; }
};
template <class T>
[[nodiscard]] device_matrix<T> to_device_matrix(const matrix_view<T>& v) noexcept {
  return {v.data(), v.row_stride()};
}

} // namespace mmrag_rft::detail
