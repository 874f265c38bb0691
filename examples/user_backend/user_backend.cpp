// SPDX-License-Identifier: Apache-2.0
// A backend written outside the library: `pool` runs GRPO and the policy loss on std::jthreads with the library's
// plans (mmrag_rft/plan.hpp), and is called with the library's own function names. It checks itself against
// exec::seq and exits 1 on a mismatch.
#include <mmrag_rft/mmrag_rft.hpp>
#include <mmrag_rft/plan.hpp>

#include <cmath>
#include <cstdio>
#include <random>
#include <thread>
#include <vector>

namespace user {

namespace plan = mmrag_rft::plan;
using namespace mmrag_rft;

/// Splits the groups (GRPO) or rows (loss) of a call into `threads` contiguous slices.
struct pool : exec::backend_base<pool> {
  unsigned threads = 4;
};

template <class Fn>
void parallel_slices(const pool& p, std::size_t n, Fn&& fn) {
  std::vector<std::jthread> workers;
  for (unsigned t = 0; t < p.threads; ++t)
    workers.emplace_back([&, t] { fn(t, n * t / p.threads, n * (t + 1) / p.threads); });
}

// Found by argument-dependent lookup on `pool`: grpo_advantages(pool{}, ...) lands here.
template <class T>
advantage_summary implement(const grpo_advantages_fn&, const pool& p, std::span<const T> rewards,
                            const group_layout& groups, std::span<T> out, const grpo_options& o,
                            std::span<std::uint8_t> keep) {
  plan::validate_grpo(rewards.size(), out.size(), keep.size(), groups, o);
  plan::check_rewards(rewards, o.nonfinite, "grpo_advantages");
  // TRL's scale_rewards="batch" needs the std of the whole batch first (the plan's rule, overflow-safe).
  const plan::grpo_batch_spread batch = plan::grpo_batch_spread_of(rewards, o);
  std::vector<plan::grpo_counts> part(p.threads);
  std::vector<std::uint32_t> status(groups.num_groups());
  parallel_slices(p, groups.num_groups(), [&](unsigned t, std::size_t g0, std::size_t g1) {
    for (std::size_t g = g0; g < g1; ++g) {
      const std::size_t b = groups.begin(g), e = groups.end(g);
      status[g] = plan::grpo_group<false>(rewards.data() + b, e - b, out.data() + b,
                                          keep.empty() ? nullptr : keep.data() + b, o, batch);
      part[t] = plan::grpo_counts_plus{}(part[t], plan::grpo_counts_of{}(status[g]));
    }
  });
  advantage_summary s;
  s.groups = groups.num_groups();
  for (const auto& c : part)
    s.degenerate_groups += c.degenerate, s.singleton_groups += c.singleton, s.masked_out += c.masked;
  return s;
}

// policy_loss(pool{}, ...): rows in slices, each row scanned, its coefficients planned, its tokens reduced.
template <std::floating_point T>
policy_loss_result implement(const policy_loss_fn&, const pool& p, const policy_loss_inputs<T>& in,
                             const policy_loss_grads<T>& out, const policy_loss_options& opt) {
  plan::validate(in, out, opt);
  const std::size_t rows = in.log_probs.rows(), cols = in.log_probs.cols();
  const plan::loss_plan lp = plan::plan_loss(opt, cols);
  const plan::loss_args<T> a = plan::make_loss_args(in, out, opt, static_cast<const plan::loss_row_coef<T>*>(nullptr));
  const bool gspo = opt.mode == policy_loss_mode::gspo;
  std::vector<plan::loss_row_info> info(rows);
  for (std::size_t i = 0; i < rows; ++i) info[i] = plan::thread_row_info(a, i, gspo, 0, 1);
  auto cp = lp.cp;
  if (lp.local_counts) {
    cp.n_tokens = cp.n_seqs = 0;
    for (const auto& r : info) cp.n_tokens += static_cast<double>(r.len), cp.n_seqs += r.len > 0 ? 1.0 : 0.0;
  }
  std::vector<plan::loss_sums> part(p.threads);
  parallel_slices(p, rows, [&](unsigned t, std::size_t r0, std::size_t r1) {
    for (std::size_t i = r0; i < r1; ++i) {
      const plan::loss_row_coef<T> c = plan::row_coef<T>(info[i], cp);
      double dlogr = 0;
      for (std::size_t k = 0; k < cols; ++k) {
        const plan::loss_sums s = plan::loss_token(a, i, k, c, T(0));
        part[t].merge(s);
        if (a.gspo_sequence_grad && a.m(i, k) != 0)
          dlogr += static_cast<double>(a.term(i, k, a.advantage(i, k), c).d_logr);
      }
      part[t].seqs += c.len > 0;
      if (a.gspo_sequence_grad && c.len > 0) {
        const T spread = plan::gspo_spread(dlogr, c);
        for (std::size_t k = 0; k < cols; ++k)
          if (a.m(i, k) != 0) a.g(i, k) += spread;
      }
    }
  });
  plan::loss_sums total;
  for (const auto& s : part) total.merge(s);
  return plan::finish_policy_loss(total, static_cast<double>(total.seqs), cols, opt);
}

} // namespace user

