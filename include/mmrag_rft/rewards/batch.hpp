// SPDX-License-Identifier: Apache-2.0
// Scoring a batch of completions with a composite across threads: totals, per-rule scores, explanations on request,
// and the time spent in each rule.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/cpu.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/group_layout.hpp>
#include <mmrag_rft/core/matrix_view.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/detail/parallel.hpp>
#include <mmrag_rft/rewards/composite.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// Options of `score_batch`.
struct batch_options {
  /// Build one explanation per completion (off by default: explanations cost more than the rules).
  bool explain = false;
  /// Completions per chunk of work. Chunks depend on the batch size only, so results never depend on the thread
  /// count; 64 keeps a chunk's texts (~64 x 2 KB) in L2 while leaving enough chunks to balance 2 to 16 threads.
  std::size_t grain = 64;
};

/// The result of `score_batch`: one row of per-rule scores and one total per completion, the rules' names and
/// weights, optional explanations, and where the time went.
struct batch_scores {
  std::size_t num_rules = 0;
  std::vector<std::string> names{}; ///< rule names, composite order
  std::vector<double> weights{};    ///< rule weights, composite order
  std::vector<double> totals{};     ///< weighted total per completion
  std::vector<double> scores{};     ///< unweighted scores, row-major: completion i, rule r at `i * num_rules + r`
  std::vector<std::string> explanations{}; ///< one line per completion when asked for, else empty
  /// Thread-seconds spent inside each rule, summed over all threads (so the shares show which rule dominates).
  std::vector<double> rule_seconds{};
  double explain_seconds = 0.0; ///< thread-seconds spent building explanations
  double wall_seconds = 0.0;    ///< wall-clock time of the whole call

  [[nodiscard]] std::size_t size() const noexcept { return totals.size(); }
  /// Unweighted score of completion `i` under rule `r`.
  [[nodiscard]] double score(std::size_t i, std::size_t r) const noexcept { return scores[i * num_rules + r]; }
  /// The per-rule breakdown of the batch as an items x rules matrix (row i: completion i, column r: rule r, unweighted),
  /// a view of `scores`: with `weights`, the multi-reward input of `gdpo_advantages`.
  [[nodiscard]] matrix_view<const double> matrix() const noexcept { return {scores.data(), totals.size(), num_rules}; }
  /// Scores of completion `i`, one per rule.
  [[nodiscard]] std::span<const double> row(std::size_t i) const noexcept {
    return std::span<const double>(scores).subspan(i * num_rules, num_rules);
  }
  /// Mean over the batch of rule `r`'s unweighted score (0 for an empty batch); the per-rule curve to log.
  [[nodiscard]] double mean(std::size_t r) const noexcept {
    if (totals.empty()) return 0.0;
    double s = 0.0;
    for (std::size_t i = 0; i < totals.size(); ++i) s += scores[i * num_rules + r];
    return s / static_cast<double>(totals.size());
  }
};

