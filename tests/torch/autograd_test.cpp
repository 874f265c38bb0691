// SPDX-License-Identifier: Apache-2.0
// The library's d loss / d logp against LibTorch autograd of verl's formulation of the same loss.
#include <mmrag_rft/losses.hpp>

#include <support/generators.hpp>

#include <torch/torch.h>

#include <doctest/doctest.h>

using namespace mmrag_rft;

namespace {

torch::Tensor agg(const torch::Tensor& l, const torch::Tensor& m, loss_aggregation mode) {
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
torch::Tensor verl_loss(const torch::Tensor& lp, const torch::Tensor& old, const torch::Tensor& adv,
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
  return agg(pg, m, o.aggregation) + o.kl_coef * agg(k3, m, o.aggregation) - o.entropy_coeff * agg(ent, m, o.aggregation);
}

} // namespace

TEST_CASE("policy_loss: gradient equals LibTorch autograd of verl's formulation") {
  for (auto mode : {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum,
                    loss_aggregation::seq_mean_token_mean, loss_aggregation::seq_mean_token_sum_norm}) {
    auto b = test::make_batch<double>(test::seed_t{42}, 12, 20, 0.6, 0, 0.0);
    const auto B = static_cast<long>(b.rows), T = static_cast<long>(b.cols);
    auto opts = torch::TensorOptions().dtype(torch::kDouble);
    auto lp = torch::from_blob(b.log_probs.data(), {B, T}, opts).clone().requires_grad_(true);
    auto old = torch::from_blob(b.old_log_probs.data(), {B, T}, opts).clone();
    auto ref = torch::from_blob(b.ref_log_probs.data(), {B, T}, opts).clone();
    auto ent = torch::from_blob(b.entropy.data(), {B, T}, opts).clone().requires_grad_(true);
    auto adv = torch::from_blob(b.token_advantages.data(), {B, T}, opts).clone();
    std::vector<double> mk(b.mask.begin(), b.mask.end());
    auto m = torch::from_blob(mk.data(), {B, T}, opts).clone();

    policy_loss_options o = policy_loss_options::verl();
    o.aggregation = mode;
    o.kl = kl_estimator::k3;
    o.kl_coef = 0.2;
    o.entropy_coeff = 0.05;
    auto loss = verl_loss(lp, old, adv, ref, ent, m, o);
    loss.backward();

    std::vector<double> g(b.log_probs.size()), ge(b.log_probs.size());
    policy_loss_inputs<double> in{.log_probs = {b.log_probs.data(), b.rows, b.cols},
                                  .old_log_probs = {b.old_log_probs.data(), b.rows, b.cols},
                                  .advantages = {b.token_advantages.data(), b.rows, b.cols},
                                  .mask = {b.mask.data(), b.rows, b.cols},
                                  .ref_log_probs = {b.ref_log_probs.data(), b.rows, b.cols},
                                  .entropy = {b.entropy.data(), b.rows, b.cols}};
    const auto r = policy_loss(in, {{g.data(), b.rows, b.cols}, {ge.data(), b.rows, b.cols}}, o);
    CAPTURE(to_string(mode));
    CHECK(r.loss == doctest::Approx(loss.item<double>()).epsilon(1e-12));
    auto tg = lp.grad().contiguous();
    auto tge = ent.grad().contiguous();
    for (std::size_t k = 0; k < g.size(); ++k) {
      CHECK(g[k] == doctest::Approx(tg.data_ptr<double>()[k]).epsilon(1e-9).scale(1e-12));
      CHECK(ge[k] == doctest::Approx(tge.data_ptr<double>()[k]).epsilon(1e-9).scale(1e-12));
    }
  }
}
