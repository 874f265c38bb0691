// SPDX-License-Identifier: Apache-2.0
// Policy losses: PPO clipped surrogate (clip-higher, dual clip), GSPO, KL penalties, entropy bonus, aggregation.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/losses/kl_penalty.hpp>
#include <mmrag_rft/losses/options.hpp>
#include <mmrag_rft/losses/policy_loss.hpp>
