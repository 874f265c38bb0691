// SPDX-License-Identifier: Apache-2.0
// The CUDA logit kernels, GRPO, exec::cuda and exec::thrust on the CUDA system against exec::seq.
#include "cuda_test_support.cuh"

TEST_SUITE("cuda") {
TEST_CASE("cuda token_logprobs_and_entropy: forward and backward match seq") {
  const std::size_t n = 64, v = 50000;
  std::mt19937 gen(1);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<float> x(n * v);
  for (auto& e : x) e = d(gen);
  std::vector<std::int64_t> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::int64_t>((i * 7919) % v);
  std::vector<float> lp(n), ent(n), lse(n);
  const token_logprobs_options opt{0.7};
  token_logprobs_and_entropy(matrix_view<const float>(x.data(), n, v), y, {lp, ent, lse}, opt);

  device_buffer<float> dx(x), dlp(n), dent(n), dlse(n);
  device_buffer<std::int64_t> dy(y);
  const mc::launch l;
  mc::token_logprobs_and_entropy(l, matrix_view<const float>(dx.p, n, v), std::span<const std::int64_t>(dy.p, n),
                                 {dlp.span(), dent.span(), dlse.span()}, opt);
  const auto glp = dlp.host(), gent = dent.host(), glse = dlse.host();
  for (std::size_t i = 0; i < n; ++i) {
    CHECK(close(lp[i], glp[i], 1e-5));
    CHECK(close(ent[i], gent[i], 1e-5));
    CHECK(close(lse[i], glse[i], 1e-6));
  }
  std::vector<float> up(n, 1.0f), uh(n, 0.5f), g(n * v);
  token_logprobs_and_entropy_backward(matrix_view<const float>(x.data(), n, v), y, {lse, ent, up, uh},
                                      matrix_view<float>(g.data(), n, v), opt);
  device_buffer<float> dup(up), duh(uh), dg(n * v);
  mc::token_logprobs_and_entropy_backward(l, matrix_view<const float>(dx.p, n, v),
                                          std::span<const std::int64_t>(dy.p, n),
                                          {std::span<const float>(dlse.p, n), std::span<const float>(dent.p, n),
                                           std::span<const float>(dup.p, n), std::span<const float>(duh.p, n)},
                                          matrix_view<float>(dg.p, n, v), opt);
  const auto gg = dg.host();
  // Each element is a difference of two terms, g_H dH/dz - g_lp p with dH/dz = -p (log p + H), which cancels where
  // log p + H = -g_lp / g_H (here -2); and each backend computes it from its own forward's lse and H, equal to
  // rounding, not bitwise. A bound relative to the element itself therefore fails at the few of the 3.2M elements
  // near the cancellation, whatever the kernel. The bound is relative to the size of the terms,
  //   S = p (|g_lp| + |g_H| (|log p + H| + 1)),
  // times the absolute error of log p and H, u = 2^-24: the two forwards' differences in lse and H; per backend the
  // roundings of z = x / T and of z - lse (fused or not), at most 2u (|z| + |lse|), and of log p + H, u |H| at most
  // beyond that; per backend the exponential (2 ulp, 4u) and the two products and the sum (4u). The target adds g_lp
  // once more (one rounding each); 1e-36 covers the denormals CUDA's expf returns where the CPU's flushes to 0.
  // Here the bound is about 1e-5 S; a wrong lse, temperature, entropy or target term errs by a good part of S.
  const double u = 0x1p-24, g_lp = up[0] / opt.temperature, g_h = uh[0] / opt.temperature;
  std::size_t bad = 0;
  for (std::size_t k = 0; k < g.size(); ++k) {
    const std::size_t i = k / v, j = k % v;
    const double z = static_cast<double>(x[k]) / opt.temperature, lp_j = z - lse[i], p = std::exp(lp_j);
    const double terms = p * (g_lp + g_h * (std::abs(lp_j + ent[i]) + 1.0));
    const double err = std::abs(double(lse[i]) - glse[i]) + std::abs(double(ent[i]) - gent[i]) +
                       4 * u * (std::abs(z) + std::abs(lse[i]) + std::abs(ent[i])) + 16 * u;
    const double bound = terms * err + (static_cast<std::int64_t>(j) == y[i] ? 2 * u * g_lp : 0.0) + 1e-36;
    bad += !(std::abs(double(g[k]) - gg[k]) <= bound);
  }
  CHECK(bad == 0);
}

TEST_CASE("cuda token_logprobs_and_entropy: an out-of-range token id is reported in bad_row") {
  std::vector<float> x(3 * 4, 0.0f);
  std::vector<std::int64_t> y{0, 9, -1};
  device_buffer<float> dx(x), dlp(3);
  device_buffer<std::int64_t> dy(y);
  device_buffer<unsigned long long> bad(std::vector<unsigned long long>{~0ull});
  mc::token_logprobs_and_entropy(mc::launch{}, matrix_view<const float>(dx.p, 3, 4),
                                 std::span<const std::int64_t>(dy.p, 3), {dlp.span()}, {}, bad.p);
  CHECK(bad.host()[0] == 1);
  CHECK(std::isnan(dlp.host()[1]));
}

TEST_CASE("exec::cuda: the same function names as the CPU reach the CUDA kernels") {
  // policy_loss(exec::cuda, ...) allocates its workspace on the stream and equals the explicit gpu:: launch.
  const auto h = loss_batch<float>(3, 9, 65);
  const device_loss_batch<float> d(h);
  device_buffer<float> g1(h.rows * h.cols), g2(h.rows * h.cols);
  const policy_loss_options o;
  const auto in = d.device_inputs(false);
  const auto a = policy_loss(exec::cuda, in, policy_loss_grads<float>{{g1.p, h.rows, h.cols}, {}}, o);
  device_buffer<unsigned char> ws(mc::policy_loss_workspace_bytes(h.rows));
  const auto b = mc::policy_loss(mc::launch{nullptr, ws.p, ws.n, true}, in,
                                 policy_loss_grads<float>{{g2.p, h.rows, h.cols}, {}}, o);
  CHECK(a.loss == b.loss);
  CHECK(g1.host() == g2.host());
  // GRPO on an offsets layout: the offsets travel to the device with the call.
  std::vector<float> r{1, 0, 2, 5, 5, 3, 1};
  const std::vector<std::int64_t> off{0, 3, 5, 7};
  const device_buffer<float> dr(r);
  device_buffer<float> da(r.size());
  std::vector<float> want(r.size());
  const auto layout = group_layout::from_offsets(off);
  (void)grpo_advantages(exec::seq, std::span<const float>(r), layout, std::span<float>(want));
  (void)grpo_advantages(exec::cuda.on(nullptr), std::span<const float>(dr.p, r.size()), layout,
                        std::span<float>(da.p, r.size()));
  const auto got = da.host();
  for (std::size_t j = 0; j < r.size(); ++j) CHECK(close(want[j], got[j], 1e-5));
}

TEST_CASE("cuda grpo_advantages: CUB segmented statistics match seq for uniform groups and offsets") {
  std::mt19937 gen(3);
  std::normal_distribution<double> nd(0, 1);
  std::vector<double> r(4000);
  for (auto& e : r) e = nd(gen);
  r[17] = NAN;
  std::vector<std::int64_t> off{0};
  while (off.back() < 4000)
    off.push_back(std::min<std::int64_t>(4000, off.back() + static_cast<std::int64_t>(gen() % 9)));
  grpo_options o;
  o.nonfinite = nonfinite_rewards::mask_out;
  device_buffer<double> dr(r), da(r.size());
  device_buffer<std::int64_t> doff(off);
  for (int layout = 0; layout < 2; ++layout) {
    const group_layout g = layout == 0 ? group_layout::uniform(500, 8) : group_layout::from_offsets(off);
    std::vector<double> a(r.size());
    const auto want = grpo_advantages(exec::seq, std::span<const double>(r), g, std::span<double>(a), o);
    device_buffer<unsigned char> ws(mc::grpo_workspace_bytes<double>(g, o));
    const auto got = mc::grpo_advantages(mc::launch{nullptr, ws.p, ws.n, true}, std::span<const double>(dr.p, r.size()),
                                         g, doff.p, da.span(), o);
    CHECK(want.degenerate_groups == got.degenerate_groups);
    CHECK(want.singleton_groups == got.singleton_groups);
    CHECK(want.masked_out == got.masked_out);
    const auto ga = da.host();
    for (std::size_t j = 0; j < r.size(); ++j) CHECK(close(a[j], ga[j], 1e-12));
  }
}

TEST_CASE("cuda token_logprobs_and_entropy: bfloat16 logits and gradients, strided rows, -inf and NaN rows") {
  const std::size_t n = 24, v = 3001, stride = 3008;
  std::mt19937 gen(8);
  std::normal_distribution<float> d(0.0f, 3.0f);
  std::vector<bfloat16> x(n * stride, bfloat16::from_float(std::numeric_limits<float>::quiet_NaN()));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < v; ++j) x[i * stride + j] = bfloat16::from_float(d(gen));
  for (std::size_t j = 0; j < 2000; ++j) x[5 * stride + j] = bfloat16::from_float(-INFINITY); // a vocabulary mask
  for (std::size_t j = 0; j < v; ++j) x[6 * stride + j] = bfloat16::from_float(-INFINITY);    // all masked: NaN
  x[7 * stride + 2999] = bfloat16::from_float(std::numeric_limits<float>::quiet_NaN());       // NaN: NaN
  std::vector<std::int64_t> y(n);
  for (std::size_t i = 0; i < n; ++i) y[i] = static_cast<std::int64_t>((i * 997 + 2500) % v);
  const matrix_view<const bfloat16> hx(x.data(), n, v, stride);
  std::vector<float> lp(n), ent(n), lse(n);
  const token_logprobs_options opt{1.3};
  token_logprobs_and_entropy(hx, y, {lp, ent, lse}, opt);
  device_buffer<bfloat16> dx(x);
  device_buffer<std::int64_t> dy(y);
  device_buffer<float> dlp(n), dent(n), dlse(n);
  dlp.poison();
  dent.poison();
  const mc::launch l;
  mc::token_logprobs_and_entropy(l, matrix_view<const bfloat16>(dx.p, n, v, stride),
                                 std::span<const std::int64_t>(dy.p, n), {dlp.span(), dent.span(), dlse.span()}, opt);
  const auto glp = dlp.host(), gent = dent.host();
  for (std::size_t i = 0; i < n; ++i) {
    CAPTURE(i);
    CHECK(close(lp[i], glp[i], 1e-5));
    CHECK(close(ent[i], gent[i], 1e-5));
  }
  CHECK(glp[5] == -INFINITY); // the chosen token is under the mask: probability 0
  CHECK(std::isnan(glp[6]));
  CHECK(std::isnan(glp[7]));
  std::vector<float> up(n, 0.7f), uh(n, -0.2f);
  std::vector<bfloat16> g(n * stride);
  token_logprobs_and_entropy_backward(hx, y, {lse, ent, up, uh}, matrix_view<bfloat16>(g.data(), n, v, stride), opt);
  device_buffer<float> dup(up), duh(uh);
  device_buffer<bfloat16> dg(n * stride);
  dg.poison();
  mc::token_logprobs_and_entropy_backward(l, matrix_view<const bfloat16>(dx.p, n, v, stride),
                                          std::span<const std::int64_t>(dy.p, n),
                                          {std::span<const float>(dlse.p, n), std::span<const float>(dent.p, n),
                                           std::span<const float>(dup.p, n), std::span<const float>(duh.p, n)},
                                          matrix_view<bfloat16>(dg.p, n, v, stride), opt);
  const auto gg = dg.host();
  std::size_t bad = 0, untouched = 0;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < v; ++j) {
      const float a = g[i * stride + j].to_float(), b = gg[i * stride + j].to_float();
      bad += !close(a, b, 1.0 / 64); // one bfloat16 rounding apart at most
    }
    for (std::size_t j = v; j < stride; ++j) untouched += gg[i * stride + j].bits == 0xffff;
  }
  CHECK(bad == 0);
  CHECK(untouched == n * (stride - v)); // the padding of a strided row is never written
}

