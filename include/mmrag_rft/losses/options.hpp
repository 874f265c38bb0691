// SPDX-License-Identifier: Apache-2.0
// Options of the policy losses, with presets that reproduce verl, TRL and OpenRLHF defaults.
// Host/device safe: no Eigen, no range-v3 (CUDA translation units include this header).
#pragma once
#include <mmrag_rft/config.hpp>

#include <cstdint>
#include <optional>
#include <string_view>

namespace mmrag_rft {

/// How the policy-gradient term forms its importance ratio.
enum class policy_loss_mode : std::uint8_t {
  ppo_clip, ///< Token ratio exp(logp - old), clipped surrogate, optional dual clip. [verl "vanilla"; TRL token level]
  /// Sequence ratio exp(mean_t(logp - old)), clipped surrogate; the dual clip does not apply (neither verl's
  /// compute_policy_loss_gspo nor TRL has one). [verl "gspo"; TRL importance_sampling_level="sequence"]
  gspo,
  /// -sg(clip(r, 1 - eps_low, 1 + eps_high)) A logp: the clipped ratio only weighs the REINFORCE term, so clipped
  /// tokens keep their gradient. Dual clip and delta do not apply. [verl "cispo"; MiniMax-M1]
  cispo,
  /// -A (4 / tau) sigmoid(tau (r - 1)), tau = sapo_tau_pos for A > 0 else sapo_tau_neg: a smooth gate instead of the
  /// hard clip. Dual clip and delta do not apply. verl forces seq-mean-token-mean (`gspo_sapo_seq_mean`).
  /// [verl "sapo"]
  sapo,
  /// -logp A, no ratio (the old log-probs enter only the statistics). [verl "gpg"]
  gpg,
  /// DPPO-Binary-TV: -A sg(min(r, c)) logp v, c = clip_ratio_c (nullopt: no truncation). The trust region is on the
  /// probability p = exp(logp), not the ratio: v = 0 (no loss, no gradient) where p - p_old > clip_ratio_high with
  /// A > 0 or p - p_old < -clip_ratio_low with A <= 0, else 1. pg_clipfrac is the fraction with v = 0,
  /// pg_clipfrac_lower that with r > c and v = 1; the TRL region statistics are 0 (eps bounds no ratio here). Delta
  /// does not apply. [verl "dppo_tv"; Qi et al. 2026, DPPO]
  dppo_tv,
  /// DPPO-Binary-KL: as dppo_tv, with v = 0 where the Bernoulli KL D = p_old (old - logp) + (1 - p_old)
  /// log((1 - p_old + 1e-8) / (1 - p + 1e-8)) exceeds clip_ratio_high with A > 0 and p > p_old, or exceeds
  /// clip_ratio_low with A <= 0 and p < p_old. [verl "dppo_kl"]
  dppo_kl,
  /// Geometric-mean ratio per sequence, r_i = exp(mean_t sgn(A_t) min(sgn(A_t) x_t, sgn(A_t) clip(x_t, -eps_low,
  /// eps_high))), x_t = logp - old unclamped; l_i = -mean_t(A_t) r_i, averaged over the B rows (empty rows
  /// included) times loss_scale. Its policy-gradient term ignores `aggregation` and `normalizer` (the KL and entropy
  /// terms follow them), the dual clip, delta and the log-ratio clamp. CPU only.
  /// [verl "geo_mean"; GMPO]
  gmpo,
  /// PPO clip without dual clip or log-ratio clamp; of the unclipped tokens with clip_cov_lb < cov_t < clip_cov_ub,
  /// cov_t = (A_t - mean A)(logp_t - mean logp) over the batch's valid tokens, max(1, floor(clip_cov_ratio N)) are
  /// chosen (seeded, `cov_selection_seed`) and get loss and gradient 0. CPU only. [verl "clip_cov"; Clip-Cov]
  clip_cov,
  /// -A r (r unclamped, no clip); the max(1, floor(kl_cov_ratio N)) tokens of largest cov_t (ties: lower row-major
  /// index first) add kl_cov_coef |logp - old|. CPU only. [verl "kl_cov"; KL-Cov]
  kl_cov,
};

/// How the gradient of GSPO's sequence ratio flows into the tokens.
enum class gspo_gradient : std::uint8_t {
  stop_gradient, ///< log r_t = logp_t - sg(logp_t) + sg(s_i): each token gets r_i times its own gradient. [verl]
  sequence,      ///< log r_i = s_i with gradient 1/|o_i| into every token of the sequence. [TRL, OpenRLHF]
};

/// KL estimator of the penalty towards the reference policy, x = logp - ref_logp. [verl kl_penalty]
enum class kl_estimator : std::uint8_t {
  none,
  k1,  ///< x                          (verl "kl"/"k1")
  abs, ///< |x|                        (verl "abs")
  k2,  ///< x^2 / 2                    (verl "mse"/"k2")
  k3,  ///< exp(-x) + x - 1            (verl "low_var_kl"/"k3"; Schulman's low-variance estimator)
};

/// Which clamps the KL estimator applies.
enum class kl_clamp : std::uint8_t {
  none,    ///< No clamp. [TRL]
  verl,    ///< k3 only: -x clamped to [-20, 20] inside, result clamped to [-10, 10]. [verl kl_penalty_forward]
  openrlhf ///< Every estimator's result clamped to [-10, 10]. [OpenRLHF compute_approx_kl]
};

/// How per-token losses are reduced to one number. With weights w and mask m, loss = sum_{i,t} w_i m_it l_it:
/// - `token_mean`:               w_i = 1 / N_tokens                 (DAPO; verl default; TRL "dapo"/"bnpo")
/// - `seq_mean_token_sum`:       w_i = 1 / N_seqs
/// - `seq_mean_token_mean`:      w_i = 1 / ((|o_i| + e) N_seqs)    (original GRPO; TRL "grpo"; length-biased)
/// - `seq_mean_token_sum_norm`:  w_i = 1 / C, C a constant           (Dr. GRPO; verl C = T; TRL "dr_grpo" C = B * L_max)
///                               or 1 / (N_seqs C) with `sum_norm_seq_mean` (verl since 1dda039b)
/// - `token_sum`:                w_i = 1                            (verl "token-sum" since 1dda039b)
/// N_tokens, N_seqs and C come from `policy_loss_options::normalizer` when given (global normalisation across micro
/// batches and data-parallel ranks), else from the local mask (rows without valid tokens do not count in N_seqs);
/// e is `policy_loss_options::count_epsilon`. Every mode is then multiplied by `loss_scale` (verl's dp_size).
enum class loss_aggregation : std::uint8_t {
  token_mean,
  seq_mean_token_sum,
  seq_mean_token_mean,
  seq_mean_token_sum_norm,
  token_sum,
};

[[nodiscard]] constexpr std::string_view to_string(loss_aggregation a) noexcept {
  switch (a) {
  case loss_aggregation::token_mean: return "token-mean";
  case loss_aggregation::seq_mean_token_sum: return "seq-mean-token-sum";
  case loss_aggregation::seq_mean_token_mean: return "seq-mean-token-mean";
  case loss_aggregation::seq_mean_token_sum_norm: return "seq-mean-token-sum-norm";
  case loss_aggregation::token_sum: return "token-sum";
  }
  return "unknown";
}

/// What to do with a NaN or infinite log-probability (or advantage) at a valid token.
enum class nonfinite_policy : std::uint8_t {
  error,     ///< Throw `mmrag_rft::error` naming the first offending [row, col]. Default.
  propagate, ///< Let it flow into the loss as PyTorch would (the loss becomes NaN); it is counted in the stats.
};

/// Options of `policy_loss`. Defaults are verl's ActorConfig defaults (PPO clip 0.2, dual clip c = 3, token-mean,
/// no KL loss, no entropy bonus) without verl's small constants and per-mode rules, which `verl()` adds.
struct policy_loss_options {
  policy_loss_mode mode = policy_loss_mode::ppo_clip;
  // DPPO reads clip_ratio_low and clip_ratio_high as its divergence thresholds (verl: 0.15 for TV, 0.05 for KL in
  // its DPPO example), not as ratio bounds.
  double clip_ratio_low = 0.2;  ///< eps_low: ratio clipped below at 1 - eps_low. [verl clip_ratio_low; TRL epsilon]
  double clip_ratio_high = 0.2; ///< eps_high: ratio clipped above at 1 + eps_high ("clip-higher"). [TRL epsilon_high]
  /// Dual clip for negative advantages: loss capped at -A * c; nullopt disables. Must be > 1. [verl clip_ratio_c]
  /// DPPO reads it as the cap of its truncated ratio min(r, c) and only requires c > 0 (verl asserts nothing there;
  /// its ActorConfig default 3 applies, the 20 of its loss functions only to configs without the field).
  std::optional<double> clip_ratio_c = 3.0;
  /// Two-sided cap on the unclipped ratio, min(r, delta) (INTELLECT-2). Must be > 1 + eps_high. [TRL delta]
  std::optional<double> delta;
  /// The token log-ratio is clamped to [-c, c] before exp; nullopt disables. [verl and OpenRLHF: 20; TRL: none]
  std::optional<double> log_ratio_clamp = 20.0;
  gspo_gradient gspo_grad = gspo_gradient::stop_gradient;
  /// Upper clamp of GSPO's log sequence ratio; nullopt disables. [verl: 10; TRL/OpenRLHF: none]
  std::optional<double> gspo_log_ratio_max = 10.0;
  /// SAPO gate temperatures for positive and non-positive advantages; each in [1e-3, 1e3]. [verl tau_pos, tau_neg]
  double sapo_tau_pos = 1.0;
  double sapo_tau_neg = 1.05;
  /// Clip-Cov: fraction of the valid tokens whose gradient is cut, and the open covariance window of the candidates.
  /// [verl policy_loss.clip_cov_ratio, clip_cov_lb, clip_cov_ub]
  double clip_cov_ratio = 2e-4;
  double clip_cov_lb = 1.0;
  double clip_cov_ub = 5.0;
  /// KL-Cov: fraction of the valid tokens penalised, and the coefficient of |logp - old|. [verl policy_loss.kl_cov_ratio,
  /// ppo_kl_coef]
  double kl_cov_ratio = 2e-4;
  double kl_cov_coef = 1.0;
  /// GMPO's sequence weight is exp(mean_t log(w_t + e)) of the token weights w_t; in [0, 1e-3]. [verl 1e-10; 0 exact]
  double gmpo_log_weight_epsilon = 0.0;
  /// Clip-Cov's choice among more candidates than it cuts: a partial Fisher-Yates shuffle of the candidates in
  /// row-major order driven by splitmix64 from this seed, so equal seeds and inputs choose the same tokens. (verl
  /// draws torch.randperm, which no seed here reproduces.)
  std::uint64_t cov_selection_seed = 0;

