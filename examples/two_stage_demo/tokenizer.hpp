// SPDX-License-Identifier: Apache-2.0
// A word-level tokenizer for the demo: words, single punctuation marks and <tags>; "<image>" becomes one <img>
// token per image slot, which the model replaces by vision-encoder embeddings.
#pragma once
#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace demo {

class tokenizer {
public:
  static constexpr std::int64_t pad = 0, bos = 1, eos = 2, img = 3, unk = 4;
  static constexpr int image_slots = 3; // the demo images are three 8x8 slots side by side

  // The vocabulary is the sorted set of pieces of `texts` (deterministic for the same data).
  explicit tokenizer(const std::vector<std::string>& texts) {
    words_ = {"<pad>", "<bos>", "<eos>", "<img>", "<unk>"};
    std::set<std::string> pieces;
    for (const auto& t : texts)
      for (auto& p : split(t))
        if (p != "<image>") pieces.insert(p);
    for (const auto& p : pieces) words_.push_back(p);
    for (std::size_t i = 0; i < words_.size(); ++i) ids_[words_[i]] = static_cast<std::int64_t>(i);
    open_ = id_of("["), close_ = id_of("]");
    for (std::int64_t k = 1; k <= max_docs; ++k) digit_[k - 1] = id_of(std::to_string(k));
    for (std::size_t i = 0; i < resets_.size(); ++i)
      resets_[i] = id_of(std::array{"<think>", "</think>", "<rank>", "<answer>"}[i]);
  }

  // Document segments. A token belongs to document k (1..max_docs) when the last "[k]" before it, in the same text,
  // is not followed by a section tag: the prompt's "[2] bix of the lake : photo <img> <img> <img>" and the
  // completion's "[2] bix lake : 2 red circle" share segment 2. The model adds a learned embedding per segment, so
  // the place where the reasoning describes document k can look up document k's image directly.
  static constexpr std::int64_t max_docs = 5;
  struct segment_state {
    std::int64_t current = 0, prev = -1, prev2 = -1;
  };
  // The segment of `id`, the next token of a text whose earlier tokens left `s`.
  [[nodiscard]] std::int64_t segment(segment_state& s, std::int64_t id) const {
    if (id == close_ && s.prev2 == open_)
      for (std::int64_t k = 1; k <= max_docs; ++k)
        if (s.prev == digit_[k - 1]) s.current = k;
    if (std::find(resets_.begin(), resets_.end(), id) != resets_.end()) s.current = 0;
    s.prev2 = s.prev, s.prev = id;
    return s.current;
  }

  [[nodiscard]] std::size_t size() const noexcept { return words_.size(); }

  [[nodiscard]] static std::vector<std::string> split(std::string_view s) {
    std::vector<std::string> out;
    std::size_t i = 0;
    while (i < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[i]);
      if (std::isspace(c)) {
        ++i;
      } else if (c == '<') {
        std::size_t j = i + 1;
        while (j < s.size() && (std::isalpha(static_cast<unsigned char>(s[j])) || s[j] == '/')) ++j;
        if (j < s.size() && s[j] == '>' && j > i + 1) {
          out.emplace_back(s.substr(i, j - i + 1));
          i = j + 1;
        } else {
          out.emplace_back(1, s[i++]);
        }
      } else if (std::isalnum(c)) {
        std::size_t j = i;
        while (j < s.size() && std::isalnum(static_cast<unsigned char>(s[j]))) ++j;
        std::string w(s.substr(i, j - i));
        std::transform(w.begin(), w.end(), w.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        out.push_back(std::move(w));
        i = j;
      } else {
        out.emplace_back(1, s[i++]);
      }
    }
    return out;
  }

  [[nodiscard]] std::vector<std::int64_t> encode(std::string_view s) const {
    std::vector<std::int64_t> out;
    for (const auto& p : split(s)) {
      if (p == "<image>") {
        out.insert(out.end(), image_slots, img);
        continue;
      }
      const auto it = ids_.find(p);
      out.push_back(it == ids_.end() ? unk : it->second);
    }
    return out;
  }

  // Joins pieces with spaces, except around brackets and before punctuation, so rankings read "[2, 1]".
  [[nodiscard]] std::string decode(const std::vector<std::int64_t>& ids) const {
    std::string out;
    bool glue = true;
    for (std::int64_t id : ids) {
      if (id == eos || id == pad) break;
      const std::string& w = (id >= 0 && static_cast<std::size_t>(id) < words_.size())
                                 ? words_[static_cast<std::size_t>(id)]
                                 : words_[unk];
      const bool tight = w == "," || w == "]" || w == "." || w == ";" || w == ":" || w == "?";
      if (!glue && !tight) out += ' ';
      out += w;
      glue = w == "[";
    }
    return out;
  }

private:
  [[nodiscard]] std::int64_t id_of(const std::string& w) const {
    const auto it = ids_.find(w);
    return it == ids_.end() ? -1 : it->second;
  }
  std::vector<std::string> words_;
  std::map<std::string, std::int64_t> ids_;
  std::int64_t open_ = -1, close_ = -1;
  std::array<std::int64_t, max_docs> digit_{};
  std::array<std::int64_t, 4> resets_{};
};

} // namespace demo
