#include <mmrag_rft/mmrag_rft.hpp>

#include <cstdio>
#include <vector>

int main() {
  using namespace mmrag_rft;
  // One prompt, G = 4 completions, one response token each (a real trainer has [B, T] batches).
  std::vector<float> rewards{1.0f, 0.0f, 0.35f, 1.0f}, adv(4);
  grpo_advantages(rewards, group_layout::uniform(1, 4), adv, grpo_options::verl());

  std::vector<float> logp{-0.7f, -1.9f, -1.2f, -0.4f};     // log pi_theta, from the trainer's forward pass
  std::vector<float> old_logp{-0.8f, -1.8f, -1.2f, -0.5f}; // log pi_old, recorded at sampling time
  std::vector<std::uint8_t> mask{1, 1, 1, 1};
  std::vector<float> grad(4);                              // receives d loss / d logp
  policy_loss_inputs<float> in{.log_probs = {logp.data(), 4, 1},
                               .old_log_probs = {old_logp.data(), 4, 1},
                               .sequence_advantages = adv,
                               .mask = {mask.data(), 4, 1}};
  const policy_loss_result r = policy_loss(exec::par, in, {.log_probs = {grad.data(), 4, 1}});
  std::printf("loss %.4f  clipfrac %.2f  grad %.4f %.4f %.4f %.4f\n", r.loss, r.stats.pg_clipfrac, grad[0], grad[1],
              grad[2], grad[3]);
  // LibTorch: logp_tensor.backward(torch::from_blob(grad.data(), {4, 1}));
}
