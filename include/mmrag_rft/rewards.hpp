// SPDX-License-Identifier: Apache-2.0
// Reward rules of both stages: the RewardRule concept, the built-in rules, weighted composites and batch scoring.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/rewards/answer.hpp>
#include <mmrag_rft/rewards/batch.hpp>
#include <mmrag_rft/rewards/composite.hpp>
#include <mmrag_rft/rewards/concepts.hpp>
#include <mmrag_rft/rewards/context.hpp>
#include <mmrag_rft/rewards/format.hpp>
#include <mmrag_rft/rewards/length.hpp>
#include <mmrag_rft/rewards/ranking.hpp>
#include <mmrag_rft/rewards/relevance.hpp>
