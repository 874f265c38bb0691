// SPDX-License-Identifier: Apache-2.0
// The training loop of one MMRAG-RFT stage: batches of samples -> rft_step -> metrics file and progress bar.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/detail/splitmix64.hpp>
#include <mmrag_rft/pipeline/metrics_log.hpp>
#include <mmrag_rft/pipeline/rft_step.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace mmrag_rft {

/// Options of `rft_loop`.
struct loop_options {
  std::string stage = "rft";      ///< name in the metrics records and on the progress bar
  std::size_t steps = 100;        ///< rft_steps to run
  std::size_t first_step = 0;     ///< step number to start at (resume: steps already done are skipped)
  std::size_t prompts_per_step = 16;
  std::uint64_t seed = 0;         ///< batch order and rollout seeds derive from it
  rft_options step{};
  bool progress = true;
};

namespace detail {
// The sample indices of `step`: epochs of a seeded shuffle, so every sample is seen once per epoch.
[[nodiscard]] inline std::vector<std::size_t> batch_indices(std::size_t n, std::size_t per_step, std::size_t step,
                                                            std::uint64_t seed) {
  std::vector<std::size_t> out;
  out.reserve(per_step);
  for (std::size_t k = step * per_step; k < (step + 1) * per_step; ++k) {
    const std::size_t epoch = k / n, pos = k % n;
    std::vector<std::size_t> perm(n);
    std::iota(perm.begin(), perm.end(), std::size_t{0});
    std::uint64_t s = seed ^ (0x5bd1e995ULL * (epoch + 1));
    for (std::size_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[splitmix64(s) % (i + 1)]);
    out.push_back(perm[pos]);
  }
  return out;
}
} // namespace detail

/// Trains `policy` for `options.steps` GRPO steps on `samples`, `options.prompts_per_step` samples per step in
/// seeded epochs; `make_prompt(sample)` renders a sample's prompt (`render_stage1`/`render_stage2` in a lambda).
/// Each step's record (see `to_record`) goes to `log` (may be null) and to `on_step(step, result)`, which may be a
/// no-op lambda; it is where a caller saves checkpoints or prints examples. Returns the metrics of every step run.
/// Throws when `samples` is empty or `prompts_per_step` is 0.
template <class P, class MakePrompt, class Reward, class Ref, class OnStep>
std::vector<step_metrics> rft_loop(P& policy, std::span<const sample> samples, MakePrompt&& make_prompt,
                                   Reward&& reward, const loop_options& options, Ref& ref, metrics_log* log,
                                   OnStep&& on_step) {
  static_assert(check_policy<P>());
  detail::require(!samples.empty(), "rft_loop", "samples", "is empty");
  detail::require(options.prompts_per_step > 0, "rft_loop", "options.prompts_per_step", "is 0");
  std::vector<step_metrics> all;
  progress_bar bar(options.stage, options.steps);
  double seconds = 0;
  for (std::size_t step = options.first_step; step < options.steps; ++step) {
    std::vector<sample> batch;
    prompt_batch prompts;
    for (std::size_t i : detail::batch_indices(samples.size(), options.prompts_per_step, step, options.seed)) {
      batch.push_back(samples[i]);
      prompts.push_back(make_prompt(samples[i]));
    }
    rft_options so = options.step;
    std::uint64_t s = options.seed + 0x9e37ULL * (step + 1);
    so.rollout.seed = detail::splitmix64(s);
    rft_step_result res = rft_step(policy, std::span<const sample>(batch), prompts, reward, so, ref);
    const metrics_record rec = to_record(options.stage, step, res.metrics);
    if (log) log->write(rec);
    seconds += res.metrics.seconds;
    if (options.progress) {
      char status[160];
      std::snprintf(status, sizeof status, "reward %.3f  loss %+.4f  len %.1f  %.2f s/step", res.metrics.reward_mean,
                    res.metrics.loss, res.metrics.response_length, seconds / static_cast<double>(step + 1 - options.first_step));
      bar.update(step + 1, status);
    }
    on_step(step, res);
    all.push_back(res.metrics);
  }
  return all;
}

} // namespace mmrag_rft
