// SPDX-License-Identifier: Apache-2.0
// The two-stage MMRAG-RFT demo: a small multi-modal LibTorch policy is warm-started on a few examples, trained with
// stage-1 GRPO (point-wise relevance) and stage-2 GRPO (list-wise ranking + answer) through mmrag_rft's pipeline, and
// evaluated on held-out questions before RL, after stage 1 and after stage 2. With --world-size N it is one of N
// data-parallel processes over a c10d Gloo group: each holds a shard of every RL step's prompts, the library's
// rft_step(comm, ...) computes the group statistics, loss normalisers and metrics over the ranks, the policy averages
// (or sums) its gradients over them, and rank 0 alone evaluates and writes.
#include "demo_data.hpp"
#include "rewards.hpp"
#include "teacher.hpp"
#include "tokenizer.hpp"
#include "torch_policy.hpp"

#include <mmrag_rft/eval/explanation_record.hpp>
#include <mmrag_rft/eval/report_html.hpp>
#include <mmrag_rft/pipeline.hpp>
#include <mmrag_rft/torch/distributed.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>
#ifdef USE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace mmrag_rft;

namespace {

struct run_config {
  std::string data = "data/demo", out = "demo_out";
  std::uint64_t seed = 1;
  bool smoke = false, resume = false, eval_on_train = false;
  // 250 stage-2 steps with the answer weighted 2: 100 steps at weight 1 left held-out answer EM flat on one seed of
  // three (docs/demo.md, "How the demo got here").
  // The warm start: 500 steps over the training questions, stage-2 heavy (8 stage-1 + 24 stage-2 examples a step):
  // reading an image document's pixels forms slowly (docs/demo.md, "Reading the images").
  std::size_t sft_questions = 640, sft_steps = 500, s1_steps = 100, s2_steps = 250, val_questions = 200;
  std::size_t s1_prompts = 32, s2_prompts = 16, group = 8, sft_batch1 = 8, sft_batch2 = 24;
  double sft_lr = 2e-3, rl_lr = 2e-4, kl_coef = 0.0, entropy_coeff = 0.0, temperature = 1.0, answer_weight = 2.0;
  static constexpr std::size_t stage1_tokens = 32, stage2_tokens = 48; // longest well-formed completion: 25 and ~40
  std::int64_t dim = 64, layers = 2, segments = demo::tokenizer::max_docs;
  bool vision_norm = true;
  std::size_t sft_eval_every = 0; // 0: no held-out evaluations during the warm start
  // 2 stage-1 steps after every 10 stage-2 steps: without them stage 2 eroded the shared network's relevance
  // judgements (held-out filter recall 0.90 -> 0.80 on seed 1) and with them the answers reached stage 2 less often.
  std::size_t replay_every = 10, replay_steps = 2;
  int threads = 1; // small ops: one thread avoids OpenMP spin-waits (0.08 vs 4.5 s/step on a loaded 2-core box)
  // Data-parallel: this process's rank of world_size, meeting at a FileStore (store, one machine) or else at a
  // TCPStore served by rank 0 (master_addr:master_port). Defaults from torchrun's and mpirun's environment.
  int rank = 0, world_size = 1, master_port = 29500;
  std::string store, master_addr = "127.0.0.1", gradients = "mean";
};

// An integer from the first of `names` set in the environment, else `fallback`.
int env_int(std::initializer_list<const char*> names, int fallback) {
  for (const char* n : names)
    if (const char* v = std::getenv(n); v && *v) return std::atoi(v);
  return fallback;
}

// The process group of the run's ranks (Gloo: the gradients and the library's collectives are host tensors).
c10::intrusive_ptr<c10d::ProcessGroup> make_group(const run_config& c) {
#ifdef USE_C10D_GLOO
  c10::intrusive_ptr<c10d::Store> store;
  const bool local = !c.store.empty() || c.master_addr == "127.0.0.1" || c.master_addr == "localhost";
  if (!c.store.empty()) {
    store = c10::make_intrusive<c10d::FileStore>(c.store, c.world_size);
  } else {
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(c.master_port);
    o.isServer = c.rank == 0;
    o.numWorkers = static_cast<std::size_t>(c.world_size);
    store = c10::make_intrusive<c10d::TCPStore>(c.master_addr, o);
  }
  auto options = c10d::ProcessGroupGloo::Options::create();
  // Several machines: the interface GLOO_SOCKET_IFNAME names, else the one this host's name resolves to.
  const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
  options->devices.push_back(local               ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                             : ifname && *ifname ? c10d::ProcessGroupGloo::createDeviceForInterface(ifname)
                                                 : c10d::ProcessGroupGloo::createDefaultDevice());
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, c.rank, c.world_size, options);
#else
  (void)c;
  throw error("two_stage_demo", "--world-size", "needs LibTorch's Gloo (libgloo-dev at build time)");
#endif
}

