// SPDX-License-Identifier: Apache-2.0
// The pipeline part: prompt templates, stage-1 coarse filter, the generic RFT step and loop, metrics logging.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/pipeline/coarse_filter.hpp>
#include <mmrag_rft/pipeline/metrics_log.hpp>
#include <mmrag_rft/pipeline/prompt_template.hpp>
#include <mmrag_rft/pipeline/reward_score.hpp>
#include <mmrag_rft/pipeline/rft_loop.hpp>
#include <mmrag_rft/pipeline/rft_step.hpp>
