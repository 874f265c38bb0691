// SPDX-License-Identifier: Apache-2.0
// One explained question as a JSON line: the question, its candidate documents (pixels included), the gold labels
// and, per evaluated model (a "stage"), each document's stage-1 judgement, the stage-2 completion with its ranking
// and answer, the reward composite's per-rule scores and its one-line explanation. A trainer writes these records
// for its own samples; `render_report_html` (report_html.hpp) turns them into the explanation page.
// Needs nlohmann-json (header-only): a consumer links nlohmann_json::nlohmann_json.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/document.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// A candidate document as the page shows it; `pixels` (row-major, `channels` 1, 3 or 4 bytes a pixel) may be empty.
struct explained_document {
  std::string id, kind = "text", title, text;
  std::size_t width = 0, height = 0, channels = 0;
  std::vector<std::uint8_t> pixels;
};

/// A stage-1 (point-wise) judgement of one candidate: the completion, its verdict score in [0, 1], keep or drop.
struct explained_judgement {
  std::string reasoning;
  double score = 0.0;
  bool kept = false;
};

/// One weighted rule of the reward composite: its unweighted score and its weight.
struct explained_rule {
  std::string name;
  double score = 0.0, weight = 1.0;
};

/// What one model (warm start, after stage 1, after stage 2, or a predictions file) did with the question.
/// `judgements` is empty or holds one entry per candidate; `ranking` holds candidate indices (0-based, best first).
struct explained_stage {
  std::string name;
  std::vector<explained_judgement> judgements;
  std::string completion;
  std::vector<std::size_t> ranking;
  std::string answer;
  std::vector<explained_rule> rules;
  double reward = 0.0;
  std::string explanation;
  double answer_correct = 0.0; ///< 1 when the answer matches a gold answer; what "fixed"/"broke" compare
};

struct explanation_record {
  std::string id, question, category;
  std::vector<explained_document> documents;
  std::vector<std::size_t> gold; ///< indices into `documents`
  std::vector<std::string> answers;
  std::vector<explained_stage> stages; ///< in the order the page shows them side by side
};

/// A library document as the page shows it: the kind's name and the pixels when the image holds any.
[[nodiscard]] inline explained_document explain_document(const document& d) {
  explained_document e{d.id, std::string(to_string(d.kind)), d.title, d.text, 0, 0, 0, {}};
  if (d.image && !d.image->pixels.empty()) {
    e.width = d.image->width, e.height = d.image->height, e.channels = d.image->channels;
    e.pixels = d.image->pixels;
  }
  return e;
}

/// A record holding a sample's question, category, documents, gold documents and answers, with no stages yet.
[[nodiscard]] inline explanation_record explain_sample(const sample& s) {
  explanation_record r{s.id, s.question, s.category, {}, s.gold, s.answers, {}};
  for (const auto& d : s.documents) r.documents.push_back(explain_document(d));
  return r;
}

[[nodiscard]] inline nlohmann::json to_json(const explanation_record& r) {
  nlohmann::json docs = nlohmann::json::array(), stages = nlohmann::json::array();
  for (const auto& d : r.documents) {
    nlohmann::json j{{"id", d.id}, {"kind", d.kind}, {"title", d.title}, {"text", d.text}};
    if (!d.pixels.empty())
      j["image"] = {{"width", d.width}, {"height", d.height}, {"channels", d.channels}, {"pixels", d.pixels}};
    docs.push_back(std::move(j));
  }
  for (const auto& s : r.stages) {
    nlohmann::json judg = nlohmann::json::array(), rules = nlohmann::json::array();
    for (const auto& j : s.judgements)
      judg.push_back({{"reasoning", j.reasoning}, {"score", j.score}, {"kept", j.kept}});
    for (const auto& u : s.rules) rules.push_back({{"name", u.name}, {"score", u.score}, {"weight", u.weight}});
    stages.push_back({{"name", s.name},
                      {"judgements", judg},
                      {"completion", s.completion},
                      {"ranking", s.ranking},
                      {"answer", s.answer},
                      {"rules", rules},
                      {"reward", s.reward},
                      {"explanation", s.explanation},
                      {"answer_correct", s.answer_correct}});
  }
  return {{"id", r.id},     {"question", r.question}, {"category", r.category}, {"documents", docs},
          {"gold", r.gold}, {"answers", r.answers},   {"stages", stages}};
}

namespace detail {

// Reads field `key` of `j` as T; a missing field takes `fallback` when `optional`, otherwise (and on a wrong type)
// the error names the line and the field.
template <class T>
T record_field(const nlohmann::json& j, const char* key, std::size_t line, bool optional = false, T fallback = T{}) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    detail::require(optional, "read_explanation_records", key, "missing field", line);
    return fallback;
  }
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw error("read_explanation_records", key, "wrong type", line);
  }
}

[[nodiscard]] inline double finite_field(const nlohmann::json& j, const char* key, std::size_t line) {
  const double v = record_field<double>(j, key, line, true, 0.0);
  detail::require(std::isfinite(v), "read_explanation_records", key, "not a finite number", line);
  return v;
}

} // namespace detail

