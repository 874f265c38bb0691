// SPDX-License-Identifier: Apache-2.0
// Advantage estimators: GRPO, Dr. GRPO, GRPO pass@k, GDPO, RLOO, OPO, GPG, ReMax, REINFORCE++ (and -baseline), GAE.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages/broadcast.hpp>
#include <mmrag_rft/advantages/gae.hpp>
#include <mmrag_rft/advantages/gdpo.hpp>
#include <mmrag_rft/advantages/gpg.hpp>
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/advantages/grpo_passk.hpp>
#include <mmrag_rft/advantages/opo.hpp>
#include <mmrag_rft/advantages/options.hpp>
#include <mmrag_rft/advantages/reinforce_pp.hpp>
#include <mmrag_rft/advantages/remax.hpp>
#include <mmrag_rft/advantages/rloo.hpp>
#include <mmrag_rft/advantages/whiten.hpp>
