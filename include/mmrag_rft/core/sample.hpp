// SPDX-License-Identifier: Apache-2.0
// A question with its candidate documents, gold positives and gold answers; and one model completion for it.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/document.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace mmrag_rft {

/// One question of a multi-modal RAG data set with everything the rewards and the evaluation need.
///
/// `gold` lists indices into `documents` of the gold positive documents; `answers` the accepted answers (WebQA's `A`,
/// MultimodalQA's answer list); `keywords` WebQA's `Keywords_A` where the file has them. Stage-1 prompts are samples
/// with a single document; stage-2 prompts are samples holding only the documents stage 1 kept, in prompt order, so a
/// ranking's 1-based labels always refer to `documents`.
struct sample {
  std::string id; ///< WebQA Guid or MultimodalQA qid.
  std::string question;
  std::string category; ///< WebQA `Qcate` (color, shape, number, YesNo, choose, Others, text) or MMQA question type.
  std::vector<document> documents;
  std::vector<std::size_t> gold;
  std::vector<std::string> answers;
  std::vector<std::string> keywords;
  std::string split;
};

/// One sampled completion as the reward rules see it.
struct completion {
  /// The generated text the rules parse: every section tag the format asks for (`<think>`, `</think>`, `<rank>`,
  /// `<answer>`, ...) written out as text, also where the tokenizer makes the tags special tokens (decode without
  /// skipping special tokens, e.g. Hugging Face `skip_special_tokens=False`), since every format and section check
  /// reads them; the end-of-sequence token and the padding after it left out. Removing all special tokens would
  /// remove the tags and fail every format check.
  std::string text;
  std::size_t num_tokens = 0; ///< Response length in tokens (0 when unknown), for length penalties.
  bool truncated = false;     ///< True when generation stopped at the length limit without an end-of-sequence token.
};

} // namespace mmrag_rft
