// SPDX-License-Identifier: Apache-2.0
// The model part: prompts, rollouts and the Policy / ReferenceModel concepts.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/model/concepts.hpp>
#include <mmrag_rft/model/prompt.hpp>
#include <mmrag_rft/model/rollout.hpp>
