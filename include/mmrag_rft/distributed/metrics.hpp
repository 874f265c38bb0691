// SPDX-License-Identifier: Apache-2.0
// Training metrics over every rank (reward means per rule, clip fractions, KL, entropy, lengths), each reduced with
// the normaliser it needs: a token-weighted mean, a sequence-weighted mean, a plain sum, a minimum or a maximum.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/distributed/communicator.hpp>
#include <mmrag_rft/losses/policy_loss_types.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// How a metric combines over micro-batches and ranks.
enum class metric_reduction : std::uint8_t {
  token_mean,    ///< sum of the per-token values / number of tokens (clip fractions, KL, entropy, ratios)
  sequence_mean, ///< sum of the per-sequence values / number of sequences (rewards per rule, response lengths)
  sum,           ///< summed, no normaliser (counts: valid tokens, masked completions)
  min,
  max,
};

/// One reduced metric.
struct reduced_metric {
  std::string name;
  double value = 0;
  double weight = 0; ///< the tokens or sequences it averaged over (0 for sum, min, max)
};

/// Collects a step's metrics on one rank (over its micro-batches), then reduces them over the ranks in one fixed
/// order (`reduce`), so that every rank gets the same bits and the result does not depend on how the batch was
/// split up to the rounding of the sums. Every rank must add the same metrics, by name, in the same order; a metric
/// added again accumulates. Means of an empty set (no tokens, no sequences) are 0; min and max of nothing are 0.
class metric_reducer {
public:
  /// Adds `sum` of a per-item value over `count` items (tokens or sequences, as `how` says; ignored for min/max/sum).
  void add_sum(std::string_view name, metric_reduction how, double sum, double count = 0) {
    entry& e = find(name, how);
    if (how == metric_reduction::min) e.value = std::min(e.value, sum);
    else if (how == metric_reduction::max) e.value = std::max(e.value, sum);
    else e.value += sum, e.weight += count;
  }
  /// Adds a mean over `count` items (as a call's statistics report them).
  void add_mean(std::string_view name, metric_reduction how, double mean, double count) {
    add_sum(name, how, count > 0 ? mean * count : 0.0, count);
  }

  /// The statistics of one `policy_loss` call: its means weighted by its valid tokens, its extremes, its counts.
  void add(const policy_loss_stats& s) {
    const double n = static_cast<double>(s.valid_tokens);
    const auto tm = metric_reduction::token_mean;
    add_mean("actor/pg_clipfrac", tm, s.pg_clipfrac, n);
    add_mean("actor/pg_clipfrac_lower", tm, s.pg_clipfrac_lower, n);
    add_mean("clip_ratio/low_mean", tm, s.clip_ratio_low, n);
    add_mean("clip_ratio/high_mean", tm, s.clip_ratio_high, n);
    add_mean("clip_ratio/region_mean", tm, s.clip_ratio_region, n);
    add_mean("actor/ppo_kl", tm, s.ppo_kl, n);
    add_mean("actor/kl_loss", tm, s.kl_mean, n);
    add_mean("actor/entropy", tm, s.entropy_mean, n);
    add_mean("actor/advantage_mean", tm, s.advantage_mean, n);
    add_mean("actor/ratio_mean", tm, s.ratio_mean, n);
    constexpr double inf = std::numeric_limits<double>::infinity();
    add_sum("actor/advantage_min", metric_reduction::min, n > 0 ? s.advantage_min : inf);
    add_sum("actor/advantage_max", metric_reduction::max, n > 0 ? s.advantage_max : -inf);
    add_sum("actor/ratio_min", metric_reduction::min, n > 0 ? s.ratio_min : inf);
    add_sum("actor/ratio_max", metric_reduction::max, n > 0 ? s.ratio_max : -inf);
    add_sum("actor/valid_tokens", metric_reduction::sum, n);
    add_sum("actor/valid_sequences", metric_reduction::sum, static_cast<double>(s.valid_sequences));
    add_sum("actor/nonfinite_tokens", metric_reduction::sum, static_cast<double>(s.nonfinite_tokens));
  }

