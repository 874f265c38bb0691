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
#include <span>
#include <utility>
#include <vector>

namespace mmrag_rft::libtorch {

/// Views a `c10d::ProcessGroup` (shared ownership). Each collective wraps the caller's memory in CPU tensors
/// (no copy of the inputs beyond what the backend does) and waits for the work to finish. A process group whose
/// backend has no CPU collectives (NCCL) needs a Gloo group for these small host-side reductions.
class process_group_communicator {
public:
  explicit process_group_communicator(c10::intrusive_ptr<c10d::ProcessGroup> group) : group_(std::move(group)) {
    detail::require(static_cast<bool>(group_), "process_group_communicator", "group", "is null");
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
  c10::intrusive_ptr<c10d::ProcessGroup> group_;
};
static_assert(Communicator<process_group_communicator>);

} // namespace mmrag_rft::libtorch
