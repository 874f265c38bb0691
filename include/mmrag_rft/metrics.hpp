// SPDX-License-Identifier: Apache-2.0
// Ranking and answer metrics: trec_eval-style ranking metrics, SQuAD EM/F1, WebQA and MultimodalQA official scores.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/metrics/concepts.hpp>
#include <mmrag_rft/metrics/mmqa.hpp>
#include <mmrag_rft/metrics/qa.hpp>
#include <mmrag_rft/metrics/ranking.hpp>
#include <mmrag_rft/metrics/webqa.hpp>
