// SPDX-License-Identifier: Apache-2.0
// The LibTorch adapter: wraps the demo network so that it satisfies mmrag_rft::Policy. The library computes rewards,
// advantages and d loss / d log-prob; this adapter turns that gradient into parameter gradients with
// `logp.backward(grad)` (through the library's logit kernels, mmrag_rft/torch.hpp) and steps Adam. Data-parallel, it
// reduces every parameter's gradient over a c10d process group before each optimizer step, as DDP does.
#pragma once
#include "model.hpp"
#include "tokenizer.hpp"

#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/detail/splitmix64.hpp>
#include <mmrag_rft/distributed/loss_normalizers.hpp>
#include <mmrag_rft/model.hpp>
#include <mmrag_rft/torch.hpp>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace demo {

class torch_policy {
public:
  torch_policy(const tokenizer& tok, model_config cfg, double lr, std::uint64_t init_seed)
      : tok_(&tok), net_((torch::manual_seed(init_seed), cfg.vocab = static_cast<std::int64_t>(tok.size()), cfg)),
        opt_(net_->parameters(), torch::optim::AdamOptions(lr)) {}

  // Row (p, k) of a batch (completion k of prompt p) draws from its own stream, seeded from
  // (seed + p * prompt_seed_stride, k): a prompt samples the same completions in any batch that puts it at the same
  // place, so a rank whose shard starts at prompt `first` of the step's batch passes shard_seed(seed, first) and draws
  // what one process draws for those prompts.
  static constexpr std::uint64_t prompt_seed_stride = 0xd1b54a32d192ed03ULL;
  [[nodiscard]] static constexpr std::uint64_t shard_seed(std::uint64_t seed, std::size_t first) noexcept {
    return seed + static_cast<std::uint64_t>(first) * prompt_seed_stride;
  }

  // --- mmrag_rft::Policy ------------------------------------------------------------------------------------------
  [[nodiscard]] mmrag_rft::rollout_batch generate(const mmrag_rft::prompt_batch& prompts,
                                                  const mmrag_rft::rollout_options& o) {
    torch::NoGradGuard no_grad;
    const std::size_t P = prompts.size(), G = o.group_size, R = P * G;
    const encoded e = encode(prompts, 1);
    kv_cache cache;
    const auto vis = see(e);
    auto logits =
        net_->run(net_->embed(e.tokens, vis, e.slots, e.segments), e.positions, causal_bias(e.valid, 0), &cache);
    logits = logits.select(1, e.tokens.size(1) - 1).repeat_interleave(static_cast<std::int64_t>(G), 0); // [R, V]
    for (auto& k : cache.k) k = k.repeat_interleave(static_cast<std::int64_t>(G), 0);
    for (auto& v : cache.v) v = v.repeat_interleave(static_cast<std::int64_t>(G), 0);
    auto key_valid = e.valid.repeat_interleave(static_cast<std::int64_t>(G), 0);
    const auto lens = e.lengths.repeat_interleave(static_cast<std::int64_t>(G), 0);

    const std::size_t T = o.max_new_tokens;
    std::vector<std::int32_t> toks(R * T, 0);
    std::vector<float> lps(R * T, 0.0f), ents(R * T, 0.0f);
    std::vector<std::uint8_t> mask(R * T, 0);
    std::vector<char> done(R, 0);
    std::vector<tokenizer::segment_state> seg_state(R);
    std::vector<std::int64_t> seg(R, 0);
    std::vector<std::uint64_t> rng(R);
    for (std::size_t r = 0; r < R; ++r) {
      std::uint64_t h = shard_seed(o.seed, r / G);
      rng[r] = mmrag_rft::detail::splitmix64(h) ^ (0x632be59bd9b4e019ULL * (r % G + 1));
    }
    std::size_t steps = 0;
    for (std::size_t t = 0; t < T; ++t) {
      const auto lp = torch::log_softmax(o.temperature > 0 ? logits / o.temperature : logits, -1).contiguous();
      const auto acc = lp.accessor<float, 2>();
      const std::int64_t V = lp.size(1);
      std::vector<std::int64_t> next(R, tokenizer::pad);
      bool any = false;
      for (std::size_t r = 0; r < R; ++r) {
        if (done[r]) continue;
        std::int64_t k = 0;
        if (o.temperature > 0) {
          double u = static_cast<double>(mmrag_rft::detail::splitmix64(rng[r]) >> 11) / 9007199254740992.0, c = 0;
          for (k = 0; k < V - 1; ++k)
            if ((c += std::exp(static_cast<double>(acc[r][k]))) > u) break;
        } else {
          for (std::int64_t j = 1; j < V; ++j) k = acc[r][j] > acc[r][k] ? j : k;
        }
        double h = 0;
        for (std::int64_t j = 0; j < V; ++j) h -= std::exp(static_cast<double>(acc[r][j])) * acc[r][j];
        toks[r * T + t] = static_cast<std::int32_t>(k);
        lps[r * T + t] = acc[r][k];
        ents[r * T + t] = static_cast<float>(h);
        mask[r * T + t] = 1;
        next[r] = k;
        seg[r] = tok_->segment(seg_state[r], k);
        if (k == tokenizer::eos) done[r] = 1;
        any = true;
      }
      if (!any) break;
      steps = t + 1;
      if (std::all_of(done.begin(), done.end(), [](char d) { return d != 0; }) || t + 1 == T) break;
      key_valid = torch::cat({key_valid, torch::ones({static_cast<std::int64_t>(R), 1}, torch::kBool)}, 1);
      const auto in = torch::tensor(next, torch::kLong).view({static_cast<std::int64_t>(R), 1});
      const auto pos = (lens + static_cast<std::int64_t>(t)).view({static_cast<std::int64_t>(R), 1});
      const auto bias = torch::where(key_valid, 0.0f, -1e9f).view({static_cast<std::int64_t>(R), 1, 1, -1});
      const auto segs = torch::tensor(seg, torch::kLong).view({static_cast<std::int64_t>(R), 1});
      logits = net_->run(net_->embed(in, {}, {}, segs), pos, bias, &cache).select(1, 0);
    }
    auto b = mmrag_rft::rollout_batch::zeros(P, G, steps);
    b.temperature = o.log_prob_temperature(); // what log_probs must recompute at
    for (std::size_t r = 0; r < R; ++r) {
      std::vector<std::int64_t> ids;
      bool eos = false;
      for (std::size_t t = 0; t < steps; ++t) {
        const std::size_t src = r * T + t, dst = r * steps + t;
        b.tokens[dst] = toks[src], b.log_probs[dst] = lps[src], b.entropy[dst] = ents[src], b.mask[dst] = mask[src];
        if (mask[src]) {
          ids.push_back(toks[src]);
          eos = eos || toks[src] == tokenizer::eos;
        }
      }
      b.completions[r] = {tok_->decode(ids), ids.size(), !eos};
    }
    return b;
  }

