// SPDX-License-Identifier: Apache-2.0
// What the tests of rft_step(comm, ...) share, whatever the transport (threads, MPI): a recording table policy that
// samples a prompt alike on any rank, numbered shards of samples and prompts, a graded two-rule reward, and bitwise
// comparison of float vectors.
#pragma once
#include "../pipeline/table_policy.hpp"

#include <mmrag_rft/pipeline.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace dist_step_test {
using namespace mmrag_rft;

// A table policy (lr 0: the parameters stay, so gradients of several calls compare at one point) whose draws for
// a prompt depend on the seed and the prompt only, so that a prompt samples the same completions on any rank; it
// records every d loss / d log-prob and its model gradient d loss / d theta (per prompt, in double).
struct recording_policy : test_support::table_policy {
  recording_policy() : table_policy({"yes", "no", "maybe", "perhaps"}, 0.0) {}
  std::vector<float> grads;
  std::map<std::string, std::vector<double>> model_grad;
  std::size_t steps = 0;
  std::vector<std::pair<std::string, std::size_t>> rows;
  rollout_batch generate(const prompt_batch& p, const rollout_options& o) {
    std::vector<rollout_batch> parts;
    for (const prompt& q : p) {
      rollout_options one = o;
      one.seed = o.seed ^ sample_group_key(q.text);
      parts.push_back(table_policy::generate(prompt_batch{q}, one));
    }
    std::vector<const rollout_batch*> from;
    std::vector<detail::group_ref> refs;
    for (std::size_t i = 0; i < parts.size(); ++i) from.push_back(&parts[i]), refs.push_back({i, 0});
    rollout_batch b = detail::gather_groups(from, refs);
    b.temperature = o.log_prob_temperature();
    return b;
  }
  void log_probs(const prompt_batch& p, const rollout_batch& r, matrix_view<float> out) {
    rows.clear();
    for (std::size_t i = 0; i < r.rows(); ++i)
      rows.push_back({p[i / r.group_size].text, static_cast<std::size_t>(r.tokens[i * r.cols])});
    table_policy::log_probs(p, r, out);
  }
  void backward(matrix_view<const float> g) {
    for (std::size_t i = 0; i < g.rows(); ++i) {
      grads.push_back(g(i, 0));
      const auto& [key, k] = rows[i];
      const std::vector<double> pr = probs(key);
      auto& mg = model_grad[key];
      mg.resize(pr.size(), 0.0);
      for (std::size_t j = 0; j < pr.size(); ++j) mg[j] += g(i, 0) * ((j == k ? 1.0 : 0.0) - pr[j]);
    }
  }
  void step() { ++steps; }
};

struct shard {
  std::vector<sample> samples;
  prompt_batch prompts;
};
inline shard numbered(std::size_t first, std::size_t n) {
  shard b;
  for (std::size_t i = first; i < first + n; ++i) {
    sample s;
    s.id = std::to_string(i);
    b.samples.push_back(s);
    b.prompts.push_back({"prompt " + std::to_string(i), {}});
  }
  return b;
}
inline reward_breakdown graded(const completion& c, const sample& s) {
  const double base = c.text == "yes" ? 1.0 : c.text == "no" ? 0.3 : c.text == "maybe" ? 0.55 : 0.1;
  const double bonus = static_cast<double>(std::stoul(s.id) % 5) * 0.1;
  return {base + bonus, {base, bonus}, {"base", "bonus"}, {}};
}
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::bit_cast<std::uint32_t>(a[i]) != std::bit_cast<std::uint32_t>(b[i])) return false;
  return true;
}
inline rft_options base_options() {
  rft_options o;
  o.rollout.group_size = 4;
  o.rollout.seed = 17;
  return o;
}

} // namespace dist_step_test
