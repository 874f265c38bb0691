// SPDX-License-Identifier: Apache-2.0
// Stage 1 of MMRAG-RFT at inference: point-wise relevance scores per (question, document) and the coarse filter
// that keeps the documents judged relevant for the stage-2 list prompt.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/model/concepts.hpp>
#include <mmrag_rft/pipeline/prompt_template.hpp>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <numeric>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// What the coarse filter does when no document reaches the threshold.
enum class filter_fallback : std::uint8_t {
  keep_best, ///< keep the `fallback_keep` highest-scored documents (ties by document order). Default.
  keep_all,  ///< keep the first `cap` documents.
  keep_none, ///< keep nothing; stage 2 then sees an empty list.
};

/// Options of the stage-1 coarse filter. [paper-notes: RagVL keeps the top 2 images above a probability threshold]
struct filter_options {
  double threshold = 0.5; ///< keep a document whose relevance score is >= threshold
  std::size_t cap = 3;    ///< keep at most this many (the highest-scored); must be >= 1
  filter_fallback fallback = filter_fallback::keep_best;
  std::size_t fallback_keep = 1;          ///< documents `keep_best` keeps
  rollout_options rollout{1, 32, 0.0, 0}; ///< how the verdicts are sampled: one greedy verdict by default
};

/// The stage-1 decision for one sample: a relevance score per document and the kept indices, in document order.
struct filter_decision {
  std::vector<double> scores;     ///< mean verdict over the sampled completions, in [0, 1]
  std::vector<std::size_t> kept;  ///< indices into the sample's documents, ascending
  bool fell_back = false;         ///< true when no document reached the threshold
  std::vector<std::string> texts; ///< the first completion per document (for explanations)
};

/// The stage-1 training samples of `s`: one per document, holding that document only, with `gold = {0}` when it is
/// a gold positive of `s` and `gold = {}` otherwise. Answers and keywords are copied (rules may use them).
[[nodiscard]] inline std::vector<sample> make_stage1_samples(const sample& s) {
  std::vector<sample> out;
  out.reserve(s.documents.size());
  for (std::size_t d = 0; d < s.documents.size(); ++d) {
    sample p;
    p.id = s.id + "#" + std::to_string(d);
    p.question = s.question;
    p.category = s.category;
    p.documents = {s.documents[d]};
    if (std::find(s.gold.begin(), s.gold.end(), d) != s.gold.end()) p.gold = {0};
    p.answers = s.answers;
    p.keywords = s.keywords;
    p.split = s.split;
    out.push_back(std::move(p));
  }
  return out;
}

/// The stage-2 sample of `s` after filtering: only the `kept` documents, in the given order, with `gold` remapped to
/// positions in that list (so a ranking's 1-based labels refer to the stage-2 prompt). Throws for an index out of
/// range.
[[nodiscard]] inline sample make_stage2_sample(const sample& s, std::span<const std::size_t> kept) {
  sample p;
  p.id = s.id;
  p.question = s.question;
  p.category = s.category;
  p.answers = s.answers;
  p.keywords = s.keywords;
  p.split = s.split;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    detail::require(kept[i] < s.documents.size(), "make_stage2_sample", "kept", "is not a document index", i);
    p.documents.push_back(s.documents[kept[i]]);
    if (std::find(s.gold.begin(), s.gold.end(), kept[i]) != s.gold.end()) p.gold.push_back(i);
  }
  return p;
}

/// Applies the threshold, cap and fallback of `o` to one sample's relevance scores. O(n log n).
[[nodiscard]] inline filter_decision apply_filter(std::span<const double> scores, const filter_options& o) {
  detail::require(o.cap >= 1, "apply_filter", "options.cap", "must be >= 1");
  detail::require(std::isfinite(o.threshold), "apply_filter", "options.threshold", "must be finite");
  filter_decision d;
  d.scores.assign(scores.begin(), scores.end());
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  for (std::size_t i : order)
    if (scores[i] >= o.threshold && d.kept.size() < o.cap) d.kept.push_back(i);
  if (d.kept.empty() && !scores.empty()) {
    d.fell_back = true;
    if (o.fallback == filter_fallback::keep_best)
      for (std::size_t j = 0; j < std::min({o.fallback_keep, o.cap, order.size()}); ++j) d.kept.push_back(order[j]);
    else if (o.fallback == filter_fallback::keep_all)
      for (std::size_t j = 0; j < std::min(o.cap, scores.size()); ++j) d.kept.push_back(j);
  }
  std::sort(d.kept.begin(), d.kept.end());
  return d;
}

/// Stage 1 at inference: samples `o.rollout.group_size` verdicts per (question, document) with `policy`, scores
/// each document by the mean of `verdict(text)` over them (a missing verdict counts 0), and filters with
/// `apply_filter`. `verdict` maps a completion's text to a relevance in [0, 1] or `std::nullopt` when unparsable
/// (e.g. a wrapper over the relevance-verdict parser of `text/`). One `generate` call for the whole span.
template <class P, class Verdict>
[[nodiscard]] std::vector<filter_decision> coarse_filter(P& policy, std::span<const sample> samples,
                                                         const prompt_templates& templates, Verdict&& verdict,
                                                         const filter_options& o = {}) {
  static_assert(check_policy<P>());
  static_assert(std::invocable<Verdict&, std::string_view>,
                "mmrag_rft: coarse_filter's verdict must be callable on the completion text (std::string_view)");
  prompt_batch prompts;
  std::vector<std::size_t> first(samples.size() + 1, 0);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    for (std::size_t d = 0; d < samples[i].documents.size(); ++d)
      prompts.push_back(render_stage1(templates, samples[i], d));
    first[i + 1] = prompts.size();
  }
  std::vector<filter_decision> out(samples.size());
  if (prompts.empty()) {
    for (auto& d : out) d = apply_filter({}, o);
    return out;
  }
  const rollout_batch r = policy.generate(prompts, o.rollout);
  r.validate("coarse_filter");
  const std::size_t g = r.group_size;
  detail::require(r.num_prompts == prompts.size() && g >= 1, "coarse_filter", "policy.generate",
                  "returned a batch whose shape does not match the prompts");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    std::vector<double> scores;
    std::vector<std::string> texts;
    for (std::size_t p = first[i]; p < first[i + 1]; ++p) {
      double sum = 0;
      for (std::size_t k = 0; k < g; ++k) {
        const std::optional<double> v = verdict(std::string_view(r.completions[p * g + k].text));
        sum += v ? std::clamp(*v, 0.0, 1.0) : 0.0;
      }
      scores.push_back(sum / static_cast<double>(g));
      texts.push_back(r.completions[p * g].text);
    }
    out[i] = apply_filter(scores, o);
    out[i].texts = std::move(texts);
  }
  return out;
}

} // namespace mmrag_rft
