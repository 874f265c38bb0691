// SPDX-License-Identifier: Apache-2.0
#include "table_policy.hpp"

#include <mmrag_rft/pipeline/coarse_filter.hpp>

#include <doctest/doctest.h>

#include <optional>
#include <string_view>

using namespace mmrag_rft;
using test_support::yes_no;

namespace {
sample three_docs() {
  sample s;
  s.id = "q";
  s.question = "which?";
  for (int i = 0; i < 3; ++i)
    s.documents.push_back({std::to_string(i), modality::text, "t" + std::to_string(i), "", "", nullptr});
  s.gold = {0, 2};
  s.answers = {"a"};
  return s;
}
} // namespace

TEST_SUITE("pipeline") {
TEST_CASE("make_stage1_samples: one single-document sample per document with gold {0} when relevant") {
  const auto v = make_stage1_samples(three_docs());
  REQUIRE(v.size() == 3);
  CHECK(v[0].gold == std::vector<std::size_t>{0});
  CHECK(v[1].gold.empty());
  CHECK(v[2].documents.front().id == "2");
}
TEST_CASE("make_stage2_sample: gold is remapped to positions in the kept list") {
  const std::vector<std::size_t> kept{1, 2};
  const sample s = make_stage2_sample(three_docs(), kept);
  CHECK(s.documents.size() == 2);
  CHECK(s.gold == std::vector<std::size_t>{1});
  const std::vector<std::size_t> bad{5};
  CHECK_THROWS_AS((void)make_stage2_sample(three_docs(), bad), error);
}
TEST_CASE("apply_filter: keeps scores above threshold up to the cap, in document order") {
  filter_options o;
  o.cap = 2;
  const std::vector<double> s{0.6, 0.9, 0.2, 0.7};
  const filter_decision d = apply_filter(s, o);
  CHECK(d.kept == std::vector<std::size_t>{1, 3});
  CHECK_FALSE(d.fell_back);
}
TEST_CASE("apply_filter: falls back when no document reaches the threshold") {
  filter_options o;
  const std::vector<double> s{0.1, 0.3, 0.3};
  CHECK(apply_filter(s, o).kept == std::vector<std::size_t>{1});
  CHECK(apply_filter(s, o).fell_back);
  o.fallback = filter_fallback::keep_all;
  o.cap = 2;
  CHECK(apply_filter(s, o).kept == std::vector<std::size_t>{0, 1});
  o.fallback = filter_fallback::keep_none;
  CHECK(apply_filter(s, o).kept.empty());
  o.cap = 0;
  CHECK_THROWS_AS((void)apply_filter(s, o), error);
  CHECK(apply_filter({}, filter_options{}).kept.empty());
}
TEST_CASE("coarse_filter: scores every document with the policy's verdicts when run on a table policy") {
  test_support::table_policy pol({"yes", "no", "maybe"});
  const std::vector<sample> v{three_docs(), three_docs()};
  prompt_templates t;
  t.stage1 = "{document}";
  t.document = "{title}";
  const auto d = coarse_filter(pol, std::span<const sample>(v), t, yes_no);
  REQUIRE(d.size() == 2);
  // Untrained table: all three choices tie, greedy picks "yes" for every document.
  CHECK(d[0].scores == std::vector<double>{1.0, 1.0, 1.0});
  CHECK(d[0].kept == std::vector<std::size_t>{0, 1, 2});
  CHECK(d[0].texts.front() == "yes");
}
} // TEST_SUITE("pipeline")
