// SPDX-License-Identifier: Apache-2.0
// LibTorch tensors seen as the library's views: dtype, device and shape checked, no copy where the layout allows.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>
#include <mmrag_rft/torch/device.hpp>

#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>

namespace mmrag_rft::libtorch::detail {

using mmrag_rft::detail::require;

template <class T>
[[nodiscard]] constexpr torch::Dtype dtype_of() noexcept {
  if constexpr (std::is_same_v<T, float>) return torch::kFloat;
  else if constexpr (std::is_same_v<T, double>) return torch::kDouble;
  else if constexpr (std::is_same_v<T, bfloat16>) return torch::kBFloat16;
  else if constexpr (std::is_same_v<T, std::int64_t>) return torch::kLong;
  else if constexpr (std::is_same_v<T, std::int32_t>) return torch::kInt;
  else {
    static_assert(std::is_same_v<T, std::uint8_t>, "no LibTorch dtype for this element type");
    return torch::kUInt8;
  }
}

[[nodiscard]] inline std::string describe(const torch::Tensor& t) {
  std::string s = std::string(c10::toString(t.scalar_type())) + " [";
  for (std::int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
  return s + "] on " + t.device().str();
}

/// The CPU backends read host memory. A CUDA tensor reaching a CPU path means no CUDA path ran it: the CUDA adapter
/// is not built, or the call has none (the message says which build to use either way).
inline void require_cpu(const torch::Tensor& t, const char* fn, const char* arg) {
  if (t.device().is_cuda()) throw_cuda_not_built(fn, arg, t.device());
  require(t.device().is_cpu(), fn, arg,
          "is on " + t.device().str() + "; the LibTorch adapter runs on CPU or CUDA tensors");
}

template <class T>
[[nodiscard]] matrix_view<const T> as_device_matrix(const torch::Tensor& t, torch::Tensor& keep, const char* fn,
                                                    const char* arg);
template <class T>
[[nodiscard]] std::span<const T> as_device_span(const torch::Tensor& t, torch::Tensor& keep, const char* fn,
                                                const char* arg);

/// `t` as a `[rows, cols]` matrix_view of T: 2-D, dtype T, on the CPU. A tensor the view cannot describe (a last
/// dimension that is not contiguous, or rows closer than `cols` apart, as in `adv.unsqueeze(1).expand({B, T})`) is
/// copied into `keep` (which then owns the memory the view points to).
template <class T>
[[nodiscard]] matrix_view<const T> as_matrix(const torch::Tensor& t, torch::Tensor& keep, const char* fn,
                                             const char* arg) {
  require(t.defined(), fn, arg, "is an undefined tensor");
  require_cpu(t, fn, arg);
  return as_device_matrix<T>(t, keep, fn, arg);
}

/// As `as_matrix`, on whatever device `t` is (the CUDA paths: the call's backend choice has checked the devices), so
/// the view may point to device memory; the copy a strided layout needs stays on that device.
template <class T>
[[nodiscard]] matrix_view<const T> as_device_matrix(const torch::Tensor& t, torch::Tensor& keep, const char* fn,
                                                    const char* arg) {
  require(t.defined(), fn, arg, "is an undefined tensor");
  require(t.dim() == 2, fn, arg, "must be 2-D [rows, cols], not " + describe(t));
  require(t.scalar_type() == dtype_of<T>(), fn, arg,
          "must be " + std::string(c10::toString(dtype_of<T>())) + ", not " + describe(t));
  const bool rows_contiguous = t.size(1) <= 1 || t.stride(1) == 1;
  const bool rows_apart = t.size(0) <= 1 || t.stride(0) >= t.size(1);
  keep = rows_contiguous && rows_apart ? t : t.contiguous();
  const auto rows = static_cast<std::size_t>(keep.size(0)), cols = static_cast<std::size_t>(keep.size(1));
  const auto stride = keep.size(0) <= 1 ? cols : static_cast<std::size_t>(keep.stride(0));
  return {static_cast<const T*>(keep.data_ptr()), rows, cols, stride};
}

/// `t` (any shape, dtype T, CPU) as a contiguous span; `keep` owns the memory when a copy was needed.
template <class T>
[[nodiscard]] std::span<const T> as_span(const torch::Tensor& t, torch::Tensor& keep, const char* fn, const char* arg) {
  require(t.defined(), fn, arg, "is an undefined tensor");
  require_cpu(t, fn, arg);
  return as_device_span<T>(t, keep, fn, arg);
}

/// As `as_span`, on whatever device `t` is (see `as_device_matrix`).
template <class T>
[[nodiscard]] std::span<const T> as_device_span(const torch::Tensor& t, torch::Tensor& keep, const char* fn,
                                                const char* arg) {
  require(t.defined(), fn, arg, "is an undefined tensor");
  require(t.scalar_type() == dtype_of<T>(), fn, arg,
          "must be " + std::string(c10::toString(dtype_of<T>())) + ", not " + describe(t));
  keep = t.contiguous();
  return {static_cast<const T*>(keep.data_ptr()), static_cast<std::size_t>(keep.numel())};
}

/// A fresh contiguous tensor's memory as a mutable view.
template <class T>
[[nodiscard]] matrix_view<T> as_output(torch::Tensor& t) noexcept {
  return {static_cast<T*>(t.data_ptr()), static_cast<std::size_t>(t.size(0)), static_cast<std::size_t>(t.size(1))};
}
template <class T>
[[nodiscard]] std::span<T> as_output_span(torch::Tensor& t) noexcept {
  return {static_cast<T*>(t.data_ptr()), static_cast<std::size_t>(t.numel())};
}

} // namespace mmrag_rft::libtorch::detail
