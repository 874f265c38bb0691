// SPDX-License-Identifier: Apache-2.0
// IWYU pragma: private, include <mmrag_rft/advantages.hpp>
// The public calls every outcome-reward estimator object has (GRPO, RLOO): rewards laid out by a `group_layout` or a
// `keyed_groups`, float or double, with or without a backend; the backend's implementation takes the canonical
// arguments (spans and a `group_layout`).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/detail.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/group_layout.hpp>

#include <cstdint>
#include <span>

namespace mmrag_rft::detail {

/// `Derived` names the algorithm (its `implement` overloads take `const Derived&`) and its error prefix (`name`).
template <class Derived, class Options>
struct outcome_estimator_fn {
  using options_type = Options;

  template <exec::ExecutionBackend E, class T>
  static constexpr bool supports = exec::implements<E, Derived, std::span<const T>, const group_layout&, std::span<T>,
                                                    const Options&, std::span<std::uint8_t>>;

  template <exec::ExecutionBackend E, GroupLayoutLike G>
  requires supports<E, float>
  advantage_summary operator()(const E& exec, std::span<const float> rewards, const G& groups,
                               std::span<float> advantages, const Options& opt = {},
                               std::span<std::uint8_t> keep = {}) const {
    return impl(exec.derived(), rewards, groups, advantages, opt, keep);
  }
  template <exec::ExecutionBackend E, GroupLayoutLike G>
  requires supports<E, double>
  advantage_summary operator()(const E& exec, std::span<const double> rewards, const G& groups,
                               std::span<double> advantages, const Options& opt = {},
                               std::span<std::uint8_t> keep = {}) const {
    return impl(exec.derived(), rewards, groups, advantages, opt, keep);
  }
  template <GroupLayoutLike G>
  advantage_summary operator()(std::span<const float> rewards, const G& groups, std::span<float> advantages,
                               const Options& opt = {}, std::span<std::uint8_t> keep = {}) const {
    return impl(exec::seq, rewards, groups, advantages, opt, keep);
  }
  template <GroupLayoutLike G>
  advantage_summary operator()(std::span<const double> rewards, const G& groups, std::span<double> advantages,
                               const Options& opt = {}, std::span<std::uint8_t> keep = {}) const {
    return impl(exec::seq, rewards, groups, advantages, opt, keep);
  }
  MMRAG_RFT_DETAIL_REFUSE_UNSUPPORTED((supports<Backend, float> || supports<Backend, double>));

private:
  template <class E, class T>
  advantage_summary impl(const E& exec, std::span<const T> r, const group_layout& g, std::span<T> a, const Options& opt,
                         std::span<std::uint8_t> keep) const {
    return exec::run(static_cast<const Derived&>(*this), exec, r, g, a, opt, keep);
  }
  template <class E, class T>
  advantage_summary impl(const E& exec, std::span<const T> r, const keyed_groups& g, std::span<T> a, const Options& opt,
                         std::span<std::uint8_t> keep) const {
    return through_keys<T>(r, g, a, keep, Derived::name, opt.nonfinite,
                           [&](auto rr, const group_layout& l, auto aa, auto kk) {
                             return exec::run(static_cast<const Derived&>(*this), exec, rr, l, aa, opt, kk);
                           });
  }
};

} // namespace mmrag_rft::detail
