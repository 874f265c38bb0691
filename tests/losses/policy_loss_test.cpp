#include <mmrag_rft/losses/policy_loss.hpp>
#include <doctest/doctest.h>
#include <vector>
using namespace mmrag_rft;
TEST_CASE("loss smoke") {
  std::vector<float> lp{-1, -2, -3, -4}, old{-1.1f, -2, -3, -4}, g(4);
  std::vector<std::uint8_t> m{1, 1, 1, 0};
  std::vector<float> adv{1, -1};
  policy_loss_inputs<float> in{.log_probs = {lp.data(), 2, 2}, .old_log_probs = {old.data(), 2, 2}, .sequence_advantages = adv, .mask = {m.data(), 2, 2}};
  auto r = policy_loss(in, policy_loss_grads<float>{.log_probs = {g.data(), 2, 2}});
  CHECK(r.stats.valid_tokens == 3);
}