prompt_templates demo_templates() {
  prompt_templates t;
  t.stage1 = "judge : {question} {document}";
  t.stage2 = "rank : {question} {documents}";
  t.document = "[{label}] {title} : {text}{image} ";
  return t;
}

struct eval_result {
  double filter_precision = 0, filter_recall = 0, verdict_accuracy = 0, ndcg3 = 0, recall3 = 0, answer_em = 0,
         format2 = 0;
  std::vector<filter_decision> filters;
  rollout_batch stage2;
  std::vector<sample> stage2_samples;
};

eval_result evaluate(demo::torch_policy& pol, const std::vector<sample>& val, const prompt_templates& t) {
  eval_result e;
  filter_options fo;
  fo.cap = 3;
  fo.rollout = {1, run_config::stage1_tokens, 0.0, 0};
  e.filters = coarse_filter(pol, std::span<const sample>(val), t, demo::stage1_verdict, fo);
  prompt_batch prompts;
  std::size_t docs = 0, right = 0;
  for (std::size_t i = 0; i < val.size(); ++i) {
    const auto& f = e.filters[i];
    const auto ov = set_precision_recall_f1(f.kept, val[i].gold);
    e.filter_precision += ov.precision, e.filter_recall += ov.recall;
    for (std::size_t d = 0; d < f.scores.size(); ++d, ++docs)
      right += (f.scores[d] >= 0.5) == (std::find(val[i].gold.begin(), val[i].gold.end(), d) != val[i].gold.end());
    e.stage2_samples.push_back(make_stage2_sample(val[i], f.kept));
    prompts.push_back(render_stage2(t, e.stage2_samples.back()));
  }
  e.stage2 = pol.generate(prompts, {1, run_config::stage2_tokens, 0.0, 0});
  const auto fmt = stage2_format();
  for (std::size_t i = 0; i < val.size(); ++i) {
    const completion& c = e.stage2.completions[i];
    const auto order = demo::parse_stage2_ranking(c.text, e.stage2_samples[i].documents.size());
    std::vector<std::size_t> original;
    for (std::size_t k : order) original.push_back(e.filters[i].kept[k]);
    e.ndcg3 += ndcg_at_k(original, val[i].gold, 3);
    e.recall3 += recall_at_k(original, val[i].gold, 3);
    e.answer_em += demo::answer_reward(c, val[i]);
    e.format2 += fmt(c, val[i]);
  }
  const double n = static_cast<double>(val.size());
  e.filter_precision /= n, e.filter_recall /= n, e.ndcg3 /= n, e.recall3 /= n, e.answer_em /= n, e.format2 /= n;
  e.verdict_accuracy = docs ? static_cast<double>(right) / static_cast<double>(docs) : 0.0;
  return e;
}

// One JSON line per held-out question: category, gold and kept documents, the stage-2 completion and whether its
// answer matched; what the per-category analysis in docs/demo.md reads.
void write_heldout(const std::string& path, const eval_result& e, const std::vector<sample>& val) {
  std::ofstream f(path);
  for (std::size_t i = 0; i < val.size(); ++i) {
    const completion& c = e.stage2.completions[i];
    std::vector<std::string> kinds;
    for (const auto& d : val[i].documents) kinds.emplace_back(to_string(d.kind));
    f << nlohmann::json{{"id", val[i].id},           {"category", val[i].category},
                        {"gold", val[i].gold},       {"kinds", kinds},
                        {"kept", e.filters[i].kept}, {"scores", e.filters[i].scores},
                        {"stage2", c.text},          {"answer_em", demo::answer_reward(c, val[i])}}
             .dump()
      << "\n";
  }
}

