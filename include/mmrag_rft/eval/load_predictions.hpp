// SPDX-License-Identifier: Apache-2.0
// Reading prediction files, plain or gzip: JSONL (one prediction per line) or the official single-object formats.
// Needs nlohmann-json (header-only): a consumer links nlohmann_json::nlohmann_json.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/data/detail/compressed_file.hpp>
#include <mmrag_rft/data/detail/json_input.hpp>
#include <mmrag_rft/data/file_error.hpp>
#include <mmrag_rft/eval/prediction.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// Limits of `load_predictions`.
struct prediction_load_options {
  /// Largest file read (1 GiB, far above any benchmark's predictions); a larger one, or an endless stream, is a
  /// located error once this many bytes are read, instead of a whole-memory allocation.
  std::size_t max_bytes = std::size_t{1} << 30;
};

namespace detail {

inline constexpr std::string_view prediction_id_keys[] = {"id", "qid", "guid", "Guid"};
/// The fields of one prediction record: an object with any of them (or an id) is a record, not an id-keyed map.
inline constexpr std::string_view prediction_field_keys[] = {"answer",  "answers",           "predicted answers",
                                                             "sources", "predicted sources", "ranking"};

/// An id or a list item that may be written as text or as an integer (WebQA image ids are integers).
[[nodiscard]] inline std::string id_text(const nlohmann::json& v, const json_site& site, std::string_view at) {
  if (v.is_string()) return v.get<std::string>();
  // Unsigned first: nlohmann's is_number_integer() holds for unsigned values too, which int64 would wrap.
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
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

/// The answer field: a string, a number (as Python's str: `3` stays "3", `3.0` is "3.0"), or a list of those; `null`
/// or absent means no answer.
inline void read_answers(const nlohmann::json& v, const json_site& site, std::string_view at,
                         std::vector<std::string>& out) {
  const auto one = [&](const nlohmann::json& a, std::string_view path) {
    if (a.is_string()) out.push_back(a.get<std::string>());
    else if (a.is_number()) out.push_back(python_number_str(a));
    else site.wrong_type(path, "string or number", a);
  };
  if (v.is_array())
    for (std::size_t i = 0; i < v.size(); ++i) one(v[i], json_site::index(at, i));
  else if (!v.is_null()) one(v, at);
}

// The fields a prediction object may carry besides its id. The WebQA baselines write their validation outputs with
// "predicted answers" / "predicted sources"; the other names are ours and the official submission formats'.
inline constexpr std::string_view answer_keys[] = {"answer", "answers", "predicted answers"};
inline constexpr std::string_view source_keys[] = {"sources", "predicted sources"};
inline constexpr std::string_view ranking_key = "ranking";

/// Whether `key` names a field that `read_prediction` reads.
[[nodiscard]] inline bool prediction_key(std::string_view key) {
  const auto in = [&](const auto& keys) { return std::find(std::begin(keys), std::end(keys), key) != std::end(keys); };
  return in(prediction_id_keys) || in(answer_keys) || in(source_keys) || key == ranking_key;
}

/// One prediction object; `id` is set by the caller when the object is the value of an id-keyed map. `fields` is
/// set to whether the object has an answer, sources or a ranking at all. An object that has none of them but other
/// members is a `file_error` naming the first unknown member: a misspelled or foreign answer key would otherwise be
/// scored as a missing answer, 0, without a word.
inline prediction read_prediction(const nlohmann::json& obj, json_site& site, std::string_view at, bool& fields) {
  prediction p;
  for (const auto key : prediction_id_keys)
    if (const auto* v = site.find(obj, key)) {
      p.id = id_text(*v, site, json_site::join(at, key));
      site.record = p.id;
      break;
    }
  const auto* answer = site.find(obj, "answer");
  const auto* answers = site.find(obj, "answers");
  // Both at once would be merged or one dropped: either is a guess at what the system meant.
  if (answer && answers) site.fail(json_site::join(at, "answers"), "given together with answer (give one of them)");
  bool answered = false;
  for (const auto key : answer_keys)
    if (const auto* v = site.find(obj, key)) {
      read_answers(*v, site, json_site::join(at, key), p.answers);
      answered = true;
    }
  for (const auto key : source_keys) {
    read_id_list(obj, site, at, key, p.sources, p.has_sources);
    if (p.has_sources) break;
  }
  read_id_list(obj, site, at, ranking_key, p.ranking, p.has_ranking);
  fields = answered || p.has_sources || p.has_ranking;
  if (!fields)
    for (const auto& [key, value] : obj.items())
      if (!prediction_key(key))
        site.fail(json_site::join(at, key), "unknown field, and no answer (\"answer\", \"answers\" or \"predicted "
                                            "answers\"), sources or ranking");
  return p;
}

[[nodiscard]] inline bool is_prediction_record(const nlohmann::json& j) {
  for (const auto key : prediction_id_keys)
    if (j.contains(key)) return true;
  for (const auto key : prediction_field_keys)
    if (j.contains(key)) return true;
  return false;
}

/// Whether the first non-blank line of `text` is a JSON value on its own, as in a JSONL file.
[[nodiscard]] inline bool first_line_is_json(std::string_view text) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view row = text.substr(start, end - start);
    if (row.find_first_not_of(" \t\r") != std::string_view::npos) return nlohmann::json::accept(row);
    start = end + 1;
  }
  return false;
}

