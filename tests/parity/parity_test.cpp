// SPDX-License-Identifier: Apache-2.0
// Parity with the frameworks' own functions: every vector in tests/parity/data was computed by verl's or TRL's code
// in float64 (tests/parity/generate.py); the library, configured through its presets and option names, must give
// the same loss, gradient, statistics and advantages to 1e-12 relative.
#include <mmrag_rft/advantages.hpp>
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
using json = nlohmann::json;

namespace {

constexpr double tolerance = 1e-12;

json load(const std::string& file) {
  std::ifstream in(std::string(MMRAG_RFT_PARITY_DATA) + "/" + file);
  REQUIRE_MESSAGE(in.good(), "missing parity vectors " << file << " (python3 tests/parity/generate.py)");
  return json::parse(in);
}

/// The largest relative error seen by each suite, reported so that the documentation states measured figures.
struct worst {
  double rel = 0;
  void see(double got, double want, double scale) {
    const double d = std::fabs(got - want) / std::max({std::fabs(want), scale, 1e-300});
    rel = std::max(rel, d);
  }
};

/// got agrees with want to `tolerance` relative to max(|want|, scale): scale is the magnitude of the vector an
/// element belongs to (a gradient entry that cancels to 1e-17 is judged against the gradient's size).
void check_close(double got, double want, double scale, const std::string& what, worst& w, double tol = tolerance) {
  if (tol == tolerance) w.see(got, want, scale);
  const double d = std::fabs(got - want);
  CHECK_MESSAGE(d <= tol * std::max(std::fabs(want), scale), what << ": got " << got << ", want " << want);
}

std::vector<double> doubles(const json& j) { return j.get<std::vector<double>>(); }
std::vector<std::uint8_t> mask_of(const json& j) {
  std::vector<std::uint8_t> m;
  for (double x : j.get<std::vector<double>>()) m.push_back(x != 0 ? 1 : 0);
  return m;
}
double max_abs(const json& v) {
  double m = 0;
  for (const auto& x : v)
    if (!x.is_null()) m = std::max(m, std::fabs(x.get<double>()));
  return m;
}

/// The verl commits the vectors come from, each with the library preset that reproduces it: data/verl_*.json from
/// verl 1dda039b (`policy_loss_options::verl()`), data/verl_2026_01_*.json from b178a3cd (`verl_2026_01()`).
struct verl_vectors {
  const char* prefix;
  const char* commit;
  policy_loss_options preset;
};
std::vector<verl_vectors> verl_commits() {
  return {{"verl_", "1dda039b", policy_loss_options::verl()},
          {"verl_2026_01_", "b178a3cd", policy_loss_options::verl_2026_01()}};
}

/// verl's options as a config file spells them, mapped through the option names onto a verl preset.
policy_loss_options verl_options(const json& o, policy_loss_options opt) {
  opt.mode = parse_policy_loss_mode(o["mode"].get<std::string>());
  opt.aggregation = parse_loss_aggregation(o["aggregation"].get<std::string>());
  opt.clip_ratio_low = o["clip_ratio_low"].get<double>();
  opt.clip_ratio_high = o["clip_ratio_high"].get<double>();
  opt.clip_ratio_c = o["clip_ratio_c"].get<double>();
  const kl_choice kl = parse_kl_estimator(o["kl"].get<std::string>());
  opt.kl = kl.estimator;
  opt.kl_straight_through = kl.straight_through;
  opt.kl_coef = o["kl_coef"].get<double>();
  // verl's actor.policy_loss block: Clip-Cov's and KL-Cov's settings.
  const json pl = o.value("policy_loss", json::object());
  opt.clip_cov_ratio = pl.value("clip_cov_ratio", opt.clip_cov_ratio);
  opt.clip_cov_lb = pl.value("clip_cov_lb", opt.clip_cov_lb);
  opt.clip_cov_ub = pl.value("clip_cov_ub", opt.clip_cov_ub);
  opt.kl_cov_ratio = pl.value("kl_cov_ratio", opt.kl_cov_ratio);
  opt.kl_cov_coef = pl.value("ppo_kl_coef", opt.kl_cov_coef);
  const json& b = o["batch_info"];
  verl_batch_info info;
  if (b.contains("dp_size")) info.dp_size = b["dp_size"].get<double>();
  if (b.contains("batch_num_tokens")) info.batch_num_tokens = b["batch_num_tokens"].get<double>();
  if (b.contains("global_batch_size")) info.global_batch_size = b["global_batch_size"].get<double>();
  if (b.contains("loss_scale_factor")) info.loss_scale_factor = b["loss_scale_factor"].get<double>();
  return with_verl_batch_info(opt, info);
}

/// TRL's GRPOConfig fields mapped onto the TRL preset.
policy_loss_options trl_options(const json& o, std::size_t rows) {
  policy_loss_options opt = policy_loss_options::trl();
  opt.mode = o["importance_sampling_level"] == "sequence" ? policy_loss_mode::gspo : policy_loss_mode::ppo_clip;
  opt.clip_ratio_low = o["epsilon"].get<double>();
  opt.clip_ratio_high = o["epsilon_high"].get<double>();
  if (o["beta"].get<double>() != 0) opt.kl = kl_estimator::k3, opt.kl_coef = o["beta"].get<double>();
  const std::string type = o["loss_type"].get<std::string>();
  if (type == "dapo") { // sum / num_items_in_batch (one process)
    opt.aggregation = loss_aggregation::token_mean;
    opt.normalizer = std::max(1.0, o["num_items_in_batch"].get<double>());
  } else if (type == "bnpo") { // sum / local valid tokens
    opt.aggregation = loss_aggregation::token_mean;
  } else if (type == "grpo") { // mean over all B rows of the row means (an empty row adds 0 and counts)
    opt.aggregation = loss_aggregation::seq_mean_token_mean;
    opt.normalizer = static_cast<double>(rows);
  } else if (type == "dr_grpo") { // sum / (B * max_completion_length)
    opt.aggregation = loss_aggregation::seq_mean_token_sum_norm;
    opt.normalizer = static_cast<double>(rows) * o["max_completion_length"].get<double>();
  } else {
    FAIL("unknown TRL loss_type " << type);
  }
  return opt;
}

struct loss_run {
  policy_loss_result res;
  std::vector<double> grad;
};

template <class E>
loss_run run_loss(const E& exec, const json& c, const policy_loss_options& opt) {
  const std::size_t B = c["rows"], T = c["cols"];
  const std::vector<double> lp = doubles(c["log_probs"]), old = doubles(c["old_log_probs"]);
  const std::vector<std::uint8_t> m = mask_of(c["mask"]);
  std::vector<double> adv, seq_adv, ref, weights;
  if (c.contains("advantages")) adv = doubles(c["advantages"]);
  if (c.contains("token_weights")) weights = doubles(c["token_weights"]);
  if (c.contains("sequence_advantages")) seq_adv = doubles(c["sequence_advantages"]);
  if (c.contains("ref_log_probs")) ref = doubles(c["ref_log_probs"]);
  policy_loss_inputs<double> in;
  in.log_probs = {lp.data(), B, T};
  in.old_log_probs = {old.data(), B, T};
  if (!adv.empty()) in.advantages = {adv.data(), B, T};
  else in.sequence_advantages = seq_adv;
  in.mask = {m.data(), B, T};
  if (!ref.empty()) in.ref_log_probs = {ref.data(), B, T};
  if (!weights.empty()) in.token_weights = {weights.data(), B, T};
  loss_run r;
  r.grad.assign(B * T, -777.0);
  r.res = policy_loss(exec, in, policy_loss_grads<double>{{r.grad.data(), B, T}, {}}, opt);
  return r;
}

/// One case: loss, its parts, the gradient and the recorded statistics; where the framework gives NaN (a batch
/// without valid tokens) the library's documented neutral result, loss 0 and zero gradients.
void check_loss_case(const json& c, const policy_loss_options& opt, worst& w) {
  const std::string name = c["framework"].get<std::string>() + " " + c["name"].get<std::string>();
  CAPTURE(name);
  const loss_run r = run_loss(exec::seq, c, opt);
  const json& e = c["expected"];
  if (e["loss"].is_null()) {
    CHECK(r.res.loss == 0.0);
    for (double g : r.grad) CHECK(g == 0.0);
    return;
  }
  // The loss and its parts are judged against the largest of them (a KL sum of +-25 terms that cancels to 1e-15
  // is 0 to the loss's precision).
  double scale = std::fabs(e["loss"].get<double>());
  for (const char* part : {"pg_loss", "kl_loss"})
    if (e.contains(part)) scale = std::max(scale, std::fabs(e[part].get<double>()));
  check_close(r.res.loss, e["loss"], scale, name + " loss", w);
  if (e.contains("pg_loss")) check_close(r.res.pg_loss, e["pg_loss"], scale, name + " pg_loss", w);
  if (e.contains("kl_loss")) check_close(r.res.kl_loss, e["kl_loss"], scale, name + " kl_loss", w);
  const double gscale = max_abs(e["grad"]);
  for (std::size_t k = 0; k < r.grad.size(); ++k)
    check_close(r.grad[k], e["grad"][k], gscale, name + " grad[" + std::to_string(k) + "]", w);
  if (e.contains("stats")) {
    const json& s = e["stats"];
    // verl's statistics are float64; TRL's are float32 means (the generator records which).
    const double tol = e.value("stats_tolerance", tolerance);
    const auto stat = [&](const char* key, double got) {
      if (s.contains(key) && !s[key].is_null()) check_close(got, s[key], 0, name + " " + key, w, tol);
    };
    stat("pg_clipfrac", r.res.stats.pg_clipfrac);
    stat("ppo_kl", r.res.stats.ppo_kl);
    stat("pg_clipfrac_lower", r.res.stats.pg_clipfrac_lower);
    stat("clip_ratio_low", r.res.stats.clip_ratio_low);
    stat("clip_ratio_high", r.res.stats.clip_ratio_high);
    stat("clip_ratio_region", r.res.stats.clip_ratio_region);
  }
  // The threaded CPU backend gives the same bits.
  const loss_run p = run_loss(exec::par.with_threads(2), c, opt);
  CHECK(p.res.loss == r.res.loss);
  CHECK(p.grad == r.grad);
}

/// Every case of a verl loss family, for each commit whose vectors it has, under that commit's preset.
void check_verl_loss_family(const std::string& family, std::size_t min_cases, bool weighted = false) {
  for (const verl_vectors& v : verl_commits()) {
    const std::string file = std::string(v.prefix) + family + ".json";
    std::ifstream probe(std::string(MMRAG_RFT_PARITY_DATA) + "/" + file);
    if (!probe.good() && std::string(v.prefix) != "verl_") continue; // a family of the current conventions only
    const json d = load(file);
    CHECK(d["commit"].get<std::string>().rfind(v.commit, 0) == 0);
    REQUIRE(d["cases"].size() >= min_cases);
    worst w;
    for (const json& c : d["cases"]) {
      if (weighted) REQUIRE(c.contains("token_weights"));
      check_loss_case(c, verl_options(c["options"], v.preset), w);
    }
    MESSAGE("verl " << d["commit"].get<std::string>() << " " << family << ": " << d["cases"].size()
                    << " cases, largest relative error " << w.rel);
  }
}

} // namespace

