// SPDX-License-Identifier: Apache-2.0
// Where each prompt's group of G completions sits in a flat batch: offsets, with a fast path for uniform G.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <span>
#include <vector>

namespace mmrag_rft {

/// The groups of a flat batch of completions: group `g` holds items `[begin(g), end(g))`.
///
/// Either uniform (every group has `group_size` items, contiguous, as TRL and OpenRLHF lay out `reshape(-1, G)`) or
/// given by `num_groups + 1` offsets in caller memory (the layout CUB's segmented reductions take). Offsets are
/// validated once, when the layout is made; algorithms then trust them. Empty groups are allowed and yield nothing.
/// A `group_layout` does not own the offsets it views.
class group_layout {
public:
  constexpr group_layout() noexcept = default;

  /// `num_groups` contiguous groups of `group_size` completions each. Throws if `group_size == 0` while
  /// `num_groups > 0`.
  [[nodiscard]] static constexpr group_layout uniform(std::size_t num_groups, std::size_t group_size) {
    detail::require(group_size > 0 || num_groups == 0, "group_layout::uniform", "group_size",
                    "is 0 (a group needs at least one completion)");
    group_layout l;
    l.num_groups_ = num_groups;
    l.group_size_ = group_size;
    l.num_items_ = num_groups * group_size;
    return l;
  }

  /// Groups given by offsets: group `g` is `[offsets[g], offsets[g+1])`. Throws unless `offsets` is non-empty, starts
  /// at 0 and never decreases. The offsets must outlive the layout.
  [[nodiscard]] static group_layout from_offsets(std::span<const std::int64_t> offsets) {
    detail::require(!offsets.empty(), "group_layout::from_offsets", "offsets",
                    "is empty (num_groups + 1 offsets are needed, the first one 0)");
    detail::require(offsets[0] == 0, "group_layout::from_offsets", "offsets", "must start at 0", 0);
    for (std::size_t i = 1; i < offsets.size(); ++i)
      detail::require(offsets[i] >= offsets[i - 1], "group_layout::from_offsets", "offsets",
                      "is smaller than the offset before it (offsets must not decrease)", i);
    group_layout l;
    l.offsets_ = offsets.data();
    l.num_groups_ = offsets.size() - 1;
    l.num_items_ = static_cast<std::size_t>(offsets.back());
    return l;
  }

