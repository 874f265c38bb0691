// SPDX-License-Identifier: Apache-2.0
// Parse + stage-2 reward of realistic completions, single-threaded and on 2 threads, and the parsers' throughput.
//
//   python3 bench/reference/rewards_reference.py generate rewards.txt --n 100000
//   python3 bench/reference/rewards_reference.py run rewards.txt --totals totals.txt
//   mmrag_rft.bench.rewards.stage2_reward --input=rewards.txt --totals=totals.txt
// The composite is the reference's: 0.5 * format + ranking (NDCG@10) + answer (token F1) + overlong (1024, 256).
// With --totals the program first checks that every total equals the Python reference's (|diff| <= 1e-9).
#include <mmrag_rft/backends.hpp>
#include <mmrag_rft/rewards.hpp>
#include <mmrag_rft/text.hpp>

#include <benchmark/benchmark.h>

#include <cmath>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using namespace mmrag_rft;

namespace {

struct inputs {
  std::vector<completion> completions;
  std::vector<sample> samples;
  std::size_t bytes = 0;
};

// Reads the file format of rewards_reference.py (see its docstring).
inputs load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::string magic, version;
  std::size_t n = 0;
  f >> magic >> version >> n;
  if (magic != "MMRAGRFT-REWARDS" || version != "1") throw std::runtime_error(path + " is not a rewards input file");
  f.get();
  inputs in;
  in.completions.resize(n);
  in.samples.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string line;
    std::getline(f, line);
    std::istringstream h(line);
    std::size_t tokens = 0, docs = 0, answers = 0, size = 0;
    int truncated = 0;
    std::string gold;
    h >> tokens >> truncated >> docs >> gold >> answers >> size;
    sample& s = in.samples[i];
    s.documents.resize(docs);
    if (gold != "-") {
      std::istringstream g(gold);
      for (std::string id; std::getline(g, id, ',');) s.gold.push_back(std::stoul(id));
    }
    for (std::size_t a = 0; a < answers; ++a) {
      std::string ans;
      std::getline(f, ans);
      s.answers.push_back(ans);
    }
    completion& c = in.completions[i];
    c.text.resize(size);
    f.read(c.text.data(), static_cast<std::streamsize>(size));
    f.get();
    c.num_tokens = tokens;
    c.truncated = truncated != 0;
    in.bytes += size;
  }
  if (!f) throw std::runtime_error(path + " is truncated");
  return in;
}

auto make_reward() {
  return composite{weighted(stage2_format(), 0.5), weighted(ranking_rule(), 1.0), weighted(answer_rule(), 1.0),
                   weighted(overlong_penalty({.max_length = 1024, .buffer = 256}), 1.0)};
}

const inputs* data = nullptr;

void set_counters(benchmark::State& state, std::size_t bytes, std::size_t items) {
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * items));
}

// The tag parser alone over every completion (the parser MB/s target).
void bm_tag_parse(benchmark::State& state) {
  const tag_format tags{"think", "rank", "answer"};
  for (auto _ : state) {
    std::size_t ok = 0;
    for (const completion& c : data->completions) ok += tags.parse(c.text).well_formed();
    benchmark::DoNotOptimize(ok);
  }
  set_counters(state, data->bytes, data->completions.size());
}

// Every parser a stage-2 reward runs: tags, then the ranking and the answer normalisation of the sections. The label
// schemes are built before timing, as `ranking_rule` builds its own once (building one per completion allocates nine
// prefix strings, which is not parsing).
void bm_all_parsers(benchmark::State& state) {
  const tag_format tags{"think", "rank", "answer"};
  std::vector<label_scheme> schemes;
  for (const sample& s : data->samples)
    while (schemes.size() <= s.documents.size()) schemes.push_back(label_scheme::shared(schemes.size()));
  ranking_parse rp;
  std::string norm;
  for (auto _ : state) {
    std::size_t n = 0;
    for (std::size_t i = 0; i < data->completions.size(); ++i) {
      const tag_parse p = tags.parse(data->completions[i].text);
      parse_ranking(p[1].content, schemes[data->samples[i].documents.size()], rp);
      normalize_answer(p[2].content, norm);
      n += rp.order.size() + norm.size();
    }
    benchmark::DoNotOptimize(n);
  }
  set_counters(state, data->bytes, data->completions.size());
}

