// SPDX-License-Identifier: Apache-2.0
// WebQA metrics: keyword accuracy per question category (QA-Acc), source retrieval F1, pluggable fluency (QA-FL).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/metrics/concepts.hpp>
#include <mmrag_rft/metrics/detail/overlap.hpp>
#include <mmrag_rft/metrics/detail/python_text.hpp>
#include <mmrag_rft/metrics/ranking.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// WebQA question categories (`Qcate`): image questions are color, shape, number, YesNo, choose or Others; text
/// questions are text.
enum class webqa_category { color, shape, number, yesno, choose, others, text };

/// The category named by a `Qcate` string ("color", "shape", "number", "YesNo", "choose", "Others", "text"; ASCII
/// case ignored), or nullopt for any other string.
[[nodiscard]] inline std::optional<webqa_category> parse_webqa_category(std::string_view qcate) {
  constexpr std::array<std::pair<std::string_view, webqa_category>, 7> names{{{"color", webqa_category::color},
                                                                              {"shape", webqa_category::shape},
                                                                              {"number", webqa_category::number},
                                                                              {"yesno", webqa_category::yesno},
                                                                              {"choose", webqa_category::choose},
                                                                              {"others", webqa_category::others},
                                                                              {"text", webqa_category::text}}};
  for (const auto& [name, cat] : names)
    if (detail::iequals(qcate, name)) return cat;
  return std::nullopt;
}

/// Options of the WebQA answer normalisation.
struct webqa_options {
  /// Maps one lower-case word to its lemma. Empty (the default) uses `webqa_default_lemma`, a rule-based stand-in
  /// for the spaCy `en_core_web_sm` lemmatizer of the official script; plug in a table produced by spaCy to match
  /// it exactly.
  std::function<std::string(std::string_view)> lemmatizer;
};

namespace detail {

// The category vocabularies of the official script (eval_1022.py color_set, shape_set, yesno_set), sorted.
inline constexpr std::array<std::string_view, 36> webqa_color_vocab{
    "aqua",        "beige",        "black",  "blonde",      "blue",      "bluere", "bluewhite", "bronze", "brown",
    "chrome",      "gold",         "golden", "gray",        "green",     "grey",   "ivory",     "maroon", "orange",
    "orangebrown", "orangepurple", "pink",   "purple",      "rainbow",   "red",    "redorange", "rust",   "silver",
    "spot",        "tan",          "teal",   "transparent", "turquoise", "violet", "white",     "yellow", "yes"};
inline constexpr std::array<std::string_view, 69> webqa_shape_vocab{
    "arch",    "ball",      "bell",       "bellshaped",  "bow",       "circle",  "circular",  "concave",    "cone",
    "conical", "convex",    "corkscrew",  "crescent",    "crest",     "cross",   "crosse",    "cube",       "cuboid",
    "curl",    "curve",     "cylinder",   "cylindrical", "diamond",   "dome",    "domeshape", "dot",        "flat",
    "flower",  "fold",      "fork",       "globe",       "globular",  "h",       "heart",     "hexagon",    "hook",
    "hoop",    "keyhole",   "obelisk",    "octagon",     "octagonal", "octogon", "oval",      "pentagon",   "point",
    "pyramid", "pyramidal", "rectangle",  "rectangular", "ring",      "round",   "rounded",   "semicircle", "shamrock",
    "slope",   "sphere",    "spherical",  "spiral",      "square",    "star",    "step",      "straight",   "teardrop",
    "torus",   "triangle",  "triangular", "tube",        "wavy",      "xs"};
inline constexpr std::array<std::string_view, 2> webqa_yesno_vocab{"no", "yes"};

[[nodiscard]] inline bool in_vocab(std::span<const std::string_view> vocab, std::string_view w) {
  return std::find(vocab.begin(), vocab.end(), w) != vocab.end();
}

[[nodiscard]] inline bool ends_with(std::string_view w, std::string_view s) {
  return w.size() >= s.size() && w.substr(w.size() - s.size()) == s;
}

// word2number applied word by word as the official toNum(): "point" stays, digit strings lose leading zeros
// (Python int()), a single number word becomes its integer, anything else is unchanged.
[[nodiscard]] inline std::string webqa_to_num(std::string_view w) {
  if (w == "point") return std::string(w);
  bool digits = !w.empty();
  for (const char c : w) digits = digits && is_digit(static_cast<unsigned char>(c));
  if (digits) {
    const std::size_t nz = w.find_first_not_of('0');
    return nz == std::string_view::npos ? std::string("0") : std::string(w.substr(nz));
  }
  const int idx = w2n_index(w);
  if (idx >= 0) return std::to_string(w2n_values[static_cast<std::size_t>(idx)]);
  return std::string(w);
}

} // namespace detail

