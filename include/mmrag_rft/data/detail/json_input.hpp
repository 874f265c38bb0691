// SPDX-License-Identifier: Apache-2.0
// Internals of the loaders: a byte stream over a file (plain or gzip) or a buffer that knows its offset and line,
// read by nlohmann-json through an input iterator, and JSONL line reading.
// IWYU pragma: private, include <mmrag_rft/data.hpp>
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/data/detail/compressed_file.hpp>
#include <mmrag_rft/data/detail/json_limits.hpp>
#include <mmrag_rft/data/file_error.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace mmrag_rft::detail {

/// Bytes of a file read in fixed chunks (or of a caller's buffer), with the offset and line of the next byte.
/// One chunk lives in memory at a time, so a file of any size is parsed in one pass without a copy of the whole.
class byte_source {
public:
  // 1 MiB: larger chunks did not change the load time of the 464 MB synthetic WebQA file (docs/performance.md).
  static constexpr std::size_t chunk = std::size_t{1} << 20;

  byte_source(std::string_view text) : data_(text.data()), len_(text.size()) {}

  /// Reads `path`, decompressing it when its content is gzip (see `compressed_file`).
  byte_source(const std::filesystem::path& path, std::string_view function)
      : file_(std::make_unique<compressed_file>(path, function)) {
    buf_.resize(chunk);
    data_ = buf_.data();
    refill(); // a directory opens and fails here; the file closes with its owner
  }
  byte_source(const byte_source&) = delete;
  byte_source& operator=(const byte_source&) = delete;

  [[nodiscard]] bool at_end() const noexcept { return pos_ == len_; }
  [[nodiscard]] char peek() const noexcept { return data_[pos_]; }
  void advance() {
    if (++pos_ == len_ && file_) refill();
  }
  /// 0-based offset of the next byte.
  [[nodiscard]] std::uint64_t offset() const noexcept { return base_ + pos_; }
  /// 1-based line of the next byte.
  [[nodiscard]] std::uint64_t line() const noexcept {
    return lines_before_ + 1 + static_cast<std::uint64_t>(std::count(data_, data_ + pos_, '\n'));
  }

private:
  void refill() {
    lines_before_ += static_cast<std::uint64_t>(std::count(data_, data_ + len_, '\n'));
    base_ += len_;
    pos_ = 0;
    len_ = file_->read(buf_.data(), buf_.size());
  }

  std::unique_ptr<compressed_file> file_;
  std::vector<char> buf_;
  const char* data_ = nullptr;
  std::size_t len_ = 0;
  std::size_t pos_ = 0;
  std::uint64_t base_ = 0;
  std::uint64_t lines_before_ = 0;
};

/// The input iterator nlohmann-json reads a `byte_source` through; a default-constructed one is the end.
class byte_iterator {
public:
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = char;

  byte_iterator() = default;
  explicit byte_iterator(byte_source& s) : s_(&s) {}
  [[nodiscard]] char operator*() const noexcept { return s_->peek(); }
  byte_iterator& operator++() {
    s_->advance();
    return *this;
  }
  void operator++(int) { s_->advance(); }
  [[nodiscard]] friend bool operator==(const byte_iterator& a, const byte_iterator& b) noexcept {
    return a.done() == b.done();
  }

private:
  [[nodiscard]] bool done() const noexcept { return !s_ || s_->at_end(); }
  byte_source* s_ = nullptr;
};

/// The JSON type of a value as an error message names it.
[[nodiscard]] inline std::string_view json_type_name(const nlohmann::json& j) noexcept {
  switch (j.type()) {
  case nlohmann::json::value_t::null: return "null";
  case nlohmann::json::value_t::boolean: return "boolean";
  case nlohmann::json::value_t::number_integer:
  case nlohmann::json::value_t::number_unsigned: return "integer";
  case nlohmann::json::value_t::number_float: return "number";
  case nlohmann::json::value_t::string: return "string";
  case nlohmann::json::value_t::array: return "array";
  case nlohmann::json::value_t::object: return "object";
  default: return "binary";
  }
}

/// A floating-point answer as Python's `str(float)` writes it (`2.0`, `0.5`, `1e+16`), because the official
/// MultimodalQA evaluation compares `str(answer)`.
[[nodiscard]] inline std::string python_float_str(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[400];
  // Python's repr: the shortest round-trip digits, in exponent form from 1e16 up and below 1e-4.
  const double a = v < 0 ? -v : v;
  if (a >= 1e16 || (a != 0 && a < 1e-4)) {
    const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    const std::string s(buf, r.ptr);
    const auto e = s.find('e');
    std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
    const char sign = exponent[0] == '-' ? '-' : '+';
    if (exponent[0] == '-' || exponent[0] == '+') exponent.erase(0, 1);
    // Python writes at least two exponent digits with a sign: 1e+16, 1e-05.
    if (exponent.size() < 2) exponent.insert(0, "0");
    return mantissa + "e" + sign + exponent;
  }
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  std::string s(buf, r.ptr);
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

/// A JSON number as Python's `str` writes what `json.load` makes of it: an integer token stays an int (`3`, any
/// size), a token with a fraction or an exponent is a float (`3.0`). Scoring `str(answer)` depends on the difference.
[[nodiscard]] inline std::string python_number_str(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<std::int64_t>());
  return python_float_str(v.get<double>());
}

