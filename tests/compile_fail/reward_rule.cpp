// SPDX-License-Identifier: Apache-2.0
// A reward rule whose call operator is not const (a `mutable` lambda). Compiled twice by ctest: with a const rule it
// must compile; with MMRAG_RFT_NON_CONST_RULE the composite must fail with check_reward_rule's sentence.
#include <mmrag_rft/rewards.hpp>

#include <vector>

using namespace mmrag_rft;

int main() {
#if defined(MMRAG_RFT_NON_CONST_RULE)
  auto counting = [n = 0](const completion&, const sample&) mutable { return static_cast<double>(++n); };
#else
  auto counting = [n = 0](const completion&, const sample&) { return static_cast<double>(n); };
#endif
  const composite reward{weighted(stage2_format(), 0.5), weighted(counting, 1.0, "count")};
  const std::vector<completion> c(2);
  const std::vector<sample> s(2);
  return score_batch(reward, c, s).size() == 2 ? 0 : 1;
}
