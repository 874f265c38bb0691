// SPDX-License-Identifier: Apache-2.0
// Renders the explanation page of a records file (and optional summary JSON) for the browser test.
#include <mmrag_rft/eval/report_html.hpp>

#include <exception>
#include <fstream>
#include <iostream>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: render_report RECORDS.jsonl OUT.html [SUMMARY.json]\n";
    return 2;
  }
  try {
    mmrag_rft::report_options o;
    o.page_size = 5; // the fixture's 8 records span two pages
    if (argc > 3) {
      std::ifstream in(argv[3]);
      o.summary = nlohmann::json::parse(in);
    }
    o.curves = {{"stage2 reward/mean", {0, 1, 2, 3}, {0.5, 1.0, 1.75, 2.25}}};
    mmrag_rft::write_report_html(argv[2], mmrag_rft::read_explanation_records(argv[1]), o);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "render_report: " << e.what() << "\n";
    return 1;
  }
}
