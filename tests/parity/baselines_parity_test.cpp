// SPDX-License-Identifier: Apache-2.0
// OPO, GPG, GRPO pass@k and ReMax (data/verl_baseline_advantages.json, verl 1dda039b, and
// data/verl_2026_01_baseline_advantages.json, b178a3cd), GDPO, RLOO, REINFORCE++-baseline and REINFORCE++
// (data/verl_group_advantages.json, 1dda039b) against verl's own functions.
#include <mmrag_rft/advantages.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

using namespace mmrag_rft;

namespace baseline_parity {

nlohmann::json load_cases(const std::string& file) {
  std::ifstream in(std::string(MMRAG_RFT_PARITY_DATA) + "/" + file);
  REQUIRE_MESSAGE(in.good(), "missing " << file << " (python3 tests/parity/generate.py)");
  return nlohmann::json::parse(in);
}

/// got against want (token advantages, one row of T per completion), relative to max(|want|, the largest |want|,
/// `floor`).
double compare(const std::vector<double>& got, const nlohmann::json& c, double tol, double floor = 0) {
  const auto want = c["expected"].get<std::vector<double>>();
  REQUIRE(want.size() == got.size());
  double scale = floor, worst = 0;
  for (double x : want) scale = std::max(scale, std::fabs(x));
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]) / std::max({std::fabs(want[i]), scale, 1e-300});
    worst = std::max(worst, err);
    CHECK_MESSAGE(err <= tol, c["name"].get<std::string>()
                                  << " at " << i << ": got " << got[i] << ", want " << want[i]);
  }
  return worst;
}

struct batch {
  std::vector<double> r;
  std::vector<std::int64_t> off{0};
  std::size_t T = 0;
  std::vector<std::uint8_t> m;
  explicit batch(const nlohmann::json& c) : r(c["rewards"].get<std::vector<double>>()), T(c["T"].get<std::size_t>()) {
    for (auto s : c["group_sizes"].get<std::vector<std::int64_t>>()) off.push_back(off.back() + s);
    for (int x : c["mask"].get<std::vector<int>>()) m.push_back(x != 0 ? 1 : 0);
  }
  [[nodiscard]] mask_view mask() const { return {m.data(), r.size(), T}; }
  [[nodiscard]] group_layout layout() const { return group_layout::from_offsets(off); }
  [[nodiscard]] std::vector<double> tokens(const std::vector<double>& a) const {
    std::vector<double> out(r.size() * T);
    broadcast_advantages(std::span<const double>(a), mask(), matrix_view<double>(out.data(), r.size(), T));
    return out;
  }
};

} // namespace baseline_parity

TEST_CASE("parity: verl OPO, GPG, GRPO pass@k and ReMax advantages to 1e-12") {
  for (const char* file : {"verl_baseline_advantages.json", "verl_2026_01_baseline_advantages.json"}) {
    const auto d = baseline_parity::load_cases(file);
    double worst = 0;
    std::size_t n_cases = 0;
    for (const auto& c : d["cases"]) {
      const auto r = c["rewards"].get<std::vector<double>>();
      const auto sizes = c["group_sizes"].get<std::vector<std::int64_t>>();
      std::vector<std::int64_t> off{0};
      for (auto s : sizes) off.push_back(off.back() + s);
      const auto T = c["T"].get<std::size_t>();
      std::vector<std::uint8_t> m;
      for (int x : c["mask"].get<std::vector<int>>()) m.push_back(x != 0 ? 1 : 0);
      const mask_view mask(m.data(), r.size(), T);
      const auto layout = group_layout::from_offsets(off);
      const std::string f = c["function"].get<std::string>();
      std::vector<double> a(r.size()), tokens(r.size() * T);
      if (f == "compute_opo_outcome_advantage")
        (void)opo_advantages(std::span<const double>(r), layout, mask, std::span<double>(a));
      else if (f == "compute_gpg_outcome_advantage")
        (void)gpg_advantages(std::span<const double>(r), layout, std::span<double>(a));
      else if (f == "compute_grpo_passk_outcome_advantage") {
        grpo_passk_options o;
        o.norm_adv_by_std_in_grpo = c["norm_adv_by_std_in_grpo"].get<bool>();
        (void)grpo_passk_advantages(std::span<const double>(r), layout, std::span<double>(a), o);
      } else {
        REQUIRE(f == "compute_remax_outcome_advantage");
        const auto b = c["greedy_rewards"].get<std::vector<double>>();
        remax_advantages(std::span<const double>(r), std::span<const double>(b), std::span<double>(a));
      }
      broadcast_advantages(std::span<const double>(a), mask, matrix_view<double>(tokens.data(), r.size(), T));
      const auto want = c["expected"].get<std::vector<double>>();
      REQUIRE(want.size() == tokens.size());
      double scale = 0;
      for (double x : want) scale = std::max(scale, std::fabs(x));
      for (std::size_t i = 0; i < want.size(); ++i) {
        const double err = std::fabs(tokens[i] - want[i]) / std::max({std::fabs(want[i]), scale, 1e-300});
        worst = std::max(worst, err);
        CHECK_MESSAGE(err <= 1e-12, c["name"].get<std::string>()
                                        << " at " << i << ": got " << tokens[i] << ", want " << want[i]);
      }
      ++n_cases;
    }
    CHECK(n_cases == 63);
    MESSAGE("verl " << d["commit"].get<std::string>() << " baseline advantages: " << n_cases
                    << " cases, worst relative error " << worst);
  }
}

