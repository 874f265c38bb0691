// SPDX-License-Identifier: Apache-2.0
// OPO, GPG, GRPO pass@k and ReMax against verl's own functions (data/verl_baseline_advantages.json).
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

nlohmann::json load_cases() {
  std::ifstream in(std::string(MMRAG_RFT_PARITY_DATA) + "/verl_baseline_advantages.json");
  REQUIRE_MESSAGE(in.good(), "missing verl_baseline_advantages.json (python3 tests/parity/generate.py)");
  return nlohmann::json::parse(in);
}

} // namespace baseline_parity

TEST_CASE("parity: verl OPO, GPG, GRPO pass@k and ReMax advantages to 1e-12") {
  const auto d = baseline_parity::load_cases();
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
  MESSAGE("verl baseline advantages: " << n_cases << " cases, worst relative error " << worst);
}
