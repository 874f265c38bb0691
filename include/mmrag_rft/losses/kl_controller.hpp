// SPDX-License-Identifier: Apache-2.0
// The coefficient of the in-reward KL penalty: fixed, or adapted towards a target KL (Ziegler et al. 2019).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace mmrag_rft {

/// Which rule moves the KL coefficient between steps. [verl algorithm.kl_ctrl.type]
enum class kl_controller_kind : std::uint8_t {
  fixed,    ///< The coefficient stays at `kl_coef`. [verl FixedKLController]
  adaptive, ///< Multiplied by 1 + clip(kl / target - 1, -0.2, 0.2) n_steps / horizon. [verl AdaptiveKLController]
};

/// Options of `kl_controller`. Defaults are verl's algorithm.kl_ctrl defaults at 1dda039b (as at b178a3cd).
struct kl_controller_options {
  kl_controller_kind kind = kl_controller_kind::fixed;
  double kl_coef = 0.001; ///< initial (fixed: constant) coefficient; finite, >= 0. [verl kl_ctrl.kl_coef]
  double target_kl = 0.1; ///< adaptive: the KL the coefficient steers to; finite, > 0. [verl kl_ctrl.target_kl]
  double horizon = 10000; ///< adaptive: steps over which an error acts fully; finite, > 0. [verl kl_ctrl.horizon]
};

/// The KL coefficient beta of reward shaping (token_reward -= beta * kl_penalty), updated once per training step
/// with the batch's `current_kl` (what `kl_penalty` returns) and the step's sample count. [verl get_kl_controller]
///
/// Adaptive rule: e = clip(current_kl / target_kl - 1, -0.2, 0.2); value *= 1 + e * n_steps / horizon. The factor
/// is never negative when n_steps <= 5 horizon; a larger step is refused, since the coefficient would change sign
/// (verl lets it). A NaN or infinite `current_kl`, and a step that would overflow the coefficient, are refused, so
/// it stays finite and >= 0.
class kl_controller {
public:
  explicit kl_controller(const kl_controller_options& o = {}) : options_(o), value_(o.kl_coef) {
    constexpr const char* fn = "kl_controller";
    detail::require(std::isfinite(o.kl_coef) && o.kl_coef >= 0, fn, "kl_coef", "must be finite and >= 0");
    if (o.kind == kl_controller_kind::adaptive) {
      detail::require(std::isfinite(o.target_kl) && o.target_kl > 0, fn, "target_kl", "must be finite and > 0");
      detail::require(std::isfinite(o.horizon) && o.horizon > 0, fn, "horizon", "must be finite and > 0");
    }
  }
  /// verl's FixedKLController(kl_coef).
  [[nodiscard]] static kl_controller fixed(double kl_coef) {
    return kl_controller({kl_controller_kind::fixed, kl_coef, 0.1, 10000});
  }
  /// verl's AdaptiveKLController(init_kl_coef, target_kl, horizon).
  [[nodiscard]] static kl_controller adaptive(double init_kl_coef, double target_kl, double horizon) {
    return kl_controller({kl_controller_kind::adaptive, init_kl_coef, target_kl, horizon});
  }

  /// The coefficient to use for the next step.
  [[nodiscard]] double value() const noexcept { return value_; }
  [[nodiscard]] const kl_controller_options& options() const noexcept { return options_; }

  /// One step's update; returns the new value. Fixed: no change (the arguments are still checked).
  double update(double current_kl, double n_steps) {
    constexpr const char* fn = "kl_controller::update";
    detail::require(std::isfinite(current_kl), fn, "current_kl", "must be finite");
    detail::require(std::isfinite(n_steps) && n_steps >= 0, fn, "n_steps", "must be finite and >= 0");
    if (options_.kind == kl_controller_kind::fixed) return value_;
    detail::require(n_steps <= 5 * options_.horizon, fn, "n_steps",
                    "must be <= 5 * horizon (a larger step could make the coefficient negative)");
    const double error = std::clamp(current_kl / options_.target_kl - 1.0, -0.2, 0.2);
    const double next = value_ * (1.0 + error * n_steps / options_.horizon);
    // Up to x2 a step, the coefficient overflows after about a thousand steps at the bound; refused, keeping it finite.
    detail::require(std::isfinite(next), fn, "n_steps", "would make the coefficient overflow");
    value_ = next;
    return value_;
  }

private:
  kl_controller_options options_;
  double value_;
};

} // namespace mmrag_rft
