// SPDX-License-Identifier: Apache-2.0
// Loader of the MultimodalQA benchmark (MMQA_<split>.jsonl questions plus the texts, images and tables JSONL files).
// Needs nlohmann-json (header-only): a consumer links nlohmann_json::nlohmann_json. Not part of <mmrag_rft/mmrag_rft.hpp>.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/document.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/data/detail/document_order.hpp>
#include <mmrag_rft/data/detail/json_input.hpp>
#include <mmrag_rft/data/file_error.hpp>
#include <mmrag_rft/data/mmqa_dataset.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// Where the MultimodalQA files are and how `load_mmqa` turns questions into samples.
struct mmqa_load_options {
  /// Optional context files; each one found fills title and text of the documents it holds (`MMQA_texts.jsonl`:
  /// `text`; `MMQA_images.jsonl`: no text, the image comes through `attach_image`; `MMQA_tables.jsonl`: the table
  /// linearised as its name, a header row and one row per line, cells joined by " | "). Without them a document
  /// carries its id and modality only.
  std::filesystem::path texts, images, tables;
  /// Written to every sample's `split` (the question file does not name its split).
  std::string split;
  /// Candidate order: `std::nullopt` keeps metadata order (images, texts, then the table); a seed shuffles
  /// reproducibly and remaps `gold` (see `detail::shuffle_documents`).
  std::optional<std::uint64_t> shuffle_seed;
  /// Called once per image document after the context files are read; its result becomes `document::image`.
  std::function<std::shared_ptr<const image_data>(const document&)> attach_image;
  /// Longest line accepted in any of the files (64 MiB; the largest MultimodalQA line, a table, is far shorter); a
  /// longer line is a located error, so an endless line cannot exhaust memory.
  std::size_t max_line_bytes = std::size_t{64} << 20;
};

namespace detail {

inline void read_mmqa_question(const nlohmann::json& q, json_site& site, const mmqa_load_options& o,
                               mmqa_dataset& out) {
  if (!q.is_object()) site.wrong_type("", "object", q);
  sample s;
  mmqa_question_info info;
  s.id = site.string_at(q, "", "qid");
  site.record = s.id;
  s.question = site.string_at(q, "", "question");
  s.split = o.split;

  if (const auto* answers = site.optional_array(q, "", "answers")) {
    for (std::size_t i = 0; i < answers->size(); ++i) {
      const auto& a = (*answers)[i];
      const std::string at = json_site::index("answers", i);
      if (!a.is_object()) site.wrong_type(at, "object", a);
      const auto* v = site.find(a, "answer");
      if (!v) site.fail(json_site::join(at, "answer"), "missing required field");
      // The official script scores str(answer): number answers are floats in the file, an integer stays one.
      if (v->is_string()) s.answers.push_back(v->get<std::string>());
      else if (v->is_number()) s.answers.push_back(python_number_str(*v));
      else site.wrong_type(json_site::join(at, "answer"), "string or number", *v);
      info.answer_types.push_back(site.optional_string(a, at, "type"));
      const std::string m = site.optional_string(a, at, "modality");
      if (info.answer_modality.empty()) info.answer_modality = m;
    }
  }

  const nlohmann::json* meta = site.optional_object(q, "", "metadata");
  if (meta) {
    s.category = site.optional_string(*meta, "metadata", "type");
    if (const auto* ms = site.optional_array(*meta, "metadata", "modalities"))
      for (std::size_t i = 0; i < ms->size(); ++i) {
        if (!(*ms)[i].is_string()) site.wrong_type(json_site::index("metadata.modalities", i), "string", (*ms)[i]);
        info.modalities.push_back((*ms)[i].get<std::string>());
      }
    const auto add_docs = [&](std::string_view key, modality kind) {
      const std::string at = json_site::join("metadata", key);
      if (const auto* ids = site.optional_array(*meta, "metadata", key))
        for (std::size_t i = 0; i < ids->size(); ++i) {
          if (!(*ids)[i].is_string()) site.wrong_type(json_site::index(at, i), "string", (*ids)[i]);
          s.documents.push_back(document{(*ids)[i].get<std::string>(), kind, {}, {}, {}, nullptr});
        }
    };
    add_docs("image_doc_ids", modality::image);
    add_docs("text_doc_ids", modality::text);
    std::string table = site.optional_string(*meta, "metadata", "table_id");
    if (!table.empty()) s.documents.push_back(document{std::move(table), modality::table, {}, {}, {}, nullptr});
  }

  if (const auto* sup = site.optional_array(q, "", "supporting_context")) {
    for (std::size_t i = 0; i < sup->size(); ++i) {
      const auto& c = (*sup)[i];
      const std::string at = json_site::index("supporting_context", i);
      if (!c.is_object()) site.wrong_type(at, "object", c);
      const std::string id = site.string_at(c, at, "doc_id");
      const std::string part = site.optional_string(c, at, "doc_part");
      bool found = false;
      for (std::size_t d = 0; d < s.documents.size() && !found; ++d) {
        if (s.documents[d].id != id || (!part.empty() && to_string(s.documents[d].kind) != part)) continue;
        found = true;
        bool seen = false;
        for (const auto g : s.gold) seen = seen || g == d;
        if (!seen) s.gold.push_back(d);
      }
      // A supporting document the metadata does not list still counts as a candidate (and a positive).
      if (!found) {
        const modality kind = part == "image" ? modality::image : part == "table" ? modality::table : modality::text;
        s.gold.push_back(s.documents.size());
        s.documents.push_back(document{id, kind, {}, {}, {}, nullptr});
      }
    }
  }
  out.samples.push_back(std::move(s));
  out.info.push_back(std::move(info));
}

[[nodiscard]] inline std::string linearise_table(const nlohmann::json& t, json_site& site) {
  std::string text = site.optional_string(t, "table", "table_name");
  if (const auto* header = site.optional_array(t, "table", "header")) {
    std::string row;
    for (std::size_t i = 0; i < header->size(); ++i) {
      const auto& h = (*header)[i];
      if (!h.is_object()) site.wrong_type(json_site::index("table.header", i), "object", h);
      if (i) row += " | ";
      row += site.optional_string(h, json_site::index("table.header", i), "column_name");
    }
    if (!text.empty()) text += '\n';
    text += row;
  }
  if (const auto* rows = site.optional_array(t, "table", "table_rows")) {
    for (std::size_t r = 0; r < rows->size(); ++r) {
      const auto& row = (*rows)[r];
      const std::string at = json_site::index("table.table_rows", r);
      if (!row.is_array()) site.wrong_type(at, "array", row);
      text += '\n';
      for (std::size_t c = 0; c < row.size(); ++c) {
        const auto& cell = row[c];
        if (c) text += " | ";
        if (cell.is_string()) text += cell.get<std::string>(); // tolerate plain-string cells
        else if (cell.is_object()) text += site.optional_string(cell, json_site::index(at, c), "text");
        else if (!cell.is_null()) site.wrong_type(json_site::index(at, c), "object", cell);
      }
    }
  }
  return text;
}

} // namespace detail

