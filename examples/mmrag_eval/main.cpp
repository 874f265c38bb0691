// SPDX-License-Identifier: Apache-2.0
// mmrag-eval: score a predictions file against WebQA or MultimodalQA gold with the official rules.
#include <mmrag_rft/data.hpp>
#include <mmrag_rft/data/gold_format.hpp>
#include <mmrag_rft/eval.hpp>
#include <mmrag_rft/eval/explain_predictions.hpp>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>

namespace {

constexpr const char* example = R"(Examples:
  # WebQA validation set: predictions as JSONL, one object per line:
  #   {"id": "<Guid>", "answer": "The roof is red.", "sources": [30012345], "ranking": [30012345, "d5bbc..."]}
  mmrag-eval -p val_predictions.jsonl -g WebQA_train_val.json --split val --json scores.json

  # MultimodalQA dev set (also accepts the official {qid: answer} predictions object):
  mmrag-eval -p dev_predictions.json -g MMQA_dev.jsonl

Prediction fields: an id ("id", "qid", "guid" or "Guid"); "answer" (string or list); optional "sources" and
"ranking" (document ids, best first). The official WebQA submission {guid: {"sources": [...], "answer": ...}} works
too. Exit status: 0 on success, 1 on a malformed or unreadable file (the message names file, line, record and
field), 2 on unknown prediction ids with --strict; command-line errors use CLI11's codes.)";

std::string detect_format(const std::string& gold) {
  return mmrag_rft::detect_gold_format(gold) == mmrag_rft::gold_format::mmqa ? "mmqa" : "webqa";
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"mmrag-eval: score predictions against WebQA or MultimodalQA gold with the official rules"};
  app.footer(example);
  std::string predictions, gold, format = "auto", split, json_out, html_out, texts, images, tables;
  std::size_t k = 10;
  bool per_question = false, strict = false, quiet = false;
  app.add_option("-p,--predictions", predictions, "Predictions: JSONL, or an official id-keyed JSON object")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("-g,--gold", gold, "Gold: WebQA JSON (WebQA_train_val.json) or MultimodalQA JSONL (MMQA_dev.jsonl)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("-f,--format", format, "Gold format: auto (from the content, gzip included), webqa or mmqa")
      ->check(CLI::IsMember({"auto", "webqa", "mmqa"}))
      ->capture_default_str();
  app.add_option("-s,--split", split, "WebQA: score only gold records of this split (train, val, test)");
  app.add_option("-k", k, "Cut-off of NDCG@k and recall@k")->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("-j,--json", json_out, "Write the report as JSON to this file ('-' for standard output)");
  app.add_option("--html", html_out, "Write the explanation page (documents, prediction, gold, scores) to this file");
  app.add_flag("--per-question", per_question, "Include per-question scores in the JSON report");
  app.add_flag("--strict", strict, "Fail when a prediction id matches no gold question");
  app.add_flag("-q,--quiet", quiet, "Do not print the table");
  app.add_option("--mmqa-texts", texts, "MultimodalQA texts JSONL (only for document titles; not needed to score)");
  app.add_option("--mmqa-images", images, "MultimodalQA images JSONL");
  app.add_option("--mmqa-tables", tables, "MultimodalQA tables JSONL");
  CLI11_PARSE(app, argc, argv);

  try {
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    if (format == "auto") format = detect_format(gold);
    const auto preds = mmrag_rft::load_predictions(predictions);
    mmrag_rft::eval_options opt;
    opt.k = k;
    opt.keep_questions = per_question || !html_out.empty();
    mmrag_rft::eval_report report;
    std::vector<mmrag_rft::sample> samples; // kept for --html
    const auto t1 = clock::now();
    std::chrono::steady_clock::time_point t2;
    if (format == "webqa") {
      mmrag_rft::webqa_load_options lo;
      lo.split = split;
      samples = mmrag_rft::load_webqa(gold, lo);
      // A mistyped split keeps nothing; scoring zero questions and exiting 0 would pass for a result.
      if (samples.empty() && !split.empty()) {
        std::cerr << "mmrag-eval: no gold record has split \"" << split << "\" in " << gold
                  << " (WebQA names train, val and test)\n";
        return 1;
      }
      t2 = clock::now();
      report = mmrag_rft::evaluate_webqa(samples, preds, opt);
    } else {
      mmrag_rft::mmqa_load_options lo;
      lo.texts = texts;
      lo.images = images;
      lo.tables = tables;
      const auto data = mmrag_rft::load_mmqa(gold, lo);
      t2 = clock::now();
      report = mmrag_rft::evaluate_mmqa(data, preds, opt);
      if (!html_out.empty()) samples = data.samples;
    }
    const auto t3 = clock::now();
    const auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    if (!quiet) {
      mmrag_rft::print_report(std::cout, report);
      std::cout << "\n(load predictions " << ms(t0, t1) << " ms, load gold " << ms(t1, t2) << " ms, score "
                << ms(t2, t3) << " ms)\n";
    }
    if (!json_out.empty()) {
      const std::string text = mmrag_rft::to_json(report, per_question).dump(2) + "\n";
      if (json_out == "-") {
        std::cout << text;
      } else {
        std::ofstream out(json_out);
        if (!(out << text)) {
          std::cerr << "mmrag-eval: cannot write " << json_out << "\n";
          return 1;
        }
      }
    }
    if (!html_out.empty()) {
      mmrag_rft::report_options ro;
      ro.title = "mmrag-eval: " + predictions + " against " + gold;
      ro.summary = mmrag_rft::explained_summary(report);
      mmrag_rft::write_report_html(html_out, mmrag_rft::explain_predictions(samples, preds, report), ro);
    }
    if (!report.unknown_ids.empty()) {
      std::cerr << "mmrag-eval: " << report.unknown_ids.size() << " prediction id(s) match no gold question, e.g. \""
                << report.unknown_ids.front() << "\"" << (strict ? "" : " (ignored)") << "\n";
      if (strict) return 2;
    }
    return 0;
  } catch (const mmrag_rft::error& e) {
    std::cerr << "mmrag-eval: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "mmrag-eval: " << e.what() << "\n";
    return 1;
  }
}
