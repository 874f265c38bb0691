// SPDX-License-Identifier: Apache-2.0
// A `Communicator` over the c10d process group a LibTorch trainer already has (Gloo on host memory; NCCL, or any
// backend, on tensors of a device), so the distributed algorithms run on its ranks.
#pragma once
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/distributed/communicator.hpp>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace mmrag_rft::libtorch {

/// Views a `c10d::ProcessGroup` (shared ownership) as a `Communicator`, so the distributed algorithms
/// (`<mmrag_rft/distributed/...>`) run unchanged over the group a trainer already has. Each collective waits for its
/// work to finish.
///
/// Without a device the collectives run on CPU tensors wrapping the caller's memory (no copy beyond what the backend
/// does): a group with CPU collectives (Gloo). With a device the host spans are copied into a tensor on that device
/// (on its current stream), the collective runs there and the result is copied back: an NCCL group, whose
/// collectives take CUDA tensors only, gets the device of its rank (`torch::Device(torch::kCUDA, local_rank)`). The
/// values are a few per group or metric, so the copies are small. An NCCL group without a CUDA device is refused at
/// construction with a located error.
class process_group_communicator {
public:
  explicit process_group_communicator(c10::intrusive_ptr<c10d::ProcessGroup> group) : group_(std::move(group)) {
    detail::require(static_cast<bool>(group_), "process_group_communicator", "group", "is null");
    // A group with device backends but none for the CPU (NCCL) would fail inside c10d at the first collective on
    // host tensors, so say here what it needs.
    detail::require(!is_nccl(*group_), "process_group_communicator", "group",
                    "is an NCCL group (CUDA tensors only): pass the CUDA device of this rank, "
                    "process_group_communicator(group, torch::Device(torch::kCUDA, local_rank)), or a Gloo group over "
                    "the same ranks");
  }
  /// The collectives on tensors on `device`, the host spans copied there and back (see the class).
  process_group_communicator(c10::intrusive_ptr<c10d::ProcessGroup> group, c10::Device device)
      : group_(std::move(group)), device_(device) {
    detail::require(static_cast<bool>(group_), "process_group_communicator", "group", "is null");
    detail::require(device.is_cuda() || !is_nccl(*group_), "process_group_communicator", "device",
                    "is " + device.str() + ", but the group is an NCCL group: its collectives need a CUDA device");
  }
  [[nodiscard]] int rank() const { return group_->getRank(); }
  [[nodiscard]] int size() const { return group_->getSize(); }
  /// The device the collectives run on: none for the caller's host memory itself.
  [[nodiscard]] std::optional<c10::Device> device() const { return device_; }

  void all_reduce_sum(std::span<double> v) const { reduce(v, torch::kFloat64); }
  void all_reduce_sum(std::span<std::int64_t> v) const { reduce(v, torch::kInt64); }
  void all_gather(std::span<const double> in, std::span<double> out) const { gather(in, out, torch::kFloat64); }
  void all_gather(std::span<const std::int64_t> in, std::span<std::int64_t> out) const {
    gather(in, out, torch::kInt64);
  }

private:
  template <class T>
  static torch::Tensor wrap(T* data, std::size_t n, torch::ScalarType type) {
    return torch::from_blob(static_cast<void*>(data), {static_cast<std::int64_t>(n)}, torch::TensorOptions(type));
  }
  /// The tensor a collective runs on: `host` itself, or its copy on the device.
  [[nodiscard]] torch::Tensor staged(const torch::Tensor& host) const {
    if (!device_) return host;
    return host.to(host.options().device(*device_), /*non_blocking=*/false, /*copy=*/true);
  }
  /// Brings a collective's result back into the caller's memory: a copy from the device (the copy to pageable host
  /// memory waits for the device's current stream, which c10d ordered after the collective), or nothing.
  void unstage(torch::Tensor& host, const torch::Tensor& result) const {
    if (device_) host.copy_(result);
  }
  template <class T>
  void reduce(std::span<T> v, torch::ScalarType type) const {
    if (v.empty()) return; // every rank passes the same size, so every rank skips alike
    torch::Tensor host = wrap(v.data(), v.size(), type);
    std::vector<torch::Tensor> t{staged(host)};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    group_->allreduce(t, o)->wait();
    unstage(host, t[0]);
  }
  template <class T>
  void gather(std::span<const T> in, std::span<T> out, torch::ScalarType type) const {
    const auto p = static_cast<std::size_t>(size());
    detail::require(out.size() == in.size() * p, "process_group_communicator::all_gather", "out",
                    "must have size() * in.size() elements");
    if (in.empty()) return;
    // c10d takes non-const tensors; the input is only read.
    std::vector<torch::Tensor> input{staged(wrap(const_cast<T*>(in.data()), in.size(), type))};
    torch::Tensor host_out = wrap(out.data(), out.size(), type);
    // Rank r's part lands at [r * n, (r + 1) * n) of one buffer: the caller's memory, or one tensor on the device.
    const torch::Tensor result = device_ ? torch::empty({host_out.size(0)}, input[0].options()) : host_out;
    const auto n = static_cast<std::int64_t>(in.size());
    std::vector<std::vector<torch::Tensor>> output(1);
    for (std::size_t r = 0; r < p; ++r) output[0].push_back(result.narrow(0, static_cast<std::int64_t>(r) * n, n));
    group_->allgather(output, input)->wait();
    unstage(host_out, result);
  }
  static bool is_nccl(const c10d::ProcessGroup& g) {
    try {
      return g.getBackendName() == "nccl";
    } catch (const std::exception&) {
      return false; // a process group that does not name its backend: its collectives decide
    }
  }
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
  std::optional<c10::Device> device_;
};
static_assert(Communicator<process_group_communicator>);

} // namespace mmrag_rft::libtorch
