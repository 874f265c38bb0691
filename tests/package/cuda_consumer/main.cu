// GRPO advantages of one group on the GPU through the installed mmrag_rft::cuda (compiled by the package test; it
// runs where a GPU exists and exits non-zero if the advantages are not the centred, scaled rewards).
#include <mmrag_rft/advantages/grpo.hpp>
#include <mmrag_rft/backends/cuda/all.cuh>

#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <span>
#include <vector>

int main() {
  using namespace mmrag_rft;
  const std::vector<float> rewards{1.0f, 0.0f, 0.0f, 1.0f};
  const group_layout groups = group_layout::uniform(1, 4);
  const std::size_t ws_bytes = gpu::grpo_workspace_bytes<float>(groups);
  float* d = nullptr;
  void* ws = nullptr;
  if (cudaMalloc(&d, 8 * sizeof(float)) != cudaSuccess || cudaMalloc(&ws, ws_bytes) != cudaSuccess) {
    std::puts("no CUDA device");
    return 0;
  }
  cudaMemcpy(d, rewards.data(), 4 * sizeof(float), cudaMemcpyHostToDevice);
  (void)gpu::grpo_advantages(gpu::launch{nullptr, ws, ws_bytes, true}, std::span<const float>(d, 4), groups, nullptr,
                             std::span<float>(d + 4, 4));
  std::vector<float> adv(4);
  cudaMemcpy(adv.data(), d + 4, 4 * sizeof(float), cudaMemcpyDeviceToHost);
  cudaFree(ws);
  cudaFree(d);
  std::printf("advantages %.4f %.4f %.4f %.4f\n", adv[0], adv[1], adv[2], adv[3]);
  return adv[0] > 0.0f && adv[1] < 0.0f && std::fabs(adv[0] + adv[1]) < 1e-5f ? 0 : 1;
}
