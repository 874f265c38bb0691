// SPDX-License-Identifier: Apache-2.0
// What the data-parallel algorithms ask of an existing communicator (MPI, torch c10d, ...): two collectives and the
// rank, and the single-process communicator every algorithm defaults to.
#pragma once
#include <mmrag_rft/config.hpp>
#include <mmrag_rft/core/error.hpp>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace mmrag_rft {

/// A communicator of `size()` ranks, this process being `rank()`. Every rank calls each collective in the same order
/// with spans of the same size.
/// - `all_reduce_sum(span)`: in place, the element-wise sum over the ranks (int64: exact; double: in whatever order
///   the transport adds, which is why the algorithms here sum doubles through `all_gather` instead);
/// - `all_gather(in, out)`: `out` (size() * in.size() elements) receives every rank's `in`, rank 0 first, so that a
///   reduction over the ranks can be done in one fixed order, the same on every rank and for every transport.
/// Adapters: `single_process_communicator` (here), `mpi_communicator` (<mmrag_rft/mpi.hpp>),
/// `torch_communicator` (<mmrag_rft/torch/distributed.hpp>).
template <class C>
concept Communicator = requires(const C& c, std::span<double> d, std::span<std::int64_t> i, std::span<const double> cd,
                                std::span<const std::int64_t> ci) {
  { c.rank() } -> std::convertible_to<int>;
  { c.size() } -> std::convertible_to<int>;
  c.all_reduce_sum(d);
  c.all_reduce_sum(i);
  c.all_gather(cd, d);
  c.all_gather(ci, i);
};

/// One process: the collectives are identities, so an algorithm given it computes what its single-process form does.
struct single_process_communicator {
  [[nodiscard]] static constexpr int rank() noexcept { return 0; }
  [[nodiscard]] static constexpr int size() noexcept { return 1; }
  static void all_reduce_sum(std::span<double>) noexcept {}
  static void all_reduce_sum(std::span<std::int64_t>) noexcept {}
  static void all_gather(std::span<const double> in, std::span<double> out) { copy(in, out); }
  static void all_gather(std::span<const std::int64_t> in, std::span<std::int64_t> out) { copy(in, out); }

private:
  template <class T>
  static void copy(std::span<const T> in, std::span<T> out) {
    detail::require(out.size() == in.size(), "single_process_communicator::all_gather", "out",
                    "must have size() * in.size() elements");
    std::copy(in.begin(), in.end(), out.begin());
  }
};
static_assert(Communicator<single_process_communicator>);

namespace detail {

/// Every rank's `local` (of any length, possibly different per rank), concatenated in rank order; `offsets` (size()
/// + 1 entries) says where each rank's part starts. Two collectives: the lengths, then the parts padded to the
/// longest. `T` is double or std::int64_t.
template <class T>
struct gathered {
  std::vector<T> values;
  std::vector<std::size_t> offsets;
  [[nodiscard]] std::span<const T> of(int r) const noexcept {
    const auto i = static_cast<std::size_t>(r);
    return std::span<const T>(values).subspan(offsets[i], offsets[i + 1] - offsets[i]);
  }
};

template <Communicator C, class T>
[[nodiscard]] gathered<T> all_gather_v(const C& comm, std::span<const T> local) {
  const auto p = static_cast<std::size_t>(comm.size());
  std::int64_t mine = static_cast<std::int64_t>(local.size());
  std::vector<std::int64_t> lengths(p);
  comm.all_gather(std::span<const std::int64_t>(&mine, 1), std::span<std::int64_t>(lengths));
  const auto longest = static_cast<std::size_t>(*std::max_element(lengths.begin(), lengths.end()));
  gathered<T> g;
  g.offsets.assign(p + 1, 0);
  for (std::size_t r = 0; r < p; ++r) g.offsets[r + 1] = g.offsets[r] + static_cast<std::size_t>(lengths[r]);
  if (longest == 0) return g;
  std::vector<T> padded(longest, T{}), all(p * longest);
  std::copy(local.begin(), local.end(), padded.begin());
  comm.all_gather(std::span<const T>(padded), std::span<T>(all));
  g.values.resize(g.offsets[p]);
  for (std::size_t r = 0; r < p; ++r)
    std::copy_n(all.begin() + static_cast<std::ptrdiff_t>(r * longest), lengths[r],
                g.values.begin() + static_cast<std::ptrdiff_t>(g.offsets[r]));
  return g;
}

/// The element-wise sum over the ranks of `values`, in place, added in rank order (rank 0 first) whatever the
/// transport: the same bits on every rank and for every run.
template <Communicator C>
void fixed_order_sum(const C& comm, std::span<double> values) {
  const auto p = static_cast<std::size_t>(comm.size());
  std::vector<double> all(p * values.size());
  comm.all_gather(std::span<const double>(values), std::span<double>(all));
  for (std::size_t i = 0; i < values.size(); ++i) {
    double s = all[i]; // rank 0's value as it is (0 + -0 would be +0)
    for (std::size_t r = 1; r < p; ++r) s += all[r * values.size() + i];
    values[i] = s;
  }
}

} // namespace detail
} // namespace mmrag_rft
