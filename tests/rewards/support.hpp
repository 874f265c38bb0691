// SPDX-License-Identifier: Apache-2.0
// Small builders for the reward tests: samples and completions in the stage formats.
#pragma once
#include <mmrag_rft/core/sample.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace rewards_test {

// A sample with `docs` documents, the given gold indices and answers.
inline mmrag_rft::sample make_sample(std::size_t docs, std::vector<std::size_t> gold,
                                     std::vector<std::string> answers = {}) {
  mmrag_rft::sample s;
  s.id = "q";
  s.question = "Which river flows through the city?";
  for (std::size_t i = 0; i < docs; ++i) {
    mmrag_rft::document d;
    d.id = std::to_string(100 + i);
    d.kind = i % 2 == 0 ? mmrag_rft::modality::image : mmrag_rft::modality::text;
    d.text = "document " + std::to_string(i);
    s.documents.push_back(std::move(d));
  }
  s.gold = std::move(gold);
  s.answers = std::move(answers);
  return s;
}

inline mmrag_rft::completion make_completion(std::string text, std::size_t tokens = 0, bool truncated = false) {
  mmrag_rft::completion c;
  c.text = std::move(text);
  c.num_tokens = tokens;
  c.truncated = truncated;
  return c;
}

// A stage-2 output: <think>…</think><rank>…</rank><answer>…</answer>.
inline mmrag_rft::completion stage2(const std::string& rank, const std::string& answer) {
  return make_completion("<think>The second image shows the river.</think>\n<rank>" + rank + "</rank>\n<answer>" +
                         answer + "</answer>");
}

} // namespace rewards_test
