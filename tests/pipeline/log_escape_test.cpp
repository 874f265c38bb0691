// SPDX-License-Identifier: Apache-2.0
// metrics_log and progress_bar on names and counts a caller does not control.
#include <mmrag_rft/pipeline/metrics_log.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <string>

using namespace mmrag_rft;

TEST_SUITE("pipeline") {

TEST_CASE("metrics_log: stage and value names are escaped in JSONL and quoted in CSV") {
  const auto dir = std::filesystem::temp_directory_path() / "mmrag_rft_metrics_log_escape_test";
  std::filesystem::create_directories(dir);
  const std::string prefix = (dir / "m").string();
  {
    metrics_log log(prefix);
    metrics_record r{"st\"a\\ge,1\n", 2, {}};
    r.add("reward/a,\"b\"/mean", 1.0);
    r.add(std::string("c\x01") + "\t", 0.25);
    log.write(r);
  }
  std::ifstream jl(prefix + ".jsonl"), csv(prefix + ".csv");
  const std::string jsonl((std::istreambuf_iterator<char>(jl)), std::istreambuf_iterator<char>());
  CHECK(jsonl == "{\"stage\":\"st\\\"a\\\\ge,1\\n\",\"step\":2,\"reward/a,\\\"b\\\"/mean\":1,\"c\\u0001\\t\":0.25}\n");
  const std::string table((std::istreambuf_iterator<char>(csv)), std::istreambuf_iterator<char>());
  CHECK(table == "stage,step,\"reward/a,\"\"b\"\"/mean\",c\x01\t\n\"st\"\"a\\ge,1\n\",2,1,0.25\n");
  std::filesystem::remove_all(dir);
}

TEST_CASE("progress_bar: a count past the total draws a full bar instead of throwing") {
  progress_bar bar("stage", 3);
  CHECK_NOTHROW(bar.update(0, "start"));
  CHECK_NOTHROW(bar.update(3, "done"));
  CHECK_NOTHROW(bar.update(5, "extra"));
  progress_bar none("empty", 0);
  CHECK_NOTHROW(none.update(2, "x"));
}

} // TEST_SUITE("pipeline")
