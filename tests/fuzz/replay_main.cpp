// SPDX-License-Identifier: Apache-2.0
// Replays a fuzz target over files and directories given on the command line, so a compiler without libFuzzer (g++)
// runs every corpus input through the same LLVMFuzzerTestOneInput under the sanitizers of the build.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {
bool replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", file.c_str());
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // A copy of exactly the input's size, so ASan sees any read past its end.
  std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  (void)LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
  return true;
}
} // namespace

int main(int argc, char** argv) {
  std::size_t runs = 0;
  bool ok = true;
  for (int a = 1; a < argc; ++a) {
    const std::filesystem::path p(argv[a]);
    std::vector<std::filesystem::path> files;
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p))
        if (e.is_regular_file()) files.push_back(e.path());
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(p);
    }
    for (const auto& f : files) {
      ok = replay(f) && ok;
      ++runs;
    }
  }
  (void)LLVMFuzzerTestOneInput(nullptr, 0); // the empty input is always part of the corpus
  std::printf("replayed %zu inputs\n", runs);
  if (runs == 0) std::fprintf(stderr, "no corpus inputs found\n");
  return ok && runs > 0 ? 0 : 1;
}