TEST_CASE("cuda grpo_advantages: float and double, every preset, singleton and all-equal groups") {
  // Sizes 0 to 5 (empty and singleton groups among them); rewards in steps of 0.25 (ties: all-equal groups).
  std::vector<std::int64_t> off = test::random_offsets(test::seed_t{9}, 1000, 0, 5);
  off.push_back((off.back() + 7) / 8 * 8); // one more group, so that uniform groups of 8 cover the same rewards
  const auto n = static_cast<std::size_t>(off.back());
  const std::vector<double> r = test::random_rewards<double>(test::seed_t{9}, n);
  const std::vector<float> rf(r.begin(), r.end());
  auto presets = std::vector<grpo_options>{grpo_options::verl(), grpo_options::trl(), grpo_options::dr_grpo()};
  grpo_options batch = grpo_options::verl();
  batch.scale = reward_scale::batch;
  presets.push_back(batch);
  grpo_options biased = grpo_options::trl();
  biased.std = std_estimator::biased;
  presets.push_back(biased);
  device_buffer<double> dr(r), da(r.size());
  device_buffer<float> drf(rf), daf(r.size());
  device_buffer<std::int64_t> doff(off);
  for (std::size_t k = 0; k < presets.size(); ++k)
    for (int layout = 0; layout < 2; ++layout) {
      CAPTURE(k);
      CAPTURE(layout);
      const group_layout g = layout == 0 ? group_layout::uniform(n / 8, 8) : group_layout::from_offsets(off);
      const grpo_options& o = presets[k];
      std::vector<double> a(r.size());
      std::vector<float> af(r.size());
      const auto want = grpo_advantages(exec::seq, std::span<const double>(r), g, std::span<double>(a), o);
      (void)grpo_advantages(exec::seq, std::span<const float>(rf), g, std::span<float>(af), o);
      device_buffer<unsigned char> ws(
          std::max(mc::grpo_workspace_bytes<double>(g, o), mc::grpo_workspace_bytes<float>(g, o)));
      da.poison();
      daf.poison();
      const mc::launch l{nullptr, ws.p, ws.n, true};
      const auto got = mc::grpo_advantages(l, std::span<const double>(dr.p, r.size()), g, doff.p, da.span(), o);
      (void)mc::grpo_advantages(l, std::span<const float>(drf.p, r.size()), g, doff.p, daf.span(), o);
      CHECK(want.degenerate_groups == got.degenerate_groups);
      CHECK(want.singleton_groups == got.singleton_groups);
      const auto ga = da.host();
      const auto gaf = daf.host();
      std::size_t bad = 0;
      for (std::size_t j = 0; j < r.size(); ++j) bad += !close(a[j], ga[j], 1e-12) || !close(af[j], gaf[j], 1e-5);
      CHECK(bad == 0);
    }
}

