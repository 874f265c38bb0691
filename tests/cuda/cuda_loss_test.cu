// SPDX-License-Identifier: Apache-2.0
// The fused CUDA policy loss against exec::seq (a file of its own, so that nvcc compiles it beside the others).
#include "cuda_test_support.cuh"

TEST_SUITE("cuda") {
TEST_CASE("cuda policy_loss: the fused kernel matches seq") {
  const auto h = loss_batch<float>(2, 37, 513);
  const device_loss_batch<float> d(h);
  for (int mode = 0; mode < 4; ++mode) {
    policy_loss_options o;
    if (mode == 1) o.kl = kl_estimator::k3, o.entropy_coeff = 0.01;
    if (mode == 2) o.mode = policy_loss_mode::gspo, o.gspo_grad = gspo_gradient::sequence;
    if (mode == 3) o.aggregation = loss_aggregation::seq_mean_token_mean, o.normalizer = 40.0;
    CAPTURE(mode);
    d.compare(o, true, 1e-5);
  }
}

TEST_CASE("cuda policy_loss: float and double, per-token and per-sequence advantages, every mode and aggregation") {
  const auto hf = loss_batch<float>(4, 41, 700);
  const auto hd = loss_batch<double>(4, 41, 700);
  const device_loss_batch<float> df(hf);
  const device_loss_batch<double> dd(hd);
  for (int mode = 0; mode < 9; ++mode) {
    policy_loss_options o;
    if (mode == 1) o.kl = kl_estimator::k3, o.kl_coef = 0.01, o.entropy_coeff = 0.01;
    if (mode == 2) o.mode = policy_loss_mode::gspo, o.gspo_grad = gspo_gradient::sequence;
    if (mode == 3) o.aggregation = loss_aggregation::seq_mean_token_mean;
    if (mode == 4) o.aggregation = loss_aggregation::seq_mean_token_sum_norm, o.kl = kl_estimator::k1;
    if (mode == 5) o.aggregation = loss_aggregation::seq_mean_token_sum, o.kl = kl_estimator::k2;
    if (mode == 6) o.normalizer = 12345.0, o.kl = kl_estimator::abs;
    if (mode == 7) o.mode = policy_loss_mode::dppo_tv, o.clip_ratio_low = 0.05, o.clip_ratio_c = 1.3;
    if (mode == 8) o.mode = policy_loss_mode::dppo_kl, o.clip_ratio_high = 0.02, o.kl = kl_estimator::k3;
    for (const bool token_adv : {true, false}) {
      CAPTURE(mode);
      CAPTURE(token_adv);
      df.compare(o, token_adv, 1e-5);
      dd.compare(o, token_adv, 1e-12);
    }
  }
}

TEST_CASE("cuda policy_loss: more rows than blocks (a grid-stride loop) match seq") {
  const auto h = loss_batch<float>(5, mc::tuning::loss_max_blocks + 903, 97);
  const device_loss_batch<float> d(h);
  policy_loss_options o;
  o.kl = kl_estimator::k3;
  d.compare(o, true, 1e-5);
  o.aggregation = loss_aggregation::seq_mean_token_mean;
  d.compare(o, false, 1e-5);
  // A small grid: each block sums many rows before its one reduction.
  const auto small = loss_batch<float>(8, 41, 700);
  const device_loss_batch<float> ds(small);
  for (const std::size_t blocks : {std::size_t{1}, std::size_t{7}}) {
    CAPTURE(blocks);
    ds.compare(o, true, 1e-5, blocks);
    ds.compare(policy_loss_options{}, false, 1e-5, blocks);
  }
}

TEST_CASE("cuda policy_loss: a NaN or infinity is counted as on the CPU; the error policy throws") {
  auto h = loss_batch<float>(6, 9, 300, 10); // rows 2 and 4 have at least their first 10 tokens valid
  h.old_log_probs[2 * 300 + 5] = std::numeric_limits<float>::quiet_NaN();
  h.token_advantages[4 * 300 + 0] = std::numeric_limits<float>::infinity();
  const device_loss_batch<float> d(h);
  policy_loss_options o;
  o.nonfinite = nonfinite_policy::propagate;
  d.compare(o, true, 1e-5);
  o.nonfinite = nonfinite_policy::error;
  device_buffer<unsigned char> ws(mc::policy_loss_workspace_bytes(h.rows));
  CHECK_THROWS_AS((void)mc::policy_loss(mc::launch{nullptr, ws.p, ws.n, true}, d.device_inputs(true),
                                        policy_loss_grads<float>{{d.g.p, h.rows, h.cols}, {}}, o),
                  mmrag_rft::error);
}

TEST_CASE("cuda policy_loss: sync_result = false leaves the result for read_policy_loss_result") {
  const auto h = loss_batch<float>(7, 13, 200);
  const device_loss_batch<float> d(h);
  policy_loss_options o;
  o.kl = kl_estimator::k3;
  std::vector<float> g(h.log_probs.size());
  const auto want =
      policy_loss(exec::seq, d.host_inputs(true), policy_loss_grads<float>{{g.data(), h.rows, h.cols}, {}}, o);
  device_buffer<unsigned char> ws(mc::policy_loss_workspace_bytes(h.rows));
  cudaStream_t stream;
  mc::detail::check_cuda(cudaStreamCreate(&stream), "test");
  const mc::launch l{stream, ws.p, ws.n, false};
  const auto empty =
      mc::policy_loss(l, d.device_inputs(true), policy_loss_grads<float>{{d.g.p, h.rows, h.cols}, {}}, o);
  CHECK(empty.stats.valid_tokens == 0);
  const auto got = mc::read_policy_loss_result(l, h.cols, o);
  CHECK(close(want.loss, got.loss, 1e-5));
  CHECK(want.stats.valid_tokens == got.stats.valid_tokens);
  cudaStreamDestroy(stream);
}
} // TEST_SUITE("cuda")