  kl_estimator kl =
      kl_estimator::none; ///< KL-to-reference loss term. [verl use_kl_loss/kl_loss_type; TRL beta>0 uses k3]
  double kl_coef = 0.001; ///< [verl kl_loss_coef; TRL beta]
  kl_clamp kl_clamps = kl_clamp::verl;
  /// Value of the chosen estimator, gradient of k2 (unbiased for the reverse KL). [verl "k1+", "k3+" ...]
  bool kl_straight_through = false;
  /// Multiply the KL term by the importance ratio (DeepSeek-V3.2 unbiased KL). [TRL use_bias_correction_kl]
  bool kl_importance_corrected = false;

  double entropy_coeff = 0.0; ///< Loss gets -entropy_coeff * aggregated entropy. [verl entropy_coeff]

  loss_aggregation aggregation = loss_aggregation::token_mean;
  /// Global N_tokens (token_mean), N_seqs (seq_mean_*) or C (seq_mean_token_sum_norm); nullopt: from the local mask,
  /// and for seq_mean_token_sum_norm the padded length T (verl's default). [verl global_batch_info; TRL num_items_in_batch]
  std::optional<double> normalizer;
  /// The whole loss (and gradient) is multiplied by this, e.g. verl's dp_size or 1/gradient_accumulation_steps.
  /// verl before 1dda039b does not multiply seq-mean-token-sum-norm by dp_size: keep 1 there for that convention.
  double loss_scale = 1.0;
  /// seq-mean-token-sum-norm also takes the sequence mean: w_i = 1 / (N_seqs C), N_seqs = `sum_norm_sequences` when
  /// given (verl's global_batch_size), else the rows with a valid token. [verl since 1dda039b: true; before: false]
  bool sum_norm_seq_mean = false;
  std::optional<double> sum_norm_sequences;
  /// Added to every token count a mean divides by: the row length of seq-mean-token-mean and the valid-token count
  /// of the statistics. Must be in [0, 1e-3]. [verl 1e-8: masked_mean and agg_loss divide by N + 1e-8; others 0]
  double count_epsilon = 0.0;
  /// GSPO and SAPO aggregate with seq-mean-token-mean whatever `aggregation` says. [verl compute_policy_loss_gspo
  /// and _sapo ignore loss_agg_mode: true; others false]
  bool gspo_sapo_seq_mean = false;