TEST_CASE("parity: verl GDPO, RLOO, REINFORCE++-baseline and REINFORCE++ advantages") {
  using baseline_parity::batch;
  const auto d = baseline_parity::load_cases("verl_group_advantages.json");
  CHECK(d["commit"].get<std::string>().rfind("1dda039b", 0) == 0);
  double worst = 0, worst_f32 = 0;
  std::size_t counts[4] = {}, observation_spans[2] = {};
  for (const auto& c : d["cases"]) {
    const std::string f = c["function"].get<std::string>();
    CAPTURE(c["name"].get<std::string>());
    if (f == "compute_reinforce_plus_plus_outcome_advantage") {
      const std::size_t B = c["B"], T = c["T"];
      const auto tok = c["token_rewards"].get<std::vector<double>>();
      std::vector<std::uint8_t> m;
      for (int x : c["mask"].get<std::vector<int>>()) m.push_back(x != 0 ? 1 : 0);
      std::vector<double> ret(B * T), adv(B * T);
      (void)reinforce_pp_advantages(matrix_view<const double>(tok.data(), B, T), mask_view(m.data(), B, T),
                                    reinforce_pp_discount::verl(c["gamma"].get<double>()),
                                    matrix_view<double>(ret.data(), B, T), matrix_view<double>(adv.data(), B, T),
                                    whitening_options::verl());
      worst = std::max(worst, baseline_parity::compare(adv, c, 1e-12));
      // The returns too, 0 at masked positions as verl's.
      const auto want_ret = c["returns"].get<std::vector<double>>();
      for (std::size_t k = 0; k < ret.size(); ++k) CHECK(ret[k] == doctest::Approx(want_ret[k]).epsilon(1e-12));
      ++observation_spans[c["name"].get<std::string>().find("observation") != std::string::npos];
      ++counts[3];
      continue;
    }
    const batch b(c);
    std::vector<double> a(b.r.size());
    if (f == "compute_rloo_outcome_advantage") {
      (void)rloo_advantages(std::span<const double>(b.r), b.layout(), std::span<double>(a));
      // Judged against the rewards too: for equal rewards verl's r n/(n-1) - mean n/(n-1) and the library's
      // r - (sum - r)/(n-1) both round to within an ulp of the rewards, verl to 0, the library to 5.6e-17.
      double r_max = 0;
      for (double x : b.r) r_max = std::max(r_max, std::fabs(x));
      worst = std::max(worst, baseline_parity::compare(b.tokens(a), c, 1e-12, r_max));
      ++counts[0];
    } else if (f == "compute_reinforce_plus_plus_baseline_outcome_advantage") {
      (void)reinforce_pp_baseline_advantages(std::span<const double>(b.r), b.layout(), b.mask(), std::span<double>(a),
                                             whitening_options::verl());
      worst = std::max(worst, baseline_parity::compare(b.tokens(a), c, 1e-12));
      ++counts[1];
    } else {
      REQUIRE(f == "compute_gdpo_outcome_advantage");
      // verl: GRPO per component, the weighted sum, then masked_whiten over the valid tokens (token-weighted).
      const auto comps = c["components"].get<std::vector<std::vector<double>>>();
      const auto w = c["weights"].get<std::vector<double>>();
      const std::size_t n = b.r.size(), K = comps.size();
      std::vector<double> R(n * K);
      for (std::size_t j = 0; j < n; ++j)
        for (std::size_t k = 0; k < K; ++k) R[j * K + k] = comps[k][j];
      gdpo_options o;
      o.component = grpo_options::verl();
      o.component.norm_adv_by_std_in_grpo = c["norm_adv_by_std_in_grpo"].get<bool>();
      o.whiten = false;
      (void)gdpo_advantages(matrix_view<const double>(R.data(), n, K), std::span<const double>(w), b.layout(),
                            std::span<double>(a), o);
      std::vector<double> tok = b.tokens(a);
      (void)masked_whiten(matrix_view<double>(tok.data(), n, b.T), b.mask(), whitening_options::verl());
      const double tol = c["tolerance"].get<double>();
      const double e = baseline_parity::compare(tok, c, tol);
      (tol == 1e-12 ? worst : worst_f32) = std::max(tol == 1e-12 ? worst : worst_f32, e);
      ++counts[2];
    }
  }
  CHECK(counts[0] == 18);
  CHECK(counts[1] >= 17);
  CHECK(counts[2] == 54);
  CHECK(counts[3] == 12);
  CHECK(observation_spans[1] == 6);
  MESSAGE("verl " << d["commit"].get<std::string>() << " group advantages: worst relative error " << worst
                  << " (float64), " << worst_f32 << " (GDPO of several components, computed by verl in float32)");
}
