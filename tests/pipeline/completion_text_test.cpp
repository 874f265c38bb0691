// SPDX-License-Identifier: Apache-2.0
// completion::text keeps the section tags: the demo's decode (tags as single tokens, EOS and padding left out) gives
// a text the stage-2 format rule accepts, and the same ids decoded without their tag tokens fail it.
#include <mmrag_rft/rewards.hpp>

#include "../../examples/two_stage_demo/tokenizer.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

TEST_CASE("completion::text: the demo's decode keeps the section tags, so the format rule sees them") {
  const std::string text = "<think> [2] shows the red mell </think><rank> [2, 1] </rank><answer> red </answer>";
  const demo::tokenizer tok({text});
  std::vector<std::int64_t> ids = tok.encode(text);
  const std::size_t generated = ids.size();
  ids.push_back(demo::tokenizer::eos);
  ids.push_back(demo::tokenizer::pad);
  ids.push_back(demo::tokenizer::pad);
  const mmrag_rft::completion c{tok.decode(ids), generated + 1, false};
  CHECK(c.text == "<think> [2] shows the red mell </think> <rank> [2, 1] </rank> <answer> red </answer>");
  const mmrag_rft::sample s;
  CHECK(mmrag_rft::stage2_format()(c, s) == 1.0);
  // What "special tokens removed" would give when the tags are special tokens: no tags, no format credit.
  std::vector<std::int64_t> no_tags;
  const auto tags = tok.encode("<think> </think> <rank> </rank> <answer> </answer>");
  std::copy_if(ids.begin(), ids.end(), std::back_inserter(no_tags),
               [&](std::int64_t id) { return std::find(tags.begin(), tags.end(), id) == tags.end(); });
  const mmrag_rft::completion stripped{tok.decode(no_tags), no_tags.size(), false};
  CHECK(stripped.text == "[2] shows the red mell [2, 1] red");
  CHECK(mmrag_rft::stage2_format()(stripped, s) == 0.0);
}