void print_eval(const char* when, const eval_result& e) {
  std::printf("  %-14s filter P %.3f R %.3f | verdict acc %.3f | NDCG@3 %.3f | recall@3 %.3f | answer EM %.3f | "
              "stage-2 format %.3f\n",
              when, e.filter_precision, e.filter_recall, e.verdict_accuracy, e.ndcg3, e.recall3, e.answer_em,
              e.format2);
}

metrics_record eval_record(const char* stage, std::size_t step, const eval_result& e) {
  metrics_record r{stage, step, {}};
  r.add("filter_precision", e.filter_precision);
  r.add("filter_recall", e.filter_recall);
  r.add("verdict_accuracy", e.verdict_accuracy);
  r.add("ndcg@3", e.ndcg3);
  r.add("recall@3", e.recall3);
  r.add("answer_em", e.answer_em);
  r.add("stage2_format", e.format2);
  return r;
}

// The reward line is the stage-2 training reward, answer weight included.
void print_examples(const eval_result& e, const std::vector<sample>& val, std::size_t n, double answer_weight) {
  const auto r2 = demo::stage2_reward(answer_weight);
  for (std::size_t i = 0; i < std::min(n, val.size()); ++i) {
    const sample& s = val[i];
    std::printf("  Q: %s  (gold: %s)\n", s.question.c_str(), s.answers.empty() ? "" : s.answers[0].c_str());
    for (std::size_t d = 0; d < s.documents.size(); ++d) {
      const bool kept = std::find(e.filters[i].kept.begin(), e.filters[i].kept.end(), d) != e.filters[i].kept.end();
      const bool gold = std::find(s.gold.begin(), s.gold.end(), d) != s.gold.end();
      std::printf("    doc %zu %-5s %-18s %s %s | %s\n", d + 1, std::string(to_string(s.documents[d].kind)).c_str(),
                  s.documents[d].title.c_str(), gold ? "gold" : "    ", kept ? "KEEP" : "drop",
                  e.filters[i].texts[d].c_str());
    }
    const completion& c = e.stage2.completions[i];
    std::string why;
    r2.explain(c, e.stage2_samples[i], why);
    std::printf("    stage 2: %s\n    reward: %s\n\n", c.text.c_str(), why.c_str());
  }
}

// The explanation records of the held-out questions (explanations.jsonl) and the page rendered from them with the
// summary and the training reward curves (report.html). Written after training, from the three evaluations.
void write_report(const run_config& c, const std::vector<sample>& val,
                  std::span<const std::pair<const char*, const eval_result*>> all) {
  const auto r2 = demo::stage2_reward(c.answer_weight);
  std::vector<explanation_record> records;
  explanation_writer w(c.out + "/explanations.jsonl");
  for (std::size_t i = 0; i < val.size(); ++i) {
    explanation_record r = explain_sample(val[i]);
    for (const auto& [name, e] : all) {
      explained_stage st;
      st.name = name;
      const filter_decision& f = e->filters[i];
      for (std::size_t d = 0; d < val[i].documents.size(); ++d)
        st.judgements.push_back({f.texts[d], f.scores[d], std::find(f.kept.begin(), f.kept.end(), d) != f.kept.end()});
      const completion& comp = e->stage2.completions[i];
      st.completion = comp.text;
      for (std::size_t k : demo::parse_stage2_ranking(comp.text, e->stage2_samples[i].documents.size()))
        st.ranking.push_back(f.kept[k]);
      st.answer = std::string(demo::stage2_answer(comp.text));
      const auto b = r2.score(comp, e->stage2_samples[i], explain_mode::on);
      for (std::size_t k = 0; k < b.scores.size(); ++k) st.rules.push_back({b.names[k], b.scores[k], r2.weight(k)});
      st.reward = b.total, st.explanation = b.explanation;
      st.answer_correct = demo::answer_reward(comp, val[i]);
      r.stages.push_back(std::move(st));
    }
    w.write(r);
    records.push_back(std::move(r));
  }
  report_options o;
  o.title = "MMRAG-RFT two-stage demo, seed " + std::to_string(c.seed) + ": held-out explanations";
  std::ifstream sj(c.out + "/summary.json");
  o.summary = nlohmann::json::parse(sj, nullptr, false);
  o.curves = curves_from_metrics(c.out + "/metrics.jsonl", {"stage1", "stage2"});
  write_report_html(c.out + "/report.html", records, o);
}

