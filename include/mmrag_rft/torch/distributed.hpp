// SPDX-License-Identifier: Apache-2.0
// A `Communicator` over the c10d process group a LibTorch trainer already has (Gloo, or any backend with CPU
// allreduce and allgather), so the distributed algorithms run on its ranks.
#pragma once
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/distributed/communicator.hpp>

#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#include <torch/torch.h>

#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <utility>
#include <vector>

namespace mmrag_rft::libtorch {

/// Views a `c10d::ProcessGroup` (shared ownership). Each collective wraps the caller's memory in CPU tensors
/// (no copy of the inputs beyond what the backend does) and waits for the work to finish. Device (CUDA) tensors are
/// not taken: the spans are host memory. An NCCL process group is refused at
/// construction with a located error: these small host-side reductions need a Gloo group.
class process_group_communicator {
public:
  explicit process_group_communicator(c10::intrusive_ptr<c10d::ProcessGroup> group) : group_(std::move(group)) {
    detail::require(static_cast<bool>(group_), "process_group_communicator", "group", "is null");
    // The collectives run on CPU tensors wrapping host memory; a group with device backends but none for the CPU
    // (NCCL) would fail inside c10d at the first collective, so say here what it needs.
    detail::require(!is_nccl(*group_), "process_group_communicator", "group",
                    "is an NCCL group (device tensors only): these host-side reductions need a CPU (Gloo) group over "
                    "the same ranks");
  }
  [[nodiscard]] int rank() const { return group_->getRank(); }
  [[nodiscard]] int size() const { return group_->getSize(); }

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
  template <class T>
  void reduce(std::span<T> v, torch::ScalarType type) const {
    if (v.empty()) return; // every rank passes the same size, so every rank skips alike
    std::vector<torch::Tensor> t{wrap(v.data(), v.size(), type)};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    group_->allreduce(t, o)->wait();
  }
  template <class T>
  void gather(std::span<const T> in, std::span<T> out, torch::ScalarType type) const {
    const auto p = static_cast<std::size_t>(size());
    detail::require(out.size() == in.size() * p, "process_group_communicator::all_gather", "out",
                    "must have size() * in.size() elements");
    if (in.empty()) return;
    // c10d takes non-const tensors; the input is only read.
    std::vector<torch::Tensor> input{wrap(const_cast<T*>(in.data()), in.size(), type)};
    std::vector<std::vector<torch::Tensor>> output(1);
    for (std::size_t r = 0; r < p; ++r) output[0].push_back(wrap(out.data() + r * in.size(), in.size(), type));
    group_->allgather(output, input)->wait();
  }
  static bool is_nccl(const c10d::ProcessGroup& g) {
    try {
      return g.getBackendName() == "nccl";
    } catch (const std::exception&) {
      return false; // a process group that does not name its backend: its collectives decide
    }
  }
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};
static_assert(Communicator<process_group_communicator>);

} // namespace mmrag_rft::libtorch
