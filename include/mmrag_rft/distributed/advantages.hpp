// SPDX-License-Identifier: Apache-2.0
// GRPO, Dr. GRPO and RLOO when a prompt's completions sit on several data-parallel ranks: each rank gets its own
// completions' advantages, bitwise equal to the single-process result over the whole batch, for any number of ranks.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/advantages/rloo.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/backends/seq.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/distributed/communicator.hpp>
#include <mmrag_rft/distributed/option_agreement.hpp>

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace mmrag_rft {
namespace detail {

/// What the distributed driver needs to know of an estimator besides calling it.
template <class Options>
struct distributed_estimator_traits;
template <>
struct distributed_estimator_traits<grpo_options> {
  static constexpr const char* name = "distributed_grpo_advantages";
  /// The batch std is one sequential centred pass over every reward: only the whole batch reproduces its bits.
  static bool whole_batch(const grpo_options& o) noexcept { return o.scale == reward_scale::batch; }
  static bool refuses_singletons(const grpo_options& o) noexcept { return o.singleton == singleton_group::error; }
};
template <>
struct distributed_estimator_traits<rloo_options> {
  static constexpr const char* name = "distributed_rloo_advantages";
  static bool whole_batch(const rloo_options&) noexcept { return false; }
  static bool refuses_singletons(const rloo_options& o) noexcept {
    return o.singleton == rloo_options::singleton_policy::error;
  }
};

/// One rank's part of a global group: the rank, its number of completions, its local group index.
struct group_part {
  int rank;
  std::size_t count, local_group;
};

/// The global batch is every rank's local batch concatenated in rank order; a group is every completion of one key
/// in it, in that order, groups in order of first appearance (what `keyed_groups` makes of the concatenated keys).
///
/// The single-process estimator sums a group's rewards sequentially (or pairwise for the uniform rule), in double,
/// with a centred second pass: partial counts, sums and second moments combined across ranks (Chan et al.) give
/// the same value only up to rounding. So the values of a group that is split over several ranks travel, in global
/// order, to the ranks that hold a member of it, and each of those runs the single-process plan on the whole group;
/// a group held by one rank is computed there alone. Every rank decides the rule the single-process call would take
/// (uniform groups of two or more and finite rewards: the uniform rule, else the general one) from the group table,
/// and forces the same rule on its part of the batch. Collectives: three small all-gathers (argument checks,
/// non-finite rewards and the options' fingerprint; the (key, count) list of every rank's groups; the values of
/// split groups) and one int64 all-reduce of the summary; with `reward_scale::batch` the rewards and keys of the whole batch instead (its std is
/// one pass over all of them).
template <class Fn, Communicator C, class E, class T, class Options>
advantage_summary distributed_outcome(const Fn& estimator, const C& comm, const E& exec, std::span<const T> rewards,
                                      std::span<const std::uint64_t> keys, std::span<T> out, const Options& o,
                                      std::span<std::uint8_t> keep) {
  using traits = distributed_estimator_traits<Options>;
  constexpr const char* fn = traits::name;
  const int p = comm.size(), me = comm.rank();
  const std::size_t n = rewards.size();

  // 1. Every rank's argument check, first non-finite reward, size and options, so that every rank throws the same error
  //    (a rank throwing alone would leave the others waiting in the next collective).
  const bool args_ok = keys.size() == n && out.size() == n && (keep.empty() || keep.size() == n);
  std::int64_t first_bad = -1;
  if (args_ok && o.nonfinite == nonfinite_rewards::error && !all_finite(rewards))
    for (std::size_t i = 0; i < n && first_bad < 0; ++i)
      if (!std::isfinite(rewards[i])) first_bad = static_cast<std::int64_t>(i);
  std::int64_t nonfinite = 0;
  if (args_ok && o.nonfinite == nonfinite_rewards::mask_out && !all_finite(rewards))
    for (std::size_t i = 0; i < n; ++i) nonfinite += !std::isfinite(rewards[i]);
  //    The options' fingerprint comes first: the collectives below depend on the options (reward_scale::batch
  //    gathers the whole batch), so ranks that disagree would otherwise take different paths and hang.
  constexpr std::size_t stride = 5;
  const std::int64_t head_mine[stride] = {args_ok ? 1 : 0, first_bad, static_cast<std::int64_t>(n), nonfinite,
                                          options_fingerprint(o)};
  std::vector<std::int64_t> head(static_cast<std::size_t>(p) * stride);
  comm.all_gather(std::span<const std::int64_t>(head_mine), std::span<std::int64_t>(head));
  require_agreed_fingerprints(fn, "options", head, stride, 4);
  std::size_t offset = 0, global_n = 0;
  std::int64_t global_nonfinite = 0;
  for (int r = 0; r < p; ++r) {
    const std::int64_t* h = head.data() + stride * static_cast<std::size_t>(r);
    if (h[0] == 0)
      throw error(fn, "arguments",
                  "keys, advantages and keep (when not empty) must have the size of rewards on every rank; rank " +
                      std::to_string(r) + " has not");
    if (r < me) offset += static_cast<std::size_t>(h[2]);
    global_n += static_cast<std::size_t>(h[2]);
    global_nonfinite += h[3];
  }
  for (int r = 0; r < p; ++r)
    if (const std::int64_t b = head[stride * static_cast<std::size_t>(r) + 1]; b >= 0) {
      std::size_t at = 0;
      for (int q = 0; q < r; ++q) at += static_cast<std::size_t>(head[stride * static_cast<std::size_t>(q) + 2]);
      throw error(fn, "rewards",
                  "is not finite (rank " + std::to_string(r) +
                      ", indexed in the global batch; set nonfinite = mask_out to give such completions advantage 0 "
                      "and drop them)",
                  at + static_cast<std::size_t>(b));
    }

  if (traits::whole_batch(o)) {
    std::vector<double> r_local(rewards.begin(), rewards.end());
    std::vector<std::int64_t> k_local(n);
    for (std::size_t i = 0; i < n; ++i) k_local[i] = std::bit_cast<std::int64_t>(keys[i]);
    const auto all_r = all_gather_v(comm, std::span<const double>(r_local));
    const auto all_k = all_gather_v(comm, std::span<const std::int64_t>(k_local));
    std::vector<T> r_all(all_r.values.begin(), all_r.values.end()), a_all(global_n);
    std::vector<std::uint8_t> keep_all(keep.empty() ? 0 : global_n);
    const auto groups = keyed_groups::from_keys(std::span<const std::int64_t>(all_k.values));
    const advantage_summary s =
        estimator(exec, std::span<const T>(r_all), groups, std::span<T>(a_all), o, std::span<std::uint8_t>(keep_all));
    std::copy_n(a_all.begin() + static_cast<std::ptrdiff_t>(offset), n, out.begin());
    if (!keep.empty()) std::copy_n(keep_all.begin() + static_cast<std::ptrdiff_t>(offset), n, keep.begin());
    return s;
  }

  // 2. The (key, count) list of every rank's groups, and from it the global group table (the same on every rank).
  const auto local = keyed_groups::from_keys(keys);
  const group_layout ll = local.layout();
  const index_order order = local.order();
  std::vector<std::int64_t> pairs(2 * local.num_groups());
  for (std::size_t g = 0; g < local.num_groups(); ++g) {
    pairs[2 * g] = std::bit_cast<std::int64_t>(keys[order[ll.begin(g)]]);
    pairs[2 * g + 1] = static_cast<std::int64_t>(ll.size(g));
  }
  const auto table = all_gather_v(comm, std::span<const std::int64_t>(pairs));
  std::unordered_map<std::int64_t, std::size_t> id;
  std::vector<std::vector<group_part>> parts;
  std::vector<std::size_t> total;
  std::vector<std::vector<std::size_t>> global_of(static_cast<std::size_t>(p)); // [rank][local group] -> global
  for (int r = 0; r < p; ++r) {
    const auto t = table.of(r);
    for (std::size_t j = 0; j + 1 < t.size(); j += 2) {
      const auto [it, added] = id.try_emplace(t[j], parts.size());
      if (added) parts.emplace_back(), total.push_back(0);
      const auto c = static_cast<std::size_t>(t[j + 1]);
      parts[it->second].push_back({r, c, j / 2});
      total[it->second] += c;
      global_of[static_cast<std::size_t>(r)].push_back(it->second);
    }
  }
  std::size_t singletons = 0;
  bool same_size = !total.empty();
  for (const std::size_t t : total) singletons += t == 1, same_size = same_size && t == total.front();
  if (traits::refuses_singletons(o) && singletons)
    throw error(fn, "groups", "has a group of one completion over all ranks (singleton = error)");
  const bool uniform = same_size && total.front() >= 2 && global_nonfinite == 0;

  // 3. The values of split groups, each rank's in its local group order.
  std::vector<double> mine_split;
  const auto& my_global = global_of[static_cast<std::size_t>(me)];
  for (std::size_t g = 0; g < local.num_groups(); ++g)
    if (parts[my_global[g]].size() > 1)
      for (std::size_t j = ll.begin(g); j < ll.end(g); ++j)
        mine_split.push_back(static_cast<double>(rewards[order[j]]));
  const auto split = all_gather_v(comm, std::span<const double>(mine_split));
  // Where rank r's values of its local group lg start in `split`.
  std::vector<std::vector<std::size_t>> split_at(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    const auto ru = static_cast<std::size_t>(r);
    const auto t = table.of(r);
    std::size_t at = split.offsets[ru];
    for (std::size_t lg = 0; lg < global_of[ru].size(); ++lg) {
      split_at[ru].push_back(at);
      if (parts[global_of[ru][lg]].size() > 1) at += static_cast<std::size_t>(t[2 * lg + 1]);
    }
  }

  // 4. Two batches of whole groups in global member order: those this rank owns (it holds the group's first part;
  //    they make the summary) and the other groups it has members in. Each computed with the single-process plan.
  advantage_summary owned{};
  bool failed = false;
  std::exception_ptr failure;
  try {
    for (const bool own : {true, false}) {
      std::vector<T> r_seg, a_seg;
      std::vector<std::uint8_t> k_seg;
      std::vector<std::int64_t> offsets{0};
      std::vector<std::size_t> back; // seg position -> local index, SIZE_MAX for another rank's member
      for (std::size_t lg = 0; lg < local.num_groups(); ++lg) {
        const std::size_t g = my_global[lg];
        if ((parts[g].front().rank == me) != own) continue;
        for (const group_part& q : parts[g]) {
          if (q.rank == me) {
            for (std::size_t j = ll.begin(q.local_group); j < ll.end(q.local_group); ++j)
              r_seg.push_back(rewards[order[j]]), back.push_back(order[j]);
          } else {
            const std::size_t at = split_at[static_cast<std::size_t>(q.rank)][q.local_group];
            for (std::size_t j = 0; j < q.count; ++j)
              r_seg.push_back(static_cast<T>(split.values[at + j])), back.push_back(SIZE_MAX);
          }
        }
        offsets.push_back(static_cast<std::int64_t>(r_seg.size()));
      }
      a_seg.resize(r_seg.size());
      k_seg.resize(keep.empty() ? 0 : r_seg.size());
      const std::size_t k = offsets.size() - 1;
      const group_layout layout =
          uniform && k ? group_layout::uniform(k, total.front()) : group_layout::from_offsets(offsets);
      const advantage_summary s =
          estimator(exec, std::span<const T>(r_seg), layout, std::span<T>(a_seg), o, std::span<std::uint8_t>(k_seg));
      if (own) owned = s;
      for (std::size_t j = 0; j < back.size(); ++j)
        if (back[j] != SIZE_MAX) {
          out[back[j]] = a_seg[j];
          if (!keep.empty()) keep[back[j]] = k_seg[j];
        }
    }
  } catch (...) {
    failed = true;
    failure = std::current_exception();
  }

  // 5. The summary over the owned groups, summed; a rank that failed makes every rank throw.
  std::int64_t sum[5] = {
      failed ? 1 : 0, static_cast<std::int64_t>(owned.groups), static_cast<std::int64_t>(owned.degenerate_groups),
      static_cast<std::int64_t>(owned.singleton_groups), static_cast<std::int64_t>(owned.masked_out)};
  comm.all_reduce_sum(std::span<std::int64_t>(sum));
  if (failure) std::rethrow_exception(failure);
  if (sum[0]) throw error(fn, "groups", "were refused on another rank (see the error raised there)");
  return {static_cast<std::size_t>(sum[1]), static_cast<std::size_t>(sum[2]), static_cast<std::size_t>(sum[3]),
          static_cast<std::size_t>(sum[4])};
}

/// The public calls of a distributed estimator: `(communicator, [backend,] rewards, keys, advantages, options = {},
/// keep = {})`, float or double rewards, one 64-bit group key per completion (e.g. a hash of the prompt id).
template <class Estimator, class Options>
struct distributed_estimator_fn {
  template <Communicator C, exec::ExecutionBackend E, class T>
  requires std::floating_point<T>
  advantage_summary operator()(const C& comm, const E& exec, std::span<const T> rewards,
                               std::span<const std::uint64_t> keys, std::span<T> advantages, const Options& o = {},
                               std::span<std::uint8_t> keep = {}) const {
    return distributed_outcome(Estimator{}, comm, exec.derived(), rewards, keys, advantages, o, keep);
  }
  template <Communicator C, class T>
  requires std::floating_point<T>
  advantage_summary operator()(const C& comm, std::span<const T> rewards, std::span<const std::uint64_t> keys,
                               std::span<T> advantages, const Options& o = {},
                               std::span<std::uint8_t> keep = {}) const {
    return distributed_outcome(Estimator{}, comm, exec::seq, rewards, keys, advantages, o, keep);
  }
};

} // namespace detail

/// `grpo_advantages` (and Dr. GRPO with `grpo_options::dr_grpo()`) over a batch sharded across the ranks of `comm`:
/// the global batch is the ranks' batches concatenated in rank order, grouped by `keys` as `keyed_groups` groups
/// them. Each rank's `advantages` (and `keep`) are bitwise those the single-process call on the global batch gives
/// its completions, for any number of ranks and any split; the summary counts the global batch. Every rank must call
/// it (a collective); errors are raised on every rank alike.
/// Call: `distributed_grpo_advantages(comm, [backend,] rewards, keys, advantages, options = {}, keep = {})`.
inline constexpr detail::distributed_estimator_fn<grpo_advantages_fn, grpo_options> distributed_grpo_advantages{};

/// `rloo_advantages` over a sharded batch, as `distributed_grpo_advantages`.
inline constexpr detail::distributed_estimator_fn<rloo_advantages_fn, rloo_options> distributed_rloo_advantages{};

} // namespace mmrag_rft
