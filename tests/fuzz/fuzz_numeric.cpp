// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the numeric entry points with fuzzed shapes, options and values. The first byte picks the algorithm
// (policy_loss in float or double, grpo_advantages in float or double); the bytes that follow are read as a stream of
// choices: shapes, options (valid and invalid values from small palettes, enumerators out of range included),
// values (ordinary ones, and NaN, infinities, subnormals, values near the type's limits), the mask.
// Properties: only `mmrag_rft::error` is ever thrown; with validated options a non-finite input error is raised
// exactly when a valid token (or reward) is non-finite; masked tokens are never read (a NaN planted there changes
// nothing, bitwise) and get gradient 0; the statistics count the mask; with values in an ordinary range the results
// are finite; GRPO gives all-equal groups exactly 0, centres every other group (sum of advantages ~ 0) and reports
// degenerate groups exactly.
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/losses.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

namespace {

using mmrag_rft::fuzz::check;
namespace mr = mmrag_rft;

/// The fuzzer's bytes as a stream of small choices (0 once exhausted, so every input is a complete case).
struct choices {
  const std::uint8_t* p;
  std::size_t n;
  std::uint8_t byte() noexcept {
    if (n == 0) return 0;
    --n;
    return *p++;
  }
  template <class T, std::size_t N>
  T pick(const T (&palette)[N]) noexcept {
    return palette[byte() % N];
  }
};

constexpr double nan = std::numeric_limits<double>::quiet_NaN();
constexpr double inf = std::numeric_limits<double>::infinity();

/// An element value: `tame` values lie in an ordinary range, the others test the limits. Returns whether it is tame.
template <class T>
T value(choices& c, bool& tame, double lo, double hi) {
  const std::uint8_t k = c.byte();
  if (k < 224) {
    tame = true;
    return static_cast<T>(lo + (hi - lo) * (k / 223.0));
  }
  tame = false;
  static constexpr double wild[] = {nan, inf, -inf, 1e-310, -2e38, 2e38, 1.7e308, -1.7e308, 0.1, -0.0, 3e-39, 1e30};
  const double v = wild[(k - 224) % (sizeof wild / sizeof wild[0])];
  return static_cast<T>(v); // a double beyond T's range becomes +-inf in float, as any caller's cast would
}

template <class T>
bool finite_value(T x) {
  return std::isfinite(x);
}

template <class T>
void fuzz_policy_loss(choices& c) {
  const std::size_t rows = c.byte() % 7, cols = c.byte() % 10;
  const std::size_t n = rows * cols;
  mr::policy_loss_options o;
  static constexpr mr::policy_loss_mode modes[] = {mr::policy_loss_mode::ppo_clip, mr::policy_loss_mode::gspo,
                                                   mr::policy_loss_mode::cispo,    mr::policy_loss_mode::sapo,
                                                   mr::policy_loss_mode::gpg,      mr::policy_loss_mode::dppo_tv,
                                                   mr::policy_loss_mode::dppo_kl,  mr::policy_loss_mode(200)};
  static constexpr mr::loss_aggregation aggs[] = {
      mr::loss_aggregation::token_mean,          mr::loss_aggregation::seq_mean_token_sum,
      mr::loss_aggregation::seq_mean_token_mean, mr::loss_aggregation::seq_mean_token_sum_norm,
      mr::loss_aggregation::token_sum,           mr::loss_aggregation(9)};
  static constexpr mr::kl_estimator kls[] = {mr::kl_estimator::none, mr::kl_estimator::k1, mr::kl_estimator::abs,
                                             mr::kl_estimator::k2, mr::kl_estimator::k3};
  static constexpr mr::kl_clamp clamps[] = {mr::kl_clamp::none, mr::kl_clamp::verl, mr::kl_clamp::openrlhf};
  static constexpr double clips[] = {0.2, 0.0, 0.28, 0.999, 1.0, -0.1, nan, 5.0};
  static constexpr double coefs[] = {0.0, 0.001, 0.04, 1.0, -0.5, nan, 1e30};
  static constexpr double scales[] = {1.0, 8.0, 0.25, 1e18, 1e39, -1.0, nan, inf};
  static constexpr double norms[] = {0.0, 1.0, 7.0, 1e-300, 1e-3, -2.0, nan, 4096.0};
  static constexpr double maxes[] = {10.0, 0.5, nan, inf, -1.0, 1e300};
  o.mode = c.pick(modes);
  o.aggregation = c.pick(aggs);
  o.kl = c.pick(kls);
  o.kl_clamps = c.pick(clamps);
  o.clip_ratio_low = c.pick(clips);
  o.clip_ratio_high = c.pick(clips);
  const std::uint8_t flags = c.byte();
  if (flags & 1u) o.clip_ratio_c.reset();
  else o.clip_ratio_c = 1.0 + c.pick(clips) * 4.0;
  if (flags & 2u) o.log_ratio_clamp.reset();
  if (flags & 4u) o.delta = 1.0 + c.pick(clips) * 8.0;
  if (flags & 8u) o.normalizer = c.pick(norms);
  if (flags & 16u) o.gspo_log_ratio_max = c.pick(maxes);
  o.gspo_grad = flags & 32u ? mr::gspo_gradient::sequence : mr::gspo_gradient::stop_gradient;
  o.kl_straight_through = flags & 64u;
  o.kl_importance_corrected = flags & 128u;
  o.kl_coef = c.pick(coefs);
  o.entropy_coeff = c.pick(coefs);
  o.loss_scale = c.pick(scales);
  const bool token_adv = c.byte() & 1u;

  std::vector<T> lp(n), old(n), adv(token_adv ? n : 0), seq(token_adv ? 0 : rows), ref(n), ent(n);
  std::vector<std::uint8_t> mask(n);
  bool tame_all = true, finite_valid = true;
  for (std::size_t i = 0; i < rows; ++i) {
    bool tame = true;
    if (!token_adv) {
      seq[i] = value<T>(c, tame, -3.0, 3.0);
      tame_all &= tame;
    }
    for (std::size_t t = 0; t < cols; ++t) {
      const std::size_t k = i * cols + t;
      mask[k] = (c.byte() & 3u) != 0;
      bool tl = true, to = true, ta = true, tr = true, te = true;
      lp[k] = value<T>(c, tl, -12.0, 0.0);
      old[k] = value<T>(c, to, -12.0, 0.0);
      if (token_adv) adv[k] = value<T>(c, ta, -3.0, 3.0);
      ref[k] = value<T>(c, tr, -12.0, 0.0);
      ent[k] = value<T>(c, te, 0.0, 5.0);
      if (mask[k]) {
        tame_all &= tl && to && ta && tr && te;
        const bool uses_ref = o.kl != mr::kl_estimator::none;
        finite_valid &= finite_value(lp[k]) && finite_value(old[k]) && (!token_adv || finite_value(adv[k])) &&
                        (!uses_ref || finite_value(ref[k])) && finite_value(ent[k]) &&
                        (token_adv || finite_value(seq[i]));
      }
    }
  }
  mr::policy_loss_inputs<T> in;
  in.log_probs = {lp.data(), rows, cols};
  in.old_log_probs = {old.data(), rows, cols};
  if (token_adv) in.advantages = {adv.data(), rows, cols};
  else in.sequence_advantages = seq;
  in.mask = {mask.data(), rows, cols};
  in.ref_log_probs = {ref.data(), rows, cols};
  in.entropy = {ent.data(), rows, cols};
  std::vector<T> g(n, T(-7)), ge(n, T(-7));
  const mr::policy_loss_grads<T> out{{g.data(), rows, cols}, {ge.data(), rows, cols}};

  mr::policy_loss_result r;
  try {
    r = mr::policy_loss(in, out, o);
  } catch (const mr::error& e) {
    // A refusal either of the options (then nothing about the values is claimed) or of a non-finite valid input.
    const bool value_error = std::strstr(e.what(), "NaN or infinite value at valid token") != nullptr;
    check(!value_error || !finite_valid, "a non-finite input error only when a valid token is non-finite");
    if (value_error) return;
    // Options refused: the same options must be refused for any values, so the check ends here.
    return;
  }
  check(finite_valid, "a non-finite valid token is reported (nonfinite = error)");
  std::size_t valid = 0, seqs = 0;
  for (std::size_t i = 0; i < rows; ++i) {
    std::size_t len = 0;
    for (std::size_t t = 0; t < cols; ++t) len += mask[i * cols + t] != 0;
    valid += len, seqs += len > 0;
  }
  check(r.stats.valid_tokens == valid, "valid_tokens counts the mask");
  check(r.stats.valid_sequences == seqs, "valid_sequences counts the rows with a valid token");
  for (std::size_t k = 0; k < n; ++k)
    if (!mask[k]) check(g[k] == T(0) && ge[k] == T(0), "a masked token's gradients are 0");
  if (tame_all && std::fabs(o.loss_scale) <= 1e6) {
    check(std::isfinite(r.loss), "ordinary values give a finite loss");
    for (std::size_t k = 0; k < n; ++k) check(std::isfinite(g[k]), "ordinary values give finite gradients");
  }

  // Masked positions are never read: poison them and compare bitwise.
  bool any_masked = false;
  for (std::size_t k = 0; k < n; ++k)
    if (!mask[k]) {
      any_masked = true;
      lp[k] = old[k] = ref[k] = ent[k] = std::numeric_limits<T>::quiet_NaN();
      if (token_adv) adv[k] = std::numeric_limits<T>::quiet_NaN();
    }
  if (!any_masked) return;
  std::vector<T> g2(n), ge2(n);
  const auto r2 = mr::policy_loss(in, {{g2.data(), rows, cols}, {ge2.data(), rows, cols}}, o);
  const auto same = [](double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); };
  check(same(r2.loss, r.loss), "a NaN at a masked token changes nothing (loss)");
  for (std::size_t k = 0; k < n; ++k) check(same(g2[k], g[k]), "a NaN at a masked token changes nothing (gradient)");
}