/// The default WebQA lemmatizer: a rule-based approximation of spaCy's English lemmas for lower-case words.
///
/// Rules, in order: forms of be/have/do and a few irregular plurals map to their lemma (is, are, was, were, am,
/// been -> be; has, had -> have; does, did -> do; men -> man, children -> child, feet -> foot, leaves -> leaf, ...);
/// a word of a WebQA category vocabulary, or that contains a non-letter, is kept; a plural-looking word of 4+ letters
/// loses its ending (-ies -> -y; -sses, -shes, -ches, -xes, -zzes -> drop "es"; other -s -> drop "s"), except after
/// -ss, -us, -is, -ous and a short list of words that end in s (this, yes, always, news, ...). Verb tenses other than
/// be/have/do are not lemmatised (without part-of-speech tags "-ed" rules would turn "red" into "r").
/// Known differences from spaCy: -ing/-ed verbs, -ves plurals outside the list, pronouns (spaCy maps "me" to "I").
[[nodiscard]] inline std::string webqa_default_lemma(std::string_view w) {
  using sv = std::string_view;
  constexpr std::array<std::pair<sv, sv>, 31> irregular{
      {{"is", "be"},        {"are", "be"},      {"was", "be"},        {"were", "be"},        {"am", "be"},
       {"been", "be"},      {"being", "be"},    {"has", "have"},      {"had", "have"},       {"does", "do"},
       {"did", "do"},       {"men", "man"},     {"women", "woman"},   {"children", "child"}, {"feet", "foot"},
       {"teeth", "tooth"},  {"mice", "mouse"},  {"geese", "goose"},   {"leaves", "leaf"},    {"knives", "knife"},
       {"wolves", "wolf"},  {"lives", "life"},  {"wives", "wife"},    {"halves", "half"},    {"shelves", "shelf"},
       {"calves", "calf"},  {"loaves", "loaf"}, {"thieves", "thief"}, {"oxen", "ox"},        {"dice", "die"},
       {"people", "people"}}};
  for (const auto& [form, lemma] : irregular)
    if (w == form) return std::string(lemma);
  for (const char c : w)
    if (!(c >= 'a' && c <= 'z')) return std::string(w);
  if (detail::in_vocab(detail::webqa_color_vocab, w) || detail::in_vocab(detail::webqa_shape_vocab, w) ||
      detail::in_vocab(detail::webqa_yesno_vocab, w))
    return std::string(w);
  constexpr std::array<sv, 24> keep{"this",    "his",     "its",         "yes",       "gas",       "bus",
                                    "plus",    "lens",    "news",        "always",    "perhaps",   "series",
                                    "species", "chaos",   "thus",        "christmas", "canvas",    "atlas",
                                    "bias",    "physics", "mathematics", "politics",  "economics", "athletics"};
  if (w.size() < 4 || w.back() != 's' || detail::in_vocab(keep, w)) return std::string(w);
  if (detail::ends_with(w, "ss") || detail::ends_with(w, "us") || detail::ends_with(w, "is") ||
      detail::ends_with(w, "ous"))
    return std::string(w);
  if (w.size() > 4 && detail::ends_with(w, "ies")) return std::string(w.substr(0, w.size() - 3)) + "y";
  for (const sv e : {sv("sses"), sv("shes"), sv("ches"), sv("xes"), sv("zzes")})
    if (detail::ends_with(w, e)) return std::string(w.substr(0, w.size() - 2));
  return std::string(w.substr(0, w.size() - 1));
}

