// SPDX-License-Identifier: Apache-2.0
// The demo's multi-modal policy network: a small vision encoder whose outputs replace the <img> tokens of the
// stream (prefix embeddings of each image document), and a decoder-only transformer with a key/value cache.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace demo {

struct model_config {
  std::int64_t vocab = 0;
  std::int64_t dim = 64;
  std::int64_t heads = 4;
  std::int64_t layers = 2;
  std::int64_t patch = 8 * 8 * 3; // one image slot: 8x8 RGB
  std::int64_t segments = 0;      // document-index embeddings 1..segments (0: none; see tokenizer::segment)
  bool vision_norm = false;       // a LayerNorm on the vision encoder's output
};

// Rotary position embedding of queries or keys [B, H, T, dh] at `positions` [B, T]. Attention scores then depend on
// the distance between two tokens only, so "the word four places back" means the same thing wherever a completion
// starts: with learned absolute positions the comparisons a judgement needs had to be re-learned at every prompt
// length, and the warm start never learned them.
inline torch::Tensor rotate(const torch::Tensor& x, const torch::Tensor& positions) {
  const auto half = x.size(-1) / 2;
  const auto inv_freq = torch::pow(10000.0, -torch::arange(half, torch::kFloat) / static_cast<double>(half));
  const auto angle = (positions.to(torch::kFloat).unsqueeze(-1) * inv_freq).unsqueeze(1); // [B, 1, T, half]
  const auto c = angle.cos(), s = angle.sin();
  const auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return torch::cat({x1 * c - x2 * s, x1 * s + x2 * c}, -1);
}

// Per-layer key/value cache of incremental decoding: [B, H, L, dh] each.
struct kv_cache {
  std::vector<torch::Tensor> k, v;
};

struct block_impl : torch::nn::Module {
  torch::nn::LayerNorm ln1{nullptr}, ln2{nullptr};
  torch::nn::Linear qkv{nullptr}, proj{nullptr}, fc1{nullptr}, fc2{nullptr};
  std::int64_t heads, dim;

  block_impl(std::int64_t d, std::int64_t h) : heads(h), dim(d) {
    ln1 = register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    ln2 = register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    qkv = register_module("qkv", torch::nn::Linear(d, 3 * d));
    proj = register_module("proj", torch::nn::Linear(d, d));
    fc1 = register_module("fc1", torch::nn::Linear(d, 4 * d));
    fc2 = register_module("fc2", torch::nn::Linear(4 * d, d));
  }

  // x: [B, T, D]; positions: [B, T]; bias: [B, 1, T, L] additive mask over all L keys (cached + new). With a
  // cache, the new keys and values are appended to it.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& positions, const torch::Tensor& bias, torch::Tensor* ck,
                        torch::Tensor* cv) {
    const auto B = x.size(0), T = x.size(1), dh = dim / heads;
    auto q = qkv(ln1(x)).view({B, T, 3, heads, dh}).permute({2, 0, 3, 1, 4});
    auto qq = rotate(q[0], positions), k = rotate(q[1], positions), v = q[2];
    if (ck) {
      if (ck->defined()) k = torch::cat({*ck, k}, 2), v = torch::cat({*cv, v}, 2);
      *ck = k, *cv = v;
    }
    auto att = torch::matmul(qq, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(dh)) + bias;
    auto y = torch::matmul(torch::softmax(att, -1), v).transpose(1, 2).reshape({B, T, dim});
    x = x + proj(y);
    return x + fc2(torch::gelu(fc1(ln2(x))));
  }
};
TORCH_MODULE_IMPL(block, block_impl);

struct policy_net_impl : torch::nn::Module {
  model_config cfg;
  torch::nn::Embedding tok{nullptr}, slot{nullptr}, seg{nullptr};
  torch::nn::Sequential vision{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm lnf{nullptr};
  torch::nn::Linear head{nullptr};

  explicit policy_net_impl(model_config c) : cfg(c) {
    tok = register_module("tok", torch::nn::Embedding(c.vocab, c.dim));
    slot = register_module("slot", torch::nn::Embedding(3, c.dim));
    vision = register_module("vision", torch::nn::Sequential(torch::nn::Linear(c.patch, 96), torch::nn::ReLU(),
                                                             torch::nn::Linear(96, c.dim)));
    if (c.vision_norm) vision->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim})));
    // Segment 0 (no document) is a zero vector, so text outside the documents embeds as without segments.
    if (c.segments > 0)
      seg = register_module("seg",
                            torch::nn::Embedding(torch::nn::EmbeddingOptions(c.segments + 1, c.dim).padding_idx(0)));
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (std::int64_t i = 0; i < c.layers; ++i) blocks->push_back(block(c.dim, c.heads));
    lnf = register_module("lnf", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.dim})));
    head = register_module("head", torch::nn::Linear(c.dim, c.vocab));
    // The policy never emits <pad>, <bos>, <img> or <unk>: sampling and scoring share this mask, so the sampling
    // log-probs and the trained ones are the same distribution.
    auto bias = torch::zeros({c.vocab});
    for (std::int64_t id : {0, 1, 3, 4}) bias[id] = -1e9f;
    never = register_buffer("never", bias);
  }
  torch::Tensor never;

  // The vision encoder's output [N, D] for the slot patches [N, patch] (float in [0, 1]).
  torch::Tensor see(const torch::Tensor& patches) { return vision->forward(patches); }

  // tokens: [B, T] int64; vis: see() of one patch per <img> token of `tokens` in row-major order (undefined when
  // there is none), slots: the slot index of each (order within its image); segments: [B, T] document index of each
  // token (tokenizer::segment). Returns the embeddings [B, T, D].
  torch::Tensor embed(const torch::Tensor& tokens, const torch::Tensor& vis, const torch::Tensor& slots,
                      const torch::Tensor& segments) {
    auto e = tok(tokens);
    if (seg) e = e + seg(segments);
    if (vis.defined() && vis.size(0) > 0) {
      const auto is_img = (tokens == 3).unsqueeze(-1).expand_as(e);
      e = e.masked_scatter(is_img, vis + slot(slots));
    }
    return e;
  }

  // Runs the blocks; `positions` [B, T] of the tokens of `x`, `bias` [B, 1, T, L]; with `cache` the keys/values are
  // appended per layer.
  torch::Tensor run(torch::Tensor x, const torch::Tensor& positions, const torch::Tensor& bias, kv_cache* cache) {
    if (cache && cache->k.empty()) cache->k.resize(blocks->size()), cache->v.resize(blocks->size());
    for (std::size_t i = 0; i < blocks->size(); ++i)
      x = blocks[i]->as<block_impl>()->forward(x, positions, bias, cache ? &cache->k[i] : nullptr,
                                               cache ? &cache->v[i] : nullptr);
    return head(lnf(x)) + never;
  }
};
TORCH_MODULE_IMPL(policy_net, policy_net_impl);

} // namespace demo
