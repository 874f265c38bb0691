// SPDX-License-Identifier: Apache-2.0
// Internals of the loaders that keep hostile input bounded and located: size limits, whole-file reads that stop at
// their limit, nlohmann-json error texts without nlohmann's own (whole-file) location, the line of a syntax error in
// a document held in memory.
// IWYU pragma: private, include <mmrag_rft/data.hpp>
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/data/detail/compressed_file.hpp>
#include <mmrag_rft/data/file_error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

namespace mmrag_rft::detail {

/// A cap on the bytes one read may hold in memory, and the option that sets it (named in the error past it).
struct size_limit {
  std::size_t bytes;
  std::string_view option;
};

/// "<what> than N bytes (<option>)", the message of a read stopped at `limit`.
[[nodiscard]] inline std::string past_limit(std::string_view what, size_limit limit) {
  return std::string(what) + " than " + std::to_string(limit.bytes) + " bytes (" + std::string(limit.option) + ")";
}

/// "read error: <reason>" for the errno a failed read left.
[[nodiscard]] inline std::string read_error_text(int err) {
  return "read error: " + std::error_code(err, std::generic_category()).message();
}

/// The text of a nlohmann-json exception without its "[json.exception.…] " tag and, for a parse error, without its
/// "parse error at line 1, column 9: " prefix: the caller's location replaces it (nlohmann counts on the text it
/// was given, which for a JSONL line is not the file).
[[nodiscard]] inline std::string json_error_text(const nlohmann::json::exception& e) {
  std::string msg = e.what();
  if (const auto p = msg.find("] "); msg.rfind("[json.exception", 0) == 0 && p != std::string::npos)
    msg.erase(0, p + 2);
  if (const auto p = msg.find(": "); msg.rfind("parse error", 0) == 0 && p != std::string::npos) msg.erase(0, p + 2);
  return msg;
}

/// The whole of a file, read in chunks and stopped as soon as it passes `limit` (a FIFO fed from /dev/zero, a huge
/// sparse file), so memory stays at the limit. Errors name `function`, the file and the reason.
[[nodiscard]] inline std::string read_whole_file(const std::filesystem::path& path, std::string_view function,
                                                 size_limit limit) {
  compressed_file file(path, function); // plain or gzip, told from the content; located open and read errors
  std::string text;
  constexpr std::size_t chunk = std::size_t{1} << 16;
  for (;;) {
    const std::size_t have = text.size();
    // One byte past the limit is enough to know it is passed.
    const std::size_t want = std::min(chunk, limit.bytes - std::min(limit.bytes, have) + 1);
    text.resize(have + want);
    const std::size_t n = file.read(text.data() + have, want);
    text.resize(have + n);
    if (text.size() > limit.bytes)
      throw file_error(function, path.string(), file_error::unknown, text.size() - 1, "", "",
                       past_limit("file larger", limit));
    if (n < want) return text;
  }
}

/// Where a JSON text in memory first fails to parse: the 1-based line and the reason; `line == 0` when it parses.
/// Used to locate the error of a whole-file document, which nlohmann reports by byte and which the loaders
/// report by line.
struct json_syntax_error {
  std::uint64_t line = 0;
  std::string message;
};

/// A SAX consumer that accepts every value and keeps the first error's position.
class json_error_locator {
public:
  using number_integer_t = nlohmann::json::number_integer_t;
  using number_unsigned_t = nlohmann::json::number_unsigned_t;
  using number_float_t = nlohmann::json::number_float_t;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  bool null() { return true; }
  bool boolean(bool) { return true; }
  bool number_integer(number_integer_t) { return true; }
  bool number_unsigned(number_unsigned_t) { return true; }
  bool number_float(number_float_t, const string_t&) { return true; }
  bool string(string_t&) { return true; }
  bool binary(binary_t&) { return true; }
  bool start_object(std::size_t) { return true; }
  bool key(string_t&) { return true; }
  bool end_object() { return true; }
  bool start_array(std::size_t) { return true; }
  bool end_array() { return true; }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::json::exception& e) {
    position_ = position;
    message_ = json_error_text(e);
    return false;
  }

  [[nodiscard]] json_syntax_error locate(std::string_view text) {
    if (nlohmann::json::sax_parse(text, this)) return {};
    // nlohmann's position counts the bytes read, the offending one included.
    const std::size_t at = std::min(position_ > 0 ? position_ - 1 : 0, text.size());
    const auto newlines = std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n');
    return {static_cast<std::uint64_t>(newlines) + 1, message_};
  }

private:
  std::size_t position_ = 0;
  std::string message_;
};

[[nodiscard]] inline json_syntax_error locate_json_error(std::string_view text) {
  json_error_locator locator;
  return locator.locate(text);
}

} // namespace mmrag_rft::detail
