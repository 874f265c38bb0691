// SPDX-License-Identifier: Apache-2.0
// Prompt templates of both MMRAG-RFT stages: point-wise (question, one document) and list-wise (question, kept docs).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/core/sample.hpp>
#include <mmrag_rft/model/prompt.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace mmrag_rft {

/// The text templates of both stages. Placeholders are `{name}`; each template accepts only its own names:
/// - `stage1`: `{question}`, `{document}` (one document rendered with `document`);
/// - `stage2`: `{question}`, `{documents}` (every document rendered with `document`, in order, labels 1..n);
/// - `document`: `{label}` (1-based), `{kind}` (image/text/table), `{title}`, `{text}`, `{image}` (the prompt's
///   image placeholder when the document carries pixels, else nothing).
/// `{{` and `}}` stand for literal braces. Defaults follow the R1-style rankers (`<think>` then `<answer>`) and ask
/// for the sections the stage presets of `rewards/` check: `stage1_format()` (`<think>`, `<answer>`) and
/// `stage2_format()` (`<think>`, `<rank>`, `<answer>`); their rendered form, with a well-formed completion for each
/// stage, is in docs/pipeline.md.
struct prompt_templates {
  std::string stage1 = "Question: {question}\n"
                       "Document: {document}\n"
                       "Is the document relevant to the question? Think inside <think> </think>, then answer yes or "
                       "no inside <answer> </answer>.";
  std::string stage2 = "Question: {question}\n"
                       "Documents:\n{documents}"
                       "Rank the relevant documents, most relevant first, and answer the question. Think inside "
                       "<think> </think>, then write the ranking inside <rank> </rank> and the answer inside "
                       "<answer> </answer>, as <rank> [2, 1] </rank><answer> answer </answer>.";
  std::string document = "[{label}] ({kind}) {title}. {text}{image}\n";
};

namespace detail {
// Expands `{name}` through `value(name, out)`, which appends and returns false for an unknown name. Linear time.
template <class Value>
void expand_template(std::string_view tmpl, std::string& out, const char* field, Value&& value) {
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    const char c = tmpl[i];
    if ((c == '{' || c == '}') && i + 1 < tmpl.size() && tmpl[i + 1] == c) {
      out.push_back(c);
      ++i;
      continue;
    }
    if (c == '}') throw error("prompt_templates", field, "has a '}' without its '{' (write }} for a literal brace)", i);
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    const std::size_t close = tmpl.find('}', i + 1);
    require(close != std::string_view::npos, "prompt_templates", field, "has a '{' that is never closed", i);
    const std::string_view name = tmpl.substr(i + 1, close - i - 1);
    if (!value(name, out))
      throw error("prompt_templates", field, "uses the unknown placeholder {" + std::string(name) + "}", i);
    i = close;
  }
}

inline void render_document(const prompt_templates& t, const document& d, std::size_t label, std::string& out,
                            prompt& p) {
  expand_template(t.document, out, "document", [&](std::string_view name, std::string& o) {
    if (name == "label") o += std::to_string(label);
    else if (name == "kind") o += to_string(d.kind);
    else if (name == "title") o += d.title;
    else if (name == "text") o += d.text;
    else if (name == "image") {
      if (d.image) {
        o += ' ';
        o += prompt::image_placeholder;
        p.images.push_back(d.image);
      }
    } else return false;
    return true;
  });
}
} // namespace detail

/// The stage-1 (point-wise) prompt for document `doc` of `s`: `templates.stage1` with the question and that one
/// document. Throws `mmrag_rft::error` for `doc` out of range or an unknown placeholder. O(length of the output).
[[nodiscard]] inline prompt render_stage1(const prompt_templates& templates, const sample& s, std::size_t doc) {
  detail::require(doc < s.documents.size(), "render_stage1", "doc", "is not an index of sample.documents", doc);
  prompt p;
  detail::expand_template(templates.stage1, p.text, "stage1", [&](std::string_view name, std::string& o) {
    if (name == "question") o += s.question;
    else if (name == "document") detail::render_document(templates, s.documents[doc], 1, o, p);
    else return false;
    return true;
  });
  return p;
}

/// The stage-2 (list-wise) prompt of `s`: `templates.stage2` with the question and every document of `s`, labelled
/// 1..n in order (pass the sample `make_stage2_sample` built from the documents stage 1 kept). A sample without
/// documents gives a prompt with an empty list. O(length of the output).
[[nodiscard]] inline prompt render_stage2(const prompt_templates& templates, const sample& s) {
  prompt p;
  detail::expand_template(templates.stage2, p.text, "stage2", [&](std::string_view name, std::string& o) {
    if (name == "question") o += s.question;
    else if (name == "documents")
      for (std::size_t i = 0; i < s.documents.size(); ++i)
        detail::render_document(templates, s.documents[i], i + 1, o, p);
    else return false;
    return true;
  });
  return p;
}

} // namespace mmrag_rft