TEST_CASE("parity: verl policy losses (PPO, GSPO, CISPO, SAPO, GPG; KL; global batch info) to 1e-12") {
  check_verl_loss_family("policy_loss", 200);
}

TEST_CASE("parity: verl policy losses with rollout_is_weights (every mode; KL; global batch info) to 1e-12") {
  check_verl_loss_family("token_weights", 60, true);
}

TEST_CASE("parity: verl GMPO, Clip-Cov (forced choices) and KL-Cov to 1e-12") {
  check_verl_loss_family("batch_modes", 150);
}

TEST_CASE("parity: verl token-sum, the straight-through KL names, KL terms with global batch info to 1e-12") {
  check_verl_loss_family("conventions", 60);
}

TEST_CASE("parity: the GSPO reproducer under the verl preset") {
  const json d = load("verl_policy_loss.json");
  for (const json& c : d["cases"]) {
    if (c["name"] != "gspo reproducer") continue;
    const loss_run r = run_loss(exec::seq, c, verl_options(c["options"], policy_loss_options::verl()));
    // verl: no dual clip (which would cap the loss at -A c = 3), seq-mean-token-mean with the row length + 1e-8:
    // loss = 2 e^{1.5} / (2 + 1e-8) = 4.4816890479..., gradient e^{1.5} / (2 + 1e-8) at each token (the ratio's
    // stop-gradient form gives each token r times its own gradient).
    const double r15 = std::exp(1.5);
    CHECK(r.res.loss == doctest::Approx(2 * r15 / (2 + 1e-8)).epsilon(1e-15));
    CHECK(r.grad[0] == doctest::Approx(r15 / (2 + 1e-8)).epsilon(1e-15));
    CHECK(r.grad[1] == doctest::Approx(r15 / (2 + 1e-8)).epsilon(1e-15));
    CHECK(r.res.stats.pg_clipfrac_lower == 0.0);
    CHECK(r.res.loss == doctest::Approx(c["expected"]["loss"].get<double>()).epsilon(1e-12));
    return;
  }
  FAIL("the gspo reproducer is missing from verl_policy_loss.json");
}

