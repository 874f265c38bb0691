// SPDX-License-Identifier: Apache-2.0
// Telling a WebQA gold file from a MultimodalQA one by its content, compressed or not, whatever its name.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/data/detail/compressed_file.hpp>
#include <mmrag_rft/data/file_error.hpp>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace mmrag_rft {

/// The gold formats the loaders read: `load_webqa`'s single object and `load_mmqa`'s JSONL.
enum class gold_format { webqa, mmqa };

namespace detail {

// The members of a MultimodalQA question (MMQA_*.jsonl), any of which may come first on its line.
inline constexpr std::string_view mmqa_question_keys[] = {"qid", "question", "answers", "metadata",
                                                          "supporting_context"};

// The format `text` (the start of a file) begins with, or nullopt when it begins with neither. The first member of
// the first object decides: a MultimodalQA question field, or a key whose value is an object (a WebQA Guid mapping
// to its record). Only the first key is looked at, so a prefix of a few KiB is enough.
[[nodiscard]] inline std::optional<gold_format> gold_format_of(std::string_view text) {
  std::size_t i = 0;
  const auto skip_space = [&] {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
  };
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3; // a UTF-8 byte order mark
  skip_space();
  if (i >= text.size() || text[i] != '{') return std::nullopt;
  ++i;
  skip_space();
  if (i >= text.size() || text[i] != '"') return std::nullopt;
  std::string key;
  for (++i; i < text.size() && text[i] != '"'; ++i) {
    if (text[i] == '\\') ++i; // an escaped character: no field name of either format has one
    if (i < text.size()) key.push_back(text[i]);
  }
  if (i >= text.size()) return std::nullopt;
  ++i;
  const auto* const mmqa_end = std::end(mmqa_question_keys);
  if (std::find(std::begin(mmqa_question_keys), mmqa_end, key) != mmqa_end) return gold_format::mmqa;
  skip_space();
  if (i >= text.size() || text[i] != ':') return std::nullopt;
  ++i;
  skip_space();
  if (i < text.size() && text[i] == '{') return gold_format::webqa;
  return std::nullopt;
}

} // namespace detail

/// The format of the gold file `path`, read from its content: a MultimodalQA JSONL file (`MMQA_dev.jsonl`, its
/// first line a question object with `qid`, `question`, ...) or a WebQA object (`WebQA_train_val.json`,
/// `{guid: {...}, ...}`), plain or gzip-compressed (`MMQA_dev.jsonl.gz`), whatever the file is called.
///
/// Reads at most the first 64 KiB of content. Throws `file_error` (naming this function and the file) when the file
/// cannot be opened or read, or begins with neither format. Example: a renamed `MMQA_dev.jsonl.gz` called
/// `gold.dat` gives `gold_format::mmqa`.
[[nodiscard]] inline gold_format detect_gold_format(const std::filesystem::path& path) {
  constexpr std::string_view fn = "detect_gold_format";
  detail::compressed_file file(path, fn);
  std::string head(std::size_t{1} << 16, '\0');
  head.resize(file.read(head.data(), head.size()));
  if (const auto f = detail::gold_format_of(head)) return *f;
  throw file_error(fn, path.string(), 1, file_error::unknown, "", "",
                   "neither a WebQA gold object ({guid: {...}}) nor MultimodalQA JSONL (one question object a line, "
                   "with qid)");
}

} // namespace mmrag_rft