namespace detail {
// Asks for the first `prefetch_bytes` of `text` to be brought into cache (a hint; no effect on results).
inline void prefetch_text(std::string_view text) noexcept {
#if defined(__GNUC__)
  constexpr std::size_t prefetch_bytes = 4096;
  const std::size_t n = std::min(text.size(), prefetch_bytes);
  for (std::size_t o = 0; o < n; o += 64) __builtin_prefetch(text.data() + o, 0, 3);
#else
  (void)text;
#endif
}

template <class E, class... Rs, class SampleOf>
batch_scores score_batch_impl(const E& exec, const composite<Rs...>& reward, std::span<const completion> completions,
                              std::span<const sample> samples, SampleOf&& sample_of, const batch_options& opt) {
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  constexpr std::size_t R = sizeof...(Rs);
  const std::size_t n = completions.size();
  batch_scores out;
  out.num_rules = R;
  out.names = reward.names();
  out.weights = reward.weights();
  out.totals.resize(n);
  out.scores.resize(n * R);
  if (opt.explain) out.explanations.resize(n);

  const chunking ch{n, opt.grain};
  // Timings per (chunk, rule), summed in chunk order afterwards; one timer read per rule and chunk, not per call.
  std::vector<double> seconds(ch.count() * (R + 1), 0.0);
  for_each_chunk(exec, ch.count(), [&](std::size_t c) {
    const std::size_t b = ch.begin(c), e = ch.end(c);
    double* t = seconds.data() + c * (R + 1);
    // One context per completion of a block, so the rules share each text's tag parse; kept per thread, and blocks
    // of at most `context_block` completions bound that memory (~1.5 KB a context) whatever the grain.
    constexpr std::size_t context_block = 256;
    thread_local std::vector<reward_context> contexts;
    for (std::size_t bb = b; bb < e; bb += context_block) {
      const std::size_t be = std::min(e, bb + context_block);
      if (contexts.size() < be - bb) contexts.resize(be - bb);
      for (std::size_t i = bb; i < be; ++i) contexts[i - bb].reset(completions[i].text);
      // Rule-major inside a block: each rule's code and tables stay hot while it runs over the block.
      for_each_index<R>([&](auto r) {
        const auto& rule = reward.template entry<r>().rule;
        const auto t0 = clock::now();
        for (std::size_t i = bb; i < be; ++i) {
          // The first rule reads each text from memory (the later ones find it in cache): fetch the next text
          // while this one is scored, so the parse does not wait on DRAM one page at a time.
          if constexpr (decltype(r)::value == 0)
            if (i + 1 < be) prefetch_text(completions[i + 1].text);
          out.scores[i * R + r] = rule_value(rule, completions[i], samples[sample_of(i)], contexts[i - bb]);
        }
        t[r] += std::chrono::duration<double>(clock::now() - t0).count();
      });
    }
    for (std::size_t i = b; i < e; ++i) out.totals[i] = reward.total_of(out.scores.data() + i * R);
    if (opt.explain) {
      const auto t0 = clock::now();
      for (std::size_t i = b; i < e; ++i)
        reward.explain_into(completions[i], samples[sample_of(i)], out.totals[i], out.explanations[i]);
      t[R] += std::chrono::duration<double>(clock::now() - t0).count();
    }
  });
  out.rule_seconds.assign(R, 0.0);
  for (std::size_t c = 0; c < ch.count(); ++c) {
    for (std::size_t r = 0; r < R; ++r) out.rule_seconds[r] += seconds[c * (R + 1) + r];
    out.explain_seconds += seconds[c * (R + 1) + R];
  }
  out.wall_seconds = std::chrono::duration<double>(clock::now() - start).count();
  return out;
}
} // namespace detail

/// Scores every completion of a batch with `reward` (a `composite`, or any single `RewardRule`, scored as a
/// one-rule composite): `totals[i] = reward(completions[i], sample_i)` and the per-rule
/// scores behind it, where `sample_i` is `samples[i]` (one sample per completion) or, with a `group_layout`,
/// `samples[g]` for every completion of group `g` (GRPO: the G completions of one prompt share its sample).
///
/// Work is cut into chunks of `options.grain` completions that depend on the batch size only, and every completion's
/// scores are computed by the same code whatever thread runs it, so the results are bitwise identical for `exec::seq`
/// and `exec::par` with any thread count [tested: seq vs par with 1, 2 and 3 threads]. The time spent in each rule
/// (thread-seconds) and the wall time are reported; the rules of a completion share one `reward_context`, so a tag
/// parse they share is charged to the first rule that asks for it. An empty batch gives empty vectors.
/// Throws `mmrag_rft::error` when the sizes disagree (checked once, before any rule runs); an exception thrown by a
/// rule is rethrown on the calling thread after all workers stop.
/// Complexity: one call of each rule per completion (two when explaining); allocates the result only.
/// Example (tests/rewards/batch_test.cpp): `auto r = score_batch(exec::par, reward, completions, samples, groups);`
/// Reward rules read text on the host: the backends are the CPU ones (`exec::seq`, `exec::par`).
struct score_batch_fn {
  template <exec::CpuBackend E, class... Rs>
  [[nodiscard]] batch_scores operator()(const E& exec, const composite<Rs...>& reward,
                                        std::span<const completion> completions, std::span<const sample> samples,
                                        const batch_options& opt = {}) const {
    check_grain(opt);
    detail::require(samples.size() == completions.size(), "score_batch", "samples",
                    "must have one sample per completion (or pass a group_layout mapping groups to samples)");
    return detail::score_batch_impl(
        exec.derived(), reward, completions, samples, [](std::size_t i) noexcept { return i; }, opt);
  }

