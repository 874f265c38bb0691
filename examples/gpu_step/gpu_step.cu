// SPDX-License-Identifier: Apache-2.0
// One GRPO step of a trainer that keeps everything on the GPU: response masks from the sampled token ids, group
// advantages, the chosen tokens' log-probs and entropies from the logits, the fused loss with its gradients, and the
// gradient with respect to the logits, all enqueued on one stream with no host round trip until the loss is read at
// the end. It then recomputes the same step with the CPU paths (exec::seq) and exits 1 if the two differ by more than
// float rounding, so on a GPU machine it is also a check of the whole chain: the masks equal, the advantages, the
// loss and the log-probs within 1e-5 relative, dL/dlogits within 1e-4 of its largest element. Exit 2: an error (no
// GPU, a rejected option), with its message.
//
// usage: gpu_step [completions per prompt G = 8] [prompts = 16] [response length T = 64] [vocabulary V = 4096]
// The parts' own headers, not the umbrellas: Eigen and range-v3 do not compile in an nvcc translation unit.
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends/cuda/all.cuh>
#include <mmrag_rft/backends/thrust.hpp>
#include <mmrag_rft/core/response_mask.hpp>
#include <mmrag_rft/logits/token_logprobs.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <span>
#include <vector>

namespace {

using namespace mmrag_rft;
namespace mg = mmrag_rft::gpu;

template <class T>
struct device_array {
  T* p = nullptr;
  std::size_t n = 0;
  explicit device_array(std::size_t count) : n(count) {
    mg::detail::check_cuda(cudaMalloc(&p, (n > 0 ? n : 1) * sizeof(T)), "gpu_step");
  }
  explicit device_array(const std::vector<T>& v) : device_array(v.size()) {
    mg::detail::check_cuda(cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice), "gpu_step");
  }
  ~device_array() { cudaFree(p); }
  device_array(const device_array&) = delete;
  device_array& operator=(const device_array&) = delete;
  [[nodiscard]] std::vector<T> host() const {
    std::vector<T> v(n);
    mg::detail::check_cuda(cudaMemcpy(v.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost), "gpu_step");
    return v;
  }
  [[nodiscard]] std::span<T> span() const { return {p, n}; }
};

// The largest |a - b| relative to max(|a|, |b|, floor) over two arrays.
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b, double floor) {
  double worst = 0;
  for (std::size_t j = 0; j < a.size(); ++j)
    worst = std::max(worst,
                     std::abs(double(a[j]) - b[j]) / std::max({std::abs(double(a[j])), std::abs(double(b[j])), floor}));
  return worst;
}

} // namespace

