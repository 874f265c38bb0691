// A trainer-side use of the installed library: rewards of a group in, advantages, loss and gradient out.
#include <mmrag_rft/mmrag_rft.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

int main() {
  using namespace mmrag_rft;
  std::vector<float> rewards{1.0f, 0.0f, 0.5f, 0.5f}, adv(4);
  (void)grpo_advantages(rewards, group_layout::uniform(1, 4), adv);
  std::vector<float> logp{-1.0f, -2.0f, -0.5f, -1.5f}, grad(4);
  std::vector<std::uint8_t> mask{1, 1, 1, 1};
  policy_loss_inputs<float> in{
      .log_probs = {logp.data(), 4, 1}, .sequence_advantages = adv, .mask = {mask.data(), 4, 1}};
  const auto r = policy_loss(in, policy_loss_grads<float>{.log_probs = {grad.data(), 4, 1}});
  std::printf("loss %.6f grad[0] %.6f\n", r.loss, static_cast<double>(grad[0]));
  return std::fabs(r.loss) < 1e-6 && grad[0] < 0.0f ? 0 : 1;
}