  template <exec::CpuBackend E, class... Rs>
  [[nodiscard]] batch_scores operator()(const E& exec, const composite<Rs...>& reward,
                                        std::span<const completion> completions, std::span<const sample> samples,
                                        const group_layout& groups, const batch_options& opt = {}) const {
    check_grain(opt);
    detail::require(groups.num_items() == completions.size(), "score_batch", "groups",
                    "must cover exactly the completions (num_items == completions.size())");
    detail::require(groups.num_groups() == samples.size(), "score_batch", "samples",
                    "must have one sample per group (num_groups == samples.size())");
    if (groups.is_uniform()) {
      const std::size_t g = groups.uniform_size();
      return detail::score_batch_impl(
          exec.derived(), reward, completions, samples, [g](std::size_t i) noexcept { return i / g; }, opt);
    }
    std::vector<std::size_t> owner(completions.size());
    for (std::size_t g = 0; g < groups.num_groups(); ++g)
      for (std::size_t i = groups.begin(g); i < groups.end(g); ++i) owner[i] = g;
    return detail::score_batch_impl(
        exec.derived(), reward, completions, samples, [&owner](std::size_t i) noexcept { return owner[i]; }, opt);
  }

  /// Any single reward rule (a lambda, a built-in rule, a user type) scored as a one-rule composite of weight 1
  /// named `rule_name(rule)`: `totals` are the rule's scores, `num_rules` is 1. The rule is copied once per call.
  template <exec::CpuBackend E, class R>
  requires(!detail::is_composite<R>)
  [[nodiscard]] batch_scores operator()(const E& exec, const R& rule, std::span<const completion> completions,
                                        std::span<const sample> samples, const batch_options& opt = {}) const {
    static_assert(check_reward_rule<R>());
    if constexpr (RewardRule<R>) return (*this)(exec, composite<R>(weighted_rule<R>(rule)), completions, samples, opt);
    else return {};
  }
  template <exec::CpuBackend E, class R>
  requires(!detail::is_composite<R>)
  [[nodiscard]] batch_scores operator()(const E& exec, const R& rule, std::span<const completion> completions,
                                        std::span<const sample> samples, const group_layout& groups,
                                        const batch_options& opt = {}) const {
    static_assert(check_reward_rule<R>());
    if constexpr (RewardRule<R>)
      return (*this)(exec, composite<R>(weighted_rule<R>(rule)), completions, samples, groups, opt);
    else return {};
  }

  /// The same on the calling thread (`exec::seq`), for a composite or any single rule.
  template <class R>
  requires(!exec::ExecutionBackend<R>)
  [[nodiscard]] batch_scores operator()(const R& reward, std::span<const completion> completions,
                                        std::span<const sample> samples, const batch_options& opt = {}) const {
    return (*this)(exec::seq, reward, completions, samples, opt);
  }
  template <class R>
  requires(!exec::ExecutionBackend<R>)
  [[nodiscard]] batch_scores operator()(const R& reward, std::span<const completion> completions,
                                        std::span<const sample> samples, const group_layout& groups,
                                        const batch_options& opt = {}) const {
    return (*this)(exec::seq, reward, completions, samples, groups, opt);
  }

private:
  static void check_grain(const batch_options& opt) {
    detail::require(opt.grain > 0, "score_batch", "options.grain", "must be > 0");
  }
};
inline constexpr score_batch_fn score_batch{};

} // namespace mmrag_rft