/// The record of one JSON object; `line` (1-based) locates errors. Indices (gold, ranking) must name a document, a
/// judgement list must have one entry per document, an image's pixels must fill width x height x channels.
[[nodiscard]] inline explanation_record explanation_record_from_json(const nlohmann::json& j, std::size_t line = 0) {
  using detail::record_field;
  detail::require(j.is_object(), "read_explanation_records", "record", "not a JSON object", line);
  explanation_record r;
  r.id = record_field<std::string>(j, "id", line);
  r.question = record_field<std::string>(j, "question", line);
  r.category = record_field<std::string>(j, "category", line, true);
  r.answers = record_field<std::vector<std::string>>(j, "answers", line, true);
  for (const auto& d : record_field<nlohmann::json>(j, "documents", line, true, nlohmann::json::array())) {
    detail::require(d.is_object(), "read_explanation_records", "documents", "not a JSON object", line);
    explained_document e{record_field<std::string>(d, "id", line, true),
                         record_field<std::string>(d, "kind", line, true, "text"),
                         record_field<std::string>(d, "title", line, true),
                         record_field<std::string>(d, "text", line, true),
                         0,
                         0,
                         0,
                         {}};
    if (const auto im = d.find("image"); im != d.end() && !im->is_null()) {
      e.width = record_field<std::size_t>(*im, "width", line),
      e.height = record_field<std::size_t>(*im, "height", line);
      e.channels = record_field<std::size_t>(*im, "channels", line);
      e.pixels = record_field<std::vector<std::uint8_t>>(*im, "pixels", line);
      detail::require(e.channels == 1 || e.channels == 3 || e.channels == 4, "read_explanation_records",
                      "image.channels", "must be 1, 3 or 4", line);
      detail::require(e.width <= 4096 && e.height <= 4096 && e.pixels.size() == e.width * e.height * e.channels,
                      "read_explanation_records", "image.pixels",
                      "size is not width x height x channels (at most 4096 a side)", line);
    }
    r.documents.push_back(std::move(e));
  }
  const std::size_t n = r.documents.size();
  const auto check_indices = [&](const std::vector<std::size_t>& v, const char* key) {
    for (std::size_t k : v) detail::require(k < n, "read_explanation_records", key, "index names no document", line);
  };
  r.gold = record_field<std::vector<std::size_t>>(j, "gold", line, true);
  check_indices(r.gold, "gold");
  for (const auto& s : record_field<nlohmann::json>(j, "stages", line, true, nlohmann::json::array())) {
    detail::require(s.is_object(), "read_explanation_records", "stages", "not a JSON object", line);
    explained_stage e;
    e.name = record_field<std::string>(s, "name", line);
    for (const auto& g : record_field<nlohmann::json>(s, "judgements", line, true, nlohmann::json::array())) {
      detail::require(g.is_object(), "read_explanation_records", "judgements", "not a JSON object", line);
      e.judgements.push_back({record_field<std::string>(g, "reasoning", line, true),
                              detail::finite_field(g, "score", line), record_field<bool>(g, "kept", line, true)});
    }
    detail::require(e.judgements.empty() || e.judgements.size() == n, "read_explanation_records", "judgements",
                    "must be empty or one per document", line);
    e.completion = record_field<std::string>(s, "completion", line, true);
    e.ranking = record_field<std::vector<std::size_t>>(s, "ranking", line, true);
    check_indices(e.ranking, "ranking");
    e.answer = record_field<std::string>(s, "answer", line, true);
    for (const auto& u : record_field<nlohmann::json>(s, "rules", line, true, nlohmann::json::array())) {
      detail::require(u.is_object(), "read_explanation_records", "rules", "not a JSON object", line);
      e.rules.push_back({record_field<std::string>(u, "name", line), detail::finite_field(u, "score", line),
                         detail::finite_field(u, "weight", line)});
    }
    e.reward = detail::finite_field(s, "reward", line);
    e.explanation = record_field<std::string>(s, "explanation", line, true);
    e.answer_correct = detail::finite_field(s, "answer_correct", line);
    r.stages.push_back(std::move(e));
  }
  return r;
}

/// Writes records as JSON lines, one a call; the file is created (truncated) on construction.
class explanation_writer {
public:
  explicit explanation_writer(const std::string& path) : path_(path), out_(path) {
    detail::require(static_cast<bool>(out_), "explanation_writer", "path", "cannot open " + path + " for writing");
  }
  void write(const explanation_record& r) {
    out_ << to_json(r).dump() << '\n';
    detail::require(static_cast<bool>(out_), "explanation_writer::write", "path", "cannot write " + path_);
  }

private:
  std::string path_;
  std::ofstream out_;
};

/// All records of a JSONL file (blank lines skipped); errors name the file's line and the field.
[[nodiscard]] inline std::vector<explanation_record> read_explanation_records(const std::string& path) {
  std::ifstream in(path);
  detail::require(static_cast<bool>(in), "read_explanation_records", "path", "cannot open " + path);
  std::vector<explanation_record> out;
  std::string text;
  for (std::size_t line = 1; std::getline(in, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& e) {
      throw error("read_explanation_records", path, std::string("not JSON: ") + e.what(), line);
    }
    out.push_back(explanation_record_from_json(j, line));
  }
  return out;
}

} // namespace mmrag_rft
