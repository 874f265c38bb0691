// SPDX-License-Identifier: Apache-2.0
// The explanation page: one self-contained HTML file (no network; images as PNG data URIs) rendered from
// explanation records (explanation_record.hpp). A summary at the top (a metrics table, reward curves as inline SVG,
// per-category answer accuracy against the best fixed answer, the questions the last stage fixed and broke) and
// every question below it, filtered and paged by the page's script.
// Needs nlohmann-json and zlib (PNG's deflate stream and CRC-32).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/eval/explanation_record.hpp>
#include <mmrag_rft/text/normalize.hpp>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mmrag_rft {

/// One line of the reward-curve plot: y over x (e.g. a stage's mean reward per step).
struct report_curve {
  std::string name;
  std::vector<double> x, y;
};

struct report_options {
  std::string title = "MMRAG-RFT explanation report";
  /// Held-out metrics: an object whose object-valued members are columns (stage name -> {metric -> number}),
  /// e.g. the demo's summary.json; other members (a seed) are shown as a line above the table. Null: no table.
  nlohmann::json summary = nullptr;
  std::vector<report_curve> curves;
  std::size_t page_size = 20; ///< questions a page
};

namespace detail {

inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    default: out += c;
    }
  }
  return out;
}

inline std::string base64(const std::string& bytes) {
  static constexpr char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const auto b = [&](std::size_t k) {
      return k < bytes.size() ? static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[k])) : 0u;
    };
    const std::uint32_t v = (b(i) << 16) | (b(i + 1) << 8) | b(i + 2);
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? abc[(v >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? abc[v & 63] : '=';
  }
  return out;
}

inline void put_u32(std::string& s, std::uint32_t v) {
  for (int sh = 24; sh >= 0; sh -= 8) s += static_cast<char>((v >> sh) & 0xFF);
}

inline void png_chunk(std::string& png, const char* type, const std::string& data) {
  put_u32(png, static_cast<std::uint32_t>(data.size()));
  std::string body = std::string(type, 4) + data;
  png += body;
  put_u32(png, static_cast<std::uint32_t>(
                   crc32(0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size()))));
}

/// A PNG file of 8-bit pixels (grey, RGB or RGBA by `channels`), filter type 0 on every row.
inline std::string encode_png(std::size_t w, std::size_t h, std::size_t channels, const std::vector<std::uint8_t>& px) {
  detail::require(channels == 1 || channels == 3 || channels == 4, "encode_png", "channels", "must be 1, 3 or 4");
  detail::require(w > 0 && h > 0 && px.size() == w * h * channels, "encode_png", "pixels",
                  "size is not width x height x channels");
  std::string raw;
  raw.reserve(h * (w * channels + 1));
  for (std::size_t y = 0; y < h; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(px.data() + y * w * channels), w * channels);
  }
  uLongf len = compressBound(static_cast<uLong>(raw.size()));
  std::string z(len, '\0');
  const int rc = compress2(reinterpret_cast<Bytef*>(z.data()), &len, reinterpret_cast<const Bytef*>(raw.data()),
                           static_cast<uLong>(raw.size()), 9);
  detail::require(rc == Z_OK, "encode_png", "pixels", "zlib compress2 failed");
  z.resize(len);
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_u32(ihdr, static_cast<std::uint32_t>(w));
  put_u32(ihdr, static_cast<std::uint32_t>(h));
  const char colour = channels == 1 ? 0 : channels == 3 ? 2 : 6;
  ihdr += std::string{'\x08', colour, '\0', '\0', '\0'};
  png_chunk(png, "IHDR", ihdr);
  png_chunk(png, "IDAT", z);
  png_chunk(png, "IEND", "");
  return png;
}

inline std::string fmt3(double v) {
  if (!std::isfinite(v)) return "–";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  return buf;
}

