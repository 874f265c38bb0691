// SPDX-License-Identifier: Apache-2.0
// Fuzz target: tag_format::parse and is_r1_format. The first byte picks a tag configuration.
#include <mmrag_rft/text/sections.hpp>

#include "fuzz_check.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using mmrag_rft::fuzz::check;
  using mmrag_rft::fuzz::inside;
  using si = mmrag_rft::section_issue;
  static const std::array<mmrag_rft::tag_format, 4> formats{
      mmrag_rft::tag_format{}, mmrag_rft::tag_format{"think", "relevance", "answer"},
      mmrag_rft::tag_format(
          std::vector<mmrag_rft::tag_spec>{{"think", true}, {"rank", true}, {"answer", true}, {"note", false}}),
      mmrag_rft::tag_format{"a", "ab", "b"}, // names that are prefixes of each other
  };
  const std::size_t pick = size > 0 ? data[0] % formats.size() : 0;
  const std::string_view in =
      size > 0 ? std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1) : std::string_view{};
  const mmrag_rft::tag_format& f = formats[pick];
  const mmrag_rft::tag_parse p = f.parse(in);

  check(p.count == f.size(), "one section per configured tag");
  check(inside(p.leading, in) && inside(p.trailing, in), "leading and trailing text view the input");
  si all = si::none;
  for (std::size_t t = 0; t < p.count; ++t) {
    const mmrag_rft::tag_section& s = p[t];
    all |= s.issues;
    check(inside(s.content, in) && inside(s.whole, in), "sections view the input");
    check(s.found() == (s.opens > 0), "found means opened");
    check(!s.found() || (s.content.data() >= s.whole.data() &&
                         s.content.data() + s.content.size() <= s.whole.data() + s.whole.size()),
          "content lies inside whole");
    check(any(s.issues, si::missing) == (f.spec(t).required && s.opens == 0), "missing iff a required tag never opens");
    check(any(s.issues, si::duplicated) == (s.opens > 1 || s.closes > 1), "duplicated iff more than one tag");
    check(!any(s.issues, si::unclosed) || s.opens > s.closes || s.opens > 0, "unclosed needs an opening tag");
  }
  check((p.issues & ~(si::trailing_text)) == all, "overall issues are the sections' issues plus trailing text");
  if (pick == 0) check(p.well_formed() == mmrag_rft::is_r1_format(in), "is_r1_format agrees with the R1 parse");
  if (p.well_formed()) {
    for (std::size_t t = 0; t < p.count; ++t)
      check(!f.spec(t).required || (p[t].opens == 1 && p[t].closes == 1), "well formed means exactly once");
  }
  return 0;
}
