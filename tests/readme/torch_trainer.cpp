#include <mmrag_rft/torch.hpp>
#include <torch/torch.h>

#include <cstdio>

int main() {
  namespace lt = mmrag_rft::libtorch;
  torch::manual_seed(0);
  const int64_t prompts = 8, G = 8, T = 6, V = 16, target = 3; // reward: share of tokens equal to `target`
  torch::nn::Embedding policy(V, V);                           // a toy policy: next-token logits of the previous token
  torch::optim::Adam opt(policy->parameters(), torch::optim::AdamOptions(0.2));
  double first = 0, last = 0;
  for (int step = 0; step < 50; ++step) {
    // Rollout: sample G completions per prompt (token 0 starts every completion).
    torch::Tensor tokens = torch::zeros({prompts * G, T + 1}, torch::kLong);
    {
      torch::NoGradGuard no_grad;
      for (int64_t t = 0; t < T; ++t)
        tokens.select(1, t + 1).copy_(torch::multinomial(torch::softmax(policy(tokens.select(1, t)), -1), 1).squeeze(1));
    }
    const torch::Tensor completion = tokens.narrow(1, 1, T);
    const torch::Tensor rewards = (completion == target).to(torch::kFloat).mean(1);
    // GRPO: group advantages, the fused log-probs and entropy, the loss and its gradient down to the logits.
    const torch::Tensor adv = lt::grpo_advantages(rewards, G).advantages;
    const auto [logp, entropy] = lt::token_logprobs_and_entropy(policy(tokens.narrow(1, 0, T)), completion);
    const auto out = lt::policy_loss({.log_probs = logp, .old_log_probs = logp.detach(), .sequence_advantages = adv,
                                      .mask = torch::ones({prompts * G, T}, torch::kBool), .entropy = entropy},
                                     mmrag_rft::policy_loss_options::verl());
    opt.zero_grad();
    out.loss.backward();
    opt.step();
    (step == 0 ? first : last) = rewards.mean().item<double>();
  }
  std::printf("mean reward %.3f -> %.3f\n", first, last);
  return last > 0.5 ? 0 : 1;
}