/// The official WebQA answer normalisation, as a bag of words. [WebQnA/WebQA_Baseline vlp/eval_1022.py,
/// normalize_text]
///
/// Three cases, decided on the raw text: (1) one character after stripping whitespace: lower-case and number words
/// to digits only (punctuation and articles kept, no lemmatisation); (2) one word: lower-case, punctuation removed
/// (all of Python's `string.punctuation`, except a '.' followed by a digit), number words to digits, lemmatised; (3)
/// several words: as (2) and also the articles a/an/the removed (`\b(a|an|the)\b`). Number words are converted per
/// word by word2number 1.1 ("seven" -> "7", "hundred" -> "100", "007" -> "7"; "point" is kept).
/// Python 3's Unicode semantics, as the official script runs: `str.lower()` on every letter, `str.split()` /
/// `str.strip()` on Unicode whitespace (U+2009 separates words), the Unicode `\w` for the articles; punctuation and
/// digits are ASCII. Bytes that are no valid UTF-8 pass through. Empty text gives no words. Complexity: linear;
/// allocates.
/// Example: "The THREE red apples." gives {"3", "red", "apple"}.
[[nodiscard]] inline std::vector<std::string> webqa_normalize(std::string_view text, const webqa_options& opt = {}) {
  const std::string_view stripped = detail::py_strip(text);
  std::size_t code_points = 0;
  for (const char c : stripped) code_points += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  std::vector<std::string> words;
  const std::string lower = detail::py_lower(text);
  if (code_points == 1) {
    detail::for_each_word(lower, [&](std::string_view w) { words.push_back(detail::webqa_to_num(w)); });
    return words;
  }
  std::size_t n_words = 0;
  detail::for_each_word(text, [&](std::string_view) { ++n_words; });

  // remove_punc: drop ASCII punctuation except '.', then drop each '.' not followed by a digit.
  std::string kept;
  kept.reserve(lower.size());
  for (const char c : lower)
    if (c == '.' || !detail::is_punct(static_cast<unsigned char>(c))) kept.push_back(c);
  std::string clean;
  clean.reserve(kept.size());
  for (std::size_t i = 0; i < kept.size(); ++i)
    if (kept[i] != '.' || (i + 1 < kept.size() && detail::is_digit(static_cast<unsigned char>(kept[i + 1]))))
      clean.push_back(kept[i]);
  if (n_words != 1) clean = detail::remove_articles(clean);

  detail::for_each_word(clean, [&](std::string_view w) {
    const std::string num = detail::webqa_to_num(w);
    std::string lemma = opt.lemmatizer ? opt.lemmatizer(num) : webqa_default_lemma(num);
    // A plugged lemmatizer may return several words (spaCy re-tokenises); keep them as separate words.
    detail::for_each_word(lemma, [&](std::string_view l) { words.emplace_back(l); });
  });
  return words;
}

namespace detail {
[[nodiscard]] inline double webqa_accuracy_normalized(std::vector<std::string> pred, std::vector<std::string> gold,
                                                      webqa_category cat) {
  auto restrict_to = [](std::vector<std::string>& bag, std::span<const std::string_view> vocab) {
    std::vector<std::string> out;
    for (const auto& v : vocab)
      if (std::find(bag.begin(), bag.end(), v) != bag.end() && std::find(out.begin(), out.end(), v) == out.end())
        out.emplace_back(v);
    bag = std::move(out);
  };
  auto integers = [](std::vector<std::string>& bag) {
    std::erase_if(bag, [](const std::string& w) {
      const auto digit = [](char c) { return is_digit(static_cast<unsigned char>(c)); };
      return w.empty() || !std::all_of(w.begin(), w.end(), digit);
    });
    for (auto& w : bag) {
      const std::size_t nz = w.find_first_not_of('0');
      w = nz == std::string::npos ? std::string("0") : w.substr(nz);
    }
  };
  switch (cat) {
  case webqa_category::color: restrict_to(pred, webqa_color_vocab), restrict_to(gold, webqa_color_vocab); break;
  case webqa_category::shape: restrict_to(pred, webqa_shape_vocab), restrict_to(gold, webqa_shape_vocab); break;
  case webqa_category::yesno: restrict_to(pred, webqa_yesno_vocab), restrict_to(gold, webqa_yesno_vocab); break;
  case webqa_category::number: integers(pred), integers(gold); break;
  default: break;
  }
  const bag_overlap o = bag_overlap_of(std::vector<std::string_view>(pred.begin(), pred.end()),
                                       std::vector<std::string_view>(gold.begin(), gold.end()));
  if (o.common == 0) return 0.0;
  const bool f1_category = cat == webqa_category::color || cat == webqa_category::shape ||
                           cat == webqa_category::number || cat == webqa_category::yesno;
  return f1_category ? 2 * o.precision * o.recall / (o.precision + o.recall + 1e-5) : o.recall;
}
} // namespace detail