// The reward curves as one inline SVG: every curve on shared axes, a legend below.
inline std::string curves_svg(const std::vector<report_curve>& curves) {
  double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
  for (const auto& c : curves)
    for (std::size_t i = 0; i < std::min(c.x.size(), c.y.size()); ++i)
      if (std::isfinite(c.x[i]) && std::isfinite(c.y[i]))
        x0 = std::min(x0, c.x[i]), x1 = std::max(x1, c.x[i]), y0 = std::min(y0, c.y[i]), y1 = std::max(y1, c.y[i]);
  if (!(x0 <= x1)) return "<p>No curve points.</p>";
  if (x1 == x0) x1 = x0 + 1;
  if (y1 == y0) y1 = y0 + 1;
  static const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                  "#9467bd", "#8c564b", "#e377c2", "#17becf"};
  const double W = 640, H = 220, L = 44, B = 20;
  std::string s = "<svg class=\"curves\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                  std::to_string(int(W + 10)) + " " + std::to_string(int(H + B + 8)) + "\" width=\"650\">";
  const auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L); };
  const auto py = [&](double y) { return 4 + (y1 - y) / (y1 - y0) * (H - 4); };
  s += "<rect x=\"" + std::to_string(L) + "\" y=\"4\" width=\"" + std::to_string(W - L) + "\" height=\"" +
       std::to_string(H - 4) + "\" fill=\"none\" stroke=\"#999\"/>";
  for (double y : {y0, (y0 + y1) / 2, y1})
    s += "<text x=\"2\" y=\"" + std::to_string(py(y) + 4) + "\" font-size=\"10\">" + fmt3(y) + "</text>";
  s += "<text x=\"" + std::to_string(L) + "\" y=\"" + std::to_string(H + 14) + "\" font-size=\"10\">" + fmt3(x0) +
       "</text><text x=\"" + std::to_string(W - 40) + "\" y=\"" + std::to_string(H + 14) + "\" font-size=\"10\">" +
       fmt3(x1) + "</text>";
  std::string legend;
  for (std::size_t k = 0; k < curves.size(); ++k) {
    const auto& c = curves[k];
    const char* col = colours[k % 8];
    std::string pts;
    for (std::size_t i = 0; i < std::min(c.x.size(), c.y.size()); ++i)
      if (std::isfinite(c.x[i]) && std::isfinite(c.y[i])) pts += fmt3(px(c.x[i])) + "," + fmt3(py(c.y[i])) + " ";
    s += "<polyline fill=\"none\" stroke-width=\"1.2\" stroke=\"" + std::string(col) + "\" points=\"" + pts + "\"/>";
    legend += "<span class=\"legend\"><span style=\"background:" + std::string(col) + "\"></span>" +
              html_escape(c.name) + "</span> ";
  }
  return s + "</svg><div>" + legend + "</div>";
}

// Per category: questions, the best fixed answer's accuracy (the most frequent normalised first gold answer) and
// each stage's answer accuracy. One row per category, in first-seen order.
struct category_row {
  std::string name, fixed_answer;
  std::size_t count = 0;
  double fixed = 0;
  std::vector<double> stage_acc;
};

inline std::vector<category_row> category_rows(const std::vector<explanation_record>& rs,
                                               const std::vector<std::string>& stages) {
  std::vector<category_row> rows;
  std::vector<std::map<std::string, std::size_t>> answers;
  for (const auto& r : rs) {
    auto it = std::find_if(rows.begin(), rows.end(), [&](const category_row& c) { return c.name == r.category; });
    if (it == rows.end()) {
      rows.push_back({r.category, "", 0, 0, std::vector<double>(stages.size(), 0.0)});
      answers.emplace_back();
      it = rows.end() - 1;
    }
    const auto k = static_cast<std::size_t>(it - rows.begin());
    ++it->count;
    if (!r.answers.empty()) ++answers[k][normalize_answer(r.answers[0])];
    for (std::size_t s = 0; s < stages.size(); ++s)
      for (const auto& st : r.stages)
        if (st.name == stages[s]) it->stage_acc[s] += st.answer_correct;
  }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    std::size_t best = 0;
    for (const auto& [a, n] : answers[k])
      if (n > best) best = n, rows[k].fixed_answer = a;
    const double n = static_cast<double>(rows[k].count);
    rows[k].fixed = static_cast<double>(best) / n;
    for (double& v : rows[k].stage_acc) v /= n;
  }
  return rows;
}

