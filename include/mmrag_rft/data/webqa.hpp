// SPDX-License-Identifier: Apache-2.0
// Loader of the WebQA benchmark JSON (WebQA_train_val.json, WebQA_test.json) into samples, streamed in one pass.
// Needs nlohmann-json (header-only): a consumer links nlohmann_json::nlohmann_json. Not part of <mmrag_rft/mmrag_rft.hpp>.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/document.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/data/detail/document_order.hpp>
#include <mmrag_rft/data/detail/json_input.hpp>
#include <mmrag_rft/data/file_error.hpp>

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mmrag_rft {

/// How `load_webqa` turns records into samples.
struct webqa_load_options {
  /// Keep only records whose `split` equals this (`"train"`, `"val"`, `"test"`); empty keeps all.
  std::string split;
  /// Remove one pair of literal double quotes around `Q`, each `A` and `Keywords_A` (WebQA wraps many in `"…"`).
  /// Scores do not change: the official normalisation drops punctuation anyway.
  bool strip_quotes = true;
  /// Keep the negative (distractor) facts as candidate documents; false keeps only the positives.
  bool include_negatives = true;
  /// Candidate order: `std::nullopt` keeps file order (image facts then text facts, positives first, as the file
  /// lists them), which puts every gold document first; a seed shuffles each sample's documents reproducibly
  /// (platform-independent, see `detail::shuffle_documents`) and remaps `gold`.
  std::optional<std::uint64_t> shuffle_seed;
  /// Called once per image document after it is read; its result becomes `document::image` (pixels or features
  /// from the WebQA image TSV, a cache, a vision encoder). Empty: images carry id, title and caption only.
  std::function<std::shared_ptr<const image_data>(const document&)> attach_image;
  /// Deepest nesting of arrays and objects accepted anywhere in the file, skipped fields included; deeper is a
  /// located error. WebQA itself nests 4 deep (root, record, fact list, fact).
  std::size_t max_depth = 256;
};

namespace detail {

/// SAX consumer of the WebQA JSON: the root object maps Guid -> record; a record holds `Q`, `A`, `Keywords_A`,
/// `Qcate`, `split`, `topic`, `Guid` and the fact lists. Values are validated where they stand, so an error knows
/// its byte offset, record and field path. Unknown fields are skipped whatever their shape.
class webqa_sax {
public:
  webqa_sax(std::vector<sample>& out, const webqa_load_options& o, byte_source& src, std::string_view function,
            std::string_view file)
      : out_(out), o_(o), src_(src), fn_(function), file_(file) {}

  using number_integer_t = nlohmann::json::number_integer_t;
  using number_unsigned_t = nlohmann::json::number_unsigned_t;
  using number_float_t = nlohmann::json::number_float_t;
  using string_t = nlohmann::json::string_t;
  using binary_t = nlohmann::json::binary_t;

  bool null() { return scalar(kind::null, nullptr); }
  bool boolean(bool) { return scalar(kind::boolean, nullptr); }
  bool number_integer(number_integer_t v) {
    integer_ = v;
    unsigned_ = false;
    return scalar(kind::integer, nullptr);
  }
  bool number_unsigned(number_unsigned_t v) {
    // Kept apart from integer_: a value above INT64_MAX is still an integer.
    uinteger_ = v;
    unsigned_ = true;
    return scalar(kind::integer, nullptr);
  }
  bool number_float(number_float_t, const string_t&) { return scalar(kind::number, nullptr); }
  bool string(string_t& s) { return scalar(kind::string, &s); }
  bool binary(binary_t&) { return scalar(kind::binary, nullptr); }

  bool start_object(std::size_t) {
    nest();
    if (skip_) return ++skip_, true;
    switch (at_) {
    case level::top: at_ = level::root; return true;
    case level::root:
      begin_record();
      at_ = level::record;
      return true;
    case level::record:
      if (field_ == rfield::other) return ++skip_, true;
      return fail("expected " + std::string(expected(field_)) + ", got object");
    case level::list:
      if (list_ == lkind::facts) {
        begin_fact();
        at_ = level::fact;
        return true;
      }
      return fail("expected string, got object");
    case level::fact:
      if (ffield_ == ffield::other) return ++skip_, true;
      return fail(std::string("expected ") + (ffield_ == ffield::image_id ? "integer" : "string") + ", got object");
    case level::done: return true;
    }
    return true;
  }
  bool key(string_t& k) {
    if (skip_) return true;
    if (at_ == level::root) {
      guid_ = std::move(k);
      return true;
    }
    if (at_ == level::record) {
      field_ = record_field(k);
      key_ = std::move(k);
    } else if (at_ == level::fact) {
      ffield_ = fact_field(k);
      fkey_ = std::move(k);
    }
    return true;
  }
  bool end_object() {
    --depth_;
    if (skip_) return --skip_, true;
    switch (at_) {
    case level::root: at_ = level::done; return true;
    case level::record:
      end_record();
      at_ = level::root;
      return true;
    case level::fact:
      end_fact();
      at_ = level::list;
      return true;
    default: return true;
    }
  }
  bool start_array(std::size_t) {
    nest();
    if (skip_) return ++skip_, true;
    if (at_ == level::top) return fail("expected an object keyed by Guid at the top level, got array");
    if (at_ == level::root) return fail("expected object, got array");
    if (at_ == level::record) {
      switch (field_) {
      case rfield::answers: list_ = lkind::answers; break;
      case rfield::keywords: list_ = lkind::keywords; break;
      case rfield::img_pos:
      case rfield::img_neg:
      case rfield::img_all:
      case rfield::txt_pos:
      case rfield::txt_neg:
      case rfield::txt_all: list_ = lkind::facts; break;
      case rfield::other: return ++skip_, true;
      default: return fail("expected string, got array");
      }
      index_ = 0;
      at_ = level::list;
      return true;
    }
    if (at_ == level::list)
      return fail(list_ == lkind::facts ? "expected object, got array" : "expected string, got array");
    if (ffield_ == ffield::other) return ++skip_, true;
    return fail(std::string("expected ") + (ffield_ == ffield::image_id ? "integer" : "string") + ", got array");
  }
  bool end_array() {
    --depth_;
    if (skip_) return --skip_, true;
    if (at_ == level::list) {
      at_ = level::record;
      field_ = rfield::other;
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    const std::string msg = json_error_text(e);
    const std::uint64_t at = position > 0 ? position - 1 : 0;
    throw file_error(fn_, file_, src_.line(), at, at_ == level::top || at_ == level::root ? "" : guid_, "",
                     "invalid JSON: " + msg);
  }

private:
  enum class kind { null, boolean, integer, number, string, binary };
  enum class level { top, root, record, list, fact, done };
  enum class rfield {
    question,
    answers,
    keywords,
    category,
    split,
    guid,
    img_pos,
    img_neg,
    img_all,
    txt_pos,
    txt_neg,
    txt_all,
    other
  };
  enum class lkind { answers, keywords, facts };
  enum class ffield { image_id, snippet_id, title, caption, fact, url, img_url, other };

  [[nodiscard]] static rfield record_field(std::string_view k) noexcept {
    if (k == "Q") return rfield::question;
    if (k == "A") return rfield::answers;
    if (k == "Keywords_A") return rfield::keywords;
    if (k == "Qcate") return rfield::category;
    if (k == "split") return rfield::split;
    if (k == "Guid") return rfield::guid;
    if (k == "img_posFacts") return rfield::img_pos;
    if (k == "img_negFacts") return rfield::img_neg;
    if (k == "img_Facts") return rfield::img_all;
    if (k == "txt_posFacts") return rfield::txt_pos;
    if (k == "txt_negFacts") return rfield::txt_neg;
    if (k == "txt_Facts") return rfield::txt_all;
    return rfield::other;
  }
  [[nodiscard]] ffield fact_field(std::string_view k) const noexcept {
    if (k == "title") return ffield::title;
    if (k == "url") return ffield::url;
    if (image_fact_) {
      if (k == "image_id") return ffield::image_id;
      if (k == "caption") return ffield::caption;
      if (k == "imgUrl") return ffield::img_url;
    } else {
      if (k == "snippet_id") return ffield::snippet_id;
      if (k == "fact") return ffield::fact;
    }
    return ffield::other;
  }
  [[nodiscard]] static std::string_view expected(rfield f) noexcept {
    switch (f) {
    case rfield::answers:
    case rfield::keywords: return "string or array of strings";
    case rfield::img_pos:
    case rfield::img_neg:
    case rfield::img_all:
    case rfield::txt_pos:
    case rfield::txt_neg:
    case rfield::txt_all: return "array";
    default: return "string";
    }
  }
  [[nodiscard]] static std::string_view name(kind k) noexcept {
    switch (k) {
    case kind::null: return "null";
    case kind::boolean: return "boolean";
    case kind::integer: return "integer";
    case kind::number: return "number";
    case kind::string: return "string";
    default: return "binary";
    }
  }

  [[nodiscard]] std::string path() const {
    std::string p = key_;
    if (at_ == level::list || at_ == level::fact) p.append("[").append(std::to_string(index_)).append("]");
    if (at_ == level::fact && !fkey_.empty()) p.append(".").append(fkey_);
    return p;
  }
  // Counts every level, skipped ones too, so the skip counter cannot overflow and an endless nesting stops early.
  void nest() {
    if (++depth_ > o_.max_depth)
      fail("nesting deeper than " + std::to_string(o_.max_depth) + " levels (webqa_load_options::max_depth)");
  }
  bool fail(std::string message) const {
    throw file_error(fn_, file_, src_.line(), src_.offset() > 0 ? src_.offset() - 1 : 0,
                     at_ == level::top ? std::string_view{} : std::string_view{guid_}, path(), message);
  }
  void take(std::string& dst, std::string* s, bool strip) {
    dst = std::move(*s);
    if (strip && o_.strip_quotes && dst.size() >= 2 && dst.front() == '"' && dst.back() == '"')
      dst = dst.substr(1, dst.size() - 2);
  }

  bool scalar(kind k, std::string* s) {
    if (skip_) return true;
    switch (at_) {
    case level::top: return fail("expected an object keyed by Guid at the top level, got " + std::string(name(k)));
    case level::root: return fail("expected object, got " + std::string(name(k)));
    case level::record: {
      if (field_ == rfield::other || field_ == rfield::guid) return true;
      if (k == kind::null) return true; // an optional field written as null is absent
      if (k != kind::string) return fail("expected " + std::string(expected(field_)) + ", got " + std::string(name(k)));
      switch (field_) {
      case rfield::question:
        take(cur_.question, s, true);
        has_q_ = true;
        break;
      case rfield::answers: take(cur_.answers.emplace_back(), s, true); break;
      case rfield::keywords: take(cur_.keywords.emplace_back(), s, true); break;
      case rfield::category: take(cur_.category, s, false); break;
      case rfield::split: take(cur_.split, s, false); break;
      default: return fail("expected array, got string");
      }
      return true;
    }
    case level::list:
      if (list_ == lkind::facts) return fail("expected object, got " + std::string(name(k)));
      if (k != kind::string) return fail("expected string, got " + std::string(name(k)));
      take((list_ == lkind::answers ? cur_.answers : cur_.keywords).emplace_back(), s, true);
      ++index_;
      return true;
    case level::fact: {
      if (ffield_ == ffield::other) return true;
      if (ffield_ == ffield::image_id) {
        if (k != kind::integer) return fail("expected integer, got " + std::string(name(k)));
        doc_.id = unsigned_ ? std::to_string(uinteger_) : std::to_string(integer_);
        has_id_ = true;
        return true;
      }
      if (k == kind::null && ffield_ != ffield::snippet_id) return true;
      if (k != kind::string) return fail("expected string, got " + std::string(name(k)));
      switch (ffield_) {
      case ffield::snippet_id:
        take(doc_.id, s, false);
        has_id_ = true;
        break;
      case ffield::title: take(doc_.title, s, false); break;
      case ffield::caption:
      case ffield::fact: take(doc_.text, s, false); break;
      case ffield::url: take(doc_.url, s, false); break;
      default: break; // imgUrl: the page url is kept; the image itself comes through attach_image
      }
      return true;
    }
    case level::done: return true;
    }
    return true;
  }

  void begin_record() {
    cur_ = sample{};
    cur_.id = guid_;
    has_q_ = false;
    key_.clear();
    field_ = rfield::other;
  }
  void end_record() {
    key_.clear();
    if (!has_q_) fail("missing required field Q");
    if (!o_.split.empty() && cur_.split != o_.split) return;
    if (o_.shuffle_seed) shuffle_documents(cur_, *o_.shuffle_seed);
    out_.push_back(std::move(cur_));
  }
  void begin_fact() {
    image_fact_ = field_ == rfield::img_pos || field_ == rfield::img_neg || field_ == rfield::img_all;
    positive_ = field_ == rfield::img_pos || field_ == rfield::txt_pos;
    keep_ = positive_ || o_.include_negatives;
    doc_ = document{};
    doc_.kind = image_fact_ ? modality::image : modality::text;
    has_id_ = false;
    fkey_.clear();
    ffield_ = ffield::other;
  }
  void end_fact() {
    fkey_.clear();
    if (!has_id_) fail(image_fact_ ? "missing required field image_id" : "missing required field snippet_id");
    if (keep_) {
      if (image_fact_ && o_.attach_image) doc_.image = o_.attach_image(doc_);
      if (positive_) cur_.gold.push_back(cur_.documents.size());
      cur_.documents.push_back(std::move(doc_));
    }
    ++index_;
  }

  std::vector<sample>& out_;
  const webqa_load_options& o_;
  byte_source& src_;
  std::string_view fn_;
  std::string_view file_;

  level at_ = level::top;
  std::size_t skip_ = 0, depth_ = 0;
  std::string guid_, key_, fkey_;
  rfield field_ = rfield::other;
  ffield ffield_ = ffield::other;
  lkind list_ = lkind::answers;
  std::size_t index_ = 0;
  std::int64_t integer_ = 0;
  std::uint64_t uinteger_ = 0;
  bool unsigned_ = false;
  sample cur_;
  document doc_;
  bool has_q_ = false, has_id_ = false, image_fact_ = false, positive_ = false, keep_ = true;
};

inline std::vector<sample> run_webqa(byte_source& src, const webqa_load_options& o, std::string_view fn,
                                     std::string_view file) {
  std::vector<sample> out;
  webqa_sax sax(out, o, src, fn, file);
  nlohmann::json::sax_parse(byte_iterator(src), byte_iterator(), &sax);
  return out;
}

} // namespace detail

/// Reads a WebQA file (`WebQA_train_val.json` or `WebQA_test.json`: one JSON object mapping each Guid to its
/// record) into samples, in file order. [WebQnA/WebQA README "Download Data"; WebQnA/WebQA demo notebook]
///
/// Per record: `id` = the Guid key; `question` = `Q`; `answers` = `A` (a list, or one string); `keywords` =
/// `Keywords_A` where present; `category` = `Qcate`; `split` = `split`. Documents: each fact of `img_posFacts`,
/// `img_negFacts`, `txt_posFacts`, `txt_negFacts` (and the unlabelled `img_Facts` / `txt_Facts` of the test file) in
/// file order; an image fact gives `{id = image_id as text, kind = image, title, text = caption, url}`, a text fact
/// `{id = snippet_id, kind = text, title, text = fact, url}`; `gold` indexes the positive facts.
///
/// Required: the top-level object, `Q` in each record, `image_id` (an integer) in each image fact and `snippet_id`
/// (a string) in each text fact. Everything else is optional (absent or `null` leaves the member empty); unknown
/// fields are skipped. A present field of the wrong type, a missing required field or invalid JSON throws
/// `file_error` naming the file, line, byte offset, Guid and field path, e.g.
/// `"d5bbc…": img_posFacts[2].image_id: expected integer, got string`. A file that cannot be opened or read (a
/// directory) throws too, as does nesting deeper than `max_depth`. An `image_id` of any size (up to 2^64 - 1) is
/// kept as its decimal text.
///
/// One pass over the file in 1 MiB chunks through nlohmann-json's SAX parser: no DOM and no whole-file buffer, so
/// peak memory is the samples plus 1 MiB. A gzip-compressed file is read as its content (told from the first bytes,
/// whatever the name), with line and byte offsets counted in the decompressed text. O(file size) time; see docs/performance.md for throughput.
[[nodiscard]] inline std::vector<sample> load_webqa(const std::filesystem::path& file,
                                                    const webqa_load_options& options = {}) {
  detail::byte_source src(file, "load_webqa");
  const std::string name = file.string();
  return detail::run_webqa(src, options, "load_webqa", name);
}

/// As `load_webqa`, from JSON text in memory; `source_name` stands for the file name in error messages.
[[nodiscard]] inline std::vector<sample> parse_webqa(std::string_view json_text,
                                                     std::string_view source_name = "<memory>",
                                                     const webqa_load_options& options = {}) {
  detail::byte_source src(json_text);
  return detail::run_webqa(src, options, "parse_webqa", source_name);
}

} // namespace mmrag_rft