/// WebQA QA accuracy of one answer against the gold keywords (`Keywords_A`; where a record has none, the gold
/// answer). [WebQnA/WebQA_Baseline vlp/eval_1022.py, compute_vqa_metrics and its per-Qcate dispatch]
///
/// Both texts are normalised by `webqa_normalize` into bags of words. color / shape / YesNo: each bag is replaced by
/// its set intersection with the category vocabulary (so repeats count once); number: each bag keeps only its
/// integer words (Python `int()`, so "3.5" is dropped). With `same` the multiset intersection size, P = same / |pred|
/// and R = same / |gold|: accuracy = 2PR / (P + R + 1e-5) for color, shape, number and YesNo, and R for choose,
/// Others and text. `same = 0` (including an empty prediction or empty keywords) gives 0.
/// The result matches the official script exactly except where spaCy's lemmas differ from the lemmatizer in `opt`.
/// Complexity: O(n log n) in the number of words; allocates.
/// Example: ("It is red and white.", "red", color): pred {red, white}, gold {red}, P = 1/2, R = 1,
/// accuracy = 1 / 1.50001 = 0.66666.
[[nodiscard]] inline double webqa_qa_accuracy(std::string_view prediction, std::string_view keywords,
                                              webqa_category category, const webqa_options& opt = {}) {
  return detail::webqa_accuracy_normalized(webqa_normalize(prediction, opt), webqa_normalize(keywords, opt), category);
}

/// As above with the category given as its `Qcate` string; a string that is no known category is scored as the
/// official script's fallback branch does (recall, no vocabulary), i.e. as `others`.
[[nodiscard]] inline double webqa_qa_accuracy(std::string_view prediction, std::string_view keywords,
                                              std::string_view qcate, const webqa_options& opt = {}) {
  return webqa_qa_accuracy(prediction, keywords, parse_webqa_category(qcate).value_or(webqa_category::others), opt);
}

/// WebQA QA accuracy maximised over several gold answers (our extension for multi-answer val questions; the
/// official script takes one keyword string). No gold answers gives 0.
template <AnswerRange R>
[[nodiscard]] double webqa_qa_accuracy(std::string_view prediction, const R& golds, webqa_category category,
                                       const webqa_options& opt = {}) {
  const auto pred = webqa_normalize(prediction, opt);
  double best = 0;
  for (const auto& g : golds)
    best = std::max(best, detail::webqa_accuracy_normalized(pred, webqa_normalize(std::string_view(g), opt), category));
  return best;
}

/// Accuracy against a braced list of gold answers; see the range overload.
[[nodiscard]] inline double webqa_qa_accuracy(std::string_view prediction,
                                              std::initializer_list<std::string_view> golds, webqa_category category,
                                              const webqa_options& opt = {}) {
  return webqa_qa_accuracy(prediction, std::vector<std::string_view>(golds), category, opt);
}

/// Source selection counts of one question, or summed over many: distinct predicted sources, distinct gold
/// sources, and the sources in both. Summing them over questions pools them for the micro-averaged F1.
struct retrieval_counts {
  std::size_t predicted = 0;
  std::size_t gold = 0;
  std::size_t common = 0;
  retrieval_counts& operator+=(const retrieval_counts& o) noexcept {
    predicted += o.predicted, gold += o.gold, common += o.common;
    return *this;
  }
};

/// The counts of one question's predicted sources against its gold sources, both taken as sets.
/// Complexity: O(n log n).
template <std::ranges::input_range P, std::ranges::input_range G>
requires std::totally_ordered_with<std::ranges::range_value_t<P>, std::ranges::range_value_t<G>>
[[nodiscard]] retrieval_counts webqa_retrieval_counts(const P& predicted_sources, const G& gold_sources) {
  const auto c = detail::distinct_overlap(predicted_sources, gold_sources);
  return {c.predicted, c.gold, c.common};
}

/// Macro convention, one question: P = c / (|P| + 1e-5), R = c / (|G| + 1e-5), F1 = 2PR / (P + R + 1e-5), with
/// c = |P ∩ G| of the counts; the benchmark averages it over questions. [WebQnA/WebQA_Baseline
/// pytorch_pretrained_bert/modeling.py, filter_metric; RAMQA's scorer uses the same ε = 1e-5]
///
/// The 1e-5 terms keep every division defined, so an empty prediction or empty gold gives 0 and a perfect
/// prediction of one source gives 0.999985; the baseline computes in float32, we compute in double.
[[nodiscard]] inline double webqa_retrieval_f1(const retrieval_counts& c) noexcept {
  const double common = static_cast<double>(c.common);
  const double p = common / (static_cast<double>(c.predicted) + 1e-5);
  const double r = common / (static_cast<double>(c.gold) + 1e-5);
  return 2 * p * r / (p + r + 1e-5);
}

