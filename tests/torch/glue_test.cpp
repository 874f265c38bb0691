// SPDX-License-Identifier: Apache-2.0
// The LibTorch glue of a trainer: rewards as tensors, response masks from token-id tensors.
#include <mmrag_rft/rewards.hpp>
#include <mmrag_rft/torch.hpp>

#include <torch/torch.h>

#include <doctest/doctest.h>

#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

namespace glue_test {
using namespace mmrag_rft;
namespace lt = mmrag_rft::libtorch;

completion text(std::string t) { return {std::move(t), 0, false}; }
} // namespace glue_test

using namespace glue_test;

TEST_CASE("libtorch::rewards_tensor: score_batch totals and per-rule scores as float32 and float64 tensors") {
  const auto length = [](const completion& c, const sample&) { return static_cast<double>(c.text.size()) / 3.0; };
  const composite reward{weighted(stage2_format(), 0.5), weighted(length, -0.1, "length")};
  const std::vector<completion> c{text("<think>a</think><rank>[1]</rank><answer>x</answer>"), text("no tags"),
                                  text("")};
  const std::vector<sample> s(1);
  const batch_scores scores = score_batch(reward, c, s, group_layout::uniform(1, 3));
  const torch::Tensor r = lt::rewards_tensor(scores);
  REQUIRE(r.dim() == 1);
  REQUIRE(r.size(0) == 3);
  CHECK((r.scalar_type() == torch::kFloat));
  const torch::Tensor r64 = lt::rewards_tensor(scores, torch::kDouble);
  for (std::int64_t i = 0; i < 3; ++i) {
    CHECK(r[i].item<float>() == static_cast<float>(scores.totals[static_cast<std::size_t>(i)]));
    CHECK(r64[i].item<double>() == scores.totals[static_cast<std::size_t>(i)]);
  }
  CHECK(r64[0].item<double>() == 0.5 * 1.0 - 0.1 * (50.0 / 3.0)); // worked by hand: well formed, 50 characters
  const torch::Tensor m = lt::rule_scores_tensor(scores, torch::kDouble);
  REQUIRE((m.sizes() == torch::IntArrayRef({3, 2})));
  for (std::int64_t i = 0; i < 3; ++i)
    for (std::int64_t k = 0; k < 2; ++k)
      CHECK(m[i][k].item<double>() == scores.score(static_cast<std::size_t>(i), static_cast<std::size_t>(k)));
  // The tensor owns its memory: the scores may go away.
  CHECK(r.data_ptr<float>() != nullptr);
  // The tensor feeds the advantages as it is.
  const auto adv = lt::grpo_advantages(r, 3);
  CHECK((adv.advantages.sizes() == r.sizes()));
  CHECK(lt::to_tensor({}).numel() == 0);
  CHECK_THROWS_WITH_AS((void)lt::rewards_tensor(scores, torch::kHalf),
                       doctest::Contains("dtype must be float32 or float64"), error);
}

