// SPDX-License-Identifier: Apache-2.0
// Policy losses: PPO clipped surrogate (clip-higher, dual clip), GSPO, KL penalties and controllers, entropy bonus,
// aggregation; the clipped value loss; rollout-correction weights.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/kl_controller.hpp>
#include <mmrag_rft/losses/kl_penalty.hpp>
#include <mmrag_rft/losses/options.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
#include <mmrag_rft/losses/rollout_correction.hpp>
#include <mmrag_rft/losses/value_loss.hpp>
