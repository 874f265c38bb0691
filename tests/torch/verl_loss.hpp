// SPDX-License-Identifier: Apache-2.0
// verl's policy loss written with torch ops: the reference the library's gradients are compared against.
#pragma once
#include <mmrag_rft/losses.hpp>

#include <torch/torch.h>

namespace verl_reference {

using namespace mmrag_rft;

inline torch::Tensor agg(const torch::Tensor& l, const torch::Tensor& m, loss_aggregation mode) {
  switch (mode) {
  case loss_aggregation::token_mean: return (l * m).sum() / m.sum();
  case loss_aggregation::seq_mean_token_sum: {
    auto seq = (l * m).sum(-1);
    auto rows = (m.sum(-1) > 0).to(torch::kDouble);
    return (seq * rows).sum() / rows.sum();
  }
  case loss_aggregation::seq_mean_token_mean: {
    auto len = m.sum(-1);
    auto rows = (len > 0).to(torch::kDouble);
    auto seq = (l * m).sum(-1) / len.clamp_min(1.0); // TRL; verl adds 1e-8 instead (a 1e-9 relative difference)
    return (seq * rows).sum() / rows.sum();
  }
  case loss_aggregation::seq_mean_token_sum_norm: return (l * m).sum(-1).sum() / static_cast<double>(l.size(1));
  }
  return {};
}

// verl vanilla policy loss + dual clip, low_var_kl loss, entropy bonus.
inline torch::Tensor verl_loss(const torch::Tensor& lp, const torch::Tensor& old, const torch::Tensor& adv,
                               const torch::Tensor& ref, const torch::Tensor& ent, const torch::Tensor& m,
                               const policy_loss_options& o) {
  auto nkl = torch::clamp(lp - old, -20.0, 20.0);
  auto ratio = torch::exp(nkl);
  auto l1 = -adv * ratio;
  auto l2 = -adv * torch::clamp(ratio, 1.0 - o.clip_ratio_low, 1.0 + o.clip_ratio_high);
  auto c1 = torch::maximum(l1, l2);
  auto l3 = -adv * *o.clip_ratio_c;
  auto c2 = torch::minimum(l3, c1);
  auto pg = torch::where(adv < 0, c2, c1);
  auto kl = torch::clamp(ref - lp, -20.0, 20.0);
  auto k3 = torch::clamp(torch::exp(kl) - kl - 1, -10.0, 10.0);
  return agg(pg, m, o.aggregation) + o.kl_coef * agg(k3, m, o.aggregation) -
         o.entropy_coeff * agg(ent, m, o.aggregation);
}

} // namespace verl_reference
