// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/core.hpp>
#include <mmrag_rft/core/eigen.hpp>

#include <doctest/doctest.h>

#include <range/v3/numeric/accumulate.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>
#include <numeric>
#include <random>
#include <string>
#include <vector>

using namespace mmrag_rft;

TEST_SUITE("core") {

TEST_CASE("matrix_view: strided rows, const conversion, rows as ranges") {
  std::vector<float> buf(12);
  std::iota(buf.begin(), buf.end(), 0.0f);
  matrix_view<float> v(buf.data(), 3, 3, 4); // a [3, 3] slice of a [3, 4] buffer
  CHECK(v(2, 1) == 9.0f);
  CHECK(!v.contiguous());
  matrix_view<const float> c = v;
  CHECK(c.row(1).size() == 3);
  CHECK(ranges::accumulate(c.row(1), 0.0f) == 4.0f + 5.0f + 6.0f);
  CHECK(matrix_view<const float>{}.empty());
}

TEST_CASE("as_eigen / as_view: zero-copy both ways, honouring the row stride") {
  std::vector<double> buf{1, 2, 0, 3, 4, 0};
  auto m = as_eigen(matrix_view<double>(buf.data(), 2, 2, 3));
  CHECK(m(1, 0) == 3.0);
  m(1, 1) = 40.0;
  CHECK(buf[4] == 40.0);
  CHECK(m.sum() == 46.0);
  eigen_row_major<float> e(2, 3);
  e.setConstant(2.0f);
  auto v = as_view(e);
  v(0, 2) = 5.0f;
  CHECK(e(0, 2) == 5.0f);
  CHECK(v.rows() == 2);
}

TEST_CASE("group_layout: uniform and offsets, validated once") {
  const auto u = group_layout::uniform(3, 4);
  CHECK(u.num_items() == 12);
  CHECK(u.begin(2) == 8);
  CHECK(u.size(1) == 4);
  std::vector<std::int64_t> off{0, 2, 2, 7};
  const auto o = group_layout::from_offsets(off);
  CHECK(o.num_groups() == 3);
  CHECK(o.size(1) == 0);
  CHECK(o.end(2) == 7);
  std::vector<std::int64_t> bad{0, 3, 2};
  CHECK_THROWS_WITH_AS((void)group_layout::from_offsets(bad), doctest::Contains("offsets[2]"), mmrag_rft::error);
  std::vector<std::int64_t> bad0{1, 3};
  CHECK_THROWS_AS((void)group_layout::from_offsets(bad0), mmrag_rft::error);
  CHECK_THROWS_AS((void)group_layout::from_offsets({}), mmrag_rft::error);
  CHECK_THROWS_AS((void)group_layout::uniform(2, 0), mmrag_rft::error);
  CHECK(group_layout::uniform(0, 0).num_items() == 0);
}

TEST_CASE("group_layout: a uniform layout whose item count would wrap or exceed 2^63 - 1 is refused") {
  constexpr std::size_t two63 = std::size_t{1} << 63;
  // 2 * (2^63 + 1) wraps to 2 and 2 * 2^63 to 0: the size checks of every estimator would pass on a tiny batch.
  CHECK_THROWS_WITH_AS((void)group_layout::uniform(2, two63 + 1), doctest::Contains("group_size"), mmrag_rft::error);
  CHECK_THROWS_AS((void)group_layout::uniform(2, two63), mmrag_rft::error);
  CHECK_THROWS_AS((void)group_layout::uniform(two63, 2), mmrag_rft::error);
  CHECK_THROWS_AS((void)group_layout::uniform(1, two63), mmrag_rft::error);
  CHECK_THROWS_AS((void)group_layout::uniform(std::size_t{1} << 32, std::size_t{1} << 32), mmrag_rft::error);
  CHECK(group_layout::uniform(1, two63 - 1).num_items() == two63 - 1);
  CHECK(group_layout::uniform(0, two63 + 1).num_items() == 0);
  CHECK_THROWS_AS((void)group_layout::uniform(std::size_t{1} << 31, std::size_t{1} << 32), mmrag_rft::error);
  CHECK(group_layout::uniform(std::size_t{1} << 31, std::size_t{1} << 31).num_items() == std::size_t{1} << 62);
}

TEST_CASE("keyed_groups: groups by key in order of first appearance") {
  std::vector<std::string> uid{"b", "a", "b", "c", "a"};
  const auto k = keyed_groups::from_keys<std::string>(uid);
  CHECK(k.num_groups() == 3);
  CHECK(std::vector<std::size_t>(k.order().begin(), k.order().end()) == std::vector<std::size_t>{0, 2, 1, 4, 3});
  CHECK(k.layout().size(0) == 2);
  CHECK(k.layout().size(2) == 1);
}

TEST_CASE("keyed_groups: adjacent keys (verl's repeated uids) are in place, and uniform when the groups are equal") {
  std::vector<std::string> uid{"p", "p", "q", "q", "r", "r"};
  const auto k = keyed_groups::from_keys<std::string>(uid);
  CHECK(k.in_place());
  CHECK(k.num_groups() == 3);
  CHECK(std::vector<std::size_t>(k.order().begin(), k.order().end()) == std::vector<std::size_t>{0, 1, 2, 3, 4, 5});
  CHECK(k.layout().is_uniform());
  CHECK(k.layout().uniform_size() == 2);

  std::vector<int> uneven{4, 4, 4, 9};
  const auto u = keyed_groups::from_keys<int>(uneven);
  CHECK(u.in_place());
  CHECK_FALSE(u.layout().is_uniform());
  CHECK(u.layout().size(0) == 3);
  CHECK(u.layout().size(1) == 1);
}

TEST_CASE("keyed_groups: a key that comes back after another key's run joins its first group") {
  std::vector<int> uid{1, 1, 2, 2, 1, 1};
  const auto k = keyed_groups::from_keys<int>(uid);
  CHECK_FALSE(k.in_place());
  CHECK(k.num_groups() == 2);
  CHECK(std::vector<std::size_t>(k.order().begin(), k.order().end()) == std::vector<std::size_t>{0, 1, 4, 5, 2, 3});
  CHECK(k.layout().size(0) == 4);
  CHECK(k.layout().size(1) == 2);
}

TEST_CASE("keyed_groups: no keys give no groups") {
  const auto k = keyed_groups::from_keys<int>(std::span<const int>{});
  CHECK(k.num_groups() == 0);
  CHECK(k.in_place());
  CHECK(k.order().empty());
  CHECK(k.layout().num_items() == 0);
}

TEST_CASE("keyed_groups: equals a std::map grouping on random keys, colliding hashes included") {
  std::mt19937_64 rng(17);
  for (int trial = 0; trial < 200; ++trial) {
    const std::size_t n = rng() % 300;
    const std::uint64_t alphabet = 1 + rng() % 40;
    const bool runs = trial % 2 == 0;
    // Keys that differ only in their high bits: identical low bits, the worst case for a table indexed by them.
    const int shift = trial % 3 == 0 ? 40 : 0;
    std::vector<std::uint64_t> keys;
    while (keys.size() < n) {
      const std::uint64_t key = (rng() % alphabet) << shift;
      const std::size_t repeat = runs ? 1 + rng() % 8 : 1;
      for (std::size_t j = 0; j < repeat && keys.size() < n; ++j) keys.push_back(key);
    }
    std::map<std::uint64_t, std::size_t> first_seen;
    std::vector<std::vector<std::size_t>> members;
    for (std::size_t i = 0; i < n; ++i) {
      const auto [it, inserted] = first_seen.try_emplace(keys[i], members.size());
      if (inserted) members.emplace_back();
      members[it->second].push_back(i);
    }
    std::vector<std::size_t> expected;
    for (const auto& m : members) expected.insert(expected.end(), m.begin(), m.end());

    const auto k = keyed_groups::from_keys<std::uint64_t>(keys);
    INFO("trial " << trial << " n " << n);
    REQUIRE(k.num_groups() == members.size());
    CHECK(std::vector<std::size_t>(k.order().begin(), k.order().end()) == expected);
    std::vector<std::size_t> identity(n);
    std::iota(identity.begin(), identity.end(), std::size_t{0});
    CHECK(k.in_place() == (expected == identity));
    const group_layout l = k.layout();
    for (std::size_t g = 0; g < members.size(); ++g) CHECK(l.size(g) == members[g].size());
  }
}

TEST_CASE("keyed_groups: order() is a random-access view; the identity of an in-place grouping is not stored") {
  static_assert(std::random_access_iterator<index_order::iterator>);
  static_assert(std::ranges::random_access_range<index_order> && std::ranges::sized_range<index_order>);
  std::vector<int> adjacent{7, 7, 3, 3, 3};
  const auto k = keyed_groups::from_keys<int>(adjacent);
  const index_order o = k.order();
  CHECK(o.is_identity());
  CHECK(o.stored().empty());
  CHECK(o.size() == 5);
  CHECK(k.size() == 5);
  CHECK(o[4] == 4);
  CHECK(*(o.begin() + 3) == 3);
  CHECK(o.end() - o.begin() == 5);
  CHECK(o.begin()[2] == 2);

  std::vector<int> returning{1, 2, 1};
  const auto r = keyed_groups::from_keys<int>(returning);
  const index_order p = r.order();
  CHECK_FALSE(p.is_identity());
  CHECK(std::vector<std::size_t>(p.stored().begin(), p.stored().end()) == std::vector<std::size_t>{0, 2, 1});
  CHECK(std::ranges::equal(p, std::vector<std::size_t>{0, 2, 1}));
  auto it = p.end();
  --it;
  CHECK(*it == 1);
  CHECK(it > p.begin());
}

TEST_CASE("keyed_groups: ids that are multiples of the golden ratio (Fibonacci-hash-like ids) group correctly") {
  // A single Fibonacci multiply of such ids clustered them in the table; the mixer spreads them. Correctness here,
  // speed in bench/advantages/grpo.cpp.
  const std::size_t groups = 1 << 14, g = 4;
  std::vector<std::uint64_t> uid(groups * g);
  for (std::size_t j = 0; j < uid.size(); ++j) uid[j] = (j / g) * 0x9E3779B97F4A7C15ull + 12345;
  const auto k = keyed_groups::from_keys<std::uint64_t>(uid);
  CHECK(k.num_groups() == groups);
  CHECK(k.in_place());
  CHECK(k.layout().is_uniform());
  CHECK(k.layout().uniform_size() == g);
}

TEST_CASE("build_response_mask: EOS included, padding after EOS never counts, truncation detected") {
  // pad id 0 != eos id 2; row 1 has no EOS and its last two positions are padding beyond its generated length.
  std::vector<std::int64_t> ids{5, 6, 2, 0, 0, //
                                5, 6, 7, 0, 0, //
                                2, 0, 0, 0, 0};
  std::vector<std::uint8_t> mask(15, 9);
  std::vector<std::int64_t> lengths{3, 3, 1};
  std::vector<std::uint8_t> truncated(3);
  auto s = build_response_mask(matrix_view<const std::int64_t>(ids.data(), 3, 5), 2, {mask.data(), 3, 5}, {}, lengths,
                               truncated);
  CHECK(std::vector<std::uint8_t>(mask.begin(), mask.begin() + 5) == std::vector<std::uint8_t>{1, 1, 1, 0, 0});
  CHECK(std::vector<std::uint8_t>(mask.begin() + 5, mask.begin() + 10) == std::vector<std::uint8_t>{1, 1, 1, 0, 0});
  CHECK(mask[10] == 1);
  CHECK(s.truncated == 1);
  CHECK(truncated == std::vector<std::uint8_t>{0, 1, 0});
  CHECK(s.valid_tokens == 7);
  s = build_response_mask(matrix_view<const std::int64_t>(ids.data(), 3, 5), 2, {mask.data(), 3, 5},
                          {.include_eos = false, .mask_truncated = true}, lengths);
  CHECK(s.valid_tokens == 2);
  CHECK(mask[5] == 0);
  CHECK(mask[10] == 0);
  // Without lengths, a row without EOS counts every position (the caller's padding included): pass lengths.
  s = build_response_mask(matrix_view<const std::int64_t>(ids.data(), 3, 5), 2, {mask.data(), 3, 5});
  CHECK(s.valid_tokens == 3 + 5 + 1);
  std::vector<std::int64_t> bad_len{3, 9, 1};
  CHECK_THROWS_WITH_AS(
      (void)build_response_mask(matrix_view<const std::int64_t>(ids.data(), 3, 5), 2, {mask.data(), 3, 5}, {}, bad_len),
      doctest::Contains("lengths[1]"), mmrag_rft::error);
}

TEST_CASE("build_response_mask: a bad length leaves the mask and the truncation flags untouched") {
  std::vector<std::int64_t> ids{5, 2, 0, 5, 6, 7};
  std::vector<std::uint8_t> mask(6, 9), truncated(2, 9);
  const std::vector<std::int64_t> lengths{2, 4}; // row 1 is bad, row 0 would be written first
  CHECK_THROWS_WITH_AS((void)build_response_mask(matrix_view<const std::int64_t>(ids.data(), 2, 3), 2,
                                                 {mask.data(), 2, 3}, {}, lengths, truncated),
                       doctest::Contains("lengths[1]"), mmrag_rft::error);
  CHECK(mask == std::vector<std::uint8_t>(6, 9));
  CHECK(truncated == std::vector<std::uint8_t>(2, 9));
}

TEST_CASE("error: names the function, the argument and the index") {
  const mmrag_rft::error e("grpo_advantages", "rewards", "is NaN", 3);
  CHECK(std::string(e.what()) == "grpo_advantages: rewards[3] is NaN");
  CHECK(e.index() == 3);
  CHECK(e.argument() == "rewards");
}

} // TEST_SUITE("core")
