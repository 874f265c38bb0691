// SPDX-License-Identifier: Apache-2.0
// Which backend runs an adapter call: chosen from the devices of its tensors (all CPU, or all on one CUDA device).
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>

#include <torch/torch.h>

#include <initializer_list>
#include <string>

namespace mmrag_rft::libtorch {

/// The backend an adapter call runs: the CPU backends on host memory, or the CUDA backend (`mmrag_rft::torch_cuda`)
/// on the memory of one CUDA device, on that device's current stream.
enum class backend_kind { cpu, cuda };

struct backend_choice {
  backend_kind kind = backend_kind::cpu;
  c10::Device device{c10::kCPU}; ///< the device every tensor of the call is on
};

/// One tensor of a call as the choice sees it: its argument name and its device. `present = false` stands for an
/// optional tensor left undefined, which takes no part in the choice.
struct named_device {
  const char* name;
  c10::Device device;
  bool present = true;
};

/// A tensor's entry: its name and device, absent when the tensor is undefined.
[[nodiscard]] inline named_device device_of(const char* name, const torch::Tensor& t) {
  return t.defined() ? named_device{name, t.device(), true} : named_device{name, c10::Device(c10::kCPU), false};
}

/// The backend for a call on tensors on `devices`: all on the CPU → `cpu`; all on one CUDA device (same index) →
/// `cuda` with that device. Throws `mmrag_rft::error` (function `fn`) naming the first tensor on another device than
/// the first present one, with both devices; or naming a tensor on a device that is neither CPU nor CUDA. No present
/// tensor at all gives `cpu`.
[[nodiscard]] inline backend_choice choose_backend(const char* fn, std::initializer_list<named_device> devices) {
  const named_device* first = nullptr;
  for (const named_device& d : devices) {
    if (!d.present) continue;
    if (!d.device.is_cpu() && !d.device.is_cuda())
      throw error(fn, d.name, "is on " + d.device.str() + "; the LibTorch adapter runs on CPU or CUDA tensors");
    if (!first) {
      first = &d;
      continue;
    }
    if (d.device != first->device)
      throw error(fn, d.name,
                  "is on " + d.device.str() + " but " + first->name + " is on " + first->device.str() +
                      " (every tensor of one call must be on the same device: all on the CPU or all on one CUDA "
                      "device)");
  }
  if (!first || first->device.is_cpu()) return {};
  return {backend_kind::cuda, first->device};
}

namespace detail {

/// Whether `mmrag_rft::torch_cuda` is linked: its target defines MMRAG_RFT_TORCH_CUDA for its consumers.
#ifdef MMRAG_RFT_TORCH_CUDA
inline constexpr bool torch_cuda_built = true;
#else
inline constexpr bool torch_cuda_built = false;
#endif

/// The error for a CUDA tensor given to a call that has no CUDA path in this build.
[[noreturn]] inline void throw_cuda_not_built(const char* fn, const char* arg, const c10::Device& device) {
  throw error(fn, arg,
              "is on " + device.str() +
                  ", but the CUDA adapter is not built (configure with -DMMRAG_RFT_TORCH_CUDA=ON against a "
                  "CUDA-enabled LibTorch and link mmrag_rft::torch_cuda, docs/torch.md; or call mmrag_rft::gpu with "
                  "the data pointers, docs/gpu.md)");
}

} // namespace detail

} // namespace mmrag_rft::libtorch
