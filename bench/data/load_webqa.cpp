// SPDX-License-Identifier: Apache-2.0
// WebQA loading and scoring throughput. With MMRAG_RFT_WEBQA_FILE (and MMRAG_RFT_WEBQA_PRED) set, it measures that
// file (e.g. one written by make_webqa_like.py); otherwise an in-memory synthetic file of the same shape.
#include <mmrag_rft/data/webqa.hpp>
#include <mmrag_rft/eval.hpp>

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

// A WebQA-shaped JSON text of `records` records, ~11 kB each as in the real file (~30 facts per question).
std::string synthetic_webqa(int records) {
  std::string s = "{";
  std::uint64_t img = 30000000;
  const std::string words = "the old stone bridge crosses the river near the red mill and the tall clock tower";
  for (int r = 0; r < records; ++r) {
    const std::string guid = "d5bbc" + std::to_string(1000000 + r);
    s += (r ? ", \"" : "\"") + guid + "\": {\"Q\": \"\\\"" + words + "?\\\"\", \"A\": [\"\\\"" + words +
         ".\\\"\"], \"topic\": \"town\", \"split\": \"val\", \"Qcate\": \"Others\", \"Guid\": \"" + guid + "\", ";
    const auto img_fact = [&] {
      return "{\"image_id\": " + std::to_string(++img) + ", \"title\": \"" + words.substr(0, 30) +
             "\", \"caption\": \"" + words +
             "\", \"url\": \"https://commons.wikimedia.org/wiki/File:x.jpg\", \"imgUrl\": " +
             "\"https://upload.wikimedia.org/wikipedia/commons/a/ab/x.jpg\"}";
    };
    const auto txt_fact = [&](int i) {
      return "{\"title\": \"" + words.substr(0, 20) + "\", \"fact\": \"" + words + " " + words + " " + words +
             "\", \"url\": \"https://en.wikipedia.org/wiki/X\", \"snippet_id\": \"" + guid + "_" + std::to_string(i) +
             "\"}";
    };
    s += "\"img_posFacts\": [" + img_fact() + "], \"img_negFacts\": [";
    for (int i = 0; i < 16; ++i) s += (i ? ", " : "") + img_fact();
    s += "], \"txt_posFacts\": [], \"txt_negFacts\": [";
    for (int i = 0; i < 15; ++i) s += (i ? ", " : "") + txt_fact(i);
    s += "]}";
  }
  return s + "}";
}

void bm_parse_webqa_memory(benchmark::State& state) {
  const std::string text = synthetic_webqa(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto samples = mmrag_rft::parse_webqa(text);
    benchmark::DoNotOptimize(samples.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(text.size()));
  state.counters["MB"] = static_cast<double>(text.size()) / 1e6;
}
BENCHMARK(bm_parse_webqa_memory)->Arg(500)->Unit(benchmark::kMillisecond);

void bm_load_webqa_file(benchmark::State& state) {
  const char* path = std::getenv("MMRAG_RFT_WEBQA_FILE");
  if (!path) {
    state.SkipWithError("set MMRAG_RFT_WEBQA_FILE to a WebQA-shaped file");
    return;
  }
  const auto bytes = std::filesystem::file_size(path);
  for (auto _ : state) {
    auto samples = mmrag_rft::load_webqa(path);
    benchmark::DoNotOptimize(samples.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * static_cast<std::int64_t>(bytes));
}
BENCHMARK(bm_load_webqa_file)->Unit(benchmark::kMillisecond)->Iterations(3);

void bm_evaluate_webqa(benchmark::State& state) {
  const char* path = std::getenv("MMRAG_RFT_WEBQA_FILE");
  const char* pred = std::getenv("MMRAG_RFT_WEBQA_PRED");
  if (!path || !pred) {
    state.SkipWithError("set MMRAG_RFT_WEBQA_FILE and MMRAG_RFT_WEBQA_PRED");
    return;
  }
  mmrag_rft::webqa_load_options lo;
  lo.split = "val";
  const auto gold = mmrag_rft::load_webqa(path, lo);
  const auto preds = mmrag_rft::load_predictions(pred);
  mmrag_rft::eval_options o;
  o.keep_questions = false;
  for (auto _ : state) {
    auto r = mmrag_rft::evaluate_webqa(gold, preds, o);
    benchmark::DoNotOptimize(r.overall.accuracy);
  }
  state.counters["questions"] = static_cast<double>(gold.size());
}
BENCHMARK(bm_evaluate_webqa)->Unit(benchmark::kMillisecond);

} // namespace

BENCHMARK_MAIN();
