// SPDX-License-Identifier: Apache-2.0
// Fuzz target: parse_relevance. The first byte picks the score scale and the threshold.
#include <mmrag_rft/text/relevance.hpp>

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mmrag_rft::fuzz::check;
  using rf = mmrag_rft::relevance_failure;
  mmrag_rft::relevance_options o;
  if (size > 0) {
    o.scale = static_cast<mmrag_rft::score_scale>(data[0] % 4);
    o.threshold = (data[0] >> 2) / 63.0;
  }
  const std::string_view in =
      size > 0 ? std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1) : std::string_view{};
  const mmrag_rft::relevance_parse r = mmrag_rft::parse_relevance(in, o);

  check(r.ok() == (r.failure == rf::none), "a verdict exactly when there is no failure");
  check(mmrag_rft::fuzz::inside(r.evidence, in), "evidence views the input");
  check(!r.score || (*r.score >= 0 && *r.score <= 1), "a score lies in [0, 1]");
  check(r.failure != rf::score_out_of_range || !r.score, "no score when it was out of range");
  check(!r.ok() || r.score || r.positive + r.negative > 0, "a verdict has a reason");
  check(!r.ok() || !(r.positive > 0 && r.negative > 0), "both polarities are never a verdict");
  if (r.ok() && r.score)
    check((r.verdict == mmrag_rft::relevance_verdict::relevant) == (*r.score >= o.threshold),
          "a scored verdict follows the threshold");
  if (r.ok() && !r.score)
    check((r.verdict == mmrag_rft::relevance_verdict::relevant) == (r.positive > 0), "a word verdict follows words");
  check(r.failure != rf::empty || (r.positive == 0 && r.negative == 0 && !r.score), "empty means nothing found");
  return 0;
}