TEST_CASE("libtorch::build_response_mask: worked example, int64 and int32 ids, lengths, equal to the span version") {
  constexpr std::int64_t eos = 2, pad = 0;
  // Row 0 ends at EOS, row 1 is cut at the limit, row 2 has EOS at once, row 3 pads with 0 after a short length.
  const std::vector<std::int64_t> ids{5, 6, eos, pad, 7, 8, 9, 10, eos, pad, pad, pad, 11, pad, pad, pad};
  const torch::Tensor t64 = torch::tensor(ids).view({4, 4});
  const auto r = lt::build_response_mask(t64, eos);
  REQUIRE((r.mask.scalar_type() == torch::kBool));
  const std::vector<std::int64_t> want{1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1, 1, 1};
  CHECK(torch::equal(r.mask.to(torch::kLong).view({-1}), torch::tensor(want)));
  CHECK(torch::equal(r.truncated, torch::tensor(std::vector<std::int64_t>{0, 1, 0, 1}).to(torch::kBool)));
  CHECK(r.summary.truncated == 2);
  CHECK(r.summary.valid_tokens == 12);
  // Lengths (int32 or int64): row 3 generated 1 token, so its padding never counts.
  const auto with_len = lt::build_response_mask(exec::par.with_threads(2), t64.to(torch::kInt), eos,
                                                {.include_eos = false}, torch::tensor({4, 4, 4, 1}, torch::kInt));
  const std::vector<std::int64_t> want_len{1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0};
  CHECK(torch::equal(with_len.mask.to(torch::kLong).view({-1}), torch::tensor(want_len)));
  CHECK(with_len.summary.valid_tokens == 7);
  // A strided slice of a wider id tensor is read in place and gives the span version's mask.
  torch::manual_seed(3);
  const torch::Tensor wide = torch::randint(0, 4, {9, 13}, torch::kLong);
  const torch::Tensor slice = wide.narrow(1, 2, 8);
  const auto ours = lt::build_response_mask(slice, 1, {.mask_truncated = true});
  const torch::Tensor c = slice.contiguous();
  std::vector<std::uint8_t> mask(9 * 8), trunc(9);
  const auto s = mmrag_rft::build_response_mask(matrix_view<const std::int64_t>(c.data_ptr<std::int64_t>(), 9, 8),
                                                std::int64_t{1}, matrix_view<std::uint8_t>(mask.data(), 9, 8),
                                                {.mask_truncated = true}, {}, std::span<std::uint8_t>(trunc));
  CHECK(std::memcmp(ours.mask.data_ptr(), mask.data(), mask.size()) == 0);
  CHECK(std::memcmp(ours.truncated.data_ptr(), trunc.data(), trunc.size()) == 0);
  CHECK(ours.summary.valid_tokens == s.valid_tokens);
  CHECK(ours.summary.truncated == s.truncated);
  // The mask goes to the loss as it is.
  const torch::Tensor lp = torch::zeros({4, 4}, torch::kFloat);
  const auto out =
      lt::policy_loss({.log_probs = lp, .old_log_probs = lp, .sequence_advantages = torch::ones({4}), .mask = r.mask});
  CHECK(out.result.stats.valid_tokens == 12);
}

TEST_CASE("libtorch::build_response_mask: errors name the tensor and its shape") {
  const torch::Tensor ids = torch::zeros({2, 3}, torch::kLong);
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(torch::zeros({6}, torch::kLong), 2),
                       doctest::Contains("token_ids must be 2-D [B, T], not Long [6]"), error);
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(ids.to(torch::kFloat), 2),
                       doctest::Contains("token_ids must be int64 or int32, not Float [2, 3]"), error);
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(ids.to(torch::kInt), std::int64_t{1} << 40),
                       doctest::Contains("does not fit the int32 ids of Int [2, 3]"), error);
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(ids, 2, {}, torch::tensor({3}, torch::kLong)),
                       doctest::Contains("lengths must be 1-D [B] with B = 2 (the rows of token_ids Long [2, 3] on "
                                         "cpu), not Long [1]"),
                       error);
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(ids, 2, {}, torch::tensor({3.0, 1.0})),
                       doctest::Contains("lengths must be int64 or int32, not Float [2]"), error);
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(ids, 2, {}, torch::tensor({3, 4}, torch::kLong)),
                       doctest::Contains("lengths[1] must be in [0, cols]"), error);
  CHECK_THROWS_WITH_AS((void)lt::build_response_mask(torch::Tensor(), 2), doctest::Contains("undefined"), error);
}

