// SPDX-License-Identifier: Apache-2.0
// A `Communicator` over an existing MPI communicator: the distributed algorithms on the ranks an MPI program has.
// Needs <mpi.h> and linking MPI (CMake: find_package(MPI), MPI::MPI_CXX); MPI must be initialised by the caller.
#pragma once
#include <mmrag_rft/core/error.hpp>
#include <mmrag_rft/distributed/communicator.hpp>

#include <mpi.h>

#include <cstdint>
#include <span>
#include <string>

namespace mmrag_rft {

/// Views an `MPI_Comm` the caller owns (MPI_COMM_WORLD or a data-parallel sub-communicator); it must outlive this
/// object. Every collective is a blocking MPI collective; an MPI error throws `mmrag_rft::error` naming the call.
class mpi_communicator {
public:
  explicit mpi_communicator(MPI_Comm comm) : comm_(comm) {
    check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }
  [[nodiscard]] int rank() const noexcept { return rank_; }
  [[nodiscard]] int size() const noexcept { return size_; }
  [[nodiscard]] MPI_Comm native() const noexcept { return comm_; }

  void all_reduce_sum(std::span<double> v) const {
    check(MPI_Allreduce(MPI_IN_PLACE, v.data(), count(v.size()), MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
  }
  void all_reduce_sum(std::span<std::int64_t> v) const {
    check(MPI_Allreduce(MPI_IN_PLACE, v.data(), count(v.size()), MPI_INT64_T, MPI_SUM, comm_), "MPI_Allreduce");
  }
  void all_gather(std::span<const double> in, std::span<double> out) const { gather(in, out, MPI_DOUBLE); }
  void all_gather(std::span<const std::int64_t> in, std::span<std::int64_t> out) const { gather(in, out, MPI_INT64_T); }

private:
  template <class T>
  void gather(std::span<const T> in, std::span<T> out, MPI_Datatype type) const {
    detail::require(out.size() == in.size() * static_cast<std::size_t>(size_), "mpi_communicator::all_gather", "out",
                    "must have size() * in.size() elements");
    check(MPI_Allgather(in.data(), count(in.size()), type, out.data(), count(in.size()), type, comm_), "MPI_Allgather");
  }
  static int count(std::size_t n) {
    detail::require(n <= 0x7fffffff, "mpi_communicator", "span", "has more elements than an MPI count holds");
    return static_cast<int>(n);
  }
  static void check(int rc, const char* call) {
    if (rc == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw error("mpi_communicator", call, std::string("failed: ") + std::string(text, static_cast<std::size_t>(len)));
  }
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};
static_assert(Communicator<mpi_communicator>);

} // namespace mmrag_rft