  /// Response lengths of one micro-batch (its mask): the mean over its rows, the longest and the shortest.
  void add_lengths(mask_view mask) {
    double total = 0, longest = -std::numeric_limits<double>::infinity(), shortest = -longest;
    for (std::size_t i = 0; i < mask.rows(); ++i) {
      const auto row = mask.row(i);
      const auto len =
          static_cast<double>(std::count_if(row.begin(), row.end(), [](std::uint8_t v) { return v != 0; }));
      total += len, longest = std::max(longest, len), shortest = std::min(shortest, len);
    }
    add_sum("response_length/mean", metric_reduction::sequence_mean, total, static_cast<double>(mask.rows()));
    add_sum("response_length/max", metric_reduction::max, longest);
    add_sum("response_length/min", metric_reduction::min, shortest);
  }

  /// One reward rule's scores of this micro-batch's completions: their mean over the completions.
  void add_rewards(std::string_view rule, std::span<const double> scores) {
    double s = 0;
    for (const double x : scores) s += x;
    add_sum(std::string("reward/") + std::string(rule), metric_reduction::sequence_mean, s,
            static_cast<double>(scores.size()));
  }

  /// Every metric over all ranks, in the order added. One all-gather of the sums and weights (added in rank order)
  /// and one of the extremes. Every rank must call it; throws on every rank when their metric lists differ in size.
  template <Communicator C>
  [[nodiscard]] std::vector<reduced_metric> reduce(const C& comm) const {
    const auto p = static_cast<std::size_t>(comm.size());
    const std::int64_t count = static_cast<std::int64_t>(entries_.size());
    std::vector<std::int64_t> counts(p);
    comm.all_gather(std::span<const std::int64_t>(&count, 1), std::span<std::int64_t>(counts));
    for (std::size_t r = 0; r < p; ++r)
      detail::require(counts[r] == count, "metric_reducer::reduce", "metrics",
                      "differ in number between ranks (rank " + std::to_string(r) + " has " +
                          std::to_string(counts[r]) + ", this rank " + std::to_string(count) + ")");
    std::vector<double> packed;
    for (const entry& e : entries_) packed.push_back(e.value), packed.push_back(e.weight);
    std::vector<double> all(p * packed.size());
    comm.all_gather(std::span<const double>(packed), std::span<double>(all));
    std::vector<reduced_metric> out;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const metric_reduction how = entries_[i].how;
      double v = all[2 * i], w = all[2 * i + 1];
      for (std::size_t r = 1; r < p; ++r) {
        const double x = all[r * packed.size() + 2 * i];
        if (how == metric_reduction::min) v = std::min(v, x);
        else if (how == metric_reduction::max) v = std::max(v, x);
        else v += x, w += all[r * packed.size() + 2 * i + 1];
      }
      reduced_metric m{entries_[i].name, v, 0};
      if (how == metric_reduction::token_mean || how == metric_reduction::sequence_mean)
        m.value = w > 0 ? v / w : 0.0, m.weight = w;
      else if (how != metric_reduction::sum && !(std::abs(v) < std::numeric_limits<double>::infinity()))
        m.value = 0; // min / max of nothing
      out.push_back(std::move(m));
    }
    return out;
  }

private:
  struct entry {
    std::string name;
    metric_reduction how;
    double value, weight;
  };
  entry& find(std::string_view name, metric_reduction how) {
    for (entry& e : entries_)
      if (e.name == name) {
        detail::require(e.how == how, "metric_reducer", "name", "was added before with another reduction: " + e.name);
        return e;
      }
    const double start = how == metric_reduction::min   ? std::numeric_limits<double>::infinity()
                         : how == metric_reduction::max ? -std::numeric_limits<double>::infinity()
                                                        : 0.0;
    entries_.push_back({std::string(name), how, start, 0});
    return entries_.back();
  }
  std::vector<entry> entries_;
};

} // namespace mmrag_rft
