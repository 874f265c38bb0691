// SPDX-License-Identifier: Apache-2.0
// How a CUDA call of mmrag_rft is launched: stream, caller-owned workspace, whether scalar results come back.
// nvcc only.
#pragma once
#include <mmrag_rft/config.hpp>

#include <cuda_runtime.h>

#include <cstddef>
#include <stdexcept>
#include <string>

namespace mmrag_rft::gpu {

/// The launch arguments every `mmrag_rft::gpu` call takes.
///
/// 1. `stream`: every kernel and copy is enqueued on it; nothing synchronises except where `sync_result` asks for a
///    scalar result on the host.
/// 2. `workspace`, `workspace_bytes`: device memory the call may use (query the size with the call's
///    `*_workspace_bytes` function first, as CUB's two-phase calls do); the library never allocates.
/// 3. `sync_result`: true copies the scalar results (loss, statistics, summaries) to the host, synchronising the
///    stream once; false leaves them in the workspace (read them later with the call's `read_*` function), so a
///    training step can run without a host round trip.
struct launch {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  bool sync_result = true;
};

/// The error thrown when the CUDA runtime reports one (a launch failure, an invalid device pointer...).
class cuda_error : public std::runtime_error {
public:
  cuda_error(const char* function, cudaError_t e)
      : std::runtime_error(std::string(function) + ": CUDA error " + cudaGetErrorName(e) + ": " +
                           cudaGetErrorString(e)),
        code_(e) {}
  [[nodiscard]] cudaError_t code() const noexcept { return code_; }

private:
  cudaError_t code_;
};

namespace detail {

inline void check_cuda(cudaError_t e, const char* function) {
  if (e != cudaSuccess) throw cuda_error(function, e);
}

/// Carves aligned pieces out of the caller's workspace.
class workspace_carver {
public:
  workspace_carver(void* base, std::size_t bytes) noexcept : base_(static_cast<char*>(base)), bytes_(bytes) {}
  template <class U>
  [[nodiscard]] U* take(std::size_t n) noexcept {
    used_ = (used_ + 255) / 256 * 256;
    U* p = base_ ? reinterpret_cast<U*>(base_ + used_) : nullptr;
    used_ += n * sizeof(U);
    return p;
  }
  [[nodiscard]] std::size_t used() const noexcept { return used_; }
  [[nodiscard]] bool fits() const noexcept { return used_ <= bytes_; }

private:
  char* base_;
  std::size_t bytes_;
  std::size_t used_ = 0;
};

} // namespace detail
} // namespace mmrag_rft::gpu