TEST_CASE("parity: TRL GRPOTrainer._compute_loss (dapo, bnpo, grpo, dr_grpo; token and sequence level) to 1e-12") {
  const json d = load("trl_policy_loss.json");
  CHECK(d["commit"].get<std::string>().rfind("f2cd5771", 0) == 0);
  REQUIRE(d["cases"].size() > 30);
  worst w;
  for (const json& c : d["cases"]) check_loss_case(c, trl_options(c["options"], c["rows"]), w);
  MESSAGE("TRL " << d["commit"].get<std::string>() << ": " << d["cases"].size()
                 << " policy-loss cases, largest relative error " << w.rel);
}

TEST_CASE("parity: verl compute_grpo_outcome_advantage to 1e-12") {
  for (const verl_vectors& v : verl_commits()) {
    const json d = load(std::string(v.prefix) + "grpo_advantages.json");
    CHECK(d["commit"].get<std::string>().rfind(v.commit, 0) == 0);
    REQUIRE(d["cases"].size() > 30);
    worst w;
    for (const json& c : d["cases"]) {
      const std::string name = c["name"];
      CAPTURE(name);
      const std::vector<double> r = doubles(c["rewards"]);
      std::vector<std::int64_t> off{0};
      for (const auto& s : c["group_sizes"]) off.push_back(off.back() + s.get<std::int64_t>());
      grpo_options o = grpo_options::verl();
      o.norm_adv_by_std_in_grpo = c["norm_adv_by_std_in_grpo"];
      o.epsilon = c["epsilon"];
      std::vector<double> a(r.size(), -777.0);
      (void)grpo_advantages(r, group_layout::from_offsets(off), a, o);
      const double scale = max_abs(c["expected"]);
      for (std::size_t k = 0; k < a.size(); ++k)
        check_close(a[k], c["expected"][k], scale, name + " [" + std::to_string(k) + "]", w);
    }
    MESSAGE("verl " << d["commit"].get<std::string>() << ": " << d["cases"].size()
                    << " GRPO cases, largest relative error " << w.rel);
  }
}

