// SPDX-License-Identifier: Apache-2.0
// Where each prompt's group of G completions sits in a flat batch: offsets, with a fast path for uniform G.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <compare>
#include <functional>
#include <iterator>
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
  /// `num_groups > 0`, or if `num_groups * group_size` exceeds 2^63 - 1 (the offsets and the device group bounds are
  /// 64-bit signed; a product that wrapped would report a small batch and let the size checks pass).
  [[nodiscard]] static constexpr group_layout uniform(std::size_t num_groups, std::size_t group_size) {
    detail::require(group_size > 0 || num_groups == 0, "group_layout::uniform", "group_size",
                    "is 0 (a group needs at least one completion)");
    constexpr auto max_items = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
    detail::require(group_size == 0 || num_groups <= max_items / group_size, "group_layout::uniform", "group_size",
                    "times num_groups exceeds 2^63 - 1 completions");
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

namespace detail {
/// MurmurHash3's 64-bit finaliser: every input bit affects every output bit.
[[nodiscard]] constexpr std::uint64_t mix64(std::uint64_t x) noexcept {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}
} // namespace detail

/// A permutation of 0..n-1 as a random-access view: `o[j]` is the original index of the j-th element. Either the
/// identity, which stores nothing, or a borrowed stored permutation.
class index_order {
public:
  class iterator {
  public:
    using iterator_concept = std::random_access_iterator_tag;
    using iterator_category = std::random_access_iterator_tag;
    using value_type = std::size_t;
    using difference_type = std::ptrdiff_t;

    iterator() = default;
    iterator(const std::size_t* perm, std::size_t j) noexcept : perm_(perm), j_(j) {}
    [[nodiscard]] std::size_t operator*() const noexcept { return perm_ ? perm_[j_] : j_; }
    [[nodiscard]] std::size_t operator[](difference_type d) const noexcept { return *(*this + d); }
    iterator& operator++() noexcept { return ++j_, *this; }
    iterator operator++(int) noexcept { return {perm_, j_++}; }
    iterator& operator--() noexcept { return --j_, *this; }
    iterator operator--(int) noexcept { return {perm_, j_--}; }
    iterator& operator+=(difference_type d) noexcept { return j_ += static_cast<std::size_t>(d), *this; }
    iterator& operator-=(difference_type d) noexcept { return j_ -= static_cast<std::size_t>(d), *this; }
    [[nodiscard]] friend iterator operator+(iterator i, difference_type d) noexcept { return i += d; }
    [[nodiscard]] friend iterator operator+(difference_type d, iterator i) noexcept { return i += d; }
    [[nodiscard]] friend iterator operator-(iterator i, difference_type d) noexcept { return i -= d; }
    [[nodiscard]] friend difference_type operator-(iterator a, iterator b) noexcept {
      return static_cast<difference_type>(a.j_) - static_cast<difference_type>(b.j_);
    }
    [[nodiscard]] friend bool operator==(iterator a, iterator b) noexcept { return a.j_ == b.j_; }
    [[nodiscard]] friend auto operator<=>(iterator a, iterator b) noexcept { return a.j_ <=> b.j_; }

  private:
    const std::size_t* perm_ = nullptr;
    std::size_t j_ = 0;
  };

  index_order() = default;
  /// The identity of n elements.
  explicit index_order(std::size_t n) noexcept : n_(n) {}
  /// A stored permutation (borrowed).
  explicit index_order(std::span<const std::size_t> perm) noexcept : perm_(perm.data()), n_(perm.size()) {}

  [[nodiscard]] std::size_t operator[](std::size_t j) const noexcept { return perm_ ? perm_[j] : j; }
  [[nodiscard]] std::size_t size() const noexcept { return n_; }
  [[nodiscard]] bool empty() const noexcept { return n_ == 0; }
  [[nodiscard]] bool is_identity() const noexcept { return perm_ == nullptr; }
  /// The stored permutation; empty for the identity.
  [[nodiscard]] std::span<const std::size_t> stored() const noexcept {
    return perm_ ? std::span<const std::size_t>(perm_, n_) : std::span<const std::size_t>();
  }
  [[nodiscard]] iterator begin() const noexcept { return {perm_, 0}; }
  [[nodiscard]] iterator end() const noexcept { return {perm_, n_}; }

private:
  const std::size_t* perm_ = nullptr;
  std::size_t n_ = 0;
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
  /// open-addressing table of about twice the number of runs. The table is a per-thread scratch list kept between
  /// calls (4 B per slot and per group: 1.5 MiB for 1M completions in groups of 8), so repeated calls fault in no
  /// fresh pages. Throws `mmrag_rft::error` for 2^32 - 1 or more completions.
  template <class Key>
  [[nodiscard]] static keyed_groups from_keys(std::span<const Key> keys) {
    keyed_groups k;
    const std::size_t n = keys.size();
    k.size_ = n;
    detail::require(n < std::numeric_limits<std::uint32_t>::max(), "keyed_groups::from_keys", "keys",
                    "hold 2^32 - 1 or more completions (more than the 32-bit group table indexes)");
    // Runs of equal adjacent keys: one hash lookup per run, not per completion. Counted first, so that every
    // list below is allocated once (growing them in place pays the page faults of every reallocation).
    std::size_t runs = n > 0;
    for (std::size_t i = 1; i < n; ++i) runs += !(keys[i] == keys[i - 1]);

    // Linear probing over a power-of-two table of about twice the number of runs, 32-bit slots so that the table
    // of a million completions in groups of 8 fits in L2 (64-bit slots would not). A
    // slot holds group + 1 in its low `group_bits` bits (0: empty) and, in the bits above, a tag: other bits of the
    // key's hash, so that a probe meeting another key is mostly told apart in the table itself; comparing keys
    // takes two dependent loads, the second a cache miss into the keys. The std::hash value goes through a full
    // 64-bit mixer (MurmurHash3's finaliser): libstdc++ hashes integers to themselves, and a single Fibonacci
    // multiply clusters ids that are themselves multiples of the golden ratio.
    std::size_t bits = 1;
    while ((std::size_t{1} << bits) < 2 * runs) ++bits;
    const std::size_t mask = (std::size_t{1} << bits) - 1;
    int group_bits = 1;
    while (group_bits < 32 && (std::uint64_t{1} << group_bits) <= runs) ++group_bits;
    const std::uint32_t group_mask = group_bits == 32 ? 0xffffffffu : (std::uint32_t{1} << group_bits) - 1;
    // The table and the first completion of each group (to compare keys against) live in one scratch list per
    // thread, kept between calls (4 B per slot and per run: 1.5 MiB for 1M completions in groups of 8): fresh
    // memory faults in page by page, which would cost a third of the grouping's time if the allocator returned the
    // lists to the system after each call.
    thread_local std::vector<std::uint32_t> scratch;
    scratch.reserve(mask + 1 + runs);
    scratch.assign(mask + 1, 0);
    const auto slots = scratch.begin();
    std::size_t groups = 0;
    const auto group_first = [&](std::size_t g) { return scratch[mask + 1 + g]; };
    k.offsets_.reserve(runs + 1);
    // The group of `key` (first completion `i`), added when new; `added` tells which.
    auto group_of = [&](std::size_t i, bool& added) {
      const Key& key = keys[i];
      const std::uint64_t h = detail::mix64(static_cast<std::uint64_t>(std::hash<Key>{}(key)));
      const std::uint32_t tag = static_cast<std::uint32_t>(h) & ~group_mask; // low bits; the slot uses the high
      std::size_t slot = static_cast<std::size_t>(h >> (64 - bits)) & mask;
      while (slots[slot] != 0 &&
             !((slots[slot] & ~group_mask) == tag && keys[group_first((slots[slot] & group_mask) - 1)] == key))
        slot = (slot + 1) & mask;
      added = slots[slot] == 0;
      if (added) {
        scratch.push_back(static_cast<std::uint32_t>(i)); // within the reserve: `slots` stays valid
        k.offsets_.push_back(0);
        slots[slot] = tag | static_cast<std::uint32_t>(++groups);
      }
      return (slots[slot] & group_mask) - 1;
    };
    // Calls fn(first, last) for every run [first, last) of equal adjacent keys.
    auto for_each_run = [&](auto&& fn) {
      for (std::size_t i = 0; i < n;) {
        std::size_t j = i + 1;
        while (j < n && keys[j] == keys[i]) ++j;
        fn(i, j);
        i = j;
      }
    };
    bool in_place = true;
    // offsets_[g + 1] counts group g's completions until the prefix sum below.
    for_each_run([&](std::size_t i, std::size_t j) {
      bool added = false;
      const std::uint32_t g = group_of(i, added);
      in_place = in_place && added; // a key seen before, after another key's run, is out of place
      k.offsets_[g + 1] += static_cast<std::int64_t>(j - i);
    });
    const bool same_size = k.offsets_.size() > 1 && std::all_of(k.offsets_.begin() + 1, k.offsets_.end(),
                                                                [&](std::int64_t c) { return c == k.offsets_[1]; });
    k.uniform_size_ = same_size ? static_cast<std::size_t>(k.offsets_[1]) : 0;
    std::partial_sum(k.offsets_.begin(), k.offsets_.end(), k.offsets_.begin());

    // The identity of an in-place grouping is not stored: for 1M completions it would be 8 MB written and 2,048
    // pages faulted in on each call. Otherwise a second pass over the runs
    // finds each run's group again (every key is in the table now) and places its completions.
    if (!in_place) {
      k.order_.resize(n);
      std::vector<std::int64_t> cursor(k.offsets_.begin(), k.offsets_.end() - 1);
      for_each_run([&](std::size_t i, std::size_t j) {
        bool added = false;
        auto& c = cursor[group_of(i, added)];
        for (std::size_t t = i; t < j; ++t) k.order_[static_cast<std::size_t>(c++)] = t;
      });
    }
    return k;
  }

  /// The layout of the gathered batch (valid while this object lives): uniform when all groups have one size.
  [[nodiscard]] group_layout layout() const {
    return uniform_size_ ? group_layout::uniform(num_groups(), uniform_size_) : group_layout::from_offsets(offsets_);
  }
  /// `order()[j]` is the original index of the j-th completion of the gathered batch (a view, valid while this
  /// object lives; the identity when `in_place()`).
  [[nodiscard]] index_order order() const noexcept {
    return in_place() ? index_order(size_) : index_order(std::span<const std::size_t>(order_));
  }
  /// The number of completions grouped.
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t num_groups() const noexcept { return offsets_.empty() ? 0 : offsets_.size() - 1; }
  /// True when `order()` is the identity: each key's completions are adjacent, groups in order of first appearance.
  [[nodiscard]] bool in_place() const noexcept { return order_.empty(); }

private:
  std::vector<std::size_t> order_; // empty exactly when in place (an out-of-place grouping has completions)
  std::size_t size_ = 0;
  std::vector<std::int64_t> offsets_{0};
  std::size_t uniform_size_ = 0;
};

} // namespace mmrag_rft
