// SPDX-License-Identifier: Apache-2.0
// Per-step metrics to JSONL and CSV files, and a one-line progress bar for the terminal.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/pipeline/rft_step.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>
#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

namespace mmrag_rft {

/// One flat metrics record: a stage name, a step and named numbers.
struct metrics_record {
  std::string stage;
  std::size_t step = 0;
  std::vector<std::pair<std::string, double>> values;

  void add(std::string name, double v) { values.emplace_back(std::move(name), v); }
};

/// The record of one `rft_step`: reward mean/std (total and per rule, as `reward/<rule>/mean`), loss parts, clip
/// fraction, KL, entropy, response length, truncation and degenerate-group fractions, seconds.
[[nodiscard]] inline metrics_record to_record(std::string_view stage, std::size_t step, const step_metrics& m) {
  metrics_record r{std::string(stage), step, {}};
  r.add("reward/mean", m.reward_mean);
  r.add("reward/std", m.reward_std);
  for (std::size_t i = 0; i < m.rule_means.size(); ++i) {
    r.add("reward/" + m.rule_means[i].name + "/mean", m.rule_means[i].value);
    r.add("reward/" + m.rule_stds[i].name + "/std", m.rule_stds[i].value);
  }
  r.add("loss", m.loss);
  r.add("pg_loss", m.pg_loss);
  r.add("kl", m.kl);
  r.add("clip_fraction", m.clip_fraction);
  r.add("ppo_kl", m.ppo_kl);
  r.add("entropy", m.entropy);
  r.add("response_length", m.response_length);
  r.add("truncated_fraction", m.truncated_fraction);
  r.add("degenerate_groups", m.degenerate_groups);
  r.add("dropped_groups", static_cast<double>(m.dropped_groups));
  r.add("refilled_groups", static_cast<double>(m.refilled_groups));
  r.add("entropy_masked_tokens", static_cast<double>(m.entropy_masked_tokens));
  r.add("seconds", m.seconds);
  return r;
}

/// Appends metrics records to `<prefix>.jsonl` (one JSON object per line) and `<prefix>.csv` (a header from the
/// first record's names; later records are written in that column order, missing values empty). Non-finite numbers
/// are written as JSON `null` and empty CSV cells. Stage and value names may hold any bytes (a rule's name comes
/// from its caller): JSON strings escape `"`, `\` and control characters; a CSV field with a comma, a quote or a line
/// break is quoted with its quotes doubled (RFC 4180). Throws `mmrag_rft::error` when a file cannot be opened.
class metrics_log {
public:
  explicit metrics_log(const std::string& prefix, bool append = false) {
    const auto mode = append ? std::ios::app : std::ios::trunc;
    jsonl_.open(prefix + ".jsonl", mode);
    csv_.open(prefix + ".csv", mode);
    detail::require(jsonl_.good() && csv_.good(), "metrics_log", "prefix", "names files that cannot be written");
    header_written_ = append;
  }

  void write(const metrics_record& r) {
    jsonl_ << "{\"stage\":";
    json_string(jsonl_, r.stage);
    jsonl_ << ",\"step\":" << r.step;
    for (const auto& [k, v] : r.values) {
      jsonl_ << ',';
      json_string(jsonl_, k);
      jsonl_ << ':';
      number(jsonl_, v, "null");
    }
    jsonl_ << "}\n";
    if (columns_.empty()) {
      for (const auto& kv : r.values) columns_.push_back(kv.first);
      if (!header_written_) {
        csv_ << "stage,step";
        for (const auto& c : columns_) {
          csv_ << ',';
          csv_field(csv_, c);
        }
        csv_ << '\n';
      }
    }
    csv_field(csv_, r.stage);
    csv_ << ',' << r.step;
    for (const auto& c : columns_) {
      csv_ << ',';
      for (const auto& [k, v] : r.values)
        if (k == c) {
          number(csv_, v, "");
          break;
        }
    }
    csv_ << '\n';
    jsonl_.flush();
    csv_.flush();
  }

private:
  static void json_string(std::ostream& o, std::string_view s) {
    o << '"';
    for (const char c : s) {
      const auto u = static_cast<unsigned char>(c);
      if (c == '"' || c == '\\') o << '\\' << c;
      else if (c == '\n') o << "\\n";
      else if (c == '\t') o << "\\t";
      else if (c == '\r') o << "\\r";
      else if (u < 0x20) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", u);
        o << buf;
      } else o << c;
    }
    o << '"';
  }
  static void csv_field(std::ostream& o, std::string_view s) {
    if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
      o << s;
      return;
    }
    o << '"';
    for (const char c : s) o << (c == '"' ? "\"\"" : std::string_view(&c, 1));
    o << '"';
  }
  static void number(std::ostream& o, double v, const char* nonfinite) {
    if (!std::isfinite(v)) {
      o << nonfinite;
      return;
    }
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    o << buf;
  }
  std::ofstream jsonl_, csv_;
  std::vector<std::string> columns_;
  bool header_written_ = false;
};

/// A one-line progress bar on stderr: `[stage1] ######.... 42/100 reward 0.61 1.2 s/step`. On a terminal it redraws
/// in place; otherwise it prints a line every tenth of the run, so logs stay short. A count past the total (a loop
/// that runs longer than announced) shows a full bar and the count as it is.
class progress_bar {
public:
  progress_bar(std::string label, std::size_t total) : label_(std::move(label)), total_(total) {
#if __has_include(<unistd.h>)
    tty_ = ::isatty(2) != 0;
#endif
  }
  void update(std::size_t done, std::string_view status) {
    const std::size_t width = 24, shown = std::min(done, total_), filled = total_ ? width * shown / total_ : width;
    const bool milestone =
        total_ == 0 || done >= total_ || done == 0 || (done * 10 / total_) != ((done - 1) * 10 / total_);
    if (!tty_ && !milestone) return;
    std::string bar(filled, '#');
    bar.append(width - filled, '.');
    std::cerr << (tty_ ? "\r" : "") << '[' << label_ << "] " << bar << ' ' << done << '/' << total_ << ' ' << status
              << (tty_ ? "   " : "\n");
    if (tty_ && done == total_) std::cerr << '\n';
    std::cerr.flush();
  }

private:
  std::string label_;
  std::size_t total_;
  bool tty_ = false;
};

} // namespace mmrag_rft
