// SPDX-License-Identifier: Apache-2.0
// Fuzz target: the QA metrics (SQuAD EM and token F1, WebQA QA accuracy in every category, MultimodalQA EM/F1) on
// any bytes. The input is a prediction and golds separated by 0x00 bytes; the first byte picks the WebQA category.
#include <mmrag_rft/metrics/mmqa.hpp>
#include <mmrag_rft/metrics/qa.hpp>
#include <mmrag_rft/metrics/webqa.hpp>
#include <mmrag_rft/text/normalize.hpp>

#include "fuzz_check.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using mmrag_rft::fuzz::check;

bool unit(double x) { return std::isfinite(x) && x >= 0 && x <= 1; }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::array<mmrag_rft::webqa_category, 7> categories{
      mmrag_rft::webqa_category::color, mmrag_rft::webqa_category::shape,  mmrag_rft::webqa_category::number,
      mmrag_rft::webqa_category::yesno, mmrag_rft::webqa_category::choose, mmrag_rft::webqa_category::others,
      mmrag_rft::webqa_category::text};
  const auto category = categories[size > 0 ? data[0] % categories.size() : 0];
  const auto parts = mmrag_rft::fuzz::split(mmrag_rft::fuzz::after_first(data, size), '\0');
  const std::string_view pred = parts[0];
  // At most 8 golds and 8 predicted answers: every gold is scored several times below, and MultimodalQA's F1 pairs
  // the lists by an assignment (cubic in their lengths), so long lists would make each input slow without reaching
  // other code.
  const std::span<const std::string_view> golds(parts.data() + 1, std::min<std::size_t>(parts.size() - 1, 8));

  // SQuAD: in range, EM implies F1 = 1 unless both sides normalise to nothing, the maximum over golds is the best one.
  const double em = mmrag_rft::exact_match(pred, golds), f1 = mmrag_rft::token_f1(pred, golds);
  check(em == 0.0 || em == 1.0, "exact match is 0 or 1");
  check(unit(f1), "token F1 lies in [0, 1]");
  const bool pred_has_tokens = !mmrag_rft::normalize_answer(pred).empty();
  if (em == 1.0 && pred_has_tokens) check(f1 == 1.0, "an exact match has token F1 1");
  double best_em = 0, best_f1 = 0;
  for (const auto g : golds) {
    const double e = mmrag_rft::exact_match(pred, g), f = mmrag_rft::token_f1(pred, g);
    check(e == mmrag_rft::exact_match(g, pred), "exact match is symmetric");
    check(f == mmrag_rft::token_f1(g, pred), "token F1 is symmetric");
    best_em = std::max(best_em, e);
    best_f1 = std::max(best_f1, f);
  }
  check(em == best_em && f1 == best_f1, "the score over golds is the best single score");
  check(mmrag_rft::exact_match(pred, pred) == 1.0, "an answer matches itself");
  if (pred_has_tokens) check(mmrag_rft::token_f1(pred, pred) == 1.0, "an answer has token F1 1 with itself");

  // WebQA: in range in every category; the maximum over golds is the best single one.
  const double acc = mmrag_rft::webqa_qa_accuracy(pred, golds, category);
  check(unit(acc), "WebQA accuracy lies in [0, 1]");
  double best_acc = 0;
  for (const auto g : golds) best_acc = std::max(best_acc, mmrag_rft::webqa_qa_accuracy(pred, g, category));
  check(acc == best_acc, "WebQA accuracy over golds is the best single one");

  // MultimodalQA: the golds as one reference list, the prediction split at newlines as the predicted list.
  auto predicted = mmrag_rft::fuzz::split(pred, '\n');
  predicted.resize(std::min<std::size_t>(predicted.size(), 8));
  const auto m = mmrag_rft::mmqa_em_f1(predicted, golds);
  check(m.em == 0.0 || m.em == 1.0, "MultimodalQA EM is 0 or 1");
  check(unit(m.f1), "MultimodalQA F1 lies in [0, 1]");
  check(mmrag_rft::mmqa_em_f1(golds, golds).em == 1.0, "a MultimodalQA answer list matches itself");
  check(mmrag_rft::mmqa_em_f1(golds, predicted).em == m.em, "MultimodalQA EM is symmetric");
  return 0;
}