namespace {

/// A 2 x 3 batch, row 0 with 2 valid tokens, row 1 with 3, ratio 1 everywhere (lp = old), so that every token's
/// PPO loss is -A: row 0 has A = 1, row 1 A = -2.
struct ratio_one_batch {
  std::vector<double> lp{-1, -1, -1, -1, -1, -1};
  std::vector<double> adv{1, -2};
  std::vector<std::uint8_t> m{1, 1, 0, 1, 1, 1};
  std::vector<double> g = std::vector<double>(6, -777.0);
  policy_loss_result run(const policy_loss_options& o) {
    policy_loss_inputs<double> in;
    in.log_probs = {lp.data(), 2, 3};
    in.old_log_probs = {lp.data(), 2, 3};
    in.sequence_advantages = adv;
    in.mask = {m.data(), 2, 3};
    return policy_loss(in, policy_loss_grads<double>{{g.data(), 2, 3}, {}}, o);
  }
};

} // namespace

TEST_CASE("parity: verl 1dda039b conventions worked by hand (token-sum, sum-norm over sequences, dp_size)") {
  // Row sums of the per-token losses: row 0: 2 * (-1) = -2, row 1: 3 * 2 = 6; total 4.
  ratio_one_batch b;
  policy_loss_options o = policy_loss_options::verl();
  o.aggregation = parse_loss_aggregation("token-sum");
  CHECK(b.run(o).loss == doctest::Approx(4.0).epsilon(1e-15));
  CHECK(b.g[0] == -1.0);
  CHECK(b.g[3] == 2.0);
  CHECK(b.g[2] == 0.0);

  // seq-mean-token-sum-norm, local: sum / (N_seqs C) = 4 / (2 * 3); the 2026-01 convention 4 / 3.
  o.aggregation = loss_aggregation::seq_mean_token_sum_norm;
  CHECK(b.run(o).loss == doctest::Approx(4.0 / 6.0).epsilon(1e-15));
  CHECK(b.g[3] == doctest::Approx(2.0 / 6.0).epsilon(1e-15));
  CHECK(b.run(policy_loss_options::verl_2026_01()).loss == doctest::Approx(4.0 / 5.0).epsilon(1e-15)); // token-mean
  policy_loss_options old = policy_loss_options::verl_2026_01();
  old.aggregation = loss_aggregation::seq_mean_token_sum_norm;
  CHECK(b.run(old).loss == doctest::Approx(4.0 / 3.0).epsilon(1e-15));

  // Global batch info: dp_size 4, 10 sequences, C = 1000. New: 4 * 4 / (10 * 1000); old: 4 / 1000, no dp_size.
  const verl_batch_info info{4.0, 50.0, 10.0, 1000.0};
  CHECK(b.run(with_verl_batch_info(o, info)).loss == doctest::Approx(16.0 / 10000.0).epsilon(1e-15));
  CHECK(b.run(with_verl_batch_info(old, info)).loss == doctest::Approx(4.0 / 1000.0).epsilon(1e-15));
  // token-mean: 4 * 4 / 50; seq-mean-token-mean: 4 * (-2 / (2 + 1e-8) + 6 / (3 + 1e-8)) / 10; token-sum: 4 * 4.
  o.aggregation = loss_aggregation::token_mean;
  CHECK(b.run(with_verl_batch_info(o, info)).loss == doctest::Approx(16.0 / 50.0).epsilon(1e-15));
  o.aggregation = loss_aggregation::seq_mean_token_mean;
  CHECK(b.run(with_verl_batch_info(o, info)).loss ==
        doctest::Approx(4.0 * (-2.0 / (2 + 1e-8) + 6.0 / (3 + 1e-8)) / 10.0).epsilon(1e-15));
  o.aggregation = loss_aggregation::token_sum;
  CHECK(b.run(with_verl_batch_info(o, info)).loss == doctest::Approx(16.0).epsilon(1e-15));
  // GSPO under the verl preset aggregates seq-mean-token-mean whatever the configured mode.
  o.mode = policy_loss_mode::gspo;
  CHECK(b.run(with_verl_batch_info(o, info)).loss ==
        doctest::Approx(4.0 * (-2.0 / (2 + 1e-8) + 6.0 / (3 + 1e-8)) / 10.0).epsilon(1e-15));
}

