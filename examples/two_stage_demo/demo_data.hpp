// SPDX-License-Identifier: Apache-2.0
// Loads the bundled demo set (WebQA JSON + imgs.tsv of base64 PPM images) into mmrag_rft samples.
#pragma once
#include <mmrag_rft/core.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace demo {

inline std::string strip_quotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

inline std::vector<std::uint8_t> base64_decode(const std::string& in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<std::uint8_t> out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    const auto p = chars.find(c);
    if (p == std::string::npos) continue; // '=' padding and whitespace
    buf = (buf << 6) | static_cast<std::uint32_t>(p);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((buf >> bits) & 0xFF));
    }
  }
  return out;
}

// A binary PPM (P6, maxval 255) as image_data; throws on anything else.
inline std::shared_ptr<mmrag_rft::image_data> parse_ppm(const std::vector<std::uint8_t>& bytes, const std::string& id) {
  std::string head(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(bytes.size(), 32)));
  std::istringstream is(head);
  std::string magic;
  std::size_t w = 0, h = 0, maxval = 0;
  is >> magic >> w >> h >> maxval;
  if (magic != "P6" || maxval != 255 || !is)
    throw mmrag_rft::error("load_images", "imgs.tsv", "image " + id + " is not a P6 PPM");
  const std::size_t off = static_cast<std::size_t>(is.tellg()) + 1;
  if (bytes.size() < off + w * h * 3)
    throw mmrag_rft::error("load_images", "imgs.tsv", "image " + id + " is truncated");
  auto img = std::make_shared<mmrag_rft::image_data>();
  img->width = w, img->height = h, img->channels = 3;
  img->pixels.assign(bytes.begin() + static_cast<std::ptrdiff_t>(off),
                     bytes.begin() + static_cast<std::ptrdiff_t>(off + w * h * 3));
  return img;
}

struct data_set {
  std::vector<mmrag_rft::sample> train, val;
};

// Candidates of a question are its positive and negative facts in a fixed per-question shuffled order (WebQA files
// list positives first; a model must not learn that).
inline data_set load_webqa(const std::string& json_path, const std::string& tsv_path) {
  std::map<std::string, std::shared_ptr<const mmrag_rft::image_data>> images;
  {
    std::ifstream f(tsv_path);
    if (!f) throw mmrag_rft::error("load_webqa", "imgs.tsv", "cannot open " + tsv_path);
    std::string line;
    std::size_t n = 0;
    while (std::getline(f, line)) {
      ++n;
      const auto tab = line.find('\t');
      if (tab == std::string::npos) throw mmrag_rft::error("load_webqa", tsv_path, "line has no tab", n);
      const std::string id = line.substr(0, tab);
      images[id] = parse_ppm(base64_decode(line.substr(tab + 1)), id);
    }
  }
  std::ifstream f(json_path);
  if (!f) throw mmrag_rft::error("load_webqa", "json", "cannot open " + json_path);
  const nlohmann::json j = nlohmann::json::parse(f);
  data_set out;
  for (const auto& [guid, r] : j.items()) {
    mmrag_rft::sample s;
    s.id = guid;
    s.question = strip_quotes(r.at("Q").get<std::string>());
    s.category = r.at("Qcate").get<std::string>();
    s.split = r.at("split").get<std::string>();
    for (const auto& a : r.at("A")) s.answers.push_back(strip_quotes(a.get<std::string>()));
    std::vector<std::pair<mmrag_rft::document, bool>> docs;
    auto add_img = [&](const nlohmann::json& arr, bool pos) {
      for (const auto& x : arr) {
        mmrag_rft::document d;
        d.id = std::to_string(x.at("image_id").get<long long>());
        d.kind = mmrag_rft::modality::image;
        d.title = x.at("title").get<std::string>();
        d.text = x.at("caption").get<std::string>();
        d.url = x.value("url", "");
        const auto it = images.find(d.id);
        if (it == images.end())
          throw mmrag_rft::error("load_webqa", "image_id", d.id + " of " + guid + " is not in imgs.tsv");
        d.image = it->second;
        docs.emplace_back(std::move(d), pos);
      }
    };
    auto add_txt = [&](const nlohmann::json& arr, bool pos) {
      for (const auto& x : arr) {
        mmrag_rft::document d;
        d.id = x.at("snippet_id").get<std::string>();
        d.kind = mmrag_rft::modality::text;
        d.title = x.at("title").get<std::string>();
        d.text = x.at("fact").get<std::string>();
        d.url = x.value("url", "");
        docs.emplace_back(std::move(d), pos);
      }
    };
    add_img(r.at("img_posFacts"), true);
    add_txt(r.at("txt_posFacts"), true);
    add_img(r.at("img_negFacts"), false);
    add_txt(r.at("txt_negFacts"), false);
    std::uint64_t h = 1469598103934665603ULL; // FNV-1a of the guid seeds the shuffle
    for (char c : guid) h = (h ^ static_cast<std::uint8_t>(c)) * 1099511628211ULL;
    for (std::size_t i = docs.size(); i > 1; --i) {
      h ^= h << 13, h ^= h >> 7, h ^= h << 17;
      std::swap(docs[i - 1], docs[h % i]);
    }
    for (std::size_t i = 0; i < docs.size(); ++i) {
      if (docs[i].second) s.gold.push_back(i);
      s.documents.push_back(std::move(docs[i].first));
    }
    (s.split == "train" ? out.train : out.val).push_back(std::move(s));
  }
  return out;
}

} // namespace demo