int main() {
  using namespace mmrag_rft;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const std::size_t groups = 64, g = 8, rows = groups * g, cols = 48;
  std::vector<float> rewards(rows), adv_seq(rows), adv_pool(rows);
  for (auto& r : rewards) r = u(rng) > 0 ? 1.0f : 0.25f * u(rng);
  const auto layout = group_layout::uniform(groups, g);
  (void)grpo_advantages(exec::seq, rewards, layout, adv_seq);
  (void)grpo_advantages(user::pool{}, rewards, layout, adv_pool, grpo_options::verl());
  double worst = 0;
  for (std::size_t j = 0; j < rows; ++j) worst = std::max(worst, std::fabs(double(adv_seq[j]) - adv_pool[j]));

  std::vector<float> lp(rows * cols), old(rows * cols), g_seq(rows * cols), g_pool(rows * cols);
  std::vector<std::uint8_t> mask(rows * cols);
  for (std::size_t k = 0; k < lp.size(); ++k) {
    lp[k] = -1.0f + 0.5f * u(rng), old[k] = lp[k] + 0.1f * u(rng);
    mask[k] = (k % cols) < cols / 2 + (k / cols) % (cols / 2);
  }
  const policy_loss_inputs<float> in{.log_probs = {lp.data(), rows, cols},
                                     .old_log_probs = {old.data(), rows, cols},
                                     .sequence_advantages = adv_seq,
                                     .mask = {mask.data(), rows, cols}};
  double worst_loss = 0;
  for (const auto& o : {policy_loss_options::verl(), policy_loss_options::trl()}) {
    policy_loss_options opt = o;
    for (int gspo = 0; gspo < 2; ++gspo) {
      opt.mode = gspo ? policy_loss_mode::gspo : policy_loss_mode::ppo_clip;
      const auto a = policy_loss(exec::seq, in, {.log_probs = {g_seq.data(), rows, cols}}, opt);
      const auto b = policy_loss(user::pool{}, in, {.log_probs = {g_pool.data(), rows, cols}}, opt);
      worst_loss = std::max(worst_loss, std::fabs(a.loss - b.loss) / std::max(1e-3, std::fabs(a.loss)));
      for (std::size_t k = 0; k < lp.size(); ++k)
        worst_loss =
            std::max(worst_loss, std::fabs(double(g_seq[k]) - g_pool[k]) / (1e-6 + std::fabs(double(g_seq[k]))));
    }
  }
  std::printf("user backend: GRPO max |diff| %.3g, loss and gradient max relative diff %.3g\n", worst, worst_loss);
  return worst <= 1e-6 && worst_loss <= 1e-4 ? 0 : 1;
}