// CPU time of the whole process (all threads): on a loaded machine, wall time also counts other processes' time
// slices, so seq vs par is compared by CPU time per completion (equal CPU time = no parallel overhead).
double process_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

template <class E>
void run_reward(benchmark::State& state, const E& exec) {
  const auto reward = make_reward();
  double sum = 0, cpu = 0;
  for (auto _ : state) {
    const double c0 = process_cpu_seconds();
    const batch_scores r = score_batch(exec, reward, data->completions, data->samples);
    sum = 0;
    for (const double t : r.totals) sum += t;
    benchmark::DoNotOptimize(sum);
    state.counters["format_s"] = r.rule_seconds[0];
    state.counters["ranking_s"] = r.rule_seconds[1];
    state.counters["answer_s"] = r.rule_seconds[2];
    state.counters["length_s"] = r.rule_seconds[3];
    cpu += process_cpu_seconds() - c0;
  }
  state.counters["cpu_us_per_completion"] =
      1e6 * cpu / static_cast<double>(state.iterations()) / static_cast<double>(data->completions.size());
  state.counters["mean_reward"] = sum / static_cast<double>(data->completions.size());
  set_counters(state, data->bytes, data->completions.size());
}
void bm_reward_seq(benchmark::State& state) { run_reward(state, exec::seq); }
void bm_reward_par(benchmark::State& state) {
  run_reward(state, exec::par.with_threads(static_cast<std::size_t>(state.range(0))));
}

// Every total must equal the Python reference's: the two programs implement the same rules.
bool check_totals(const std::string& path) {
  std::ifstream f(path);
  std::vector<double> expected{std::istream_iterator<double>(f), std::istream_iterator<double>()};
  const auto r = score_batch(make_reward(), data->completions, data->samples);
  if (expected.size() != r.size()) {
    std::fprintf(stderr, "totals: %zu values in %s, %zu completions\n", expected.size(), path.c_str(), r.size());
    return false;
  }
  std::size_t bad = 0;
  double worst = 0;
  for (std::size_t i = 0; i < r.size(); ++i) {
    const double d = std::abs(expected[i] - r.totals[i]);
    worst = std::max(worst, d);
    if (d > 1e-9 && bad++ < 5)
      std::fprintf(stderr, "completion %zu: python %.12f, C++ %.12f\n", i, expected[i], r.totals[i]);
  }
  std::printf("agreement with %s: %zu of %zu totals differ by more than 1e-9 (max |diff| %.3g)\n", path.c_str(), bad,
              r.size(), worst);
  return bad == 0;
}

} // namespace

int main(int argc, char** argv) {
  std::string input, totals;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.starts_with("--input=")) input = a.substr(8);
    else if (a.starts_with("--totals=")) totals = a.substr(9);
    else rest.push_back(argv[i]);
  }
  if (input.empty()) {
    std::fprintf(stderr,
                 "usage: %s --input=FILE [--totals=FILE] [benchmark options]\n"
                 "  FILE from: python3 bench/reference/rewards_reference.py generate FILE\n",
                 argv[0]);
    return 2;
  }
  const inputs in = load(input);
  data = &in;
  std::printf("%zu completions, %.1f MB of text\n", in.completions.size(), static_cast<double>(in.bytes) / 1e6);
  if (!totals.empty() && !check_totals(totals)) return 1;

  benchmark::RegisterBenchmark("tag_parse", bm_tag_parse)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("all_parsers", bm_all_parsers)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stage2_reward/seq", bm_reward_seq)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("stage2_reward/par", bm_reward_par)
      ->Arg(1)
      ->Arg(2)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  int n = static_cast<int>(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