  void log_probs(const mmrag_rft::prompt_batch& prompts, const mmrag_rft::rollout_batch& r,
                 mmrag_rft::matrix_view<float> out) {
    remember(prompts, r);
    copy_out(last_.log_probs, out);
    last_.entropy = torch::Tensor(); // not trained: backward(grad) follows the log-probs only
  }

  // An empty grad (a rank without rows in this update, see rft_step(comm, ...)) adds nothing: the parameters' grads
  // stay as they are (undefined or zero) for the all-reduce in step().
  void backward(mmrag_rft::matrix_view<const float> grad) {
    if (grad.rows() == 0) {
      last_ = {};
      return;
    }
    mmrag_rft::detail::require(last_.log_probs.defined() && last_.log_probs.requires_grad(), "torch_policy::backward",
                               "grad", "needs a log_probs call with gradients first");
    last_.log_probs.backward(from_view(grad, last_.log_probs));
    last_ = {};
  }

  // --- mmrag_rft::EntropyPolicy (the loss's entropy bonus) ----------------------------------------------------------
  void log_probs_and_entropy(const mmrag_rft::prompt_batch& prompts, const mmrag_rft::rollout_batch& r,
                             mmrag_rft::matrix_view<float> out, mmrag_rft::matrix_view<float> entropy) {
    remember(prompts, r);
    copy_out(last_.log_probs, out);
    copy_out(last_.entropy, entropy);
  }

  void backward(mmrag_rft::matrix_view<const float> grad, mmrag_rft::matrix_view<const float> grad_entropy) {
    if (grad.rows() == 0) {
      last_ = {};
      return;
    }
    mmrag_rft::detail::require(last_.entropy.defined() && last_.entropy.requires_grad(), "torch_policy::backward",
                               "grad_entropy", "needs a log_probs_and_entropy call with gradients first");
    torch::autograd::backward({last_.log_probs, last_.entropy},
                              {from_view(grad, last_.log_probs), from_view(grad_entropy, last_.entropy)});
    last_ = {};
  }

