// SPDX-License-Identifier: Apache-2.0
// Logit-level kernels: chosen-token log-probabilities and entropy from logits, and their backward (CPU backends).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/logits/bfloat16.hpp>
#include <mmrag_rft/logits/token_logprobs.hpp>
