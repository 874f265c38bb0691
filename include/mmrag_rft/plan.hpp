// SPDX-License-Identifier: Apache-2.0
// The plans a backend author builds on: each algorithm's validation, per-group / per-row / per-token math, its
// accumulator and its finish, the same functions the CPU, Thrust and CUDA backends call (docs/design.md, "Adding a
// backend"). Host/device safe.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/grpo_plan.hpp>
#include <mmrag_rft/advantages/rloo_plan.hpp>
#include <mmrag_rft/advantages/token_plans.hpp>
#include <mmrag_rft/backends/dispatch.hpp>
#include <mmrag_rft/core/response_mask_plan.hpp>
#include <mmrag_rft/logits/token_logprobs_plan.hpp>
#include <mmrag_rft/losses/plan.hpp>

namespace mmrag_rft::plan {

// GRPO: validate, check the rewards, then per group `grpo_group` (any layout) or `grpo_uniform_group` (when
// `grpo_uniform_rule` holds), whose status words `grpo_counts_of` / `grpo_counts_plus` reduce.
using detail::check_rewards;
using detail::grpo_batch_spread;
using detail::grpo_batch_spread_of;
using detail::grpo_batch_std;
using detail::grpo_counts;
using detail::grpo_counts_of;
using detail::grpo_counts_plus;
using detail::grpo_group;
using detail::grpo_singleton_error;
using detail::grpo_uniform_group;
using detail::grpo_uniform_rule;
using detail::moments;
using detail::validate_grpo;

// RLOO: validate, then `rloo_group` per group.
using detail::rloo_group;
using detail::validate_rloo;

// The policy loss: validate, `plan_loss` (normalisers), `make_loss_args` (the device view of the arguments),
// per row `thread_row_info` then `row_coef`, per token `loss_token`, `loss_sums::merge`, `gspo_spread` for TRL's
// GSPO gradient, and `finish_policy_loss`.
using detail::finish_policy_loss;
using detail::gspo_spread;
using detail::loss_args;
using detail::loss_plan;
using detail::loss_row_coef;
using detail::loss_row_info;
using detail::loss_sums;
using detail::loss_token;
using detail::make_loss_args;
using detail::plan_loss;
using detail::row_coef;
using detail::thread_row_info;
using detail::validate;

} // namespace mmrag_rft::plan
