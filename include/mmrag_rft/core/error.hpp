// SPDX-License-Identifier: Apache-2.0
// The one exception type of mmrag_rft: which function, which argument and which index were wrong.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace mmrag_rft {

/// The error every mmrag_rft function throws for bad arguments, bad configuration or malformed files.
///
/// `what()` is a complete sentence naming the function, the argument and (where one applies) the index, e.g.
/// `grpo_advantages: rewards[3] is NaN (set nonfinite_rewards = mask_out to drop such completions)`.
/// Hot loops never throw: sizes and options are checked once at the API boundary.
class error : public std::invalid_argument {
public:
  static constexpr std::size_t no_index = static_cast<std::size_t>(-1);

  error(std::string_view function, std::string_view argument, std::string_view message, std::size_t index = no_index)
      : std::invalid_argument(format(function, argument, message, index)), function_(function), argument_(argument),
        index_(index) {}

  /// The public function that rejected its input.
  [[nodiscard]] const std::string& function() const noexcept { return function_; }
  /// The argument (or option, or file field) that was wrong.
  [[nodiscard]] const std::string& argument() const noexcept { return argument_; }
  /// The offending element, or `no_index` when the whole argument is wrong.
  [[nodiscard]] std::size_t index() const noexcept { return index_; }

private:
  static std::string format(std::string_view function, std::string_view argument, std::string_view message,
                            std::size_t index) {
    std::string s;
    s.reserve(function.size() + argument.size() + message.size() + 24);
    s.append(function).append(": ").append(argument);
    if (index != no_index) s.append("[").append(std::to_string(index)).append("]");
    s.append(" ").append(message);
    return s;
  }

  std::string function_;
  std::string argument_;
  std::size_t index_;
};

namespace detail {
/// Throws `error` unless `ok`; the boundary checks of every public function go through here.
constexpr void require(bool ok, std::string_view function, std::string_view argument, std::string_view message,
                       std::size_t index = error::no_index) {
  if (!ok) throw error(function, argument, message, index);
}
} // namespace detail

} // namespace mmrag_rft