static int run(int argc, char** argv) {
  const std::size_t G = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 8;
  const std::size_t prompts = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 16;
  const std::size_t T = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 64;
  const std::size_t V = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 4096;
  const std::size_t B = G * prompts, N = B * T;
  constexpr std::int64_t eos = 2;
  constexpr double temperature = 0.8; // the sampler's: the log-probs must be computed at it

  // What the sampler left: logits of every position, the sampled ids (EOS somewhere, or never: truncated), rewards.
  std::mt19937 gen(7);
  std::normal_distribution<float> logit(0.0f, 2.0f);
  std::vector<float> logits(N * V);
  for (auto& x : logits) x = logit(gen);
  std::vector<std::int64_t> ids(N);
  for (std::size_t i = 0; i < B; ++i) {
    const std::size_t end = gen() % 5 == 0 ? T : 1 + gen() % T; // a fifth never stop
    for (std::size_t t = 0; t < T; ++t)
      ids[i * T + t] = t + 1 == end ? eos : static_cast<std::int64_t>(3 + gen() % (V - 3));
  }
  std::vector<float> rewards(B);
  for (auto& r : rewards) r = static_cast<float>(gen() % 2) + 0.1f * static_cast<float>(gen() % 2);

  device_array<float> d_logits(logits), d_rewards(rewards), d_adv(B), d_logp(N), d_ent(N), d_lse(N), d_glp(N),
      d_gent(N), d_glogits(N * V);
  device_array<std::int64_t> d_ids(ids);
  device_array<std::uint8_t> d_mask(N);
  cudaStream_t stream;
  mg::detail::check_cuda(cudaStreamCreate(&stream), "gpu_step");

  const group_layout groups = group_layout::uniform(prompts, G);
  // mask_out, not the presets' error: an asynchronous call cannot throw for a NaN reward (finding one is a scalar
  // result, and the call refuses error without sync_result). A NaN or infinite reward is left out of its group's
  // statistics and gets advantage 0; a trainer that also drops it from the loss passes `keep` and folds it into the
  // response mask.
  grpo_options adv_opts = grpo_options::verl();
  adv_opts.nonfinite = nonfinite_rewards::mask_out;
  policy_loss_options loss_opts = policy_loss_options::verl();
  loss_opts.kl = kl_estimator::none, loss_opts.entropy_coeff = 0.001;
  const token_logprobs_options lp_opts{temperature};
  const std::size_t ws_bytes =
      std::max(mg::grpo_workspace_bytes<float>(groups, adv_opts), mg::policy_loss_workspace_bytes(B));
  device_array<unsigned char> ws(ws_bytes);
  const mg::launch l{stream, ws.p, ws_bytes, /*sync_result=*/false};

  // 1. Response masks (Thrust on the same stream: this one call synchronises, for its summary).
  const response_mask_summary ms =
      build_response_mask(exec::thrust.on(stream), matrix_view<const std::int64_t>(d_ids.p, B, T), eos,
                          matrix_view<std::uint8_t>(d_mask.p, B, T));
  // 2. GRPO advantages, one per completion.
  (void)mg::grpo_advantages(l, std::span<const float>(d_rewards.p, B), groups, nullptr, d_adv.span(), adv_opts);
  // 3. Log-probs and entropies of the chosen tokens at the sampling temperature; lse saved for the backward.
  const matrix_view<const float> x(d_logits.p, N, V);
  mg::token_logprobs_and_entropy(l, x, std::span<const std::int64_t>(d_ids.p, N),
                                 {d_logp.span(), d_ent.span(), d_lse.span()}, lp_opts);
  // 4. The fused loss (on-policy: no old log-probs) and its gradients with respect to logp and H.
  policy_loss_inputs<float> in;
  in.log_probs = {d_logp.p, B, T};
  in.sequence_advantages = std::span<const float>(d_adv.p, B);
  in.mask = mask_view(d_mask.p, B, T);
  in.entropy = {d_ent.p, B, T};
  (void)mg::policy_loss(l, in, {{d_glp.p, B, T}, {d_gent.p, B, T}}, loss_opts);
  // 5. dL/dlogits: what the trainer hands to the output projection's backward.
  mg::token_logprobs_and_entropy_backward(l, x, std::span<const std::int64_t>(d_ids.p, N),
                                          {d_lse.span(), d_ent.span(), d_glp.span(), d_gent.span()},
                                          matrix_view<float>(d_glogits.p, N, V), lp_opts);
  // The one synchronisation of the step: the scalar results.
  const policy_loss_result r = mg::read_policy_loss_result(l, T, loss_opts);
  std::printf("gpu_step: B = %zu completions (G = %zu), T = %zu, V = %zu, temperature %.2f\n", B, G, T, V, temperature);
  std::printf("  masks: %zu valid tokens, %zu truncated responses\n", ms.valid_tokens, ms.truncated);
  std::printf("  loss %.6f (pg %.6f, entropy %.4f), clip fraction %.4f, %zu tokens in the loss\n", r.loss, r.pg_loss,
              r.entropy, r.stats.pg_clipfrac, r.stats.valid_tokens);

  // The same step on the CPU.
  std::vector<std::uint8_t> mask(N);
  (void)build_response_mask(matrix_view<const std::int64_t>(ids.data(), B, T), eos,
                            matrix_view<std::uint8_t>(mask.data(), B, T));
  std::vector<float> adv(B), logp(N), ent(N), lse(N), glp(N), gent(N), glogits(N * V);
  (void)grpo_advantages(exec::seq, std::span<const float>(rewards), groups, std::span<float>(adv), adv_opts);
  const matrix_view<const float> hx(logits.data(), N, V);
  token_logprobs_and_entropy(exec::seq, hx, ids, {logp, ent, lse}, lp_opts);
  policy_loss_inputs<float> hin;
  hin.log_probs = {logp.data(), B, T};
  hin.sequence_advantages = adv;
  hin.mask = mask_view(mask.data(), B, T);
  hin.entropy = {ent.data(), B, T};
  const policy_loss_result hr = policy_loss(exec::seq, hin, {{glp.data(), B, T}, {gent.data(), B, T}}, loss_opts);
  token_logprobs_and_entropy_backward(exec::seq, hx, ids, {lse, ent, glp, gent},
                                      matrix_view<float>(glogits.data(), N, V), lp_opts);
  const double diff_loss = std::abs(r.loss - hr.loss) / std::max(std::abs(hr.loss), 1e-6);
  const double diff_adv = max_rel_diff(adv, d_adv.host(), 1e-3);
  const double diff_logp = max_rel_diff(logp, d_logp.host(), 1e-3);
  double grad_scale = 0; // the gradient's elements are O(1 / tokens): compare them to its largest one
  for (const float g : glogits) grad_scale = std::max(grad_scale, std::abs(double(g)));
  const double diff_grad = max_rel_diff(glogits, d_glogits.host(), 1e-3 * grad_scale);
  const bool same_mask = mask == d_mask.host();
  std::printf("  against exec::seq: advantages %.2e, loss %.2e, log-probs %.2e, dL/dlogits %.2e (relative), masks %s\n",
              diff_adv, diff_loss, diff_logp, diff_grad, same_mask ? "equal" : "DIFFER");
  cudaStreamDestroy(stream);
  const bool ok = same_mask && diff_adv < 1e-5 && diff_loss < 1e-5 && diff_logp < 1e-5 && diff_grad < 1e-4;
  std::printf("gpu_step: %s\n", ok ? "GPU and CPU agree" : "MISMATCH");
  return ok ? 0 : 1;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) { // no GPU, an old driver, out of memory: say so, as a CLI should
    std::fprintf(stderr, "gpu_step: %s\n", e.what());
    return 2;
  }
}
