// SPDX-License-Identifier: Apache-2.0
// The ExecutionBackend concept: how an algorithm call says where it runs (as Thrust's execution policies do).
#pragma once
#include <mmrag_rft/config.hpp>

#include <concepts>
#include <type_traits>

namespace mmrag_rft::exec {

/// Base every execution backend derives from (CRTP). Deriving is the explicit opt-in: an unrelated type that happens
/// to have the same members is not a backend.
template <class Derived>
struct backend_base {
  [[nodiscard]] constexpr const Derived& derived() const noexcept { return static_cast<const Derived&>(*this); }
};

/// A type `E` is an execution backend if:
/// 1. it derives from `exec::backend_base<E>`, and
/// 2. it is copyable (backends are small tags passed by value).
/// Each algorithm provides one implementation per backend, picked by overload resolution on the tag.
template <class E>
concept ExecutionBackend = std::derived_from<std::remove_cvref_t<E>, backend_base<std::remove_cvref_t<E>>> &&
                           std::copy_constructible<std::remove_cvref_t<E>>;

} // namespace mmrag_rft::exec