void sft(demo::torch_policy& pol, const std::vector<sample>& subset, const prompt_templates& t, const run_config& c,
         const std::vector<sample>& val) {
  const std::size_t steps = c.sft_steps;
  const std::uint64_t seed = c.seed;
  std::vector<sample> s1, s2;
  for (const sample& q : subset) {
    for (sample& one : make_stage1_samples(q)) s1.push_back(std::move(one));
    // A stage-2 example holds what an imperfect coarse filter keeps: usually the gold documents, sometimes one of
    // them dropped or a negative added, 1-3 documents. With only complete gold lists the policy told the stages
    // apart by list length and answered a one-document stage-2 prompt in the stage-1 format.
    std::vector<std::size_t> kept;
    std::uint64_t h = seed ^ std::hash<std::string>{}(q.id);
    auto draw = [&h](std::uint64_t n) {
      h = h * 6364136223846793005ULL + 1442695040888963407ULL;
      return (h >> 33) % n;
    };
    for (std::size_t d = 0; d < q.documents.size(); ++d) {
      const bool gold = std::find(q.gold.begin(), q.gold.end(), d) != q.gold.end();
      if (gold ? draw(6) != 0 : draw(4) == 0) kept.push_back(d);
    }
    if (kept.empty()) kept.push_back(q.gold.empty() ? 0 : q.gold[0]);
    while (kept.size() > 3) kept.erase(kept.begin() + static_cast<std::ptrdiff_t>(draw(kept.size())));
    s2.push_back(make_stage2_sample(q, kept));
  }
  std::optional<progress_bar> bar;
  if (c.rank == 0) bar.emplace("warm start", steps);
  double loss = 0;
  for (std::size_t step = 0; step < steps; ++step) {
    prompt_batch p;
    std::vector<std::string> y;
    for (std::size_t i : mmrag_rft::detail::batch_indices(s1.size(), c.sft_batch1, step, seed)) {
      p.push_back(render_stage1(t, s1[i], 0));
      y.push_back(demo::stage1_target(s1[i]));
    }
    for (std::size_t i : mmrag_rft::detail::batch_indices(s2.size(), c.sft_batch2, step, seed + 1)) {
      p.push_back(render_stage2(t, s2[i]));
      y.push_back(demo::stage2_target(s2[i]));
    }
    loss = pol.sft_step(p, y);
    char status[64];
    std::snprintf(status, sizeof status, "cross-entropy %.3f", loss);
    if (bar) bar->update(step + 1, status);
    if ((step + 1) % 50 == 0) std::printf("  warm start step %zu: cross-entropy %.4f\n", step + 1, loss);
    if (c.rank == 0 && c.sft_eval_every && (step + 1) % c.sft_eval_every == 0 && step + 1 < steps) {
      const eval_result e = evaluate(pol, val, t);
      char when[32];
      std::snprintf(when, sizeof when, "warm %zu", step + 1);
      print_eval(when, e);
      write_heldout(c.out + "/heldout_warm_" + std::to_string(step + 1) + ".jsonl", e, val);
    }
  }
}

// One RL stage on this rank's shard. Each step's batch is the one rft_loop draws (its batch order and step seed),
// cut into contiguous shards in rank order, so that the shards make one process's batch; the policy seeds each
// prompt's draws from its place in that batch (torch_policy::shard_seed), so the ranks sample what one process
// samples. Rank 0 writes the records and shows the progress.
template <class Render, class Reward, class Ref>
std::vector<step_metrics> train_shard(const libtorch::process_group_communicator& comm, demo::torch_policy& pol,
                                      std::span<const sample> samples, Render& render, Reward& reward,
                                      const loop_options& lo, Ref& ref, metrics_log* log) {
  const auto rank = static_cast<std::size_t>(comm.rank()), ranks = static_cast<std::size_t>(comm.size());
  const std::size_t first = lo.prompts_per_step * rank / ranks, last = lo.prompts_per_step * (rank + 1) / ranks;
  std::optional<progress_bar> bar;
  if (rank == 0 && lo.progress) bar.emplace(lo.stage, lo.steps);
  std::vector<step_metrics> all;
  for (std::size_t step = lo.first_step; step < lo.steps; ++step) {
    const auto order = mmrag_rft::detail::batch_indices(samples.size(), lo.prompts_per_step, step, lo.seed);
    std::vector<sample> shard;
    prompt_batch prompts;
    for (std::size_t j = first; j < last; ++j) {
      // Groups meet across ranks by id: one per place in the batch, as one process groups them (a batch that
      // crosses an epoch may hold a sample twice, two groups).
      shard.push_back(samples[order[j]]);
      shard.back().id.append("@").append(std::to_string(j));
      prompts.push_back(render(samples[order[j]]));
    }
    rft_options so = lo.step;
    so.rollout.seed = demo::torch_policy::shard_seed(mmrag_rft::detail::loop_step_seed(lo.seed, step), first);
    const rft_step_result res = rft_step(comm, pol, std::span<const sample>(shard), prompts, reward, so, ref);
    if (log) log->write(to_record(lo.stage, step, res.metrics));
    if (bar) {
      char status[96];
      std::snprintf(status, sizeof status, "reward %.3f  loss %+.4f  len %.1f", res.metrics.reward_mean,
                    res.metrics.loss, res.metrics.response_length);
      bar->update(step + 1, status);
    }
    all.push_back(res.metrics);
  }
  return all;
}

