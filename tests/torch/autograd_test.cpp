// SPDX-License-Identifier: Apache-2.0
// The library's d loss / d logp against LibTorch autograd of verl's formulation of the same loss.
#include <mmrag_rft/losses.hpp>

#include "verl_loss.hpp"

#include <support/generators.hpp>

#include <torch/torch.h>

#include <doctest/doctest.h>

using namespace mmrag_rft;

using verl_reference::verl_loss;

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
    // The formulation below divides exactly and normalises sum-norm by the padded length only; the presets' 1e-8 and
    // sequence count are checked against verl's own functions in tests/parity.
    o.count_epsilon = 0;
    o.sum_norm_seq_mean = false;
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
