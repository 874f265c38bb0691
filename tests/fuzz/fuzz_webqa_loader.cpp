// SPDX-License-Identifier: Apache-2.0
// Fuzz target: parse_webqa on any bytes. The first byte picks the options (split filter, negatives, quote
// stripping, shuffling, a small nesting limit); the rest is the file.
#include <mmrag_rft/data/webqa.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mmrag_rft::fuzz::check;

// Document ids of a sample, and those of its gold documents, sorted: what a shuffle must keep.
struct id_sets {
  std::vector<std::string> all, gold;
};
id_sets ids_of(const mmrag_rft::sample& s) {
  id_sets r;
  for (const auto& d : s.documents) r.all.push_back(d.id);
  for (const auto g : s.gold) r.gold.push_back(s.documents[g].id);
  std::sort(r.all.begin(), r.all.end());
  std::sort(r.gold.begin(), r.gold.end());
  return r;
}

// The samples, or the error, of one parse: exactly one of the two.
struct outcome {
  std::vector<mmrag_rft::sample> samples;
  bool failed = false;
};
outcome parse(std::string_view text, const mmrag_rft::webqa_load_options& o) {
  outcome r;
  try {
    r.samples = mmrag_rft::parse_webqa(text, "fuzz.json", o);
  } catch (const mmrag_rft::file_error& e) {
    r.failed = true;
    check(e.function() == "parse_webqa" && e.file() == "fuzz.json", "an error names the loader and the source");
    check(e.line() != mmrag_rft::file_error::unknown && e.line() >= 1 && e.line() <= mmrag_rft::fuzz::line_count(text),
          "an error's line lies in the text");
    check(e.byte_offset() == mmrag_rft::file_error::unknown || e.byte_offset() <= text.size(),
          "an error's byte offset lies in the text");
  }
  return r;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t flags = size > 0 ? data[0] : 0;
  const std::string_view text = mmrag_rft::fuzz::after_first(data, size);
  mmrag_rft::webqa_load_options o;
  o.split = (flags & 1) ? "val" : "";
  o.include_negatives = (flags & 2) == 0;
  o.strip_quotes = (flags & 4) == 0;
  if (flags & 8) o.max_depth = 1 + (flags >> 4); // 1..16: the limit itself is exercised
  const outcome plain = parse(text, o);
  for (const auto& s : plain.samples) {
    check(o.split.empty() || s.split == o.split, "only records of the chosen split are kept");
    check(o.include_negatives || s.gold.size() == s.documents.size(), "without negatives every document is gold");
    for (std::size_t i = 0; i < s.gold.size(); ++i) {
      check(s.gold[i] < s.documents.size(), "gold indexes the documents");
      check(i == 0 || s.gold[i - 1] < s.gold[i], "in file order gold is increasing (so distinct)");
    }
  }

  // A shuffle reorders each sample's documents and remaps gold, nothing else; the same seed gives the same order.
  o.shuffle_seed = flags;
  const outcome shuffled = parse(text, o);
  check(shuffled.failed == plain.failed && shuffled.samples.size() == plain.samples.size(),
        "shuffling does not change what parses");
  for (std::size_t i = 0; i < plain.samples.size(); ++i) {
    const auto& a = plain.samples[i];
    const auto& b = shuffled.samples[i];
    check(a.id == b.id && a.question == b.question && a.answers == b.answers, "shuffling keeps the record");
    check(b.gold.size() == a.gold.size(), "shuffling keeps the number of gold documents");
    for (const auto g : b.gold) check(g < b.documents.size(), "shuffled gold indexes the documents");
    const id_sets x = ids_of(a), y = ids_of(b);
    check(x.all == y.all && x.gold == y.gold, "shuffling keeps the documents and which of them are gold");
  }
  const outcome again = parse(text, o);
  for (std::size_t i = 0; i < again.samples.size(); ++i) {
    const auto& a = shuffled.samples[i];
    const auto& b = again.samples[i];
    check(a.gold == b.gold && a.documents.size() == b.documents.size(), "a seed gives one order");
    for (std::size_t d = 0; d < a.documents.size(); ++d)
      check(a.documents[d].id == b.documents[d].id, "a seed gives one order");
  }
  return 0;
}
