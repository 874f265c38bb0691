// SPDX-License-Identifier: Apache-2.0
// A backend that implements only grpo_advantages. Compiled twice by ctest: as is it must compile; with
// MMRAG_RFT_UNSUPPORTED_PAIR it calls policy_loss on that backend and must fail at the call, with the deleted
// call's line naming both the algorithm and the backend.
#include <mmrag_rft/mmrag_rft.hpp>

#include <concepts>
#include <span>

namespace probe {

struct grpo_only_backend : mmrag_rft::exec::backend_base<grpo_only_backend> {};

template <class T>
mmrag_rft::advantage_summary implement(const mmrag_rft::grpo_advantages_fn&, const grpo_only_backend&,
                                       std::span<const T>, const mmrag_rft::group_layout& g, std::span<T>,
                                       const mmrag_rft::grpo_options&, std::span<std::uint8_t>) {
  mmrag_rft::advantage_summary s;
  s.groups = g.num_groups();
  return s;
}

} // namespace probe

using namespace mmrag_rft;
static_assert(exec::implements<probe::grpo_only_backend, grpo_advantages_fn, std::span<const float>,
                               const group_layout&, std::span<float>, const grpo_options&, std::span<std::uint8_t>>);
static_assert(!std::invocable<const policy_loss_fn&, probe::grpo_only_backend, const policy_loss_inputs<float>&,
                              const policy_loss_grads<float>&>);

int main() {
  float r[2] = {1, 0}, a[2];
  (void)grpo_advantages(probe::grpo_only_backend{}, std::span<const float>(r), group_layout::uniform(1, 2),
                        std::span<float>(a));
#if defined(MMRAG_RFT_UNSUPPORTED_PAIR)
  const policy_loss_inputs<float> in;
  (void)policy_loss(probe::grpo_only_backend{}, in, policy_loss_grads<float>{});
#endif
}