namespace glue_test {
// A [B, T] batch: log-probs near 0 (requiring a gradient), old log-probs, a mask with padding, one advantage per row.
struct loss_batch {
  torch::Tensor lp, old, mask, adv, ref, ent;
  explicit loss_batch(std::int64_t B = 6, std::int64_t T = 7) {
    torch::manual_seed(11);
    lp = (torch::randn({B, T}) * 0.3 - 1.0).requires_grad_(true);
    old = lp.detach() + torch::randn({B, T}) * 0.1;
    ref = lp.detach() + torch::randn({B, T}) * 0.2;
    ent = (torch::rand({B, T}) + 0.5).requires_grad_(true);
    mask = torch::arange(T).unsqueeze(0) < (torch::arange(B) % T + 1).unsqueeze(1); // row i: i % T + 1 tokens
    adv = torch::randn({B});
  }
  [[nodiscard]] lt::policy_loss_tensors tensors() const {
    return {.log_probs = lp,
            .old_log_probs = old,
            .sequence_advantages = adv,
            .mask = mask,
            .ref_log_probs = ref,
            .entropy = ent};
  }
};
policy_loss_options with_kl() {
  policy_loss_options o = policy_loss_options::verl();
  o.kl = kl_estimator::k3, o.kl_coef = 0.1, o.entropy_coeff = 0.01;
  return o;
}
} // namespace glue_test

TEST_CASE("libtorch adapter errors: shapes shown in full, the non-finite tensor named, the logits' own shape") {
  const loss_batch b;
  lt::policy_loss_tensors t = b.tensors();
  t.old_log_probs = b.old.narrow(1, 0, 6);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(t, with_kl()),
                       doctest::Contains("libtorch::policy_loss: old_log_probs must have the shape of log_probs (Float "
                                         "[6, 7] on cpu), not Float [6, 6] on cpu"),
                       error);
  t = b.tensors();
  t.mask = b.mask.narrow(0, 0, 5);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(t, with_kl()), doctest::Contains("mask must have the shape of log_probs"),
                       error);
  t = b.tensors();
  t.sequence_advantages = b.adv.narrow(0, 0, 4);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(t, with_kl()),
                       doctest::Contains("sequence_advantages must be 1-D [B] with B = 6 (the rows of log_probs Float "
                                         "[6, 7] on cpu), not Float [4] on cpu"),
                       error);
  // A NaN or infinity at a valid token: the tensor, the value and the token; one at a masked token is no error.
  const auto poisoned = [&](const char* which, std::int64_t i, std::int64_t k, float v) {
    lt::policy_loss_tensors p = b.tensors();
    torch::Tensor x = (std::string(which) == "old_log_probs"   ? b.old
                       : std::string(which) == "ref_log_probs" ? b.ref
                                                               : b.ent.detach())
                          .clone();
    x[i][k] = v;
    if (std::string(which) == "old_log_probs") p.old_log_probs = x;
    else if (std::string(which) == "ref_log_probs") p.ref_log_probs = x;
    else p.entropy = x;
    return p;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(poisoned("old_log_probs", 3, 2, nan), with_kl()),
                       doctest::Contains("old_log_probs holds NaN at valid token [3, 2]"), error);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(poisoned("ref_log_probs", 4, 0, -inf), with_kl()),
                       doctest::Contains("ref_log_probs holds -inf at valid token [4, 0]"), error);
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(poisoned("entropy", 5, 5, inf), with_kl()),
                       doctest::Contains("entropy holds +inf at valid token [5, 5]"), error);
  CHECK_NOTHROW((void)lt::policy_loss(poisoned("old_log_probs", 0, 3, nan), with_kl())); // row 0 has 1 token
  t = b.tensors();
  t.sequence_advantages = b.adv.clone();
  t.sequence_advantages[2] = nan;
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(t, with_kl()),
                       doctest::Contains("sequence_advantages holds NaN at valid token [2, 0] (its element [2])"),
                       error);
  // The first bad token in row-major order wins; the reference is read only with a KL term.
  lt::policy_loss_tensors two = poisoned("ref_log_probs", 1, 0, nan);
  two.old_log_probs = b.old.clone();
  two.old_log_probs[2][1] = nan;
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(two, with_kl()),
                       doctest::Contains("ref_log_probs holds NaN at valid token [1, 0]"), error);
  policy_loss_options no_kl = with_kl();
  no_kl.kl = kl_estimator::none;
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(two, no_kl),
                       doctest::Contains("old_log_probs holds NaN at valid token [2, 1]"), error);
  // propagate lets it through, as before.
  policy_loss_options prop = with_kl();
  prop.nonfinite = nonfinite_policy::propagate;
  const auto through = lt::policy_loss(poisoned("old_log_probs", 3, 2, nan), prop);
  CHECK(std::isnan(through.loss.item<double>()));
  CHECK(through.result.stats.nonfinite_tokens == 1);
  // The logits' dtype error shows the tensor as passed, not the rows it is read as.
  const torch::Tensor logits3 = torch::zeros({4, 5, 16}, torch::kDouble);
  CHECK_THROWS_WITH_AS((void)lt::token_logprobs_and_entropy(logits3, torch::zeros({4, 5}, torch::kLong)),
                       doctest::Contains("logits must be float32, bfloat16 or float16, not Double [4, 5, 16] on cpu"),
                       error);
}

