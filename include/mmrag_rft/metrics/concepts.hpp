// SPDX-License-Identifier: Apache-2.0
// Concepts of the metrics part.
#pragma once
#include <mmrag_rft/config.hpp>

#include <concepts>
#include <ranges>
#include <string_view>

namespace mmrag_rft {

/// A list of answer strings, e.g. `std::vector<std::string>`, `std::span<const std::string_view>` or
/// `std::array<const char*, N>`. A type R satisfies `AnswerRange` if:
/// 1. R is an input range, and
/// 2. each element converts to `std::string_view`.
/// A single `std::string` or `const char*` does not (its elements are characters), so an answer is never mistaken
/// for a list of answers.
template <class R>
concept AnswerRange = std::ranges::input_range<const R&> &&
                      std::convertible_to<std::ranges::range_reference_t<const R&>, std::string_view>;

} // namespace mmrag_rft
