// SPDX-License-Identifier: Apache-2.0
// The warm-start "teacher": well-formed target completions for both stages, written from the gold labels and from
// a pixel analysis of the images (what an annotator would write). Used only for the short supervised warm start.
#pragma once
#include "tokenizer.hpp"

#include <mmrag_rft/core.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace demo {

struct image_facts {
  int count = 0;
  std::string color, shape;
};

// Reads the 24x8 three-slot pictures the generator draws: a slot holds a shape when enough pixels are saturated;
// the colour is the nearest palette colour of their mean; a filled corner means a square, a large area a circle.
inline image_facts analyse(const mmrag_rft::image_data& img) {
  static const std::array<std::pair<const char*, std::array<int, 3>>, 4> palette{
      {{"red", {220, 40, 40}}, {"green", {40, 180, 60}}, {"blue", {40, 70, 220}}, {"yellow", {230, 210, 40}}}};
  image_facts f;
  double sum[3] = {0, 0, 0};
  int total = 0, area = 0;
  bool corner = false;
  for (int s = 0; s < 3; ++s) {
    int n = 0;
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 8; ++x) {
        const std::size_t i = (static_cast<std::size_t>(y) * img.width + static_cast<std::size_t>(s * 8 + x)) * 3;
        const int r = img.pixels[i], g = img.pixels[i + 1], b = img.pixels[i + 2];
        if (std::max({r, g, b}) - std::min({r, g, b}) > 60) {
          ++n, sum[0] += r, sum[1] += g, sum[2] += b;
          if (x == 1 && y == 1) corner = true;
        }
      }
    if (n > 8) ++f.count, total += n, area = std::max(area, n);
  }
  if (total == 0) return f;
  double best = 1e18;
  for (const auto& [name, c] : palette) {
    double d = 0;
    for (int k = 0; k < 3; ++k) d += (sum[k] / total - c[k]) * (sum[k] / total - c[k]);
    if (d < best) best = d, f.color = name;
  }
  f.shape = corner ? "square" : area > 25 ? "circle" : "triangle";
  return f;
}

// The "entity place" of an item title "entity of the place".
inline std::string item_of_title(const std::string& title) {
  const auto w = tokenizer::split(title);
  return w.size() >= 4 ? w[0] + " " + w[3] : title;
}
// The "entity place" a question asks about: the words around "of the".
inline std::string item_of_question(const std::string& q) {
  const auto w = tokenizer::split(q);
  for (std::size_t i = 1; i + 2 < w.size(); ++i)
    if (w[i] == "of" && w[i + 1] == "the") return w[i - 1] + " " + w[i + 2];
  return "unknown";
}

// Whether two "entity place" items share the entity or the place (a hard negative shares one of them).
inline bool shares_a_word(const std::string& a, const std::string& b) {
  const auto x = tokenizer::split(a), y = tokenizer::split(b);
  for (std::size_t i = 0; i < x.size() && i < y.size(); ++i)
    if (x[i] == y[i]) return true;
  return false;
}

// Stage 1: restate what the question asks about and what the document is about, compare the entities and the
// places one pair at a time, then judge. Each comparison looks at two nearby words, a step a small model can learn;
// judging straight from the restatement was never learned by the warm start (always "no").
inline std::string stage1_target(const mmrag_rft::sample& one_doc) {
  const bool relevant = !one_doc.gold.empty();
  const std::string asked_item = item_of_question(one_doc.question),
                    doc_item = item_of_title(one_doc.documents[0].title);
  const auto asked = tokenizer::split(asked_item), about = tokenizer::split(doc_item);
  std::string think = "<think> asks " + asked_item + " ; doc " + doc_item;
  for (std::size_t i = 0; i < 2 && i < asked.size() && i < about.size(); ++i)
    think += " ; " + asked[i] + " " + about[i] + (asked[i] == about[i] ? " same" : " differ");
  return think + " </think><answer> " + (relevant ? "yes" : "no") + " </answer>";
}

// Stage 2: describe the relevant documents (what an image shows, what a snippet says), name the others, rank the
// relevant ones first (images before snippets), then answer.
inline std::string stage2_target(const mmrag_rft::sample& s) {
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < s.documents.size(); ++i)
    if (std::find(s.gold.begin(), s.gold.end(), i) != s.gold.end() && s.documents[i].kind == mmrag_rft::modality::image)
      order.push_back(i);
  for (std::size_t i = 0; i < s.documents.size(); ++i)
    if (std::find(s.gold.begin(), s.gold.end(), i) != s.gold.end() && s.documents[i].kind != mmrag_rft::modality::image)
      order.push_back(i);
  for (std::size_t i = 0; i < s.documents.size(); ++i)
    if (std::find(s.gold.begin(), s.gold.end(), i) == s.gold.end()) order.push_back(i);
  std::string think = "<think>", rank = "<rank> [";
  for (std::size_t k = 0; k < order.size(); ++k) {
    const auto& d = s.documents[order[k]];
    const bool gold = std::find(s.gold.begin(), s.gold.end(), order[k]) != s.gold.end();
    think += (k ? " ; [" : " [") + std::to_string(order[k] + 1) + "] " + item_of_title(d.title);
    if (gold && d.kind == mmrag_rft::modality::image && d.image) {
      const image_facts f = analyse(*d.image);
      think += " : " + std::to_string(f.count) + " " + f.color + " " + f.shape;
    } else if (gold) {
      const auto w = tokenizer::split(d.text);
      think += " : " + (w.size() >= 2 ? w[w.size() - 2] : std::string("unknown"));
    }
    rank += (k ? ", " : "") + std::to_string(order[k] + 1);
  }
  return think + " </think>" + rank + "] </rank><answer> " + (s.answers.empty() ? "" : s.answers[0]) + " </answer>";
}

} // namespace demo