TEST_CASE("parity: new options validate, and every option that validates gives a finite loss") {
  ratio_one_batch b;
  policy_loss_options o = policy_loss_options::verl();
  o.count_epsilon = -1e-9;
  CHECK_THROWS_WITH_AS((void)b.run(o), doctest::Contains("options.count_epsilon"), error);
  o.count_epsilon = 2e-3;
  CHECK_THROWS_AS((void)b.run(o), error);
  o.count_epsilon = 1e-3;
  o.sum_norm_sequences = 0.0;
  CHECK_THROWS_WITH_AS((void)b.run(o), doctest::Contains("options.sum_norm_sequences"), error);
  o.sum_norm_sequences = std::nan("");
  CHECK_THROWS_AS((void)b.run(o), error);
  o.sum_norm_sequences.reset();
  // Every aggregation x convention, also on an all-masked batch: finite, and 0 without valid tokens.
  for (auto a :
       {loss_aggregation::token_mean, loss_aggregation::seq_mean_token_sum, loss_aggregation::seq_mean_token_mean,
        loss_aggregation::seq_mean_token_sum_norm, loss_aggregation::token_sum})
    for (bool seq_mean : {false, true})
      for (auto mode : {policy_loss_mode::ppo_clip, policy_loss_mode::gspo, policy_loss_mode::sapo}) {
        o.aggregation = a, o.sum_norm_seq_mean = seq_mean, o.mode = mode;
        CHECK(std::isfinite(b.run(o).loss));
        ratio_one_batch empty;
        empty.m.assign(6, 0);
        CHECK(empty.run(o).loss == 0.0);
        for (double g : empty.g) CHECK(g == 0.0);
      }
}

TEST_CASE("parity: verl's singleton advantage divides by float(1 + epsilon)") {
  const std::vector<double> r{0.7};
  std::vector<double> a(1);
  (void)grpo_advantages(r, group_layout::uniform(1, 1), a, grpo_options::verl());
  CHECK(a[0] == 0.7 / 1.00000095367431640625);
  grpo_options o = grpo_options::verl();
  o.singleton = singleton_group::unit_std;
  (void)grpo_advantages(r, group_layout::uniform(1, 1), a, o);
  CHECK(a[0] == 0.7 / (1.0 + 1e-6));
}