  void step() {
    if (group_) all_reduce_gradients();
    torch::nn::utils::clip_grad_norm_(net_->parameters(), 1.0);
    opt_.step();
    opt_.zero_grad();
  }

  // --- demo helpers -----------------------------------------------------------------------------------------------
  // One teacher-forced step on (prompt, target completion) pairs; returns the mean token cross-entropy.
  double sft_step(const mmrag_rft::prompt_batch& prompts, const std::vector<std::string>& targets) {
    std::vector<std::vector<std::int64_t>> ids;
    std::size_t cols = 0;
    for (const auto& t : targets) {
      ids.push_back(tok_->encode(t));
      mmrag_rft::detail::require(std::find(ids.back().begin(), ids.back().end(), tokenizer::unk) == ids.back().end(),
                                 "torch_policy::sft_step", "targets", "hold a word outside the vocabulary: " + t);
      ids.back().push_back(tokenizer::eos);
      cols = std::max(cols, ids.back().size());
    }
    auto b = mmrag_rft::rollout_batch::zeros(prompts.size(), 1, cols, false);
    for (std::size_t r = 0; r < ids.size(); ++r)
      for (std::size_t t = 0; t < ids[r].size(); ++t)
        b.tokens[r * cols + t] = static_cast<std::int32_t>(ids[r][t]), b.mask[r * cols + t] = 1;
    const auto lp = forward_logp(prompts, b).log_probs;
    const auto m =
        torch::from_blob(b.mask.data(), {static_cast<std::int64_t>(b.rows()), static_cast<std::int64_t>(cols)},
                         torch::kUInt8)
            .to(torch::kFloat);
    const auto loss = -(lp * m).sum() / m.sum();
    loss.backward();
    step();
    return loss.item<double>();
  }

  // From now on every step() first reduces the gradients over `group` (every rank calls step() alike), summed or
  // averaged as `reduction` says: the library's `rft_options::gradients`, which scaled each rank's loss to match.
  void reduce_gradients_over(c10::intrusive_ptr<c10d::ProcessGroup> group, mmrag_rft::gradient_reduction reduction) {
    group_ = std::move(group), reduction_ = reduction;
  }

  void set_lr(double lr) {
    for (auto& g : opt_.param_groups()) static_cast<torch::optim::AdamOptions&>(g.options()).lr(lr);
  }
  // Copies the parameters of `other` and stops tracking gradients: a frozen reference model.
  void freeze_copy_of(const torch_policy& other) {
    torch::NoGradGuard no_grad;
    auto src = other.net_->named_parameters();
    for (auto& p : net_->named_parameters()) p.value().copy_(src[p.key()]);
    frozen_ = true;
  }
  void save(const std::string& path) {
    torch::save(net_, path + ".pt");
    torch::save(opt_, path + ".opt.pt");
  }
  void load(const std::string& path) {
    torch::load(net_, path + ".pt");
    torch::load(opt_, path + ".opt.pt");
  }
  [[nodiscard]] std::int64_t num_parameters() const {
    std::int64_t n = 0;
    for (const auto& p : net_->parameters()) n += p.numel();
    return n;
  }

private:
  struct encoded {
    torch::Tensor tokens, positions, valid, lengths, patches, slots,
        segments; // [R, Pmax] x3, [R], [N, 192], [N], [R, Pmax]
  };