/// Throws when the file has no predictions, or none of them carries an answer, sources or a ranking: every
/// question would score 0. `first_line` locates the first prediction (unknown for the id-keyed map forms).
inline void require_prediction_fields(bool any_fields, std::size_t count, std::string_view fn, std::string_view name,
                                      std::uint64_t first_line) {
  if (count == 0)
    throw file_error(fn, name, file_error::unknown, file_error::unknown, "", "", "contains no predictions");
  if (any_fields) return;
  throw file_error(fn, name, first_line, file_error::unknown, "", "",
                   "no prediction has an answer (\"answer\", \"answers\" or \"predicted answers\"), sources or a "
                   "ranking");
}

inline std::vector<prediction> parse_predictions_text(std::string_view text, std::string_view fn,
                                                      std::string_view name) {
  std::vector<prediction> out;
  bool any_fields = false, fields = false;
  // A whole-file JSON object that is not itself a prediction record is the official submission map {id: prediction}.
  const auto whole = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  const bool blank = text.find_first_not_of(" \t\r\n") == std::string_view::npos;
  if (whole.is_discarded() && !blank && !first_line_is_json(text)) {
    // Neither a document nor JSONL: a (pretty-printed) document with an error, located in the whole text.
    const json_syntax_error e = locate_json_error(text);
    throw file_error(fn, name, e.line, file_error::unknown, "", "", "invalid JSON: " + e.message);
  }
  if (!whole.is_discarded() && whole.is_object() && !is_prediction_record(whole)) {
    for (const auto& [id, v] : whole.items()) {
      json_site site{fn, name, file_error::unknown, id};
      prediction p;
      if (v.is_object()) {
        p = read_prediction(v, site, "", fields);
      } else {
        read_answers(v, site, "", p.answers); // MultimodalQA: {qid: answer or [answers]}
        fields = !v.is_null();
      }
      any_fields = any_fields || fields;
      p.id = id;
      out.push_back(std::move(p));
    }
    require_prediction_fields(any_fields, out.size(), fn, name, file_error::unknown);
    return out;
  }
  std::uint64_t line = 0, first_line = file_error::unknown;
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
    prediction p = read_prediction(j, site, "", fields);
    if (p.id.empty()) site.fail("id", "missing required field (one of id, qid, guid, Guid)");
    any_fields = any_fields || fields;
    if (out.empty()) first_line = line;
    out.push_back(std::move(p));
  }
  require_prediction_fields(any_fields, out.size(), fn, name, first_line);
  return out;
}

} // namespace detail

/// Reads predictions from a file in any of these forms (detected from the content), plain or gzip-compressed (also
/// detected from the content, whatever the file is called):
/// 1. JSONL: one object per line with an id (`id`, `qid`, `guid` or `Guid`), and optional `answer` (or `answers`, or
///    `predicted answers` as the WebQA baselines write it: a string, a number or a list of them), `sources` (or
///    `predicted sources`) and `ranking` (lists of document ids, strings or integers).
/// 2. The WebQA submission object `{guid: {"sources": [...], "answer": "..." or ["..."]}}`, with the same field
///    names accepted. [WebQnA/WebQA README "Output Format"]
/// 3. The MultimodalQA predictions object `{qid: "answer" or ["answer", ...]}`. [allenai/multimodalqa evaluate.py]
///
/// An object with an id key or a prediction field (`{"answer": "red"}`) is one JSONL record, never a map.
/// Blank lines are skipped. A line that is not JSON, a wrong type, a JSONL line without an id, or `answer` and
/// `answers` in one prediction throws `file_error` naming the file, the line, the id and the field (e.g.
/// `pred.jsonl:3: "g7": sources[1]: expected string or integer, got array`); a syntax error in a whole-file object is
/// reported at its line. So do a prediction that has no answer, sources or ranking but some other member (e.g.
/// `pred.jsonl:1: "g1": predicted_answer: unknown field, ...`), a file with no predictions (empty, blank lines or
/// `{}`), and one none of whose predictions has an answer, sources or a ranking: they would otherwise score every
/// question 0 without a word. A prediction with an answer and other members is read, the other members ignored. A
/// file that cannot be read or is larger than `options.max_bytes` (after decompression) throws too. Reads the file
/// once into memory (prediction files are small next to the gold data); O(bytes).
[[nodiscard]] inline std::vector<prediction> load_predictions(const std::filesystem::path& file,
                                                              const prediction_load_options& options = {}) {
  const std::string text =
      detail::read_whole_file(file, "load_predictions", {options.max_bytes, "prediction_load_options::max_bytes"});
  return detail::parse_predictions_text(text, "load_predictions", file.string());
}

/// As `load_predictions`, from text in memory; `source_name` stands for the file name in errors.
[[nodiscard]] inline std::vector<prediction> parse_predictions(std::string_view text,
                                                               std::string_view source_name = "<memory>") {
  return detail::parse_predictions_text(text, "parse_predictions", source_name);
}

} // namespace mmrag_rft
