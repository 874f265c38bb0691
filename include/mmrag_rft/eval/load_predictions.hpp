// SPDX-License-Identifier: Apache-2.0
// Reading prediction files: JSONL (one prediction per line) or the official single-object submission formats.
// Needs nlohmann-json (header-only): a consumer links nlohmann_json::nlohmann_json.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/data/detail/json_input.hpp>
#include <mmrag_rft/data/file_error.hpp>
#include <mmrag_rft/eval/prediction.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

namespace detail {

inline constexpr std::string_view prediction_id_keys[] = {"id", "qid", "guid", "Guid"};

/// An id or a list item that may be written as text or as an integer (WebQA image ids are integers).
[[nodiscard]] inline std::string id_text(const nlohmann::json& v, const json_site& site, std::string_view at) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  site.wrong_type(at, "string or integer", v);
}

inline void read_id_list(const nlohmann::json& obj, const json_site& site, std::string_view at, std::string_view key,
                         std::vector<std::string>& out, bool& present) {
  const auto* v = site.optional_array(obj, at, key);
  present = v != nullptr;
  if (!v) return;
  const std::string path = json_site::join(at, key);
  for (std::size_t i = 0; i < v->size(); ++i) out.push_back(id_text((*v)[i], site, json_site::index(path, i)));
}

/// The answer field: a string, a number (as Python's str), or a list of those; `null` or absent means no answer.
inline void read_answers(const nlohmann::json& v, const json_site& site, std::string_view at,
                         std::vector<std::string>& out) {
  const auto one = [&](const nlohmann::json& a, std::string_view path) {
    if (a.is_string()) out.push_back(a.get<std::string>());
    else if (a.is_number()) out.push_back(python_float_str(a.get<double>()));
    else site.wrong_type(path, "string or number", a);
  };
  if (v.is_array())
    for (std::size_t i = 0; i < v.size(); ++i) one(v[i], json_site::index(at, i));
  else if (!v.is_null()) one(v, at);
}

/// One prediction object; `id` is set by the caller when the object is the value of an id-keyed map.
inline prediction read_prediction(const nlohmann::json& obj, json_site& site, std::string_view at) {
  prediction p;
  for (const auto key : prediction_id_keys)
    if (const auto* v = site.find(obj, key)) {
      p.id = id_text(*v, site, json_site::join(at, key));
      site.record = p.id;
      break;
    }
  for (const auto key : {"answer", "answers"})
    if (const auto* v = site.find(obj, key)) read_answers(*v, site, json_site::join(at, key), p.answers);
  read_id_list(obj, site, at, "sources", p.sources, p.has_sources);
  read_id_list(obj, site, at, "ranking", p.ranking, p.has_ranking);
  return p;
}

[[nodiscard]] inline bool has_id_key(const nlohmann::json& j) {
  for (const auto key : prediction_id_keys)
    if (j.contains(key)) return true;
  return false;
}

inline std::vector<prediction> parse_predictions_text(std::string_view text, std::string_view fn,
                                                      std::string_view name) {
  std::vector<prediction> out;
  // A whole-file JSON object without an id field is the official submission map {id: prediction}.
  const auto whole = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (!whole.is_discarded() && whole.is_object() && !has_id_key(whole)) {
    for (const auto& [id, v] : whole.items()) {
      json_site site{fn, name, file_error::unknown, id};
      prediction p;
      if (v.is_object()) p = read_prediction(v, site, "");
      else read_answers(v, site, "", p.answers); // MultimodalQA: {qid: answer or [answers]}
      p.id = id;
      out.push_back(std::move(p));
    }
    return out;
  }
  std::uint64_t line = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view row = text.substr(start, end - start);
    ++line;
    start = end + 1;
    if (row.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json_site site{fn, name, line, {}};
    const nlohmann::json j = parse_json_line(row, site);
    if (!j.is_object()) site.wrong_type("", "object", j);
    prediction p = read_prediction(j, site, "");
    if (p.id.empty()) site.fail("id", "missing required field (one of id, qid, guid, Guid)");
    out.push_back(std::move(p));
  }
  return out;
}

} // namespace detail

/// Reads predictions from a file in any of these forms (detected from the content):
/// 1. JSONL: one object per line with an id (`id`, `qid`, `guid` or `Guid`), and optional `answer` (or `answers`: a
///    string, a number or a list of them), `sources` and `ranking` (lists of document ids, strings or integers).
/// 2. The WebQA submission object `{guid: {"sources": [...], "answer": "..." or ["..."]}}`.
///    [WebQnA/WebQA README "Output Format"]
/// 3. The MultimodalQA predictions object `{qid: "answer" or ["answer", ...]}`. [allenai/multimodalqa evaluate.py]
///
/// Blank lines are skipped. A line that is not JSON, a wrong type or a JSONL line without an id throws `file_error`
/// naming the file, the line, the id and the field (e.g. `pred.jsonl:3: "g7": sources[1]: expected string or
/// integer, got array`). Reads the file once into memory (prediction files are small next to the gold data);
/// O(bytes).
[[nodiscard]] inline std::vector<prediction> load_predictions(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw file_error("load_predictions", name, file_error::unknown, file_error::unknown, "", "", "cannot be opened");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return detail::parse_predictions_text(text, "load_predictions", name);
}

/// As `load_predictions`, from text in memory; `source_name` stands for the file name in errors.
[[nodiscard]] inline std::vector<prediction> parse_predictions(std::string_view text,
                                                               std::string_view source_name = "<memory>") {
  return detail::parse_predictions_text(text, "parse_predictions", source_name);
}

} // namespace mmrag_rft
