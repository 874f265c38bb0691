// SPDX-License-Identifier: Apache-2.0
// The LibTorch adapter (mmrag_rft/torch.hpp): autograd through the library's logit and loss kernels against
// LibTorch autograd of the torch-op formulation in float64.
#include <mmrag_rft/torch.hpp>

#include "verl_loss.hpp"

#include <support/generators.hpp>

#include <torch/torch.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

namespace adapter_test {

using namespace mmrag_rft;
namespace lt = mmrag_rft::libtorch;

// log softmax(x / T)[y] and the entropy in float64 with torch ops (what PyTorch trainers write).
struct torch_logprobs {
  torch::Tensor log_probs, entropy;
};
torch_logprobs reference(const torch::Tensor& logits, const torch::Tensor& tokens, double temperature) {
  const auto z = logits.to(torch::kDouble) / temperature;
  const auto lsm = torch::log_softmax(z, -1);
  return {lsm.gather(-1, tokens.to(torch::kLong).unsqueeze(-1)).squeeze(-1), -(lsm.exp() * lsm).sum(-1)};
}

torch::Tensor random_logits(std::int64_t seed, torch::IntArrayRef shape, double scale = 3.0) {
  torch::manual_seed(static_cast<std::uint64_t>(seed));
  return torch::randn(shape, torch::kFloat) * scale;
}
torch::Tensor random_tokens(std::int64_t seed, torch::IntArrayRef lead, std::int64_t vocab) {
  torch::manual_seed(static_cast<std::uint64_t>(seed));
  return torch::randint(vocab, lead, torch::kLong);
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// d/dlogits of sum(lp * u) + sum(H * w) through the adapter and through the float64 reference.
struct both_grads {
  torch::Tensor ours, theirs;
};
both_grads logit_grads(const torch::Tensor& logits, const torch::Tensor& tokens, double temperature, bool use_lp,
                       bool use_h) {
  torch::manual_seed(7);
  const auto u = torch::randn(tokens.sizes(), torch::kDouble), w = torch::randn(tokens.sizes(), torch::kDouble);
  auto x = logits.detach().clone().requires_grad_(true);
  const auto r = lt::token_logprobs_and_entropy(x, tokens, {temperature});
  auto loss = torch::zeros({}, torch::kDouble);
  if (use_lp) loss = loss + (r.log_probs.to(torch::kDouble) * u).sum();
  if (use_h) loss = loss + (r.entropy.to(torch::kDouble) * w).sum();
  loss.backward();
  auto xd = logits.detach().to(torch::kDouble).requires_grad_(true);
  const auto ref = reference(xd, tokens, temperature);
  auto ref_loss = torch::zeros({}, torch::kDouble);
  if (use_lp) ref_loss = ref_loss + (ref.log_probs * u).sum();
  if (use_h) ref_loss = ref_loss + (ref.entropy * w).sum();
  ref_loss.backward();
  return {x.grad(), xd.grad()};
}

} // namespace adapter_test

using namespace adapter_test;

TEST_CASE("libtorch::token_logprobs_and_entropy: values equal float64 torch log_softmax + gather + entropy") {
  for (double temperature : {1.0, 0.7, 1.3}) {
    const auto logits = random_logits(1, {3, 5, 301});
    const auto tokens = random_tokens(2, {3, 5}, 301);
    const auto r = lt::token_logprobs_and_entropy(logits, tokens, {temperature});
    const auto ref = reference(logits, tokens, temperature);
    CAPTURE(temperature);
    CHECK((r.log_probs.sizes() == tokens.sizes()));
    CHECK((r.entropy.scalar_type() == torch::kFloat));
    CHECK(!r.log_probs.requires_grad()); // constant logits: no graph
    const auto g = lt::token_logprobs_and_entropy(logits.clone().requires_grad_(true), tokens, {temperature});
    CHECK((g.log_probs.requires_grad() && g.entropy.requires_grad()));
    CHECK(max_abs_diff(r.log_probs, ref.log_probs) < 2e-5);
    CHECK(max_abs_diff(r.entropy, ref.entropy) < 2e-5);
  }
}

TEST_CASE("libtorch::token_logprobs_and_entropy: gradient equals float64 autograd of the torch formulation") {
  const auto logits = random_logits(3, {4, 6, 257});
  const auto tokens = random_tokens(4, {4, 6}, 257);
  for (double temperature : {1.0, 0.6}) {
    for (auto [use_lp, use_h] : {std::pair{true, true}, std::pair{true, false}, std::pair{false, true}}) {
      CAPTURE(temperature);
      CAPTURE(use_lp);
      CAPTURE(use_h);
      const auto g = logit_grads(logits, tokens, temperature, use_lp, use_h);
      CHECK((g.ours.sizes() == logits.sizes()));
      CHECK((g.ours.scalar_type() == torch::kFloat));
      CHECK(max_abs_diff(g.ours, g.theirs) < 1e-5);
    }
  }
}

TEST_CASE("libtorch::token_logprobs_and_entropy: bfloat16 logits, bfloat16 gradient") {
  const auto logits = random_logits(5, {40, 1000}).to(torch::kBFloat16);
  const auto tokens = random_tokens(6, {40}, 1000);
  const auto r = lt::token_logprobs_and_entropy(logits, tokens);
  const auto ref = reference(logits, tokens, 1.0); // of the bfloat16 values themselves
  CHECK(max_abs_diff(r.log_probs, ref.log_probs) < 2e-5);
  CHECK(max_abs_diff(r.entropy, ref.entropy) < 2e-5);
  const auto g = logit_grads(logits, tokens, 1.0, true, true);
  CHECK((g.ours.scalar_type() == torch::kBFloat16));
  // Each element rounded once to bfloat16 (8 bits): within 2^-8 of the largest gradient.
  CHECK(max_abs_diff(g.ours, g.theirs) <= g.theirs.abs().max().item<double>() / 256.0);
}

TEST_CASE("libtorch::token_logprobs_and_entropy: strided slices, int32 tokens, seq = par bitwise") {
  const auto wide = random_logits(8, {30, 700});
  const auto logits = wide.narrow(1, 0, 650); // rows 700 apart: used in place
  const auto tokens = random_tokens(9, {30}, 650);
  const auto a = lt::token_logprobs_and_entropy(exec::seq, logits, tokens);
  const auto b = lt::token_logprobs_and_entropy(exec::par.with_threads(3), logits.contiguous(), tokens.to(torch::kInt));
  CHECK(torch::equal(a.log_probs, b.log_probs));
  CHECK(torch::equal(a.entropy, b.entropy));
  // A [B, C, V] slice of [B, L, V] whose leading dimensions do not flatten: reshape copies, values are the same.
  const auto seq3 = random_logits(10, {2, 9, 64});
  const auto part = seq3.narrow(1, 3, 5);
  const auto t3 = random_tokens(11, {2, 5}, 64);
  const auto c = lt::token_logprobs_and_entropy(part, t3);
  CHECK(torch::equal(c.log_probs, lt::token_logprobs_and_entropy(part.contiguous(), t3).log_probs));
  auto x = part.detach().clone().requires_grad_(true);
  auto y = seq3.detach().clone().requires_grad_(true);
  lt::token_logprobs_and_entropy(x, t3).log_probs.sum().backward();
  lt::token_logprobs_and_entropy(y.narrow(1, 3, 5), t3).log_probs.sum().backward();
  CHECK(torch::equal(y.grad().narrow(1, 3, 5), x.grad()));
  CHECK(y.grad().narrow(1, 0, 3).abs().sum().item<double>() == 0.0);
}

TEST_CASE("libtorch::token_logprobs_and_entropy: bad tensors throw mmrag_rft::error naming the argument") {
  const auto logits = random_logits(12, {4, 10});
  const auto tokens = random_tokens(13, {4}, 10);
  CHECK_THROWS_WITH_AS(lt::token_logprobs_and_entropy(logits.to(torch::kDouble), tokens),
                       doctest::Contains("must be float32, bfloat16 or float16, not Double [4, 10]"), error);
  CHECK_THROWS_WITH_AS(lt::token_logprobs_and_entropy(logits, tokens.to(torch::kFloat)), doctest::Contains("tokens"),
                       error);
  CHECK_THROWS_WITH_AS(lt::token_logprobs_and_entropy(logits, random_tokens(13, {5}, 10)),
                       doctest::Contains("leading shape"), error);
  auto bad = tokens.clone();
  bad[2] = 10;
  CHECK_THROWS_WITH_AS(lt::token_logprobs_and_entropy(logits, bad), doctest::Contains("tokens[2]"), error);
  CHECK_THROWS_WITH_AS(lt::token_logprobs_and_entropy(logits, tokens, {0.0}), doctest::Contains("temperature"), error);
  CHECK_THROWS_AS(lt::token_logprobs_and_entropy(torch::Tensor(), tokens), error);
  // No rows: empty outputs, and an empty gradient.
  auto none = torch::zeros({0, 10}, torch::kFloat).requires_grad_(true);
  const auto r = lt::token_logprobs_and_entropy(none, torch::zeros({0}, torch::kLong));
  CHECK(r.log_probs.numel() == 0);
  r.log_probs.sum().backward();
  CHECK((none.grad().sizes() == none.sizes()));
}

namespace adapter_test {

// A random batch as tensors of dtype T, log_probs and entropy requiring gradients.
template <class T>
struct tensor_batch {
  test::random_batch<T> h = test::make_batch<T>(test::seed_t{21}, 9, 17, 0.5, 0, T(0));
  torch::TensorOptions o = torch::TensorOptions().dtype(lt::detail::dtype_of<T>());
  torch::Tensor t(std::vector<T>& v) {
    return torch::from_blob(v.data(), {static_cast<long>(h.rows), static_cast<long>(h.cols)}, o).clone();
  }
  torch::Tensor lp = t(h.log_probs).requires_grad_(true), ent = t(h.entropy).requires_grad_(true);
  torch::Tensor old = t(h.old_log_probs), ref = t(h.ref_log_probs), adv = t(h.token_advantages);
  torch::Tensor seq_adv = torch::from_blob(h.seq_advantages.data(), {static_cast<long>(h.rows)}, o).clone();
  torch::Tensor mask =
      torch::from_blob(h.mask.data(), {static_cast<long>(h.rows), static_cast<long>(h.cols)}, torch::kUInt8).clone();
};

policy_loss_options verl_k3() {
  policy_loss_options o = policy_loss_options::verl();
  o.kl = kl_estimator::k3;
  o.kl_coef = 0.2;
  o.entropy_coeff = 0.05;
  return o;
}

} // namespace adapter_test

TEST_CASE("libtorch::policy_loss: the library's result, and backward() passes its gradient times the upstream one") {
  tensor_batch<double> b;
  const policy_loss_options o = verl_k3();
  const auto out = lt::policy_loss({.log_probs = b.lp,
                                    .old_log_probs = b.old,
                                    .advantages = b.adv,
                                    .mask = b.mask,
                                    .ref_log_probs = b.ref,
                                    .entropy = b.ent},
                                   o);
  std::vector<double> g(b.h.log_probs.size()), ge(g.size());
  const std::size_t R = b.h.rows, C = b.h.cols;
  const auto lib = policy_loss(policy_loss_inputs<double>{{b.h.log_probs.data(), R, C},
                                                          {b.h.old_log_probs.data(), R, C},
                                                          {b.h.token_advantages.data(), R, C},
                                                          {},
                                                          {b.h.mask.data(), R, C},
                                                          {b.h.ref_log_probs.data(), R, C},
                                                          {b.h.entropy.data(), R, C}},
                               {{g.data(), R, C}, {ge.data(), R, C}}, o);
  CHECK(out.loss.item<double>() == lib.loss);
  CHECK(out.result.pg_loss == lib.pg_loss);
  CHECK(out.result.stats.valid_tokens == lib.stats.valid_tokens);
  CHECK(out.result.stats.pg_clipfrac == lib.stats.pg_clipfrac);
  (out.loss * 3.0).backward();
  const auto tg = b.lp.grad().contiguous(), tge = b.ent.grad().contiguous();
  for (std::size_t k = 0; k < g.size(); ++k) {
    CHECK(tg.data_ptr<double>()[k] == 3.0 * g[k]);
    CHECK(tge.data_ptr<double>()[k] == 3.0 * ge[k]);
  }
  // And the same gradient as autograd of verl's formulation.
  auto lp2 = b.lp.detach().clone().requires_grad_(true), ent2 = b.ent.detach().clone().requires_grad_(true);
  verl_reference::verl_loss(lp2, b.old, b.adv, b.ref, ent2, b.mask.to(torch::kDouble), o).backward();
  CHECK(max_abs_diff(b.lp.grad(), 3.0 * lp2.grad()) < 1e-12);
}

TEST_CASE("libtorch::policy_loss: float32, bool mask, sequence advantages, seq = par; bad tensors throw") {
  tensor_batch<float> b;
  policy_loss_options o = policy_loss_options::verl();
  const lt::policy_loss_tensors in{
      .log_probs = b.lp, .old_log_probs = b.old, .sequence_advantages = b.seq_adv, .mask = b.mask.to(torch::kBool)};
  const auto a = lt::policy_loss(exec::seq, in, o);
  const auto p = lt::policy_loss(exec::par.with_threads(2), in, o);
  CHECK((a.loss.scalar_type() == torch::kFloat));
  CHECK(a.loss.item<float>() == p.loss.item<float>());
  a.loss.backward();
  CHECK((b.lp.grad().sizes() == b.lp.sizes()));
  CHECK(!b.ent.grad().defined());
  // Masked tokens get exactly 0.
  CHECK((b.lp.grad() * (b.mask == 0)).abs().sum().item<double>() == 0.0);

  // Broadcast and transposed tensors (rows overlapping, or a strided last dimension) are copied, not misread.
  const auto expanded = lt::policy_loss({.log_probs = b.lp,
                                         .old_log_probs = b.old.t().contiguous().t(),
                                         .advantages = b.seq_adv.unsqueeze(1).expand({-1, b.lp.size(1)}),
                                         .mask = b.mask.to(torch::kBool)},
                                        o);
  CHECK(expanded.loss.item<float>() == a.loss.item<float>());

  lt::policy_loss_tensors wrong = in;
  wrong.old_log_probs = b.old.to(torch::kDouble);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(wrong, o), doctest::Contains("old_log_probs"), error);
  wrong = in;
  wrong.mask = torch::Tensor();
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(wrong, o), doctest::Contains("mask"), error);
  wrong = in;
  wrong.log_probs = b.lp.detach().to(torch::kInt);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(wrong, o), doctest::Contains("float32, float64, bfloat16 or float16"),
                       error);
  wrong = in;
  wrong.sequence_advantages = b.seq_adv.view({-1, 1});
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(wrong, o), doctest::Contains("1-D"), error);
}