  // Left-pads each prompt ([bos] + tokens) to a common length, `rep` copies per prompt, and cuts each image into
  // its three 8x8 slot patches in the order the <img> tokens appear.
  [[nodiscard]] encoded encode(const mmrag_rft::prompt_batch& prompts, std::size_t rep) const {
    std::vector<std::vector<std::int64_t>> ids;
    std::size_t pmax = 0;
    for (const auto& p : prompts) {
      ids.push_back({tokenizer::bos});
      const auto e = tok_->encode(p.text);
      ids.back().insert(ids.back().end(), e.begin(), e.end());
      pmax = std::max(pmax, ids.back().size());
      const auto n_img = static_cast<std::size_t>(std::count(e.begin(), e.end(), tokenizer::img));
      mmrag_rft::detail::require(n_img == p.images.size() * tokenizer::image_slots, "torch_policy", "prompt.images",
                                 "do not match the <image> placeholders of the prompt text");
    }
    const std::size_t R = prompts.size() * rep;
    std::vector<std::int64_t> tok(R * pmax, tokenizer::pad), pos(R * pmax, 0), seg(R * pmax, 0), len(R);
    std::vector<std::uint8_t> valid(R * pmax, 0);
    std::vector<float> patches;
    std::vector<std::int64_t> slots;
    for (std::size_t p = 0; p < prompts.size(); ++p)
      for (std::size_t k = 0; k < rep; ++k) {
        const std::size_t r = p * rep + k, off = pmax - ids[p].size();
        len[r] = static_cast<std::int64_t>(ids[p].size());
        tokenizer::segment_state st;
        for (std::size_t t = 0; t < ids[p].size(); ++t) {
          tok[r * pmax + off + t] = ids[p][t];
          seg[r * pmax + off + t] = tok_->segment(st, ids[p][t]);
          pos[r * pmax + off + t] = static_cast<std::int64_t>(t);
          valid[r * pmax + off + t] = 1;
        }
        for (const auto& img : prompts[p].images)
          for (int s = 0; s < tokenizer::image_slots; ++s) {
            slots.push_back(s);
            for (std::size_t y = 0; y < 8; ++y)
              for (std::size_t x = 0; x < 8; ++x)
                for (std::size_t c = 0; c < 3; ++c) {
                  const std::size_t px = static_cast<std::size_t>(s) * 8 + x;
                  const bool in = img && img->channels == 3 && y < img->height && px < img->width;
                  patches.push_back(in ? static_cast<float>(img->pixels[(y * img->width + px) * 3 + c]) / 255.0f
                                       : 0.0f);
                }
          }
      }
    const auto Ri = static_cast<std::int64_t>(R), Pi = static_cast<std::int64_t>(pmax);
    encoded e;
    e.tokens = torch::tensor(tok, torch::kLong).view({Ri, Pi});
    e.positions = torch::tensor(pos, torch::kLong).view({Ri, Pi});
    e.segments = torch::tensor(seg, torch::kLong).view({Ri, Pi});
    e.valid = torch::tensor(std::vector<std::int64_t>(valid.begin(), valid.end()), torch::kLong)
                  .view({Ri, Pi})
                  .to(torch::kBool);
    e.lengths = torch::tensor(len, torch::kLong);
    e.slots = torch::tensor(slots, torch::kLong);
    e.patches = torch::tensor(patches, torch::kFloat).view({static_cast<std::int64_t>(slots.size()), 8 * 8 * 3});
    return e;
  }

  // The vision encoder's outputs for the slot patches of `e` (undefined when it has no image).
  [[nodiscard]] torch::Tensor see(const encoded& e) {
    return e.patches.size(0) > 0 ? net_->see(e.patches) : torch::Tensor();
  }

  // Additive attention bias [B, 1, L, L]: causal, and never attending to left padding.
  [[nodiscard]] static torch::Tensor causal_bias(const torch::Tensor& key_valid, std::int64_t) {
    const auto L = key_valid.size(1);
    const auto causal = torch::ones({L, L}, torch::kBool).tril();
    const auto ok = causal.unsqueeze(0) & key_valid.unsqueeze(1);
    return torch::where(ok, 0.0f, -1e9f).unsqueeze(1);
  }

  void remember(const mmrag_rft::prompt_batch& prompts, const mmrag_rft::rollout_batch& r) {
    if (frozen_) {
      torch::NoGradGuard no_grad;
      last_ = forward_logp(prompts, r);
    } else {
      last_ = forward_logp(prompts, r);
    }
  }
  static void copy_out(const torch::Tensor& x, mmrag_rft::matrix_view<float> out) {
    const auto c = x.detach().contiguous();
    const float* p = c.data_ptr<float>();
    for (std::size_t i = 0; i < out.rows(); ++i)
      for (std::size_t t = 0; t < out.cols(); ++t) out(i, t) = p[i * out.cols() + t];
  }
  static torch::Tensor from_view(mmrag_rft::matrix_view<const float> g, const torch::Tensor& like) {
    auto t = torch::empty_like(like);
    float* q = t.data_ptr<float>();
    for (std::size_t i = 0; i < g.rows(); ++i)
      for (std::size_t c = 0; c < g.cols(); ++c) q[i * g.cols() + c] = g(i, c);
    return t;
  }