  [[nodiscard]] constexpr std::size_t num_groups() const noexcept { return num_groups_; }
  /// Total number of completions over all groups.
  [[nodiscard]] constexpr std::size_t num_items() const noexcept { return num_items_; }
  [[nodiscard]] constexpr bool is_uniform() const noexcept { return offsets_ == nullptr; }
  /// The common group size of a uniform layout (0 for an offsets layout).
  [[nodiscard]] constexpr std::size_t uniform_size() const noexcept { return group_size_; }
  [[nodiscard]] constexpr std::size_t begin(std::size_t g) const noexcept {
    return offsets_ ? static_cast<std::size_t>(offsets_[g]) : g * group_size_;
  }
  [[nodiscard]] constexpr std::size_t end(std::size_t g) const noexcept { return begin(g + 1); }
  [[nodiscard]] constexpr std::size_t size(std::size_t g) const noexcept { return end(g) - begin(g); }
  /// The offsets this layout views (empty for a uniform layout).
  [[nodiscard]] constexpr std::span<const std::int64_t> offsets() const noexcept {
    return offsets_ ? std::span<const std::int64_t>(offsets_, num_groups_ + 1) : std::span<const std::int64_t>{};
  }

private:
  const std::int64_t* offsets_ = nullptr;
  std::size_t num_groups_ = 0;
  std::size_t group_size_ = 0;
  std::size_t num_items_ = 0;
};

/// Groups formed by a key per completion (verl groups by a `uid` per prompt, in any order), owning a permutation
/// that lists each group's members together, groups in order of first appearance.
///
/// The advantage estimators accept a `keyed_groups` wherever they accept a `group_layout`: they gather by `order()`,
/// compute, and scatter back, so results land at each completion's own index. When every key's completions are
/// already adjacent (`in_place()`: verl repeats each prompt's uid G times in a row), the permutation is the identity
/// and the estimators skip the gather and the scatter; when, in addition, all groups have one size, `layout()` is
/// uniform and the estimators take their uniform-G path.
class keyed_groups {
public:
  /// Groups completions by equal keys. `Key` must be hashable (`std::hash<Key>`) and equality-comparable.
  /// Complexity: O(n) expected; only the first key of each run of equal adjacent keys is hashed, into an
  /// open-addressing table of about twice the number of runs.
  template <class Key>
  [[nodiscard]] static keyed_groups from_keys(std::span<const Key> keys) {
    keyed_groups k;
    const std::size_t n = keys.size();
    // Runs of equal adjacent keys: one hash lookup per run, not per completion. Counted first, so that every
    // list below is allocated once (growing them in place measured 4x slower: page faults of each reallocation).
    std::size_t runs = n > 0;
    for (std::size_t i = 1; i < n; ++i) runs += !(keys[i] == keys[i - 1]);
    std::vector<std::size_t> run_begin;
    run_begin.reserve(runs + 1);
    for (std::size_t i = 0; i < n; ++i)
      if (i == 0 || !(keys[i] == keys[i - 1])) run_begin.push_back(i);
    run_begin.push_back(n);
    detail::require(runs < std::numeric_limits<std::uint32_t>::max(), "keyed_groups::from_keys", "keys",
                    "hold 2^32 - 1 or more runs of equal keys (more than the 32-bit group table holds)");

    // Linear probing over a power-of-two table, slots holding group + 1 (0: empty), 32 bits so that the table of
    // a million completions in groups of 8 fits in L2. Fibonacci hashing of the std::hash value: libstdc++ hashes
    // integers to themselves, and ids with equal low bits would share a slot. offsets_[g + 1] counts group g's
    // completions until the prefix sum below.
    std::size_t bits = 1;
    while ((std::size_t{1} << bits) < 2 * runs) ++bits;
    const std::size_t mask = (std::size_t{1} << bits) - 1;
    std::vector<std::uint32_t> slots(mask + 1, 0);
    std::vector<std::size_t> group_first; // a key index of each group, to compare keys against
    std::vector<std::uint32_t> group_of_run(runs);
    group_first.reserve(runs), k.offsets_.reserve(runs + 1);
    bool in_place = true;
    for (std::size_t r = 0; r < runs; ++r) {
      const Key& key = keys[run_begin[r]];
      const std::uint64_t h = static_cast<std::uint64_t>(std::hash<Key>{}(key)) * 0x9E3779B97F4A7C15ull;
      std::size_t slot = static_cast<std::size_t>(h >> (64 - bits)) & mask;
      while (slots[slot] != 0 && !(keys[group_first[slots[slot] - 1]] == key)) slot = (slot + 1) & mask;
      if (slots[slot] == 0) {
        group_first.push_back(run_begin[r]);
        k.offsets_.push_back(0);
        slots[slot] = static_cast<std::uint32_t>(group_first.size());
      } else {
        in_place = false; // a key seen before, after another key's run
      }
      const std::uint32_t g = slots[slot] - 1;
      group_of_run[r] = g;
      k.offsets_[g + 1] += static_cast<std::int64_t>(run_begin[r + 1] - run_begin[r]);
    }
    const bool same_size = k.offsets_.size() > 1 && std::all_of(k.offsets_.begin() + 1, k.offsets_.end(),
                                                                [&](std::int64_t c) { return c == k.offsets_[1]; });
    k.uniform_size_ = same_size ? static_cast<std::size_t>(k.offsets_[1]) : 0;
    std::partial_sum(k.offsets_.begin(), k.offsets_.end(), k.offsets_.begin());

    k.order_.resize(n);
    if (in_place) {
      std::iota(k.order_.begin(), k.order_.end(), std::size_t{0});
    } else {
      std::vector<std::int64_t> cursor(k.offsets_.begin(), k.offsets_.end() - 1);
      for (std::size_t r = 0; r < runs; ++r) {
        auto& c = cursor[group_of_run[r]];
        for (std::size_t i = run_begin[r]; i < run_begin[r + 1]; ++i) k.order_[static_cast<std::size_t>(c++)] = i;
      }
    }
    k.in_place_ = in_place;
    return k;
  }

  /// The layout of the gathered batch (valid while this object lives): uniform when all groups have one size.
  [[nodiscard]] group_layout layout() const {
    return uniform_size_ ? group_layout::uniform(num_groups(), uniform_size_) : group_layout::from_offsets(offsets_);
  }
  /// `order()[j]` is the original index of the j-th completion of the gathered batch.
  [[nodiscard]] std::span<const std::size_t> order() const noexcept { return order_; }
  [[nodiscard]] std::size_t num_groups() const noexcept { return offsets_.empty() ? 0 : offsets_.size() - 1; }
  /// True when `order()` is the identity: each key's completions are adjacent, groups in order of first appearance.
  [[nodiscard]] bool in_place() const noexcept { return in_place_; }

private:
  std::vector<std::size_t> order_;
  std::vector<std::int64_t> offsets_{0};
  std::size_t uniform_size_ = 0;
  bool in_place_ = true;
};

} // namespace mmrag_rft
