// SPDX-License-Identifier: Apache-2.0
// Parity of the KL controller, the masked reductions and the clipped value loss with verl's own functions at
// b178a3cd (AdaptiveKLController, masked_sum / masked_mean / masked_var, compute_value_loss), computed in float64 by
// tests/parity/generate.py into data/verl_loss_helpers.json.
#include <mmrag_rft/config/names.hpp>
#include <mmrag_rft/core/masked_reduce.hpp>
#include <mmrag_rft/losses/kl_controller.hpp>
#include <mmrag_rft/losses/value_loss.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

using namespace mmrag_rft;
using json = nlohmann::json;

namespace loss_helpers_parity {

inline json load_helpers() {
  std::ifstream in(std::string(MMRAG_RFT_PARITY_DATA) + "/verl_loss_helpers.json");
  REQUIRE_MESSAGE(in.good(), "missing parity vectors verl_loss_helpers.json (python3 tests/parity/generate.py)");
  return json::parse(in);
}

inline double worst_rel = 0;

inline void close_to(double got, double want, double scale, const std::string& what) {
  const double d = std::fabs(got - want) / std::max({std::fabs(want), scale, 1e-300});
  worst_rel = std::max(worst_rel, d);
  CHECK_MESSAGE(d <= 1e-12, what << ": got " << got << ", want " << want);
}

inline std::vector<std::uint8_t> helper_mask(const json& j) {
  std::vector<std::uint8_t> m;
  for (double x : j.get<std::vector<double>>()) m.push_back(x != 0 ? 1 : 0);
  return m;
}

inline loss_aggregation aggregation_of(const std::string& s) {
  for (auto a : {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum,
                 loss_aggregation::seq_mean_token_mean, loss_aggregation::seq_mean_token_sum_norm})
    if (to_string(a) == s) return a;
  FAIL("unknown loss_agg_mode " << s);
  return loss_aggregation::token_mean;
}

} // namespace loss_helpers_parity

using namespace loss_helpers_parity;

TEST_CASE("parity: verl AdaptiveKLController, masked reductions, compute_value_loss") {
  const json data = load_helpers();
  REQUIRE(data["cases"].size() > 20);
  std::size_t kl_cases = 0, reduce_cases = 0, value_cases = 0;
  for (const auto& c : data["cases"]) {
    const std::string name = c["name"];
    CAPTURE(name);
    const std::string fn = c["function"];
    if (fn == "AdaptiveKLController") {
      auto k = kl_controller::adaptive(c["init_kl_coef"], c["target_kl"], c["horizon"]);
      const auto kls = c["current_kl"].get<std::vector<double>>();
      const auto steps = c["n_steps"].get<std::vector<double>>();
      const auto want = c["expected"].get<std::vector<double>>();
      for (std::size_t s = 0; s < kls.size(); ++s) close_to(k.update(kls[s], steps[s]), want[s], 0, name);
      ++kl_cases;
    } else if (fn == "masked_sum/masked_mean/masked_var") {
      const std::size_t B = c["B"], T = c["T"];
      const auto v = c["values"].get<std::vector<double>>();
      const auto m = helper_mask(c["mask"]);
      const matrix_view<const double> V(v.data(), B, T);
      const mask_view M(m.data(), B, T);
      for (const auto* e : {static_cast<const void*>(&exec::seq), static_cast<const void*>(&exec::par)}) {
        const bool par = e == &exec::par;
        const auto sum = par ? masked_sum(exec::par, V, M) : masked_sum(V, M);
        close_to(sum, c["sum"], 0, name + " sum");
        close_to(masked_mean(V, M), c["mean"], 0, name + " mean");
        close_to(par ? masked_var(exec::par, V, M) : masked_var(V, M), c["var"], 0, name + " var");
        close_to(masked_var(V, M, {1e-8, false}), c["var_biased"], 0, name + " var biased");
      }
      std::vector<double> rs(B), rm(B);
      masked_sum_rows(V, M, std::span<double>(rs));
      masked_mean_rows(exec::par, V, M, std::span<double>(rm));
      for (std::size_t i = 0; i < B; ++i) {
        close_to(rs[i], c["row_sum"][i], 0, name + " row sum");
        close_to(rm[i], c["row_mean"][i], 0, name + " row mean");
      }
      ++reduce_cases;
    } else if (fn == "compute_value_loss") {
      const std::size_t B = c["B"], T = c["T"];
      const auto vp = c["vpreds"].get<std::vector<double>>(), ret = c["returns"].get<std::vector<double>>(),
                 old = c["values"].get<std::vector<double>>(), want_g = c["grad_vpreds"].get<std::vector<double>>();
      const auto m = helper_mask(c["mask"]);
      value_loss_options o;
      o.cliprange_value = c["cliprange_value"];
      o.aggregation = aggregation_of(c["loss_agg_mode"]);
      std::vector<double> g(B * T);
      const auto r = value_loss(matrix_view<const double>(vp.data(), B, T), matrix_view<const double>(ret.data(), B, T),
                                matrix_view<const double>(old.data(), B, T), mask_view(m.data(), B, T),
                                matrix_view<double>(g.data(), B, T), o);
      if (c["loss"].is_null()) {
        CHECK(r.loss == 0.0); // verl: NaN without valid tokens; the library: 0
      } else {
        close_to(r.loss, c["loss"], 0, name + " loss");
        close_to(r.clipfrac, c["vf_clipfrac"], 0, name + " clipfrac");
      }
      double scale = 0;
      for (double x : want_g) scale = std::max(scale, std::fabs(x));
      for (std::size_t k = 0; k < g.size(); ++k) close_to(g[k], want_g[k], scale, name + " grad");
      ++value_cases;
    }
  }
  CHECK(kl_cases == 3);
  CHECK(reduce_cases >= 10);
  CHECK(value_cases == 16);
  MESSAGE("verl loss helpers: worst relative error " << worst_rel);
}