inline const explained_stage* find_stage(const explanation_record& r, const std::string& name) {
  for (const auto& s : r.stages)
    if (s.name == name) return &s;
  return nullptr;
}

// The page's script: renders the question cards from the embedded records, filters them by the search box (and the
// `#q=` fragment, so that a link or a test can open a filtered page; `#which=` sets the selector, `#open=1` opens the
// shown cards) and the fixed/broke selector, and pages them.
// It marks <body data-status> "ok" when it finished and lists uncaught errors in <body data-errors>.
inline constexpr std::string_view report_script = R"JS(
window.addEventListener('error', e => {
  document.body.dataset.errors = (document.body.dataset.errors || '') + (e.message || 'error') + ';';
});
(function () {
  const R = JSON.parse(document.getElementById('records').textContent);
  const PAGE = Number(document.body.dataset.pageSize) || 20;
  const box = document.getElementById('filter'), sel = document.getElementById('which');
  const list = document.getElementById('questions'), count = document.getElementById('count');
  let page = 0;
  const esc = s => String(s).replace(/[&<>"]/g, c => ({'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;'}[c]));
  const f3 = v => Number(v).toFixed(3);
  const label = r => '[' + r.map(k => k + 1).join(', ') + ']';
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
  const hay = r => (r.id + ' ' + r.question + ' ' + r.category + ' ' + r.answers.join(' ') + ' ' +
                    r.stages.map(s => s.answer).join(' ')).toLowerCase();
  const status = r => {
    if (r.stages.length < 2) return '';
    const a = r.stages[0].answer_correct, b = r.stages[r.stages.length - 1].answer_correct;
    return a < b ? 'fixed' : a > b ? 'broke' : '';
  };
  function card(r) {
    const st = r.stages, gold = new Set(r.gold);
    let h = '<details class="q" data-id="' + esc(r.id) + '"><summary><b>' + esc(r.id) + '</b> <span class="cat">' +
            esc(r.category) + '</span> ' + esc(r.question) + ' <span class="gold">gold: ' + esc(r.answers.join(' | ')) +
            '</span>';
    for (const s of st) h += ' <span class="badge ' + (s.answer_correct > 0 ? 'ok' : 'bad') + '">' + esc(s.name) + ' ' +
                             esc(s.answer) + '</span>';
    const tag = status(r);
    if (tag) h += ' <span class="badge ' + tag + '">' + tag + '</span>';
    h += '</summary><table class="docs"><tr><th>#</th><th>document</th><th>gold</th>';
    for (const s of st) h += '<th>' + esc(s.name) + ': stage-1 reasoning, verdict</th>';
    h += '</tr>';
    r.documents.forEach((d, k) => {
      h += '<tr><td>' + (k + 1) + '</td><td class="doc">' + (d.png ? '<img alt="' + esc(d.title) + '" src="' + d.png +
           '"><br>' : '') + '<i>' + esc(d.kind) + '</i> <b>' + esc(d.title) + '</b> ' + esc(d.text) + '</td><td>' +
           (gold.has(k) ? '<span class="goldmark">gold</span>' : '') + '</td>';
      st.forEach((s, i) => {
        const j = s.judgements[k];
        if (!j) { h += '<td></td>'; return; }
        const p = i > 0 ? st[i - 1].judgements[k] : null;
        const chg = p && p.kept !== j.kept ? ' chg' : '';
        h += '<td class="' + (j.kept ? 'keep' : 'drop') + chg + '"><b>' + (j.kept ? 'KEEP' : 'drop') + '</b> ' + f3(j.score) +
             ' <span class="reason">' + esc(j.reasoning) + '</span></td>';
      });
      h += '</tr>';
    });
    h += '</table><table class="stages"><tr><th></th>';
    for (const s of st) h += '<th>' + esc(s.name) + '</th>';
    h += '</tr><tr><th>stage-2 completion</th>';
    st.forEach((s, i) => h += '<td class="reason' + (i && s.completion !== st[i - 1].completion ? ' chg' : '') + '">' +
                            esc(s.completion) + '</td>');
    h += '</tr><tr><th>ranking (gold ' + label(r.gold) + ')</th>';
    st.forEach((s, i) => h += '<td class="rank' + (i && !same(s.ranking, st[i - 1].ranking) ? ' chg' : '') + '">' +
                            label(s.ranking) + '</td>');
    h += '</tr><tr><th>answer (gold ' + esc(r.answers.join(' | ')) + ')</th>';
    st.forEach((s, i) => h += '<td class="answer ' + (s.answer_correct > 0 ? 'ok' : 'bad') +
                            (i && s.answer !== st[i - 1].answer ? ' chg' : '') + '">' + esc(s.answer) + '</td>');
    h += '</tr><tr><th>reward rules (score × weight)</th>';
    for (const s of st) h += '<td>' + s.rules.map(u => esc(u.name) + ' ' + f3(u.score) + ' × ' + u.weight).join('<br>') +
                             '<br><b class="reward">reward ' + f3(s.reward) + '</b></td>';
    h += '</tr><tr><th>explanation</th>';
    for (const s of st) h += '<td class="expl">' + esc(s.explanation) + '</td>';
    return h + '</tr></table></details>';
  }
  function matching() {
    const q = box.value.trim().toLowerCase(), w = sel.value;
    return R.filter(r => (!q || hay(r).includes(q)) && (w === 'all' || status(r) === w ||
                         (w === 'wrong' && r.stages.length && !(r.stages[r.stages.length - 1].answer_correct > 0))));
  }
  function show() {
    const m = matching(), pages = Math.max(1, Math.ceil(m.length / PAGE));
    page = Math.min(page, pages - 1);
    list.innerHTML = m.slice(page * PAGE, (page + 1) * PAGE).map(card).join('');
    count.textContent = m.length + ' matching of ' + R.length + ' · page ' + (page + 1) + ' of ' + pages;
    count.dataset.matching = m.length;
  }
  box.addEventListener('input', () => { page = 0; show(); });
  sel.addEventListener('change', () => { page = 0; show(); });
  document.getElementById('prev').addEventListener('click', () => { page = Math.max(0, page - 1); show(); });
  document.getElementById('next').addEventListener('click', () => { page += 1; show(); });
  document.getElementById('expand').addEventListener('click', () =>
    list.querySelectorAll('details').forEach(d => d.open = !d.open));
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has('q')) box.value = hash.get('q');
  if (hash.has('which')) sel.value = hash.get('which');
  show();
  if (hash.has('open')) list.querySelectorAll('details.q').forEach(d => d.open = true);
  document.body.dataset.status = 'ok';
})();
)JS";

