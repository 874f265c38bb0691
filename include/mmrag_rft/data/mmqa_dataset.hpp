// SPDX-License-Identifier: Apache-2.0
// MultimodalQA questions in memory: samples plus the answer modality and types the official breakdowns need.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/sample.hpp>

#include <string>
#include <vector>

namespace mmrag_rft {

/// What a MultimodalQA question has beyond `sample`, needed for the official score breakdowns.
struct mmqa_question_info {
  std::string answer_modality; ///< Modality of the gold answers (`text`, `table`, `image`); "" without answers.
  std::vector<std::string> answer_types; ///< `type` of each answer (`string`, `yesno`, `number`).
  std::vector<std::string> modalities;   ///< `metadata.modalities`: what the question needs.
};

/// Questions of one MultimodalQA file: `samples[i]` and `info[i]` describe the same question.
struct mmqa_dataset {
  std::vector<sample> samples;
  std::vector<mmqa_question_info> info;
};

} // namespace mmrag_rft
