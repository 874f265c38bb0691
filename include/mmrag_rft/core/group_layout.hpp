// SPDX-License-Identifier: Apache-2.0
// Where each prompt's group of G completions sits in a flat batch: offsets, with a fast path for uniform G.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
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
/// compute, and scatter back, so results land at each completion's own index.
class keyed_groups {
public:
  /// Groups completions by equal keys. O(n) expected time; `Key` must be hashable and equality-comparable.
  template <class Key>
  [[nodiscard]] static keyed_groups from_keys(std::span<const Key> keys) {
    keyed_groups k;
    std::unordered_map<Key, std::size_t> group_of;
    group_of.reserve(keys.size());
    std::vector<std::size_t> group_id(keys.size());
    std::vector<std::int64_t> counts;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      auto [it, inserted] = group_of.try_emplace(keys[i], counts.size());
      if (inserted) counts.push_back(0);
      group_id[i] = it->second;
      ++counts[it->second];
    }
    k.offsets_.assign(counts.size() + 1, 0);
    for (std::size_t g = 0; g < counts.size(); ++g) k.offsets_[g + 1] = k.offsets_[g] + counts[g];
    std::vector<std::int64_t> cursor(k.offsets_.begin(), k.offsets_.end() - 1);
    k.order_.resize(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) k.order_[static_cast<std::size_t>(cursor[group_id[i]]++)] = i;
    return k;
  }

  /// The layout of the gathered batch (valid while this object lives).
  [[nodiscard]] group_layout layout() const { return group_layout::from_offsets(offsets_); }
  /// `order()[j]` is the original index of the j-th completion of the gathered batch.
  [[nodiscard]] std::span<const std::size_t> order() const noexcept { return order_; }
  [[nodiscard]] std::size_t num_groups() const noexcept { return offsets_.empty() ? 0 : offsets_.size() - 1; }

private:
  std::vector<std::size_t> order_;
  std::vector<std::int64_t> offsets_{0};
};

} // namespace mmrag_rft