TEST_CASE("libtorch adapter: float16 logits and bfloat16 / float16 loss inputs are computed in float32") {
  torch::manual_seed(5);
  const torch::Tensor logits = (torch::randn({3, 4, 50}) * 2).to(torch::kHalf);
  const torch::Tensor tokens = torch::randint(50, {3, 4}, torch::kLong);
  auto xh = logits.clone().requires_grad_(true);
  auto xf = logits.to(torch::kFloat).requires_grad_(true);
  const auto rh = lt::token_logprobs_and_entropy(xh, tokens);
  const auto rf = lt::token_logprobs_and_entropy(xf, tokens);
  CHECK(torch::equal(rh.log_probs, rf.log_probs)); // the float16 values read exactly as float32
  CHECK(torch::equal(rh.entropy, rf.entropy));
  (rh.log_probs.sum() + 0.5 * rh.entropy.sum()).backward();
  (rf.log_probs.sum() + 0.5 * rf.entropy.sum()).backward();
  REQUIRE((xh.grad().scalar_type() == torch::kHalf));
  CHECK(torch::equal(xh.grad(), xf.grad().to(torch::kHalf))); // the float32 gradient rounded once

  for (const auto dtype : {torch::kBFloat16, torch::kHalf}) {
    const loss_batch b;
    auto lp16 = b.lp.detach().to(dtype).requires_grad_(true);
    auto lp32 = lp16.detach().to(torch::kFloat).requires_grad_(true);
    auto ent32 = b.ent.detach().clone().requires_grad_(true);
    lt::policy_loss_tensors low = b.tensors(), ref = b.tensors();
    low.log_probs = lp16, low.old_log_probs = b.old.to(dtype), low.entropy = ent32;
    ref.log_probs = lp32, ref.old_log_probs = b.old.to(dtype).to(torch::kFloat), ref.entropy = ent32;
    const auto a = lt::policy_loss(low, with_kl());
    const auto c = lt::policy_loss(ref, with_kl());
    CHECK((a.loss.scalar_type() == torch::kFloat));
    CHECK(a.loss.item<float>() == c.loss.item<float>());
    CHECK(a.result.stats.pg_clipfrac == c.result.stats.pg_clipfrac);
    a.loss.backward();
    REQUIRE((lp16.grad().scalar_type() == dtype));
    (void)c; // the reference gradient: backward of the float32 call
    auto lp32b = lp16.detach().to(torch::kFloat).requires_grad_(true);
    ref.log_probs = lp32b;
    lt::policy_loss(ref, with_kl()).loss.backward();
    CHECK(torch::equal(lp16.grad(), lp32b.grad().to(dtype)));
  }
}

TEST_CASE("policy_loss_options::trl() with kl = k3 and kl_coef left at 0 is refused, naming kl_coef") {
  const loss_batch b;
  policy_loss_options o = policy_loss_options::trl();
  o.kl = kl_estimator::k3;
  CHECK_THROWS_WITH_AS((void)lt::policy_loss(b.tensors(), o),
                       doctest::Contains("options.kl_coef is 0 while options.kl chooses a KL estimator"), error);
  o.kl_coef = 0.04; // TRL's beta
  CHECK_NOTHROW((void)lt::policy_loss(b.tensors(), o));
  CHECK_NOTHROW((void)lt::policy_loss(b.tensors(), policy_loss_options::trl())); // no KL, no coefficient: fine
}
