// SPDX-License-Identifier: Apache-2.0
// The training loop of one MMRAG-RFT stage: batches of samples -> rft_step -> metrics file and progress bar, with
// the step's estimator and execution backend passed through.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/backends/concepts.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/detail/splitmix64.hpp>
#include <mmrag_rft/pipeline/metrics_log.hpp>
#include <mmrag_rft/pipeline/outcome_estimator.hpp>
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
  std::string stage = "rft";  ///< name in the metrics records and on the progress bar
  std::size_t steps = 100;    ///< rft_steps to run
  std::size_t first_step = 0; ///< step number to start at (resume: steps already done are skipped)
  std::size_t prompts_per_step = 16;
  std::uint64_t seed = 0; ///< batch order and rollout seeds derive from it
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

// The rollout seed of `step`: a loop that shards the step's batch over ranks derives it the same way.
[[nodiscard]] inline std::uint64_t loop_step_seed(std::uint64_t seed, std::size_t step) noexcept {
  std::uint64_t s = seed + 0x9e37ULL * (step + 1);
  return splitmix64(s);
}
} // namespace detail

namespace detail {
template <class B, class P, class MakePrompt, class Reward, class Estimator, class Ref, class OnStep>
std::vector<step_metrics> rft_loop_on(const B& backend, P& policy, std::span<const sample> samples,
                                      MakePrompt& make_prompt, Reward& reward, Estimator& estimator,
                                      const loop_options& options, Ref& ref, metrics_log* log, OnStep& on_step) {
  static_assert(check_policy<P>());
  require(!samples.empty(), "rft_loop", "samples", "is empty");
  require(options.prompts_per_step > 0, "rft_loop", "options.prompts_per_step", "is 0");
  std::vector<step_metrics> all;
  progress_bar bar(options.stage, options.steps);
  double seconds = 0;
  for (std::size_t step = options.first_step; step < options.steps; ++step) {
    std::vector<sample> batch;
    prompt_batch prompts;
    for (std::size_t i : batch_indices(samples.size(), options.prompts_per_step, step, options.seed)) {
      batch.push_back(samples[i]);
      prompts.push_back(make_prompt(samples[i]));
    }
    rft_options so = options.step;
    so.rollout.seed = loop_step_seed(options.seed, step);
    rft_step_result res =
        rft_step(backend, policy, std::span<const sample>(batch), prompts, reward, estimator, so, ref);
    const metrics_record rec = to_record(options.stage, step, res.metrics);
    if (log) log->write(rec);
    seconds += res.metrics.seconds;
    if (options.progress) {
      char status[160];
      std::snprintf(status, sizeof status, "reward %.3f  loss %+.4f  len %.1f  %.2f s/step", res.metrics.reward_mean,
                    res.metrics.loss, res.metrics.response_length,
                    seconds / static_cast<double>(step + 1 - options.first_step));
      bar.update(step + 1, status);
    }
    on_step(step, res);
    all.push_back(res.metrics);
  }
  return all;
}
} // namespace detail

/// Trains `policy` for `options.steps` RFT steps on `samples`, `options.prompts_per_step` samples per step in
/// seeded epochs:
///
///     rft_loop([backend,] policy, samples, make_prompt, reward, [estimator,] options, ref, log, on_step)
///
/// `make_prompt(sample)` renders a sample's prompt (`render_stage1`/`render_stage2` in a lambda). Each step is an
/// `rft_step` with the same `backend` (default `exec::seq`), `estimator` (default
/// `grpo_estimator{options.step.advantages}`) and `ref` (`no_reference` for none), and `options.step` with the
/// step's rollout seed. Each step's record (see `to_record`) goes to `log` (may be null) and to
/// `on_step(step, result)`, which may be a no-op lambda; it is where a caller saves checkpoints or prints examples.
/// Returns the metrics of every step run. Throws when `samples` is empty or `prompts_per_step` is 0.
struct rft_loop_fn {
  template <class P, class MakePrompt, class Reward, class Ref, class OnStep>
  requires(!exec::ExecutionBackend<P>)
  std::vector<step_metrics> operator()(P& policy, std::span<const sample> samples, MakePrompt&& make_prompt,
                                       Reward&& reward, const loop_options& options, Ref& ref, metrics_log* log,
                                       OnStep&& on_step) const {
    grpo_estimator grpo{options.step.advantages};
    return detail::rft_loop_on(exec::seq, policy, samples, make_prompt, reward, grpo, options, ref, log, on_step);
  }
  template <class P, class MakePrompt, class Reward, class Estimator, class Ref, class OnStep>
  requires(!exec::ExecutionBackend<P>)
  std::vector<step_metrics> operator()(P& policy, std::span<const sample> samples, MakePrompt&& make_prompt,
                                       Reward&& reward, Estimator&& estimator, const loop_options& options, Ref& ref,
                                       metrics_log* log, OnStep&& on_step) const {
    return detail::rft_loop_on(exec::seq, policy, samples, make_prompt, reward, estimator, options, ref, log, on_step);
  }
  template <exec::ExecutionBackend B, class P, class MakePrompt, class Reward, class Ref, class OnStep>
  std::vector<step_metrics> operator()(const B& backend, P& policy, std::span<const sample> samples,
                                       MakePrompt&& make_prompt, Reward&& reward, const loop_options& options, Ref& ref,
                                       metrics_log* log, OnStep&& on_step) const {
    grpo_estimator grpo{options.step.advantages};
    return detail::rft_loop_on(backend.derived(), policy, samples, make_prompt, reward, grpo, options, ref, log,
                               on_step);
  }
  template <exec::ExecutionBackend B, class P, class MakePrompt, class Reward, class Estimator, class Ref, class OnStep>
  std::vector<step_metrics>
  operator()(const B& backend, P& policy, std::span<const sample> samples, MakePrompt&& make_prompt, Reward&& reward,
             Estimator&& estimator, const loop_options& options, Ref& ref, metrics_log* log, OnStep&& on_step) const {
    return detail::rft_loop_on(backend.derived(), policy, samples, make_prompt, reward, estimator, options, ref, log,
                               on_step);
  }
};
inline constexpr rft_loop_fn rft_loop{};

} // namespace mmrag_rft
