// SPDX-License-Identifier: Apache-2.0
// A tiny table-based Policy for the pipeline tests: per prompt text, a softmax over a fixed list of whole
// completions (one "token" each). Not LibTorch: it proves the pipeline runs with any Policy.
#pragma once
#include <mmrag_rft/model.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace test_support {

/// The coarse filter's verdict score of a one-word completion: 1 for "yes", 0 for "no", none otherwise.
inline std::optional<double> yes_no(std::string_view t) {
  if (t == "yes") return 1.0;
  if (t == "no") return 0.0;
  return std::nullopt;
}

class table_policy {
public:
  explicit table_policy(std::vector<std::string> choices, double lr = 20.0) : choices_(std::move(choices)), lr_(lr) {}

  [[nodiscard]] mmrag_rft::rollout_batch generate(const mmrag_rft::prompt_batch& prompts,
                                                  const mmrag_rft::rollout_options& o) {
    auto b = mmrag_rft::rollout_batch::zeros(prompts.size(), o.group_size, 1);
    b.temperature = o.log_prob_temperature();
    std::uint64_t s = o.seed * 0x9e3779b97f4a7c15ULL + 1;
    for (std::size_t p = 0; p < prompts.size(); ++p) {
      const std::vector<double> pr = probs(prompts[p].text, b.temperature);
      for (std::size_t g = 0; g < o.group_size; ++g) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        const double u = static_cast<double>(s >> 11) / 9007199254740992.0;
        std::size_t k = 0;
        if (o.temperature == 0) {
          for (std::size_t j = 1; j < pr.size(); ++j) k = pr[j] > pr[k] ? j : k;
        } else {
          double c = pr[0];
          while (k + 1 < pr.size() && u >= c) c += pr[++k];
        }
        const std::size_t row = p * o.group_size + g;
        b.tokens[row] = static_cast<std::int32_t>(k);
        b.log_probs[row] = static_cast<float>(std::log(pr[k]));
        b.entropy[row] = static_cast<float>(entropy_of(pr));
        b.mask[row] = 1;
        b.completions[row] = {choices_[k], 1, false};
      }
    }
    return b;
  }

  void log_probs(const mmrag_rft::prompt_batch& prompts, const mmrag_rft::rollout_batch& r,
                 mmrag_rft::matrix_view<float> out) {
    last_.clear();
    temperature_ = r.temperature;
    for (std::size_t row = 0; row < r.rows(); ++row) {
      const std::string& key = prompts[row / r.group_size].text;
      const std::size_t k = static_cast<std::size_t>(r.tokens[row * r.cols]);
      out(row, 0) = static_cast<float>(std::log(probs(key, temperature_)[k]));
      last_.push_back({key, k});
    }
  }

  // EntropyPolicy: the entropy of softmax(theta / T) too, H = -sum_j p_j log p_j.
  void log_probs_and_entropy(const mmrag_rft::prompt_batch& prompts, const mmrag_rft::rollout_batch& r,
                             mmrag_rft::matrix_view<float> out, mmrag_rft::matrix_view<float> entropy) {
    log_probs(prompts, r, out);
    for (std::size_t row = 0; row < r.rows(); ++row)
      entropy(row, 0) = static_cast<float>(entropy_of(probs(last_[row].first, temperature_)));
  }

  void backward(mmrag_rft::matrix_view<const float> grad, mmrag_rft::matrix_view<const float> grad_entropy) {
    backward(grad);
    for (std::size_t row = 0; row < last_.size(); ++row) {
      const std::vector<double> pr = probs(last_[row].first, temperature_);
      const double h = entropy_of(pr);
      auto& g = grads_[last_[row].first];
      // dH / d theta_j = -p_j (log p_j + H) / T
      for (std::size_t j = 0; j < pr.size(); ++j)
        g[j] += pr[j] > 0 ? grad_entropy(row, 0) * -pr[j] * (std::log(pr[j]) + h) / temperature_ : 0.0;
    }
  }

  [[nodiscard]] static double entropy_of(const std::vector<double>& p) {
    double h = 0;
    for (double q : p) h -= q > 0 ? q * std::log(q) : 0.0;
    return h;
  }

  void backward(mmrag_rft::matrix_view<const float> grad) {
    for (std::size_t row = 0; row < last_.size(); ++row) {
      const auto& [key, k] = last_[row];
      const std::vector<double> pr = probs(key, temperature_);
      auto& g = grads_[key];
      g.resize(choices_.size(), 0.0);
      // d log softmax(theta / T)_k / d theta_j = ([j == k] - p_j) / T
      for (std::size_t j = 0; j < pr.size(); ++j) g[j] += grad(row, 0) * ((j == k ? 1.0 : 0.0) - pr[j]) / temperature_;
    }
  }

  void step() {
    for (auto& [key, g] : grads_) {
      auto& t = theta(key);
      for (std::size_t j = 0; j < g.size(); ++j) t[j] -= lr_ * g[j];
    }
    grads_.clear();
  }

  /// softmax(theta / temperature) of one prompt's completions.
  [[nodiscard]] std::vector<double> probs(const std::string& key, double temperature = 1.0) {
    const auto& t = theta(key);
    double mx = t[0], z = 0;
    for (double x : t) mx = std::max(mx, x);
    std::vector<double> p(t.size());
    for (std::size_t j = 0; j < t.size(); ++j) z += p[j] = std::exp((t[j] - mx) / temperature);
    for (double& x : p) x /= z;
    return p;
  }

private:
  std::vector<double>& theta(const std::string& key) {
    auto& t = theta_[key];
    t.resize(choices_.size(), 0.0);
    return t;
  }
  std::vector<std::string> choices_;
  double lr_;
  std::map<std::string, std::vector<double>> theta_, grads_;
  std::vector<std::pair<std::string, std::size_t>> last_;
  double temperature_ = 1.0;
};

} // namespace test_support