  nonfinite_policy nonfinite = nonfinite_policy::error;

  /// The aggregation a call uses: `aggregation`, but seq-mean-token-mean for GSPO and SAPO with `gspo_sapo_seq_mean`.
  [[nodiscard]] constexpr loss_aggregation effective_aggregation() const noexcept {
    const bool forced = gspo_sapo_seq_mean && (mode == policy_loss_mode::gspo || mode == policy_loss_mode::sapo);
    return forced ? loss_aggregation::seq_mean_token_mean : aggregation;
  }

  /// verl ActorConfig defaults at commit 1dda039b (2026-08-22): loss_mode "vanilla", token-mean, dual clip 3 (PPO
  /// only), log-ratio clamp 20, KL clamps of k3, N + 1e-8 in every mean, GSPO and SAPO forced to
  /// seq-mean-token-mean, seq-mean-token-sum-norm divided by the batch's sequences and the constant.
  [[nodiscard]] static policy_loss_options verl() {
    policy_loss_options o = verl_2026_01();
    o.sum_norm_seq_mean = true;
    return o;
  }
  /// verl at commit b178a3cd (2026-01-29): as `verl()` but seq-mean-token-sum-norm divides by the constant only
  /// (and is not multiplied by dp_size: keep `loss_scale` 1 there), and there is no token-sum.
  [[nodiscard]] static policy_loss_options verl_2026_01() {
    policy_loss_options o;
    o.count_epsilon = 1e-8;
    o.gspo_sapo_seq_mean = true;
    o.gmpo_log_weight_epsilon = 1e-10;
    return o;
  }
  /// TRL GRPOConfig defaults at commit f2cd5771 (2026-07-24): loss_type "dapo" = global token mean, epsilon 0.2, no
  /// dual clip, no log-ratio clamp, beta 0; GSPO is importance_sampling_level="sequence" (sequence gradient, no
  /// clamp). When beta > 0 TRL uses k3 without clamps: set `kl = k3` and `kl_coef = beta`; setting `kl` alone
  /// leaves `kl_coef = 0`, which `policy_loss` refuses (a KL term that would do nothing).
  [[nodiscard]] static policy_loss_options trl() {
    policy_loss_options o;
    o.clip_ratio_c.reset();
    o.log_ratio_clamp.reset();
    o.gspo_grad = gspo_gradient::sequence;
    o.gspo_log_ratio_max.reset();
    o.kl_clamps = kl_clamp::none;
    o.kl_coef = 0.0;
    return o;
  }
  /// OpenRLHF PolicyLoss defaults (token-level mean, no dual clip, log-ratio clamp 20, every KL estimator clamped to
  /// [-10, 10]). Not covered by the parity suite.
  [[nodiscard]] static policy_loss_options openrlhf() {
    policy_loss_options o;
    o.clip_ratio_c.reset();
    o.gspo_grad = gspo_gradient::sequence;
    o.gspo_log_ratio_max.reset();
    o.kl_clamps = kl_clamp::openrlhf;
    return o;
  }
};

/// verl's `ActorConfig.global_batch_info`, the arguments `agg_loss` takes besides the loss matrix: nullopt fields
/// fall back to the local mask (and `loss_scale_factor` to the padded length).
struct verl_batch_info {
  double dp_size = 1.0;
  std::optional<double> batch_num_tokens;  ///< token-mean's N_tokens
  std::optional<double> global_batch_size; ///< the seq-mean modes' N_seqs
  std::optional<double> loss_scale_factor; ///< seq-mean-token-sum-norm's C
};

/// `o` with verl's global batch information applied the way verl's agg_loss reads it for o's effective aggregation.
/// The convention follows `o.sum_norm_seq_mean`: true (verl since 1dda039b) divides seq-mean-token-sum-norm by
/// global_batch_size and loss_scale_factor and multiplies it by dp_size, as every mode; false (b178a3cd) divides
/// it by loss_scale_factor only.
/// verl's geo_mean (GMPO) reads no global batch information: its policy-gradient term is a plain mean over the local
/// rows, so `o` keeps loss_scale 1 there (the KL and entropy terms, which verl's actor aggregates with the batch
/// information, then lack its dp_size).
[[nodiscard]] inline policy_loss_options with_verl_batch_info(policy_loss_options o, const verl_batch_info& b) {
  o.loss_scale = o.mode == policy_loss_mode::gmpo ? 1.0 : b.dp_size;
  switch (o.effective_aggregation()) {
  case loss_aggregation::token_mean: o.normalizer = b.batch_num_tokens; break;
  case loss_aggregation::seq_mean_token_sum:
  case loss_aggregation::seq_mean_token_mean: o.normalizer = b.global_batch_size; break;
  case loss_aggregation::seq_mean_token_sum_norm:
    o.normalizer = b.loss_scale_factor;
    if (o.sum_norm_seq_mean) o.sum_norm_sequences = b.global_batch_size;
    else o.loss_scale = 1.0;
    break;
  case loss_aggregation::token_sum: break;
  }
  return o;
}

} // namespace mmrag_rft