/// WebQA retrieval F1 of one question (the macro convention): `webqa_retrieval_f1` of the counts of the predicted
/// against the gold sources taken as sets. Sources are image ids or snippet ids, any values that compare with ==
/// and <. Complexity: O(n log n).
template <std::ranges::input_range P, std::ranges::input_range G>
requires std::totally_ordered_with<std::ranges::range_value_t<P>, std::ranges::range_value_t<G>>
[[nodiscard]] double webqa_retrieval_f1(const P& predicted_sources, const G& gold_sources) {
  return webqa_retrieval_f1(webqa_retrieval_counts(predicted_sources, gold_sources));
}

/// Precision, recall and F1 of pooled counts (the micro convention, as RagVL reports WebQA retrieval): with the
/// counts summed over all questions, P = Σc / Σ|P|, R = Σc / Σ|G|, F1 = 2PR / (P + R), no smoothing; each is 0
/// where its denominator is 0, and F1 is 0 when nothing is shared. Large questions weigh more than under the
/// per-question mean. Example: one question 1 right of 1, another 0 of 3 predicted with 1 gold: micro P = 1/4,
/// R = 1/2, F1 = 1/3, while the macro mean is (0.999985 + 0) / 2.
[[nodiscard]] inline set_scores micro_precision_recall_f1(const retrieval_counts& total) noexcept {
  const double c = static_cast<double>(total.common);
  set_scores s{};
  if (total.common == 0) return s;
  s.precision = c / static_cast<double>(total.predicted);
  s.recall = c / static_cast<double>(total.gold);
  s.f1 = 2 * s.precision * s.recall / (s.precision + s.recall);
  return s;
}

/// A fluency scorer for WebQA QA-FL. A type F satisfies `FluencyScorer` if:
/// 1. a `const F&` is callable with (std::string_view prediction, std::span<const std::string_view> references), and
/// 2. the result converts to double: the fluency in [0, 1] (values above 1 are clipped to 1, as the official
///    script clips BARTScore(prediction, reference) / BARTScore(reference, reference)).
/// BARTScore needs a BART model and cannot run offline, so the library ships no scorer: plug one in.
template <class F>
concept FluencyScorer = requires(const F& f, std::string_view p, std::span<const std::string_view> refs) {
  { f(p, refs) } -> std::convertible_to<double>;
};

/// The default "no fluency scorer": QA-FL and QA are then not computed.
struct no_fluency {};

/// WebQA scores of one answer: accuracy always; fluency and QA = accuracy x fluency only with a scorer.
struct webqa_qa_result {
  double accuracy = 0;
  std::optional<double> fluency;
  std::optional<double> qa;
};

/// WebQA QA-Acc, QA-FL and QA of one answer. [WebQnA/WebQA_Baseline vlp/eval_1022.py: mul = accuracy x fluency]
///
/// `references` are the full gold answers (`A`), fed to the scorer; `keywords` feeds the accuracy. The scorer's value
/// is clipped to at most 1; a negative or non-finite value throws `mmrag_rft::error`.
template <class F = no_fluency>
requires(FluencyScorer<F> || std::same_as<F, no_fluency>)
[[nodiscard]] webqa_qa_result webqa_qa_scores(std::string_view prediction, std::string_view keywords,
                                              std::span<const std::string_view> references, webqa_category category,
                                              const F& fluency = {}, const webqa_options& opt = {}) {
  webqa_qa_result r;
  r.accuracy = webqa_qa_accuracy(prediction, keywords, category, opt);
  if constexpr (!std::same_as<F, no_fluency>) {
    const double f = static_cast<double>(fluency(prediction, references));
    detail::require(std::isfinite(f) && f >= 0, "webqa_qa_scores", "fluency",
                    "scorer returned a negative or non-finite value");
    r.fluency = std::min(1.0, f);
    r.qa = r.accuracy * *r.fluency;
  }
  return r;
}

} // namespace mmrag_rft