/// Reads a MultimodalQA question file (`MMQA_train.jsonl`, `MMQA_dev.jsonl`, `MMQA_test.jsonl`: one question per
/// line) and, when given, fills the documents from the context files. [allenai/multimodalqa README "Dataset Format"]
///
/// Per question: `id` = `qid`; `question`; `answers` = each `answers[i].answer` (a number answer written as Python's
/// `str` writes it after `json.load`, as the official evaluation does: `4.0` as "4.0", `4` as "4"); `category` =
/// `metadata.type` (e.g. `Compose(TableQ,ImageListQ)`);
/// documents = `metadata.image_doc_ids` (image), `metadata.text_doc_ids` (text), `metadata.table_id` (table) in that
/// order; `gold` = the documents named by `supporting_context`. `info[i]` keeps the answer modality and types.
///
/// Required: `qid`, `question`, and `answer` in each answer object, `doc_id` in each supporting context; the test
/// file's missing `answers` and `supporting_context` are fine. A context line needs `id`. A wrong type, a missing
/// required field or invalid JSON throws `file_error` with the file, the 1-based line, the qid (or context id) and the
/// field path, e.g. `MMQA_dev.jsonl:7: "a33985b1…": answers[0].answer: expected string or number, got array`.
///
/// A line longer than `max_line_bytes`, or a file that cannot be read (a directory), throws `file_error` too.
/// Each file is read once, line by line (one line in memory at a time), plain or gzip-compressed as distributed
/// (`MMQA_dev.jsonl.gz`; told from the content, not the name); the context files keep only documents some question
/// references. O(total bytes); documents per id are found through a hash map.
[[nodiscard]] inline mmqa_dataset load_mmqa(const std::filesystem::path& questions,
                                            const mmqa_load_options& options = {}) {
  constexpr std::string_view fn = "load_mmqa";
  mmqa_dataset out;
  const std::string qname = questions.string();
  const detail::size_limit line_limit{options.max_line_bytes, "mmqa_load_options::max_line_bytes"};
  detail::for_each_jsonl_line(questions, fn, line_limit, [&](std::string_view text, std::uint64_t line) {
    detail::json_site site{fn, qname, line, {}};
    detail::read_mmqa_question(detail::parse_json_line(text, site), site, options, out);
  });

  std::unordered_map<std::string, std::vector<document*>> wanted;
  for (auto& s : out.samples)
    for (auto& d : s.documents) wanted[d.id].push_back(&d);

  const auto read_context = [&](const std::filesystem::path& path, modality kind) {
    if (path.empty()) return;
    const std::string name = path.string();
    detail::for_each_jsonl_line(path, fn, line_limit, [&](std::string_view text, std::uint64_t line) {
      detail::json_site site{fn, name, line, {}};
      const nlohmann::json j = detail::parse_json_line(text, site);
      if (!j.is_object()) site.wrong_type("", "object", j);
      const std::string id = site.string_at(j, "", "id");
      site.record = id;
      const auto it = wanted.find(id);
      if (it == wanted.end()) return;
      std::string title = site.optional_string(j, "", "title");
      std::string url = site.optional_string(j, "", "url");
      std::string body;
      if (kind == modality::text) body = site.optional_string(j, "", "text");
      else if (kind == modality::table)
        if (const auto* t = site.optional_object(j, "", "table")) body = detail::linearise_table(*t, site);
      for (document* d : it->second) {
        if (d->kind != kind) continue;
        d->title = title;
        d->url = url;
        d->text = body;
      }
    });
  };
  read_context(options.texts, modality::text);
  read_context(options.images, modality::image);
  read_context(options.tables, modality::table);

  for (auto& s : out.samples) {
    if (options.attach_image)
      for (auto& d : s.documents)
        if (d.kind == modality::image) d.image = options.attach_image(d);
    if (options.shuffle_seed) detail::shuffle_documents(s, *options.shuffle_seed);
  }
  return out;
}

} // namespace mmrag_rft
