// SPDX-License-Identifier: Apache-2.0
// How an algorithm call reaches its backend: the `implement` customisation point, found by argument-dependent lookup
// on the backend, and the `exec::implements` concept that constrains every public algorithm object.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/concepts.hpp>

#include <utility>

namespace mmrag_rft::exec {

namespace detail {
// Hides every `implement` but those argument-dependent lookup finds in the namespaces of the algorithm object, the
// backend and the arguments (the poison pill of stdexec's tag_invoke).
void implement() = delete;

template <class Algorithm, class Backend, class... Args>
concept has_implementation =
    requires(const Algorithm& a, const Backend& b, Args&&... args) { implement(a, b, static_cast<Args&&>(args)...); };

struct implement_fn {
  template <class Algorithm, class Backend, class... Args>
  requires has_implementation<Algorithm, Backend, Args...>
  constexpr decltype(auto) operator()(const Algorithm& a, const Backend& b, Args&&... args) const {
    return implement(a, b, static_cast<Args&&>(args)...);
  }
};
} // namespace detail

/// `Backend` implements `Algorithm` (a public algorithm object type, e.g. `grpo_advantages_fn`) for these argument
/// types: an `implement(const Algorithm&, const Backend&, Args...)` is reachable by argument-dependent lookup, usually
/// a function in the backend's namespace (see docs/design.md, "Adding a backend").
template <class Backend, class Algorithm, class... Args>
concept implements = ExecutionBackend<Backend> && detail::has_implementation<Algorithm, Backend, Args...>;

/// Calls the backend's implementation: `exec::run(grpo_advantages, backend, args...)`. Algorithm objects call it after
/// they have put their arguments into the canonical types the implementations take.
inline constexpr detail::implement_fn run{};

} // namespace mmrag_rft::exec

/// Declares, in an algorithm object, the deleted call taken when `Backend` implements the algorithm for none of its
/// canonical argument lists (`Supported`, an expression of `Backend`). An unsupported pair then fails at the call with
/// one line naming both, `use of deleted function '... grpo_advantages_fn::operator()(const Backend&, Args&& ...)
/// const [with Backend = my::backend; ...]'`, and `std::invocable` is false for it.
#define MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED(Supported)                                                                 \
  template <exec::ExecutionBackend Backend, class... Args>                                                             \
  requires(!(Supported))                                                                                               \
  void operator()(const Backend&, Args&&...) const = delete