bool losses_finite(const std::vector<step_metrics>& m) {
  for (const auto& x : m)
    if (!std::isfinite(x.loss) || !std::isfinite(x.reward_mean)) return false;
  return true;
}

} // namespace

int main(int argc, char** argv) {
  run_config c;
  CLI::App app{"mmrag_rft two-stage demo: warm start, stage-1 GRPO, filtering, stage-2 GRPO, held-out evaluation"};
  app.add_option("--data", c.data, "folder with webqa_demo.json and imgs.tsv");
  app.add_option("--out", c.out, "output folder (metrics, plot data, checkpoints)");
  app.add_option("--seed", c.seed, "seed of initialisation, batches and sampling");
  app.add_flag("--smoke", c.smoke, "a few steps of each stage on a few samples (CI)");
  app.add_flag("--resume", c.resume, "continue from the checkpoints in --out");
  app.add_option("--sft-steps", c.sft_steps);
  app.add_option("--sft-questions", c.sft_questions);
  app.add_option("--sft-batch1", c.sft_batch1, "stage-1 examples per warm-start step");
  app.add_option("--sft-batch2", c.sft_batch2, "stage-2 examples per warm-start step");
  app.add_option("--stage1-steps", c.s1_steps);
  app.add_option("--stage2-steps", c.s2_steps);
  app.add_option("--val-questions", c.val_questions);
  app.add_option("--group", c.group, "G, completions per prompt");
  app.add_option("--rl-lr", c.rl_lr);
  app.add_option("--sft-lr", c.sft_lr);
  app.add_option("--dim", c.dim, "width of the transformer");
  app.add_option("--layers", c.layers, "transformer blocks");
  app.add_option("--segments", c.segments, "document-index embeddings (0: none)");
  app.add_option("--vision-norm", c.vision_norm, "LayerNorm on the vision encoder's output (1/0)");
  app.add_option("--replay-every", c.replay_every, "stage-2 steps between stage-1 replays (0: no replay)");
  app.add_option("--replay-steps", c.replay_steps, "stage-1 steps per replay");
  app.add_option("--sft-eval-every", c.sft_eval_every, "held-out evaluation every N warm-start steps (0: none)");
  app.add_option("--kl-coef", c.kl_coef, "k3 KL to the warm-start model (0: no reference model)");
  app.add_option("--entropy-coeff", c.entropy_coeff, "entropy bonus of the RL loss, trained through the logits");
  app.add_option("--temperature", c.temperature, "sampling temperature of the RL rollouts (the log-probs follow it)");
  app.add_option("--threads", c.threads);
  app.add_option("--answer-weight", c.answer_weight, "weight of the answer rule in the stage-2 reward");
  app.add_flag("--eval-on-train", c.eval_on_train, "evaluate on the first training questions (a memorisation check)");
  c.rank = env_int({"RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK"}, 0);
  c.world_size = env_int({"WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}, 1);
  if (const char* a = std::getenv("MASTER_ADDR"); a && *a) c.master_addr = a;
  c.master_port = env_int({"MASTER_PORT"}, c.master_port);
  app.add_option("--rank", c.rank, "this process's rank (default: $RANK, $OMPI_COMM_WORLD_RANK, 0)");
  app.add_option("--world-size", c.world_size,
                 "data-parallel processes (default: $WORLD_SIZE, $OMPI_COMM_WORLD_SIZE, 1)");
  app.add_option("--store", c.store, "FileStore path the ranks meet at (one machine; else a TCPStore)");
  app.add_option("--master-addr", c.master_addr, "TCPStore host, served by rank 0 (default: $MASTER_ADDR, 127.0.0.1)");
  app.add_option("--master-port", c.master_port, "TCPStore port (default: $MASTER_PORT, 29500)");
  app.add_option("--gradients", c.gradients, "mean (DDP's average) or sum: how the ranks' gradients are reduced")
      ->check(CLI::IsMember({"mean", "sum"}));
  CLI11_PARSE(app, argc, argv);
  if (c.world_size < 1 || c.rank < 0 || c.rank >= c.world_size) {
    std::fprintf(stderr, "two_stage_demo: --rank %d is not in [0, --world-size %d)\n", c.rank, c.world_size);
    return 2;
  }
  const bool rank0 = c.rank == 0;
  const gradient_reduction reduction = c.gradients == "sum" ? gradient_reduction::sum : gradient_reduction::mean;
  // The other ranks compute what rank 0 computes and print nothing of it.
  if (!rank0 && !std::freopen("/dev/null", "w", stdout)) return 1;
  if (c.smoke) {
    c.sft_questions = 4, c.sft_steps = 3, c.s1_steps = 2, c.s2_steps = 2, c.val_questions = 4;
    c.s1_prompts = 4, c.s2_prompts = 2, c.group = 2, c.sft_batch1 = 4, c.sft_batch2 = 4;
    if (c.replay_every) c.replay_every = 1, c.replay_steps = 1;
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0); // keep printed results in order with the progress bar on stderr
  const auto t_start = std::chrono::steady_clock::now();
  torch::set_num_threads(c.threads);
  if (rank0) fs::create_directories(c.out);
  std::optional<libtorch::process_group_communicator> comm;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
  if (c.world_size > 1) {
    group = make_group(c);
    comm.emplace(group);
  }

  demo::data_set data = demo::load_webqa(c.data + "/webqa_demo.json", c.data + "/imgs.tsv");
  if (c.smoke) data.train.resize(std::min<std::size_t>(data.train.size(), 8));
  if (c.eval_on_train) data.val = data.train;
  data.val.resize(std::min(data.val.size(), c.val_questions));
  const prompt_templates t = demo_templates();

  // The vocabulary: every piece of every prompt and teacher target of the data set (deterministic).
  std::vector<std::string> texts{t.stage1, t.stage2, "<think> </think> <rank> </rank> <answer> </answer> , ; [ ] :"};
  for (const auto* split : {&data.train, &data.val})
    for (const sample& s : *split) {
      for (const sample& one : make_stage1_samples(s)) {
        texts.push_back(render_stage1(t, one, 0).text);
        texts.push_back(demo::stage1_target(one));
      }
      texts.push_back(render_stage2(t, s).text);
      texts.push_back(demo::stage2_target(s));
      for (const auto& a : s.answers) texts.push_back(a);
      for (std::size_t i = 1; i <= 5; ++i) texts.push_back(std::to_string(i));
    }
  const demo::tokenizer tok(texts);
  demo::model_config mc;
  mc.dim = c.dim, mc.layers = c.layers, mc.segments = c.segments, mc.vision_norm = c.vision_norm;
  // The same seed on every rank: the same initial weights.
  demo::torch_policy pol(tok, mc, c.sft_lr, c.seed);
  std::printf("mmrag_rft two-stage demo: %zu train / %zu held-out questions, vocabulary %zu, policy %lld parameters, "
              "seed %llu, %d rank%s\n",
              data.train.size(), data.val.size(), tok.size(), static_cast<long long>(pol.num_parameters()),
              static_cast<unsigned long long>(c.seed), c.world_size, c.world_size > 1 ? "s" : "");

  const std::string ck_warm = c.out + "/ckpt_warm", ck1 = c.out + "/ckpt_stage1", ck2 = c.out + "/ckpt_stage2";
  const bool have_warm = c.resume && fs::exists(ck_warm + ".pt"), have1 = c.resume && fs::exists(ck1 + ".pt"),
             have2 = c.resume && fs::exists(ck2 + ".pt");
  std::optional<metrics_log> log;
  if (rank0) log.emplace(c.out + "/metrics", c.resume && fs::exists(c.out + "/metrics.csv"));
  metrics_log* records = log ? &*log : nullptr;
  bool ok = true;

  // 1. Supervised warm start on a small subset, so that the policy knows both output formats.
  std::vector<sample> subset(data.train.begin(), data.train.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                                          c.sft_questions, data.train.size())));
  if (have_warm) {
    pol.load(ck_warm);
    std::printf("resumed the warm start from %s\n", ck_warm.c_str());
  } else {
    // Every rank runs the same warm start (same seed, same batches): the same weights, with no communication.
    sft(pol, subset, t, c, data.val);
    if (rank0) pol.save(ck_warm);
  }
  demo::torch_policy ref(tok, mc, 0.0, c.seed);
  ref.freeze_copy_of(pol);
  if (group) pol.reduce_gradients_over(group, reduction);
  // Rank 0 alone evaluates (greedy, no state changes), the others wait at the next collective.
  const auto evaluate_on_rank0 = [&](const char* when, const char* stage, std::size_t step, const std::string& file) {
    eval_result e;
    if (!rank0) return e;
    e = evaluate(pol, data.val, t);
    print_eval(when, e);
    log->write(eval_record(stage, step, e));
    write_heldout(c.out + "/" + file, e, data.val);
    return e;
  };
  std::printf("\nheld-out evaluation (%zu questions, greedy decoding):\n", data.val.size());
  const eval_result e0 = evaluate_on_rank0("before RL", "eval/warm_start", 0, "heldout_warm_start.jsonl");
  if (rank0 && !c.smoke) {
    std::printf("\nexamples before RL:\n");
    print_examples(e0, data.val, 2, c.answer_weight);
  }

  pol.set_lr(c.rl_lr);
  loop_options lo;
  lo.seed = c.seed;
  lo.step.rollout.group_size = c.group;
  lo.step.rollout.temperature = c.temperature;
  lo.step.advantages = grpo_options::verl();
  lo.step.loss = policy_loss_options::verl();
  if (c.kl_coef > 0) lo.step.loss.kl = kl_estimator::k3, lo.step.loss.kl_coef = c.kl_coef;
  lo.step.loss.entropy_coeff = c.entropy_coeff;
  lo.step.gradients = reduction;
  auto no_op = [](std::size_t, const rft_step_result&) {};
  // One RL stage: with the frozen warm-start model as KL reference when --kl-coef > 0, without one otherwise; on
  // one process the library's rft_loop, on several this rank's shard of each step.
  auto train = [&](std::span<const sample> samples, auto render, auto& reward) {
    const auto run = [&](auto& reference) {
      if (comm) return train_shard(*comm, pol, samples, render, reward, lo, reference, records);
      return rft_loop(pol, samples, render, reward, lo, reference, records, no_op);
    };
    if (c.kl_coef > 0) return run(ref);
    no_reference none;
    return run(none);
  };

  // 2. Stage 1: point-wise relevance GRPO on (question, document) pairs. Class-balanced prompts: the two gold
  // documents and the two hard negatives of each question (same entity or same place); the unrelated image is left
  // out. With 3 negatives to 2 positives GRPO drifted to "no".
  std::vector<sample> s1;
  for (const sample& q : data.train)
    for (sample& one : make_stage1_samples(q))
      if (!one.gold.empty() ||
          demo::shares_a_word(demo::item_of_question(q.question), demo::item_of_title(one.documents[0].title)))
        s1.push_back(std::move(one));
  auto reward1 = demo::stage1_reward();
  // Stage-1 steps [first, last) under the name `stage`.
  auto run1 = [&](const char* stage, std::size_t first, std::size_t last) {
    lo.stage = stage, lo.first_step = first, lo.steps = last, lo.prompts_per_step = c.s1_prompts;
    lo.step.rollout.max_new_tokens = run_config::stage1_tokens;
    ok = ok && losses_finite(train(
                   std::span<const sample>(s1), [&](const sample& s) { return render_stage1(t, s, 0); }, reward1));
  };
  if (have1) {
    pol.load(ck1);
    std::printf("resumed stage 1 from %s\n", ck1.c_str());
  } else {
    run1("stage1", 0, c.s1_steps);
    if (rank0) pol.save(ck1);
  }
  const eval_result e1 = evaluate_on_rank0("after stage 1", "eval/stage1", c.s1_steps, "heldout_stage1.jsonl");

  // 3. Filtering: the stage-1 policy keeps the documents it judges relevant; stage 2 trains on those lists. Every
  // --replay-every stage-2 steps, --replay-steps stage-1 steps keep the shared network's judgements from eroding.
  // Every rank filters every training question (greedy: the same kept lists from the same weights).
  if (have2) {
    pol.load(ck2);
    std::printf("resumed stage 2 from %s\n", ck2.c_str());
  } else {
    filter_options fo;
    fo.cap = 3;
    fo.rollout = {1, run_config::stage1_tokens, 0.0, c.seed};
    const auto kept = coarse_filter(pol, std::span<const sample>(data.train), t, demo::stage1_verdict, fo);
    std::vector<sample> s2;
    for (std::size_t i = 0; i < data.train.size(); ++i) s2.push_back(make_stage2_sample(data.train[i], kept[i].kept));
    auto reward2 = demo::stage2_reward(c.answer_weight);
    const std::size_t chunk = c.replay_every && c.replay_steps ? c.replay_every : std::max<std::size_t>(c.s2_steps, 1);
    for (std::size_t first = 0, replayed = 0; first < c.s2_steps; first += chunk) {
      lo.stage = "stage2", lo.first_step = first, lo.steps = std::min(first + chunk, c.s2_steps);
      lo.prompts_per_step = c.s2_prompts;
      lo.step.rollout.max_new_tokens = run_config::stage2_tokens;
      ok = ok && losses_finite(
                     train(std::span<const sample>(s2), [&](const sample& s) { return render_stage2(t, s); }, reward2));
      if (c.replay_every && c.replay_steps && first + chunk < c.s2_steps) {
        run1("stage1_replay", c.s1_steps + replayed, c.s1_steps + replayed + c.replay_steps);
        replayed += c.replay_steps;
      }
    }
    if (rank0) pol.save(ck2);
  }
  const eval_result e2 =
      evaluate_on_rank0("after stage 2", "eval/stage2", c.s1_steps + c.s2_steps, "heldout_stage2.jsonl");
  if (!rank0) return ok ? 0 : 1;

  std::printf("\nsummary (held-out):    before RL -> after stage 1 -> after stage 2\n");
  std::printf("  filter precision     %.3f -> %.3f -> %.3f\n", e0.filter_precision, e1.filter_precision,
              e2.filter_precision);
  std::printf("  filter recall        %.3f -> %.3f -> %.3f\n", e0.filter_recall, e1.filter_recall, e2.filter_recall);
  std::printf("  NDCG@3               %.3f -> %.3f -> %.3f\n", e0.ndcg3, e1.ndcg3, e2.ndcg3);
  std::printf("  answer EM            %.3f -> %.3f -> %.3f\n", e0.answer_em, e1.answer_em, e2.answer_em);
  if (!c.smoke) {
    std::printf("\nexamples after RL:\n");
    print_examples(e2, data.val, 3, c.answer_weight);
  }
  {
    std::ofstream f(c.out + "/summary.json");
    f << "{\"seed\":" << c.seed;
    const std::pair<const char*, const eval_result*> all[] = {{"warm_start", &e0}, {"stage1", &e1}, {"stage2", &e2}};
    for (const auto& [name, e] : all)
      f << ",\"" << name << "\":{\"filter_precision\":" << e->filter_precision
        << ",\"filter_recall\":" << e->filter_recall << ",\"ndcg@3\":" << e->ndcg3 << ",\"answer_em\":" << e->answer_em
        << "}";
    f << "}\n";
  }
  {
    const std::pair<const char*, const eval_result*> all[] = {{"warm_start", &e0}, {"stage1", &e1}, {"stage2", &e2}};
    write_report(c, data.val, all);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  std::printf("\nwall time %.1f s; metrics in %s/metrics.{jsonl,csv}, checkpoints %s/ckpt_*.pt\n", secs, c.out.c_str(),
              c.out.c_str());
  if (!ok) {
    std::fprintf(stderr, "a loss or reward was not finite\n");
    return 1;
  }
  return 0;
}
