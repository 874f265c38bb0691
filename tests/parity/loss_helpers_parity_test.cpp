// SPDX-License-Identifier: Apache-2.0
// Parity of the KL controller, the masked reductions, the clipped value loss and the rollout correction with verl's
// own functions (AdaptiveKLController, masked_sum / masked_mean / masked_var, compute_value_loss,
// compute_rollout_correction_and_rejection_mask), computed in float64 by tests/parity/generate.py: verl 1dda039b in
// data/verl_*.json (the options' defaults), b178a3cd in data/verl_2026_01_*.json (their verl_2026_01() presets).
#include <mmrag_rft/config/names.hpp>
#include <mmrag_rft/core/masked_reduce.hpp>
#include <mmrag_rft/losses/kl_controller.hpp>
#include <mmrag_rft/losses/rollout_correction.hpp>
#include <mmrag_rft/losses/value_loss.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace mmrag_rft;
using json = nlohmann::json;

namespace loss_helpers_parity {

inline json load_helpers(const std::string& file = "verl_loss_helpers.json") {
  std::ifstream in(std::string(MMRAG_RFT_PARITY_DATA) + "/" + file);
  REQUIRE_MESSAGE(in.good(), "missing parity vectors " << file << " (python3 tests/parity/generate.py)");
  return json::parse(in);
}

inline std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, ',');) out.push_back(part);
  return out;
}

/// verl's rollout_rs option names ("seq_mean_k1") and threshold specs ("0.9_1.1", one per option or one for all).
inline std::vector<rollout_rs_criterion> criteria_of(const std::string& names, const std::string& thresholds) {
  const auto opts = split_commas(names), specs = split_commas(thresholds);
  std::vector<rollout_rs_criterion> out;
  for (std::size_t k = 0; k < opts.size(); ++k) {
    const std::string& o = opts[k];
    const std::string spec = specs.size() == 1 ? specs[0] : specs[k];
    rollout_rs_criterion c;
    c.level = o.rfind("token_", 0) == 0      ? rollout_rs_level::token
              : o.rfind("seq_sum_", 0) == 0  ? rollout_rs_level::seq_sum
              : o.rfind("seq_mean_", 0) == 0 ? rollout_rs_level::seq_mean
                                             : rollout_rs_level::seq_max;
    const char e = o.back();
    c.estimator = e == '1' ? rollout_rs_estimator::k1 : e == '2' ? rollout_rs_estimator::k2 : rollout_rs_estimator::k3;
    const auto us = spec.find('_');
    if (us == std::string::npos) {
      c.upper = std::stod(spec);
    } else {
      c.lower = std::stod(spec.substr(0, us));
      c.upper = std::stod(spec.substr(us + 1));
    }
    out.push_back(c);
  }
  return out;
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

/// The files of each verl commit and whether they follow the 2026-01 conventions.
struct helper_vectors {
  const char* prefix;
  const char* commit;
  bool v2026_01;
};
inline constexpr helper_vectors helper_commits[] = {{"verl_", "1dda039b", false}, {"verl_2026_01_", "b178a3cd", true}};

} // namespace loss_helpers_parity

using namespace loss_helpers_parity;

