// SPDX-License-Identifier: Apache-2.0
// Shared by the data and eval tests: write a test file gzip-compressed (one or several members) or plain.
#pragma once
#include <zlib.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace mmrag_rft::test {

/// The content of `path` as bytes.
inline std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Writes each of `members` as one gzip member of the file `name` in the temporary directory (several members make
/// the concatenated stream that `cat a.gz b.gz` gives) and returns its path.
inline std::filesystem::path write_gzip(const std::string& name, const std::vector<std::string>& members) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::filesystem::remove(path);
  for (const auto& m : members) {
    gzFile f = gzopen(path.string().c_str(), "ab");
    REQUIRE(f != nullptr);
    REQUIRE(gzwrite(f, m.data(), static_cast<unsigned>(m.size())) == static_cast<int>(m.size()));
    REQUIRE(gzclose(f) == Z_OK);
  }
  return path;
}

/// Writes `text` uncompressed to the file `name` in the temporary directory and returns its path.
inline std::filesystem::path write_plain(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / name;
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

} // namespace mmrag_rft::test