TEST_CASE("cuda grpo_advantages: a NaN reward with the error policy throws, naming it") {
  std::vector<float> r(64, 1.0f);
  r[37] = std::numeric_limits<float>::quiet_NaN();
  device_buffer<float> dr(r), da(r.size());
  const group_layout g = group_layout::uniform(8, 8);
  const grpo_options o;
  device_buffer<unsigned char> ws(mc::grpo_workspace_bytes<float>(g, o));
  try {
    (void)mc::grpo_advantages(mc::launch{nullptr, ws.p, ws.n, true}, std::span<const float>(dr.p, r.size()), g, nullptr,
                              da.span(), o);
    FAIL("expected an error");
  } catch (const mmrag_rft::error& e) {
    CHECK(e.argument() == "rewards");
    CHECK(e.index() == 37);
  }
}
TEST_CASE("cuda exec::thrust: RLOO, REINFORCE++, REINFORCE++-baseline, GAE, whitening, masks and broadcast match seq") {
  const std::size_t rows = 96, cols = 300;
  std::mt19937 gen(12);
  std::normal_distribution<double> nd(0, 1);
  std::vector<double> tr(rows * cols), val(rows * cols);
  std::vector<std::uint8_t> m(rows * cols);
  for (std::size_t i = 0; i < rows; ++i) {
    const std::size_t len = i % 7 == 3 ? 0 : gen() % (cols + 1);
    for (std::size_t t = 0; t < cols; ++t) {
      const std::size_t j = i * cols + t;
      m[j] = t < len && t % 11 != 5 ? 1 : 0;
      tr[j] = m[j] ? (gen() % 5 == 0 ? nd(gen) : 0.0) : std::numeric_limits<double>::quiet_NaN();
      val[j] = m[j] ? nd(gen) : std::numeric_limits<double>::quiet_NaN();
    }
  }
  const std::vector<double> r = test::random_rewards<double>(test::seed_t{13}, rows);
  device_buffer<double> dtr(tr), dval(val), dr(r), d1(rows * cols), d2(rows * cols), ds(rows);
  device_buffer<std::uint8_t> dm(m);
  const mask_view hm(m.data(), rows, cols), dmv(dm.p, rows, cols);
  const auto hv = [&](const std::vector<double>& v) { return matrix_view<const double>(v.data(), rows, cols); };
  const auto dv = [&](const device_buffer<double>& b) { return matrix_view<double>(b.p, rows, cols); };
  const auto all_close = [](const std::vector<double>& a, const std::vector<double>& b) {
    std::size_t bad = 0;
    for (std::size_t j = 0; j < a.size(); ++j) bad += !close(a[j], b[j], 1e-12);
    return bad;
  };
  const group_layout g = group_layout::uniform(rows / 8, 8);
  { // RLOO
    std::vector<double> a(rows);
    const auto want = rloo_advantages(exec::seq, std::span<const double>(r), g, std::span<double>(a));
    ds.poison();
    const auto got = rloo_advantages(exec::thrust, std::span<const double>(dr.p, rows), g, ds.span());
    CHECK(want.degenerate_groups == got.degenerate_groups);
    CHECK(all_close(a, ds.host()) == 0);
  }
  { // REINFORCE++
    std::vector<double> ret(rows * cols), adv(rows * cols);
    const auto want = reinforce_pp_advantages(hv(tr), hm, 0.99, matrix_view<double>(ret.data(), rows, cols),
                                              matrix_view<double>(adv.data(), rows, cols));
    d1.poison();
    d2.poison();
    const auto got =
        reinforce_pp_advantages(exec::thrust, matrix_view<const double>(dtr.p, rows, cols), dmv, 0.99, dv(d1), dv(d2));
    CHECK(want.count == got.count);
    CHECK(close(want.scale, got.scale, 1e-12));
    CHECK(all_close(ret, d1.host()) == 0);
    CHECK(all_close(adv, d2.host()) == 0);
  }
  { // REINFORCE++-baseline
    std::vector<double> a(rows);
    const auto want = reinforce_pp_baseline_advantages(std::span<const double>(r), g, hm, std::span<double>(a));
    ds.poison();
    const auto got =
        reinforce_pp_baseline_advantages(exec::thrust, std::span<const double>(dr.p, rows), g, dmv, ds.span());
    CHECK(want.count == got.count);
    CHECK(all_close(a, ds.host()) == 0);
  }
  for (const bool whiten : {true, false}) { // GAE
    CAPTURE(whiten);
    gae_options o;
    o.gamma = 0.99, o.lam = 0.95, o.whiten = whiten;
    std::vector<double> adv(rows * cols), ret(rows * cols);
    (void)gae_advantages(hv(tr), hv(val), hm, matrix_view<double>(adv.data(), rows, cols),
                         matrix_view<double>(ret.data(), rows, cols), o);
    d1.poison();
    d2.poison();
    (void)gae_advantages(exec::thrust, matrix_view<const double>(dtr.p, rows, cols),
                         matrix_view<const double>(dval.p, rows, cols), dmv, dv(d1), dv(d2), o);
    CHECK(all_close(adv, d1.host()) == 0);
    CHECK(all_close(ret, d2.host()) == 0);
  }
  { // response masks from token ids, lengths on the device
    std::vector<std::int64_t> ids(rows * cols), lengths(rows);
    for (std::size_t j = 0; j < ids.size(); ++j) ids[j] = static_cast<std::int64_t>(3 + gen() % 40);
    for (std::size_t i = 0; i < rows; ++i) {
      lengths[i] = static_cast<std::int64_t>(gen() % (cols + 1));
      if (i % 3 != 0) ids[i * cols + gen() % cols] = 2;
    }
    device_buffer<std::int64_t> dids(ids), dlen(lengths);
    device_buffer<std::uint8_t> dmask(rows * cols), dtrunc(rows);
    std::vector<std::uint8_t> hmask(rows * cols), htrunc(rows);
    const response_mask_options o{true, true};
    const auto want = build_response_mask(matrix_view<const std::int64_t>(ids.data(), rows, cols), std::int64_t{2},
                                          matrix_view<std::uint8_t>(hmask.data(), rows, cols), o,
                                          std::span<const std::int64_t>(lengths), std::span<std::uint8_t>(htrunc));
    const auto got = build_response_mask(exec::thrust, matrix_view<const std::int64_t>(dids.p, rows, cols),
                                         std::int64_t{2}, matrix_view<std::uint8_t>(dmask.p, rows, cols), o,
                                         std::span<const std::int64_t>(dlen.p, rows), dtrunc.span());
    CHECK(want.truncated == got.truncated);
    CHECK(want.valid_tokens == got.valid_tokens);
    CHECK(hmask == dmask.host());
    CHECK(htrunc == dtrunc.host());
  }
  { // broadcast
    std::vector<double> out(rows * cols);
    broadcast_advantages(std::span<const double>(r), hm, matrix_view<double>(out.data(), rows, cols));
    d1.poison();
    broadcast_advantages(exec::thrust, std::span<const double>(dr.p, rows), dmv, dv(d1));
    CHECK(all_close(out, d1.host()) == 0);
  }
}
} // TEST_SUITE("cuda")
