// SPDX-License-Identifier: Apache-2.0
// A custom reward rule written as a lambda, composed with the built-in stage-2 rules; prints each completion's
// per-rule breakdown and its one-line explanation, then scores a batch on two threads with the time per rule.
#include <mmrag_rft/backends.hpp>
#include <mmrag_rft/rewards.hpp>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

using namespace mmrag_rft;

int main() {
  // A stage-2 prompt: the documents stage 1 kept, in prompt order; documents 0 and 2 are the gold positives.
  sample s;
  s.question = "What colour is the roof of the Sydney Opera House?";
  s.documents = {
      {"img-1", modality::image, "Sydney Opera House", "white sail-shaped roof at dusk", "", nullptr},
      {"txt-7", modality::text, "Harbour Bridge", "a steel arch bridge opened in 1932", "", nullptr},
      {"txt-3", modality::text, "Opera House roof", "the roof is covered in white and cream tiles", "", nullptr}};
  s.gold = {0, 2};
  s.answers = {"white"};

  // The custom rule: does the reasoning cite a gold document by its label ("Image 1", "Text 3", "[3]")? It returns a
  // rule_score so that it can explain itself; any callable on (completion, sample) returning a number would do.
  const auto cites_gold = [](const completion& c, const sample& smp) -> rule_score {
    const std::string_view text = c.text;
    const std::string_view think = text.substr(0, text.find("</think>"));
    for (const std::size_t g : smp.gold) {
      const std::string n = std::to_string(g + 1);
      for (const std::string& label : {"Image " + n, "Text " + n, "[" + n + "]"})
        if (think.find(label) != std::string_view::npos) return {1.0, "cites gold evidence " + label};
    }
    return {0.0, "cites no gold evidence"};
  };

  const composite reward{weighted(stage2_format(), 0.5), weighted(ranking_rule(), 1.0), weighted(answer_rule(), 1.0),
                         weighted(cites_gold, 0.2, "evidence"),
                         weighted(overlong_penalty({.max_length = 512, .buffer = 128}), 1.0)};

  const std::vector<completion> completions = {
      {"<think>Image 1 shows white sails; Text 3 says the tiles are white and cream.</think>\n"
       "<rank>[1, 3, 2]</rank>\n<answer>white</answer>",
       40, false},
      {"<think>The bridge is grey, Text 2.</think><rank>[2, 1]</rank><answer>grey</answer>", 20, false},
      {"<think>Image 1 looks white.</think><rank>[1, 1, 3]</rank><answer>white and cream</answer>", 30, false},
      {"<think>Let me look at every document in turn, starting with", 512, true},
  };

  std::printf("rules:");
  for (std::size_t r = 0; r < reward.size(); ++r) std::printf(" %s(w=%.1f)", reward.name(r).c_str(), reward.weight(r));
  std::printf("\n\n");
  for (std::size_t i = 0; i < completions.size(); ++i) {
    const reward_breakdown b = reward.score(completions[i], s, explain_mode::on);
    std::printf("completion %zu: total %.3f\n  ", i, b.total);
    for (std::size_t r = 0; r < b.scores.size(); ++r) std::printf("%s=%.3f  ", b.names[r].c_str(), b.scores[r]);
    std::printf("\n  %s\n\n", b.explanation.c_str());
  }

  // A GRPO batch: 2000 groups of the 4 completions above, all for the same prompt, scored on two threads.
  const std::size_t groups = 2000;
  std::vector<completion> batch;
  for (std::size_t g = 0; g < groups; ++g) batch.insert(batch.end(), completions.begin(), completions.end());
  const std::vector<sample> samples(groups, s);
  const batch_scores scores =
      score_batch(exec::par.with_threads(2), reward, batch, samples, group_layout::uniform(groups, completions.size()));
  std::printf("batch of %zu completions in %.2f ms; mean per rule and thread-time:\n", scores.size(),
              1e3 * scores.wall_seconds);
  for (std::size_t r = 0; r < scores.num_rules; ++r)
    std::printf("  %-10s mean %.3f  %.2f ms\n", scores.names[r].c_str(), scores.mean(r), 1e3 * scores.rule_seconds[r]);
  return 0;
}
