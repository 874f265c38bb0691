#include <mmrag_rft/metrics.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace mmrag_rft;

namespace {
// Bytes drawn mostly from characters the normalisers treat specially, plus arbitrary bytes (NUL, UTF-8 pieces).
std::string random_text(std::mt19937& gen) {
  static constexpr std::string_view special = " -.,_e1059atThn\t\xC3\xA9";
  static constexpr std::string_view words[] = {"one", "point", "thousand", "the", "inf", "nan", "red", "yes", "1e400"};
  std::string s;
  const auto n = static_cast<std::uint32_t>(gen() % 24);
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto r = static_cast<std::uint32_t>(gen());
    if (r % 4 == 0) s += words[(r >> 8) % std::size(words)];
    else if (r % 4 == 1) s.push_back(static_cast<char>((r >> 8) & 0xFF));
    else s.push_back(special[(r >> 8) % special.size()]);
  }
  return s;
}
} // namespace

TEST_SUITE("metrics") {

TEST_CASE("answer metrics: total and in [0, 1] on random bytes") {
  std::mt19937 gen(20260101u);
  for (int i = 0; i < 3000; ++i) {
    const std::string a = random_text(gen), b = random_text(gen), c = random_text(gen);
    const double em = exact_match(a, b), f1 = token_f1(a, {b, c});
    CHECK((em == 0.0 || em == 1.0));
    CHECK((f1 >= 0.0 && f1 <= 1.0));
    for (const char* cat : {"color", "shape", "number", "YesNo", "text"}) {
      const double acc = webqa_qa_accuracy(a, b, std::string_view(cat));
      CHECK((acc >= 0.0 && acc <= 1.0));
    }
    const std::vector<std::string> pred{a, b}, gold{c};
    const auto m = mmqa_em_f1(pred, gold);
    CHECK((m.em == 0.0 || m.em == 1.0));
    CHECK((m.f1 >= 0.0 && m.f1 <= 1.0));
    CHECK(mmqa_normalize(a).size() <= 24 * a.size() + 8);
  }
}

} // TEST_SUITE("metrics")
