// SPDX-License-Identifier: Apache-2.0
// DPPO-Binary-TV and -KL against verl's own compute_policy_loss_dppo_tv / _dppo_kl (data/verl_dppo.json, written by
// tests/parity/generate.py from verl 1dda039b): loss, its parts, the gradient and verl's three statistics, to 1e-12.
#include <mmrag_rft/config/names.hpp>
#include <mmrag_rft/losses.hpp>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

using namespace mmrag_rft;

namespace dppo_parity {

/// verl's ActorConfig fields of a case on the preset of verl since 1dda039b (which the vectors come from).
policy_loss_options options_of(const nlohmann::json& o) {
  policy_loss_options opt = policy_loss_options::verl();
  opt.mode = parse_policy_loss_mode(o.at("mode").get<std::string>());
  opt.aggregation = parse_loss_aggregation(o.at("aggregation").get<std::string>());
  opt.clip_ratio_low = o.at("clip_ratio_low").get<double>();
  opt.clip_ratio_high = o.at("clip_ratio_high").get<double>();
  opt.clip_ratio_c = o.at("clip_ratio_c").get<double>();
  opt.kl = parse_kl_estimator(o.at("kl").get<std::string>()).estimator;
  opt.kl_coef = o.at("kl_coef").get<double>();
  verl_batch_info info;
  const auto& b = o.at("batch_info");
  info.dp_size = b.value("dp_size", 1.0);
  for (auto [key, field] : {std::pair{"batch_num_tokens", &verl_batch_info::batch_num_tokens},
                            std::pair{"global_batch_size", &verl_batch_info::global_batch_size},
                            std::pair{"loss_scale_factor", &verl_batch_info::loss_scale_factor}})
    if (b.contains(key)) info.*field = b[key].get<double>();
  return with_verl_batch_info(opt, info);
}

/// A case's tensors, kept alive for the views of one call.
struct tensors {
  std::size_t rows, cols;
  std::vector<double> lp, old, adv, ref, weights;
  std::vector<std::uint8_t> mask;
  explicit tensors(const nlohmann::json& c) : rows(c.at("rows")), cols(c.at("cols")) {
    lp = c.at("log_probs").get<std::vector<double>>();
    old = c.at("old_log_probs").get<std::vector<double>>();
    adv = c.at("advantages").get<std::vector<double>>();
    for (double m : c.at("mask").get<std::vector<double>>()) mask.push_back(m != 0.0);
    if (c.contains("ref_log_probs")) ref = c["ref_log_probs"].get<std::vector<double>>();
    if (c.contains("token_weights")) weights = c["token_weights"].get<std::vector<double>>();
  }
  template <class E>
  policy_loss_result run(const E& exec, std::vector<double>& grad, const policy_loss_options& o) const {
    policy_loss_inputs<double> in;
    in.log_probs = {lp.data(), rows, cols};
    in.old_log_probs = {old.data(), rows, cols};
    in.advantages = {adv.data(), rows, cols};
    in.mask = {mask.data(), rows, cols};
    if (!ref.empty()) in.ref_log_probs = {ref.data(), rows, cols};
    if (!weights.empty()) in.token_weights = {weights.data(), rows, cols};
    grad.assign(rows * cols, -777.0);
    return policy_loss(exec, in, policy_loss_grads<double>{{grad.data(), rows, cols}, {}}, o);
  }
};

/// |got - want| relative to max(|want|, scale), the largest seen kept for the closing message.
struct judge {
  double largest = 0;
  bool operator()(double got, double want, double scale) {
    const double err = std::fabs(got - want) / std::max({std::fabs(want), scale, 1e-300});
    largest = std::max(largest, err);
    return err <= 1e-12;
  }
};

} // namespace dppo_parity

TEST_CASE("parity: verl DPPO-Binary-TV and -KL (every aggregation, caps, near-1 probabilities, weights) to 1e-12") {
  std::ifstream file(std::string(MMRAG_RFT_PARITY_DATA) + "/verl_dppo.json");
  REQUIRE_MESSAGE(file.good(), "missing verl_dppo.json (python3 tests/parity/generate.py)");
  const auto d = nlohmann::json::parse(file);
  REQUIRE(d.at("cases").size() >= 80);
  dppo_parity::judge ok;
  std::size_t masked_out = 0, truncated = 0;
  for (const auto& c : d["cases"]) {
    const std::string name = c.at("name");
    CAPTURE(name);
    const dppo_parity::tensors t(c);
    const policy_loss_options o = dppo_parity::options_of(c.at("options"));
    REQUIRE((o.mode == policy_loss_mode::dppo_tv || o.mode == policy_loss_mode::dppo_kl));
    std::vector<double> g, gp;
    const policy_loss_result r = t.run(exec::seq, g, o);
    const auto& e = c.at("expected");
    if (e.at("loss").is_null()) { // verl's 0 / 0 of a batch without valid tokens; the library gives 0
      CHECK(r.loss == 0.0);
      CHECK(std::all_of(g.begin(), g.end(), [](double x) { return x == 0.0; }));
      continue;
    }
    const double want = e["loss"], pg = e["pg_loss"], kl = e["kl_loss"];
    const double scale = std::max({std::fabs(want), std::fabs(pg), std::fabs(kl)});
    CHECK_MESSAGE(ok(r.loss, want, scale), "loss " << r.loss << " vs " << want);
    CHECK_MESSAGE(ok(r.pg_loss, pg, scale), "pg_loss " << r.pg_loss << " vs " << pg);
    CHECK_MESSAGE(ok(r.kl_loss, kl, scale), "kl_loss " << r.kl_loss << " vs " << kl);
    const auto want_g = e.at("grad").get<std::vector<double>>();
    REQUIRE(want_g.size() == g.size());
    double gscale = 0;
    for (double x : want_g) gscale = std::max(gscale, std::fabs(x));
    for (std::size_t k = 0; k < g.size(); ++k)
      CHECK_MESSAGE(ok(g[k], want_g[k], gscale), "grad[" << k << "] " << g[k] << " vs " << want_g[k]);
    const auto& s = e.at("stats");
    CHECK_MESSAGE(ok(r.stats.pg_clipfrac, s.at("pg_clipfrac"), 0), "pg_clipfrac " << r.stats.pg_clipfrac);
    CHECK_MESSAGE(ok(r.stats.pg_clipfrac_lower, s.at("pg_clipfrac_lower"), 0),
                  "pg_clipfrac_lower " << r.stats.pg_clipfrac_lower);
    CHECK_MESSAGE(ok(r.stats.ppo_kl, s.at("ppo_kl"), 0), "ppo_kl " << r.stats.ppo_kl);
    masked_out += r.stats.pg_clipfrac > 0, truncated += r.stats.pg_clipfrac_lower > 0;
    // The threaded CPU backend gives the same bits.
    const policy_loss_result p = t.run(exec::par.with_threads(2), gp, o);
    CHECK(p.loss == r.loss);
    CHECK(gp == g);
  }
  // The vectors exercise both the trust-region mask and the truncation.
  CHECK(masked_out >= 20);
  CHECK(truncated >= 10);
  MESSAGE("verl " << d["commit"].get<std::string>() << ": " << d["cases"].size()
                  << " DPPO cases, largest relative error " << ok.largest);
}
