// SPDX-License-Identifier: Apache-2.0
// A few GRPO steps on a synthetic task, printing what mmrag_rft computes at each step.
//
// The "policy" answers each of P prompts by sampling one of K answers from softmax(logits[p]); one answer per prompt
// is correct (reward 1), the others score a partial 0.35 or 0. Each step samples G answers per prompt, turns the
// rewards into GRPO advantages, computes the clipped policy loss with a k3 KL penalty to the initial policy, and
// backpropagates the library's d loss / d logp through the softmax by hand: what a trainer does with its autograd.
#include <mmrag_rft/mmrag_rft.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace {

struct args {
  int steps = 30;
  unsigned seed = 7;
};

args parse(int argc, char** argv) {
  args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--steps")) a.steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed")) a.seed = static_cast<unsigned>(std::atoi(argv[i + 1]));
  }
  return a;
}

void softmax(const float* z, float* p, std::size_t k) {
  float mx = z[0];
  for (std::size_t j = 1; j < k; ++j) mx = std::max(mx, z[j]);
  float s = 0;
  for (std::size_t j = 0; j < k; ++j) s += (p[j] = std::exp(z[j] - mx));
  for (std::size_t j = 0; j < k; ++j) p[j] /= s;
}

} // namespace

int main(int argc, char** argv) {
  using namespace mmrag_rft;
  const args a = parse(argc, argv);
  constexpr std::size_t prompts = 64, group = 8, answers = 6;
  constexpr float lr = 40.0f;
  std::mt19937 rng(a.seed);
  std::vector<float> logits(prompts * answers, 0.0f), ref_logits;
  std::vector<std::size_t> correct(prompts), partial(prompts);
  for (std::size_t p = 0; p < prompts; ++p) correct[p] = rng() % answers, partial[p] = (correct[p] + 1) % answers;
  ref_logits = logits;

  const std::size_t batch = prompts * group;
  std::vector<float> rewards(batch), adv(batch), logp(batch), old_logp(batch), ref_logp(batch), grad(batch);
  std::vector<std::uint8_t> mask(batch, 1); // one "token" per completion
  std::vector<std::size_t> choice(batch);
  std::vector<float> probs(answers);

  std::printf("mmrag_rft %d.%d.%d — GRPO on a synthetic %zu-prompt x %zu-answer task, G = %zu\n",
              MMRAG_RFT_VERSION_MAJOR, MMRAG_RFT_VERSION_MINOR, MMRAG_RFT_VERSION_PATCH, prompts, answers, group);
  std::printf("%4s %8s %8s %9s %9s %8s %9s %9s\n", "step", "reward", "acc", "adv_max", "loss", "clipfrac", "kl_ref",
              "degen_grp");
  const auto groups = group_layout::uniform(prompts, group);
  auto options = policy_loss_options::verl();
  options.kl = kl_estimator::k3;
  options.kl_coef = 0.01;
  for (int step = 0; step < a.steps; ++step) {
    // Rollout: sample G answers per prompt, remember the sampling log-probs and the reference's.
    for (std::size_t p = 0; p < prompts; ++p) {
      softmax(&logits[p * answers], probs.data(), answers);
      std::discrete_distribution<std::size_t> pick(probs.begin(), probs.end());
      std::vector<float> ref_probs(answers);
      softmax(&ref_logits[p * answers], ref_probs.data(), answers);
      for (std::size_t g = 0; g < group; ++g) {
        const std::size_t j = p * group + g, c = pick(rng);
        choice[j] = c;
        old_logp[j] = std::log(probs[c]);
        ref_logp[j] = std::log(ref_probs[c]);
        rewards[j] = c == correct[p] ? 1.0f : (c == partial[p] ? 0.35f : 0.0f);
      }
    }
    const advantage_summary s = grpo_advantages(exec::par, rewards, groups, adv);
    // Two PPO epochs over the same rollout, so the ratio moves away from 1 and clipping shows.
    policy_loss_result res;
    for (int epoch = 0; epoch < 2; ++epoch) {
      for (std::size_t j = 0; j < batch; ++j) {
        const std::size_t p = j / group;
        softmax(&logits[p * answers], probs.data(), answers);
        logp[j] = std::log(probs[choice[j]]);
      }
      policy_loss_inputs<float> in{.log_probs = {logp.data(), batch, 1},
                                   .old_log_probs = {old_logp.data(), batch, 1},
                                   .sequence_advantages = adv,
                                   .mask = {mask.data(), batch, 1},
                                   .ref_log_probs = {ref_logp.data(), batch, 1}};
      res = policy_loss(exec::par, in, policy_loss_grads<float>{.log_probs = {grad.data(), batch, 1}}, options);
      // The trainer's autograd: d logp(c) / d z_k = [k == c] - p_k.
      for (std::size_t j = 0; j < batch; ++j) {
        const std::size_t p = j / group;
        softmax(&logits[p * answers], probs.data(), answers);
        for (std::size_t k = 0; k < answers; ++k)
          logits[p * answers + k] -= lr * grad[j] * ((k == choice[j] ? 1.0f : 0.0f) - probs[k]);
      }
    }
    double mean_r = 0, acc = 0, adv_max = 0;
    for (std::size_t j = 0; j < batch; ++j) {
      mean_r += rewards[j];
      acc += rewards[j] == 1.0f;
      adv_max = std::max(adv_max, static_cast<double>(adv[j]));
    }
    std::printf("%4d %8.3f %8.3f %9.3f %9.4f %8.3f %9.5f %9zu\n", step, mean_r / batch, acc / batch, adv_max, res.loss,
                res.stats.pg_clipfrac, res.stats.kl_mean, s.degenerate_groups);
  }
  return 0;
}