TEST_CASE("libtorch: logits -> log-probs and entropy -> policy loss -> backward equals the all-torch chain") {
  // The whole training step of a LibTorch trainer through the library: d loss / d logits against float64 autograd of
  // log_softmax + gather + entropy + verl's loss.
  const long B = 6, T = 11, V = 97;
  const auto logits = random_logits(31, {B, T, V});
  const auto tokens = random_tokens(32, {B, T}, V);
  tensor_batch<double> b; // 9 x 17: take its first B x T block for old/ref/advantages/mask
  const auto cut = [&](const torch::Tensor& x) { return x.narrow(0, 0, B).narrow(1, 0, T).contiguous(); };
  const auto old = cut(b.old).to(torch::kFloat), ref = cut(b.ref).to(torch::kFloat);
  const auto adv = cut(b.adv).to(torch::kFloat), mask = cut(b.mask);
  const policy_loss_options o = verl_k3();

  auto x = logits.clone().requires_grad_(true);
  const auto r = lt::token_logprobs_and_entropy(x, tokens, {0.8});
  const auto out = lt::policy_loss({.log_probs = r.log_probs,
                                    .old_log_probs = old,
                                    .advantages = adv,
                                    .mask = mask,
                                    .ref_log_probs = ref,
                                    .entropy = r.entropy},
                                   o);
  out.loss.backward();

  auto xd = logits.to(torch::kDouble).requires_grad_(true);
  const auto ref_lp = reference(xd, tokens, 0.8);
  const auto ref_loss = verl_reference::verl_loss(ref_lp.log_probs, old.to(torch::kDouble), adv.to(torch::kDouble),
                                                  ref.to(torch::kDouble), ref_lp.entropy, mask.to(torch::kDouble), o);
  ref_loss.backward();
  CHECK(out.loss.item<double>() == doctest::Approx(ref_loss.item<double>()).epsilon(1e-5));
  CHECK(max_abs_diff(x.grad(), xd.grad()) < 1e-6);
  CHECK(xd.grad().abs().max().item<double>() > 1e-4); // the check above is not vacuous
}

