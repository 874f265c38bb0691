// SPDX-License-Identifier: Apache-2.0
// The error of the data loaders and the evaluator: which file, which line and byte, which record and field.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace mmrag_rft {

/// A malformed or unreadable data file, located down to the field.
///
/// `what()` reads `load_webqa: val.json:1 (byte 5120): "d5bbc0…": img_posFacts[2].image_id: expected integer, got
/// string`: the loader, the file, the 1-based line and the 0-based byte offset where the parser stood (the last byte
/// of the offending value or of the token it could not accept; JSONL files give the line only), the record (WebQA Guid
/// or MultimodalQA qid, when known) and the field path inside that record. `argument()` is `file:line (byte offset):`.
class file_error : public error {
public:
  static constexpr std::uint64_t unknown = static_cast<std::uint64_t>(-1);

  file_error(std::string_view function, std::string_view file, std::uint64_t line, std::uint64_t byte_offset,
             std::string_view record, std::string_view field, std::string_view message)
      : error(function, location(file, line, byte_offset), detail_text(record, field, message)), file_(file),
        line_(line), byte_offset_(byte_offset), record_(record), field_(field), message_(message) {}

  [[nodiscard]] const std::string& file() const noexcept { return file_; }
  /// 1-based line, or `unknown`.
  [[nodiscard]] std::uint64_t line() const noexcept { return line_; }
  /// 0-based byte offset into the file, or `unknown`.
  [[nodiscard]] std::uint64_t byte_offset() const noexcept { return byte_offset_; }
  /// WebQA Guid or MultimodalQA qid of the record, empty when the error is outside any record.
  [[nodiscard]] const std::string& record() const noexcept { return record_; }
  /// Field path inside the record, e.g. `img_posFacts[2].image_id`; empty for syntax errors.
  [[nodiscard]] const std::string& field() const noexcept { return field_; }
  /// What was wrong, e.g. `expected integer, got string`.
  [[nodiscard]] const std::string& message() const noexcept { return message_; }

private:
  static std::string location(std::string_view file, std::uint64_t line, std::uint64_t byte_offset) {
    std::string s(file);
    if (line != unknown) s.append(":").append(std::to_string(line));
    if (byte_offset != unknown) s.append(" (byte ").append(std::to_string(byte_offset)).append(")");
    s.append(":");
    return s;
  }
  static std::string detail_text(std::string_view record, std::string_view field, std::string_view message) {
    std::string s;
    if (!record.empty()) s.append("\"").append(record).append("\": ");
    if (!field.empty()) s.append(field).append(": ");
    s.append(message);
    return s;
  }

  std::string file_;
  std::uint64_t line_;
  std::uint64_t byte_offset_;
  std::string record_;
  std::string field_;
  std::string message_;
};

} // namespace mmrag_rft
