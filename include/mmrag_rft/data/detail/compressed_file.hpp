// SPDX-License-Identifier: Apache-2.0
// Reading a data file that may be gzip-compressed, decided from its first bytes (not its name), through zlib.
// IWYU pragma: private, include <mmrag_rft/data.hpp>
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/data/file_error.hpp>

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace mmrag_rft::detail {

/// A file opened for reading whose bytes are its content when it is a gzip stream (magic bytes 1f 8b, one or
/// several members) and its bytes as they are otherwise: zlib's gzread detects the format from the content, so
/// `MMQA_dev.jsonl.gz` and the same file renamed, or decompressed, read alike. Errors are `file_error`s naming the
/// function and the file; a truncated or corrupt stream is a read error at the offset (in decompressed bytes)
/// where it was found.
class compressed_file {
public:
  compressed_file(const std::filesystem::path& path, std::string_view function)
      : function_(function), name_(path.string()) {
    errno = 0;
    gz_ = gzopen(name_.c_str(), "rb");
    if (!gz_) {
      const std::error_code ec(errno ? errno : ENOMEM, std::generic_category());
      throw file_error(function_, name_, file_error::unknown, file_error::unknown, "", "",
                       "cannot be opened: " + ec.message());
    }
    // 128 KiB of zlib input buffer: fewer read calls on large files; the default is 8 KiB.
    gzbuffer(gz_, 1U << 17);
  }
  compressed_file(const compressed_file&) = delete;
  compressed_file& operator=(const compressed_file&) = delete;
  ~compressed_file() {
    if (gz_) gzclose(gz_);
  }

  /// Reads up to `size` bytes of content into `out`; fewer only at the end of the content. Throws `file_error` on
  /// a read error or a damaged gzip stream.
  [[nodiscard]] std::size_t read(char* out, std::size_t size) {
    std::size_t total = 0;
    while (total < size) {
      const auto want = static_cast<unsigned>(std::min<std::size_t>(size - total, INT_MAX));
      const int n = gzread(gz_, out + total, want);
      if (n < 0) fail();
      if (n == 0) {
        // gzread also returns 0 when a gzip stream ends early; zlib then reports Z_BUF_ERROR.
        int code = Z_OK;
        (void)gzerror(gz_, &code);
        if (code != Z_OK) fail();
        break;
      }
      total += static_cast<std::size_t>(n);
      offset_ += static_cast<std::uint64_t>(n);
    }
    return total;
  }

  /// Whether the file is a gzip stream (known after the first read).
  [[nodiscard]] bool compressed() const { return gzdirect(gz_) == 0; }

  /// The whole content (for files that are parsed at once, such as predictions).
  [[nodiscard]] std::string read_all() {
    std::string text;
    constexpr std::size_t step = std::size_t{1} << 20;
    for (std::size_t n = step; n == step;) {
      const std::size_t at = text.size();
      text.resize(at + step);
      n = read(text.data() + at, step);
      text.resize(at + n);
    }
    return text;
  }

private:
  [[noreturn]] void fail() const {
    int code = Z_OK;
    const char* msg = gzerror(gz_, &code);
    std::string what = code == Z_ERRNO ? std::error_code(errno, std::generic_category()).message()
                                       : std::string(msg ? msg : "unknown zlib error");
    throw file_error(function_, name_, file_error::unknown, offset_, "", "", "read error: " + what);
  }

  std::string function_;
  std::string name_;
  gzFile gz_ = nullptr;
  std::uint64_t offset_ = 0;
};

} // namespace mmrag_rft::detail