template <class T>
void fuzz_grpo(choices& c) {
  const std::size_t groups = c.byte() % 6;
  std::vector<std::int64_t> offsets{0};
  const bool uniform = c.byte() & 1u;
  const std::size_t usize = 1 + c.byte() % 8;
  for (std::size_t g = 0; g < groups; ++g) offsets.push_back(offsets.back() + (uniform ? usize : c.byte() % 9));
  const auto n = static_cast<std::size_t>(offsets.back());
  mr::grpo_options o;
  static constexpr double eps[] = {1e-6, 0.0, 1e-4, 1e-9, -1e-6, nan, 1.0};
  o.epsilon = c.pick(eps);
  const std::uint8_t flags = c.byte();
  o.norm_adv_by_std_in_grpo = !(flags & 1u);
  o.std = flags & 2u ? mr::std_estimator::biased : mr::std_estimator::unbiased;
  o.singleton = static_cast<mr::singleton_group>((flags >> 2) % 5); // 4 is out of range
  o.scale = flags & 16u ? mr::reward_scale::batch : mr::reward_scale::group;
  o.nonfinite = flags & 32u ? mr::nonfinite_rewards::mask_out : mr::nonfinite_rewards::error;
  std::vector<T> r(n), a(n, T(-7));
  std::vector<std::uint8_t> keep(n, 7);
  bool finite_all = true, tame_all = true;
  const bool equal_groups = flags & 64u; // every group all-equal (one value each)
  for (std::size_t g = 0; g < groups; ++g) {
    bool tame = true;
    const T first = value<T>(c, tame, -2.0, 2.0);
    for (auto j = offsets[g]; j < offsets[g + 1]; ++j) {
      bool t = true;
      r[static_cast<std::size_t>(j)] = equal_groups ? first : value<T>(c, t, -2.0, 2.0);
      tame_all &= equal_groups ? tame : t;
    }
  }
  for (T x : r) finite_all &= std::isfinite(x);
  const mr::group_layout layout =
      uniform ? mr::group_layout::uniform(groups, usize) : mr::group_layout::from_offsets(offsets);
  mr::advantage_summary s;
  try {
    s = mr::grpo_advantages(std::span<const T>(r), layout, std::span<T>(a), o, std::span<std::uint8_t>(keep));
  } catch (const mr::error& e) {
    const bool value_error =
        std::strstr(e.what(), "is NaN") != nullptr || std::strstr(e.what(), "is infinite") != nullptr;
    if (value_error)
      check(!finite_all && o.nonfinite == mr::nonfinite_rewards::error,
            "a non-finite reward error only for a non-finite reward");
    return;
  }
  check(finite_all || o.nonfinite == mr::nonfinite_rewards::mask_out, "a non-finite reward is reported");
  std::size_t degenerate = 0;
  for (std::size_t g = 0; g < groups; ++g) {
    const auto b = static_cast<std::size_t>(offsets[g]), e = static_cast<std::size_t>(offsets[g + 1]);
    std::size_t finite_n = 0;
    bool equal = true;
    double first = 0, sum = 0, scale = 0;
    for (std::size_t j = b; j < e; ++j) {
      check(std::isfinite(a[j]), "every advantage is finite");
      check(keep[j] == (std::isfinite(r[j]) ? 1 : 0), "keep marks the finite rewards");
      if (!std::isfinite(r[j])) {
        check(a[j] == T(0), "a masked-out completion gets advantage 0");
        continue;
      }
      if (finite_n == 0) first = static_cast<double>(r[j]);
      equal &= static_cast<double>(r[j]) == first;
      ++finite_n;
      sum += static_cast<double>(a[j]);
      scale = std::max(scale, std::fabs(static_cast<double>(a[j])));
    }
    if (finite_n >= 2 && equal) {
      ++degenerate;
      for (std::size_t j = b; j < e; ++j) check(a[j] == T(0), "an all-equal group gets exactly 0");
    }
    if (finite_n >= 2 && tame_all)
      check(std::fabs(sum) <= 1e-5 * std::max(1.0, scale) * static_cast<double>(finite_n),
            "advantages of a group sum to about 0");
  }
  check(s.degenerate_groups == degenerate, "degenerate groups are counted exactly");
  check(s.groups == groups, "every group is counted");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  choices c{data, size};
  switch (c.byte() % 4) {
  case 0: fuzz_policy_loss<float>(c); break;
  case 1: fuzz_policy_loss<double>(c); break;
  case 2: fuzz_grpo<float>(c); break;
  default: fuzz_grpo<double>(c); break;
  }
  return 0;
}
