// SPDX-License-Identifier: Apache-2.0
// Fuzz target: normalize_answer, answer_tokens, for_each_token.
#include <mmrag_rft/text/normalize.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mmrag_rft::fuzz::check;
  using mmrag_rft::fuzz::inside;
  // Reused buffers keep allocation (slow under ASan) out of most iterations.
  static std::string out, again;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  out.reserve(in.size());
  const char* buffer = out.data();
  mmrag_rft::normalize_answer(in, out);
  // Lower case can be longer than upper case in UTF-8 (U+0130 -> "i" U+0307), so only ASCII input is bounded by
  // its own length.
  const bool ascii = std::all_of(in.begin(), in.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  check(!ascii || out.data() == buffer, "no reallocation when capacity suffices (ASCII input)");
  check(mmrag_rft::normalize_answer(in) == out, "both overloads agree");

  check(!ascii || out.size() <= in.size(), "normalised ASCII text is not longer than the input");
  check(out.size() <= 2 * in.size(), "lower case at most doubles the length");
  mmrag_rft::normalize_answer(out, again);
  check(again == out, "normalisation is idempotent");
  check(!mmrag_rft::fuzz::valid_utf8(in) || mmrag_rft::fuzz::valid_utf8(out), "valid UTF-8 stays valid UTF-8");
  for (const char c : out) {
    const auto u = static_cast<unsigned char>(c);
    check(!(u >= 'A' && u <= 'Z'), "no upper-case ASCII letter");
    check(!mmrag_rft::detail::is_punct(u), "no ASCII punctuation");
  }

  // The tokens, separated by single spaces, tile the normalised text exactly.
  const std::string_view o = out;
  std::size_t next = 0;
  mmrag_rft::for_each_token(o, [&](std::string_view t) {
    check(inside(t, o) && !t.empty(), "tokens are non-empty views into the text");
    const auto at = static_cast<std::size_t>(t.data() - o.data());
    check(at == (next == 0 ? 0 : next + 1) && (next == 0 || o[next] == ' '), "tokens are separated by one space");
    check(t != "a" && t != "an" && t != "the", "no article token");
    next = at + t.size();
  });
  check(next == o.size(), "tokens rebuild the text (no leading, trailing or double space)");
  check(mmrag_rft::answer_tokens(o).size() ==
            static_cast<std::size_t>(std::count(o.begin(), o.end(), ' ')) + (o.empty() ? 0 : 1),
        "answer_tokens splits on the spaces");

  std::size_t n = 0;
  mmrag_rft::for_each_token(in, [&](std::string_view t) {
    check(inside(t, in) && !t.empty(), "for_each_token gives non-empty views into the input");
    ++n;
  });
  check(n <= in.size(), "at most one token per byte");
  return 0;
}