inline constexpr std::string_view report_style = R"CSS(
body{font:13px/1.4 system-ui,sans-serif;margin:16px;color:#222}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums}
details.q{border:1px solid #bbb;margin:6px 0;padding:4px}details.q>summary{cursor:pointer}
.cat{background:#eef;padding:0 4px}.gold{color:#555}.badge{border-radius:3px;padding:0 4px;font-size:12px}
.ok{background:#dfd}.bad{background:#fdd}.fixed{background:#7c7;color:#fff}.broke{background:#c55;color:#fff}
.goldmark{background:#fc3;padding:0 3px}.keep{background:#eaffea}.drop{color:#777}.chg{outline:2px solid #f80}
.reason{font-family:monospace;font-size:11px;white-space:pre-wrap}img{width:144px;image-rendering:pixelated;border:1px solid #999}
.legend span{display:inline-block;width:12px;height:3px;margin:0 3px 3px 8px}.summary{display:flex;gap:24px;flex-wrap:wrap}
)CSS";

} // namespace detail

/// The page for `records` (all with the same stage names in the same order, as a trainer writes them). Numbers on
/// the page are printed to three decimals; the metrics table's cells carry the stage and metric as data attributes.
[[nodiscard]] inline std::string render_report_html(const std::vector<explanation_record>& records,
                                                    const report_options& opt = {}) {
  using detail::fmt3;
  using detail::html_escape;
  detail::require(opt.page_size > 0, "render_report_html", "page_size", "must be positive");
  std::vector<std::string> stages;
  if (!records.empty())
    for (const auto& s : records.front().stages) stages.push_back(s.name);
  std::string h = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + html_escape(opt.title) +
                  "</title><style>" + std::string(detail::report_style) +
                  "</style></head><body data-status=\"loading\" "
                  "data-page-size=\"" +
                  std::to_string(opt.page_size) + "\"><h1>" + html_escape(opt.title) + "</h1>";

  // Summary: metrics table, curves, categories, fixed/broke.
  h += "<div class=\"summary\"><div>";
  if (opt.summary.is_object()) {
    std::vector<std::string> cols, metrics;
    std::string extra;
    for (const auto& [k, v] : opt.summary.items()) {
      if (v.is_object()) {
        cols.push_back(k);
        for (const auto& [m, x] : v.items())
          if (std::find(metrics.begin(), metrics.end(), m) == metrics.end()) metrics.push_back(m);
      } else {
        extra += html_escape(k) + " " + html_escape(v.dump()) + " ";
      }
    }
    // JSON objects come back sorted by key; columns that name a stage follow the records' stage order instead.
    const auto stage_rank = [&](const std::string& c) {
      return std::find(stages.begin(), stages.end(), c) - stages.begin();
    };
    std::stable_sort(cols.begin(), cols.end(),
                     [&](const auto& a, const auto& b) { return stage_rank(a) < stage_rank(b); });
    h += "<h2>Held-out metrics</h2>" + (extra.empty() ? "" : "<p>" + extra + "</p>") +
         "<table id=\"metrics\"><tr><th>metric</th>";
    for (const auto& c : cols) h += "<th>" + html_escape(c) + "</th>";
    h += "</tr>";
    for (const auto& m : metrics) {
      h += "<tr><th>" + html_escape(m) + "</th>";
      for (const auto& c : cols) {
        const auto& col = opt.summary[c];
        const bool has = col.contains(m) && col[m].is_number();
        h += "<td class=\"num\" data-stage=\"" + html_escape(c) + "\" data-metric=\"" + html_escape(m) + "\">" +
             (has ? fmt3(col[m].get<double>()) : "–") + "</td>";
      }
      h += "</tr>";
    }
    h += "</table>";
  }
  const auto cats = detail::category_rows(records, stages);
  h += "<h2>Answer accuracy per category</h2><table id=\"categories\"><tr><th>category</th><th>questions</th>"
       "<th>best fixed answer</th>";
  for (const auto& s : stages) h += "<th>" + html_escape(s) + "</th>";
  h += "</tr>";
  for (const auto& c : cats) {
    h += "<tr data-category=\"" + html_escape(c.name) + "\"><th>" + html_escape(c.name) + "</th><td class=\"num\">" +
         std::to_string(c.count) + "</td><td class=\"num\" data-fixed>" + fmt3(c.fixed) + " (" +
         html_escape(c.fixed_answer) + ")</td>";
    for (std::size_t s = 0; s < stages.size(); ++s)
      h += "<td class=\"num" + std::string(c.stage_acc[s] > c.fixed ? " ok" : "") + "\" data-stage=\"" +
           html_escape(stages[s]) + "\">" + fmt3(c.stage_acc[s]) + "</td>";
    h += "</tr>";
  }
  h += "</table></div>";
  if (!opt.curves.empty()) h += "<div><h2>Training reward</h2>" + detail::curves_svg(opt.curves) + "</div>";
  if (stages.size() >= 2) {
    std::string fixed, broke;
    std::size_t nf = 0, nb = 0;
    for (const auto& r : records) {
      const auto* a = detail::find_stage(r, stages.front());
      const auto* b = detail::find_stage(r, stages.back());
      if (!a || !b || a->answer_correct == b->answer_correct) continue;
      std::string& to = a->answer_correct < b->answer_correct ? (++nf, fixed) : (++nb, broke);
      to += "<li><b>" + html_escape(r.id) + "</b> " + html_escape(r.question) + ": " + html_escape(a->answer) + " → " +
            html_escape(b->answer) + " (gold " + html_escape(r.answers.empty() ? "" : r.answers[0]) + ")</li>";
    }
    h += "<div><h2>" + html_escape(stages.front()) + " → " + html_escape(stages.back()) +
         "</h2><details><summary id=\"fixed\" "
         "data-count=\"" +
         std::to_string(nf) + "\">fixed: " + std::to_string(nf) + " questions</summary><ul>" + fixed +
         "</ul></details><details><summary id=\"broke\" data-count=\"" + std::to_string(nb) +
         "\">broke: " + std::to_string(nb) + " questions</summary><ul>" + broke + "</ul></details></div>";
  }
  h +=
      "</div><h2>Questions</h2><p><input id=\"filter\" type=\"search\" size=\"40\" placeholder=\"filter: id, question, "
      "category, answer\"> <select id=\"which\"><option value=\"all\">all</option><option "
      "value=\"fixed\">fixed</option>"
      "<option value=\"broke\">broke</option><option value=\"wrong\">wrong at the end</option></select> "
      "<button id=\"prev\">◀</button> <button id=\"next\">▶</button> <button id=\"expand\">open/close all</button> "
      "<span id=\"count\"></span></p><div id=\"questions\"></div>";

  // The records as the script reads them: pixels replaced by PNG data URIs.
  nlohmann::json data = nlohmann::json::array();
  for (const auto& r : records) {
    nlohmann::json j = to_json(r);
    for (std::size_t d = 0; d < r.documents.size(); ++d) {
      auto& jd = j["documents"][d];
      jd.erase("image");
      const auto& e = r.documents[d];
      if (!e.pixels.empty())
        jd["png"] =
            "data:image/png;base64," + detail::base64(detail::encode_png(e.width, e.height, e.channels, e.pixels));
    }
    data.push_back(std::move(j));
  }
  std::string json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // "</" inside a string would end the script element; "<\/" is the same JSON string.
  for (std::size_t p = 0; (p = json.find("</", p)) != std::string::npos; p += 3) json.replace(p, 2, "<\\/");
  h += "<script type=\"application/json\" id=\"records\">" + json + "</script><script>" +
       std::string(detail::report_script) + "</script></body></html>\n";
  return h;
}

/// Writes the page to `path`; throws `mmrag_rft::error` when the file cannot be written.
inline void write_report_html(const std::string& path, const std::vector<explanation_record>& records,
                              const report_options& opt = {}) {
  std::ofstream out(path, std::ios::binary);
  out << render_report_html(records, opt);
  detail::require(static_cast<bool>(out), "write_report_html", "path", "cannot write " + path);
}

/// Reward curves from a metrics JSONL file (metrics_log): for every stage in `stages`, the mean total reward per
/// step ("reward/mean") and each rule's ("reward/<rule>/mean"), named "<stage> <key>". Unreadable lines are skipped.
[[nodiscard]] inline std::vector<report_curve> curves_from_metrics(const std::string& path,
                                                                   const std::vector<std::string>& stages) {
  std::vector<report_curve> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || !j.contains("stage") || !j["stage"].is_string() || !j.contains("step") ||
        !j["step"].is_number())
      continue;
    const auto stage = j["stage"].get<std::string>();
    if (std::find(stages.begin(), stages.end(), stage) == stages.end()) continue;
    for (const auto& [k, v] : j.items()) {
      if (!v.is_number() || k.rfind("reward/", 0) != 0 || k.size() < 5 || k.compare(k.size() - 5, 5, "/mean") != 0)
        continue;
      const std::string name = stage + " " + k;
      auto it = std::find_if(out.begin(), out.end(), [&](const report_curve& c) { return c.name == name; });
      if (it == out.end()) out.push_back({name, {}, {}}), it = out.end() - 1;
      it->x.push_back(j["step"].get<double>());
      it->y.push_back(v.get<double>());
    }
  }
  return out;
}

} // namespace mmrag_rft
