// SPDX-License-Identifier: Apache-2.0
// Fuzz target: load_mmqa on any bytes. The first byte picks the line limit and the shuffle; the rest is the
// question file, then (after a 0x1e byte) the texts file, then (after another) the tables file, each written to a
// temporary file, as the loader reads files only.
#include <mmrag_rft/data/mmqa.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>
#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

namespace {

using mmrag_rft::fuzz::check;

std::filesystem::path fuzz_file(const char* role) {
  long id = 0;
#if __has_include(<unistd.h>)
  id = static_cast<long>(::getpid()); // parallel fuzzing jobs must not share files
#endif
  // Memory-backed where there is one: the files are rewritten for every input.
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::is_directory("/dev/shm", ec)
                                        ? std::filesystem::path("/dev/shm")
                                        : std::filesystem::temp_directory_path();
  return dir / ("mmrag_rft_fuzz_mmqa_" + std::to_string(id) + "_" + role + ".jsonl");
}

void write_file(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

std::size_t nonblank_lines(std::string_view text) {
  std::size_t n = 0;
  for (const auto line : mmrag_rft::fuzz::split(text, '\n'))
    n += line.find_first_not_of(" \t\r\n") != std::string_view::npos;
  return n;
}

std::size_t longest_line(std::string_view text) {
  std::size_t n = 0;
  for (const auto line : mmrag_rft::fuzz::split(text, '\n')) n = std::max(n, line.size());
  return n;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::filesystem::path qpath = fuzz_file("q"), tpath = fuzz_file("texts"), bpath = fuzz_file("tables");
  const std::uint8_t flags = size > 0 ? data[0] : 0;
  const auto parts = mmrag_rft::fuzz::split(mmrag_rft::fuzz::after_first(data, size), '\x1e');
  const std::string_view questions = parts[0];
  const std::string_view texts = parts.size() > 1 ? parts[1] : std::string_view{};
  const std::string_view tables = parts.size() > 2 ? parts[2] : std::string_view{};
  write_file(qpath, questions);
  mmrag_rft::mmqa_load_options o;
  if (parts.size() > 1) write_file(tpath, texts), o.texts = tpath;
  if (parts.size() > 2) write_file(bpath, tables), o.tables = bpath;
  if (flags & 1) o.max_line_bytes = 8 + (flags >> 2); // 8..71: the limit itself is exercised
  if (flags & 2) o.shuffle_seed = flags;

  try {
    const mmrag_rft::mmqa_dataset d = mmrag_rft::load_mmqa(qpath, o);
    check(d.samples.size() == nonblank_lines(questions), "one sample per non-blank question line");
    check(d.info.size() == d.samples.size(), "one info per sample");
    std::size_t longest = longest_line(questions);
    if (!o.texts.empty()) longest = std::max(longest, longest_line(texts));
    if (!o.tables.empty()) longest = std::max(longest, longest_line(tables));
    check(longest <= o.max_line_bytes, "a line past the limit is never accepted");
    for (const auto& s : d.samples) {
      for (std::size_t i = 0; i < s.gold.size(); ++i) {
        check(s.gold[i] < s.documents.size(), "gold indexes the documents");
        for (std::size_t j = 0; j < i; ++j) check(s.gold[j] != s.gold[i], "gold is distinct");
      }
    }
  } catch (const mmrag_rft::file_error& e) {
    check(e.function() == "load_mmqa", "an error names the loader");
    const std::string_view file = e.file();
    const std::string_view text = file == qpath.string()   ? questions
                                  : file == tpath.string() ? texts
                                  : file == bpath.string() ? tables
                                                           : std::string_view{};
    check(file == qpath.string() || file == tpath.string() || file == bpath.string(),
          "an error names one of the files");
    // A file that starts with the gzip magic is read as gzip: its lines are those of the decompressed content.
    const bool gzip = text.size() >= 2 && text[0] == '\x1f' && text[1] == '\x8b';
    check(e.line() >= 1 &&
              (gzip ? e.line() != mmrag_rft::file_error::unknown : e.line() <= mmrag_rft::fuzz::line_count(text)),
          "an error's line lies in its file");
  }
  return 0;
}
