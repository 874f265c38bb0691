// SPDX-License-Identifier: Apache-2.0
// mmrag_rft: everything that needs no optional dependency (no CUDA/Thrust, no JSON, no LibTorch).
// Include <mmrag_rft/data.hpp> / <mmrag_rft/eval.hpp> (nlohmann-json) and <mmrag_rft/backends/thrust.hpp> (CCCL)
// on purpose.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/advantages.hpp>
#include <mmrag_rft/backends.hpp>
#include <mmrag_rft/core.hpp>
#include <mmrag_rft/logits.hpp>
#include <mmrag_rft/losses.hpp>
#include <mmrag_rft/metrics.hpp>
#include <mmrag_rft/model.hpp>
#include <mmrag_rft/pipeline.hpp>
#include <mmrag_rft/rewards.hpp>
#include <mmrag_rft/text.hpp>