/// Where a DOM value came from, for errors: the loader, the file, the line, and the record id once known.
struct json_site {
  std::string_view function;
  std::string_view file;
  std::uint64_t line = file_error::unknown;
  std::string record;

  [[noreturn]] void fail(std::string_view field, std::string_view message) const {
    throw file_error(function, file, line, file_error::unknown, record, field, message);
  }
  [[noreturn]] void wrong_type(std::string_view field, std::string_view expected, const nlohmann::json& got) const {
    fail(field, "expected " + std::string(expected) + ", got " + std::string(json_type_name(got)));
  }
  /// The member `key` of object `obj` (whose path is `at`), or nullptr when it is absent or null.
  [[nodiscard]] const nlohmann::json* find(const nlohmann::json& obj, std::string_view key) const {
    const auto it = obj.find(key);
    return it == obj.end() || it->is_null() ? nullptr : &*it;
  }
  [[nodiscard]] static std::string join(std::string_view at, std::string_view key) {
    return at.empty() ? std::string(key) : std::string(at).append(".").append(key);
  }
  [[nodiscard]] static std::string index(std::string_view at, std::size_t i) {
    return std::string(at).append("[").append(std::to_string(i)).append("]");
  }
  /// A required string member; a number is not accepted in its place.
  [[nodiscard]] std::string string_at(const nlohmann::json& obj, std::string_view at, std::string_view key) const {
    const auto* v = find(obj, key);
    if (!v) fail(join(at, key), "missing required field");
    if (!v->is_string()) wrong_type(join(at, key), "string", *v);
    return v->get<std::string>();
  }
  /// An optional string member: absent or null gives "".
  [[nodiscard]] std::string optional_string(const nlohmann::json& obj, std::string_view at,
                                            std::string_view key) const {
    const auto* v = find(obj, key);
    if (!v) return {};
    if (!v->is_string()) wrong_type(join(at, key), "string", *v);
    return v->get<std::string>();
  }
  /// An optional array member: absent or null gives nullptr.
  [[nodiscard]] const nlohmann::json* optional_array(const nlohmann::json& obj, std::string_view at,
                                                     std::string_view key) const {
    const auto* v = find(obj, key);
    if (v && !v->is_array()) wrong_type(join(at, key), "array", *v);
    return v;
  }
  /// An optional object member: absent or null gives nullptr.
  [[nodiscard]] const nlohmann::json* optional_object(const nlohmann::json& obj, std::string_view at,
                                                      std::string_view key) const {
    const auto* v = find(obj, key);
    if (v && !v->is_object()) wrong_type(join(at, key), "object", *v);
    return v;
  }
};

/// Calls `f(line_text, line_number)` for each non-blank line of a JSONL file, plain or gzip (1-based numbers); a
/// line is read into one reused buffer, so memory stays at the longest line, and a line longer than `limit` is a
/// located error (an endless line, e.g. /dev/zero through a FIFO, stops there instead of growing until allocation
/// fails). A read error (a truncated or corrupt gzip stream) is located at the 1-based line of the decompressed
/// content that the failed read would have continued, and at the offset in decompressed bytes.
template <class F>
void for_each_jsonl_line(const std::filesystem::path& path, std::string_view function, size_limit limit, F&& f) {
  const std::string name = path.string();
  compressed_file file(path, function);
  std::string line;
  std::vector<char> buf(std::size_t{1} << 16);
  std::uint64_t number = 0;
  bool pending = false;
  const auto append = [&](const char* p, std::size_t n) {
    if (n > limit.bytes - line.size())
      throw file_error(function, name, number + 1, file_error::unknown, "", "", past_limit("line longer", limit));
    line.append(p, n);
  };
  const auto flush = [&] {
    ++number;
    if (line.find_first_not_of(" \t\r\n") != std::string::npos) f(std::string_view(line), number);
    line.clear();
  };
  for (;;) {
    std::size_t n = 0;
    try {
      n = file.read(buf.data(), buf.size());
    } catch (const file_error& e) {
      // A damaged gzip stream: located at the first line the failed read would have completed, so that the error
      // names a line of the file's content like every other error of a JSONL file.
      throw file_error(e.function(), e.file(), number + 1, e.byte_offset(), e.record(), e.field(), e.message());
    }
    if (n == 0) break;
    std::size_t start = 0;
    for (;;) {
      const void* nl = std::memchr(buf.data() + start, '\n', n - start);
      if (!nl) {
        append(buf.data() + start, n - start);
        pending = true;
        break;
      }
      const std::size_t end = static_cast<std::size_t>(static_cast<const char*>(nl) - buf.data());
      append(buf.data() + start, end - start);
      flush();
      pending = false;
      start = end + 1;
    }
  }
  if (pending || !line.empty()) flush();
}

/// Parses one JSONL line into a DOM, turning a syntax error or a number out of range (`1e999`, which nlohmann
/// reports as out_of_range, not as a parse error) into a located `file_error`.
[[nodiscard]] inline nlohmann::json parse_json_line(std::string_view text, const json_site& site) {
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw file_error(site.function, site.file, site.line, file_error::unknown, "", "",
                     "invalid JSON: " + json_error_text(e));
  }
}

} // namespace mmrag_rft::detail
