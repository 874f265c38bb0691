// SPDX-License-Identifier: Apache-2.0
// Fuzz target: parse_ranking with each kind of label scheme. The first byte picks the scheme and max_items.
#include <mmrag_rft/text/ranking.hpp>

#include "fuzz_check.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mmrag_rft::fuzz::check;
  using ri = mmrag_rft::ranking_issue;
  static const std::array<mmrag_rft::label_scheme, 5> schemes{
      mmrag_rft::label_scheme::numbered(5),
      mmrag_rft::label_scheme::shared(20),
      mmrag_rft::label_scheme::per_prefix({{"image", 3}, {"text", 4}, {"table", 1}}),
      mmrag_rft::label_scheme::per_prefix({{"passage", 70}}), // more than 64 documents: two bitset words
      mmrag_rft::label_scheme::numbered(0),
  };
  static mmrag_rft::ranking_parse reused; // carries state from the previous input, as a training loop would
  const std::size_t pick = size > 0 ? data[0] % schemes.size() : 0;
  mmrag_rft::ranking_options o;
  if (size > 0) o.max_items = 1 + (data[0] >> 3); // 1..32
  const std::string_view in =
      size > 0 ? std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1) : std::string_view{};
  const mmrag_rft::label_scheme& s = schemes[pick];
  const mmrag_rft::ranking_parse p = mmrag_rft::parse_ranking(in, s, o);

  check(p.labels <= o.max_items, "at most max_items labels are read");
  check(p.diagnostics.size() <= o.max_items, "at most max_items diagnostics are kept");
  check(p.order.size() <= s.num_documents() && p.order.size() <= p.labels, "order is bounded");
  check((p.labels == 0) == any(p.issues, ri::empty), "empty iff no label");
  std::vector<bool> seen(s.num_documents(), false);
  for (const std::size_t d : p.order) {
    check(d < s.num_documents(), "indices lie in range");
    check(!seen[d], "no document twice");
    seen[d] = true;
  }
  std::size_t bad_labels = 0;
  ri kinds = ri::none;
  for (const auto& d : p.diagnostics) {
    check(mmrag_rft::fuzz::inside(d.text, in) && !d.text.empty(), "diagnostics view the input");
    check(d.offset == static_cast<std::size_t>(d.text.data() - in.data()), "offset matches the view");
    check(d.position <= p.labels, "position is a label ordinal");
    kinds |= d.kind;
    bad_labels += d.kind != ri::extra_text;
  }
  check((kinds & ~p.issues) == ri::none, "every diagnostic kind is in issues");
  if (p.diagnostics.size() < o.max_items) check(bad_labels + p.order.size() == p.labels, "every label accounted for");

  mmrag_rft::parse_ranking(in, s, reused, o);
  check(reused.order == p.order && reused.issues == p.issues && reused.labels == p.labels &&
            reused.diagnostics.size() == p.diagnostics.size(),
        "a reused result object gives the same result as a fresh one");
  return 0;
}
