// SPDX-License-Identifier: Apache-2.0
// mmrag_rft eval part: predictions, official WebQA / MultimodalQA scoring, report printing and JSON.
// Needs nlohmann-json (header-only): link nlohmann_json::nlohmann_json. Not included by <mmrag_rft/mmrag_rft.hpp>;
// eval/evaluate.hpp, eval/report_table.hpp, eval/prediction.hpp and eval/report.hpp alone need no JSON library.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/eval/evaluate.hpp>
#include <mmrag_rft/eval/load_predictions.hpp>
#include <mmrag_rft/eval/prediction.hpp>
#include <mmrag_rft/eval/report.hpp>
#include <mmrag_rft/eval/explanation_record.hpp>
#include <mmrag_rft/eval/report_html.hpp>
#include <mmrag_rft/eval/report_json.hpp>
#include <mmrag_rft/eval/report_table.hpp>
