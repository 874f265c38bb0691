// SPDX-License-Identifier: Apache-2.0
#include <mmrag_rft/pipeline/metrics_log.hpp>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

using namespace mmrag_rft;

TEST_SUITE("pipeline") {
TEST_CASE("metrics_log: non-finite values become null in JSONL and empty in CSV") {
  const auto dir = std::filesystem::temp_directory_path() / "mmrag_rft_metrics_log_test";
  std::filesystem::create_directories(dir);
  const std::string prefix = (dir / "m").string();
  {
    metrics_log log(prefix);
    metrics_record r{"eval", 3, {}};
    r.add("a", 0.5);
    r.add("b", std::numeric_limits<double>::quiet_NaN());
    log.write(r);
  }
  std::ifstream jl(prefix + ".jsonl"), csv(prefix + ".csv");
  std::string line;
  std::getline(jl, line);
  CHECK(line == R"({"stage":"eval","step":3,"a":0.5,"b":null})");
  std::getline(csv, line);
  CHECK(line == "stage,step,a,b");
  std::getline(csv, line);
  CHECK(line == "eval,3,0.5,");
  std::filesystem::remove_all(dir);
  CHECK_THROWS_AS(metrics_log("/nonexistent-dir/x/y"), error);
}
} // TEST_SUITE("pipeline")
