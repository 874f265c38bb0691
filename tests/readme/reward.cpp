#include <mmrag_rft/rewards.hpp>

#include <cstdio>
#include <string>

int main() {
  using namespace mmrag_rft;
  sample s; // a stage-2 prompt: the documents stage 1 kept; document 0 is the gold one
  s.documents = {{"img-1", modality::image, "Opera House", "white sail-shaped roof", "", nullptr},
                 {"txt-7", modality::text, "Harbour Bridge", "a steel arch bridge", "", nullptr}};
  s.gold = {0};
  s.answers = {"white"};
  // A custom rule is any callable on (completion, sample) returning a number or a rule_score (value + why).
  const auto short_answer = [](const completion& c, const sample&) -> rule_score {
    const bool ok = c.num_tokens <= 64;
    return {ok ? 1.0 : 0.0, ok ? "within 64 tokens" : std::to_string(c.num_tokens) + " tokens, over 64"};
  };
  const composite reward{weighted(stage2_format(), 0.5), weighted(ranking_rule(), 1.0),
                         weighted(answer_rule(), 1.0), weighted(short_answer, 0.2, "short")};
  const completion c{"<think>Image 1 shows a white roof.</think><rank>[1, 2]</rank><answer>white</answer>", 18,
                     false};
  const reward_breakdown b = reward.score(c, s, explain_mode::on);
  std::printf("total %.3f, answer %.1f\n%s\n", b.total, b.score("answer"), b.explanation.c_str());
  return b.score("answer") == 1.0 && b.score("short") == 1.0 ? 0 : 1;
}