TEST_CASE("parity: verl AdaptiveKLController, masked reductions, compute_value_loss") {
  for (const helper_vectors& hv : helper_commits) {
    CAPTURE(hv.commit);
    const json data = load_helpers(std::string(hv.prefix) + "loss_helpers.json");
    CHECK(data["commit"].get<std::string>().rfind(hv.commit, 0) == 0);
    REQUIRE(data["cases"].size() > 20);
    worst_rel = 0;
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
        value_loss_options o = hv.v2026_01 ? value_loss_options::verl_2026_01() : value_loss_options{};
        o.cliprange_value = c["cliprange_value"];
        o.aggregation = parse_loss_aggregation(c["loss_agg_mode"].get<std::string>());
        std::vector<double> g(B * T);
        const auto r =
            value_loss(matrix_view<const double>(vp.data(), B, T), matrix_view<const double>(ret.data(), B, T),
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
    MESSAGE("verl " << std::string(hv.commit) << " loss helpers: worst relative error " << worst_rel);
  }
}

TEST_CASE("parity: verl compute_rollout_correction_and_rejection_mask") {
  for (const helper_vectors& hv : helper_commits) {
    CAPTURE(hv.commit);
    const json data = load_helpers(std::string(hv.prefix) + "rollout_correction.json");
    CHECK(data["commit"].get<std::string>().rfind(hv.commit, 0) == 0);
    REQUIRE(data["cases"].size() == (hv.v2026_01 ? 24u : 36u)); // 1dda039b: 12 IcePop cases more
    worst_rel = 0;
    std::size_t icepop_cases = 0;
    for (const auto& c : data["cases"]) {
      const std::string name = c["name"];
      CAPTURE(name);
      const std::size_t B = c["B"], T = c["T"];
      const auto old = c["old_log_prob"].get<std::vector<double>>(),
                 roll = c["rollout_log_prob"].get<std::vector<double>>();
      const auto m = helper_mask(c["mask"]);
      rollout_correction_options o =
          hv.v2026_01 ? rollout_correction_options::verl_2026_01() : rollout_correction_options{};
      o.is_level = c["rollout_is"] == "token" ? rollout_is_level::token : rollout_is_level::sequence;
      if (c["rollout_is_threshold"].is_string()) { // IcePop's "lower_upper"
        const std::string spec = c["rollout_is_threshold"];
        const auto us = spec.find('_');
        REQUIRE(us != std::string::npos);
        o.is_threshold_lower = std::stod(spec.substr(0, us));
        o.is_threshold = std::stod(spec.substr(us + 1));
      } else {
        o.is_threshold = c["rollout_is_threshold"];
      }
      o.is_batch_normalize = c["rollout_is_batch_normalize"];
      std::vector<rollout_rs_criterion> crit;
      if (!c["rollout_rs"].is_null()) crit = criteria_of(c["rollout_rs"], c["rollout_rs_threshold"]);
      o.rejection = crit;
      std::vector<double> w(B * T);
      std::vector<std::uint8_t> mo(B * T);
      const auto s =
          rollout_correction(exec::par, matrix_view<const double>(old.data(), B, T),
                             matrix_view<const double>(roll.data(), B, T), mask_view(m.data(), B, T),
                             matrix_view<double>(w.data(), B, T), matrix_view<std::uint8_t>(mo.data(), B, T), o);
      const auto want_w = c["weights"].get<std::vector<double>>(), want_m = c["mask_out"].get<std::vector<double>>();
      double scale = 0;
      for (double x : want_w) scale = std::max(scale, std::fabs(x));
      for (std::size_t k = 0; k < w.size(); ++k) {
        close_to(w[k], want_w[k], scale, name + " weight");
        CHECK(double(mo[k]) == want_m[k]);
      }
      const json& mt = c["metrics"];
      const auto stat = [&](const char* key, double got) {
        if (mt.contains(key)) close_to(got, mt[key], 0, name + " " + key);
      };
      stat("rollout_is_mean", s.is_mean);
      stat("rollout_is_max", s.is_max);
      stat("rollout_is_min", s.is_min);
      // verl takes the row fractions as float32 means (`.float().mean()`): compared at that precision.
      const auto f32 = [&](double x) { return o.is_level == rollout_is_level::sequence ? double(float(x)) : x; };
      stat("rollout_is_ratio_fraction_high", f32(s.is_ratio_fraction_high));
      stat("rollout_is_ratio_fraction_low", f32(s.is_ratio_fraction_low));
      stat("rollout_is_std", s.is_std);
      stat("rollout_is_eff_sample_size", s.is_eff_sample_size);
      stat("rollout_is_batch_norm_factor", s.is_batch_norm_factor);
      stat("rollout_rs_masked_fraction", s.rs_masked_fraction);
      stat("rollout_rs_seq_masked_fraction", double(float(s.rs_seq_masked_fraction)));
      stat("rollout_is_oob_ratio", s.is_oob_fraction);
      if (o.is_threshold_lower) {
        CHECK(mt.contains("rollout_is_oob_ratio"));
        ++icepop_cases;
      }
    }
    CHECK(icepop_cases == (hv.v2026_01 ? 0u : 12u));
    MESSAGE("verl " << std::string(hv.commit) << " rollout correction: worst relative error " << worst_rel);
  }
}