TEST_CASE("libtorch::grpo_advantages: the span version's results, verl's torch formula, groups by offsets, errors") {
  torch::manual_seed(41);
  const auto rewards = torch::randint(0, 3, {64, 8}, torch::kDouble) / 2.0; // many ties
  rewards[5].fill_(1.0);                                                    // two all-equal groups: advantage exactly 0
  rewards[9].fill_(0.0);
  const auto out = lt::grpo_advantages(rewards, 8);
  CHECK((out.advantages.sizes() == rewards.sizes()));
  CHECK((out.advantages.scalar_type() == torch::kDouble));
  // verl: (r - mean) / (std + 1e-6), torch.std unbiased, per group of 8.
  const auto ref = (rewards - rewards.mean(1, true)) / (rewards.std(1, true, true) + 1e-6);
  CHECK(max_abs_diff(out.advantages, ref) < 1e-9);
  std::vector<double> flat(rewards.data_ptr<double>(), rewards.data_ptr<double>() + rewards.numel()), adv(flat.size());
  const auto summary =
      grpo_advantages(std::span<const double>(flat), group_layout::uniform(64, 8), std::span<double>(adv));
  CHECK(summary.degenerate_groups == out.summary.degenerate_groups);
  CHECK(out.summary.degenerate_groups >= 2);
  CHECK(out.advantages[5].abs().sum().item<double>() == 0.0);
  CHECK(std::equal(adv.begin(), adv.end(), out.advantages.data_ptr<double>()));
  CHECK(out.keep.sum().item<std::int64_t>() == rewards.numel());

  // Float32, groups of different sizes by offsets, a NaN masked out, seq = par.
  auto r32 = torch::rand({10}, torch::kFloat);
  r32[4] = std::numeric_limits<float>::quiet_NaN();
  const std::vector<std::int64_t> offsets{0, 3, 7, 10};
  grpo_options o = grpo_options::trl();
  o.nonfinite = nonfinite_rewards::mask_out;
  const auto a = lt::grpo_advantages(exec::seq, r32, group_layout::from_offsets(offsets), o);
  const auto p = lt::grpo_advantages(exec::par.with_threads(2), r32, group_layout::from_offsets(offsets), o);
  CHECK(torch::equal(a.advantages, p.advantages));
  CHECK(a.keep[4].item<int>() == 0);
  CHECK(a.advantages[4].item<float>() == 0.0f);
  CHECK(a.summary.masked_out == 1);
  CHECK_THROWS_WITH_AS((void)lt::grpo_advantages(r32, 3), doctest::Contains("group_size"), error);
  CHECK_THROWS_WITH_AS((void)lt::grpo_advantages(r32.to(torch::kHalf), 5), doctest::Contains("float32 or float64"),
                       error);
  r32[4] = 0.5f;
  CHECK_THROWS_WITH_AS((void)lt::grpo_advantages(r32.to(torch::kDouble).div(0.0), 5), doctest::Contains("rewards"),
                       error); // inf and NaN under the default nonfinite = error
}