  // log pi(completion token t | prompt, tokens < t) and the entropy of pi( . | prompt, tokens < t) for every row,
  // [R, cols] each, with the autograd graph.
  [[nodiscard]] mmrag_rft::libtorch::token_logprobs_result forward_logp(const mmrag_rft::prompt_batch& prompts,
                                                                        const mmrag_rft::rollout_batch& r) {
    mmrag_rft::detail::require(prompts.size() == r.num_prompts, "torch_policy::log_probs", "prompts",
                               "must hold one prompt per group of the rollout");
    const encoded e = encode(prompts, r.group_size);
    const auto R = static_cast<std::int64_t>(r.rows()), C = static_cast<std::int64_t>(r.cols);
    const auto Pm = e.tokens.size(1);
    const std::vector<std::int64_t> ids(r.tokens.begin(), r.tokens.end());
    std::vector<std::int64_t> seg(ids.size(), 0);
    for (std::size_t i = 0; i < r.rows(); ++i) {
      tokenizer::segment_state st;
      for (std::size_t t = 0; t < r.cols; ++t) seg[i * r.cols + t] = tok_->segment(st, ids[i * r.cols + t]);
    }
    const auto comp = torch::tensor(ids, torch::kLong).view({R, C});
    const auto tokens = torch::cat({e.tokens, comp}, 1);
    const auto segments = torch::cat({e.segments, torch::tensor(seg, torch::kLong).view({R, C})}, 1);
    const auto cpos = e.lengths.view({R, 1}) + torch::arange(C, torch::kLong).view({1, C});
    const auto positions = torch::cat({e.positions, cpos}, 1);
    const auto valid = torch::cat({e.valid, torch::ones({R, C}, torch::kBool)}, 1);
    const auto vis = see(e);
    const auto logits =
        net_->run(net_->embed(tokens, vis, e.slots, segments), positions, causal_bias(valid, 0), nullptr);
    // The library's fused kernel (mmrag_rft/torch.hpp) at the rollout's temperature: one pass per row forward and
    // one backward, the [R, C, V] softmax never materialised.
    const auto threads = mmrag_rft::exec::par.with_threads(static_cast<std::size_t>(torch::get_num_threads()));
    return mmrag_rft::libtorch::token_logprobs_and_entropy(threads, logits.narrow(1, Pm - 1, C), comp, {r.temperature});
  }

  // One SUM all-reduce of every parameter's gradient and of one flag per parameter (whether this rank's backward
  // reached it): a parameter no rank's batch reached keeps an undefined gradient, so Adam skips it as one process
  // would; one some rank reached gets the sum (0 where a rank did not), divided by the ranks for `mean`.
  void all_reduce_gradients() {
    torch::NoGradGuard no_grad;
    auto params = net_->parameters();
    std::int64_t n = 0;
    for (const auto& p : params) n += p.numel();
    auto flat = torch::zeros({n + static_cast<std::int64_t>(params.size())}, torch::kFloat);
    std::int64_t at = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& g = params[i].grad();
      if (g.defined()) {
        flat.narrow(0, at, params[i].numel()).copy_(g.reshape({-1}));
        flat[n + static_cast<std::int64_t>(i)] = 1.0f;
      }
      at += params[i].numel();
    }
    std::vector<torch::Tensor> t{flat};
    group_->allreduce(t)->wait();
    if (reduction_ == mmrag_rft::gradient_reduction::mean) flat.narrow(0, 0, n).div_(group_->getSize());
    at = 0;
    for (std::size_t i = 0; i < params.size(); ++i) {
      auto& p = params[i];
      const auto sum = flat.narrow(0, at, p.numel()).view_as(p);
      at += p.numel();
      if (flat[n + static_cast<std::int64_t>(i)].item<float>() == 0.0f) continue;
      if (p.grad().defined()) p.mutable_grad().copy_(sum);
      else p.mutable_grad() = sum.clone();
    }
  }

  const tokenizer* tok_;
  policy_net net_;
  torch::optim::Adam opt_;
  mmrag_rft::libtorch::token_logprobs_result last_;
  bool frozen_ = false;
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  mmrag_rft::gradient_reduction reduction_ = mmrag_rft::gradient_reduction::mean;
};

static_assert(mmrag_rft::check_policy<torch_policy>() && mmrag_rft::EntropyPolicy<torch_policy>);

} // namespace demo
